//! Server-side rules of live streams: going live, ending (by the seller, or by itself when the seller's
//! connection is gone for the grace period), viewer counts, and the events pushed to `/ws` rooms.

use crate::auth::backend::{require_user, User};
use crate::error::AppError;
use crate::ids::StreamId;
use crate::live::{queries, GoLiveInput, StreamDetail, StreamStatus, StreamSummary};
use crate::server::state::AppState;
use crate::signaling::protocol::{ErrorCode, MemberRole, RoomId, ServerMsg};
use garde::Validate;
use leptos::prelude::expect_context;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// Ephemeral live-stream state: the pending "end if the seller does not come back" timers, and when each
/// stream's viewer count was last pushed.
#[derive(Default)]
pub struct LiveState {
    grace: Mutex<HashMap<StreamId, tokio::task::AbortHandle>>,
    counts: Mutex<HashMap<StreamId, CountPush>>,
    listing: Mutex<ListingCache>,
    categories: std::sync::OnceLock<Vec<crate::live::Category>>,
}

/// How long a cached listing is used at most. Going live and ending clear the cache at once, so this only
/// bounds staleness from changes made outside this process.
pub const LISTING_CACHE_TTL: Duration = Duration::from_secs(1);

/// The live listing from the database (viewer counts are filled in from the hub on each call), per category
/// filter. The `/live` page asks for it on every render; this saves a query per page view.
#[derive(Default)]
struct ListingCache {
    /// Bumped on every change of the set of live streams; a result queried before a bump is not cached.
    generation: u64,
    entries: HashMap<Option<String>, (std::time::Instant, std::sync::Arc<Vec<StreamSummary>>)>,
}

impl LiveState {
    /// A counter bumped whenever the set of live streams changes (a stream went live or ended); caches of
    /// anything derived from the listing compare it (see [`crate::live::page_cache`]).
    pub fn listing_generation(&self) -> u64 {
        self.listing.lock().unwrap_or_else(|e| e.into_inner()).generation
    }

    fn listing_changed(&self) {
        let mut cache = self.listing.lock().unwrap_or_else(|e| e.into_inner());
        cache.generation += 1;
        cache.entries.clear();
    }
}

/// Viewer-count pushes of one stream are at most this often; changes in between are sent together (the
/// latest count) at the end of the interval. Without it, N viewers joining cost N² `viewer_count` messages.
pub const VIEWER_COUNT_INTERVAL: Duration = Duration::from_millis(250);

/// When a stream's count was last pushed, and whether a trailing push is scheduled.
#[derive(Default)]
struct CountPush {
    last: Option<std::time::Instant>,
    scheduled: bool,
}

impl LiveState {
    fn cancel_grace(&self, stream: StreamId) -> bool {
        let handle = self.grace.lock().unwrap_or_else(|e| e.into_inner()).remove(&stream);
        handle.map(|h| h.abort()).is_some()
    }
}

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn summary(row: &queries::StreamRow, viewers: u32) -> StreamSummary {
    StreamSummary {
        id: row.id,
        title: row.title.clone(),
        seller_name: row.seller_name.clone(),
        category: row.category.clone(),
        category_slug: row.category_slug.clone(),
        viewers,
        started_at_ms: millis(row.started_at),
    }
}

/// Body of `go_live`: validate, insert the live stream row, announce it on `listings:live`.
pub async fn go_live(input: GoLiveInput) -> Result<StreamId, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    input.validate()?;
    let category = queries::category_id(&state.pool, &input.category)
        .await?
        .ok_or_else(|| AppError::invalid("category", "Choose a category from the list."))?;
    let id = StreamId::new();
    if let Err(e) =
        queries::insert_live_stream(&state.pool, id, user.id, &input.title, &input.description, category).await
    {
        return Err(match e.as_database_error().and_then(|d| d.constraint()) {
            Some("streams_one_live_per_seller") => AppError::Conflict {
                field: "title".into(),
                message: "You are already live in another stream. End it before starting a new one.".into(),
            },
            _ => AppError::internal(e),
        });
    }
    state.live.listing_changed();
    if let Some(row) = queries::stream(&state.pool, id).await? {
        state.hub.broadcast(&RoomId::Listings, &ServerMsg::StreamStarted { stream: summary(&row, 0) });
    }
    tracing::info!(stream = %id, seller = %user.id, "went live");
    Ok(id)
}

