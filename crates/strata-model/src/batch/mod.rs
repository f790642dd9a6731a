//! The protocol-neutral columnar [`WriteBatch`].
//!
//! Parsers append rows column by column: [`TableBatch::begin_row`], then one
//! [`TableBatch::resolve_column`] + push per value, and [`TableBatch::rollback_row`]
//! if the line turns out to be invalid. Nothing is allocated per row except when a
//! table, a column or a distinct tag value is seen for the first time.
//!
//! Invariants (after [`WriteBatch::finish`]):
//! - every column of a table has exactly `rows` values and validity bits;
//! - every column has at least one non-null value (columns created only by rolled
//!   back rows are dropped), and every table has at least one row;
//! - within one table a column name has one kind; a second kind is a
//!   [`ColumnConflict`] for that row.

mod codec;
mod column;

pub use codec::{BATCH_FORMAT_VERSION, CodecError};
pub use column::{ColumnData, StrColumn, TagColumn, Validity};

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;
use thiserror::Error;

/// Type of a field column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// 64-bit float.
    Float,
    /// 64-bit signed integer.
    Integer,
    /// 64-bit unsigned integer.
    UInteger,
    /// Boolean.
    Boolean,
    /// UTF-8 string.
    String,
}

impl FieldType {
    /// Lower-case name used in error messages and the catalog.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::UInteger => "unsigned integer",
            FieldType::Boolean => "boolean",
            FieldType::String => "string",
        }
    }
}

/// Role of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "type")]
pub enum ColumnKind {
    /// A tag: a string that identifies the series.
    Tag,
    /// A field: a measured value.
    Field(FieldType),
}

impl ColumnKind {
    /// "a tag", "an integer field", ...: for error messages.
    pub fn with_article(self) -> String {
        let name = self.to_string();
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {name}")
    }
}

impl std::fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnKind::Tag => f.write_str("tag"),
            ColumnKind::Field(t) => write!(f, "{} field", t.name()),
        }
    }
}

/// One field value, borrowed from the input where it is text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// Float.
    F64(f64),
    /// Signed integer.
    I64(i64),
    /// Unsigned integer.
    U64(u64),
    /// Boolean.
    Bool(bool),
    /// String.
    Str(&'a str),
}

impl FieldValue<'_> {
    /// The field type this value has.
    pub fn field_type(&self) -> FieldType {
        match self {
            FieldValue::F64(_) => FieldType::Float,
            FieldValue::I64(_) => FieldType::Integer,
            FieldValue::U64(_) => FieldType::UInteger,
            FieldValue::Bool(_) => FieldType::Boolean,
            FieldValue::Str(_) => FieldType::String,
        }
    }
}

/// A column name offered with a kind other than the one it already has.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("column {column:?} is {}, but this row offers {}", existing.with_article(), offered.with_article())]
pub struct ColumnConflict {
    /// The column name.
    pub column: String,
    /// The kind it has.
    pub existing: ColumnKind,
    /// The kind that was offered.
    pub offered: ColumnKind,
}

/// One column of a [`TableBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchColumn {
    name: String,
    kind: ColumnKind,
    data: ColumnData,
    validity: Validity,
    nulls: usize,
}

impl BatchColumn {
    fn new(name: &str, kind: ColumnKind) -> Self {
        let data = match kind {
            ColumnKind::Tag => ColumnData::Tag(TagColumn::default()),
            ColumnKind::Field(FieldType::Float) => ColumnData::F64(Vec::new()),
            ColumnKind::Field(FieldType::Integer) => ColumnData::I64(Vec::new()),
            ColumnKind::Field(FieldType::UInteger) => ColumnData::U64(Vec::new()),
            ColumnKind::Field(FieldType::Boolean) => ColumnData::Bool(Validity::default()),
            ColumnKind::Field(FieldType::String) => ColumnData::Str(StrColumn::default()),
        };
        Self {
            name: name.to_owned(),
            kind,
            data,
            validity: Validity::default(),
            nulls: 0,
        }
    }

    /// Column name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Column role and type.
    pub fn kind(&self) -> ColumnKind {
        self.kind
    }

    /// The values (null rows hold a placeholder).
    pub fn data(&self) -> &ColumnData {
        &self.data
    }

    /// Validity bitmap: bit set where the row has a value.
    pub fn validity(&self) -> &Validity {
        &self.validity
    }

    /// Number of null rows.
    pub fn null_count(&self) -> usize {
        self.nulls
    }

