use super::*;
use rmpv::Value as V;
use strata_model::{BatchColumn, ColumnData, ColumnKind, FieldType, Precision, TableBatch};

pub(super) const NOW: i64 = 1_750_000_000_123_456_789;
pub(super) const T0: i64 = 1_700_000_000_000_000_000;

pub(super) fn enc(v: &V) -> Vec<u8> {
    let mut b = Vec::new();
    rmpv::encode::write_value(&mut b, v).unwrap();
    b
}

pub(super) fn map(entries: Vec<(&str, V)>) -> V {
    V::Map(entries.into_iter().map(|(k, v)| (V::from(k), v)).collect())
}

pub(super) fn opts() -> ParseOptions {
    ParseOptions::new(Precision::Auto, NOW)
}

pub(super) fn ok(body: &[u8]) -> Parsed {
    decode(body, &opts()).unwrap()
}

pub(super) fn table<'a>(p: &'a Parsed, name: &str) -> &'a TableBatch {
    p.batch.tables().iter().find(|t| t.name() == name).unwrap()
}

pub(super) fn col<'a>(t: &'a TableBatch, name: &str) -> &'a BatchColumn {
    t.columns().iter().find(|c| c.name() == name).unwrap()
}

pub(super) fn has_col(t: &TableBatch, name: &str) -> bool {
    t.columns().iter().any(|c| c.name() == name)
}

pub(super) fn ints(c: &BatchColumn) -> Vec<Option<i64>> {
    let ColumnData::I64(v) = c.data() else {
        panic!("{} is {:?}", c.name(), c.kind())
    };
    v.iter()
        .enumerate()
        .map(|(i, x)| c.is_valid(i).then_some(*x))
        .collect()
}

pub(super) fn floats(c: &BatchColumn) -> Vec<Option<f64>> {
    let ColumnData::F64(v) = c.data() else {
        panic!("{} is {:?}", c.name(), c.kind())
    };
    v.iter()
        .enumerate()
        .map(|(i, x)| c.is_valid(i).then_some(*x))
        .collect()
}

pub(super) fn bools(c: &BatchColumn) -> Vec<Option<bool>> {
    let ColumnData::Bool(v) = c.data() else {
        panic!("{} is {:?}", c.name(), c.kind())
    };
    (0..v.len())
        .map(|i| c.is_valid(i).then(|| v.get(i)))
        .collect()
}

/// Tag or string field values.
pub(super) fn strs(c: &BatchColumn) -> Vec<Option<String>> {
    match c.data() {
        ColumnData::Tag(t) => (0..t.len())
            .map(|i| c.is_valid(i).then(|| t.get(i).to_owned()))
            .collect(),
        ColumnData::Str(s) => (0..s.len())
            .map(|i| c.is_valid(i).then(|| s.get(i).to_owned()))
            .collect(),
        _ => panic!("{} is {:?}", c.name(), c.kind()),
    }
}

fn some<T: Clone>(v: &[T]) -> Vec<Option<T>> {
    v.iter().cloned().map(Some).collect()
}

fn s(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|x| Some((*x).to_owned())).collect()
}

pub(super) const TAG: ColumnKind = ColumnKind::Tag;
const INT: ColumnKind = ColumnKind::Field(FieldType::Integer);
const STRING: ColumnKind = ColumnKind::Field(FieldType::String);

pub(super) fn columnar(m: &str, cols: Vec<(&str, Vec<V>)>) -> V {
    map(vec![
        ("m", V::from(m)),
        (
            "columns",
            map(cols.into_iter().map(|(k, v)| (k, V::Array(v))).collect()),
        ),
    ])
}

