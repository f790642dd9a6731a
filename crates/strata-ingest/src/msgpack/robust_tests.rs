//! Robustness: malformed, truncated, mutated and random bodies, and a round trip
//! of random columnar tables. Helpers are shared with [`super::tests`].

use super::tests::{
    T0, TAG, bools, col, columnar, enc, floats, has_col, ints, map, ok, opts, strs, table,
};
use super::*;
use proptest::prelude::*;
use rmpv::Value as V;

#[test]
fn deep_nesting_in_ignored_keys_does_not_recurse() {
    let mut body = enc(&map(vec![
        ("m", V::from("m")),
        ("fields", map(vec![("v", V::from(1))])),
    ]));
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
        Error::Malformed {
            offset: 0,
            reason: "byte 0xc1 is not a MessagePack marker"
        }
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
    assert_eq!(
        decode(&body, &opts()).unwrap_err(),
        Error::Malformed {
            offset: at,
            reason: "container declares more elements than the body holds"
        }
    );
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
                Err(Error::Malformed { offset, .. }) => assert!(offset <= cut),
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
            prop_assert_eq!(p.batch.check_invariants(), Ok(()));
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
    present: f64,
) -> impl Strategy<Value = Vec<Option<T>>> {
    // `weighted` takes a probability strictly below 1.
    let value = if present < 1.0 {
        proptest::option::weighted(present, s).boxed()
    } else {
        s.prop_map(Some).boxed()
    };
    proptest::collection::vec(value, rows)
}

/// Random tables; half of them "clean" (no nil, no empty tag, no negative
/// integer: every value in the encoding the column-at-a-time path takes), so
/// that both decoding paths of a columnar object are exercised.
fn gen_table() -> impl Strategy<Value = (Vec<i64>, Vec<GenCol>)> {
    (0usize..40, any::<bool>()).prop_flat_map(|(rows, clean)| {
        let (present, text, int) = if clean {
            (1.0, "[a-zé0-9 ]{1,12}".boxed(), (0..=i64::MAX).boxed())
        } else {
            (0.8, "[a-zé0-9 ]{0,12}".boxed(), any::<i64>().boxed())
        };
        let col = prop_oneof![
            opt(text.clone(), rows, present).prop_map(GenCol::Tag),
            opt(text, rows, present).prop_map(GenCol::Str),
            opt(int, rows, present).prop_map(GenCol::Int),
            opt(
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .boxed(),
                rows,
                present
            )
            .prop_map(GenCol::Float),
            opt(any::<bool>().boxed(), rows, present).prop_map(GenCol::Bool),
        ];
        (
            proptest::collection::vec(
                1_000_000_000_000_000_000i64..2_000_000_000_000_000_000,
                rows,
            ),
            proptest::collection::vec(col, 1..6),
        )
    })
}

impl GenCol {
    /// Row `r`'s value (nil when absent).
    fn value(&self, r: usize) -> V {
        match self {
            GenCol::Tag(v) | GenCol::Str(v) => v[r].as_deref().map_or(V::Nil, V::from),
            GenCol::Int(v) => v[r].map_or(V::Nil, V::from),
            GenCol::Float(v) => v[r].map_or(V::Nil, V::from),
            GenCol::Bool(v) => v[r].map_or(V::Nil, V::from),
        }
    }
}

fn gen_name(i: usize) -> String {
    format!("c{i}")
}

/// The table as one columnar object of measurement `t`.
fn columnar_body(times: &[i64], cols: &[GenCol]) -> Vec<u8> {
    enc(&columnar_object(times, cols))
}

fn columnar_object(times: &[i64], cols: &[GenCol]) -> V {
    let mut columns = vec![(
        V::from("time"),
        V::Array(times.iter().map(|&t| V::from(t)).collect()),
    )];
    let mut tag_keys = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        if matches!(c, GenCol::Tag(_)) {
            tag_keys.push(V::from(gen_name(i)));
        }
        columns.push((
            V::from(gen_name(i)),
            V::Array((0..times.len()).map(|r| c.value(r)).collect()),
        ));
    }
    V::Map(vec![
        (V::from("m"), V::from("t")),
        (V::from("columns"), V::Map(columns)),
        (V::from("tag_keys"), V::Array(tag_keys)),
    ])
}

/// The table as row-format records (absent values left out), in a batch.
fn row_body(times: &[i64], cols: &[GenCol]) -> Vec<u8> {
    enc(&map(vec![("batch", V::Array(row_records(times, cols)))]))
}

fn row_records(times: &[i64], cols: &[GenCol]) -> Vec<V> {
    (0..times.len())
        .map(|r| {
            let (mut tags, mut fields) = (Vec::new(), Vec::new());
            for (i, c) in cols.iter().enumerate() {
                let v = c.value(r);
                if v.is_nil() {
                    continue;
                }
                let to = if matches!(c, GenCol::Tag(_)) {
                    &mut tags
                } else {
                    &mut fields
                };
                to.push((V::from(gen_name(i)), v));
            }
            V::Map(vec![
                (V::from("m"), V::from("t")),
                (V::from("t"), V::from(times[r])),
                (V::from("tags"), V::Map(tags)),
                (V::from("fields"), V::Map(fields)),
            ])
        })
        .collect()
}

