//! Catalog snapshot types and their stored (JSON) form.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use strata_model::{ColumnId, ColumnKind, DbId, FieldType, TIME_COLUMN, TableId};

/// Arrow type of tag columns: dictionary-encoded strings.
pub fn tag_data_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Arrow type of the `time` column: nanoseconds since the epoch, UTC.
pub fn time_data_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, None)
}

/// Arrow type of a field column.
pub fn field_data_type(t: FieldType) -> DataType {
    match t {
        FieldType::Float => DataType::Float64,
        FieldType::Integer => DataType::Int64,
        FieldType::UInteger => DataType::UInt64,
        FieldType::Boolean => DataType::Boolean,
        FieldType::String => DataType::Utf8,
    }
}

/// Arrow field for a tag or field column (always nullable).
pub fn arrow_field(name: &str, kind: ColumnKind) -> Field {
    let dt = match kind {
        ColumnKind::Tag => tag_data_type(),
        ColumnKind::Field(t) => field_data_type(t),
    };
    Field::new(name, dt, true)
}

/// One tag or field column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// Stable id.
    pub id: ColumnId,
    /// Name.
    pub name: String,
    /// Role and type.
    #[serde(flatten)]
    pub kind: ColumnKind,
}

/// A table's schema: `time` plus tag and field columns.
#[derive(Debug, Clone)]
pub struct TableSchema {
    id: TableId,
    name: String,
    columns: Vec<ColumnSchema>,
    by_name: HashMap<String, usize>,
    next_column_id: u32,
    arrow: SchemaRef,
    series_key: Vec<usize>,
}

impl TableSchema {
    pub(super) fn new(id: TableId, name: &str) -> Self {
        Self::from_parts(id, name.to_owned(), Vec::new(), 1)
    }

    fn from_parts(id: TableId, name: String, columns: Vec<ColumnSchema>, next: u32) -> Self {
        let by_name = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let arrow = Self::build_arrow(&columns);
        let series_key = Self::build_series_key(&columns, &arrow);
        Self {
            id,
            name,
            columns,
            by_name,
            next_column_id: next,
            arrow,
            series_key,
        }
    }

    /// Arrow indices of the tags in creation order: the order of their first
    /// appearance in writes, which is how InfluxDB 3 defines a series key.
    fn build_series_key(columns: &[ColumnSchema], arrow: &SchemaRef) -> Vec<usize> {
        columns
            .iter()
            .filter(|c| c.kind == ColumnKind::Tag)
            .filter_map(|c| arrow.index_of(&c.name).ok())
            .collect()
    }

    /// Columns sorted by name, `time` among them, as InfluxDB 3 presents them.
    fn build_arrow(columns: &[ColumnSchema]) -> SchemaRef {
        let mut fields: Vec<Field> = columns
            .iter()
            .map(|c| arrow_field(&c.name, c.kind))
            .collect();
        fields.push(Field::new(TIME_COLUMN, time_data_type(), false));
        fields.sort_by(|a, b| a.name().cmp(b.name()));
        Arc::new(Schema::new(fields))
    }

    /// Table id.
    pub fn id(&self) -> TableId {
        self.id
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tag and field columns in creation order (without `time`).
    pub fn columns(&self) -> &[ColumnSchema] {
        &self.columns
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.by_name.get(name).map(|&i| &self.columns[i])
    }

    /// Number of columns counting `time`.
    pub fn column_count(&self) -> usize {
        self.columns.len() + 1
    }

    /// The Arrow schema queries see.
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.arrow
    }

    /// The series key: indices into [`Self::arrow_schema`] of the tag columns
    /// in creation order. Parquet files are sorted by it, then by time, so a
    /// writer controls which tag leads (and prunes best) by the order of tags
    /// in its first write; later tags extend the key at its end.
    pub fn series_key(&self) -> &[usize] {
        &self.series_key
    }

    /// Adds columns; the caller has checked names, kinds and limits.
    pub(super) fn add_columns(&mut self, new: &[(String, ColumnKind)]) {
        for (name, kind) in new {
            let id = ColumnId(self.next_column_id);
            self.next_column_id += 1;
            self.by_name.insert(name.clone(), self.columns.len());
            self.columns.push(ColumnSchema {
                id,
                name: name.clone(),
                kind: *kind,
            });
        }
        self.arrow = Self::build_arrow(&self.columns);
        self.series_key = Self::build_series_key(&self.columns, &self.arrow);
    }
}