#[test]
fn columnar_basic() {
    let body = enc(&columnar(
        "cpu",
        vec![
            (
                "time",
                vec![
                    V::from(1_700_000_000_000_000i64),
                    V::from(1_700_000_001_000_000i64),
                ],
            ),
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
            ("w", vec![V::Nil, V::from(5), V::from(6)]),
            ("never", vec![V::Nil, V::Nil, V::Nil]),
        ],
    ));
    let p = ok(&body);
    let t = table(&p, "m");
    assert_eq!(t.rows(), 3);
    assert_eq!(
        strs(col(t, "host")),
        vec![Some("a".into()), None, Some("c".into())]
    );
    assert_eq!(floats(col(t, "v")), vec![Some(1.0), Some(2.0), None]);
    assert_eq!(ints(col(t, "w")), vec![None, Some(5), Some(6)]);
    assert!(!has_col(t, "never"));
}

#[test]
fn leading_nils_and_empty_tags() {
    let body = enc(&columnar(
        "m",
        vec![
            ("host", vec![V::Nil, V::from(""), V::from("a")]),
            ("v", vec![V::from(1), V::from(2), V::from(3)]),
        ],
    ));
    let p = ok(&body);
    let t = table(&p, "m");
    assert_eq!(strs(col(t, "host")), vec![None, None, Some("a".into())]);
    // The same in row format: a first record without the tag.
    let recs = V::Array(vec![
        map(vec![
            ("m", V::from("r")),
            ("fields", map(vec![("v", V::from(1))])),
        ]),
        map(vec![
            ("m", V::from("r")),
            (
                "tags",
                map(vec![
                    ("k", V::from("x")),
                    ("n", V::from(5)),
                    ("b", V::from(false)),
                ]),
            ),
            ("fields", map(vec![("v", V::from(2))])),
        ]),
    ]);
    let p = ok(&enc(&recs));
    let t = table(&p, "r");
    assert_eq!(strs(col(t, "k")), vec![None, Some("x".into())]);
    assert_eq!(strs(col(t, "n")), vec![None, Some("5".into())]);
    assert_eq!(strs(col(t, "b")), vec![None, Some("false".into())]);
}

#[test]
fn tag_value_length_limit() {
    let long = "x".repeat(40);
    let body = enc(&columnar(
        "m",
        vec![
            ("host", vec![V::from("a"), V::from(long.as_str())]),
            ("v", vec![V::from(1), V::from(2)]),
        ],
    ));
    let mut o = opts();
    o.max_tag_value_len = 8;
    let p = decode(&body, &o).unwrap();
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, 2);
    assert!(
        p.errors[0].message.contains("limit is 8"),
        "{}",
        p.errors[0].message
    );
    assert_eq!(p.batch.row_count(), 1);
}

#[test]
fn integer_encodings() {
    // Every integer width, signed and unsigned, in fields and in time.
    let vals = [
        0i64,
        127,
        -1,
        -32,
        -33,
        200,
        -200,
        40_000,
        -40_000,
        3_000_000_000,
        -3_000_000_000,
        i64::MAX,
        i64::MIN,
    ];
    let mut body = Vec::new();
    rmp::encode::write_map_len(&mut body, 2).unwrap();
    rmp::encode::write_str(&mut body, "m").unwrap();
    rmp::encode::write_str(&mut body, "m").unwrap();
    rmp::encode::write_str(&mut body, "columns").unwrap();
    rmp::encode::write_map_len(&mut body, 3).unwrap();
    rmp::encode::write_str(&mut body, "a").unwrap();
    rmp::encode::write_array_len(&mut body, vals.len() as u32).unwrap();
    for v in vals {
        rmp::encode::write_sint(&mut body, v).unwrap();
    }
    rmp::encode::write_str(&mut body, "b").unwrap();
    rmp::encode::write_array_len(&mut body, vals.len() as u32).unwrap();
    for v in vals {
        // Fixed-width encodings, as some clients write them.
        rmp::encode::write_i64(&mut body, v).unwrap();
    }
    rmp::encode::write_str(&mut body, "time").unwrap();
    rmp::encode::write_array_len(&mut body, vals.len() as u32).unwrap();
    for (i, _) in vals.iter().enumerate() {
        let t = T0 as u64 + i as u64;
        match i % 3 {
            0 => rmp::encode::write_u64(&mut body, t).unwrap(),
            1 => rmp::encode::write_i64(&mut body, t as i64).unwrap(),
            _ => rmp::encode::write_f64(&mut body, (t / 1_000_000_000) as f64)
                .map(|_| ())
                .unwrap(),
        }
    }
    let p = ok(&body);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let t = table(&p, "m");
    assert_eq!(ints(col(t, "a")), some(&vals));
    assert_eq!(ints(col(t, "b")), some(&vals));
    assert_eq!(&t.time()[..3], &[T0, T0 + 1, T0]);
}

