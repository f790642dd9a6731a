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
    let filter = EnvFilter::try_new(&config.log).map_err(|e| format!("--log {:?}: {e}", config.log))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("strata")
        .build()?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServeConfig) -> Result<(), Box<dyn Error>> {
    let engine = Arc::new(Engine::open(EngineArgs {
        data_dir: config.data_dir.clone(),
        catalog_limits: config.catalog_limits,
    })?);
    let listener = tokio::net::TcpListener::bind(&config.http_bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.http_bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "Strata {} listening on http://{addr}, data dir {}, durability: catalog on disk, rows in memory only (no WAL in this version)",
        env!("CARGO_PKG_VERSION"),
        config.data_dir.display(),
    );
    strata_server::serve(
        listener,
        ServerArgs {
            engine,
            limits: config.http_limits,
        },
        shutdown_signal(),
    )
    .await?;
    tracing::info!("Strata stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
