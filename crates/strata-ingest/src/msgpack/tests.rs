#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;
use rmpv::Value as V;
use strata_model::{BatchColumn, ColumnData, ColumnKind, FieldType, Precision, TableBatch};

const NOW: i64 = 1_750_000_000_123_456_789;
const T0: i64 = 1_700_000_000_000_000_000;

fn enc(v: &V) -> Vec<u8> {
    let mut b = Vec::new();
    rmpv::encode::write_value(&mut b, v).unwrap();
    b
}

fn map(entries: Vec<(&str, V)>) -> V {
    V::Map(entries.into_iter().map(|(k, v)| (V::from(k), v)).collect())
}

fn opts() -> ParseOptions {
    ParseOptions::new(Precision::Auto, NOW)
}

fn ok(body: &[u8]) -> Parsed {
    decode(body, &opts()).unwrap()
}

fn table<'a>(p: &'a Parsed, name: &str) -> &'a TableBatch {
    p.batch.tables().iter().find(|t| t.name() == name).unwrap()
}

fn col<'a>(t: &'a TableBatch, name: &str) -> &'a BatchColumn {
    t.columns().iter().find(|c| c.name() == name).unwrap()
}

fn has_col(t: &TableBatch, name: &str) -> bool {
    t.columns().iter().any(|c| c.name() == name)
}

fn ints(c: &BatchColumn) -> Vec<Option<i64>> {
    let ColumnData::I64(v) = c.data() else { panic!("{} is {:?}", c.name(), c.kind()) };
    v.iter().enumerate().map(|(i, x)| c.is_valid(i).then_some(*x)).collect()
}

fn floats(c: &BatchColumn) -> Vec<Option<f64>> {
    let ColumnData::F64(v) = c.data() else { panic!("{} is {:?}", c.name(), c.kind()) };
    v.iter().enumerate().map(|(i, x)| c.is_valid(i).then_some(*x)).collect()
}

fn bools(c: &BatchColumn) -> Vec<Option<bool>> {
    let ColumnData::Bool(v) = c.data() else { panic!("{} is {:?}", c.name(), c.kind()) };
    (0..v.len()).map(|i| c.is_valid(i).then(|| v.get(i))).collect()
}

/// Tag or string field values.
fn strs(c: &BatchColumn) -> Vec<Option<String>> {
    match c.data() {
        ColumnData::Tag(t) => (0..t.len()).map(|i| c.is_valid(i).then(|| t.get(i).to_owned())).collect(),
        ColumnData::Str(s) => (0..s.len()).map(|i| c.is_valid(i).then(|| s.get(i).to_owned())).collect(),
        _ => panic!("{} is {:?}", c.name(), c.kind()),
    }
}

fn some<T: Clone>(v: &[T]) -> Vec<Option<T>> {
    v.iter().cloned().map(Some).collect()
}

fn s(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|x| Some((*x).to_owned())).collect()
}

const TAG: ColumnKind = ColumnKind::Tag;
const FLOAT: ColumnKind = ColumnKind::Field(FieldType::Float);
const INT: ColumnKind = ColumnKind::Field(FieldType::Integer);
const STRING: ColumnKind = ColumnKind::Field(FieldType::String);

fn columnar(m: &str, cols: Vec<(&str, Vec<V>)>) -> V {
    map(vec![
        ("m", V::from(m)),
        ("columns", map(cols.into_iter().map(|(k, v)| (k, V::Array(v))).collect())),
    ])
}

#[test]
fn columnar_basic() {
    let body = enc(&columnar(
        "cpu",
        vec![
            ("time", vec![V::from(1_700_000_000_000_000i64), V::from(1_700_000_001_000_000i64)]),
            ("host", vec![V::from("a"), V::from("b")]),
            ("usage", vec![V::from(1.5), V::from(2.5)]),
            ("count", vec![V::from(1), V::from(-2)]),
            ("ok", vec![V::from(true), V::from(false)]),
        ],
    ));
    let p = ok(&body);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let t = table(&p, "cpu");
    assert_eq!(t.time(), &[T0, T0 + 1_000_000_000]);
    assert_eq!(t.lines(), &[1, 2]);
    assert_eq!(col(t, "host").kind(), TAG);
    assert_eq!(strs(col(t, "host")), s(&["a", "b"]));
    assert_eq!(floats(col(t, "usage")), some(&[1.5, 2.5]));
    assert_eq!(ints(col(t, "count")), some(&[1, -2]));
    assert_eq!(bools(col(t, "ok")), some(&[true, false]));
    assert!(!has_col(t, "time"));
}

