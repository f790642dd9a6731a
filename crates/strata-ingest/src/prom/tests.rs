use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use strata_model::{BatchColumn, ColumnData, TableBatch, WriteBatch};

const T0_MS: i64 = 1_700_000_000_000;

fn opts() -> ParseOptions {
    ParseOptions::new(strata_model::Precision::Millisecond, 0)
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(value, timestamp)| Sample { value, timestamp })
            .collect(),
        histograms: Vec::new(),
    }
}

fn body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    WriteRequest { timeseries }.encode_to_vec()
}

fn table<'a>(p: &'a Parsed, name: &str) -> &'a TableBatch {
    p.batch.tables().iter().find(|t| t.name() == name).unwrap()
}

fn col<'a>(t: &'a TableBatch, name: &str) -> &'a BatchColumn {
    t.columns().iter().find(|c| c.name() == name).unwrap()
}

/// (series number, message) of every error.
fn errors(p: &Parsed) -> Vec<(u32, &str)> {
    p.errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect()
}

fn tags(c: &BatchColumn) -> Vec<Option<String>> {
    let ColumnData::Tag(t) = c.data() else {
        panic!("{} is {:?}", c.name(), c.kind())
    };
    (0..t.len())
        .map(|i| c.is_valid(i).then(|| t.get(i).to_owned()))
        .collect()
}

fn values(c: &BatchColumn) -> Vec<u64> {
    let ColumnData::F64(v) = c.data() else {
        panic!("{} is {:?}", c.name(), c.kind())
    };
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn samples_become_rows_of_the_metric_table() {
    let p = decode(
        &body(vec![
            series(
                &[("__name__", "up"), ("job", "node"), ("instance", "a:9100")],
                &[(1.0, T0_MS), (0.0, T0_MS + 15_000)],
            ),
            series(
                &[("job", "node"), ("__name__", "up"), ("instance", "b:9100")],
                &[(1.0, T0_MS)],
            ),
            series(
                &[("__name__", "node_load1"), ("instance", "a:9100")],
                &[(0.25, T0_MS)],
            ),
        ]),
        &opts(),
    )
    .unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    p.batch.check_invariants().unwrap();
    let up = table(&p, "up");
    assert_eq!(
        up.time(),
        &[
            T0_MS * 1_000_000,
            (T0_MS + 15_000) * 1_000_000,
            T0_MS * 1_000_000
        ]
    );
    assert_eq!(up.lines(), &[1, 1, 2]);
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(tags(col(up, "job")), vec![s("node"), s("node"), s("node")]);
    assert_eq!(
        tags(col(up, "instance")),
        vec![s("a:9100"), s("a:9100"), s("b:9100")]
    );
    assert_eq!(
        values(col(up, VALUE_COLUMN)),
        [1.0f64, 0.0, 1.0].map(f64::to_bits)
    );
    assert!(up.columns().iter().all(|c| c.name() != METRIC_NAME_LABEL));
    assert_eq!(table(&p, "node_load1").rows(), 1);
}

#[test]
fn empty_label_values_are_absent_tags() {
    let p = decode(
        &body(vec![
            series(&[("__name__", "m"), ("a", "x")], &[(1.0, T0_MS)]),
            series(&[("__name__", "m"), ("a", "")], &[(2.0, T0_MS)]),
        ]),
        &opts(),
    )
    .unwrap();
    assert!(p.errors.is_empty());
    assert_eq!(
        tags(col(table(&p, "m"), "a")),
        vec![Some("x".to_owned()), None]
    );
}

#[test]
fn staleness_markers_keep_their_bits() {
    // Prometheus marks a series stale with this NaN (value.StaleNaN).
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let p = decode(
        &body(vec![series(&[("__name__", "m")], &[(stale, T0_MS)])]),
        &opts(),
    )
    .unwrap();
    assert_eq!(
        values(col(table(&p, "m"), VALUE_COLUMN)),
        vec![0x7ff0_0000_0000_0002]
    );
}

#[test]
fn bad_series_are_reported_and_the_others_written() {
    let mut with_histograms = series(&[("__name__", "h")], &[(3.0, T0_MS)]);
    with_histograms.histograms = vec![vec![0x08, 0x01], vec![]];
    let p = decode(
        &body(vec![
            series(&[("job", "x")], &[(1.0, T0_MS)]),
            series(
                &[("__name__", "m"), ("a", "1"), ("a", "2")],
                &[(1.0, T0_MS)],
            ),
            series(&[("__name__", "m"), ("value", "v")], &[(1.0, T0_MS)]),
            series(&[("__name__", "ok")], &[(1.0, T0_MS)]),
            with_histograms,
            series(
                &[("__name__", "late")],
                &[(1.0, i64::MAX / 1000), (2.0, T0_MS)],
            ),
            series(&[("__name__", "")], &[(1.0, T0_MS)]),
        ]),
        &opts(),
    )
    .unwrap();
    let lines = errors(&p);
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert_eq!(lines[0].0, 1);
    assert!(lines[0].1.contains("no metric name"), "{}", lines[0].1);
    assert!(lines[0].1.contains("job=\"x\""), "{}", lines[0].1);
    assert_eq!(lines[1].0, 2);
    assert!(
        lines[1].1.contains("\"a\" is given twice"),
        "{}",
        lines[1].1
    );
    assert_eq!(lines[2].0, 3);
    assert!(lines[2].1.contains("collides"), "{}", lines[2].1);
    assert_eq!(lines[3].0, 5);
    assert!(lines[3].1.contains("2 native histogram"), "{}", lines[3].1);
    assert_eq!(lines[4].0, 6);
    assert!(
        lines[4].1.contains("1 samples have timestamps"),
        "{}",
        lines[4].1
    );
    assert_eq!(lines[5].0, 7);
    assert!(lines[5].1.contains("{__name__=\"\"}"), "{}", lines[5].1);
    p.batch.check_invariants().unwrap();
    let names: Vec<&str> = p.batch.tables().iter().map(TableBatch::name).collect();
    assert_eq!(names, ["ok", "h", "late"]);
    assert_eq!(table(&p, "late").time(), &[T0_MS * 1_000_000]);
    assert_eq!(table(&p, "h").rows(), 1);
}

#[test]
fn labels_named_like_the_sample_columns_and_long_values_are_refused() {
    let mut small = opts();
    small.max_tag_value_len = 3;
    let p = decode(
        &body(vec![
            series(&[("__name__", "m"), ("time", "x")], &[(1.0, T0_MS)]),
            series(&[("__name__", "m"), ("a", "long")], &[(1.0, T0_MS)]),
            series(&[("__name__", "m"), ("a", "abc")], &[(1.0, T0_MS)]),
        ]),
        &small,
    )
    .unwrap();
    let lines = errors(&p);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].1.contains("\"time\" collides"), "{}", lines[0].1);
    assert!(
        lines[1].1.contains("4 bytes; the limit is 3"),
        "{}",
        lines[1].1
    );
    assert_eq!(p.batch.row_count(), 1);
}

