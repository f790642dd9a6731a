//! Property tests: round trip through a small encoder, differential against the
//! `influxdb-line-protocol` crate, and invariants on arbitrary bytes.

use super::parse;
use super::tests::{NOW, Row, V, f, rows};
use crate::{ParseOptions, Parsed};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use strata_model::{FieldType, Precision};

// ---------------------------------------------------------------------------
// Generators and the encoder

/// Characters of generated names: plain ones and every character that needs an
/// escape or is otherwise special somewhere in a line.
const NAME_CHARS: &[char] = &[
    'a', 'b', 'z', 'A', '0', '9', '_', '-', '.', ',', ' ', '=', '\\', '"', '#', 'é', '€', '\t',
];

fn name(chars: &'static [char], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(chars), 1..max)
        .prop_map(|cs| cs.into_iter().collect::<String>())
        // Unescaped, these are rejected (a trailing backslash) or reserved.
        .prop_filter("valid name", |s| !s.ends_with('\\') && s != "time")
}

#[derive(Debug, Clone)]
enum Val {
    F(f64, u8),
    I(i64, bool),
    U(u64),
    B(bool, u8),
    S(String),
}

impl Val {
    fn expected(&self) -> V {
        match self {
            Val::F(x, _) => f(*x),
            Val::I(x, _) => V::I(*x),
            Val::U(x) => V::U(*x),
            Val::B(x, _) => V::B(*x),
            Val::S(s) => V::S(s.clone()),
        }
    }
}

fn value_of(t: FieldType) -> BoxedStrategy<Val> {
    match t {
        FieldType::Float => (
            any::<f64>().prop_filter("finite", |x| x.is_finite()),
            any::<u8>(),
        )
            .prop_map(|(x, style)| Val::F(x, style))
            .boxed(),
        FieldType::Integer => (any::<i64>(), any::<bool>())
            .prop_map(|(x, plus)| Val::I(x, plus))
            .boxed(),
        FieldType::UInteger => any::<u64>().prop_map(Val::U).boxed(),
        FieldType::Boolean => (any::<bool>(), 0u8..5)
            .prop_map(|(x, s)| Val::B(x, s))
            .boxed(),
        FieldType::String => "[a-z ,=\"\\\\\n\té€#]{0,12}".prop_map(Val::S).boxed(),
    }
}

fn field_type() -> impl Strategy<Value = FieldType> {
    prop_oneof![
        Just(FieldType::Float),
        Just(FieldType::Integer),
        Just(FieldType::UInteger),
        Just(FieldType::Boolean),
        Just(FieldType::String),
    ]
}

/// One table's columns: tag keys, then typed field keys (disjoint, unique).
#[derive(Debug, Clone)]
struct TableSpec {
    measurement: String,
    tags: Vec<String>,
    fields: Vec<(String, FieldType)>,
}

fn table_spec(chars: &'static [char]) -> impl Strategy<Value = TableSpec> {
    (
        name(chars, 8).prop_filter("not a comment or blank", |m| {
            !m.starts_with('#') && !m.starts_with('\t')
        }),
        proptest::collection::vec(name(chars, 6), 0..4),
        proptest::collection::vec((name(chars, 6), field_type()), 1..5),
    )
        .prop_map(|(measurement, mut tags, mut fields)| {
            tags.sort();
            tags.dedup();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            fields.dedup_by(|a, b| a.0 == b.0);
            fields.retain(|(k, _)| !tags.contains(k));
            TableSpec {
                measurement,
                tags,
                fields,
            }
        })
        .prop_filter("at least one field", |t| !t.fields.is_empty())
}

/// One line: a table, which of its tags and fields it has, their values, a time.
#[derive(Debug, Clone)]
struct LineSpec {
    table: usize,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Val)>,
    time: Option<i64>,
}

