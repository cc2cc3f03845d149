//! `AppState`: the database pool, configuration, signaling hub and limiters shared by every handler.
//! Handlers get it as axum state; server functions get it from the Leptos context (`expect_context`).

use crate::server::config::Config;
use crate::signaling::hub::Hub;
use axum::extract::FromRef;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use leptos::config::LeptosOptions;
use sqlx::PgPool;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::watch;

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// PostgreSQL pool.
    pub pool: PgPool,
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// Origins allowed to open `/ws` (exact `scheme://host[:port]` strings).
    pub allowed_origins: Arc<Vec<String>>,
    /// Rooms, presence and relay.
    pub hub: Arc<Hub>,
    /// Leptos' settings (site root, output name).
    pub leptos_options: LeptosOptions,
    /// Log-in attempts per client IP.
    pub login_limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Chat messages per user (`--chat-messages-per-5s`).
    pub chat_limiter: Arc<DefaultKeyedRateLimiter<crate::ids::UserId>>,
    /// `sfu_signal` offers per user ([`crate::server::config::Config::sfu_offers_per_minute`]).
    pub sfu_offer_limiter: Arc<DefaultKeyedRateLimiter<crate::ids::UserId>>,
    /// Live-stream timers (seller grace periods).
    pub live: Arc<crate::live::service::LiveState>,
    /// Rendered `/live` pages for signed-out visitors (sub-second, see `live::page_cache`).
    pub live_page_cache: Arc<crate::live::page_cache::PageCache>,
    /// Proctoring: when students' connections came and went, and the "disconnected" timers.
    pub proctor: Arc<crate::proctor::service::ProctorState>,
    /// Random partner matching: the queue and the pairs.
    pub rooms: Arc<crate::rooms::service::RoomsState>,
    /// The forwarding unit for live streams (`--live-delivery sfu`); `None` when they go peer-to-peer.
    pub live_sfu: Option<Arc<crate::live::delivery::LiveSfu>>,
    /// Becomes `true` when the server shuts down; WebSocket tasks close with 1001.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// State for a server bound to `bound`; `shutdown` flips to `true` on shutdown.
    pub fn new(config: Config, pool: PgPool, bound: std::net::SocketAddr, shutdown: watch::Receiver<bool>) -> Self {
        let leptos_options = LeptosOptions::builder()
            .output_name("onair")
            .site_root(config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(bound)
            .env(leptos::config::Env::PROD)
            .build();
        let per_minute = NonZeroU32::new(config.login_attempts_per_minute.max(1)).expect("max(1) is non-zero");
        Self {
            pool,
            allowed_origins: Arc::new(config.origins_for(bound)),
            hub: Arc::new(Hub::new(config.ws_send_queue)),
            leptos_options,
            login_limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            chat_limiter: Arc::new(RateLimiter::keyed(chat_quota(config.chat_messages_per_5s))),
            sfu_offer_limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(config.sfu_offers_per_minute.max(1)).expect("max(1) is non-zero"),
            ))),
            config: Arc::new(config),
            live: Arc::default(),
            live_page_cache: Arc::default(),
            proctor: Arc::default(),
            rooms: Arc::default(),
            live_sfu: None,
            shutdown,
        }
    }
}

/// `per_5s` chat messages at once, refilled evenly over 5 s (GCRA: one more every `5 s / per_5s`).
fn chat_quota(per_5s: u32) -> Quota {
    let burst = NonZeroU32::new(per_5s.max(1)).expect("max(1) is non-zero");
    Quota::with_period(std::time::Duration::from_secs(5) / burst.get())
        .expect("5 s / u32 is at least 1 ns")
        .allow_burst(burst)
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.pool.clone()
    }
}