#[test]
fn columnar_keys_in_any_order_and_extra_keys_ignored() {
    let body = enc(&map(vec![
        ("columns", map(vec![("v", V::Array(vec![V::from(1)]))])),
        ("x", V::Array(vec![V::Map(vec![])])),
        ("m", V::from("mem")),
    ]));
    let p = ok(&body);
    assert_eq!(ints(col(table(&p, "mem"), "v")), some(&[1]));
}

#[test]
fn columnar_nils() {
    let body = enc(&columnar(
        "m",
        vec![
            ("time", vec![V::from(1), V::from(2), V::from(3)]),
            ("host", vec![V::from("a"), V::Nil, V::from("c")]),
            ("v", vec![V::from(1.0), V::from(2.0), V::Nil]),
            ("w", vec![V::Nil, V::from(5), V::Nil]),
            ("never", vec![V::Nil, V::Nil, V::Nil]),
        ],
    ));
    let p = ok(&body);
    let t = table(&p, "m");
    assert_eq!(t.rows(), 3);
    assert_eq!(strs(col(t, "host")), vec![Some("a".into()), None, Some("c".into())]);
    assert_eq!(floats(col(t, "v")), vec![Some(1.0), Some(2.0), None]);
    assert_eq!(ints(col(t, "w")), vec![None, Some(5), None]);
    assert!(!has_col(t, "never"));
}

#[test]
fn row_without_field_values_is_rejected() {
    let body = enc(&columnar(
        "m",
        vec![
            ("host", vec![V::from("a"), V::from("b")]),
            ("v", vec![V::Nil, V::from(2)]),
        ],
    ));
    let p = ok(&body);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, 1);
    assert!(p.errors[0].message.contains("no field values"), "{}", p.errors[0].message);
    let t = table(&p, "m");
    assert_eq!(t.lines(), &[2]);
    assert_eq!(strs(col(t, "host")), s(&["b"]));

    // Only strings and no tag list: every column is a tag, the hint says why.
    let body = enc(&columnar("m", vec![("msg", vec![V::from("x")])]));
    let p = ok(&body);
    assert!(p.batch.is_empty());
    assert!(p.errors[0].message.contains("tag_keys"), "{}", p.errors[0].message);
}

#[test]
fn time_inference_per_unit() {
    let times = vec![
        V::from(1_700_000_000i64),
        V::from(1_700_000_000_000i64),
        V::from(1_700_000_000_000_000i64),
        V::from(1_700_000_000_000_000_000i64),
        V::from(1_700_000_000.5f64),
        V::from(1_700_000_000_250f64),
        V::from(1_700_000_000_000_000_000u64),
        V::Ext(-1, 1_700_000_000u32.to_be_bytes().to_vec()),
    ];
    let n = times.len();
    let body = enc(&columnar("m", vec![("time", times), ("v", vec![V::from(1); n])]));
    let p = ok(&body);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        table(&p, "m").time(),
        &[T0, T0, T0, T0, T0 + 500_000_000, T0 + 250_000_000, T0, T0]
    );
}

#[test]
fn timestamp_extension_layouts() {
    let ns = 123_456_789u64;
    let ts64 = (ns << 34) | 1_700_000_000;
    let mut ts96 = (ns as u32).to_be_bytes().to_vec();
    ts96.extend_from_slice(&1_700_000_000i64.to_be_bytes());
    let body = enc(&columnar(
        "m",
        vec![
            ("time", vec![V::Ext(-1, ts64.to_be_bytes().to_vec()), V::Ext(-1, ts96)]),
            ("v", vec![V::from(1), V::from(2)]),
        ],
    ));
    let p = ok(&body);
    assert_eq!(table(&p, "m").time(), &[T0 + 123_456_789, T0 + 123_456_789]);
}

