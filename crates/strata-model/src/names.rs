//! Rules for database, table and column names.
//!
//! Names become object-store path segments and SQL identifiers, so they are kept to
//! printable characters without path separators. Limits are generous on purpose: the
//! rules exist to keep files and queries safe, not to police style.

use thiserror::Error;

/// What a name names, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A database (InfluxDB `db`/`bucket`, Arc `x-arc-database`).
    Database,
    /// A table (line protocol measurement).
    Table,
    /// A tag or field column.
    Column,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Database => "database",
            NameKind::Table => "table",
            NameKind::Column => "column",
        })
    }
}

/// Longest accepted name in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Why a name was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{0} name must not be empty")]
    Empty(NameKind),
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("{kind} name is {len} bytes long; the limit is {MAX_NAME_LEN}")]
    TooLong {
        /// What was named.
        kind: NameKind,
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds a character that is not allowed.
    #[error("{kind} name {name:?} contains {ch:?}, which is not allowed{hint}")]
    BadChar {
        /// What was named.
        kind: NameKind,
        /// The offending name.
        name: String,
        /// The first offending character.
        ch: char,
        /// Extra advice for the user.
        hint: &'static str,
    },
    /// The name is reserved.
    #[error("{kind} name {name:?} is reserved")]
    Reserved {
        /// What was named.
        kind: NameKind,
        /// The offending name.
        name: String,
    },
}

/// Checks a name against the rules for its kind.
///
/// Databases and tables become path segments: they may hold letters, digits and
/// `_ - .` only, and may not start with `.` or `_` (reserved for Strata's own
/// files). Columns may hold any printable character; `time` is reserved for the
/// timestamp column.
pub fn validate_name(kind: NameKind, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty(kind));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            kind,
            len: name.len(),
        });
    }
    match kind {
        NameKind::Database | NameKind::Table => {
            // Tables may hold ':' (Prometheus recording rules name metrics
            // like `instance:node_cpu:rate5m`); databases name directories of
            // their own and keep the stricter set.
            let colon = kind == NameKind::Table;
            let bad = name
                .chars()
                .enumerate()
                .find(|&(i, c)| {
                    !(c.is_ascii_alphanumeric()
                        || c == '_'
                        || c == '-'
                        || c == '.'
                        || (colon && c == ':'))
                        || (i == 0 && (c == '.' || c == '_'))
                })
                .map(|(_, c)| c);
            if let Some(ch) = bad {
                return Err(NameError::BadChar {
                    kind,
                    name: name.to_owned(),
                    ch,
                    hint: if colon {
                        "; use letters, digits, '_', '-', '.' and ':', not starting with '.' or '_'"
                    } else {
                        "; use letters, digits, '_', '-' and '.', not starting with '.' or '_'"
                    },
                });
            }
        }
        NameKind::Column => {
            if let Some(ch) = name.chars().find(|c| c.is_control()) {
                return Err(NameError::BadChar {
                    kind,
                    name: name.to_owned(),
                    ch,
                    hint: "; control characters are not allowed",
                });
            }
            if name == crate::TIME_COLUMN {
                return Err(NameError::Reserved {
                    kind,
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_and_table_names() {
        assert!(validate_name(NameKind::Database, "metrics_2024-v1.0").is_ok());
        assert_eq!(
            validate_name(NameKind::Database, ""),
            Err(NameError::Empty(NameKind::Database))
        );
        assert!(matches!(
            validate_name(NameKind::Table, "a/b"),
            Err(NameError::BadChar { ch: '/', .. })
        ));
        assert!(validate_name(NameKind::Table, "_internal").is_err());
        assert!(validate_name(NameKind::Table, "instance:node_cpu:rate5m").is_ok());
        assert!(validate_name(NameKind::Database, "a:b").is_err());
        assert!(validate_name(NameKind::Table, "..").is_err());
        assert!(validate_name(NameKind::Table, &"x".repeat(257)).is_err());
    }

    #[test]
    fn column_names() {
        assert!(validate_name(NameKind::Column, "usage user,=x").is_ok());
        assert!(validate_name(NameKind::Column, "time").is_err());
        assert!(validate_name(NameKind::Column, "a\nb").is_err());
    }
}