fn line_spec(tables: &[TableSpec], chars: &'static [char]) -> BoxedStrategy<LineSpec> {
    let tables = tables.to_vec();
    (0..tables.len())
        .prop_flat_map(move |t| {
            let spec = tables[t].clone();
            let tags = spec
                .tags
                .iter()
                .map(|k| (Just(k.clone()), proptest::option::of(name(chars, 6))))
                .collect::<Vec<_>>();
            // Every field is optional but the first, so every line has a field.
            let fields = spec
                .fields
                .iter()
                .enumerate()
                .map(|(i, (k, ty))| {
                    let v = value_of(*ty);
                    let v = if i == 0 {
                        v.prop_map(Some).boxed()
                    } else {
                        proptest::option::of(v).boxed()
                    };
                    (Just(k.clone()), v)
                })
                .collect::<Vec<_>>();
            (Just(t), tags, fields, proptest::option::of(any::<i64>()))
        })
        .prop_map(|(table, tags, fields, time)| LineSpec {
            table,
            tags: tags
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect(),
            fields: fields
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect(),
            time,
        })
        .boxed()
}

fn body_spec(chars: &'static [char]) -> impl Strategy<Value = (Vec<TableSpec>, Vec<LineSpec>)> {
    proptest::collection::vec(table_spec(chars), 1..4)
        .prop_map(|mut ts| {
            // One spec per measurement.
            let mut seen = Vec::new();
            ts.retain(|t| {
                let new = !seen.contains(&t.measurement);
                seen.push(t.measurement.clone());
                new
            });
            ts
        })
        .prop_flat_map(move |tables| {
            let lines = proptest::collection::vec(line_spec(&tables, chars), 1..8);
            (Just(tables), lines)
        })
}