#[test]
fn explicit_precision_is_honoured() {
    let body = enc(&columnar("m", vec![("time", vec![V::from(1_700_000_000)]), ("v", vec![V::from(1)])]));
    let o = ParseOptions::new(Precision::Millisecond, NOW);
    let p = decode(&body, &o).unwrap();
    assert_eq!(table(&p, "m").time(), &[1_700_000_000_000_000]);
}

#[test]
fn missing_or_nil_time_is_now() {
    let body = [
        enc(&columnar("a", vec![("v", vec![V::from(1), V::from(2)])])),
        enc(&columnar("b", vec![("time", vec![V::Nil]), ("v", vec![V::from(1)])])),
        enc(&map(vec![("m", V::from("c")), ("fields", map(vec![("v", V::from(1))]))])),
        enc(&map(vec![("m", V::from("d")), ("t", V::Nil), ("fields", map(vec![("v", V::from(1))]))])),
    ]
    .concat();
    let p = ok(&body);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    for name in ["a", "b", "c", "d"] {
        assert!(table(&p, name).time().iter().all(|&t| t == NOW), "{name}");
    }
    let o = ParseOptions::new(Precision::Second, NOW);
    let p = decode(&body, &o).unwrap();
    assert_eq!(table(&p, "a").time()[0], 1_750_000_000_000_000_000);
}

#[test]
fn bad_timestamps_reject_rows() {
    let body = enc(&columnar(
        "m",
        vec![
            ("time", vec![V::from(u64::MAX), V::from(f64::NAN), V::from(1), V::from(1e300)]),
            ("v", vec![V::from(1); 4]),
        ],
    ));
    let p = ok(&body);
    let lines: Vec<u32> = p.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 2, 4]);
    assert_eq!(table(&p, "m").time(), &[1_000_000_000]);

    let body = enc(&columnar("m", vec![("time", vec![V::from("2024-01-01")]), ("v", vec![V::from(1)])]));
    assert!(matches!(
        decode(&body, &opts()),
        Err(Error::UnsupportedType { ref column, found: "string", .. }) if column == "time"
    ));
}

#[test]
fn unequal_lengths() {
    let body = enc(&columnar(
        "m",
        vec![("time", vec![V::from(1), V::from(2)]), ("v", vec![V::from(1)])],
    ));
    let err = decode(&body, &opts()).unwrap_err();
    assert_eq!(
        err,
        Error::UnequalLengths {
            column: "v".into(),
            found: 1,
            first: "time".into(),
            expected: 2
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("\"v\" has 1") && msg.contains("\"time\" has 2"), "{msg}");
}

#[test]
fn tag_list_vs_inference() {
    let cols = || {
        map(vec![
            ("host", V::Array(vec![V::from("a")])),
            ("note", V::Array(vec![V::from("hello")])),
            ("v", V::Array(vec![V::from(1)])),
        ])
    };
    let names = || V::Array(vec![V::from("host"), V::from("absent")]);
    for key in ["tag_keys", "tags"] {
        let body = enc(&map(vec![("m", V::from("m")), ("columns", cols()), (key, names())]));
        let p = ok(&body);
        let t = table(&p, "m");
        assert_eq!(col(t, "host").kind(), TAG, "{key}");
        assert_eq!(col(t, "note").kind(), STRING, "{key}");
        assert_eq!(strs(col(t, "note")), s(&["hello"]));
    }
    // Without a list, strings are tags.
    let p = ok(&enc(&map(vec![("m", V::from("m")), ("columns", cols())])));
    let t = table(&p, "m");
    assert_eq!(col(t, "host").kind(), TAG);
    assert_eq!(col(t, "note").kind(), TAG);
    // An empty list: no tags at all.
    let body = enc(&map(vec![("m", V::from("m")), ("columns", cols()), ("tag_keys", V::Array(vec![]))]));
    let p = ok(&body);
    assert_eq!(col(table(&p, "m"), "host").kind(), STRING);
    // A listed numeric column becomes a tag written in decimal.
    let body = enc(&map(vec![
        ("m", V::from("m")),
        ("columns", cols()),
        ("tag_keys", V::Array(vec![V::from("v")])),
    ]));
    let p = ok(&body);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(strs(col(table(&p, "m"), "v")), s(&["1"]));
}

#[test]
fn numeric_types_per_column() {
    let body = enc(&columnar(
        "m",
        vec![
            ("mixed", vec![V::from(1), V::from(2.5), V::Nil]),
            ("big", vec![V::from(1), V::from(u64::MAX), V::from(3)]),
            ("u", vec![V::from(1u64), V::from(i64::MAX as u64), V::from(2u8)]),
        ],
    ));
    let p = ok(&body);
    let t = table(&p, "m");
    assert_eq!(floats(col(t, "mixed")), vec![Some(1.0), None]);
    assert_eq!(ints(col(t, "big")), some(&[1, 3]));
    assert_eq!(ints(col(t, "u")), some(&[1, 2]));
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, 2);
    assert!(p.errors[0].message.contains("18446744073709551615"), "{}", p.errors[0].message);
}