    /// True when row `i` has a value.
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity.get(i)
    }

    /// Name, kind, values, validity and null count, for zero-copy conversion.
    pub fn into_parts(self) -> (String, ColumnKind, ColumnData, Validity, usize) {
        (self.name, self.kind, self.data, self.validity, self.nulls)
    }

    /// Pads with nulls up to `row` values, so that the next push lands on `row`.
    /// Returns true when `row` already holds a value (a duplicate key in one row).
    #[inline]
    fn seek(&mut self, row: usize) -> bool {
        let len = self.validity.len();
        if len > row {
            return true;
        }
        for _ in len..row {
            self.data.push_null();
        }
        self.validity.push_n(false, row - len);
        self.nulls += row - len;
        false
    }

    fn truncate(&mut self, len: usize) {
        if len < self.validity.len() {
            let dropped_valid = (len..self.validity.len())
                .filter(|&i| self.validity.get(i))
                .count();
            self.nulls -= self.validity.len() - len - dropped_valid;
            self.validity.truncate(len);
            self.data.truncate(len);
        }
    }

    fn valid_count(&self) -> usize {
        self.validity.len() - self.nulls
    }
}

/// Rows for one table, column by column.
#[derive(Debug, Clone)]
pub struct TableBatch {
    name: String,
    time: Vec<i64>,
    lines: Vec<u32>,
    columns: Vec<BatchColumn>,
    by_name: HashTable<usize>,
    hasher: FixedState,
    /// Column index per position within the last row: rows of one source tend to
    /// list the same keys in the same order, so a position check usually replaces
    /// a hash lookup.
    layout: Vec<usize>,
}