fn escape(out: &mut String, s: &str, special: &[char]) {
    for c in s.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

const MEASUREMENT_SPECIAL: &[char] = &[',', ' ', '\\'];
const KEY_SPECIAL: &[char] = &[',', '=', ' ', '\\'];

fn encode_value(out: &mut String, v: &Val) {
    match v {
        Val::F(x, style) => match style % 4 {
            0 => write!(out, "{x}"),
            1 => write!(out, "{x:?}"),
            2 => write!(out, "{x:e}"),
            _ => write!(out, "{x:E}"),
        }
        .unwrap_or_default(),
        Val::I(x, plus) if *plus && *x >= 0 => write!(out, "+{x}i").unwrap_or_default(),
        Val::I(x, _) => write!(out, "{x}i").unwrap_or_default(),
        Val::U(x) => write!(out, "{x}u").unwrap_or_default(),
        Val::B(x, style) => {
            let t = ["t", "T", "true", "True", "TRUE"];
            let f = ["f", "F", "false", "False", "FALSE"];
            out.push_str(if *x { t } else { f }[usize::from(*style) % 5]);
        }
        Val::S(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
}

fn encode(tables: &[TableSpec], lines: &[LineSpec], crlf: bool) -> String {
    let mut out = String::new();
    for l in lines {
        escape(&mut out, &tables[l.table].measurement, MEASUREMENT_SPECIAL);
        for (k, v) in &l.tags {
            out.push(',');
            escape(&mut out, k, KEY_SPECIAL);
            out.push('=');
            escape(&mut out, v, KEY_SPECIAL);
        }
        for (i, (k, v)) in l.fields.iter().enumerate() {
            out.push(if i == 0 { ' ' } else { ',' });
            escape(&mut out, k, KEY_SPECIAL);
            out.push('=');
            encode_value(&mut out, v);
        }
        if let Some(t) = l.time {
            write!(out, " {t}").unwrap_or_default();
        }
        out.push_str(if crlf { "\r\n" } else { "\n" });
    }
    out
}

/// The rows `lines` must parse to, in the order [`rows`] lists them.
fn expected(tables: &[TableSpec], lines: &[LineSpec]) -> Vec<Row> {
    let mut order: Vec<usize> = Vec::new();
    for l in lines {
        if !order.contains(&l.table) {
            order.push(l.table);
        }
    }
    let mut out = Vec::new();
    for t in order {
        for l in lines.iter().filter(|l| l.table == t) {
            let mut cols = BTreeMap::new();
            for (k, v) in &l.tags {
                cols.insert(k.clone(), V::Tag(v.clone()));
            }
            for (k, v) in &l.fields {
                cols.insert(k.clone(), v.expected());
            }
            out.push((tables[t].measurement.clone(), l.time.unwrap_or(NOW), cols));
        }
    }
    out
}

fn opts() -> ParseOptions {
    ParseOptions::new(Precision::Nanosecond, NOW)
}

// ---------------------------------------------------------------------------
// The oracle

/// Where each logical line of `text` starts its content, as the oracle sees it:
/// after `split_lines` and the leading whitespace and comments it trims.
fn oracle_line_numbers(text: &str) -> Vec<u32> {
    let base = text.as_ptr() as usize;
    let mut out = Vec::new();
    for line in influxdb_line_protocol::split_lines(text) {
        let mut i = line.as_ptr() as usize - base;
        let end = i + line.len();
        let b = text.as_bytes();
        loop {
            while i < end && matches!(b[i], b' ' | b'\t' | b'\n') {
                i += 1;
            }
            if i < end && b[i] == b'#' {
                while i < end && b[i] != b'\n' {
                    i += 1;
                }
            } else {
                break;
            }
        }
        if i < end {
            out.push(1 + b[..i].iter().filter(|&&c| c == b'\n').count() as u32);
        }
    }
    out
}

/// The oracle's accepted lines as (line number, row); last value wins for
/// duplicate keys, as in our batch.
fn oracle_rows(text: &str) -> Vec<(u32, Row)> {
    use influxdb_line_protocol::FieldValue as O;
    let numbers = oracle_line_numbers(text);
    let parsed: Vec<_> = influxdb_line_protocol::parse_lines(text).collect();
    assert_eq!(numbers.len(), parsed.len(), "{text:?}");
    let mut out = Vec::new();
    for (n, line) in numbers.into_iter().zip(parsed) {
        let Ok(line) = line else { continue };
        let mut cols = BTreeMap::new();
        for (k, v) in line.series.tag_set.iter().flatten() {
            cols.insert(k.to_string(), V::Tag(v.to_string()));
        }
        for (k, v) in &line.field_set {
            let v = match v {
                O::F64(x) => f(*x),
                O::I64(x) => V::I(*x),
                O::U64(x) => V::U(*x),
                O::Boolean(x) => V::B(*x),
                O::String(s) => V::S(s.to_string()),
            };
            cols.insert(k.to_string(), v);
        }
        let time = line.timestamp.unwrap_or(NOW);
        out.push((n, (line.series.measurement.to_string(), time, cols)));
    }
    out
}

/// Our accepted rows by source line number.
fn our_rows(parsed: &Parsed) -> BTreeMap<u32, Row> {
    let mut by_line = BTreeMap::new();
    let all = rows(&parsed.batch);
    let lines = parsed
        .batch
        .tables()
        .iter()
        .flat_map(|t| t.lines().iter().copied());
    for (line, row) in lines.zip(all) {
        by_line.insert(line, row);
    }
    by_line
}

/// Intentional divergences: lines the oracle accepts and we reject, by the start of
/// our message. See the module documentation of `line_protocol`.
fn allowed_divergence(message: &str, oracle: &Row, mutated: bool) -> bool {
    let (_, _, cols) = oracle;
    // Only mutations make unescaped commas (the encoder escapes every comma). With
    // `\\,` in a key the two parsers also disagree on where escapes end.
    let key_has_comma = mutated && cols.keys().any(|k| k.contains(','));
    key_has_comma
        || message.starts_with("column name 'time' is reserved")
        || message.contains("is both a tag key and a field key")
        || message.contains("appears more than once in this line with different types")
        // Type conflicts with earlier lines of the batch (the oracle is per line).
        || message.contains("but this row offers a")
        // 1e999 is infinity to the oracle.
        || message.contains("NaN and infinity are not supported")
}

/// Compares with the oracle; returns how many lines the oracle accepted.
fn check_against_oracle(text: &str, mutated: bool) -> Result<usize, TestCaseError> {
    let ours = parse(text.as_bytes(), &opts());
    let by_line = our_rows(&ours);
    let accepted = oracle_rows(text);
    let count = accepted.len();
    for (line, row) in accepted {
        match by_line.get(&line) {
            Some(mine) => prop_assert_eq!(mine, &row, "line {} of {:?}", line, text),
            None => {
                let err = ours.errors.iter().find(|e| e.line == line);
                prop_assert!(
                    err.is_some_and(|e| allowed_divergence(&e.message, &row, mutated)),
                    "oracle accepts line {} of {:?} as {:?}; we: {:?}",
                    line,
                    text,
                    row,
                    err
                );
            }
        }
    }
    Ok(count)
}

/// Characters for the differential test: no `#`, whose comment handling differs by
/// design (see the module documentation), and no tab, which the oracle rejects in
/// names.
const DIFF_CHARS: &[char] = &[
    'a', 'b', 'z', '0', '9', '_', '-', '.', ',', ' ', '=', '\\', '"', 'é',
];

/// Drops the encodings only we accept (`+1i`), so that the oracle accepts every
/// generated line.
fn plain(mut lines: Vec<LineSpec>) -> Vec<LineSpec> {
    for l in &mut lines {
        for (_, v) in &mut l.fields {
            if let Val::I(_, plus) = v {
                *plus = false;
            }
        }
    }
    lines
}
const MUTATION_CHARS: &[char] = &[
    ',', ' ', '=', '\\', '"', '\n', '\r', 'i', 'u', '.', '-', '+', 'e', 'E', 't', 'f', '0', '5',
    'a', '\t',
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let c = proptest::sample::select(MUTATION_CHARS);
    prop_oneof![
        (any::<usize>(), c.clone()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), c).prop_map(|(i, c)| Mutation::Replace(i, c)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let n = chars.len();
        match *m {
            Mutation::Insert(i, c) => chars.insert(i % (n + 1), c),
            Mutation::Delete(i) if n > 0 => {
                chars.remove(i % n);
            }
            Mutation::Replace(i, c) if n > 0 => chars[i % n] = c,
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Checks the invariants every parse must keep, on any input.
pub(super) fn check_invariants(body: &[u8], parsed: &Parsed) {
    let physical_lines = 1 + body.iter().filter(|&&c| c == b'\n').count();
    parsed.batch.check_invariants().unwrap();
    let mut last = 0;
    for e in &parsed.errors {
        assert!(
            e.line > last,
            "errors in body order, one per line: {:?}",
            parsed.errors
        );
        assert!(
            e.line as usize <= physical_lines,
            "{e:?} beyond {physical_lines} lines"
        );
        assert!(!e.message.is_empty());
        last = e.line;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip((tables, lines) in body_spec(NAME_CHARS), crlf in any::<bool>()) {
        let body = encode(&tables, &lines, crlf);
        let parsed = parse(body.as_bytes(), &opts());
        prop_assert_eq!(&parsed.errors, &vec![], "{:?}", body);
        prop_assert_eq!(rows(&parsed.batch), expected(&tables, &lines), "{:?}", body);
        check_invariants(body.as_bytes(), &parsed);
    }

    #[test]
    fn valid_bodies_agree_with_the_oracle((tables, lines) in body_spec(DIFF_CHARS)) {
        let lines = plain(lines);
        let accepted = check_against_oracle(&encode(&tables, &lines, false), false)?;
        // Not vacuous: the oracle accepts every generated line.
        prop_assert_eq!(accepted, lines.len());
    }

    #[test]
    fn mutated_bodies_agree_with_the_oracle(
        (tables, lines) in body_spec(DIFF_CHARS),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let text = mutate(&encode(&tables, &plain(lines), false), &mutations);
        check_against_oracle(&text, true)?;
    }

    #[test]
    fn any_bytes_keep_the_invariants(
        body in proptest::collection::vec(
            prop_oneof![any::<u8>(), proptest::sample::select(b",= \\\"\n\r#it0.-".to_vec())],
            0..200,
        ),
        max_line_len in 1usize..300,
        max_tag_value_len in 1usize..20,
        precision in proptest::sample::select(vec![
            Precision::Nanosecond, Precision::Second, Precision::Hour, Precision::Auto,
        ]),
    ) {
        let mut o = ParseOptions::new(precision, NOW);
        o.max_line_len = max_line_len;
        o.max_tag_value_len = max_tag_value_len;
        let parsed = parse(&body, &o);
        check_invariants(&body, &parsed);
    }
}