#[test]
fn many_rows_and_distinct_tag_values() {
    // Enough rows and distinct values to exercise dictionary growth, with short,
    // 8-byte, 16-byte and long values, and a tag column last in the body.
    let rows = 3000;
    let tag = |i: usize| match i % 4 {
        0 => format!("h{}", i % 700),
        1 => format!("{:08}", i % 500),
        2 => format!("{:016}", i % 300),
        _ => format!("long-value-over-sixteen-bytes-{}", i % 200),
    };
    let body = enc(&columnar(
        "m",
        vec![
            ("v", (0..rows).map(|i| V::from(i as i64)).collect()),
            ("t", (0..rows).map(|i| V::from(tag(i).as_str())).collect()),
        ],
    ));
    let p = ok(&body);
    assert!(p.errors.is_empty());
    let t = table(&p, "m");
    let want: Vec<Option<String>> = (0..rows).map(|i| Some(tag(i))).collect();
    assert_eq!(strs(col(t, "t")), want);
    let ColumnData::Tag(d) = col(t, "t").data() else {
        panic!()
    };
    assert_eq!(d.values().len(), 700 / 4 + 500 / 4 + 300 / 4 + 200 / 4);
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
    assert!(
        p.errors[0].message.contains("no field values"),
        "{}",
        p.errors[0].message
    );
    let t = table(&p, "m");
    assert_eq!(t.lines(), &[2]);
    assert_eq!(strs(col(t, "host")), s(&["b"]));

    // Only strings and no tag list: every column is a tag, the hint says why.
    let body = enc(&columnar("m", vec![("msg", vec![V::from("x")])]));
    let p = ok(&body);
    assert!(p.batch.is_empty());
    assert!(
        p.errors[0].message.contains("tag_keys"),
        "{}",
        p.errors[0].message
    );
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
    let body = enc(&columnar(
        "m",
        vec![("time", times), ("v", vec![V::from(1); n])],
    ));
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
            (
                "time",
                vec![V::Ext(-1, ts64.to_be_bytes().to_vec()), V::Ext(-1, ts96)],
            ),
            ("v", vec![V::from(1), V::from(2)]),
        ],
    ));
    let p = ok(&body);
    assert_eq!(table(&p, "m").time(), &[T0 + 123_456_789, T0 + 123_456_789]);
}

#[test]
fn explicit_precision_is_honoured() {
    let body = enc(&columnar(
        "m",
        vec![
            ("time", vec![V::from(1_700_000_000)]),
            ("v", vec![V::from(1)]),
        ],
    ));
    let o = ParseOptions::new(Precision::Millisecond, NOW);
    let p = decode(&body, &o).unwrap();
    assert_eq!(table(&p, "m").time(), &[1_700_000_000_000_000]);
}

#[test]
fn missing_or_nil_time_is_now() {
    let body = [
        enc(&columnar("a", vec![("v", vec![V::from(1), V::from(2)])])),
        enc(&columnar(
            "b",
            vec![("time", vec![V::Nil]), ("v", vec![V::from(1)])],
        )),
        enc(&map(vec![
            ("m", V::from("c")),
            ("fields", map(vec![("v", V::from(1))])),
        ])),
        enc(&map(vec![
            ("m", V::from("d")),
            ("t", V::Nil),
            ("fields", map(vec![("v", V::from(1))])),
        ])),
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
            (
                "time",
                vec![
                    V::from(u64::MAX),
                    V::from(f64::NAN),
                    V::from(1),
                    V::from(1e300),
                ],
            ),
            ("v", vec![V::from(1); 4]),
        ],
    ));
    let p = ok(&body);
    let lines: Vec<u32> = p.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 2, 4]);
    assert_eq!(table(&p, "m").time(), &[1_000_000_000]);

    let body = enc(&columnar(
        "m",
        vec![
            ("time", vec![V::from("2024-01-01")]),
            ("v", vec![V::from(1)]),
        ],
    ));
    assert!(matches!(
        decode(&body, &opts()),
        Err(Error::UnsupportedType { ref column, found: "string", .. }) if column == "time"
    ));
}