/// Checks that `user` is the seller of `stream`. Errors: `NotFound`, `Forbidden`.
pub async fn require_seller(state: &AppState, user: &User, stream: StreamId) -> Result<queries::StreamRow, AppError> {
    let row =
        queries::stream(&state.pool, stream).await?.ok_or_else(|| AppError::NotFound("No such stream.".into()))?;
    if row.seller_id != user.id {
        return Err(AppError::Forbidden("Only the stream's seller can do this.".into()));
    }
    Ok(row)
}

/// Body of `end_stream`.
pub async fn end_by_seller(stream: StreamId) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_seller(&state, &user, stream).await?;
    end(&state, stream).await
}

/// Ends `stream` if it is live and tells the listings and everyone in the stream. Idempotent.
pub async fn end(state: &AppState, stream: StreamId) -> Result<(), AppError> {
    state.live.cancel_grace(stream);
    state.live.counts.lock().unwrap_or_else(|e| e.into_inner()).remove(&stream);
    if queries::end_stream(&state.pool, stream).await? {
        state.live.listing_changed();
        let msg = ServerMsg::StreamEnded { stream };
        state.hub.broadcast(&RoomId::Stream(stream), &msg);
        state.hub.broadcast(&RoomId::Listings, &msg);
        crate::live::delivery::stream_ended(state, stream);
        tracing::info!(%stream, "stream ended");
    }
    Ok(())
}

/// Body of `live_streams`: the rows from the database (cached, see [`LISTING_CACHE_TTL`]) with viewer counts
/// from the hub.
pub async fn live_streams(category: Option<String>) -> Result<Vec<StreamSummary>, AppError> {
    let state = expect_context::<AppState>();
    let (cached, generation) = {
        let cache = state.live.listing.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cache.entries.get(&category).filter(|(at, _)| at.elapsed() < LISTING_CACHE_TTL);
        (fresh.map(|(_, list)| list.clone()), cache.generation)
    };
    let list = match cached {
        Some(list) => list,
        None => {
            let rows = queries::live_streams(&state.pool, category.as_deref()).await?;
            let list = std::sync::Arc::new(rows.iter().map(|row| summary(row, 0)).collect::<Vec<_>>());
            let mut cache = state.live.listing.lock().unwrap_or_else(|e| e.into_inner());
            if cache.generation == generation {
                cache.entries.insert(category, (std::time::Instant::now(), list.clone()));
            }
            list
        }
    };
    Ok(list
        .iter()
        .map(|s| StreamSummary { viewers: state.hub.viewer_count(&RoomId::Stream(s.id)), ..s.clone() })
        .collect())
}

/// Body of `list_categories`: the categories, read once (they only change with a migration).
pub async fn categories() -> Result<Vec<crate::live::Category>, AppError> {
    let state = expect_context::<AppState>();
    if let Some(list) = state.live.categories.get() {
        return Ok(list.clone());
    }
    let list = queries::categories(&state.pool).await?;
    Ok(state.live.categories.get_or_init(|| list).clone())
}

/// Body of `stream_detail`.
pub async fn stream_detail(id: StreamId) -> Result<StreamDetail, AppError> {
    let state = expect_context::<AppState>();
    let caller = crate::auth::backend::current_user().await?;
    let row = queries::stream(&state.pool, id).await?.ok_or_else(|| AppError::NotFound("No such stream.".into()))?;
    let status = if row.status == "live" { StreamStatus::Live } else { StreamStatus::Ended };
    Ok(StreamDetail {
        id: row.id,
        title: row.title,
        description: row.description,
        seller_id: row.seller_id,
        seller_name: row.seller_name,
        category: row.category,
        status,
        started_at_ms: millis(row.started_at),
        ended_at_ms: row.ended_at.map(millis),
        viewers: state.hub.viewer_count(&RoomId::Stream(id)),
        peak_viewers: row.peak_viewers.max(0) as u32,
        is_seller: caller.is_some_and(|u| u.id == row.seller_id),
    })
}

