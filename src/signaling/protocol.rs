//! The `/ws` wire protocol: `ClientMsg` and `ServerMsg`, shared by the server and the browser (WASM).
//!
//! Every message is one JSON text frame of at most [`MAX_MESSAGE_BYTES`], an object whose `type` field names
//! the variant in `snake_case` (`{"type":"join","room":"call:team-sync"}`). The full reference, with examples
//! and close codes, is `docs/protocol.md`. Signaling payloads (SDP, ICE candidates) are relayed verbatim and
//! never stored; the server stamps `from` itself and never trusts a client's claim of who it is.

use crate::chat::ChatMessageView;
use crate::commerce::{FeaturedProduct, OrderView};
use crate::ids::{ChatMessageId, PeerId, ProductId, StreamId, TestId, UserId};
use crate::live::StreamSummary;
use crate::proctor::{FlagView, StudentState};
use crate::rtc::IceServer;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The protocol version this build speaks. A client names the version it speaks in the `/ws` URL
/// (`/ws?v=1`); the server accepts [`MIN_PROTOCOL_VERSION`]`..=`[`PROTOCOL_VERSION`] (a URL without `v`
/// counts as version 1) and closes any other with [`close_code::UNSUPPORTED_VERSION`] and a reason
/// that says which versions it speaks. [`ServerMsg::Welcome`] repeats the server's version.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version the server still accepts.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Largest accepted WebSocket message and frame, in bytes (64 KiB). Larger ones close the socket with 1009.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Most rooms one connection may be in at once.
pub const MAX_ROOMS_PER_PEER: usize = 16;

/// WebSocket close codes used by the server (RFC 6455 §7.4.1, plus private-use 4000–4999).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A binary frame was sent; the protocol is text (JSON) only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// The text frame was not valid JSON.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Valid JSON but not a known message (unknown `type`, missing or ill-typed field).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message or frame larger than [`super::MAX_MESSAGE_BYTES`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server failed unexpectedly.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// No frame (not even a pong) arrived within the idle timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4001;
    /// The client read too slowly and its bounded send queue filled up.
    pub const SEND_QUEUE_FULL: u16 = 4002;
    /// The client asked for a protocol version (`/ws?v=N`) this server does not speak; the close reason
    /// names the versions it does. Reconnecting with the same version fails again: update or reload.
    pub const UNSUPPORTED_VERSION: u16 = 4003;
}

/// A signaling room: the unit of presence and relay. On the wire a string `"<kind>:<id>"`.
///
/// Kinds, each with its own join permission (`signaling::ws::authorize_join`) and relay rule
/// (`signaling::hub::relay_allowed`):
/// - `call:<slug>`: a video call by link (slug is 1–64 of `a-z 0-9 - _`), open to any signed-in user;
/// - `stream:<uuid>`: a live stream; its seller joins as publisher, everyone else as a receive-only viewer;
/// - `listings:live`: no media; members receive stream started/ended and viewer-count events;
/// - `test:<uuid>`: a proctored test; a student with an open attempt joins as publisher, its invigilators as
///   viewers; students see only the invigilators, never each other;
/// - `match:<n>`: a 1:1 call made by random matching (`find_partner`); only the two matched connections
///   may join it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RoomId {
    /// A video call by link, open to any signed-in user.
    Call(String),
    /// A live shopping stream.
    Stream(StreamId),
    /// The live listings page's event feed.
    Listings,
    /// A proctored test.
    Test(TestId),
    /// A 1:1 call between two randomly matched connections (number given by the server).
    Match(u64),
}

/// Why a string is not a [`RoomId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid room id {0:?}: expected \"call:<slug>\" (slug of 1-64 characters a-z, 0-9, '-' or '_'), \"stream:<uuid>\", \"test:<uuid>\", \"match:<number>\" or \"listings:live\"")]
pub struct InvalidRoomId(pub String);

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl TryFrom<String> for RoomId {
    type Error = InvalidRoomId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.split_once(':') {
            Some(("call", slug)) if valid_slug(slug) => Ok(RoomId::Call(slug.to_string())),
            Some(("stream", id)) => id.parse().map(RoomId::Stream).map_err(|_| InvalidRoomId(s)),
            Some(("listings", "live")) => Ok(RoomId::Listings),
            Some(("test", id)) => id.parse().map(RoomId::Test).map_err(|_| InvalidRoomId(s)),
            Some(("match", n)) if !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse().map(RoomId::Match).map_err(|_| InvalidRoomId(s))
            }
            _ => Err(InvalidRoomId(s)),
        }
    }
}