#[test]
fn unequal_lengths() {
    let body = enc(&columnar(
        "m",
        vec![
            ("time", vec![V::from(1), V::from(2)]),
            ("v", vec![V::from(1)]),
        ],
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
    assert!(
        msg.contains("\"v\" has 1") && msg.contains("\"time\" has 2"),
        "{msg}"
    );
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
        let body = enc(&map(vec![
            ("m", V::from("m")),
            ("columns", cols()),
            (key, names()),
        ]));
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
    let body = enc(&map(vec![
        ("m", V::from("m")),
        ("columns", cols()),
        ("tag_keys", V::Array(vec![])),
    ]));
    let p = ok(&body);
    assert_eq!(col(table(&p, "m"), "host").kind(), STRING);
    // An inferred tag defers to a string field the batch already has.
    let body = [
        enc(&map(vec![
            ("m", V::from("m")),
            ("columns", cols()),
            ("tag_keys", V::Array(vec![])),
        ])),
        enc(&map(vec![("m", V::from("m")), ("columns", cols())])),
    ]
    .concat();
    let p = ok(&body);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(strs(col(table(&p, "m"), "note")), s(&["hello", "hello"]));
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
            (
                "u",
                vec![V::from(1u64), V::from(i64::MAX as u64), V::from(2u8)],
            ),
        ],
    ));
    let p = ok(&body);
    let t = table(&p, "m");
    assert_eq!(floats(col(t, "mixed")), vec![Some(1.0), None]);
    assert_eq!(ints(col(t, "big")), some(&[1, 3]));
    assert_eq!(ints(col(t, "u")), some(&[1, 2]));
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, 2);
    assert!(
        p.errors[0].message.contains("18446744073709551615"),
        "{}",
        p.errors[0].message
    );
}

#[test]
fn type_fixed_by_first_object_converts_when_exact() {
    let body = [
        enc(&columnar(
            "m",
            vec![("x", vec![V::from(1)]), ("f", vec![V::from(0.5)])],
        )),
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
        enc(&columnar(
            "m",
            vec![("host", vec![V::from("a")]), ("v", vec![V::from(1)])],
        )),
        enc(&columnar(
            "m",
            vec![
                ("host", vec![V::Nil, V::from(true)]),
                ("v", vec![V::from(2), V::from(3)]),
            ],
        )),
    ]
    .concat();
    let p = ok(&body);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, 3);
    assert!(
        p.errors[0].message.contains("is a tag"),
        "{}",
        p.errors[0].message
    );
    assert_eq!(ints(col(table(&p, "m"), "v")), some(&[1, 2]));
}

