//! The `/ws` route: upgrade checks (session, Origin, size limits), the per-connection loop (heartbeat,
//! bounded send queue, close codes) and the permission check before each hub operation.

use crate::auth::backend::{AuthSession, User};
use crate::live::service as live;
use crate::server::state::AppState;
use crate::signaling::hub::{Outbox, Registration};
use crate::signaling::protocol::{
    close_code, ClientMsg, ErrorCode, IceConfig, MemberRole, RoomId, ServerMsg, Signal, MAX_MESSAGE_BYTES,
    MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// A write that does not finish within this time means the client stopped reading: drop it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Initial read buffer of each connection, in bytes (also the most read per system call).
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// Bytes of queued frames gathered into one socket write.
const WRITE_BATCH_BYTES: usize = 16 * 1024;
/// Queued messages written with one flush at most.
const WRITE_BATCH_MESSAGES: usize = 64;

/// `GET /ws[?v=<protocol version>]`: upgrades to a WebSocket for a signed-in user from an allowed Origin.
///
/// Refuses with 403 when the `Origin` header is missing or not in `--allowed-origins`, and with 401 when
/// the request has no valid session; in both cases there is no upgrade. A version outside
/// [`MIN_PROTOCOL_VERSION`]`..=`[`PROTOCOL_VERSION`] is upgraded and closed at once with
/// [`close_code::UNSUPPORTED_VERSION`] (browsers cannot read an HTTP refusal, but they do see a close code
/// and reason). No `v` means version 1.
pub async fn ws_handler(
    State(state): State<AppState>,
    auth: AuthSession,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if !origin.is_some_and(|o| state.allowed_origins.iter().any(|allowed| allowed == o)) {
        tracing::info!(?origin, "refused /ws upgrade: origin not allowed");
        return (StatusCode::FORBIDDEN, "This origin may not open a WebSocket here.").into_response();
    }
    let Some(user) = auth.user else {
        return (StatusCode::UNAUTHORIZED, "Log in first.").into_response();
    };
    if let Err(reason) = check_version(query.as_deref()) {
        tracing::info!(?query, "closing /ws: unsupported protocol version");
        return ws.on_upgrade(move |mut socket| async move {
            let frame = CloseFrame { code: close_code::UNSUPPORTED_VERSION, reason: reason.into() };
            let _ = timeout(Duration::from_secs(1), socket.send(Message::Close(Some(frame)))).await;
        });
    }
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        // Allocated up front for every connection, so it dominates idle memory (docs/benchmarks.md); a frame
        // larger than this grows it as needed.
        .read_buffer_size(READ_BUFFER_BYTES)
        // Frames queued together are written together (see `send_queued`): up to 16 KiB per write call.
        // The buffer grows only while a burst is being written, so an idle socket keeps almost nothing.
        .write_buffer_size(WRITE_BATCH_BYTES)
        .max_write_buffer_size(1024 * 1024)
        .on_upgrade(move |socket| serve_socket(socket, state, user))
}

/// The protocol version named by the query string (`v=<n>`; absent means 1), or the close reason
/// (at most 123 bytes, RFC 6455 §5.5) for one this server does not speak.
pub fn check_version(query: Option<&str>) -> Result<u32, String> {
    let requested = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("v="))
        .map(|v| v.parse::<u32>().map_err(|_| ()))
        .unwrap_or(Ok(1));
    match requested {
        Ok(v) if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&v) => Ok(v),
        Ok(v) => Err(format!(
            "protocol version {v} is not supported; this server speaks {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}: update the app"
        )),
        Err(()) => Err(format!("invalid protocol version; send /ws?v={PROTOCOL_VERSION}")),
    }
}

/// The ICE servers for a member of `room`: none for `listings:live` (no media), else
/// [`crate::server::turn::ice_config`] for `user` with the configured TTL.
fn ice_for(state: &AppState, user: &User, room: &RoomId) -> Option<IceConfig> {
    if *room == RoomId::Listings {
        return None;
    }
    let config = &state.config;
    Some(crate::server::turn::ice_config(
        config,
        Some(&user.id.to_string()),
        crate::server::turn::unix_now(),
        config.turn_ttl_secs,
    ))
}

