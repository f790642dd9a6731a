//! Unit tests of the text encoders: rendering rules against arrow's and
//! chrono's own, escaping, NULLs, reservations.

use super::*;
use datafusion::arrow::array::{
    DictionaryArray, Int8Array, Int32Array, Int64Array, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use datafusion::arrow::datatypes::{Field, Schema};
use std::sync::Arc;

fn encode(format: Format, cols: Vec<(&str, ArrayRef)>) -> String {
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(Arc::clone(&schema), cols.into_iter().map(|c| c.1).collect()).unwrap();
    Encoder::new(format, schema).batch(&batch).unwrap()
}

/// Each cell of a one-column answer (CSV or JSON).
fn cells(format: Format, name: &str, a: ArrayRef) -> Vec<String> {
    let out = encode(format, vec![(name, a)]);
    match format {
        Format::Csv => out.lines().map(str::to_owned).collect(),
        _ => {
            let v: Vec<serde_json::Value> = serde_json::from_str(&format!("[{}]", out)).unwrap();
            v.iter().map(|o| o[name].to_string()).collect()
        }
    }
}

#[test]
fn dictionary_without_values_is_all_null() {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let empty = datafusion::arrow::array::new_null_array(&dict, 3);
    assert!(empty.as_any_dictionary().values().is_empty());
    assert_eq!(
        cells(Format::Json, "tag", Arc::clone(&empty)),
        ["null", "null", "null"]
    );
    assert_eq!(cells(Format::Csv, "tag", empty), ["", "", ""]);
}

#[test]
fn one_huge_row_does_not_inflate_later_reservations() {
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
    let huge = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(StringArray::from(vec!["x".repeat(4 << 20)]))],
    )
    .unwrap();
    let many = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(StringArray::from(vec!["y"; 8_192]))],
    )
    .unwrap();
    let mut e = Encoder::new(Format::Json, schema);
    e.batch(&huge).unwrap();
    let out = e.batch(&many).unwrap();
    // Uncapped, the 4 MiB average row would reserve 32 GiB here.
    assert!(out.capacity() <= MAX_RESERVE_BYTES, "{}", out.capacity());
}

#[test]
fn integers_match_arrows_own_rendering() {
    let ints: Vec<ArrayRef> = vec![
        Arc::new(Int8Array::from(vec![i8::MIN, -1, 0, 7, i8::MAX])),
        Arc::new(Int64Array::from(vec![
            Some(i64::MIN),
            Some(-10),
            None,
            Some(0),
            Some(i64::MAX),
        ])),
        Arc::new(UInt64Array::from(vec![0, 9, 10, 99_999, u64::MAX])),
        Arc::new(Int64Array::from_iter_values(-2_000..2_000).slice(1_000, 5)),
    ];
    let opts = format_options();
    for a in ints {
        let f = ArrayFormatter::try_new(a.as_ref(), &opts).unwrap();
        let want: Vec<String> = (0..a.len())
            .map(|r| {
                if a.is_null(r) {
                    String::new()
                } else {
                    f.value(r).to_string()
                }
            })
            .collect();
        assert_eq!(cells(Format::Csv, "v", Arc::clone(&a)), want);
    }
}

#[test]
fn timestamps_match_chrono_across_dates() {
    // Nanosecond timestamps span 1677 to 2262: step across all of
    // it (leap years, month ends, negative instants) plus the edges.
    let step = i64::MAX / 1_500;
    let values: Vec<i64> = (-1_500..=1_500i64)
        .map(|i| (i * step).saturating_add(i * 7_919_000_017))
        .chain([0, -1, 1, 951_782_400_000_000_000, i64::MAX, i64::MIN])
        .collect();
    let a: ArrayRef = Arc::new(TimestampNanosecondArray::from(values.clone()));
    let csv = cells(Format::Csv, "t", Arc::clone(&a));
    let json = cells(Format::Json, "t", a);
    for ((v, c), j) in values.iter().zip(&csv).zip(&json) {
        let want = chrono::DateTime::from_timestamp_nanos(*v)
            .format(TS_FORMAT)
            .to_string();
        assert_eq!(c, &want, "{v}");
        assert_eq!(j, &format!("\"{want}\""), "{v}");
    }
    assert!(csv.iter().any(|c| c.starts_with("1677-")));
    assert!(csv.iter().any(|c| c.starts_with("2262-")));
    assert!(csv.contains(&"2000-02-29T00:00:00.000000000Z".to_owned()));

    // Runs of cells within a day and across midnights, before and after
    // the epoch: the remembered date must change exactly at midnight.
    let day = 86_400 * 1_000_000_000i64;
    let values: Vec<i64> = [-2 * day, -day, 0, day, 11_016 * day]
        .into_iter()
        .flat_map(|midnight| (-40..40).map(move |i| midnight + i * 77_000_000_001))
        .collect();
    let a: ArrayRef = Arc::new(TimestampNanosecondArray::from(values.clone()));
    for (v, c) in values.iter().zip(cells(Format::Csv, "t", a)) {
        let want = chrono::DateTime::from_timestamp_nanos(*v)
            .format(TS_FORMAT)
            .to_string();
        assert_eq!(c, want, "{v}");
    }
}