impl TableBatch {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            time: Vec::new(),
            lines: Vec::new(),
            columns: Vec::new(),
            by_name: HashTable::new(),
            hasher: FixedState::default(),
            layout: Vec::new(),
        }
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.time.len()
    }

    /// Timestamps in nanoseconds since the epoch, one per row.
    pub fn time(&self) -> &[i64] {
        &self.time
    }

    /// Source position of each row (1-based line, or record index), for errors.
    pub fn lines(&self) -> &[u32] {
        &self.lines
    }

    /// The columns, in order of first appearance.
    pub fn columns(&self) -> &[BatchColumn] {
        &self.columns
    }

    /// Starts a row; returns its index.
    #[inline]
    pub fn begin_row(&mut self, line: u32, time_ns: i64) -> usize {
        self.time.push(time_ns);
        self.lines.push(line);
        self.time.len() - 1
    }

    /// Removes the current row and every value pushed for it.
    pub fn rollback_row(&mut self) {
        if let Some(row) = self.time.len().checked_sub(1) {
            self.truncate_rows(row);
        }
    }

    /// Removes the rows from `from` on and every value pushed for them (the
    /// dictionaries keep their values, as with [`TableBatch::rollback_row`]).
    pub fn truncate_rows(&mut self, from: usize) {
        self.time.truncate(from);
        self.lines.truncate(from);
        for c in &mut self.columns {
            c.truncate(from);
        }
    }

    /// Column-at-a-time appending, for decoders whose input is already
    /// columnar: appends `n` rows numbered from `first_line`, whose timestamps
    /// `time` pushes (exactly `n`; it returns false to give up). Each column is
    /// then filled for these rows with [`TableBatch::fill_column`]; columns
    /// not filled are null there. Returns the first new row, or `None` with
    /// nothing appended.
    pub fn append_rows(
        &mut self,
        n: usize,
        first_line: u32,
        time: impl FnOnce(&mut Vec<i64>) -> bool,
    ) -> Option<usize> {
        let from = self.time.len();
        self.time.reserve(n);
        if !time(&mut self.time) || self.time.len() != from + n {
            self.time.truncate(from);
            return None;
        }
        self.lines
            .extend((0..n).map(|i| first_line.saturating_add(i as u32)));
        for c in &mut self.columns {
            c.data.reserve(n);
            c.validity.reserve(n);
        }
        Some(from)
    }

    /// Sets column `col` for every row from `from` (what
    /// [`TableBatch::append_rows`] returned) to the last: `fill` pushes one
    /// value per row onto the column's data, of the column's type, tag keys
    /// from the column's own dictionary. Returns false, leaving these rows
    /// NULL in the column, when `fill` gives up (returns false), pushes
    /// another number of values or a key outside the dictionary, or when the
    /// column already reaches into these rows (a value or padding NULLs).
    pub fn fill_column(
        &mut self,
        col: usize,
        from: usize,
        fill: impl FnOnce(&mut ColumnData) -> bool,
    ) -> bool {
        let rows = self.time.len();
        let Some(c) = self.columns.get_mut(col) else {
            return false;
        };
        if from > rows || c.validity.len() > from {
            return false;
        }
        c.seek(from);
        let ok = fill(&mut c.data)
            && c.data.len() == rows
            && match &c.data {
                ColumnData::Tag(t) => t.keys()[from..].iter().all(|&k| t.has_key(k)),
                _ => true,
            };
        if ok {
            c.validity.push_n(true, rows - from);
        } else {
            // `seek` left the validity at `from`: only the data ran ahead.
            c.data.truncate(from);
        }
        ok
    }

    /// The index of column `name` for the value at position `pos` of the current
    /// row, creating the column if needed.
    #[inline]
    pub fn resolve_column(
        &mut self,
        pos: usize,
        name: &str,
        kind: ColumnKind,
    ) -> Result<usize, ColumnConflict> {
        if let Some(&idx) = self.layout.get(pos) {
            let c = &self.columns[idx];
            if c.name == name {
                return Self::check_kind(c, kind).map(|()| idx);
            }
        }
        let idx = self.lookup_or_create(name, kind)?;
        if pos < self.layout.len() {
            self.layout[pos] = idx;
        } else if pos == self.layout.len() {
            self.layout.push(idx);
        }
        Ok(idx)
    }

    fn check_kind(c: &BatchColumn, kind: ColumnKind) -> Result<(), ColumnConflict> {
        if c.kind == kind {
            Ok(())
        } else {
            Err(ColumnConflict {
                column: c.name.clone(),
                existing: c.kind,
                offered: kind,
            })
        }
    }

    fn lookup_or_create(&mut self, name: &str, kind: ColumnKind) -> Result<usize, ColumnConflict> {
        let hash = self.hasher.hash_one(name.as_bytes());
        let columns = &self.columns;
        if let Some(&idx) = self
            .by_name
            .find(hash, |&i| columns[i].name.as_bytes() == name.as_bytes())
        {
            Self::check_kind(&self.columns[idx], kind)?;
            return Ok(idx);
        }
        let idx = self.columns.len();
        self.columns.push(BatchColumn::new(name, kind));
        let (columns, hasher) = (&self.columns, &self.hasher);
        self.by_name
            .insert_unique(hash, idx, |&i| hasher.hash_one(columns[i].name.as_bytes()));
        Ok(idx)
    }

    /// Index of an existing column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name.as_bytes());
        self.by_name
            .find(hash, |&i| self.columns[i].name == name)
            .copied()
    }

    /// Reserves room for `additional` more rows in the timestamps and in every
    /// column that exists now, for decoders that know a row count up front (e.g.
    /// MessagePack columnar): saves the reallocations of growing by doubling.
    pub fn reserve_rows(&mut self, additional: usize) {
        self.time.reserve(additional);
        self.lines.reserve(additional);
        for c in &mut self.columns {
            c.data.reserve(additional);
            c.validity.reserve(additional);
        }
    }

    /// The dictionary key of `value` in tag column `col`, interning it; `None` when
    /// `col` is not a tag column. A key stays valid for the life of the batch
    /// (rolling rows back keeps the dictionary), so a decoder can map repeated
    /// values to keys itself and push them with [`TableBatch::push_tag_key`].
    pub fn intern_tag(&mut self, col: usize, value: &str) -> Option<i32> {
        match &mut self.columns.get_mut(col)?.data {
            // `key_for`: a value repeating the last row's costs a compare, not a hash.
            ColumnData::Tag(tags) => Some(tags.key_for(value)),
            _ => None,
        }
    }

    /// Sets tag column `col` of the current row to the value whose key
    /// [`TableBatch::intern_tag`] returned for the same column. Like
    /// [`TableBatch::push_tag`], a second value for the same row replaces the first.
    #[inline]
    pub fn push_tag_key(&mut self, col: usize, key: i32) {
        let row = self.time.len() - 1;
        let c = &mut self.columns[col];
        let ColumnData::Tag(tags) = &mut c.data else {
            debug_assert!(false, "push_tag_key on a field column");
            return;
        };
        if !tags.has_key(key) {
            debug_assert!(false, "push_tag_key with a key not from intern_tag");
            return;
        }
        if c.validity.len() > row {
            tags.set_last_key(key);
            if !c.validity.get(row) {
                c.validity.set(row, true);
                c.nulls -= 1;
            }
            return;
        }
        let pad = row - c.validity.len();
        for _ in 0..pad {
            tags.push_null();
        }
        c.validity.push_n(false, pad);
        c.nulls += pad;
        tags.push_key(key);
        c.validity.push(true);
    }

    /// Sets tag column `col` of the current row. A second value for the same row
    /// replaces the first (last wins).
    #[inline]
    pub fn push_tag(&mut self, col: usize, value: &str) {
        let key = match &mut self.columns[col].data {
            ColumnData::Tag(tags) => tags.key_for(value),
            _ => {
                debug_assert!(false, "push_tag on a field column");
                return;
            }
        };
        self.push_tag_key(col, key);
    }

    /// Sets field column `col` of the current row; the value's type must be the
    /// column's (as resolved). A second value for the same row replaces the first.
    #[inline]
    pub fn push_field(&mut self, col: usize, value: FieldValue<'_>) {
        let row = self.time.len() - 1;
        let c = &mut self.columns[col];
        let again = c.seek(row);
        match (&mut c.data, value) {
            (ColumnData::F64(v), FieldValue::F64(x)) => set_or_push(v, again, x),
            (ColumnData::I64(v), FieldValue::I64(x)) => set_or_push(v, again, x),
            (ColumnData::U64(v), FieldValue::U64(x)) => set_or_push(v, again, x),
            (ColumnData::Bool(v), FieldValue::Bool(x)) => {
                if again {
                    v.set(row, x);
                } else {
                    v.push(x);
                }
            }
            (ColumnData::Str(v), FieldValue::Str(x)) => {
                if again {
                    v.truncate(row);
                }
                v.push(x);
            }
            _ => {
                debug_assert!(false, "push_field with a value of another type");
                return;
            }
        }
        if again {
            if !c.validity.get(row) {
                c.validity.set(row, true);
                c.nulls -= 1;
            }
        } else {
            c.validity.push(true);
        }
    }

    /// Pads every column to the row count and drops columns without a value.
    fn finish(&mut self) {
        let rows = self.rows();
        for c in &mut self.columns {
            c.seek(rows);
        }
        if self.columns.iter().any(|c| c.valid_count() == 0) {
            self.columns.retain(|c| c.valid_count() > 0);
            self.rebuild_index();
        }
    }

    fn rebuild_index(&mut self) {
        self.by_name.clear();
        self.layout.clear();
        for (i, c) in self.columns.iter().enumerate() {
            let hash = self.hasher.hash_one(c.name.as_bytes());
            let (columns, hasher) = (&self.columns, &self.hasher);
            self.by_name
                .insert_unique(hash, i, |&j| hasher.hash_one(columns[j].name.as_bytes()));
        }
    }

    /// Keeps only the rows whose `keep` flag is set (`keep.len() == rows`). Used when
    /// validation rejects rows after parsing; rebuilds every column.
    pub fn retain_rows(&mut self, keep: &[bool]) {
        debug_assert_eq!(keep.len(), self.rows());
        if keep.iter().all(|&k| k) {
            return;
        }
        let mut out = TableBatch::new(&self.name);
        for (row, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            out.begin_row(self.lines[row], self.time[row]);
            for (pos, c) in self.columns.iter().enumerate() {
                if !c.validity.get(row) {
                    continue;
                }
                // Kinds come from an existing column, so resolving cannot conflict.
                let Ok(idx) = out.resolve_column(pos, &c.name, c.kind) else {
                    continue;
                };
                match &c.data {
                    ColumnData::Tag(t) => out.push_tag(idx, t.get(row)),
                    ColumnData::F64(v) => out.push_field(idx, FieldValue::F64(v[row])),
                    ColumnData::I64(v) => out.push_field(idx, FieldValue::I64(v[row])),
                    ColumnData::U64(v) => out.push_field(idx, FieldValue::U64(v[row])),
                    ColumnData::Bool(v) => out.push_field(idx, FieldValue::Bool(v.get(row))),
                    ColumnData::Str(v) => out.push_field(idx, FieldValue::Str(v.get(row))),
                }
            }
        }
        out.finish();
        *self = out;
    }

    /// Time, lines and columns, for zero-copy conversion.
    pub fn into_parts(self) -> (String, Vec<i64>, Vec<u32>, Vec<BatchColumn>) {
        (self.name, self.time, self.lines, self.columns)
    }
}

