//! Point reads: the rows of one series (or a few) over a time range, answered
//! without DataFusion.
//!
//! A dashboard's commonest statement reads every column of one host over the
//! last hour. Through DataFusion it costs about 0.8 ms of CPU before any row is
//! read (SQL to a logical plan, about fifty optimizer passes, a physical plan
//! whose orderings span every tag, per-file pruning predicates and row
//! filters), which caps such queries at a few thousand per second on two cores
//! however little they read. Relational engines meet the same cost with a fast
//! path for key lookups (TiDB's `PointGet`, for one): statements of one fixed
//! shape skip the optimizer and go straight to the storage layer.
//!
//! Here that shape is [`shape::PointQuery`]: `SELECT` columns (or `*`) of one
//! table `WHERE` string columns equal literals, `AND` optional comparisons of
//! `time` with timestamp literals, with an optional `ORDER BY time` and
//! `LIMIT`. [`read`] answers it from the same snapshot of buffered batches
//! and committed files a scan takes, reading only the Parquet pages whose
//! index bounds admit the values.
//!
//! The answer is the one DataFusion gives, row for row (the differential tests
//! in `tests/point.rs` run both); what DataFusion leaves unspecified (row order
//! without `ORDER BY`, the order of rows with equal times) may differ. Any
//! statement outside the shape, any name the table lacks, any literal that
//! does not cast, and any read that would decode more than
//! [`read::MAX_POINT_ROWS`] rows goes to DataFusion, which answers or reports
//! the error. [`crate::QueryExecutor::sql_with_params`] without parameters
//! and [`crate::QueryExecutor::sql_in_databases`] (Arc's routes) try point
//! reads. `EXPLAIN` of a statement either would serve as a point read
//! shows the point read first, then DataFusion's plans as the fallback
//! ([`explain`]).
//!
//! Decoded pages are kept for the next read of the same pages
//! ([`pages::PageCache`], `--query-page-cache`).

pub(crate) mod explain;
pub(crate) mod pages;
pub(crate) mod read;
pub(crate) mod shape;

pub(crate) use read::Resolved;
pub(crate) use shape::PointQuery;
