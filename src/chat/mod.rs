//! Live chat in a stream: messages persisted in PostgreSQL, the last 50 shown on join, new ones pushed over
//! `/ws` to everyone in the stream, with a per-user rate limit and the seller's moderation (delete, mute).
//!
//! Shared types, the text rule and the server functions live here; SQL in `queries.rs` and the server-side
//! rules (permissions, rate limit, broadcasts) in `service.rs` [ssr]; the panel in `components/`.

pub mod components;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod service;

pub use components::ChatPanel;

use crate::error::AppError;
use crate::ids::{ChatMessageId, StreamId, UserId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 500;
/// How many messages [`recent_chat`] returns (the newest ones, oldest first).
pub const RECENT_CHAT_LIMIT: i64 = 50;

/// A chat message as everyone in the stream sees it. `text` is plain text: render it as text, never HTML.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessageView {
    pub id: ChatMessageId,
    pub stream: StreamId,
    /// The author's account.
    pub user: UserId,
    /// The author's display name.
    pub author: String,
    /// 1–500 characters.
    pub text: String,
    /// Whether the author is the stream's seller.
    pub from_seller: bool,
    /// Milliseconds since the Unix epoch (UTC).
    pub sent_at_ms: i64,
}

/// What the chat panel needs to know about the caller and the stream besides the messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatAccess {
    /// The signed-in caller.
    pub me: UserId,
    /// Whether the seller muted the caller in this stream.
    pub muted: bool,
    /// Everyone muted in this stream so far (the seller's panel marks them).
    pub muted_users: Vec<UserId>,
    /// Whether the chat takes new messages (the stream is live).
    pub open: bool,
}

/// Message shown when a user posts faster than the rate limit allows.
pub const TOO_FAST: &str = "You're sending messages too fast. Wait a moment.";
/// Message shown to a user the seller muted.
pub const MUTED: &str = "The seller muted you in this chat.";
/// Message shown when posting to a stream that is not live.
pub const CLOSED: &str = "This stream has ended, so its chat is closed.";

/// The chat text rule, shared by the server and the panel: trims `text` and returns it if it has
/// 1–[`MAX_CHAT_CHARS`] characters (Unicode scalar values) and no control characters; otherwise a message
/// for people.
pub fn check_chat_text(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    match text.chars().count() {
        0 => Err("Type a message first."),
        n if n > MAX_CHAT_CHARS => Err("Messages can be at most 500 characters."),
        _ if text.chars().any(char::is_control) => Err("Messages cannot contain control characters."),
        _ => Ok(text.to_string()),
    }
}

/// The last 50 messages of a stream that were not deleted, oldest first.
///
/// Errors: `Unauthorized` when signed out; `NotFound` for an unknown stream.
#[server(prefix = "/api", endpoint = "recent_chat")]
pub async fn recent_chat(stream: StreamId) -> Result<Vec<ChatMessageView>, AppError> {
    crate::error::with_status(service::recent(stream).await)
}

/// Whether the caller may write in a stream's chat, and who is muted there.
///
/// Errors: `Unauthorized` when signed out; `NotFound` for an unknown stream.
#[server(prefix = "/api", endpoint = "chat_status")]
pub async fn chat_status(stream: StreamId) -> Result<ChatAccess, AppError> {
    crate::error::with_status(service::status(stream).await)
}

/// Posts `text` (trimmed) in a live stream's chat; everyone in the stream's room gets `chat_message`
/// with the author stamped by the server. Returns the stored message.
///
/// Errors: `Unauthorized` when signed out; `NotFound` for an unknown stream; `Conflict` when the stream is
/// not live; `Forbidden` when the seller muted the caller; `Validation` (field `text`) for an empty or
/// over-500-character text; `RateLimited` over the per-user limit (`--chat-messages-per-5s`).
#[server(prefix = "/api", endpoint = "post_chat")]
pub async fn post_chat(stream: StreamId, text: String) -> Result<ChatMessageView, AppError> {
    crate::error::with_status(service::post(stream, text).await)
}

/// Deletes a chat message for everyone (`chat_deleted` to the stream's room). Deleting a deleted message
/// is not an error.
///
/// Errors: `Unauthorized` when signed out; `NotFound` for an unknown message; `Forbidden` unless the
/// caller is the stream's seller.
#[server(prefix = "/api", endpoint = "delete_chat")]
pub async fn delete_chat(message: ChatMessageId) -> Result<(), AppError> {
    crate::error::with_status(service::delete(message).await)
}

/// Mutes `user` in the stream's chat for the rest of the stream (`chat_muted` to the stream's room). Muting
/// a muted user is not an error.
///
/// Errors: `Unauthorized` when signed out; `NotFound` for an unknown stream or user; `Forbidden` unless
/// the caller is the stream's seller; `BadRequest` when the seller names themselves.
#[server(prefix = "/api", endpoint = "mute_in_chat")]
pub async fn mute_in_chat(stream: StreamId, user: UserId) -> Result<(), AppError> {
    crate::error::with_status(service::mute(stream, user).await)
}

