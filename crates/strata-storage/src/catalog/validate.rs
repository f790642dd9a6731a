//! Validation of a parsed [`WriteBatch`] against the catalog, creating databases,
//! tables and columns on first write (as InfluxDB 3 does).
//!
//! Rows that break a rule (a column whose kind conflicts with the catalog, a bad
//! name, a limit) are rejected one by one with a [`RowError`]; the rest of the batch
//! goes on. With `accept_partial == false` any rejected row leaves the catalog
//! untouched and the caller writes nothing.

use super::schema::{CatalogSnapshot, DatabaseSchema};
use super::{Catalog, CatalogError, CatalogLimits};
use std::sync::Arc;
use strata_model::{ColumnKind, NameKind, TableBatch, WriteBatch, validate_name};

/// A row the catalog refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Source position of the row (1-based line or record).
    pub line: u32,
    /// Why it was refused.
    pub message: String,
}

/// The result of validating a batch.
#[derive(Debug)]
pub struct Validated {
    /// The catalog the batch conforms to (includes every column it uses).
    pub snapshot: Arc<CatalogSnapshot>,
    /// Rows refused; already removed from the batch unless `accept_partial` was off.
    pub errors: Vec<RowError>,
}

impl Validated {
    /// The database the batch was validated for.
    pub fn database(&self, name: &str) -> Option<&Arc<DatabaseSchema>> {
        self.snapshot.database(name)
    }
}

/// What a batch needs from, or breaks in, one catalog snapshot.
#[derive(Default)]
struct Plan {
    /// Per table of the batch: first error per row, allocated only when needed.
    rejects: Vec<Option<Vec<Option<String>>>>,
    /// Something must be added to the catalog.
    changes: bool,
}

impl Plan {
    fn has_rejects(&self) -> bool {
        self.rejects.iter().any(Option::is_some)
    }
}

fn reject_rows(
    slot: &mut Option<Vec<Option<String>>>,
    table: &TableBatch,
    col: Option<usize>,
    message: &str,
) {
    let rows = slot.get_or_insert_with(|| vec![None; table.rows()]);
    for (row, err) in rows.iter_mut().enumerate() {
        let applies = col.is_none_or(|c| table.columns()[c].is_valid(row));
        if applies && err.is_none() {
            *err = Some(message.to_owned());
        }
    }
}

fn plan(
    snapshot: &CatalogSnapshot,
    limits: &CatalogLimits,
    db_name: &str,
    batch: &WriteBatch,
) -> Result<Plan, CatalogError> {
    let db = snapshot.database(db_name);
    let mut plan = Plan {
        rejects: vec![None; batch.tables().len()],
        changes: false,
    };
    if db.is_none() {
        validate_name(NameKind::Database, db_name)
            .map_err(|e| CatalogError::Database(e.to_string()))?;
        if snapshot.database_count() >= limits.max_databases {
            return Err(CatalogError::Database(format!(
                "cannot create database {db_name:?}: the limit of {} databases is reached",
                limits.max_databases
            )));
        }
        plan.changes = true;
    }
    let mut table_count = db.map_or(0, |d| d.table_count());
    for (ti, table) in batch.tables().iter().enumerate() {
        let slot = &mut plan.rejects[ti];
        let existing = db.and_then(|d| d.table(table.name()));
        if existing.is_none() {
            if let Err(e) = validate_name(NameKind::Table, table.name()) {
                reject_rows(slot, table, None, &e.to_string());
                continue;
            }
            if table_count >= limits.max_tables_per_db {
                let msg = format!(
                    "cannot create table {:?}: database {db_name:?} has reached its limit of {} tables",
                    table.name(),
                    limits.max_tables_per_db
                );
                reject_rows(slot, table, None, &msg);
                continue;
            }
            table_count += 1;
            plan.changes = true;
        }
        let mut column_count = existing.map_or(1, |t| t.column_count());
        for (ci, col) in table.columns().iter().enumerate() {
            match existing.and_then(|t| t.column(col.name())) {
                Some(known) if known.kind == col.kind() => {}
                Some(known) => {
                    let msg = format!(
                        "column {:?} of table {:?} is {}, but this line offers {}",
                        col.name(),
                        table.name(),
                        known.kind.with_article(),
                        col.kind().with_article()
                    );
                    reject_rows(slot, table, Some(ci), &msg);
                }
                None => {
                    if let Err(e) = validate_name(NameKind::Column, col.name()) {
                        reject_rows(slot, table, Some(ci), &e.to_string());
                    } else if column_count >= limits.max_columns_per_table {
                        let msg = format!(
                            "cannot add column {:?}: table {:?} has reached its limit of {} columns",
                            col.name(),
                            table.name(),
                            limits.max_columns_per_table
                        );
                        reject_rows(slot, table, Some(ci), &msg);
                    } else {
                        column_count += 1;
                        plan.changes = true;
                    }
                }
            }
        }
    }
    Ok(plan)
}