#[test]
fn unknown_fields_are_skipped() {
    let mut b = body(vec![series(&[("__name__", "m")], &[(1.0, T0_MS)])]);
    // WriteRequest.metadata (field 3): a MetricMetadata with type COUNTER.
    b.extend([0x1a, 0x02, 0x08, 0x01]);
    let p = decode(&b, &opts()).unwrap();
    assert!(p.errors.is_empty());
    assert_eq!(p.batch.row_count(), 1);
}

#[test]
fn malformed_bodies_are_refused_whole() {
    let good = body(vec![series(&[("__name__", "m")], &[(1.0, T0_MS)])]);
    let err = decode(&good[..good.len() - 1], &opts()).unwrap_err();
    assert!(err.to_string().contains("remote write 1.0"), "{err}");
    // A label value that is not UTF-8.
    let mut bad = body(vec![series(&[("__name__", "m\u{e9}")], &[(1.0, T0_MS)])]);
    let at = bad.iter().position(|&b| b == 0xc3).unwrap();
    bad[at] = 0xff;
    assert!(decode(&bad, &opts()).is_err());
    assert!(decode(b"\xff\xff\xff", &opts()).is_err());
    assert_eq!(decode(b"", &opts()).unwrap().batch.row_count(), 0);
}

/// A label string that is not UTF-8 on its own although the series' bytes
/// around it are: its last byte starts a character that the next field's key
/// completes. Each string is judged alone, as protobuf (and `prost`) do.
#[test]
fn strings_are_judged_alone_within_valid_series_bytes() {
    // Label { name = "\xc3", field 21 (fixed64) = 8 ASCII bytes }: the key of
    // field 21 is 0xa9 0x01, so the series reads "é" across the field border.
    let mut label = vec![0x0a, 0x01, 0xc3, 0xa9, 0x01];
    label.extend(b"abcdefgh");
    let mut series = vec![0x0a, label.len() as u8];
    series.extend(&label);
    assert!(std::str::from_utf8(&series).is_ok());
    let mut b = vec![0x0a, series.len() as u8];
    b.extend(&series);
    assert!(oracle(&b).is_none(), "prost refuses it too");
    let err = decode(&b, &opts()).unwrap_err();
    assert_eq!(err, Error::NotUtf8 { offset: 6 }, "{err}");
    // The same label with a two-byte name that is whole: accepted.
    let mut label = vec![0x0a, 0x02, 0xc3, 0xa9, 0xa9, 0x01];
    label.extend(b"abcdefgh");
    let mut series = vec![0x0a, label.len() as u8];
    series.extend(&label);
    let mut b = vec![0x0a, series.len() as u8];
    b.extend(&series);
    let p = decode(&b, &opts()).unwrap();
    assert_eq!(p.errors.len(), 1, "no metric name");
    assert!(oracle(&b).is_some());
}