/// A database and its tables.
#[derive(Debug, Clone)]
pub struct DatabaseSchema {
    id: DbId,
    name: String,
    tables: HashMap<String, Arc<TableSchema>>,
    next_table_id: u32,
}

impl DatabaseSchema {
    pub(super) fn new(id: DbId, name: &str) -> Self {
        Self {
            id,
            name: name.to_owned(),
            tables: HashMap::new(),
            next_table_id: 1,
        }
    }

    /// Database id.
    pub fn id(&self) -> DbId {
        self.id
    }

    /// Database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&Arc<TableSchema>> {
        self.tables.get(name)
    }

    /// All tables, in no particular order.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableSchema>> {
        self.tables.values()
    }

    /// Number of tables.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    pub(super) fn table_mut(&mut self, name: &str) -> &mut TableSchema {
        if !self.tables.contains_key(name) {
            let id = TableId(self.next_table_id);
            self.next_table_id += 1;
            self.tables
                .insert(name.to_owned(), Arc::new(TableSchema::new(id, name)));
        }
        // Present: inserted just above if it was missing.
        let t = self
            .tables
            .get_mut(name)
            .unwrap_or_else(|| unreachable!("table inserted above"));
        Arc::make_mut(t)
    }
}

/// An immutable view of the whole catalog.
#[derive(Debug, Clone, Default)]
pub struct CatalogSnapshot {
    pub(super) version: u64,
    databases: HashMap<String, Arc<DatabaseSchema>>,
    next_db_id: u32,
}

impl CatalogSnapshot {
    /// Increases on every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// A database by name.
    pub fn database(&self, name: &str) -> Option<&Arc<DatabaseSchema>> {
        self.databases.get(name)
    }

    /// All databases, in no particular order.
    pub fn databases(&self) -> impl Iterator<Item = &Arc<DatabaseSchema>> {
        self.databases.values()
    }

    pub(super) fn database_count(&self) -> usize {
        self.databases.len()
    }

    pub(super) fn database_mut(&mut self, name: &str) -> &mut DatabaseSchema {
        if !self.databases.contains_key(name) {
            let id = DbId(self.next_db_id.max(1));
            self.next_db_id = id.0 + 1;
            self.databases
                .insert(name.to_owned(), Arc::new(DatabaseSchema::new(id, name)));
        }
        let db = self
            .databases
            .get_mut(name)
            .unwrap_or_else(|| unreachable!("database inserted above"));
        Arc::make_mut(db)
    }

    pub(super) fn to_stored(&self) -> StoredCatalog {
        let mut databases: Vec<StoredDatabase> = self
            .databases
            .values()
            .map(|db| {
                let mut tables: Vec<StoredTable> = db
                    .tables
                    .values()
                    .map(|t| StoredTable {
                        id: t.id,
                        name: t.name.clone(),
                        next_column_id: t.next_column_id,
                        columns: t.columns.clone(),
                    })
                    .collect();
                tables.sort_by_key(|t| t.id);
                StoredDatabase {
                    id: db.id,
                    name: db.name.clone(),
                    next_table_id: db.next_table_id,
                    tables,
                }
            })
            .collect();
        databases.sort_by_key(|d| d.id);
        StoredCatalog {
            format: 1,
            version: self.version,
            next_db_id: self.next_db_id,
            databases,
        }
    }

    pub(super) fn from_stored(s: StoredCatalog) -> Result<Self, String> {
        if s.format != 1 {
            return Err(format!("unknown catalog format {}", s.format));
        }
        let mut databases = HashMap::new();
        for db in s.databases {
            let mut tables = HashMap::new();
            for t in db.tables {
                if t.columns.iter().any(|c| c.id.0 >= t.next_column_id) {
                    return Err(format!(
                        "table {:?} has a column id beyond its counter",
                        t.name
                    ));
                }
                let schema =
                    TableSchema::from_parts(t.id, t.name.clone(), t.columns, t.next_column_id);
                tables.insert(t.name, Arc::new(schema));
            }
            let schema = DatabaseSchema {
                id: db.id,
                name: db.name.clone(),
                tables,
                next_table_id: db.next_table_id,
            };
            databases.insert(db.name, Arc::new(schema));
        }
        Ok(Self {
            version: s.version,
            databases,
            next_db_id: s.next_db_id,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredCatalog {
    format: u32,
    version: u64,
    next_db_id: u32,
    databases: Vec<StoredDatabase>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredDatabase {
    id: DbId,
    name: String,
    next_table_id: u32,
    tables: Vec<StoredTable>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredTable {
    id: TableId,
    name: String,
    next_column_id: u32,
    columns: Vec<ColumnSchema>,
}
