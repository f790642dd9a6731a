//! Unit tests: one or more per grammar rule, error message and limit.

use super::parse;
use crate::{LineError, ParseOptions, Parsed};
use std::collections::BTreeMap;
use strata_model::{ColumnData, Precision, WriteBatch};

pub(super) const NOW: i64 = 1_700_000_000_123_456_789;

/// One value of a row, owned, with floats as bits so that `-0.0 != 0.0`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum V {
    Tag(String),
    F(u64),
    I(i64),
    U(u64),
    B(bool),
    S(String),
}

pub(super) fn f(x: f64) -> V {
    V::F(x.to_bits())
}

/// A row as (table, time, non-null columns by name).
pub(super) type Row = (String, i64, BTreeMap<String, V>);

/// Every row of a finished batch, in table order then row order.
pub(super) fn rows(batch: &WriteBatch) -> Vec<Row> {
    let mut out = Vec::new();
    batch.check_invariants().unwrap();
    for t in batch.tables() {
        for r in 0..t.rows() {
            let mut cols = BTreeMap::new();
            for c in t.columns().iter().filter(|c| c.is_valid(r)) {
                let v = match c.data() {
                    ColumnData::Tag(v) => V::Tag(v.get(r).to_owned()),
                    ColumnData::F64(v) => f(v[r]),
                    ColumnData::I64(v) => V::I(v[r]),
                    ColumnData::U64(v) => V::U(v[r]),
                    ColumnData::Bool(v) => V::B(v.get(r)),
                    ColumnData::Str(v) => V::S(v.get(r).to_owned()),
                };
                cols.insert(c.name().to_owned(), v);
            }
            out.push((t.name().to_owned(), t.time()[r], cols));
        }
    }
    out
}

fn opts() -> ParseOptions {
    ParseOptions::new(Precision::Nanosecond, NOW)
}

fn p(body: &str) -> Parsed {
    parse(body.as_bytes(), &opts())
}

/// The single row of a one-line body that must parse.
fn one(body: &str) -> Row {
    let parsed = p(body);
    assert_eq!(parsed.errors, vec![], "{body:?}");
    let mut r = rows(&parsed.batch);
    assert_eq!(r.len(), 1, "{body:?}");
    r.remove(0)
}

/// The value of column `col` of a one-line body.
fn val(body: &str, col: &str) -> V {
    let (_, _, cols) = one(body);
    cols.get(col)
        .cloned()
        .unwrap_or_else(|| panic!("{col} missing in {cols:?}"))
}

/// The error message of a one-line body that must fail.
fn err(body: &str) -> String {
    let parsed = p(body);
    assert_eq!(parsed.batch.row_count(), 0, "{body:?} should be rejected");
    assert_eq!(parsed.errors.len(), 1, "{body:?}: {:?}", parsed.errors);
    assert_eq!(parsed.errors[0].line, 1);
    parsed.errors[0].message.clone()
}

fn assert_err(body: &str, expected: &str) {
    let msg = err(body);
    assert!(
        msg.contains(expected),
        "{body:?}: {msg:?} lacks {expected:?}"
    );
}

fn cols(pairs: &[(&str, V)]) -> BTreeMap<String, V> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn full_line() {
    let row =
        one("cpu,host=a,region=eu usage=0.5,count=3i,n=7u,ok=t,msg=\"hi\" 1700000000000000000");
    assert_eq!(
        row,
        (
            "cpu".to_owned(),
            1_700_000_000_000_000_000,
            cols(&[
                ("host", V::Tag("a".into())),
                ("region", V::Tag("eu".into())),
                ("usage", f(0.5)),
                ("count", V::I(3)),
                ("n", V::U(7)),
                ("ok", V::B(true)),
                ("msg", V::S("hi".into())),
            ])
        )
    );
}

#[test]
fn several_tables_and_source_lines() {
    let parsed = p("a x=1\nb y=2\na x=3,z=4\n");
    assert!(parsed.errors.is_empty());
    let tables = parsed.batch.tables();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0].name(), "a");
    assert_eq!(tables[0].lines(), &[1, 3]);
    assert_eq!(tables[1].lines(), &[2]);
    // `z` appears only in row 2 of `a`: null in row 1.
    let z = &tables[0].columns()[1];
    assert_eq!((z.name(), z.null_count()), ("z", 1));
}