/// Same name, rows and columns in the same order (the lookup indexes follow).
impl PartialEq for TableBatch {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.time == other.time
            && self.lines == other.lines
            && self.columns == other.columns
    }
}

impl Eq for TableBatch {}

#[inline]
fn set_or_push<T>(v: &mut Vec<T>, again: bool, x: T) {
    if again {
        if let Some(last) = v.last_mut() {
            *last = x;
        }
    } else {
        v.push(x);
    }
}

/// Everything one write request carries, grouped by table.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    tables: Vec<TableBatch>,
    by_name: HashTable<usize>,
    hasher: FixedState,
    last: usize,
}

/// Same tables in the same order; floats compare bit for bit (see [`ColumnData`]).
impl PartialEq for WriteBatch {
    fn eq(&self, other: &Self) -> bool {
        self.tables == other.tables
    }
}

impl Eq for WriteBatch {}

impl WriteBatch {
    /// The batch for table `name`, created on first use.
    #[inline]
    pub fn table_mut(&mut self, name: &str) -> &mut TableBatch {
        if self.tables.get(self.last).is_some_and(|t| t.name == name) {
            return &mut self.tables[self.last];
        }
        let hash = self.hasher.hash_one(name.as_bytes());
        let tables = &self.tables;
        let idx = match self.by_name.find(hash, |&i| tables[i].name == name) {
            Some(&i) => i,
            None => {
                let i = self.tables.len();
                self.tables.push(TableBatch::new(name));
                let (tables, hasher) = (&self.tables, &self.hasher);
                self.by_name
                    .insert_unique(hash, i, |&j| hasher.hash_one(tables[j].name.as_bytes()));
                i
            }
        };
        self.last = idx;
        &mut self.tables[idx]
    }

