//! Live shopping streams: going live, ending, the live listings, stream details, and the ICE servers the
//! browser uses. Durable state is the `streams` row; who is watching lives in the signaling hub.

pub mod components;
#[cfg(feature = "ssr")]
pub mod delivery;
#[cfg(feature = "ssr")]
pub mod page_cache;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod service;

use crate::error::AppError;
use crate::ids::{StreamId, UserId};
use crate::rtc::IceServer;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Longest stream title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest stream description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// A stream category (seeded by migration `0002_live_streams.sql`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Stable key used in URLs and forms, e.g. `electronics`.
    pub slug: String,
    /// Name shown to people, e.g. `Electronics`.
    pub name: String,
}

/// A live stream as the listings show it.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSummary {
    pub id: StreamId,
    /// Plain text; render as text.
    pub title: String,
    /// The seller's display name.
    pub seller_name: String,
    /// Category name.
    pub category: String,
    /// Category slug (for filtering).
    pub category_slug: String,
    /// Distinct signed-in viewers connected now.
    pub viewers: u32,
    /// When the stream went live, in milliseconds since the Unix epoch (UTC).
    pub started_at_ms: i64,
}

/// Whether a stream is on air.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    Live,
    Ended,
}

/// Everything the watch page and the seller's page show about one stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDetail {
    pub id: StreamId,
    pub title: String,
    pub description: String,
    pub seller_id: UserId,
    pub seller_name: String,
    pub category: String,
    pub status: StreamStatus,
    /// Milliseconds since the Unix epoch (UTC).
    pub started_at_ms: i64,
    /// Milliseconds since the Unix epoch (UTC), when ended.
    pub ended_at_ms: Option<i64>,
    pub viewers: u32,
    pub peak_viewers: u32,
    /// Whether the signed-in caller is this stream's seller.
    pub is_seller: bool,
}

/// Go Live form input after trimming.
#[derive(Clone, Debug, garde::Validate)]
pub struct GoLiveInput {
    #[garde(custom(check_title))]
    pub title: String,
    #[garde(custom(check_description))]
    pub description: String,
    #[garde(length(min = 1, max = 40))]
    pub category: String,
}

impl GoLiveInput {
    /// Trims title and description.
    pub fn new(title: &str, description: &str, category: &str) -> Self {
        Self { title: title.trim().into(), description: description.trim().into(), category: category.trim().into() }
    }
}

fn check_title(value: &str, _: &()) -> garde::Result {
    match value.chars().count() {
        0 => Err(garde::Error::new("Give your stream a title.")),
        n if n > MAX_TITLE_CHARS => Err(garde::Error::new("Title must be at most 120 characters.")),
        _ if value.chars().any(char::is_control) => Err(garde::Error::new("Title cannot contain control characters.")),
        _ => Ok(()),
    }
}

fn check_description(value: &str, _: &()) -> garde::Result {
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        Err(garde::Error::new("Description must be at most 2000 characters."))
    } else {
        Ok(())
    }
}

/// All categories, in display order.
#[server(prefix = "/api", endpoint = "categories")]
pub async fn list_categories() -> Result<Vec<Category>, AppError> {
    crate::error::with_status(service::categories().await)
}

/// Starts a live stream for the signed-in user and announces it on the listings.
///
/// `category` is a category slug. Errors: `Unauthorized` when signed out; `Validation` for a bad title
/// (1–120 characters), description (≤ 2000) or unknown category; `Conflict` if the user already has a live
/// stream.
#[server(prefix = "/api", endpoint = "go_live")]
pub async fn go_live(title: String, description: String, category: String) -> Result<StreamId, AppError> {
    crate::error::with_status(service::go_live(GoLiveInput::new(&title, &description, &category)).await)
}

/// Ends a live stream; every viewer gets `stream_ended`. Ending an ended stream is not an error.
///
/// Errors: `Unauthorized` when signed out; `NotFound` for an unknown stream; `Forbidden` if the caller is
/// not the stream's seller.
#[server(prefix = "/api", endpoint = "end_stream")]
pub async fn end_stream(id: StreamId) -> Result<(), AppError> {
    crate::error::with_status(service::end_by_seller(id).await)
}

/// The live streams, newest first, optionally only those in category `category` (a slug).
#[server(prefix = "/api", endpoint = "live_streams")]
pub async fn live_streams(category: Option<String>) -> Result<Vec<StreamSummary>, AppError> {
    crate::error::with_status(service::live_streams(category.filter(|c| !c.is_empty())).await)
}

/// One stream, live or ended. Errors: `NotFound` for an unknown id.
#[server(prefix = "/api", endpoint = "stream")]
pub async fn get_stream(id: StreamId) -> Result<StreamDetail, AppError> {
    crate::error::with_status(service::stream_detail(id).await)
}

/// The ICE servers (STUN/TURN) for the connection test page (`/connectivity`): the server's `--ice-servers`
/// for everyone, plus, for a signed-in caller when `--turn-urls` and `--turn-secret` are set, the TURN URLs
/// with credentials of the TURN REST API valid for at most [`CONNECTIVITY_TURN_TTL_SECS`]. Calls, streams
/// and tests get theirs in the `joined` message of their room instead (`docs/protocol.md`).
#[server(prefix = "/api", endpoint = "ice_servers")]
pub async fn ice_servers() -> Result<Vec<IceServer>, AppError> {
    let state = expect_context::<crate::server::state::AppState>();
    let config = &state.config;
    // Signed-out visitors get STUN only.
    let user = crate::auth::backend::current_user().await?.map(|u| u.id.to_string());
    let ice = crate::server::turn::ice_config(
        config,
        user.as_deref(),
        crate::server::turn::unix_now(),
        config.turn_ttl_secs.min(CONNECTIVITY_TURN_TTL_SECS),
    );
    Ok(ice.servers)
}

/// Lifetime of the TURN credentials of the connection test, in seconds (10 minutes).
pub const CONNECTIVITY_TURN_TTL_SECS: u64 = 600;