#[test]
fn measurement_escapes() {
    assert_eq!(one("my\\ cpu\\,x f=1").0, "my cpu,x");
    assert_eq!(one("a\\\\b f=1").0, "a\\b");
    // Backslash before anything else is literal; `=` needs no escape here.
    assert_eq!(one("a\\xb=c f=1").0, "a\\xb=c");
    assert_eq!(one("a\\=b f=1").0, "a\\=b");
    assert_eq!(one("ünïcode f=1").0, "ünïcode");
}

#[test]
fn tag_and_field_key_escapes() {
    let (_, _, c) = one("m,k\\ e\\,y\\==v\\ a\\,l\\=ue f\\ i\\,e\\=ld=1i");
    assert_eq!(
        c,
        cols(&[("k e,y=", V::Tag("v a,l=ue".into())), ("f i,e=ld", V::I(1))])
    );
    // Unescaped `=` in a tag value is kept; other backslashes are literal.
    assert_eq!(val("m,t=a=b f=1", "t"), V::Tag("a=b".into()));
    assert_eq!(val("m,t=a\\b f=1", "t"), V::Tag("a\\b".into()));
    assert_eq!(val("m,t=a\\\\b f=1", "t"), V::Tag("a\\b".into()));
}

#[test]
fn trailing_backslash_is_rejected() {
    assert_err("m\\\\ f=1", "measurement \"m\\\\\" ends with a backslash");
    assert_err("m,t=v\\\\ f=1", "tag value \"v\\\\\" ends with a backslash");
    assert_err("m f\\\\=1", "field key \"f\\\\\" ends with a backslash");
    assert_err("m,k\\\\=v f=1", "tag key");
}