    /// Pads columns, drops tables without rows and columns without values. Call once
    /// parsing is done and before reading columns.
    pub fn finish(&mut self) {
        for t in &mut self.tables {
            t.finish();
        }
        if self.tables.iter().any(|t| t.rows() == 0) {
            self.tables.retain(|t| t.rows() > 0);
            self.by_name.clear();
            self.last = 0;
            for (i, t) in self.tables.iter().enumerate() {
                let hash = self.hasher.hash_one(t.name.as_bytes());
                let (tables, hasher) = (&self.tables, &self.hasher);
                self.by_name
                    .insert_unique(hash, i, |&j| hasher.hash_one(tables[j].name.as_bytes()));
            }
        }
    }

    /// The tables, in order of first appearance.
    pub fn tables(&self) -> &[TableBatch] {
        &self.tables
    }

    /// Mutable access to the tables (for validation).
    pub fn tables_mut(&mut self) -> &mut [TableBatch] {
        &mut self.tables
    }

    /// The tables by value.
    pub fn into_tables(self) -> Vec<TableBatch> {
        self.tables
    }

    /// Checks the invariants listed in this module's docs (for a finished batch):
    /// every table has rows; time, lines, values and validity all have one entry
    /// per row; null counts match the validity bits; every column has a value; no
    /// column name repeats within a table; tag keys of valid rows are in the
    /// dictionary. Tests and fuzz targets of every decoder call this.
    pub fn check_invariants(&self) -> Result<(), String> {
        for t in &self.tables {
            let rows = t.rows();
            let name = &t.name;
            if rows == 0 {
                return Err(format!("table {name:?} has no row"));
            }
            if t.lines.len() != rows {
                return Err(format!(
                    "table {name:?}: {} lines for {rows} rows",
                    t.lines.len()
                ));
            }
            let mut names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!("table {name:?}: column {:?} twice", w[0]));
            }
            for c in &t.columns {
                let col = &c.name;
                let len = match &c.data {
                    ColumnData::Tag(tags) => tags.len(),
                    ColumnData::F64(v) => v.len(),
                    ColumnData::I64(v) => v.len(),
                    ColumnData::U64(v) => v.len(),
                    ColumnData::Bool(v) => v.len(),
                    ColumnData::Str(v) => v.len(),
                };
                if len != rows || c.validity.len() != rows {
                    return Err(format!(
                        "{name:?}.{col:?}: {len} values and {} validity bits for {rows} rows",
                        c.validity.len()
                    ));
                }
                let valid = c.validity.count_ones();
                if c.nulls != rows - valid {
                    return Err(format!(
                        "{name:?}.{col:?}: null count {} but {} unset bits",
                        c.nulls,
                        rows - valid
                    ));
                }
                if valid == 0 {
                    return Err(format!("{name:?}.{col:?} has no value"));
                }
                if let ColumnData::Tag(tags) = &c.data {
                    let dict = tags.values().len();
                    let bad = (0..rows).find(|&i| {
                        c.validity.get(i) && !(0..dict as i32).contains(&tags.keys()[i])
                    });
                    if let Some(i) = bad {
                        return Err(format!(
                            "{name:?}.{col:?}: row {i} has key {} outside a dictionary of {dict}",
                            tags.keys()[i]
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Rows over all tables.
    pub fn row_count(&self) -> usize {
        self.tables.iter().map(TableBatch::rows).sum()
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.row_count() == 0
    }
}

#[cfg(test)]
mod tests;
