use super::*;
use crate::batch::FieldValue;
use proptest::prelude::*;

const TAG: ColumnKind = ColumnKind::Tag;
const F: ColumnKind = ColumnKind::Field(FieldType::Float);
const I: ColumnKind = ColumnKind::Field(FieldType::Integer);
const U: ColumnKind = ColumnKind::Field(FieldType::UInteger);
const B: ColumnKind = ColumnKind::Field(FieldType::Boolean);
const S: ColumnKind = ColumnKind::Field(FieldType::String);

/// Encodes after a prefix, checks the length, the decode, the invariants and that
/// re-encoding gives the same bytes; returns the encoding alone.
fn round_trip(b: &WriteBatch) -> Vec<u8> {
    let mut out = b"prefix".to_vec();
    b.encode(&mut out);
    assert_eq!(&out[..6], b"prefix", "encode must append");
    let bytes = out.split_off(6);
    assert_eq!(bytes.len(), b.encoded_len());
    let back = WriteBatch::decode(&bytes).unwrap();
    assert_eq!(back.check_invariants(), Ok(()));
    assert_eq!(&back, b);
    let mut again = Vec::new();
    back.encode(&mut again);
    assert_eq!(again, bytes);
    bytes
}

fn decode_err(bytes: &[u8]) -> CodecError {
    WriteBatch::decode(bytes).unwrap_err()
}