/// Labels after the series' first byte that is not UTF-8 (here an unknown
/// bytes field) are checked one by one: a valid one is kept, and one that runs
/// from inside the valid bytes across their end is refused at its start.
#[test]
fn labels_past_the_valid_run_are_checked_alone() {
    let label = |name: &[u8], value: &[u8]| {
        let mut l = vec![0x0a, name.len() as u8];
        l.extend(name);
        l.extend([0x12, value.len() as u8]);
        l.extend(value);
        let mut f = vec![0x0a, l.len() as u8];
        f.extend(l);
        f
    };
    let request = |series: Vec<u8>| {
        let mut b = vec![0x0a, series.len() as u8];
        b.extend(series);
        b
    };
    let sample = [0x12, 0x02, 0x10, 0x01];
    let mut series = label(b"__name__", b"m");
    series.extend([0x2a, 0x01, 0xff]); // field 5 (unknown), one byte 0xff
    series.extend(label(b"a", b"b"));
    series.extend(sample);
    let p = decode(&request(series), &opts()).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(tags(col(table(&p, "m"), "a")), vec![Some("b".to_owned())]);
    // "a\xc3" then the value's key: the run ends before 0xc3.
    let mut series = label(b"__name__", b"m");
    series.extend(label(b"a\xc3", b"b"));
    series.extend(sample);
    let b = request(series);
    let at = b.iter().position(|&x| x == 0xc3).unwrap() - 1;
    assert_eq!(
        decode(&b, &opts()).unwrap_err(),
        Error::NotUtf8 { offset: at }
    );
    assert!(oracle(&b).is_none());
}

/// The rows a request should give, computed directly from its messages:
/// (table, labels without the name and empty values, time, value bits).
type Expected = Vec<(String, BTreeMap<String, String>, i64, u64)>;

fn expected(req: &WriteRequest) -> Expected {
    let mut out = Vec::new();
    for s in &req.timeseries {
        let name = s
            .labels
            .iter()
            .find(|l| l.name == METRIC_NAME_LABEL)
            .map(|l| l.value.clone());
        let labels: BTreeMap<String, String> = s
            .labels
            .iter()
            .filter(|l| l.name != METRIC_NAME_LABEL && !l.value.is_empty())
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        for sample in &s.samples {
            out.push((
                name.clone().unwrap(),
                labels.clone(),
                sample.timestamp * 1_000_000,
                sample.value.to_bits(),
            ));
        }
    }
    out.sort();
    out
}

fn rows(p: &Parsed) -> Expected {
    let mut out = Vec::new();
    for t in p.batch.tables() {
        for r in 0..t.rows() {
            let mut labels = BTreeMap::new();
            let mut value = None;
            for c in t.columns() {
                if !c.is_valid(r) {
                    continue;
                }
                match c.data() {
                    ColumnData::Tag(v) => {
                        labels.insert(c.name().to_owned(), v.get(r).to_owned());
                    }
                    ColumnData::F64(v) => value = Some(v[r].to_bits()),
                    other => panic!("unexpected column {other:?}"),
                }
            }
            out.push((t.name().to_owned(), labels, t.time()[r], value.unwrap()));
        }
    }
    out.sort();
    out
}

fn arb_series() -> impl Strategy<Value = TimeSeries> {
    let names = prop::sample::select(vec!["up", "cpu_seconds_total", "mem:ratio"]);
    let label_names = prop::sample::subsequence(vec!["job", "instance", "le", "mode"], 0..4);
    let label_values = prop::sample::select(vec!["", "a", "b:9100", "\u{e9}t\u{e9}"]);
    (
        names,
        label_names.prop_flat_map(move |ns| {
            let n = ns.len();
            (Just(ns), prop::collection::vec(label_values.clone(), n))
        }),
        prop::collection::vec(
            (any::<f64>(), -9_000_000_000_000i64..9_000_000_000_000),
            0..5,
        ),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(name, (ns, vs), samples, at)| {
            let mut labels: Vec<Label> = ns.iter().zip(vs).map(|(n, v)| label(n, v)).collect();
            // The name label anywhere among the others.
            labels.insert(at.index(labels.len() + 1), label(METRIC_NAME_LABEL, name));
            TimeSeries {
                labels,
                samples: samples
                    .into_iter()
                    .map(|(value, timestamp)| Sample { value, timestamp })
                    .collect(),
                histograms: Vec::new(),
            }
        })
}