/// May `user` enter `room`, and in which role? Default deny: each room kind names its rule.
///
/// - `call:*`: any signed-in user, as `Member` (a link needs no database row: the room page checks that);
/// - `stream:*`: the stream must be live (`NoSuchRoom` otherwise); its seller is `Publisher`, anyone else `Viewer`;
/// - `listings:live`: any signed-in user, as `Member`;
/// - `test:*`: the test's invigilators as `Viewer`, its students with an open attempt as `Publisher`
///   (`Forbidden` for anyone else);
/// - `match:<n>`: only the two connections paired as `n` by random matching, as `Member` (`NoSuchRoom` once
///   the pair has ended).
///
/// Capacity (6 per call, 2 per match) is enforced by the hub when the member is added.
pub async fn authorize_join(
    state: &AppState,
    user: &User,
    peer: crate::ids::PeerId,
    room: &RoomId,
) -> Result<MemberRole, ErrorCode> {
    match room {
        RoomId::Call(_) | RoomId::Listings => Ok(MemberRole::Member),
        RoomId::Match(pair) => crate::rooms::service::authorize_match_join(state, peer, *pair),
        RoomId::Stream(stream) => live::role_in_stream(state, user, *stream).await,
        RoomId::Test(test) => crate::proctor::service::role_in_test_room(state, user, *test).await,
    }
}

async fn serve_socket(mut socket: WebSocket, state: AppState, user: User) {
    let Registration { peer, mut outbox, kicked } = state.hub.register(user.id, user.display_name.clone());
    tracing::debug!(%peer, user = %user.id, "ws connected");
    let mut shutdown = state.shutdown.clone();
    let ping_every = Duration::from_millis(state.config.ws_ping_interval_ms.max(10));
    let idle_limit = Duration::from_millis(state.config.ws_idle_timeout_ms.max(10));
    let mut ticker = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();

    // Both waits live as long as the loop: created (and registered with their notifiers) once, not on every
    // message. Re-creating them per wake took and released the shutdown channel's shared waiter lock twice
    // per message on every connection, a cost paid 5,000 times over by one chat message to 5,000 viewers.
    let already_shut = *shutdown.borrow_and_update();
    let shut_down = shutdown.changed();
    tokio::pin!(shut_down);
    let kicked_out = kicked.notified();
    tokio::pin!(kicked_out);
    let close: Option<(u16, &'static str)> = loop {
        if already_shut {
            break Some((close_code::GOING_AWAY, "server shutting down"));
        }
        tokio::select! {
            _ = &mut shut_down => {
                break Some((close_code::GOING_AWAY, "server shutting down"));
            }
            _ = &mut kicked_out => {
                tracing::info!(%peer, "ws send queue full; disconnecting slow reader");
                break Some((close_code::SEND_QUEUE_FULL, "send queue full: the client reads too slowly"));
            }
            out = outbox.recv() => match out {
                Some(text) => {
                    if !send_queued(&mut socket, text, &mut outbox).await {
                        break None;
                    }
                }
                None => break None,
            },
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    None | Some(Ok(Message::Close(_))) => break None,
                    Some(Err(e)) => break close_for_read_error(&e),
                    Some(Ok(Message::Binary(_))) => {
                        break Some((close_code::UNSUPPORTED_DATA, "binary frames are not supported; send JSON text"));
                    }
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientMsg>(&text) {
                        // The hot path (relay) runs inline. Join and leave may query the database; their
                        // futures are large, so they are boxed to keep every connection's task small.
                        Ok(ClientMsg::Signal { room, to, signal }) => {
                            refuse_on_error(&state, peer, state.hub.relay(peer, &room, to, signal));
                        }
                        Ok(msg) => Box::pin(handle(&state, &user, peer, msg)).await,
                        Err(e) => break Some(close_for_parse_error(&e)),
                    },
                    Some(Ok(_ping_or_pong)) => {}
                }
            }
            _ = ticker.tick() => {
                if last_heard.elapsed() >= idle_limit {
                    break Some((close_code::HEARTBEAT_TIMEOUT, "no heartbeat"));
                }
                if !send(&mut socket, Message::Ping(Bytes::new())).await {
                    break None;
                }
            }
        }
    };

    crate::rooms::service::stop_matching(&state, peer, false);
    for (room, role) in state.hub.unregister(peer) {
        Box::pin(member_left(&state, &user, peer, &room, role)).await;
    }
    if let Some((code, reason)) = close {
        tracing::debug!(%peer, code, reason, "closing ws");
        let frame = CloseFrame { code, reason: reason.into() };
        // Closing handshake (RFC 6455 §7.1.2): send our Close, then read until the client's Close so that
        // its in-flight frames (e.g. pongs) do not turn the close into a connection reset. Bounded to 1 s.
        let _ = timeout(Duration::from_secs(1), async {
            if socket.send(Message::Close(Some(frame))).await.is_ok() {
                while let Some(Ok(msg)) = socket.recv().await {
                    if matches!(msg, Message::Close(_)) {
                        break;
                    }
                }
            }
        })
        .await;
    }
    tracing::debug!(%peer, "ws disconnected");
}

