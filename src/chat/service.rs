//! Server-side rules of the chat: who may read, write and moderate (named checks, default deny), the
//! per-user rate limit, and the `chat_*` events pushed to the stream's `/ws` room.

use crate::auth::backend::{require_user, User};
use crate::chat::{queries, ChatAccess, ChatMessageView, CLOSED, MUTED, RECENT_CHAT_LIMIT};
use crate::error::AppError;
use crate::ids::{ChatMessageId, StreamId, UserId};
use crate::live::queries::StreamRow;
use crate::live::service::require_seller;
use crate::server::state::AppState;
use crate::signaling::protocol::{RoomId, ServerMsg};
use leptos::prelude::expect_context;
use time::OffsetDateTime;

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn view(row: queries::ChatRow) -> ChatMessageView {
    ChatMessageView {
        id: row.id,
        stream: row.stream_id,
        user: row.user_id,
        author: row.author,
        text: row.text,
        from_seller: row.from_seller,
        sent_at_ms: millis(row.created_at),
    }
}

/// Checks that `stream` exists; any signed-in user may read its chat. Errors: `NotFound`.
pub async fn require_chat_reader(state: &AppState, _user: &User, stream: StreamId) -> Result<StreamRow, AppError> {
    crate::live::queries::stream(&state.pool, stream).await?.ok_or_else(|| AppError::NotFound("No such stream.".into()))
}

/// Checks that `user` may post in `stream` now: it exists and is live, and its seller has not muted `user`.
/// Errors: `NotFound`, `Conflict` (not live), `Forbidden` (muted).
pub async fn require_chat_writer(state: &AppState, user: &User, stream: StreamId) -> Result<StreamRow, AppError> {
    let row = require_chat_reader(state, user, stream).await?;
    if row.status != "live" {
        return Err(AppError::Conflict { field: "text".into(), message: CLOSED.into() });
    }
    if queries::is_muted(&state.pool, stream, user.id).await? {
        return Err(AppError::Forbidden(MUTED.into()));
    }
    Ok(row)
}

/// Takes one message from `user`'s allowance (`--chat-messages-per-5s`). Errors: `RateLimited`.
pub fn check_chat_rate(state: &AppState, user: UserId) -> Result<(), AppError> {
    state.chat_limiter.check_key(&user).map_err(|not_until| {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        AppError::RateLimited { retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64 }
    })
}

/// Body of `recent_chat`.
pub async fn recent(stream: StreamId) -> Result<Vec<ChatMessageView>, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_chat_reader(&state, &user, stream).await?;
    let rows = queries::recent_messages(&state.pool, stream, RECENT_CHAT_LIMIT).await?;
    Ok(rows.into_iter().map(view).collect())
}

/// Body of `chat_status`.
pub async fn status(stream: StreamId) -> Result<ChatAccess, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let row = require_chat_reader(&state, &user, stream).await?;
    let muted_users = queries::muted_users(&state.pool, stream).await?;
    Ok(ChatAccess { me: user.id, muted: muted_users.contains(&user.id), muted_users, open: row.status == "live" })
}

/// Body of `post_chat`: permission, text rule, rate limit, store, push `chat_message` to the room.
pub async fn post(stream: StreamId, text: String) -> Result<ChatMessageView, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_chat_writer(&state, &user, stream).await?;
    let text = crate::chat::check_chat_text(&text).map_err(|msg| AppError::invalid("text", msg))?;
    check_chat_rate(&state, user.id)?;
    let Some(row) = queries::insert_message(&state.pool, ChatMessageId::new(), stream, user.id, &text).await? else {
        // Muted or ended between the check and the insert: the check now says which.
        require_chat_writer(&state, &user, stream).await?;
        return Err(AppError::Forbidden(MUTED.into()));
    };
    let message = view(row);
    state.hub.broadcast(&RoomId::Stream(stream), &ServerMsg::ChatMessage { stream, message: message.clone() });
    Ok(message)
}

/// Body of `delete_chat`: only the stream's seller; pushes `chat_deleted` the first time.
pub async fn delete(message: ChatMessageId) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let found = queries::message_ref(&state.pool, message)
        .await?
        .ok_or_else(|| AppError::NotFound("No such message.".into()))?;
    let stream = found.stream_id;
    require_seller(&state, &user, stream).await?;
    if !found.deleted && queries::delete_message(&state.pool, message, user.id).await? {
        state.hub.broadcast(&RoomId::Stream(stream), &ServerMsg::ChatDeleted { stream, message });
        tracing::info!(%stream, %message, "chat message deleted by the seller");
    }
    Ok(())
}

/// Body of `mute_in_chat`: only the stream's seller, never themselves; pushes `chat_muted` the first time.
pub async fn mute(stream: StreamId, target: UserId) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_seller(&state, &user, stream).await?;
    if target == user.id {
        return Err(AppError::BadRequest("You can't mute yourself.".into()));
    }
    match queries::mute(&state.pool, stream, target, user.id).await {
        Ok(true) => {
            state.hub.broadcast(&RoomId::Stream(stream), &ServerMsg::ChatMuted { stream, user: target });
            tracing::info!(%stream, user = %target, "muted in chat by the seller");
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(e) if e.as_database_error().and_then(|d| d.constraint()) == Some("chat_mutes_user_id_fkey") => {
            Err(AppError::NotFound("No such user.".into()))
        }
        Err(e) => Err(AppError::internal(e)),
    }
}
