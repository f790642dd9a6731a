use super::*;
use strata_model::{FieldType, FieldValue};

const I: ColumnKind = ColumnKind::Field(FieldType::Integer);
const F: ColumnKind = ColumnKind::Field(FieldType::Float);

/// One row per (table, column, kind, value) with a distinct line number.
fn batch(rows: &[(&str, &str, ColumnKind)]) -> WriteBatch {
    let mut b = WriteBatch::default();
    for (i, (table, col, kind)) in rows.iter().enumerate() {
        let t = b.table_mut(table);
        t.begin_row(i as u32 + 1, i as i64);
        let c = t.resolve_column(0, col, *kind).unwrap();
        match kind {
            ColumnKind::Tag => t.push_tag(c, "v"),
            ColumnKind::Field(FieldType::Float) => t.push_field(c, FieldValue::F64(1.0)),
            _ => t.push_field(c, FieldValue::I64(1)),
        }
        let f = t.resolve_column(1, "f", F).unwrap();
        t.push_field(f, FieldValue::F64(0.0));
    }
    b.finish();
    b
}

#[test]
fn creates_on_first_write_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::open(dir.path(), CatalogLimits::default()).unwrap();
    let mut b = batch(&[("cpu", "host", ColumnKind::Tag), ("cpu", "x", I)]);
    let v = cat.validate("db", &mut b, true).unwrap();
    assert!(v.errors.is_empty());
    let t = v.database("db").unwrap().table("cpu").unwrap();
    assert_eq!(t.column("host").unwrap().kind, ColumnKind::Tag);
    assert_eq!(t.column("x").unwrap().kind, I);
    let names: Vec<_> = t
        .arrow_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["f", "host", "time", "x"]);

    let reopened = Catalog::open(dir.path(), CatalogLimits::default()).unwrap();
    let snap = reopened.snapshot();
    let t2 = snap.database("db").unwrap().table("cpu").unwrap();
    assert_eq!(t2.columns(), t.columns());
    assert_eq!(snap.version(), v.snapshot.version());
}

#[test]
fn type_conflict_rejects_only_that_line() {
    let cat = Catalog::in_memory(CatalogLimits::default());
    let mut b = batch(&[("cpu", "x", I)]);
    cat.validate("db", &mut b, true).unwrap();
    let mut b = batch(&[
        ("cpu", "x", F),
        ("cpu", "y", I),
        ("cpu", "host", ColumnKind::Tag),
    ]);
    let v = cat.validate("db", &mut b, true).unwrap();
    assert_eq!(v.errors.len(), 1);
    assert_eq!(v.errors[0].line, 1);
    let msg = &v.errors[0].message;
    assert!(
        msg.contains("\"x\"") && msg.contains("integer field") && msg.contains("float field"),
        "{msg}"
    );
    assert_eq!(b.row_count(), 2);
    assert!(b.tables()[0].column_index("x").is_none());
}

#[test]
fn tag_field_clash_across_writes() {
    let cat = Catalog::in_memory(CatalogLimits::default());
    cat.validate("db", &mut batch(&[("m", "a", ColumnKind::Tag)]), true)
        .unwrap();
    let v = cat
        .validate("db", &mut batch(&[("m", "a", I)]), true)
        .unwrap();
    assert!(
        v.errors[0].message.contains("is a tag"),
        "{}",
        v.errors[0].message
    );
}

#[test]
fn accept_partial_false_changes_nothing() {
    let cat = Catalog::in_memory(CatalogLimits::default());
    cat.validate("db", &mut batch(&[("m", "x", I)]), true)
        .unwrap();
    let version = cat.snapshot().version();
    let mut b = batch(&[("m", "x", F), ("m", "new", I), ("other", "y", I)]);
    let v = cat.validate("db", &mut b, false).unwrap();
    assert_eq!(v.errors.len(), 1);
    assert_eq!(b.row_count(), 3, "batch untouched");
    assert_eq!(cat.snapshot().version(), version, "catalog untouched");
    assert!(
        cat.snapshot()
            .database("db")
            .unwrap()
            .table("other")
            .is_none()
    );
}

