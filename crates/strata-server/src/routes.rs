//! Every route path of the API, in one place.

use crate::handlers::{arc_query, health, query, write};
use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// InfluxDB v1 write.
pub const WRITE_V1: &str = "/write";
/// InfluxDB v2 write.
pub const WRITE_V2: &str = "/api/v2/write";
/// InfluxDB v3 write.
pub const WRITE_V3: &str = "/api/v3/write_lp";
/// Arc MessagePack write.
pub const WRITE_MSGPACK: &str = "/api/v1/write/msgpack";
/// Arc line protocol write (database from `x-arc-database`).
pub const WRITE_ARC_LP: &str = "/api/v1/write/line-protocol";
/// Prometheus remote write 1.0 (the path Prometheus-compatible stores use).
pub const WRITE_PROM: &str = "/api/v1/write";
/// Prometheus remote write 1.0 (InfluxDB 1.x's path).
pub const WRITE_PROM_INFLUX: &str = "/api/v1/prom/write";
/// InfluxDB v3 SQL query.
pub const QUERY_SQL: &str = "/api/v3/query_sql";
/// Arc SQL query, JSON (or CSV) answer.
pub const QUERY_ARC: &str = "/api/v1/query";
/// Arc SQL query, Arrow IPC stream answer.
pub const QUERY_ARC_ARROW: &str = "/api/v1/query/arrow";
/// Health check (JSON).
pub const HEALTH: &str = "/health";
/// InfluxDB-compatible ping (204).
pub const PING: &str = "/ping";
/// Prometheus metrics.
pub const METRICS: &str = "/metrics";

pub(crate) fn build(state: AppState) -> Router {
    Router::new()
        .route(WRITE_V1, post(write::v1))
        .route(WRITE_V2, post(write::v2))
        .route(WRITE_V3, post(write::v3))
        .route(WRITE_MSGPACK, post(write::msgpack))
        .route(WRITE_ARC_LP, post(write::arc_line_protocol))
        .route(WRITE_PROM, post(write::prom))
        .route(WRITE_PROM_INFLUX, post(write::prom_influx))
        .route(QUERY_SQL, get(query::sql).post(query::sql))
        .route(QUERY_ARC, post(arc_query::json))
        .route(QUERY_ARC_ARROW, post(arc_query::arrow))
        .route(HEALTH, get(health::health))
        .route(PING, get(health::ping).head(health::ping))
        .route(METRICS, get(health::metrics))
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .with_state(state)
}
