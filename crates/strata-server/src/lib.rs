//! Strata's HTTP API on axum.
//!
//! - [`routes`]: every route path in one place;
//! - `handlers/write.rs`: InfluxDB v1/v2/v3 and Arc MessagePack writes;
//! - `handlers/query.rs`: SQL queries (InfluxDB v3);
//! - `handlers/arc_query.rs`: Arc's SQL queries (JSON, CSV, Arrow IPC);
//! - `handlers/stream.rs`: streaming a result, cancelled when the client goes;
//! - `handlers/health.rs`: health, ping and Prometheus metrics;
//! - [`error`]: the JSON error shape every route answers with.
//!
//! This is the only crate that imports axum.

mod body;
pub mod error;
mod handlers;
mod metrics;
pub mod routes;
mod state;

pub use state::{HttpLimits, ServerArgs};

use axum::Router;
use axum::serve::ListenerExt;
use std::future::Future;
use tokio::net::TcpListener;

/// Builds the router for `args`; fails only if the query runtime's threads
/// cannot be started.
pub fn router(args: ServerArgs) -> std::io::Result<Router> {
    Ok(routes::build(state::AppState::new(args)?))
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight
/// requests and returns.
pub async fn serve(
    listener: TcpListener,
    args: ServerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Streamed answers go out in several writes; with Nagle's algorithm a
    // small write waits for the client's delayed ACK (40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, router(args)?)
        .with_graceful_shutdown(shutdown)
        .await
}
