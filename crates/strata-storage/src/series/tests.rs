use super::*;
use strata_model::{ColumnKind, WriteBatch};

fn tags_batch(rows: &[(&str, Option<&str>)]) -> WriteBatch {
    let mut b = WriteBatch::default();
    let t = b.table_mut("m");
    for (i, (host, region)) in rows.iter().enumerate() {
        t.begin_row(i as u32, 0);
        let h = t.resolve_column(0, "host", ColumnKind::Tag).unwrap();
        t.push_tag(h, host);
        if let Some(r) = region {
            let c = t.resolve_column(1, "region", ColumnKind::Tag).unwrap();
            t.push_tag(c, r);
        }
    }
    b.finish();
    b
}

fn inputs(b: &WriteBatch) -> Vec<TagInput<'_>> {
    b.tables()[0]
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| match c.data() {
            strata_model::ColumnData::Tag(t) => TagInput {
                id: ColumnId(i as u32 + 1),
                values: t,
                validity: c.validity(),
            },
            _ => unreachable!(),
        })
        .collect()
}

#[test]
fn same_tag_set_same_series_across_batches() {
    let idx = SeriesIndex::default();
    let b1 = tags_batch(&[
        ("a", Some("eu")),
        ("b", Some("eu")),
        ("a", Some("eu")),
        ("a", None),
    ]);
    let ids = idx.assign(&inputs(&b1), 4);
    assert_eq!(ids, [0, 1, 0, 2]);
    // Different dictionary order in the second batch.
    let b2 = tags_batch(&[("a", None), ("b", Some("eu")), ("c", Some("us"))]);
    let ids = idx.assign(&inputs(&b2), 3);
    assert_eq!(ids, [2, 1, 3]);
    assert_eq!(idx.len(), 4);
    let eu: Vec<u32> = idx.series_with(ColumnId(2), "eu").iter().collect();
    assert_eq!(eu, [0, 1]);
    assert_eq!(idx.tag_values(ColumnId(1)), ["a", "b", "c"]);
}

#[test]
fn no_tags_is_one_series() {
    let idx = SeriesIndex::default();
    assert_eq!(idx.assign(&[], 3), [0, 0, 0]);
    assert_eq!(idx.len(), 1);
}

#[test]
fn ids_stay_stable_while_the_tables_grow() {
    let idx = SeriesIndex::default();
    let names: Vec<String> = (0..60_000).map(|i| format!("host_{i}")).collect();
    let rows = |r: std::ops::Range<usize>| -> Vec<(&str, Option<&str>)> {
        names[r]
            .iter()
            .enumerate()
            .map(|(i, h)| (h.as_str(), (i % 3 == 0).then_some("eu")))
            .collect()
    };
    let first = tags_batch(&rows(0..20_000));
    let ids = idx.assign(&inputs(&first), 20_000);
    assert_eq!(ids, (0..20_000).collect::<Vec<u32>>());
    for part in [20_000..40_000, 40_000..60_000] {
        let len = part.len();
        let b = tags_batch(&rows(part));
        idx.assign(&inputs(&b), len);
    }
    assert_eq!(idx.len(), 60_000);
    // The first batch again: every series is found, none created.
    assert_eq!(idx.assign(&inputs(&first), 20_000), ids);
    assert_eq!(idx.len(), 60_000);
    assert_eq!(idx.series_with(ColumnId(1), "host_12345").len(), 1);
    // Each range of 20,000 tags every third row from its own start: 6,667 each.
    assert_eq!(idx.series_with(ColumnId(2), "eu").len(), 3 * 6_667);
}

#[test]
fn postings_catch_up_with_concurrent_writers() {
    let idx = SeriesIndex::default();
    let names: Vec<Vec<String>> = (0..4)
        .map(|w| (0..5_000).map(|i| format!("w{w}-h{i}")).collect())
        .collect();
    let assigned: Vec<Vec<u32>> = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            // Reads during writes: every series created before a read
            // started (all are "eu") is in its answer.
            for _ in 0..50 {
                let before = idx.len() as u64;
                let n = idx.series_with(ColumnId(2), "eu").len();
                assert!(
                    n >= before,
                    "{n} series in postings, {before} existed before the read"
                );
                std::thread::yield_now();
            }
        });
        let writers: Vec<_> = names
            .iter()
            .map(|hosts| {
                let idx = &idx;
                s.spawn(move || {
                    let mut ids = Vec::new();
                    for part in hosts.chunks(500) {
                        let rows: Vec<(&str, Option<&str>)> =
                            part.iter().map(|h| (h.as_str(), Some("eu"))).collect();
                        let b = tags_batch(&rows);
                        ids.extend(idx.assign(&inputs(&b), rows.len()));
                        // What a writer created is visible to its next read.
                        let last = *ids.last().unwrap();
                        assert!(idx.series_with(ColumnId(2), "eu").contains(last));
                    }
                    ids
                })
            })
            .collect();
        reader.join().unwrap();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(idx.len(), 20_000);
    assert_eq!(idx.series_with(ColumnId(2), "eu").len(), 20_000);
    for (hosts, ids) in names.iter().zip(&assigned) {
        for (h, &id) in hosts.iter().zip(ids).step_by(97) {
            assert_eq!(
                idx.series_with(ColumnId(1), h).iter().collect::<Vec<_>>(),
                [id]
            );
        }
    }
    assert_eq!(idx.tag_values(ColumnId(2)), ["eu"]);
    assert_eq!(idx.tag_values(ColumnId(1)).len(), 20_000);
}