/// Pushes one row of `(column, kind, value)` into table `table`.
fn row(b: &mut WriteBatch, table: &str, time: i64, values: &[(&str, ColumnKind, FieldValue<'_>)]) {
    let t = b.table_mut(table);
    let line = t.rows() as u32 + 1;
    t.begin_row(line, time);
    for (pos, &(name, kind, v)) in values.iter().enumerate() {
        let c = t.resolve_column(pos, name, kind).unwrap();
        match (kind, v) {
            (ColumnKind::Tag, FieldValue::Str(s)) => t.push_tag(c, s),
            _ => t.push_field(c, v),
        }
    }
}

fn tiny() -> WriteBatch {
    let mut b = WriteBatch::default();
    row(
        &mut b,
        "m",
        1,
        &[
            ("h", TAG, FieldValue::Str("a")),
            ("v", I, FieldValue::I64(7)),
        ],
    );
    row(&mut b, "m", 2, &[("h", TAG, FieldValue::Str("a"))]);
    b.finish();
    b
}

#[test]
fn layout_is_stable() {
    #[rustfmt::skip]
    let expected: &[u8] = &[
        1,                                  // version
        1,                                  // tables
        1, b'm',                            // table name
        2,                                  // rows
        1, 0, 0, 0, 0, 0, 0, 0,             // time
        2, 0, 0, 0, 0, 0, 0, 0,
        1, 0, 0, 0, 2, 0, 0, 0,             // lines
        2,                                  // columns
        1, b'h', KIND_TAG, ALL_VALID,       // column "h"
        1, 1, 1, 0, 0, 0, b'a',             // key width, dictionary ["a"]
        0, 0,                               // keys
        1, b'v', KIND_INTEGER, BITMAP, 0b01, // column "v"
        7, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(round_trip(&tiny()), expected);
}

#[test]
fn every_kind_with_nulls_empty_and_unicode() {
    let mut b = WriteBatch::default();
    row(
        &mut b,
        "températures",
        -5,
        &[
            ("lieu", TAG, FieldValue::Str("Zürich")),
            ("f", F, FieldValue::F64(f64::NAN)),
            ("i", I, FieldValue::I64(i64::MIN)),
            ("s", S, FieldValue::Str("")),
        ],
    );
    row(
        &mut b,
        "températures",
        i64::MAX,
        &[
            ("lieu", TAG, FieldValue::Str("")),
            ("u", U, FieldValue::U64(u64::MAX)),
            ("b", B, FieldValue::Bool(true)),
            ("s", S, FieldValue::Str("日本語 🦀")),
            ("f", F, FieldValue::F64(-0.0)),
        ],
    );
    for i in 0..20 {
        row(
            &mut b,
            "températures",
            i,
            &[
                ("b", B, FieldValue::Bool(i % 3 == 0)),
                (
                    "lieu",
                    TAG,
                    FieldValue::Str(["Zürich", "", "東京"][i as usize % 3]),
                ),
            ],
        );
    }
    row(&mut b, "températures", 0, &[("i", I, FieldValue::I64(1))]);
    b.finish();
    let t = &b.tables()[0];
    assert_eq!(t.columns().len(), 6);
    assert!(t.columns().iter().all(|c| c.null_count() > 0));
    let bytes = round_trip(&b);
    let back = WriteBatch::decode(&bytes).unwrap();
    let ColumnData::F64(f) = back.tables()[0].columns()[1].data() else {
        panic!()
    };
    assert!(f[0].is_nan() && f[1].to_bits() == (-0.0f64).to_bits());
    let ColumnData::Tag(tags) = back.tables()[0].columns()[0].data() else {
        panic!()
    };
    assert_eq!(tags.get(2), "Zürich");
    assert_eq!(tags.get(4), "東京");
    assert_eq!(tags.values().len(), 3);
}

#[test]
fn many_tables_and_columnless_table() {
    let mut b = WriteBatch::default();
    for i in 0..300 {
        let table = format!("t{}", i % 120);
        let col = format!("c{}", i % 7);
        row(&mut b, &table, i, &[(&col, I, FieldValue::I64(i))]);
    }
    b.table_mut("no columns").begin_row(1, 1);
    b.finish();
    assert_eq!(b.tables().len(), 121);
    round_trip(&b);
    round_trip(&WriteBatch::default());
}

#[test]
fn key_widths_follow_the_dictionary() {
    for (distinct, width) in [(256, 1), (257, 2), (65_536, 2), (65_537, 4)] {
        let mut b = WriteBatch::default();
        let t = b.table_mut("m");
        let h = t.resolve_column(0, "h", TAG).unwrap();
        for i in 0..distinct {
            t.begin_row(1, i as i64);
            t.push_tag(h, &i.to_string());
        }
        // Repeats the last value: its key is the widest.
        t.begin_row(2, 0);
        t.push_tag(h, &(distinct - 1).to_string());
        b.finish();
        let bytes = round_trip(&b);
        assert_eq!(key_width(distinct), width);
        assert_eq!(
            bytes.len(),
            b.encoded_len(),
            "{distinct} values, width {width}"
        );
    }
}

#[test]
fn decoded_batch_accepts_more_rows() {
    let b = tiny();
    let mut back = WriteBatch::decode(&round_trip(&b)).unwrap();
    let t = back.table_mut("m");
    assert_eq!(t.column_index("v"), Some(1));
    assert_eq!(t.intern_tag(0, "a"), Some(0), "dictionary re-indexed");
    row(
        &mut back,
        "m",
        3,
        &[
            ("v", I, FieldValue::I64(1)),
            ("h", TAG, FieldValue::Str("b")),
        ],
    );
    row(&mut back, "n", 3, &[("x", F, FieldValue::F64(1.0))]);
    back.finish();
    assert_eq!(back.check_invariants(), Ok(()));
    assert_eq!(back.tables().len(), 2);
    assert_eq!(back.tables()[0].rows(), 3);
    round_trip(&back);
}

#[test]
fn rejects_unknown_versions() {
    assert_eq!(decode_err(&[]), CodecError::Empty);
    let e = decode_err(&[2, 0]);
    assert_eq!(e, CodecError::UnsupportedVersion { found: 2 });
    assert!(e.to_string().contains("reads version 1"), "{e}");
    assert!(WriteBatch::decode(&[1, 0]).unwrap().is_empty());
}

#[test]
fn rejects_every_truncation_and_trailing_bytes() {
    let bytes = round_trip(&tiny());
    for n in 0..bytes.len() {
        assert!(WriteBatch::decode(&bytes[..n]).is_err(), "prefix of {n}");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        decode_err(&long),
        CodecError::TrailingBytes {
            offset: bytes.len(),
            left: 1
        }
    );
    let e = decode_err(&bytes[..bytes.len() - 3]);
    assert!(
        matches!(
            e,
            CodecError::Truncated {
                what: "integer values",
                needed: 16,
                left: 13,
                ..
            }
        ),
        "{e}"
    );
}

/// Builds encodings by hand, one piece at a time.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn header(tables: u64) -> Self {
        let mut e = Enc(vec![BATCH_FORMAT_VERSION]);
        put_varint(&mut e.0, tables);
        e
    }
    fn str(mut self, s: &[u8]) -> Self {
        put_varint(&mut self.0, s.len() as u64);
        self.0.extend_from_slice(s);
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn varint(mut self, v: u64) -> Self {
        put_varint(&mut self.0, v);
        self
    }
    /// A table of one row at time 0, line 1, with `columns` columns to follow.
    fn table(self, name: &[u8], columns: u64) -> Self {
        self.str(name).varint(1).bytes(&[0; 12]).varint(columns)
    }
    /// A valid one-row integer column.
    fn int_column(self, name: &[u8]) -> Self {
        self.str(name)
            .bytes(&[KIND_INTEGER, ALL_VALID])
            .bytes(&[0; 8])
    }
    fn err(&self) -> CodecError {
        decode_err(&self.0)
    }
}

#[test]
fn hand_built_encodings_decode() {
    let ok = Enc::header(1).table(b"t", 1).int_column(b"c");
    let b = WriteBatch::decode(&ok.0).unwrap();
    assert_eq!(b.tables()[0].columns()[0].name(), "c");
}

#[test]
fn rejects_structural_errors() {
    let cases: Vec<(Enc, &str)> = vec![
        (
            Enc::header(1).str(b"\xff"),
            "invalid UTF-8 in table name at byte 3",
        ),
        (
            Enc::header(1).str(b"t").varint(0),
            "invalid row count at byte 4: a table has at least one row",
        ),
        (
            Enc::header(2).table(b"t", 0).table(b"t", 0),
            "duplicate table name \"t\" at byte 18",
        ),
        (
            Enc::header(1)
                .table(b"t", 2)
                .int_column(b"c")
                .int_column(b"c"),
            "duplicate column name \"c\" at byte 30",
        ),
        (
            Enc::header(1).table(b"t", 1).str(b"c").bytes(&[9]),
            "invalid column kind at byte 20: unknown kind 9",
        ),
        (
            Enc::header(1)
                .table(b"t", 1)
                .str(b"c")
                .bytes(&[KIND_INTEGER, 7]),
            "invalid validity marker at byte 21: unknown marker 7",
        ),
        (
            Enc::header(1)
                .table(b"t", 1)
                .str(b"c")
                .bytes(&[KIND_INTEGER, BITMAP, 0]),
            "invalid validity bitmap at byte 21: no row has a value",
        ),
        (
            Enc::header(1)
                .table(b"t", 1)
                .str(b"c")
                .bytes(&[KIND_INTEGER, BITMAP, 3]),
            "invalid validity bitmap at byte 22: bits past the 1 rows are set",
        ),
        (
            Enc::header(1)
                .table(b"t", 1)
                .str(b"c")
                .bytes(&[KIND_BOOLEAN, ALL_VALID, 2]),
            "invalid boolean values at byte 22: bits past the 1 rows are set",
        ),
        (
            Enc::header(1)
                .table(b"t", 1)
                .str(b"c")
                .bytes(&[KIND_TAG, ALL_VALID, 3, 0]),
            "invalid tag key width at byte 22: 3 is not 1, 2 or 4",
        ),
        (
            Enc::header(1)
                .table(b"t", 1)
                .str(b"c")
                .bytes(&[KIND_TAG, ALL_VALID, 1, 1, 1, 0, 0, 0, b'a', 1]),
            "invalid tag key at byte 29: row 0 has key 1 outside a dictionary of 1",
        ),
        (
            Enc::header(1).table(b"t", 1).str(b"c").bytes(&[
                KIND_TAG, ALL_VALID, 1, 2, 1, 0, 0, 0, 2, 0, 0, 0, b'a', b'a', 0,
            ]),
            "duplicate tag dictionary value \"a\" at byte 33",
        ),
        (
            Enc::header(1).table(b"t", 1).str(b"c").bytes(&[
                KIND_TAG, ALL_VALID, 1, 2, 2, 0, 0, 0, 1, 0, 0, 0, b'a', b'a', 0,
            ]),
            "invalid tag dictionary at byte 28: offset 1 of value 1 is below the previous one",
        ),
        (
            Enc::header(1).table(b"t", 1).str(b"c").bytes(&[
                KIND_STRING,
                ALL_VALID,
                0xff,
                0xff,
                0xff,
                0xff,
            ]),
            "invalid string values at byte 22: offset -1 of value 0 is below the previous one",
        ),
        (
            // "é" split across two values.
            Enc::header(1)
                .table(b"t", 1)
                .str(b"c")
                .bytes(&[KIND_TAG, ALL_VALID, 1, 2, 1, 0, 0, 0, 2, 0, 0, 0])
                .bytes("é".as_bytes())
                .bytes(&[0]),
            "invalid UTF-8 in tag dictionary at byte 33",
        ),
        (
            Enc::header(1).table(b"t", 1).str(b"c").bytes(&[
                KIND_STRING,
                ALL_VALID,
                1,
                0,
                0,
                0,
                0xc3,
            ]),
            "invalid UTF-8 in string values at byte 26",
        ),
        (
            Enc::header(1)
                .table(b"t", 1)
                .str(b"c")
                .bytes(&[KIND_TAG, ALL_VALID, 1])
                .varint((1 << 31) + 1),
            "invalid tag dictionary size at byte 23: 2147483649 values exceed the i32 keys",
        ),
        (
            Enc::header(1).bytes(&[0xff; 10]),
            "invalid table name at byte 2: varint exceeds 64 bits",
        ),
        (
            Enc::header(1).table(b"t", 0).varint(0),
            "1 trailing bytes after the last table, at byte 18",
        ),
    ];
    let wrong: Vec<_> = cases
        .iter()
        .map(|(enc, expected)| (enc.err().to_string(), expected))
        .filter(|(got, expected)| got != *expected)
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn huge_counts_fail_without_allocating() {
    let e = Enc::header(u64::MAX).err();
    assert!(matches!(e, CodecError::Truncated { .. }), "{e}");
    let e = Enc::header(1).str(b"t").varint(u64::MAX >> 1).err();
    assert!(
        matches!(
            e,
            CodecError::Truncated {
                what: "timestamps",
                ..
            }
        ),
        "{e}"
    );
    let e = Enc::header(1).table(b"t", u64::MAX).err();
    assert!(
        matches!(
            e,
            CodecError::Truncated {
                what: "column name",
                ..
            }
        ),
        "{e}"
    );
    let e = Enc::header(1)
        .table(b"t", 1)
        .str(b"c")
        .bytes(&[KIND_TAG, ALL_VALID, 4])
        .varint(1 << 31)
        .err();
    assert!(
        matches!(
            e,
            CodecError::Truncated {
                what: "tag dictionary",
                ..
            }
        ),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Property tests: batches built through the public builder API.

const TABLES: &[&str] = &["cpu", "mem", "", "日本"];
/// Column `i` mostly gets values of kind `i` (see [`value_for`]).
const COLUMNS: &[&str] = &["host", "f", "i", "u", "é", ""];

#[derive(Debug, Clone)]
enum Val {
    Tag(String, bool),
    F(f64),
    I(i64),
    U(u64),
    B(bool),
    S(String),
}

impl Val {
    fn kind(&self) -> ColumnKind {
        match self {
            Val::Tag(..) => TAG,
            Val::F(_) => F,
            Val::I(_) => I,
            Val::U(_) => U,
            Val::B(_) => B,
            Val::S(_) => S,
        }
    }
}

#[derive(Debug, Clone)]
struct RowSpec {
    table: usize,
    line: u32,
    time: i64,
    values: Vec<(usize, Val)>,
    rollback: bool,
}

fn text() -> impl Strategy<Value = String> {
    "[a-cé€🦀\u{0} ]{0,5}"
}

fn val_of_kind(kind: usize) -> BoxedStrategy<Val> {
    match kind {
        0 => (text(), any::<bool>())
            .prop_map(|(s, by_key)| Val::Tag(s, by_key))
            .boxed(),
        1 => any::<f64>().prop_map(Val::F).boxed(),
        2 => any::<i64>().prop_map(Val::I).boxed(),
        3 => any::<u64>().prop_map(Val::U).boxed(),
        4 => any::<bool>().prop_map(Val::B).boxed(),
        _ => text().prop_map(Val::S).boxed(),
    }
}

/// A column and a value: usually of the column's own kind, sometimes of another
/// (a conflict, which rolls the row back).
fn value_for() -> impl Strategy<Value = (usize, Val)> {
    (0..COLUMNS.len()).prop_flat_map(|col| {
        let val = prop_oneof![
            19 => val_of_kind(col),
            1 => (0..COLUMNS.len()).prop_flat_map(val_of_kind),
        ];
        (Just(col), val)
    })
}

fn row_spec() -> impl Strategy<Value = RowSpec> {
    (
        0..TABLES.len(),
        any::<u32>(),
        any::<i64>(),
        proptest::collection::vec(value_for(), 0..6),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(table, line, time, values, rollback)| RowSpec {
            table,
            line,
            time,
            values,
            rollback,
        })
}

/// Applies rows as a parser would: a kind conflict rolls the row back.
fn build(rows: &[RowSpec]) -> WriteBatch {
    let mut b = WriteBatch::default();
    for r in rows {
        let t = b.table_mut(TABLES[r.table]);
        t.begin_row(r.line, r.time);
        let mut ok = !r.rollback;
        for (pos, (col, v)) in r.values.iter().enumerate() {
            let Ok(c) = t.resolve_column(pos, COLUMNS[*col], v.kind()) else {
                ok = false;
                break;
            };
            match v {
                Val::Tag(s, false) => t.push_tag(c, s),
                Val::Tag(s, true) => {
                    let key = t.intern_tag(c, s).unwrap();
                    t.push_tag_key(c, key);
                }
                Val::F(x) => t.push_field(c, FieldValue::F64(*x)),
                Val::I(x) => t.push_field(c, FieldValue::I64(*x)),
                Val::U(x) => t.push_field(c, FieldValue::U64(*x)),
                Val::B(x) => t.push_field(c, FieldValue::Bool(*x)),
                Val::S(s) => t.push_field(c, FieldValue::Str(s)),
            }
        }
        if !ok {
            t.rollback_row();
        }
    }
    b.finish();
    assert_eq!(b.check_invariants(), Ok(()));
    b
}

fn batch() -> impl Strategy<Value = WriteBatch> {
    proptest::collection::vec(row_spec(), 0..40).prop_map(|rows| build(&rows))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_round_trip(b in batch()) {
        round_trip(&b);
    }

    #[test]
    fn prop_flips_never_break_invariants(
        b in batch(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..4),
    ) {
        let mut bytes = Vec::new();
        b.encode(&mut bytes);
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Ok(d) = WriteBatch::decode(&bytes) {
            prop_assert_eq!(d.check_invariants(), Ok(()));
            let mut again = Vec::new();
            d.encode(&mut again);
            prop_assert_eq!(again.len(), d.encoded_len());
            prop_assert_eq!(WriteBatch::decode(&again), Ok(d));
        }
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = vec![BATCH_FORMAT_VERSION];
        bytes.extend_from_slice(&body);
        if let Ok(d) = WriteBatch::decode(&bytes) {
            prop_assert_eq!(d.check_invariants(), Ok(()));
        }
    }
}

proptest! {
    // Each case decodes every prefix of its encoding: fewer cases, same coverage of
    // element boundaries.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_truncations_fail(b in batch()) {
        let mut bytes = Vec::new();
        b.encode(&mut bytes);
        for n in 0..bytes.len() {
            prop_assert!(WriteBatch::decode(&bytes[..n]).is_err(), "prefix of {}", n);
        }
    }
}