#[test]
fn rows_of_several_tag_columns_keep_their_keys_and_nulls() {
    // Tags with NULL keys and a NULL value, beside other columns, in the
    // first, middle and last places of the row.
    let values: ArrayRef = Arc::new(StringArray::from(vec![Some("a\"1"), None, Some("b")]));
    let keys = Int32Array::from(vec![Some(0), None, Some(1), Some(2), Some(0)]);
    let tag = || -> ArrayRef {
        Arc::new(DictionaryArray::<Int32Type>::new(
            keys.clone(),
            Arc::clone(&values),
        ))
    };
    let n: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(1),
        None,
        Some(3),
        Some(4),
        Some(5),
    ]));
    let cols = vec![("t1", tag()), ("n", n), ("t \"2\"", tag()), ("t3", tag())];
    let out = encode(Format::Json, cols);
    let got: serde_json::Value = serde_json::from_str(&format!("[{out}]")).unwrap();
    let tag = [Some("a\"1"), None, None, Some("b"), Some("a\"1")];
    let n = [Some(1), None, Some(3), Some(4), Some(5)];
    let want: Vec<serde_json::Value> = (0..5)
        .map(|i| serde_json::json!({"t1": tag[i], "n": n[i], "t \"2\"": tag[i], "t3": tag[i]}))
        .collect();
    assert_eq!(got, serde_json::Value::Array(want), "{out}");
    // Keys in the schema's order, which a JSON value comparison ignores.
    let first = r#"{"t1":"a\"1","n":1,"t \"2\"":"a\"1","t3":"a\"1"}"#;
    let second = r#"{"t1":null,"n":null,"t \"2\"":null,"t3":null}"#;
    assert!(out.starts_with(&format!("{first},{second},")), "{out}");
}

#[test]
fn small_and_large_dictionaries_render_alike() {
    let words = [
        Some("plain"),
        Some("quo\"te"),
        None,
        Some("back\\slash"),
        Some("new\nline"),
        Some("comma,"),
        Some("tab\t\u{1}"),
        Some("ünï"),
    ];
    let values: ArrayRef = Arc::new(StringArray::from(words.to_vec()));
    let keys: Vec<i32> = (0..40).map(|i| (i * 5) % 8).collect();
    // 40 rows over 8 values: escaped once per value.
    let small =
        DictionaryArray::<Int32Type>::new(Int32Array::from(keys.clone()), Arc::clone(&values));
    // 3 rows over the same 8 values: escaped per cell.
    let large = DictionaryArray::<Int32Type>::new(Int32Array::from(keys[..3].to_vec()), values);
    // The expected text, built without the encoder's renderers.
    let expect = |format: Format, keys: &[i32]| -> String {
        let cells: Vec<String> = keys
            .iter()
            .map(|&k| words[k as usize])
            .map(|w| match (format, w) {
                // CSV cells spelled out by hand (RFC 4180 quoting).
                (Format::Csv, w) => {
                    let cell = match w {
                        None => "",
                        Some("quo\"te") => "\"quo\"\"te\"",
                        Some("new\nline") => "\"new\nline\"",
                        Some("comma,") => "\"comma,\"",
                        Some(w) => w,
                    };
                    format!("{cell}\n")
                }
                (_, w) => format!(r#"{{"tag":{}}}"#, serde_json::to_string(&w).unwrap()),
            })
            .collect();
        match format {
            Format::Json => cells.join(","),
            Format::JsonLines => cells.iter().map(|c| format!("{c}\n")).collect(),
            _ => cells.concat(),
        }
    };
    for format in [Format::Json, Format::Csv, Format::JsonLines] {
        let body =
            |a: &DictionaryArray<Int32Type>| encode(format, vec![("tag", Arc::new(a.clone()))]);
        assert_eq!(body(&small), expect(format, &keys), "{format:?}");
        assert_eq!(body(&large), expect(format, &keys[..3]), "{format:?}");
    }
}