#[test]
fn limits_and_names() {
    let limits = CatalogLimits {
        max_databases: 1,
        max_tables_per_db: 1,
        max_columns_per_table: 3,
    };
    let cat = Catalog::in_memory(limits);
    let v = cat
        .validate("db", &mut batch(&[("a", "x", I), ("b", "x", I)]), true)
        .unwrap();
    assert_eq!(v.errors.len(), 1);
    assert!(
        v.errors[0].message.contains("limit of 1 tables"),
        "{}",
        v.errors[0].message
    );
    // time + f + x = 3 columns: a fourth is refused.
    let v = cat
        .validate("db", &mut batch(&[("a", "y", I)]), true)
        .unwrap();
    assert!(
        v.errors[0].message.contains("limit of 3 columns"),
        "{}",
        v.errors[0].message
    );
    let err = cat
        .validate("db2", &mut batch(&[("a", "x", I)]), true)
        .unwrap_err();
    assert!(err.to_string().contains("limit of 1 databases"), "{err}");
    let err = cat
        .validate("bad/db", &mut batch(&[("a", "x", I)]), true)
        .unwrap_err();
    assert!(err.to_string().contains("'/'"), "{err}");
    let v = cat
        .validate("db", &mut batch(&[("bad table", "x", I)]), true)
        .unwrap();
    assert!(
        v.errors[0].message.contains("table name"),
        "{}",
        v.errors[0].message
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn kind_strategy() -> impl Strategy<Value = ColumnKind> {
        prop_oneof![
            Just(ColumnKind::Tag),
            Just(ColumnKind::Field(FieldType::Float)),
            Just(ColumnKind::Field(FieldType::Integer)),
            Just(ColumnKind::Field(FieldType::Boolean)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Against a model where a column's kind is fixed by its first accepted
        /// write: every row is accepted exactly when its column agrees with the
        /// model, rejected rows are reported by line, and the catalog ends up equal
        /// to the model.
        #[test]
        fn first_write_fixes_the_kind(
            writes in proptest::collection::vec(
                proptest::collection::vec((0usize..3, 0usize..4, kind_strategy()), 1..6),
                1..8,
            )
        ) {
            let cat = Catalog::in_memory(CatalogLimits::default());
            let mut model: HashMap<(usize, usize), ColumnKind> = HashMap::new();
            for rows in &writes {
                let spec: Vec<(String, String, ColumnKind)> = rows
                    .iter()
                    .map(|(t, c, k)| (format!("t{t}"), format!("c{c}"), *k))
                    .collect();
                let borrowed: Vec<(&str, &str, ColumnKind)> =
                    spec.iter().map(|(t, c, k)| (t.as_str(), c.as_str(), *k)).collect();
                let mut b = WriteBatch::default();
                let mut parse_rejected = Vec::new();
                // Within one batch the first kind of a column wins, as in the parser.
                let mut in_batch: HashMap<(&str, &str), ColumnKind> = HashMap::new();
                for (i, (t, c, k)) in borrowed.iter().enumerate() {
                    if in_batch.get(&(*t, *c)).is_some_and(|e| e != k) {
                        parse_rejected.push(i);
                        continue;
                    }
                    in_batch.insert((*t, *c), *k);
                    let tb = b.table_mut(t);
                    tb.begin_row(i as u32 + 1, i as i64);
                    let col = tb.resolve_column(0, c, *k).unwrap();
                    match k {
                        ColumnKind::Tag => tb.push_tag(col, "v"),
                        ColumnKind::Field(FieldType::Float) => tb.push_field(col, FieldValue::F64(1.0)),
                        ColumnKind::Field(FieldType::Boolean) => tb.push_field(col, FieldValue::Bool(true)),
                        _ => tb.push_field(col, FieldValue::I64(1)),
                    }
                }
                b.finish();
                let v = cat.validate("db", &mut b, true).unwrap();
                let mut expected_rejects = Vec::new();
                for (i, (t, c, k)) in rows.iter().enumerate() {
                    if parse_rejected.contains(&i) {
                        continue;
                    }
                    match model.get(&(*t, *c)) {
                        Some(existing) if existing != k => expected_rejects.push(i as u32 + 1),
                        Some(_) => {}
                        None => {
                            model.insert((*t, *c), *k);
                        }
                    }
                }
                let got: Vec<u32> = v.errors.iter().map(|e| e.line).collect();
                prop_assert_eq!(got, expected_rejects);
            }
            let snap = cat.snapshot();
            let db = snap.database("db").unwrap();
            for ((t, c), k) in &model {
                let table = db.table(&format!("t{t}")).unwrap();
                prop_assert_eq!(table.column(&format!("c{c}")).unwrap().kind, *k);
            }
            let columns: usize = db.tables().map(|t| t.columns().len()).sum();
            prop_assert_eq!(columns, model.len());
        }
    }
}

#[test]
fn series_key_is_tags_in_creation_order_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::open(dir.path(), CatalogLimits::default()).unwrap();
    let mut b = batch(&[
        ("cpu", "zone", ColumnKind::Tag),
        ("cpu", "host", ColumnKind::Tag),
    ]);
    cat.validate("db", &mut b, true).unwrap();
    let mut b = batch(&[("cpu", "az", ColumnKind::Tag)]);
    let v = cat.validate("db", &mut b, true).unwrap();
    let key_names = |t: &crate::catalog::TableSchema| -> Vec<String> {
        t.series_key()
            .iter()
            .map(|&i| t.arrow_schema().field(i).name().clone())
            .collect()
    };
    let t = v.database("db").unwrap().table("cpu").unwrap();
    assert_eq!(key_names(t), ["zone", "host", "az"]);
    let reopened = Catalog::open(dir.path(), CatalogLimits::default()).unwrap();
    let snap = reopened.snapshot();
    let t = snap.database("db").unwrap().table("cpu").unwrap();
    assert_eq!(key_names(t), ["zone", "host", "az"]);
}