#[test]
fn type_fixed_by_first_object_converts_when_exact() {
    let body = [
        enc(&columnar("m", vec![("x", vec![V::from(1)]), ("f", vec![V::from(0.5)])])),
        enc(&columnar(
            "m",
            vec![
                ("x", vec![V::from(2.0), V::from(2.5)]),
                ("f", vec![V::from(3), V::from(i64::MAX)]),
            ],
        )),
    ]
    .concat();
    let p = ok(&body);
    let t = table(&p, "m");
    assert_eq!(col(t, "x").kind(), INT);
    assert_eq!(ints(col(t, "x")), some(&[1, 2]));
    assert_eq!(floats(col(t, "f")), some(&[0.5, 3.0]));
    assert_eq!(p.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3]);
}

#[test]
fn conflicting_kind_rejects_rows_with_values() {
    let body = [
        enc(&columnar("m", vec![("host", vec![V::from("a")]), ("v", vec![V::from(1)])])),
        enc(&columnar(
            "m",
            vec![("host", vec![V::Nil, V::from(true)]), ("v", vec![V::from(2), V::from(3)])],
        )),
    ]
    .concat();
    let p = ok(&body);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, 3);
    assert!(p.errors[0].message.contains("is a tag"), "{}", p.errors[0].message);
    assert_eq!(ints(col(table(&p, "m"), "v")), some(&[1, 2]));
}

#[test]
fn row_format() {
    let rec = map(vec![
        ("m", V::from("cpu")),
        ("t", V::from(1_700_000_000_000i64)),
        ("h", V::from("server01")),
        ("tags", map(vec![("region", V::from("eu")), ("host", V::from("ignored"))])),
        ("fields", map(vec![("usage", V::from(45.2)), ("n", V::from(3)), ("s", V::from("x"))])),
    ]);
    let p = ok(&enc(&rec));
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let t = table(&p, "cpu");
    assert_eq!(t.time(), &[T0]);
    assert_eq!(strs(col(t, "host")), s(&["server01"]));
    assert_eq!(strs(col(t, "region")), s(&["eu"]));
    assert_eq!(floats(col(t, "usage")), some(&[45.2]));
    assert_eq!(ints(col(t, "n")), some(&[3]));
    assert_eq!(col(t, "s").kind(), STRING);
}

#[test]
fn row_format_compact_and_integer_names() {
    let rec = map(vec![
        ("m", V::from(7)),
        ("h", V::from(12)),
        ("f", V::Array(vec![V::from(95.0), V::from(3)])),
    ]);
    let p = ok(&enc(&rec));
    let t = table(&p, "measurement_7");
    assert_eq!(strs(col(t, "host")), s(&["host_12"]));
    assert_eq!(floats(col(t, "field_0")), some(&[95.0]));
    assert_eq!(ints(col(t, "field_1")), some(&[3]));
}

