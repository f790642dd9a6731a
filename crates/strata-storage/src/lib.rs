//! Strata's storage engine: catalog, series index, columnar write buffer, and the
//! [`Engine`] facade that ties them together.
//!
//! The engine takes protocol-neutral [`strata_model::WriteBatch`]es; it never sees
//! a wire format. Queries read table snapshots through [`Engine::buffer`] and the
//! catalog.

pub mod buffer;
pub mod catalog;
mod engine;
pub mod series;

pub use engine::{Engine, EngineArgs, EngineError, WriteOptions, WriteOutcome};
