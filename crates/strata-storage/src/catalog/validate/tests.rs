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