/// Writes one message; `false` when the socket is broken or the client stopped reading.
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(timeout(WRITE_TIMEOUT, socket.send(msg)).await, Ok(Ok(())))
}

/// Writes `first` and whatever else is already queued for this socket (at most [`WRITE_BATCH_MESSAGES`]),
/// then flushes once: a burst (a busy relay, a chat storm) costs one write system call per
/// [`WRITE_BATCH_BYTES`] instead of one per message. Never waits for more messages to arrive. `false`
/// when the socket is broken or the client stopped reading.
async fn send_queued(socket: &mut WebSocket, first: Utf8Bytes, outbox: &mut Outbox) -> bool {
    let write = async {
        socket.feed(Message::Text(first)).await?;
        for _ in 1..WRITE_BATCH_MESSAGES {
            match outbox.try_recv() {
                Some(text) => socket.feed(Message::Text(text)).await?,
                None => break,
            }
        }
        socket.flush().await
    };
    matches!(timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())))
}

fn close_for_read_error(err: &axum::Error) -> Option<(u16, &'static str)> {
    use std::error::Error as _;
    match err.source().and_then(|s| s.downcast_ref::<tungstenite::Error>()) {
        Some(tungstenite::Error::Capacity(_)) => Some((close_code::MESSAGE_TOO_BIG, "message larger than 64 KiB")),
        Some(tungstenite::Error::Utf8(_)) => Some((close_code::INVALID_PAYLOAD, "text frame is not valid UTF-8")),
        Some(tungstenite::Error::Protocol(_)) => Some((close_code::POLICY_VIOLATION, "WebSocket protocol error")),
        _ => None,
    }
}

fn close_for_parse_error(err: &serde_json::Error) -> (u16, &'static str) {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => (close_code::POLICY_VIOLATION, "unknown message type or invalid fields"),
        Category::Syntax | Category::Eof | Category::Io => (close_code::INVALID_PAYLOAD, "message is not valid JSON"),
    }
}

/// The `error` message for `code` (about `room`, if given), with its text for people (clients act on the code).
pub fn error_msg(code: ErrorCode, room: Option<RoomId>) -> ServerMsg {
    ServerMsg::Error { code, message: error_message(code).into(), room }
}

fn error_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotInRoom => "Join the room first.",
        ErrorCode::PeerNotInRoom => "That peer is not in this room.",
        ErrorCode::Forbidden => "You may not do this in this room.",
        ErrorCode::TooManyRooms => "Leave a room before joining another one.",
        ErrorCode::NoSuchRoom => "That room does not exist or has ended.",
        ErrorCode::RoomFull => "This room is full.",
        ErrorCode::NotPublishing => "The seller's video is not at the server right now; wait for it.",
        ErrorCode::InvalidSignal => "That offer or ICE candidate could not be read.",
        ErrorCode::RateLimited => "Too many connection attempts; try again in a few seconds.",
        ErrorCode::PublishingElsewhere => "Your video is now sent from another tab or device.",
    }
}