#[test]
fn row_format_errors_are_per_record() {
    let recs = V::Array(vec![
        map(vec![("m", V::from("m")), ("fields", map(vec![("x", V::from(1))]))]),
        map(vec![("m", V::from("m"))]),
        map(vec![("m", V::from("m")), ("fields", map(vec![]))]),
        map(vec![("m", V::from("m")), ("fields", map(vec![("x", V::from(2.5))]))]),
        map(vec![("m", V::from("m")), ("fields", map(vec![("x", V::from(4.0))]))]),
        map(vec![("m", V::from("m")), ("fields", map(vec![("x", V::from("s"))]))]),
        map(vec![("m", V::from("m")), ("fields", map(vec![("time", V::from(1))]))]),
        map(vec![("m", V::from("m")), ("fields", map(vec![("y", V::Array(vec![]))]))]),
        map(vec![("m", V::from("m")), ("tags", map(vec![("x", V::from("t"))])), ("fields", map(vec![("z", V::from(1))]))]),
        map(vec![("m", V::from("m")), ("fields", map(vec![("", V::from(1))]))]),
        map(vec![("m", V::from("m")), ("t", V::from("now")), ("fields", map(vec![("x", V::from(1))]))]),
    ]);
    let p = ok(&enc(&recs));
    let lines: Vec<u32> = p.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 6, 7, 8, 9, 10, 11], "{:?}", p.errors);
    let t = table(&p, "m");
    assert_eq!(t.lines(), &[1, 5]);
    assert_eq!(ints(col(t, "x")), some(&[1, 4]));
    assert!(!has_col(t, "y") && !has_col(t, "z"));
    assert!(p.errors[3].message.contains("is a integer field"), "{}", p.errors[3].message);
}

#[test]
fn mixed_batch_and_concatenation() {
    let batch = map(vec![(
        "batch",
        V::Array(vec![
            columnar("cpu", vec![("time", vec![V::from(1), V::from(2)]), ("v", vec![V::from(1), V::from(2)])]),
            map(vec![("m", V::from("mem")), ("t", V::from(3)), ("fields", map(vec![("free", V::from(9))]))]),
            map(vec![("batch", V::Array(vec![columnar("cpu", vec![("v", vec![V::from(3)])])]))]),
        ]),
    )]);
    let row = map(vec![("m", V::from("mem")), ("fields", map(vec![("free", V::from(8))]))]);
    let body = [enc(&batch), enc(&row), enc(&V::Array(vec![row.clone()]))].concat();
    let p = ok(&body);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(table(&p, "cpu").lines(), &[1, 2, 4]);
    assert_eq!(ints(col(table(&p, "cpu"), "v")), some(&[1, 2, 3]));
    assert_eq!(table(&p, "mem").lines(), &[3, 5, 6]);
    assert_eq!(ints(col(table(&p, "mem"), "free")), some(&[9, 8, 8]));
}

#[test]
fn request_errors() {
    let e = |v: &V| decode(&enc(v), &opts()).unwrap_err();
    assert_eq!(decode(&[], &opts()).unwrap_err(), Error::Empty);
    assert!(matches!(e(&map(vec![("columns", map(vec![]))])), Error::MissingMeasurement { offset: 0 }));
    assert!(matches!(e(&columnar("", vec![])), Error::InvalidMeasurement { .. }));
    assert!(matches!(e(&map(vec![("m", V::from(1.5)), ("f", V::Nil)])), Error::InvalidMeasurement { .. }));
    assert!(matches!(
        e(&columnar("m", vec![("b", vec![V::Binary(vec![1])])])),
        Error::UnsupportedType { ref column, found: "binary", .. } if column == "b"
    ));
    assert!(matches!(
        e(&columnar("m", vec![("a", vec![V::Array(vec![])])])),
        Error::UnsupportedType { found: "array", .. }
    ));
    assert!(matches!(
        e(&map(vec![("m", V::from("m")), ("columns", map(vec![("a", V::from(1))]))])),
        Error::NotAnArray { .. }
    ));
    assert!(matches!(
        e(&columnar("m", vec![("a", vec![V::from(1)]), ("a", vec![V::from(2)])])),
        Error::DuplicateColumn { .. }
    ));
    assert!(matches!(
        e(&columnar("m", vec![("", vec![V::from(1)])])),
        Error::InvalidColumnName { .. }
    ));
    assert!(matches!(e(&V::from(5)), Error::Unexpected { offset: 0, .. }));
    let mut deep = columnar("m", vec![("v", vec![V::from(1)])]);
    for _ in 0..20 {
        deep = map(vec![("batch", V::Array(vec![deep]))]);
    }
    assert!(matches!(e(&deep), Error::TooDeep { .. }));
}