/// Role of `user` in stream room `stream`: `Publisher` for its seller, `Viewer` for anyone else.
/// Errors: `NoSuchRoom` when the stream does not exist or is not live.
pub async fn role_in_stream(state: &AppState, user: &User, stream: StreamId) -> Result<MemberRole, ErrorCode> {
    let row = queries::stream(&state.pool, stream).await.map_err(|e| {
        tracing::error!(%e, "loading stream for join");
        ErrorCode::NoSuchRoom
    })?;
    match row {
        Some(row) if row.status == "live" => {
            Ok(if row.seller_id == user.id { MemberRole::Publisher } else { MemberRole::Viewer })
        }
        _ => Err(ErrorCode::NoSuchRoom),
    }
}

/// Called after a peer joined `room` with `role`.
pub async fn member_joined(state: &AppState, room: &RoomId, role: MemberRole) {
    let RoomId::Stream(stream) = room else { return };
    if role == MemberRole::Publisher && state.live.cancel_grace(*stream) {
        state.hub.broadcast(room, &ServerMsg::PublisherStatus { stream: *stream, connected: true });
    }
    viewers_changed(state, *stream).await;
}

/// Called after a peer left `room` (or disconnected) with `role`.
pub async fn member_left(state: &AppState, room: &RoomId, role: MemberRole) {
    let RoomId::Stream(stream) = room else { return };
    viewers_changed(state, *stream).await;
    if role == MemberRole::Publisher && !state.hub.has_role(room, MemberRole::Publisher) {
        state.hub.broadcast(room, &ServerMsg::PublisherStatus { stream: *stream, connected: false });
        start_grace(state, *stream);
    }
}

fn start_grace(state: &AppState, stream: StreamId) {
    let grace = Duration::from_millis(state.config.publisher_grace_ms);
    let task_state = state.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        task_state.live.grace.lock().unwrap_or_else(|e| e.into_inner()).remove(&stream);
        if !task_state.hub.has_role(&RoomId::Stream(stream), MemberRole::Publisher) {
            tracing::info!(%stream, "seller did not come back within the grace period; ending the stream");
            if let Err(e) = end(&task_state, stream).await {
                tracing::error!(%stream, ?e, "could not end abandoned stream");
            }
        }
    });
    let previous = state.live.grace.lock().unwrap_or_else(|e| e.into_inner()).insert(stream, task.abort_handle());
    if let Some(previous) = previous {
        previous.abort();
    }
}

/// Pushes the stream's viewer count now, or, if one was pushed less than [`VIEWER_COUNT_INTERVAL`] ago,
/// once at the end of that interval (one push for any number of changes in between).
async fn viewers_changed(state: &AppState, stream: StreamId) {
    let now = std::time::Instant::now();
    let wait = {
        let mut counts = state.live.counts.lock().unwrap_or_else(|e| e.into_inner());
        let push = counts.entry(stream).or_default();
        if push.scheduled {
            return;
        }
        match push.last {
            Some(last) if now.duration_since(last) < VIEWER_COUNT_INTERVAL => {
                push.scheduled = true;
                Some(VIEWER_COUNT_INTERVAL - now.duration_since(last))
            }
            _ => {
                push.last = Some(now);
                None
            }
        }
    };
    match wait {
        None => push_viewer_count(state, stream).await,
        Some(wait) => {
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                if let Some(push) = state.live.counts.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&stream) {
                    push.scheduled = false;
                    push.last = Some(std::time::Instant::now());
                }
                push_viewer_count(&state, stream).await;
            });
        }
    }
}

async fn push_viewer_count(state: &AppState, stream: StreamId) {
    let viewers = state.hub.viewer_count(&RoomId::Stream(stream));
    let msg = ServerMsg::ViewerCount { stream, viewers };
    state.hub.broadcast(&RoomId::Stream(stream), &msg);
    state.hub.broadcast(&RoomId::Listings, &msg);
    if let Err(e) = queries::record_viewers(&state.pool, stream, viewers as i32).await {
        tracing::error!(%stream, %e, "could not record peak viewers");
    }
}

/// At start-up: streams still marked live belong to connections of a previous process that are gone.
/// They get the same grace period as a dropped seller, so a seller whose page reconnects keeps streaming.
pub fn adopt_live_streams_after_restart(state: &AppState, streams: Vec<StreamId>) {
    for stream in streams {
        start_grace(state, stream);
    }
}
