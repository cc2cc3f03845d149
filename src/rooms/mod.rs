//! Video rooms: calls by link (a mesh of up to 6, `call:<slug>` signaling rooms) and random 1:1 partner
//! matching (`match:<n>` rooms), with the in-call controls, data-channel chat and quality badges in
//! [`components`]. Durable state is the `rooms` row (name and link); who is in a call lives in the hub, and
//! the matching queue in [`matcher`] (server memory).

pub mod components;
#[cfg(feature = "ssr")]
pub mod matcher;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod service;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 80;
/// Longest data-channel chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 500;

/// A room as its page and the room list show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomView {
    /// The room's key in its link (`/rooms/<slug>`): 1–64 of `a-z 0-9 - _`.
    pub slug: String,
    /// Plain text; render as text.
    pub name: String,
    /// Display name of the person who created it.
    pub created_by_name: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub created_at_ms: i64,
    /// Connections in the call now (0–6).
    pub participants: u32,
}

/// Checks a room name after trimming: 1–80 characters, no control characters.
///
/// # Errors
/// `AppError::Validation` on field `name` with a message a person can act on.
pub fn validate_room_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    match name.chars().count() {
        0 => Err(AppError::invalid("name", "Give the room a name.")),
        n if n > MAX_ROOM_NAME_CHARS => Err(AppError::invalid("name", "Room names are at most 80 characters.")),
        _ if name.chars().any(char::is_control) => {
            Err(AppError::invalid("name", "Room names cannot contain control characters."))
        }
        _ => Ok(name.to_string()),
    }
}

/// Whether `slug` has the shape of a room link key (1–64 of `a-z 0-9 - _`).
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 64
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Creates a room named `name` (1–80 characters) for the signed-in user and returns it with a new random
/// link key such as `kqz-rmtd-wpa`.
///
/// Errors: `Unauthorized` when signed out; `Validation` for a bad name.
#[server(prefix = "/api", endpoint = "create_room")]
pub async fn create_room(name: String) -> Result<RoomView, AppError> {
    crate::error::with_status(service::create_room(&name).await)
}

/// One room by its link key. Errors: `NotFound` for an unknown or malformed key.
#[server(prefix = "/api", endpoint = "room")]
pub async fn get_room(slug: String) -> Result<RoomView, AppError> {
    crate::error::with_status(service::room(&slug).await)
}

/// The rooms the signed-in user created, newest first (at most 20). Errors: `Unauthorized` when signed out.
#[server(prefix = "/api", endpoint = "my_rooms")]
pub async fn my_rooms() -> Result<Vec<RoomView>, AppError> {
    crate::error::with_status(service::my_rooms().await)
}

/// A message on a call's data channel (`RTCDataChannel`, peer to peer, never through the server), as JSON
/// text: `{"t":"state","audio":true,"video":false,"screen":false}` or `{"t":"chat","text":"hi","sent_at_ms":…}`.
/// The sender's name is not in the message: the receiver takes it from the server-stamped presence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum DataMsg {
    /// The sender's microphone, camera and screen share (sent when the channel opens and on every change).
    State { audio: bool, video: bool, screen: bool },
    /// A chat line (1–500 characters; longer ones are dropped by the receiver).
    Chat { text: String, sent_at_ms: i64 },
}

impl DataMsg {
    /// Parses a data-channel message; `None` for anything malformed or over the limits (ignored).
    pub fn parse(text: &str) -> Option<DataMsg> {
        if text.len() > 4 * MAX_CHAT_CHARS + 200 {
            return None;
        }
        match serde_json::from_str::<DataMsg>(text).ok()? {
            DataMsg::Chat { text, .. } if text.trim().is_empty() || text.chars().count() > MAX_CHAT_CHARS => None,
            msg => Some(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_checked() {
        assert_eq!(validate_room_name("  Team sync ").unwrap(), "Team sync");
        assert!(validate_room_name("   ").is_err());
        assert!(validate_room_name(&"x".repeat(81)).is_err());
        assert!(validate_room_name("a\u{7}b").is_err());
        assert!(validate_room_name(&"é".repeat(80)).is_ok());
    }

    #[test]
    fn data_messages_parse_and_refuse_bad_input() {
        let state = DataMsg::State { audio: false, video: true, screen: false };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(json, r#"{"t":"state","audio":false,"video":true,"screen":false}"#);
        assert_eq!(DataMsg::parse(&json), Some(state));
        let chat = r#"{"t":"chat","text":"<b>hi</b>","sent_at_ms":1}"#;
        assert!(matches!(DataMsg::parse(chat), Some(DataMsg::Chat { text, .. }) if text == "<b>hi</b>"));
        assert_eq!(DataMsg::parse(r#"{"t":"chat","text":"  ","sent_at_ms":1}"#), None);
        let long = format!(r#"{{"t":"chat","text":"{}","sent_at_ms":1}}"#, "a".repeat(501));
        assert_eq!(DataMsg::parse(&long), None);
        assert_eq!(DataMsg::parse("not json"), None);
        assert_eq!(DataMsg::parse(r#"{"t":"shout"}"#), None);
    }
}