#[test]
fn row_format() {
    let rec = map(vec![
        ("m", V::from("cpu")),
        ("t", V::from(1_700_000_000_000i64)),
        ("h", V::from("server01")),
        (
            "tags",
            map(vec![
                ("region", V::from("eu")),
                ("host", V::from("ignored")),
            ]),
        ),
        (
            "fields",
            map(vec![
                ("usage", V::from(45.2)),
                ("n", V::from(3)),
                ("s", V::from("x")),
            ]),
        ),
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
        map(vec![
            ("m", V::from("m")),
            ("fields", map(vec![("x", V::from(1))])),
        ]),
        map(vec![("m", V::from("m"))]),
        map(vec![("m", V::from("m")), ("fields", map(vec![]))]),
        map(vec![
            ("m", V::from("m")),
            ("fields", map(vec![("x", V::from(2.5))])),
        ]),
        map(vec![
            ("m", V::from("m")),
            ("fields", map(vec![("x", V::from(4.0))])),
        ]),
        map(vec![
            ("m", V::from("m")),
            ("fields", map(vec![("x", V::from("s"))])),
        ]),
        map(vec![
            ("m", V::from("m")),
            ("fields", map(vec![("time", V::from(1))])),
        ]),
        map(vec![
            ("m", V::from("m")),
            ("fields", map(vec![("y", V::Array(vec![]))])),
        ]),
        map(vec![
            ("m", V::from("m")),
            ("tags", map(vec![("x", V::from("t"))])),
            ("fields", map(vec![("z", V::from(1))])),
        ]),
        map(vec![
            ("m", V::from("m")),
            ("fields", map(vec![("", V::from(1))])),
        ]),
        map(vec![
            ("m", V::from("m")),
            ("t", V::from("now")),
            ("fields", map(vec![("x", V::from(1))])),
        ]),
    ]);
    let p = ok(&enc(&recs));
    let lines: Vec<u32> = p.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 6, 7, 8, 9, 10, 11], "{:?}", p.errors);
    let t = table(&p, "m");
    assert_eq!(t.lines(), &[1, 5]);
    assert_eq!(ints(col(t, "x")), some(&[1, 4]));
    assert!(!has_col(t, "y") && !has_col(t, "z"));
    assert!(
        p.errors[3].message.contains("is an integer field"),
        "{}",
        p.errors[3].message
    );
}

#[test]
fn mixed_batch_and_concatenation() {
    let batch = map(vec![(
        "batch",
        V::Array(vec![
            columnar(
                "cpu",
                vec![
                    ("time", vec![V::from(1), V::from(2)]),
                    ("v", vec![V::from(1), V::from(2)]),
                ],
            ),
            map(vec![
                ("m", V::from("mem")),
                ("t", V::from(3)),
                ("fields", map(vec![("free", V::from(9))])),
            ]),
            map(vec![(
                "batch",
                V::Array(vec![columnar("cpu", vec![("v", vec![V::from(3)])])]),
            )]),
        ]),
    )]);
    let row = map(vec![
        ("m", V::from("mem")),
        ("fields", map(vec![("free", V::from(8))])),
    ]);
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
    assert!(matches!(
        e(&map(vec![("columns", map(vec![]))])),
        Error::MissingMeasurement { offset: 0 }
    ));
    assert!(matches!(
        e(&columnar("", vec![])),
        Error::InvalidMeasurement { .. }
    ));
    assert!(matches!(
        e(&map(vec![("m", V::from(1.5)), ("f", V::Nil)])),
        Error::InvalidMeasurement { .. }
    ));
    assert!(matches!(
        e(&columnar("m", vec![("b", vec![V::Binary(vec![1])])])),
        Error::UnsupportedType { ref column, found: "binary", .. } if column == "b"
    ));
    assert!(matches!(
        e(&columnar("m", vec![("a", vec![V::Array(vec![])])])),
        Error::UnsupportedType { found: "array", .. }
    ));
    assert!(matches!(
        e(&map(vec![
            ("m", V::from("m")),
            ("columns", map(vec![("a", V::from(1))]))
        ])),
        Error::NotAnArray { .. }
    ));
    assert!(matches!(
        e(&columnar(
            "m",
            vec![("a", vec![V::from(1)]), ("a", vec![V::from(2)])]
        )),
        Error::DuplicateColumn { .. }
    ));
    assert!(matches!(
        e(&columnar("m", vec![("", vec![V::from(1)])])),
        Error::InvalidColumnName { .. }
    ));
    assert!(matches!(
        e(&V::from(5)),
        Error::Unexpected { offset: 0, .. }
    ));
    let mut deep = columnar("m", vec![("v", vec![V::from(1)])]);
    for _ in 0..20 {
        deep = map(vec![("batch", V::Array(vec![deep]))]);
    }
    assert!(matches!(e(&deep), Error::TooDeep { .. }));
}