#[test]
fn deep_nesting_in_ignored_keys_does_not_recurse() {
    let mut body = enc(&map(vec![("m", V::from("m")), ("fields", map(vec![("v", V::from(1))]))]));
    // Turn the map into one with an extra key holding 200k nested arrays.
    body[0] += 1;
    rmp::encode::write_str(&mut body, "junk").unwrap();
    body.extend(std::iter::repeat_n(0x91, 200_000));
    body.push(0xc0);
    let p = ok(&body);
    assert_eq!(p.batch.row_count(), 1);
}

#[test]
fn malformed_bodies_report_offsets() {
    assert_eq!(
        decode(&[0xc1], &opts()).unwrap_err(),
        Error::Malformed { offset: 0, reason: "byte 0xc1 is not a MessagePack marker" }
    );
    // An array claiming 2^32-1 elements in a 6-byte body.
    let err = decode(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01], &opts()).unwrap_err();
    assert!(matches!(err, Error::Malformed { offset: 0, .. }), "{err}");
    // A column array claiming more elements than there are bytes.
    let mut body = enc(&columnar("m", vec![("v", vec![V::from(1)])]));
    let at = body.len() - 2;
    assert_eq!(body[at], 0x91);
    body[at] = 0xdc;
    body.truncate(at + 1);
    body.extend_from_slice(&[0xff, 0xff, 0x01]);
    assert_eq!(decode(&body, &opts()).unwrap_err(), Error::Malformed {
        offset: at,
        reason: "container declares more elements than the body holds"
    });
}