/// On the wire a room id is a string; its schema names the five shapes.
#[cfg(feature = "ssr")]
impl schemars::JsonSchema for RoomId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RoomId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A signaling room: \"call:<slug>\" (slug of 1-64 characters a-z, 0-9, '-' or '_'), \"stream:<uuid>\", \"test:<uuid>\", \"match:<number>\" or \"listings:live\".",
            "pattern": "^(call:[a-z0-9_-]{1,64}|stream:[0-9a-fA-F-]{36}|test:[0-9a-fA-F-]{36}|match:[0-9]{1,20}|listings:live)$"
        })
    }
}

impl From<RoomId> for String {
    fn from(room: RoomId) -> String {
        room.to_string()
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomId::Call(slug) => write!(f, "call:{slug}"),
            RoomId::Stream(id) => write!(f, "stream:{id}"),
            RoomId::Listings => f.write_str("listings:live"),
            RoomId::Test(id) => write!(f, "test:{id}"),
            RoomId::Match(n) => write!(f, "match:{n}"),
        }
    }
}

/// What a member does in a room; decided by the server from the room's rules, never by the client.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// An equal participant (video calls).
    #[default]
    Member,
    /// Sends media to every viewer (a live stream's seller).
    Publisher,
    /// Receives media from the publisher only.
    Viewer,
}

/// A WebRTC signaling payload, relayed verbatim between two peers of one room (RFC 8829 JSEP).
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// An SDP offer (`RTCSessionDescription` of type `offer`).
    Offer { sdp: String },
    /// An SDP answer (`RTCSessionDescription` of type `answer`).
    Answer { sdp: String },
    /// One trickled ICE candidate (RFC 8838), as in `RTCIceCandidateInit`.
    Candidate {
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_m_line_index: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username_fragment: Option<String>,
    },
    /// The sender has gathered all its candidates (end-of-candidates, RFC 8838 §8.2).
    EndOfCandidates,
    /// Asks the sender of the media for a layer: `high` = full resolution and frame rate, otherwise the
    /// low thumbnail layer (≤ 320×240, ≤ 10 fps). Sent by a receive-only peer (an invigilator opening or
    /// closing a student's stream); the sender changes its encoding parameters, no renegotiation.
    PreferredLayer { high: bool },
    /// Asks the receiver, the offering side, to restart ICE (RFC 8445 §2.4) with a new offer; sent by a
    /// receive-only peer whose connection failed.
    RestartIce,
}

/// A member of a room as other members see it.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The member's connection.
    pub peer: PeerId,
    /// The signed-in account behind the connection.
    pub user: UserId,
    /// The account's display name (plain text, render as text).
    pub name: String,
    /// The member's role in the room this info was sent for.
    #[serde(default)]
    pub role: MemberRole,
}

