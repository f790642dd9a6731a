//! Strata's storage engine: catalog, series index, columnar write buffer, and the
//! [`Engine`] facade that ties them together.
//!
//! The engine takes protocol-neutral [`strata_model::WriteBatch`]es; it never sees
//! a wire format. Queries read table snapshots through [`Engine::buffer`] and the
//! catalog.

pub mod buffer;
pub mod catalog;
mod engine;
pub mod last_rows;
pub mod manifest;
pub mod objects;
pub mod persist;
mod sequencer;
pub mod series;
mod wal_record;

pub use engine::{
    Engine, EngineArgs, EngineError, PersistStats, RecoveryStats, WalOptions, WriteOptions,
    WriteOutcome,
};
pub use strata_wal::SyncMode;