/// Reports rejected rows as errors and, when `remove`, drops them from the batch.
fn apply_or_report(plan: &Plan, batch: &mut WriteBatch, errors: &mut Vec<RowError>, remove: bool) {
    for (table, rejects) in batch.tables_mut().iter_mut().zip(&plan.rejects) {
        let Some(rejects) = rejects else { continue };
        for (row, msg) in rejects.iter().enumerate() {
            if let Some(message) = msg {
                errors.push(RowError {
                    line: table.lines()[row],
                    message: message.clone(),
                });
            }
        }
        if remove {
            let keep: Vec<bool> = rejects.iter().map(Option::is_none).collect();
            table.retain_rows(&keep);
        }
    }
}

/// Adds everything the (already filtered) batch needs to `snapshot`.
fn apply_changes(snapshot: &mut CatalogSnapshot, db_name: &str, batch: &WriteBatch) {
    let db = snapshot.database_mut(db_name);
    for table in batch.tables() {
        if table.rows() == 0 {
            continue;
        }
        let schema = db.table_mut(table.name());
        let new: Vec<(String, ColumnKind)> = table
            .columns()
            .iter()
            .filter(|c| schema.column(c.name()).is_none())
            .map(|c| (c.name().to_owned(), c.kind()))
            .collect();
        if !new.is_empty() {
            schema.add_columns(&new);
        }
    }
}

impl Catalog {
    /// Validates `batch` for database `db_name`, creating what it needs.
    ///
    /// Returns `Err` only for whole-request problems (the database cannot exist, the
    /// catalog cannot be persisted). Rejected rows are removed from `batch` and
    /// reported, except when `accept_partial` is false and a row is rejected: then the
    /// batch and the catalog are left as they were and the caller must write nothing.
    pub fn validate(
        &self,
        db_name: &str,
        batch: &mut WriteBatch,
        accept_partial: bool,
    ) -> Result<Validated, CatalogError> {
        let mut validated = self.validate_unsorted(db_name, batch, accept_partial)?;
        // Tables are checked one after the other; users read errors in line order.
        validated.errors.sort_by_key(|e| e.line);
        Ok(validated)
    }

    fn validate_unsorted(
        &self,
        db_name: &str,
        batch: &mut WriteBatch,
        accept_partial: bool,
    ) -> Result<Validated, CatalogError> {
        let mut errors = Vec::new();
        let snapshot = self.snapshot();
        let first = plan(&snapshot, &self.limits, db_name, batch)?;
        if first.has_rejects() {
            apply_or_report(&first, batch, &mut errors, accept_partial);
            if !accept_partial {
                return Ok(Validated { snapshot, errors });
            }
        }
        if !first.changes {
            return Ok(Validated { snapshot, errors });
        }
        let limits = self.limits;
        let (snapshot, result) = self.update(|current| {
            // Another writer may have changed the catalog since the lock-free check.
            let again = match plan(current, &limits, db_name, batch) {
                Ok(p) => p,
                Err(e) => return (None, Err(e)),
            };
            if again.has_rejects() {
                apply_or_report(&again, batch, &mut errors, accept_partial);
                if !accept_partial {
                    return (None, Ok(()));
                }
            }
            if !again.changes {
                return (None, Ok(()));
            }
            let mut next = current.clone();
            apply_changes(&mut next, db_name, batch);
            (Some(next), Ok(()))
        })?;
        result?;
        Ok(Validated { snapshot, errors })
    }
}

#[cfg(test)]
mod tests;