/// What a client may send.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Enter a room. Answered by [`ServerMsg::Joined`] or [`ServerMsg::Error`].
    Join { room: RoomId },
    /// Leave a room. Answered by [`ServerMsg::Left`].
    Leave { room: RoomId },
    /// Relay `signal` to peer `to`; both must be in `room`. The receiver gets [`ServerMsg::Signal`].
    Signal { room: RoomId, to: PeerId, signal: Signal },
    /// Application-level keepalive; answered by [`ServerMsg::Pong`] with the same nonce.
    Ping { nonce: u64 },
    /// Random matching: end the current match, if any (the partner gets [`ServerMsg::PartnerLeft`]), and wait
    /// for a partner. Answered by [`ServerMsg::MatchWaiting`], then [`ServerMsg::Matched`] when paired.
    FindPartner,
    /// Random matching: leave the queue or end the current match (the partner gets
    /// [`ServerMsg::PartnerLeft`]). Answered by [`ServerMsg::MatchStopped`]. Disconnecting does the same.
    StopMatching,
    /// Asks for fresh ICE servers (new TURN credentials) for a media room the sender is in. Answered by
    /// [`ServerMsg::IceServers`]; `error` `not_in_room` otherwise. Send it before the credentials of the
    /// last [`IceConfig`] expire and before an ICE restart.
    RefreshIce { room: RoomId },
    /// Media through the server's forwarding unit (SFU) in a `stream:*` room whose `joined` said
    /// `"delivery": "sfu"`. The seller's offer publishes (audio and video `sendonly`), a viewer's offer
    /// subscribes (`recvonly`; a viewer's offer that sends media is `forbidden`). `signal` is an `offer`
    /// (each offer starts a new forwarding-unit connection for this member, replacing its previous one: there
    /// is no renegotiation or ICE restart on one connection, make a new one instead), then the offer's
    /// trickled `candidate`s and `end_of_candidates`. The offer is answered by [`ServerMsg::SfuSignal`]; a
    /// viewer subscribes once [`ServerMsg::SfuPublishing`] says the seller's media is there.
    /// Errors: `not_in_room`, `forbidden` (not a stream room, delivery is `p2p`, a viewer that sends media,
    /// or another kind of signal), `not_publishing`, `no_such_room` (the stream has ended), `invalid_signal`
    /// (the SDP or candidate did not parse, or a candidate before any offer). A refused viewer offer leaves
    /// the viewer's previous connection as it was; a seller's offer closes the seller's previous connection
    /// first.
    SfuSignal { room: RoomId, signal: Signal },
}

/// How a live stream's media reaches its viewers (in `joined` of `stream:*` rooms).
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// The seller's browser sends to each viewer over its own peer connection; signals are relayed with
    /// `signal` (the seller offers to each viewer).
    P2p,
    /// The seller publishes once to the server's forwarding unit (SFU), which forwards to every viewer;
    /// both sides offer to the server with `sfu_signal`.
    Sfu,
}

/// The STUN/TURN servers for the peer connections of one room (`RTCConfiguration.iceServers`).
///
/// TURN entries carry short-lived credentials of the TURN REST API (draft-uberti-behave-turn-rest-00):
/// username `"<expiry unix seconds>:<user id>"`, credential `base64(HMAC-SHA1(secret, username))`, issued only
/// to a member of the room and valid for at most one hour. `expires_at_ms` is when the earliest of them stops
/// working (milliseconds since the Unix epoch, UTC), absent when no entry expires (STUN only, or none).
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceConfig {
    /// Pass as `iceServers` to `new RTCPeerConnection(...)` / `setConfiguration(...)`. May be empty: peers on
    /// one network need no server.
    pub servers: Vec<IceServer>,
    /// When the TURN credentials expire, in ms since the Unix epoch; ask again with `refresh_ice` before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

fn default_protocol() -> u32 {
    1
}

/// Machine-readable reason in [`ServerMsg::Error`].
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The sender is not in the room it named.
    NotInRoom,
    /// The addressed peer is not in that room (never joined, left, or disconnected).
    PeerNotInRoom,
    /// The sender may not do this in this room.
    Forbidden,
    /// The connection is already in [`MAX_ROOMS_PER_PEER`] rooms.
    TooManyRooms,
    /// The room does not exist (e.g. a stream that has ended).
    NoSuchRoom,
    /// The room already has as many members as it allows (6 in a call by link).
    RoomFull,
    /// Nobody is publishing this stream to the forwarding unit right now (wait for `sfu_publishing`).
    NotPublishing,
    /// An `sfu_signal` whose SDP or ICE candidate did not parse, or a candidate before any offer.
    InvalidSignal,
    /// Too many `sfu_signal` offers from this user in a short time (30 a minute by default); nothing was
    /// changed, try again in a few seconds.
    RateLimited,
    /// Sent, with `room`, to a seller's page whose forwarding-unit connection was closed because another page
    /// of the same seller (a second tab or device) published the stream: it should stop sending and not
    /// reconnect until its user asks to send from it again (which makes the other page get this).
    PublishingElsewhere,
}