#[test]
fn every_truncation_fails_cleanly() {
    let body = [
        enc(&columnar(
            "cpu",
            vec![
                ("time", vec![V::from(T0), V::from(T0 + 1)]),
                ("host", vec![V::from("a"), V::Nil]),
                ("v", vec![V::from(1.5), V::from(-7)]),
            ],
        )),
        enc(&map(vec![
            ("m", V::from("mem")),
            ("t", V::Ext(-1, vec![0, 0, 0, 1])),
            ("tags", map(vec![("k", V::from("v"))])),
            ("fields", map(vec![("free", V::from(u64::MAX - 1))])),
        ])),
    ]
    .concat();
    let first_end = enc(&columnar(
        "cpu",
        vec![
            ("time", vec![V::from(T0), V::from(T0 + 1)]),
            ("host", vec![V::from("a"), V::Nil]),
            ("v", vec![V::from(1.5), V::from(-7)]),
        ],
    ))
    .len();
    for cut in 1..body.len() {
        let r = decode(&body[..cut], &opts());
        if cut == first_end {
            assert!(r.is_ok());
        } else {
            match r {
                Err(Error::Malformed { offset, .. }) => assert!(offset < cut),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes, &opts());
    }

    #[test]
    fn mutated_bodies_never_panic(idx in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut body = enc(&map(vec![
            ("batch", V::Array(vec![
                columnar("c", vec![("time", vec![V::from(1), V::from(2)]), ("h", vec![V::from("x"), V::from("y")]), ("v", vec![V::from(1.0), V::Nil])]),
                map(vec![("m", V::from("r")), ("tags", map(vec![("a", V::from("b"))])), ("f", V::Array(vec![V::from(1)]))]),
            ])),
        ]));
        let i = idx.index(body.len());
        body[i] = byte;
        if let Ok(p) = decode(&body, &opts()) {
            for t in p.batch.tables() {
                for c in t.columns() {
                    prop_assert_eq!(c.validity().len(), t.rows());
                }
            }
        }
    }
}

/// One generated column of the round-trip test.
#[derive(Debug, Clone)]
enum GenCol {
    Tag(Vec<Option<String>>),
    Str(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: BoxedStrategy<T>,
    rows: usize,
) -> impl Strategy<Value = Vec<Option<T>>> {
    proptest::collection::vec(proptest::option::weighted(0.8, s), rows)
}

fn gen_table() -> impl Strategy<Value = (Vec<i64>, Vec<GenCol>)> {
    (0usize..40).prop_flat_map(|rows| {
        let text = "[a-zé0-9 ]{0,12}".boxed();
        let col = prop_oneof![
            opt(text.clone(), rows).prop_map(GenCol::Tag),
            opt(text, rows).prop_map(GenCol::Str),
            opt(any::<i64>().boxed(), rows).prop_map(GenCol::Int),
            opt(any::<f64>().prop_filter("finite", |f| f.is_finite()).boxed(), rows).prop_map(GenCol::Float),
            opt(any::<bool>().boxed(), rows).prop_map(GenCol::Bool),
        ];
        (
            proptest::collection::vec(1_000_000_000_000_000_000i64..2_000_000_000_000_000_000, rows),
            proptest::collection::vec(col, 1..6),
        )
    })
}

proptest! {
    #[test]
    fn columnar_round_trip((times, cols) in gen_table()) {
        let rows = times.len();
        let name = |i: usize| format!("c{i}");
        let mut columns = vec![(V::from("time"), V::Array(times.iter().map(|&t| V::from(t)).collect()))];
        let mut tag_keys = Vec::new();
        for (i, c) in cols.iter().enumerate() {
            let values: Vec<V> = match c {
                GenCol::Tag(v) | GenCol::Str(v) => v.iter().map(|x| x.as_deref().map_or(V::Nil, V::from)).collect(),
                GenCol::Int(v) => v.iter().map(|x| x.map_or(V::Nil, V::from)).collect(),
                GenCol::Float(v) => v.iter().map(|x| x.map_or(V::Nil, V::from)).collect(),
                GenCol::Bool(v) => v.iter().map(|x| x.map_or(V::Nil, V::from)).collect(),
            };
            if matches!(c, GenCol::Tag(_)) {
                tag_keys.push(V::from(name(i)));
            }
            columns.push((V::from(name(i)), V::Array(values)));
        }
        let body = enc(&V::Map(vec![
            (V::from("m"), V::from("t")),
            (V::from("columns"), V::Map(columns)),
            (V::from("tag_keys"), V::Array(tag_keys)),
        ]));
        let p = decode(&body, &opts()).unwrap();

        // Expected surviving rows: those with at least one non-nil field value.
        let kept: Vec<usize> = (0..rows)
            .filter(|&r| cols.iter().any(|c| match c {
                GenCol::Tag(_) => false,
                GenCol::Str(v) => v[r].is_some(),
                GenCol::Int(v) => v[r].is_some(),
                GenCol::Float(v) => v[r].is_some(),
                GenCol::Bool(v) => v[r].is_some(),
            }))
            .collect();
        prop_assert_eq!(p.errors.len(), rows - kept.len());
        if kept.is_empty() {
            prop_assert!(p.batch.is_empty());
            return Ok(());
        }
        let t = table(&p, "t");
        let want_times: Vec<i64> = kept.iter().map(|&r| times[r]).collect();
        prop_assert_eq!(t.time(), &want_times[..]);
        for (i, c) in cols.iter().enumerate() {
            let pick = |present: &dyn Fn(usize) -> bool| kept.iter().any(|&r| present(r));
            let n = name(i);
            match c {
                GenCol::Tag(v) => {
                    // Empty tag values are absent tags.
                    let want: Vec<Option<String>> = kept.iter().map(|&r| v[r].clone().filter(|x| !x.is_empty())).collect();
                    if want.iter().any(Option::is_some) {
                        prop_assert_eq!(col(t, &n).kind(), TAG);
                        prop_assert_eq!(strs(col(t, &n)), want);
                    } else {
                        prop_assert!(!has_col(t, &n));
                    }
                }
                GenCol::Str(v) if pick(&|r| v[r].is_some()) => {
                    prop_assert_eq!(strs(col(t, &n)), kept.iter().map(|&r| v[r].clone()).collect::<Vec<_>>());
                }
                GenCol::Int(v) if pick(&|r| v[r].is_some()) => {
                    prop_assert_eq!(ints(col(t, &n)), kept.iter().map(|&r| v[r]).collect::<Vec<_>>());
                }
                GenCol::Float(v) if pick(&|r| v[r].is_some()) => {
                    let got: Vec<Option<u64>> = floats(col(t, &n)).iter().map(|x| x.map(f64::to_bits)).collect();
                    let want: Vec<Option<u64>> = kept.iter().map(|&r| v[r].map(f64::to_bits)).collect();
                    prop_assert_eq!(got, want);
                }
                GenCol::Bool(v) if pick(&|r| v[r].is_some()) => {
                    prop_assert_eq!(bools(col(t, &n)), kept.iter().map(|&r| v[r]).collect::<Vec<_>>());
                }
                _ => prop_assert!(!has_col(t, &n)),
            }
        }
    }
}