#[test]
fn strings() {
    assert_eq!(
        val(r#"m s="a \"q\" \\ \n""#, "s"),
        V::S(r#"a "q" \ \n"#.into())
    );
    assert_eq!(val(r#"m s="""#, "s"), V::S(String::new()));
    assert_eq!(val(r#"m s="a,b=c d" 5"#, "s"), V::S("a,b=c d".into()));
    assert_eq!(val(r#"m s="ends\\""#, "s"), V::S("ends\\".into()));
    assert_err(
        r#"m s="open"#,
        "string value of field \"s\" starting at column 5 has no closing '\"'",
    );
    assert_err(
        r#"m s="a"x"#,
        "expected ',' or ' ' after the value of field \"s\" at column 8",
    );
}

#[test]
fn strings_may_hold_newlines() {
    let parsed = p("m s=\"one\ntwo\r\nthree\",n=1i 5\nm s=\"x\"\n\nbad");
    assert_eq!(parsed.errors.len(), 1);
    // The first line spans physical lines 1-3, so the error is on line 6.
    assert_eq!(parsed.errors[0].line, 6);
    let r = rows(&parsed.batch);
    assert_eq!(r[0].2["s"], V::S("one\ntwo\r\nthree".into()));
    assert_eq!(r[0].1, 5);
    assert_eq!(r[1].2["s"], V::S("x".into()));
}

#[test]
fn integers_and_unsigned() {
    assert_eq!(val("m v=-9223372036854775808i", "v"), V::I(i64::MIN));
    assert_eq!(val("m v=9223372036854775807i", "v"), V::I(i64::MAX));
    assert_eq!(val("m v=+7i", "v"), V::I(7));
    assert_eq!(val("m v=-0i", "v"), V::I(0));
    assert_eq!(val("m v=007i", "v"), V::I(7));
    assert_eq!(val("m v=18446744073709551615u", "v"), V::U(u64::MAX));
    assert_err(
        "m v=9223372036854775808i",
        "integer value 9223372036854775808 of field \"v\" at column 5 is out of range",
    );
    assert_err(
        "m v=-9223372036854775809i",
        "out of range for a 64-bit signed integer",
    );
    assert_err(
        "m v=18446744073709551616u",
        "out of range for a 64-bit unsigned integer",
    );
    assert_err("m v=-1u", "unsigned integer value -1 of field \"v\"");
    assert_err(
        "m v=i",
        "invalid value for field \"v\" at column 5: found \"i\"",
    );
    assert_err("m v=1.5i", "found \"1.5i\"");
}

#[test]
fn floats() {
    for (text, x) in [
        ("1", 1.0),
        ("-0", -0.0),
        ("+1.5", 1.5),
        (".5", 0.5),
        ("-.5", -0.5),
        ("1.", 1.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("-1.5e+3", -1500.0),
        ("9007199254740993", 9_007_199_254_740_992.0),
        ("123456789012345678901234567890", 1.2345678901234568e29),
        ("1e-400", 0.0),
    ] {
        assert_eq!(val(&format!("m v={text}"), "v"), f(x), "{text}");
    }
    for bad in [
        "NaN", "nan", "inf", "-Inf", "1.2.3", ".", "-", "+", "1e", "1e+", "0x10", "1_0",
    ] {
        let msg = err(&format!("m v={bad}"));
        assert!(
            msg.starts_with("invalid value for field \"v\""),
            "{bad}: {msg}"
        );
    }
    assert_err(
        "m v=1e999",
        "float value 1e999 of field \"v\" at column 5 is out of range",
    );
    assert_err(
        "m v=",
        "invalid value for field \"v\" at column 5: found end of line",
    );
}

#[test]
fn booleans() {
    for t in ["t", "T", "true", "True", "TRUE"] {
        assert_eq!(val(&format!("m b={t}"), "b"), V::B(true));
    }
    for x in ["f", "F", "false", "False", "FALSE"] {
        assert_eq!(val(&format!("m b={x} 1"), "b"), V::B(false));
    }
    for bad in ["tru", "tRUE", "yes", "falsey"] {
        assert_err(&format!("m b={bad}"), "invalid value for field \"b\"");
    }
}

#[test]
fn timestamps_and_precision() {
    let at = |body: &str, precision| {
        let parsed = parse(body.as_bytes(), &ParseOptions::new(precision, NOW));
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        parsed.batch.tables()[0].time()[0]
    };
    assert_eq!(at("m f=1 -5", Precision::Nanosecond), -5);
    assert_eq!(at("m f=1 3", Precision::Second), 3_000_000_000);
    assert_eq!(at("m f=1 3", Precision::Hour), 3 * 3_600_000_000_000);
    assert_eq!(
        at("m f=1 1700000000", Precision::Auto),
        1_700_000_000_000_000_000
    );
    assert_eq!(
        at("m f=1 1700000000000", Precision::Auto),
        1_700_000_000_000_000_000
    );
    // Missing: now, truncated to the precision.
    assert_eq!(at("m f=1", Precision::Nanosecond), NOW);
    assert_eq!(at("m f=1", Precision::Second), 1_700_000_000_000_000_000);
    assert_eq!(
        at("m f=1", Precision::Millisecond),
        1_700_000_000_123_000_000
    );
    // Extra spaces around the timestamp.
    assert_eq!(at("m  f=1   7  ", Precision::Nanosecond), 7);

    let parsed = parse(
        b"m f=1 9223372036854775807",
        &ParseOptions::new(Precision::Second, NOW),
    );
    assert_eq!(
        parsed.errors[0].message,
        "timestamp 9223372036854775807 in second precision is outside the range of \
         nanosecond timestamps (years 1677 to 2262)"
    );
    assert_err(
        "m f=1 9223372036854775808",
        "does not fit in a 64-bit signed integer",
    );
    assert_err(
        "m f=1 12x",
        "expected an integer timestamp at column 7, found \"12x\"",
    );
    assert_err("m f=1 1.5", "found \"1.5\"");
    assert_err(
        "m f=1 1 2",
        "expected end of line after the timestamp at column 9, found \"2\"",
    );
}

#[test]
fn comments_blank_lines_and_crlf() {
    let body = "# header\r\n\r\n   \n\t# indented comment \"x=\"\ncpu f=1i 1\r\n  cpu f=2i 2\r\n\n";
    let parsed = p(body);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let r = rows(&parsed.batch);
    assert_eq!(r.iter().map(|r| r.1).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(parsed.batch.tables()[0].lines(), &[5, 6]);
    assert_eq!(p("").batch.row_count(), 0);
    assert!(p("# only\n#comments").errors.is_empty());
}

#[test]
fn missing_fields() {
    assert_err(
        "cpu",
        "line has no fields: expected a space and then field=value pairs at column 4",
    );
    assert_err("cpu,host=a", "line has no fields");
    assert_err("cpu,host=a ", "line has no fields");
    assert_err("cpu ", "line has no fields");
    assert_err(
        ",a=b f=1",
        "expected a measurement name at column 1, found \",\"",
    );
    assert_err("m,=b f=1", "expected a tag key at column 3");
    assert_err("m,a=b, f=1", "expected a tag key at column 7");
    assert_err("m,a= f=1", "expected a value for tag \"a\" at column 5");
    assert_err(
        "m,host f=1",
        "expected '=' after tag key \"host\" at column 7, found \" \"",
    );
    assert_err("m =1", "expected a field key at column 3");
    assert_err("m f=1,=2", "expected a field key at column 7, found \"=\"");
    assert_err(
        "cpu,host=a usage 5",
        "expected '=' after field key \"usage\" at column 17",
    );
    // Unescaped commas in keys are errors (InfluxDB 1.x/2.x), escaped ones are not.
    assert_err(
        "m a,b=1",
        "expected '=' after field key \"a\" at column 4, found \",\"",
    );
    assert_err(
        "m,a,b=1 f=1",
        "expected '=' after tag key \"a\" at column 4",
    );
}

#[test]
fn duplicate_keys() {
    assert_eq!(val("m f=1i,f=2i", "f"), V::I(2));
    assert_eq!(val("m,t=a,t=b f=1", "t"), V::Tag("b".into()));
    assert_err(
        "m f=1i,f=2.5",
        "field \"f\" appears more than once in this line with different types (integer and float)",
    );
}

#[test]
fn tag_and_field_with_one_key() {
    assert_err(
        "m,a=x a=1",
        "\"a\" is both a tag key and a field key in this line",
    );
    // Also when the column already exists as a field.
    let parsed = p("m a=1\nm,a=x a=1");
    assert_eq!(parsed.errors[0].line, 2);
    assert!(
        parsed.errors[0]
            .message
            .contains("both a tag key and a field key")
    );
}

#[test]
fn time_is_reserved() {
    assert_err(
        "m time=1",
        "column name 'time' is reserved for the timestamp; rename the field key at column 3",
    );
    assert_err("m,time=a f=1", "column name 'time' is reserved");
    assert_eq!(val("m,tim\\e=a f=1", "tim\\e"), V::Tag("a".into()));
}

#[test]
fn type_conflicts_reject_the_line_only() {
    let parsed = p("m a=1i\nm a=1.5,b=2i\nm a=2i");
    assert_eq!(
        parsed.errors,
        vec![LineError {
            line: 2,
            message: "column \"a\" is an integer field, but this row offers a float field".into()
        }]
    );
    assert_eq!(rows(&parsed.batch).len(), 2);
}

#[test]
fn rejected_lines_leave_no_trace() {
    // Line 2 creates column `new` (integer) before failing on `c`; line 3 must be
    // free to make `new` a float, and the table of line 4 must not survive.
    let parsed = p("m c=1i\nm new=1i,c=1.5\nm new=2.5\nother,t=1 x=1,t=2");
    assert_eq!(
        parsed.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![2, 4]
    );
    let r = rows(&parsed.batch);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].2, cols(&[("new", f(2.5))]));
    assert_eq!(parsed.batch.tables().len(), 1);
    let names: Vec<_> = parsed.batch.tables()[0]
        .columns()
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(names, vec!["c", "new"]);
    // Syntax errors never reach the batch.
    let parsed = p("m a=1i,b=\nm b=1.5");
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(rows(&parsed.batch)[0].2, cols(&[("b", f(1.5))]));
}

#[test]
fn invalid_utf8_rejects_only_its_line() {
    let mut body = b"m f=1\nm,t=a".to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(b" f=2\nm s=\"\xc3\" 3\nm f=4\n");
    let parsed = parse(&body, &opts());
    let errors: Vec<_> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                2,
                "invalid UTF-8 at column 6; line protocol must be UTF-8 text"
            ),
            (
                3,
                "invalid UTF-8 at column 6; line protocol must be UTF-8 text"
            ),
        ]
    );
    assert_eq!(rows(&parsed.batch).len(), 2);
}

#[test]
fn limits_name_the_option() {
    let mut o = opts();
    o.max_line_len = 10;
    o.max_tag_value_len = 3;
    let parsed = parse(b"m,t=abc f=1\nm,t=abcd f=1\nm f=1\nm s=\"12\n345\"", &o);
    let errors: Vec<_> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                1,
                "line is 11 bytes long; the limit is 10 bytes (max_line_len)"
            ),
            (
                2,
                "line is 12 bytes long; the limit is 10 bytes (max_line_len)"
            ),
            (
                4,
                "line is 12 bytes long; the limit is 10 bytes (max_line_len)"
            ),
        ]
    );
    o.max_line_len = 100;
    let parsed = parse(b"m,t=abc f=1\nm,t=abcd f=1", &o);
    assert_eq!(parsed.errors[0].line, 2);
    assert_eq!(
        parsed.errors[0].message,
        "value of tag \"t\" is 4 bytes long; the limit is 3 bytes (max_tag_value_len)"
    );
    // The limit applies to the unescaped value.
    assert!(parse(b"m,t=a\\ b f=1", &o).errors.is_empty());
}

#[test]
fn escaped_newline_continues_the_line() {
    let parsed = p("m,t=a\\\nb f=1\nm f=2\nbad\n");
    assert_eq!(rows(&parsed.batch)[0].2["t"], V::Tag("a\\\nb".into()));
    assert_eq!(parsed.batch.tables()[0].lines(), &[1, 3]);
    assert_eq!(parsed.errors[0].line, 4);
}

#[test]
fn resumes_after_a_malformed_line_where_influxdb_does() {
    // The open quote of the bad line 1 swallows line 2 (as InfluxDB's splitter
    // does); line 3 parses.
    let parsed = p("m f=1x,g=\"a\nm h=\"c\nm k=1\n");
    assert_eq!(
        parsed.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(rows(&parsed.batch)[0].2, cols(&[("k", f(1.0))]));
    assert_eq!(parsed.batch.tables()[0].lines(), &[3]);
}

#[test]
fn errors_in_a_body_keep_their_line_numbers() {
    let parsed = p("m f=1\nm f=\n\n# c\nm g=1\nm f=x\n");
    let lines: Vec<_> = parsed.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 6]);
    assert_eq!(parsed.batch.tables()[0].lines(), &[1, 5]);
}

#[test]
fn trailing_comma_after_fields_is_accepted() {
    // As InfluxDB 3 (the `influxdb-line-protocol` crate) does.
    assert_eq!(one("m f=1i, 5"), ("m".into(), 5, cols(&[("f", V::I(1))])));
    assert_eq!(val("m f=1i,", "f"), V::I(1));
    assert_err(
        "m f=1i,,g=1",
        "expected a field key at column 8, found \",\"",
    );
}

#[test]
fn layout_prediction_matches_a_fresh_scan() {
    // Each line differs from the previous one in one way that the prediction from
    // the previous line must notice: a longer key, another measurement, a missing
    // tag, another value type, an escape.
    let body = "cpu,host=a usage=1i,idle=2i 1\n\
                cpu,host=b usage=3i,idle=4i 2\n\
                cpu,host=c usage_user=5i,idle=6i 3\n\
                cpu2,host=d usage=7i 4\n\
                cpu usage=8i 5\n\
                cpu,host=e usage=9.5 6\n\
                cpu,host=f usage=10i,idle=11i 7\n\
                cpu,ho\\ st=g usage=12i 8\n\
                cpu,host=h idle=13i,usage=14i 9\n\
                cpu,host=i usage=15i,idle=16i,idle=17i 10\n";
    let parsed = p(body);
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 6);
    assert!(
        parsed.errors[0]
            .message
            .contains("is an integer field, but this row offers a float")
    );
    let r = rows(&parsed.batch);
    let get = |time: i64| r.iter().find(|r| r.1 == time).map(|r| r.2.clone());
    assert_eq!(
        get(3),
        Some(cols(&[
            ("host", V::Tag("c".into())),
            ("usage_user", V::I(5)),
            ("idle", V::I(6))
        ]))
    );
    assert_eq!(get(4).map(|c| c.len()), Some(2));
    assert_eq!(get(5), Some(cols(&[("usage", V::I(8))])));
    assert_eq!(
        get(8),
        Some(cols(&[("ho st", V::Tag("g".into())), ("usage", V::I(12))]))
    );
    assert_eq!(
        get(9),
        Some(cols(&[
            ("host", V::Tag("h".into())),
            ("idle", V::I(13)),
            ("usage", V::I(14))
        ]))
    );
    assert_eq!(
        get(10),
        Some(cols(&[
            ("host", V::Tag("i".into())),
            ("usage", V::I(15)),
            ("idle", V::I(17))
        ]))
    );
    // A predicted key still meets the tag/field and duplicate-type rules.
    let parsed = p("m,a=x b=1i\nm,a=y a=1i\nm b=1i,b=2i\nm b=1i,b=2.5");
    let lines: Vec<_> = parsed.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 4]);
}
