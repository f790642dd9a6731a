//! What two decodes of one body are compared by (shared by the targets).

use strata_ingest::Parsed;

/// Tables with their times and row numbers, and the errors.
pub(crate) fn summary(p: &Parsed) -> (Vec<(String, Vec<i64>, Vec<u32>)>, Vec<(u32, String)>) {
    (
        p.batch
            .tables()
            .iter()
            .map(|t| (t.name().to_owned(), t.time().to_vec(), t.lines().to_vec()))
            .collect(),
        p.errors
            .iter()
            .map(|e| (e.line, e.message.clone()))
            .collect(),
    )
}
