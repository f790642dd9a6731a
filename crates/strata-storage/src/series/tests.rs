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
