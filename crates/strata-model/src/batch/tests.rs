use super::*;

const F: ColumnKind = ColumnKind::Field(FieldType::Float);
const I: ColumnKind = ColumnKind::Field(FieldType::Integer);
const S: ColumnKind = ColumnKind::Field(FieldType::String);

#[test]
fn sparse_columns_are_padded_with_nulls() {
    let mut b = WriteBatch::default();
    let t = b.table_mut("m");
    t.begin_row(1, 10);
    let a = t.resolve_column(0, "a", F).unwrap();
    t.push_field(a, FieldValue::F64(1.0));
    t.begin_row(2, 20);
    let x = t.resolve_column(0, "x", I).unwrap();
    t.push_field(x, FieldValue::I64(7));
    t.begin_row(3, 30);
    let a = t.resolve_column(0, "a", F).unwrap();
    t.push_field(a, FieldValue::F64(3.0));
    b.finish();
    assert_eq!(b.check_invariants(), Ok(()));
    let t = &b.tables()[0];
    assert_eq!(t.rows(), 3);
    let a = &t.columns()[0];
    assert_eq!(a.validity().len(), 3);
    assert_eq!(a.null_count(), 1);
    assert!(!a.is_valid(1));
    let x = &t.columns()[1];
    assert_eq!(x.null_count(), 2);
    assert!(x.is_valid(1));
    let ColumnData::I64(v) = x.data() else {
        panic!()
    };
    assert_eq!(v, &[0, 7, 0]);
}

#[test]
fn duplicate_keys_last_wins() {
    let mut b = WriteBatch::default();
    let t = b.table_mut("m");
    t.begin_row(1, 1);
    let s = t.resolve_column(0, "s", S).unwrap();
    t.push_field(s, FieldValue::Str("first"));
    let s2 = t.resolve_column(1, "s", S).unwrap();
    t.push_field(s2, FieldValue::Str("second"));
    let h = t.resolve_column(2, "h", ColumnKind::Tag).unwrap();
    t.push_tag(h, "a");
    t.push_tag(h, "b");
    b.finish();
    let t = &b.tables()[0];
    let ColumnData::Str(v) = t.columns()[0].data() else {
        panic!()
    };
    assert_eq!(v.len(), 1);
    assert_eq!(v.get(0), "second");
    let ColumnData::Tag(v) = t.columns()[1].data() else {
        panic!()
    };
    assert_eq!(v.get(0), "b");
}

#[test]
fn conflicts_and_rollback() {
    let mut b = WriteBatch::default();
    let t = b.table_mut("m");
    t.begin_row(1, 1);
    let a = t.resolve_column(0, "a", F).unwrap();
    t.push_field(a, FieldValue::F64(1.0));
    t.begin_row(2, 2);
    let n = t.resolve_column(0, "new", I).unwrap();
    t.push_field(n, FieldValue::I64(1));
    let err = t.resolve_column(1, "a", I).unwrap_err();
    assert_eq!(err.existing, F);
    assert_eq!(err.offered, I);
    assert!(err.to_string().contains("float field"), "{err}");
    t.rollback_row();
    b.finish();
    let t = &b.tables()[0];
    assert_eq!(t.rows(), 1);
    // "new" only had a value in the rolled back row.
    assert_eq!(t.columns().len(), 1);
    assert_eq!(t.columns()[0].name(), "a");
}

#[test]
fn retain_rows_filters_every_column() {
    let mut b = WriteBatch::default();
    for i in 0..5 {
        let t = b.table_mut("m");
        t.begin_row(i + 1, i64::from(i));
        let h = t.resolve_column(0, "host", ColumnKind::Tag).unwrap();
        t.push_tag(h, if i % 2 == 0 { "a" } else { "b" });
        if i != 2 {
            let v = t.resolve_column(1, "v", I).unwrap();
            t.push_field(v, FieldValue::I64(i64::from(i)));
        }
    }
    b.table_mut("other").begin_row(9, 9);
    b.finish();
    assert_eq!(
        b.tables().len(),
        2,
        "a table without columns still has rows"
    );
    let t = &mut b.tables_mut()[0];
    t.retain_rows(&[true, false, true, false, true]);
    assert_eq!(t.time(), &[0, 2, 4]);
    assert_eq!(t.lines(), &[1, 3, 5]);
    let v = &t.columns()[1];
    assert_eq!(v.null_count(), 1);
    let ColumnData::I64(vals) = v.data() else {
        panic!()
    };
    assert_eq!(vals, &[0, 0, 4]);
}