async fn handle(state: &AppState, user: &User, peer: crate::ids::PeerId, msg: ClientMsg) {
    let hub = &state.hub;
    let result = match msg {
        ClientMsg::Join { room } => {
            let joined = match authorize_join(state, user, peer, &room).await {
                Ok(role) => hub.join(peer, &room, role).map(|peers| (role, peers)),
                Err(code) => Err(code),
            };
            match joined {
                Ok((role, peers)) => {
                    let ice = ice_for(state, user, &room);
                    let delivery = crate::live::delivery::delivery_for(state, &room);
                    hub.send(peer, &ServerMsg::Joined { room: room.clone(), peers, ice, delivery });
                    crate::live::delivery::member_joined(state, peer, &room, role);
                    live::member_joined(state, &room, role).await;
                    crate::proctor::service::member_joined(state, user, &room, role).await;
                }
                Err(code) => hub.send(peer, &error_msg(code, Some(room))),
            }
            Ok(())
        }
        ClientMsg::Leave { room } => {
            if let Some(role) = hub.leave(peer, &room) {
                member_left(state, user, peer, &room, role).await;
            }
            hub.send(peer, &ServerMsg::Left { room });
            Ok(())
        }
        ClientMsg::Signal { room, to, signal } => hub.relay(peer, &room, to, signal),
        // Each offer starts a connection at the forwarding unit: a flood of them is refused before anything.
        ClientMsg::SfuSignal { signal: Signal::Offer { .. }, .. }
            if state.sfu_offer_limiter.check_key(&user.id).is_err() =>
        {
            Err(ErrorCode::RateLimited)
        }
        ClientMsg::SfuSignal { room, signal } => crate::live::delivery::handle_signal(state, peer, room, signal).await,
        ClientMsg::Ping { nonce } => {
            hub.send(peer, &ServerMsg::Pong { nonce });
            Ok(())
        }
        ClientMsg::FindPartner => {
            crate::rooms::service::find_partner(state, user, peer);
            Ok(())
        }
        ClientMsg::StopMatching => {
            crate::rooms::service::stop_matching(state, peer, true);
            Ok(())
        }
        // Membership first: credentials are made only for a member of a media room.
        ClientMsg::RefreshIce { room } => match hub.is_member(peer, &room).then(|| ice_for(state, user, &room)) {
            Some(Some(ice)) => {
                hub.send(peer, &ServerMsg::IceServers { room, ice });
                Ok(())
            }
            _ => Err(ErrorCode::NotInRoom),
        },
    };
    refuse_on_error(state, peer, result);
}

/// Answers a refused request with `error`.
fn refuse_on_error(state: &AppState, peer: crate::ids::PeerId, result: Result<(), ErrorCode>) {
    if let Err(code) = result {
        state.hub.send(peer, &error_msg(code, None));
    }
}

/// Lets each feature react to a member leaving a room (or disconnecting).
async fn member_left(state: &AppState, user: &User, peer: crate::ids::PeerId, room: &RoomId, role: MemberRole) {
    crate::live::delivery::member_left(state, peer, room);
    live::member_left(state, room, role).await;
    crate::proctor::service::member_left(state, user, room, role).await;
}

#[cfg(test)]
mod tests {
    use super::check_version;

    #[test]
    fn protocol_version_from_the_query_string() {
        assert_eq!(check_version(None), Ok(1));
        assert_eq!(check_version(Some("")), Ok(1));
        assert_eq!(check_version(Some("v=1")), Ok(1));
        assert_eq!(check_version(Some("x=2&v=1")), Ok(1));
        for bad in ["v=0", "v=2", "v=99", "v=", "v=one", "v=-1"] {
            let reason = check_version(Some(bad)).unwrap_err();
            assert!(reason.len() <= 123, "close reasons are at most 123 bytes: {reason}");
        }
        assert!(check_version(Some("v=2")).unwrap_err().contains("speaks 1 to 1"));
    }
}
