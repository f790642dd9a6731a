//! `strata serve`: opens the engine and runs the HTTP API until SIGINT/SIGTERM.

use crate::cli::ServeArgs;
use crate::config::ServeConfig;
use std::error::Error;
use std::sync::Arc;
use strata_server::ServerArgs;
use strata_storage::{Engine, EngineArgs};
use tracing_subscriber::EnvFilter;

pub(crate) fn run(args: ServeArgs) -> Result<(), Box<dyn Error>> {
    let config = ServeConfig::resolve(args)?;
    let filter =
        EnvFilter::try_new(&config.log).map_err(|e| format!("--log {:?}: {e}", config.log))?;
    // Colour only on a terminal: logs redirected to files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("strata")
        .build()?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServeConfig) -> Result<(), Box<dyn Error>> {
    let shutdown = shutdown_signal()?;
    let store = config.objects.build()?;
    let engine = Engine::open(EngineArgs {
        data_dir: config.data_dir.clone(),
        catalog_limits: config.catalog_limits,
        wal: config.wal.clone(),
        store,
        persist: config.persist,
    })
    .await?;
    tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.warm_last_rows().await }
    });
    let listener = tokio::net::TcpListener::bind(&config.http_bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.http_bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "Strata {} listening on http://{addr}, data dir {}, objects {}, durability: {}",
        env!("CARGO_PKG_VERSION"),
        config.data_dir.display(),
        config.objects.describe(),
        durability(&config),
    );
    strata_server::serve(
        listener,
        ServerArgs {
            engine: Arc::clone(&engine),
            limits: config.http_limits,
            query_limits: config.query_limits,
            query_caches: config.query_caches,
        },
        shutdown,
    )
    .await?;
    engine.shutdown().await?;
    tracing::info!("Strata stopped");
    Ok(())
}

/// The durability contract in force, for the start line.
fn durability(config: &ServeConfig) -> String {
    let ack = match &config.wal.sync {
        strata_storage::SyncMode::Always => "writes acknowledged after WAL fsync".to_owned(),
        strata_storage::SyncMode::Interval(d) => format!(
            "writes acknowledged after WAL write, fsync every {} ms (a machine crash can lose the last interval)",
            d.as_millis()
        ),
        strata_storage::SyncMode::None => {
            "writes acknowledged after WAL write, never fsynced (a machine crash can lose acknowledged writes)".to_owned()
        }
    };
    let persist = if config.persist.enabled {
        format!(
            "persisting to Parquet at {} rows or {:?} per table",
            config.persist.rows, config.persist.age
        )
    } else {
        "persistence disabled (--no-persist)".to_owned()
    };
    format!("wal-sync={} ({ack}); {persist}", config.wal.sync)
}

/// Registers SIGINT and SIGTERM handlers now (so a signal that arrives right after
/// the start line is never fatal) and returns a future that resolves on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
    })
}