proptest! {
    /// Valid requests: every sample is one row with its labels, time and
    /// value bits, and nothing else is written.
    #[test]
    fn rows_match_the_request(timeseries in prop::collection::vec(arb_series(), 0..8)) {
        let bytes = WriteRequest { timeseries }.encode_to_vec();
        let p = decode(&bytes, &opts()).unwrap();
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        p.batch.check_invariants().unwrap();
        // Expected rows from the message as it went over the wire (proto3
        // drops -0.0, a default value, on encoding).
        prop_assert_eq!(rows(&p), expected(&WriteRequest::decode(&bytes[..]).unwrap()));
    }

    /// Any bytes: an error or a batch that holds its invariants, never a panic,
    /// and the same verdict and rows as `prost`'s decoding.
    #[test]
    fn arbitrary_bodies_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(p) = decode(&bytes, &opts()) {
            p.batch.check_invariants().unwrap();
        }
        same_as_prost(&bytes)?;
    }

    /// Cut or flipped valid bodies: the same.
    #[test]
    fn damaged_bodies_never_panic(
        timeseries in prop::collection::vec(arb_series(), 1..4),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut b = WriteRequest { timeseries }.encode_to_vec();
        let at = flip.index(b.len());
        b[at] ^= 1 << bit;
        b.truncate(cut.index(b.len() + 1));
        if let Ok(p) = decode(&b, &opts()) {
            p.batch.check_invariants().unwrap();
        }
        same_as_prost(&b)?;
    }

    /// Valid requests with unknown fields of every wire type in every
    /// message: skipped alike.
    #[test]
    fn unknown_fields_are_skipped_like_prost(
        timeseries in prop::collection::vec(arb_series(), 1..4),
        at in any::<prop::sample::Index>(),
        extra in prop::sample::select(vec![
            vec![0x28, 0x96, 0x01],                  // field 5, varint
            vec![0x31, 1, 2, 3, 4, 5, 6, 7, 8],      // field 6, fixed64
            vec![0x3a, 0x02, 0x08, 0x01],            // field 7, bytes
            vec![0x45, 1, 2, 3, 4],                  // field 8, fixed32
            vec![0x4b, 0x50, 0x01, 0x4c],            // field 9, group holding a varint
            vec![0x4b, 0x54],                        // group closed by another field
            vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02, 0x00],
        ]),
    ) {
        let mut b = WriteRequest { timeseries }.encode_to_vec();
        let at = at.index(b.len() + 1);
        b.splice(at..at, extra);
        same_as_prost(&b)?;
    }
}

/// What [`decode`] does, computed from `prost`'s decoding of the body: the
/// reference for the hand-written reader.
fn oracle(body: &[u8]) -> Option<Parsed> {
    let req = WriteRequest::decode(body).ok()?;
    let mut batch = WriteBatch::default();
    let mut errors = Vec::new();
    for (i, s) in req.timeseries.iter().enumerate() {
        let line = i as u32 + 1;
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        let samples: Vec<(f64, i64)> = s.samples.iter().map(|x| (x.value, x.timestamp)).collect();
        if let Err(message) = add_series(&mut batch, &labels, &samples, line, &opts()) {
            errors.push(LineError { line, message });
        }
        if !s.histograms.is_empty() {
            errors.push(LineError {
                line,
                message: histograms_not_stored(&labels, s.histograms.len()),
            });
        }
    }
    batch.finish();
    Some(Parsed { batch, errors })
}

fn same_as_prost(body: &[u8]) -> Result<(), TestCaseError> {
    match (decode(body, &opts()), oracle(body)) {
        (Ok(ours), Some(theirs)) => {
            prop_assert_eq!(rows(&ours), rows(&theirs));
            prop_assert_eq!(ours.errors, theirs.errors);
        }
        (Err(_), None) => {}
        (ours, theirs) => prop_assert!(
            false,
            "verdicts differ on {body:02x?}: ours {:?}, prost {}",
            ours.map(|p| p.batch.row_count()),
            if theirs.is_some() { "ok" } else { "error" }
        ),
    }
    Ok(())
}