/// What the server sends.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First message on every connection: who the server says you are, and the protocol version it speaks.
    Welcome {
        peer: PeerId,
        user: UserId,
        name: String,
        /// [`PROTOCOL_VERSION`] of the server.
        #[serde(default = "default_protocol")]
        protocol: u32,
    },
    /// You are in `room`; `peers` are the other members, oldest first. `ice` is set for rooms with media
    /// (`call`, `stream`, `test`, `match`), absent for `listings:live`.
    Joined {
        room: RoomId,
        peers: Vec<PeerInfo>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ice: Option<IceConfig>,
        /// How the media of a `stream:*` room travels; absent for other rooms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery: Option<Delivery>,
    },
    /// Fresh ICE servers for `room` (answer to [`ClientMsg::RefreshIce`]). Use them for new connections and
    /// the next ICE restart (`setConfiguration`).
    IceServers { room: RoomId, ice: IceConfig },
    /// You left `room` (answer to [`ClientMsg::Leave`]).
    Left { room: RoomId },
    /// Someone entered a room you are in.
    PeerJoined { room: RoomId, peer: PeerInfo },
    /// Someone left a room you are in, or disconnected.
    PeerLeft { room: RoomId, peer: PeerId },
    /// A relayed signal; `from` and `from_user` are stamped by the server.
    Signal { room: RoomId, from: PeerId, from_user: UserId, signal: Signal },
    /// Answer to [`ClientMsg::Ping`].
    Pong { nonce: u64 },
    /// A live stream started (sent to `listings:live`).
    StreamStarted { stream: StreamSummary },
    /// A live stream ended (sent to `listings:live` and to the stream's room).
    StreamEnded { stream: StreamId },
    /// The number of distinct signed-in viewers of a stream changed (sent to `listings:live` and the stream's room).
    ViewerCount { stream: StreamId, viewers: u32 },
    /// The stream's publisher lost its connection (`connected: false`; the stream ends unless it is back
    /// within the grace period) or came back (`connected: true`; it will send new offers).
    PublisherStatus { stream: StreamId, connected: bool },
    /// The products featured in a stream changed; `products` is the whole new list (at most 3), in display
    /// order (sent to the stream's room).
    FeaturedChanged { stream: StreamId, products: Vec<FeaturedProduct> },
    /// A featured product's stock changed, e.g. after an order; 0 means sold out (sent to the stream's room).
    StockChanged { stream: StreamId, product: ProductId, stock: i32 },
    /// An order was placed in the seller's stream (sent to the stream's publisher only).
    OrderPlaced { stream: StreamId, order: OrderView },
    /// Orders and revenue of a stream so far (sent to the stream's publisher only).
    SalesStats { stream: StreamId, orders: u32, revenue_cents: i64 },
    /// A new chat message in a stream (sent to the stream's room).
    ChatMessage { stream: StreamId, message: ChatMessageView },
    /// The seller deleted a chat message: remove it (sent to the stream's room).
    ChatDeleted { stream: StreamId, message: ChatMessageId },
    /// The seller muted a user for the rest of the stream (sent to the stream's room).
    ChatMuted { stream: StreamId, user: UserId },
    /// A student's state on the grid changed (sent to the test's invigilators only).
    StudentStateChanged { test: TestId, student: UserId, state: StudentState, since_ms: i64 },
    /// A student's page raised a flag (sent to the test's invigilators only).
    FlagRaised { test: TestId, flag: FlagView },
    /// An invigilator's message to this student (sent to that student's connections only).
    Attention { test: TestId, from: String, text: String },
    /// Random matching: you are waiting for a partner; `waiting` people (you included) are in the queue.
    MatchWaiting { waiting: u32 },
    /// Random matching: you were paired with `partner`; join `room` (a `match:<n>` room) to call them. The
    /// member with the higher peer id is the polite peer of the pair (perfect negotiation).
    Matched { room: RoomId, partner: PeerInfo },
    /// Random matching: your partner in `room` pressed Next, left or disconnected. You are not queued again
    /// until you send `find_partner`.
    PartnerLeft { room: RoomId },
    /// Random matching: you left the queue or ended your match (answer to `stop_matching`).
    MatchStopped,
    /// The forwarding unit's side of an `sfu_signal` exchange in `room`: the `answer` to your offer.
    SfuSignal { room: RoomId, signal: Signal },
    /// Whether the seller's media is at the forwarding unit (its connection is up): sent to a viewer right
    /// after `joined` (`true` or `false`), and to every viewer whenever it changes. On `true`, (re)subscribe with an
    /// `sfu_signal` offer; on `false`, the viewer's connection has been closed (the seller dropped or
    /// ended), wait for the next `true`.
    SfuPublishing { room: RoomId, publishing: bool },
    /// How many viewer connections the forwarding unit has open for the stream in `room` now (sent to the
    /// stream's publisher whenever one connects or closes).
    SfuSubscribers { room: RoomId, subscribers: u32 },
    /// A request was refused; nothing changed. `message` is for people, `code` for programs.
    /// `room` names the room of a refused `join` (absent for other requests).
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomId>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug>(value: T) {
        let json = serde_json::to_string(&value).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(back, value, "{json}");
    }

    fn room() -> RoomId {
        RoomId::Call("team-sync".into())
    }

    fn signals() -> Vec<Signal> {
        vec![
            Signal::Offer { sdp: "v=0\r\n".into() },
            Signal::Answer { sdp: "v=0\r\n".into() },
            Signal::Candidate {
                candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: None,
            },
            Signal::EndOfCandidates,
            Signal::RestartIce,
        ]
    }

    #[test]
    fn every_client_message_round_trips() {
        round_trip(ClientMsg::Join { room: room() });
        round_trip(ClientMsg::Leave { room: room() });
        round_trip(ClientMsg::Ping { nonce: 7 });
        round_trip(ClientMsg::FindPartner);
        round_trip(ClientMsg::StopMatching);
        round_trip(ClientMsg::RefreshIce { room: room() });
        round_trip(ClientMsg::Join { room: RoomId::Match(42) });
        round_trip(ClientMsg::SfuSignal { room: room(), signal: Signal::Offer { sdp: "v=0\r\n".into() } });
        for signal in signals() {
            round_trip(ClientMsg::Signal { room: room(), to: PeerId(3), signal });
        }
    }

    #[test]
    fn every_server_message_round_trips() {
        let user = UserId(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
        let info = PeerInfo { peer: PeerId(1), user, name: "Ada <b>".into(), role: MemberRole::Publisher };
        let stream = StreamId(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002));
        round_trip(ServerMsg::Welcome { peer: PeerId(1), user, name: "Ada".into(), protocol: PROTOCOL_VERSION });
        round_trip(ServerMsg::Joined { room: room(), peers: vec![info.clone()], ice: None, delivery: None });
        round_trip(ServerMsg::Joined {
            room: RoomId::Stream(stream),
            peers: vec![],
            ice: None,
            delivery: Some(Delivery::Sfu),
        });
        round_trip(ServerMsg::SfuSignal { room: room(), signal: Signal::Answer { sdp: "v=0\r\n".into() } });
        round_trip(ServerMsg::SfuPublishing { room: RoomId::Stream(stream), publishing: true });
        round_trip(ServerMsg::SfuSubscribers { room: RoomId::Stream(stream), subscribers: 3 });
        let ice = IceConfig {
            servers: vec![IceServer {
                urls: vec!["turn:turn.example.net:3478?transport=udp".into()],
                username: Some("1700003600:u".into()),
                credential: Some("c2VjcmV0".into()),
            }],
            expires_at_ms: Some(1_700_003_600_000),
        };
        round_trip(ServerMsg::Joined { room: room(), peers: vec![], ice: Some(ice.clone()), delivery: None });
        round_trip(ServerMsg::IceServers { room: room(), ice });
        round_trip(ServerMsg::Left { room: room() });
        round_trip(ServerMsg::PeerJoined { room: room(), peer: info });
        round_trip(ServerMsg::PeerLeft { room: room(), peer: PeerId(1) });
        round_trip(ServerMsg::Pong { nonce: 9 });
        round_trip(ServerMsg::StreamStarted {
            stream: StreamSummary {
                id: stream,
                title: "Vintage cameras".into(),
                seller_name: "Sam".into(),
                category: "Collectibles".into(),
                category_slug: "collectibles".into(),
                viewers: 3,
                started_at_ms: 1_700_000_000_000,
            },
        });
        round_trip(ServerMsg::StreamEnded { stream });
        round_trip(ServerMsg::ViewerCount { stream, viewers: 2 });
        round_trip(ServerMsg::PublisherStatus { stream, connected: false });
        for code in [
            ErrorCode::NotInRoom,
            ErrorCode::PeerNotInRoom,
            ErrorCode::Forbidden,
            ErrorCode::TooManyRooms,
            ErrorCode::NoSuchRoom,
            ErrorCode::RoomFull,
            ErrorCode::NotPublishing,
            ErrorCode::InvalidSignal,
            ErrorCode::RateLimited,
            ErrorCode::PublishingElsewhere,
        ] {
            round_trip(ServerMsg::Error { code, message: "no".into(), room: None });
            round_trip(ServerMsg::Error { code, message: "no".into(), room: Some(room()) });
        }
        round_trip(ServerMsg::MatchWaiting { waiting: 2 });
        round_trip(ServerMsg::Matched {
            room: RoomId::Match(7),
            partner: PeerInfo { peer: PeerId(2), user, name: "Bo".into(), role: MemberRole::Member },
        });
        round_trip(ServerMsg::PartnerLeft { room: RoomId::Match(7) });
        round_trip(ServerMsg::MatchStopped);
        for signal in signals() {
            round_trip(ServerMsg::Signal { room: room(), from: PeerId(2), from_user: user, signal });
        }
    }

    #[test]
    fn wire_format_is_tagged_snake_case() {
        let json = serde_json::to_value(ClientMsg::Signal {
            room: room(),
            to: PeerId(4),
            signal: Signal::Offer { sdp: "x".into() },
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"signal","room":"call:team-sync","to":4,"signal":{"kind":"offer","sdp":"x"}})
        );
    }

    #[test]
    fn room_ids_are_validated() {
        assert!(serde_json::from_str::<RoomId>("\"call:ok-1_a\"").is_ok());
        assert_eq!(serde_json::from_str::<RoomId>("\"listings:live\"").unwrap(), RoomId::Listings);
        assert_eq!(serde_json::from_str::<RoomId>("\"match:17\"").unwrap(), RoomId::Match(17));
        let stream: RoomId = serde_json::from_str("\"stream:0190a000-0000-7000-8000-000000000001\"").unwrap();
        assert_eq!(stream.to_string(), "stream:0190a000-0000-7000-8000-000000000001");
        for bad in [
            "\"call:\"",
            "\"call:UPPER\"",
            "\"lobby\"",
            "\"nope:x\"",
            "\"call:a b\"",
            "\"stream:42\"",
            "\"listings:all\"",
            "\"match:\"",
            "\"match:-1\"",
            "\"match:x\"",
            "\"match:99999999999999999999999\"",
        ] {
            assert!(serde_json::from_str::<RoomId>(bad).is_err(), "{bad}");
        }
        let long = format!("\"call:{}\"", "a".repeat(65));
        assert!(serde_json::from_str::<RoomId>(&long).is_err());
    }

    #[test]
    fn older_messages_still_parse() {
        // A `welcome` without `protocol` (from a version-1 server before the field existed) and a `joined`
        // without `ice` are still understood.
        let welcome: ServerMsg = serde_json::from_str(
            r#"{"type":"welcome","peer":1,"user":"0190a000-0000-7000-8000-000000000001","name":"A"}"#,
        )
        .unwrap();
        assert!(matches!(welcome, ServerMsg::Welcome { protocol: 1, .. }));
        let joined: ServerMsg = serde_json::from_str(r#"{"type":"joined","room":"call:a","peers":[]}"#).unwrap();
        assert!(matches!(joined, ServerMsg::Joined { ice: None, .. }));
    }

    #[test]
    fn unknown_type_is_rejected() {
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"shout","room":"call:a"}"#).is_err());
        // Clients cannot send server-only messages such as a stamped signal.
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"welcome","peer":1}"#).is_err());
    }
}
