//! Server start-up: database (create, migrate), session store, router with layers, plain HTTP or HTTPS
//! (`--tls-cert`/`--tls-key`), graceful shutdown.

pub mod config;
pub mod demo;
pub mod metrics;
pub mod state;
pub mod tls;
pub mod turn;

use crate::app::{shell, App};
use crate::auth::backend::Backend;
use crate::server::config::Config;
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool, Postgres};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

/// Errors that stop the server from starting.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// Opens the database named in `url`, creating it first if it does not exist, and applies migrations.
pub async fn connect_database(url: &str, max_connections: u32) -> Result<PgPool, StartError> {
    if !Postgres::database_exists(url).await? {
        tracing::info!("creating database");
        Postgres::create_database(url).await?;
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    prepare_database(&pool).await?;
    Ok(pool)
}

/// Applies the app's migrations and the session store's schema. Idempotent.
pub async fn prepare_database(pool: &PgPool) -> Result<(), StartError> {
    sqlx::migrate!().run(pool).await?;
    PostgresStore::new(pool.clone()).migrate().await?;
    Ok(())
}

/// The whole HTTP application: pages, server functions, `/ws`, health checks, static files, with session,
/// auth and CSRF layers.
pub fn router(state: AppState) -> Router {
    let store = PostgresStore::new(state.pool.clone());
    let sessions = SessionManagerLayer::new(store)
        .with_name("onair_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.cookies_secure())
        .with_expiry(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::days(14)));
    let auth = axum_login::AuthManagerLayerBuilder::new(Backend::new(state.pool.clone()), sessions).build();

    let mut csrf = tower_http::csrf::CsrfLayer::new();
    for origin in state.allowed_origins.iter() {
        csrf = match csrf.clone().add_trusted_origin(origin) {
            Ok(layer) => layer,
            Err(e) => {
                tracing::warn!(%origin, ?e, "ignoring allowed origin that is not a valid origin");
                csrf
            }
        };
    }

    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let context_state = state.clone();
    Router::new()
        .route("/ws", get(crate::signaling::ws::ws_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .merge(crate::commerce::catalog::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(auth)
        .layer(csrf)
        // Outermost: a cached signed-out `/live` skips the session and CSRF layers and the render.
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::live::page_cache::serve_cached))
        .with_state(state)
}

/// `GET /readyz`: 200 when the database answers, 503 otherwise.
async fn readyz(State(pool): State<PgPool>) -> (StatusCode, &'static str) {
    let ping = async {
        let mut conn = pool.acquire().await?;
        conn.ping().await
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
    }
}

/// A server bound to a port and ready to serve (used by `main` and by tests on an ephemeral port).
pub struct Server {
    /// The address actually bound.
    pub addr: SocketAddr,
    /// The state handlers share.
    pub state: AppState,
    listener: TcpListener,
    /// The rustls configuration when serving HTTPS/WSS, `None` for plain HTTP.
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    shutdown_tx: watch::Sender<bool>,
}

impl Server {
    /// Loads the TLS certificate and key if configured, binds `config.bind` and builds the state around
    /// `pool` (already migrated). Errors: a [`tls::TlsError`] (only one of the TLS flags, a file missing or
    /// unreadable, no PEM certificate or key in it, a key that is not the certificate's), or the bind error.
    pub async fn bind(config: Config, pool: PgPool) -> Result<Self, StartError> {
        let tls = config.tls_files()?.map(|files| files.load()).transpose()?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let live_sfu = crate::live::delivery::LiveSfu::start(&config).await;
        let mut state = AppState::new(config, pool, addr, shutdown_rx);
        state.live_sfu = live_sfu.map(std::sync::Arc::new);
        Ok(Self { addr, state, listener, tls, shutdown_tx })
    }

    /// `https://<addr>` when serving TLS, else `http://<addr>`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Serves until `stop` resolves, then tells WebSocket tasks to close (1001) and drains HTTP requests.
    /// Plain HTTP and HTTPS share the router, `ConnectInfo<SocketAddr>`, `TCP_NODELAY` and this shutdown.
    pub async fn serve(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), StartError> {
        let Server { listener, tls, shutdown_tx, state, .. } = self;
        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        let graceful = async move {
            stop.await;
            tracing::info!("shutting down: closing WebSockets and draining requests");
            let _ = shutdown_tx.send(true);
            // Keep the sender alive until WebSocket tasks have seen the flag.
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        match tls {
            None => {
                // TCP_NODELAY: small WebSocket frames (signals, chat, presence) go out at once instead of waiting
                // behind Nagle's algorithm for the client's (delayed) ACK, which added up to 40 ms under load.
                let listener = listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(%e, "could not set TCP_NODELAY");
                    }
                });
                axum::serve(listener, app).with_graceful_shutdown(graceful).await?;
            }
            // The TLS listener sets TCP_NODELAY itself, before the handshake. The no-op `tap_io` is what gives
            // `ConnectInfo<SocketAddr>`: axum implements `Connected` for `TcpListener` and `TapIo<L>` only.
            Some(config) => {
                let listener = tls::TlsListener::new(listener, config)?.tap_io(|_| ());
                axum::serve(listener, app).with_graceful_shutdown(graceful).await?;
            }
        }
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

/// Sets up logging (`RUST_LOG`, default `info`) as text or JSON.
pub fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs the server with `config` until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<(), StartError> {
    // Bad TLS settings stop the server before it touches the database (`Server::bind` loads them for use).
    config.tls_files()?.map(|files| files.load()).transpose()?;
    let pool = connect_database(&config.database_url, config.db_max_connections).await?;
    if config.demo {
        demo::seed(&pool).await?;
    }
    let session_cleanup = tokio::spawn(tower_sessions::session_store::ExpiredDeletion::continuously_delete_expired(
        PostgresStore::new(pool.clone()),
        Duration::from_secs(3600),
    ));
    let live_before_restart = crate::live::queries::live_streams(&pool, None).await?;
    let server = Server::bind(config, pool).await?;
    crate::live::service::adopt_live_streams_after_restart(
        &server.state,
        live_before_restart.into_iter().map(|row| row.id).collect(),
    );
    let url = server.url();
    tracing::info!(addr = %server.addr, origins = ?server.state.allowed_origins, "serving on {url}");
    if server.state.config.demo {
        demo::print_logins(&url);
    }
    let result = server.serve(shutdown_signal()).await;
    session_cleanup.abort();
    result
}