/// The columnar decoder (either of its paths) and the row-format decoder,
/// written independently, agree on a table: rows, rejected rows, and each
/// column's kind and values.
fn decoders_agree(times: &[i64], cols: &[GenCol]) -> Result<(), TestCaseError> {
    bodies_agree(&columnar_body(times, cols), &row_body(times, cols))
}

/// [`decoders_agree`] for two bodies holding the same rows.
fn bodies_agree(columnar: &[u8], rows: &[u8]) -> Result<(), TestCaseError> {
    let c = decode(columnar, &opts()).unwrap();
    let r = decode(rows, &opts()).unwrap();
    let lines = |p: &Parsed| p.errors.iter().map(|e| e.line).collect::<Vec<_>>();
    prop_assert_eq!(lines(&c), lines(&r));
    prop_assert_eq!(c.batch.check_invariants(), Ok(()));
    if r.batch.is_empty() {
        prop_assert!(c.batch.is_empty());
        return Ok(());
    }
    let (ct, rt) = (table(&c, "t"), table(&r, "t"));
    prop_assert_eq!(ct.time(), rt.time());
    prop_assert_eq!(ct.lines(), rt.lines());
    let mut names: Vec<&str> = ct.columns().iter().map(|c| c.name()).collect();
    let mut want: Vec<&str> = rt.columns().iter().map(|c| c.name()).collect();
    names.sort_unstable();
    want.sort_unstable();
    prop_assert_eq!(&names, &want);
    for n in names {
        let (a, b) = (col(ct, n), col(rt, n));
        prop_assert_eq!(a.kind(), b.kind(), "{}", n);
        prop_assert_eq!(a.validity(), b.validity(), "{}", n);
        match a.kind() {
            TAG => prop_assert_eq!(strs(a), strs(b)),
            _ => prop_assert_eq!(a.data(), b.data(), "{}", n),
        }
    }
    Ok(())
}

/// Objects whose arrays all have the column-at-a-time encodings until the
/// last row, which needs the row path: the object is decoded row by row from
/// its start, with the same result as row-format records, alone and after an
/// object of the same table that went by column. Two controls stay on the
/// column path.
#[test]
fn last_row_leaves_the_column_path() {
    let tag = |last: &str| GenCol::Tag(["a", "b", last].map(|s| Some(s.to_owned())).to_vec());
    let int = |last: i64| GenCol::Int(vec![Some(1), Some(2), Some(last)]);
    let float = GenCol::Float(vec![Some(0.5), Some(1.5), Some(2.5)]);
    let times = [T0, T0 + 1, T0 + 2];
    // str8, not fixstr; both paths take 32 bytes.
    let long = "x".repeat(32);
    for (what, times, cols) in [
        ("empty tag", times, vec![tag(""), int(3), float.clone()]),
        (
            "negative fixint",
            times,
            vec![tag("c"), int(-1), float.clone()],
        ),
        (
            "int64 minimum, still by column",
            times,
            vec![tag("c"), int(i64::MIN), float.clone()],
        ),
        (
            "32-byte tag",
            times,
            vec![tag(&long), int(3), float.clone()],
        ),
        // Read as microseconds (below 1e16), it is beyond i64 nanoseconds.
        (
            "time out of range",
            [T0, T0 + 1, 9_999_999_999_999_999],
            vec![tag("c"), int(3), float.clone()],
        ),
        ("all fast", times, vec![tag("c"), int(3), float.clone()]),
    ] {
        let fast = usize::from(what.starts_with("all fast") || what.ends_with("by column"));
        let before = columnar::objects_by_column();
        if let Err(e) = decoders_agree(&times, &cols) {
            panic!("{what}: {e}");
        }
        assert_eq!(columnar::objects_by_column() - before, fast, "{what}");
        // After a first object of the same table went by column, so that
        // the table already holds rows when this one is rolled back.
        let first = (
            [T0 - 3, T0 - 2, T0 - 1],
            vec![tag("d"), int(4), float.clone()],
        );
        let c = map(vec![(
            "batch",
            V::Array(vec![
                columnar_object(&first.0, &first.1),
                columnar_object(&times, &cols),
            ]),
        )]);
        let mut records = row_records(&first.0, &first.1);
        records.extend(row_records(&times, &cols));
        let r = map(vec![("batch", V::Array(records))]);
        let before = columnar::objects_by_column();
        if let Err(e) = bodies_agree(&enc(&c), &enc(&r)) {
            panic!("{what}, second object: {e}");
        }
        assert_eq!(columnar::objects_by_column() - before, 1 + fast, "{what}");
    }
}

proptest! {
    #[test]
    fn columnar_equals_row_format((times, cols) in gen_table()) {
        decoders_agree(&times, &cols)?;
    }

    #[test]
    fn columnar_round_trip((times, cols) in gen_table()) {
        let rows = times.len();
        let name = gen_name;
        let p = decode(&columnar_body(&times, &cols), &opts()).unwrap();

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
