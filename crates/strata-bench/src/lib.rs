//! Workload generators shared by the criterion benches (and, with issue 5, the
//! `strata bench` load generator): deterministic data, encoded ahead of time so
//! that generating it never costs measured time.

pub mod tsbs;