#[test]
fn tag_keys_and_reserve() {
    let mut b = WriteBatch::default();
    let t = b.table_mut("m");
    t.reserve_rows(3);
    let h = t.resolve_column(0, "h", ColumnKind::Tag).unwrap();
    let v = t.resolve_column(1, "v", I).unwrap();
    assert_eq!(t.intern_tag(v, "x"), None);
    let a = t.intern_tag(h, "a").unwrap();
    let z = t.intern_tag(h, "z").unwrap();
    assert_eq!(t.intern_tag(h, "a"), Some(a));
    for (i, key) in [a, z, a].into_iter().enumerate() {
        t.begin_row(i as u32 + 1, i as i64);
        t.push_tag_key(h, key);
        t.push_field(v, FieldValue::I64(i as i64));
    }
    // A second key for the last row replaces the first.
    t.push_tag_key(h, z);
    b.finish();
    let t = &b.tables()[0];
    let ColumnData::Tag(tags) = t.columns()[0].data() else {
        panic!()
    };
    assert_eq!(
        (0..3).map(|i| tags.get(i)).collect::<Vec<_>>(),
        ["a", "z", "z"]
    );
}

/// Rows as (line, time, tag h, field x), pushed one at a time.
fn pushed(rows: &[(u32, i64, &str, f64)]) -> WriteBatch {
    let mut b = WriteBatch::default();
    let t = b.table_mut("m");
    for &(line, time, h, x) in rows {
        t.begin_row(line, time);
        let hc = t.resolve_column(0, "h", ColumnKind::Tag).unwrap();
        t.push_tag(hc, h);
        let xc = t.resolve_column(1, "x", F).unwrap();
        t.push_field(xc, FieldValue::F64(x));
    }
    b
}

/// Column-at-a-time appending, after a row pushed the usual way, gives the
/// batch that row-at-a-time pushes give.
#[test]
fn filled_columns_equal_pushed_rows() {
    let want = pushed(&[(1, 10, "a", 1.0), (2, 20, "b", 2.0), (3, 30, "a", 3.0)]);
    let mut got = pushed(&[(1, 10, "a", 1.0)]);
    let t = got.table_mut("m");
    let from = t
        .append_rows(2, 2, |time| {
            time.extend([20, 30]);
            true
        })
        .unwrap();
    assert_eq!(from, 1);
    assert!(t.fill_column(0, from, |d| {
        let ColumnData::Tag(tags) = d else {
            return false;
        };
        for v in ["b", "a"] {
            let k = tags.key_for(v);
            tags.push_key(k);
        }
        true
    }));
    assert!(t.fill_column(1, from, |d| {
        let ColumnData::F64(v) = d else { return false };
        v.extend([2.0, 3.0]);
        true
    }));
    assert_eq!(got.check_invariants(), Ok(()));
    let (w, g) = (&want.tables()[0], &got.tables()[0]);
    assert_eq!(g.time(), w.time());
    assert_eq!(g.lines(), w.lines());
    assert_eq!(g.columns(), w.columns());
}

/// A fill that gives up, pushes a wrong count or a foreign key, or overlaps
/// values already there changes nothing; the rows it was for hold nulls.
#[test]
fn failed_fills_leave_the_column_as_it_was() {
    let mut b = pushed(&[(1, 10, "a", 1.0)]);
    let t = b.table_mut("m");
    assert_eq!(
        t.append_rows(2, 2, |time| {
            time.push(20);
            true
        }),
        None,
        "one time for two rows"
    );
    assert_eq!(t.rows(), 1);
    let from = t
        .append_rows(2, 2, |time| {
            time.extend([20, 30]);
            true
        })
        .unwrap();
    assert!(!t.fill_column(1, from, |d| {
        let ColumnData::F64(v) = d else { return false };
        v.push(9.0);
        false
    }));
    assert!(!t.fill_column(1, from, |d| {
        let ColumnData::F64(v) = d else { return false };
        v.push(9.0);
        true
    }));
    assert!(!t.fill_column(0, from, |d| {
        let ColumnData::Tag(tags) = d else {
            return false;
        };
        tags.push_key(0);
        tags.push_key(7);
        true
    }));
    assert!(!t.fill_column(1, 0, |_| true), "row 0 already has x");
    assert!(!t.fill_column(9, from, |_| true), "no column 9");
    b.finish();
    assert_eq!(b.check_invariants(), Ok(()));
    let t = &b.tables()[0];
    assert_eq!(t.rows(), 3);
    for c in t.columns() {
        assert_eq!(c.null_count(), 2, "{}", c.name());
        assert!(c.is_valid(0));
    }
}