/// The messages a chat panel shows: loaded history merged with live events that may arrive before or
/// after it, without duplicates (the author gets their message both as the answer and over `/ws`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatLog {
    messages: Vec<ChatMessageView>,
    deleted: Vec<ChatMessageId>,
}

impl ChatLog {
    /// Most messages kept; older ones scroll away.
    pub const CAPACITY: usize = 200;

    /// The messages to show, oldest first.
    pub fn messages(&self) -> &[ChatMessageView] {
        &self.messages
    }

    /// Merges loaded history (oldest first) with what is already here; deleted ids stay deleted.
    pub fn load(&mut self, recent: Vec<ChatMessageView>) {
        let mut merged = recent;
        for m in self.messages.drain(..) {
            if !merged.iter().any(|r| r.id == m.id) {
                merged.push(m);
            }
        }
        merged.retain(|m| !self.deleted.contains(&m.id));
        merged.sort_by_key(|m| (m.sent_at_ms, m.id));
        self.messages = merged;
        self.trim();
    }

    /// Adds one message, unless it is already here or was deleted. Returns whether it was added.
    pub fn push(&mut self, message: ChatMessageView) -> bool {
        if self.deleted.contains(&message.id) || self.messages.iter().any(|m| m.id == message.id) {
            return false;
        }
        let at = self.messages.partition_point(|m| (m.sent_at_ms, m.id) <= (message.sent_at_ms, message.id));
        self.messages.insert(at, message);
        self.trim();
        true
    }

    /// Removes a message, now and if it arrives later.
    pub fn delete(&mut self, id: ChatMessageId) {
        self.messages.retain(|m| m.id != id);
        if !self.deleted.contains(&id) {
            self.deleted.push(id);
        }
    }

    fn trim(&mut self) {
        let extra = self.messages.len().saturating_sub(Self::CAPACITY);
        self.messages.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u128, at: i64) -> ChatMessageView {
        ChatMessageView {
            id: ChatMessageId(uuid::Uuid::from_u128(n)),
            stream: StreamId(uuid::Uuid::from_u128(1)),
            user: UserId(uuid::Uuid::from_u128(2)),
            author: "Ada".into(),
            text: format!("message {n}"),
            from_seller: false,
            sent_at_ms: at,
        }
    }

    fn ids(log: &ChatLog) -> Vec<u128> {
        log.messages().iter().map(|m| m.id.0.as_u128()).collect()
    }

    #[test]
    fn text_is_trimmed_and_limited_to_500_characters() {
        assert_eq!(check_chat_text("  hi  "), Ok("hi".to_string()));
        assert!(check_chat_text("").is_err());
        assert!(check_chat_text(" \n\t ").is_err());
        assert_eq!(check_chat_text(&"é".repeat(500)).map(|t| t.chars().count()), Ok(500));
        assert!(check_chat_text(&"é".repeat(501)).is_err());
        assert!(check_chat_text("a\u{7}b").is_err());
        assert_eq!(check_chat_text("<img src=x onerror=alert(1)>"), Ok("<img src=x onerror=alert(1)>".into()));
    }

    #[test]
    fn live_messages_before_the_history_are_merged_in_order_without_duplicates() {
        let mut log = ChatLog::default();
        assert!(log.push(msg(3, 30)));
        assert!(!log.push(msg(3, 30)));
        log.load(vec![msg(1, 10), msg(2, 20), msg(3, 30)]);
        assert_eq!(ids(&log), [1, 2, 3]);
        assert!(log.push(msg(4, 40)));
        assert_eq!(ids(&log), [1, 2, 3, 4]);
    }

    #[test]
    fn a_deleted_message_stays_gone_even_if_it_arrives_later() {
        let mut log = ChatLog::default();
        log.push(msg(1, 10));
        log.delete(ChatMessageId(uuid::Uuid::from_u128(1)));
        log.delete(ChatMessageId(uuid::Uuid::from_u128(2)));
        assert!(log.messages().is_empty());
        assert!(!log.push(msg(2, 20)));
        log.load(vec![msg(1, 10), msg(2, 20), msg(5, 50)]);
        assert_eq!(ids(&log), [5]);
    }

    #[test]
    fn the_log_keeps_the_newest_messages() {
        let mut log = ChatLog::default();
        for n in 0..(ChatLog::CAPACITY as u128 + 10) {
            log.push(msg(n + 1, n as i64));
        }
        assert_eq!(log.messages().len(), ChatLog::CAPACITY);
        assert_eq!(log.messages()[0].id.0.as_u128(), 11);
    }
}
