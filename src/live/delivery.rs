//! How a live stream's media reaches its viewers when it goes through the server's forwarding unit: the `/ws`
//! side of the SFU (`sfu_signal` offers → answers, trickled candidates), which forwarding-unit connection
//! belongs to which member, and telling viewers when the seller's media is there (`sfu_publishing`).
//!
//! Permissions are the hub's roles in the `stream:*` room (set at join by `live::service::role_in_stream`):
//! the publisher's offer publishes, a viewer's offer subscribes. One connection per member and stream; a new
//! offer replaces the member's previous connection; leaving the room or disconnecting closes it.

use crate::ids::{PeerId, StreamId};
use crate::server::config::{Config, LiveDelivery};
use crate::server::state::AppState;
use crate::sfu::{ConnId, ConnState, Sfu, SfuConfig, SfuError};
use crate::signaling::protocol::{Delivery, ErrorCode, MemberRole, RoomId, ServerMsg, Signal};
use crate::signaling::ws::error_msg;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

/// The forwarding unit of this server process and the `/ws` members' connections on it.
pub struct LiveSfu {
    sfu: Sfu,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each member's current connection, per stream.
    conns: HashMap<(PeerId, StreamId), ConnId>,
    /// The publisher connection of each stream whose publisher is up (ICE and DTLS connected).
    publishing: HashMap<StreamId, ConnId>,
    /// Streams that ended in this process: offers for them are refused (their members may still be in the
    /// room for a moment).
    ended: std::collections::HashSet<StreamId>,
}

impl LiveSfu {
    /// Starts the forwarding unit for `--live-delivery sfu` on `--sfu-udp`, advertised at `--sfu-advertise`
    /// (default: see [`advertise_ip`]). `None` for `--live-delivery p2p`, and (logged as a warning) when the
    /// UDP port cannot be bound: live streams then go peer-to-peer.
    pub async fn start(config: &Config) -> Option<LiveSfu> {
        if config.live_delivery == LiveDelivery::P2p {
            return None;
        }
        let bind = config.sfu_udp;
        let advertise = config.sfu_advertise.unwrap_or_else(|| advertise_ip(bind.ip()));
        match Sfu::start(SfuConfig { bind, advertise: Some(advertise) }).await {
            Ok(sfu) => {
                tracing::info!(udp = %bind, candidate = %sfu.local_addr(), "live streams go through the SFU");
                Some(LiveSfu { sfu, inner: Mutex::default() })
            }
            Err(e) => {
                tracing::warn!(udp = %bind, error = %e, "cannot start the SFU (set --sfu-udp to a free UDP port); live streams go peer-to-peer");
                None
            }
        }
    }

    /// The forwarding unit itself (for its counters).
    pub fn sfu(&self) -> &Sfu {
        &self.sfu
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the seller's media of `stream` is at the forwarding unit now.
    pub fn is_publishing(&self, stream: StreamId) -> bool {
        self.lock().publishing.contains_key(&stream)
    }
}

/// The IP to advertise for a forwarding unit bound to `bound`: `bound` itself unless unspecified; then the
/// address of the interface with the outward route (found by connecting a UDP socket, which sends nothing),
/// else 127.0.0.1.
pub fn advertise_ip(bound: IpAddr) -> IpAddr {
    if !bound.is_unspecified() {
        return bound;
    }
    let outward = || -> std::io::Result<IpAddr> {
        let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        // TEST-NET-3 (RFC 5737): only the routing table is consulted.
        probe.connect((Ipv4Addr::new(203, 0, 113, 1), 9))?;
        Ok(probe.local_addr()?.ip())
    };
    outward().ok().filter(|ip| !ip.is_unspecified()).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The `delivery` to put in `joined` for `room`: set for `stream:*` rooms only.
pub fn delivery_for(state: &AppState, room: &RoomId) -> Option<Delivery> {
    match room {
        RoomId::Stream(_) if state.live_sfu.is_some() => Some(Delivery::Sfu),
        RoomId::Stream(_) => Some(Delivery::P2p),
        _ => None,
    }
}

/// After `peer` joined `room`: a viewer of a stream hears at once whether its seller is at the forwarding unit
/// (`sfu_publishing` `true`: subscribe now; `false`: wait for the seller).
pub fn member_joined(state: &AppState, peer: PeerId, room: &RoomId, role: MemberRole) {
    let (RoomId::Stream(stream), Some(live)) = (room, state.live_sfu.as_deref()) else { return };
    if role == MemberRole::Viewer {
        let publishing = live.is_publishing(*stream);
        state.hub.send(peer, &ServerMsg::SfuPublishing { room: room.clone(), publishing });
    }
}

/// After `peer` left `room` or disconnected: closes its forwarding-unit connection (a publisher's closes its
/// subscribers too).
pub fn member_left(state: &AppState, peer: PeerId, room: &RoomId) {
    let (RoomId::Stream(stream), Some(live)) = (room, state.live_sfu.as_deref()) else { return };
    let conn = live.lock().conns.remove(&(peer, *stream));
    if let Some(conn) = conn {
        live.sfu.close(conn);
    }
}

/// When `stream` ended: closes its publisher's connection, and with it every subscriber's.
pub fn stream_ended(state: &AppState, stream: StreamId) {
    if let Some(live) = state.live_sfu.as_deref() {
        live.lock().ended.insert(stream);
        close_stream(live, stream);
    }
}

/// Handles a `sfu_signal` from `peer`: an offer publishes or subscribes (answered with `sfu_signal`),
/// a candidate is added to the member's connection. See [`crate::signaling::protocol::ClientMsg::SfuSignal`]
/// for the errors.
pub async fn handle_signal(state: &AppState, peer: PeerId, room: RoomId, signal: Signal) -> Result<(), ErrorCode> {
    let role = state.hub.role_of(peer, &room).ok_or(ErrorCode::NotInRoom)?;
    let (RoomId::Stream(stream), Some(live)) = (&room, state.live_sfu.as_deref()) else {
        return Err(ErrorCode::Forbidden);
    };
    let stream = *stream;
    match signal {
        Signal::Offer { sdp } => {
            if role == MemberRole::Viewer && sends_media(&sdp) {
                return Err(ErrorCode::Forbidden);
            }
            if live.lock().ended.contains(&stream) {
                return Err(ErrorCode::NoSuchRoom);
            }
            // A viewer keeps its old connection until the new one is accepted; a publisher's must go first
            // (one publisher per stream).
            if role == MemberRole::Publisher {
                let previous = live.lock().conns.remove(&(peer, stream));
                if let Some(previous) = previous {
                    live.sfu.close(previous);
                }
            }
            let answer = match role {
                MemberRole::Publisher => match live.sfu.publish(stream.into(), sdp.clone()).await {
                    // The seller's newest connection wins (a second tab or device, or a page that reconnected
                    // before the server noticed the old socket was gone); the other page is told, so that it
                    // stops instead of taking the stream back.
                    Err(SfuError::AlreadyPublishing) => {
                        let others: Vec<PeerId> = live
                            .lock()
                            .conns
                            .keys()
                            .filter(|(p, s)| *s == stream && *p != peer)
                            .map(|(p, _)| *p)
                            .collect();
                        for other in others {
                            if state.hub.role_of(other, &room) == Some(MemberRole::Publisher) {
                                let told = error_msg(ErrorCode::PublishingElsewhere, Some(room.clone()));
                                state.hub.send(other, &told);
                            }
                        }
                        close_stream(live, stream);
                        live.sfu.publish(stream.into(), sdp).await
                    }
                    other => other,
                },
                MemberRole::Viewer => live.sfu.subscribe(stream.into(), sdp).await,
                MemberRole::Member => return Err(ErrorCode::Forbidden),
            }
            .map_err(|e| match e {
                SfuError::NoPublisher => ErrorCode::NotPublishing,
                SfuError::AlreadyPublishing => ErrorCode::Forbidden,
                SfuError::BadSdp(_) | SfuError::BadCandidate(_) | SfuError::UnknownConn => ErrorCode::InvalidSignal,
            })?;
            let (previous, ended) = {
                let mut inner = live.lock();
                (inner.conns.insert((peer, stream), answer.conn), inner.ended.contains(&stream))
            };
            if let Some(previous) = previous {
                live.sfu.close(previous);
            }
            if ended {
                // The stream ended while the offer was being accepted.
                live.lock().conns.remove(&(peer, stream));
                live.sfu.close(answer.conn);
                return Err(ErrorCode::NoSuchRoom);
            }
            watch_conn(state, peer, room.clone(), stream, role, answer.conn, answer.state);
            state.hub.send(peer, &ServerMsg::SfuSignal { room, signal: Signal::Answer { sdp: answer.sdp } });
            Ok(())
        }
        Signal::Candidate { candidate, .. } => {
            let conn = live.lock().conns.get(&(peer, stream)).copied().ok_or(ErrorCode::InvalidSignal)?;
            match live.sfu.add_remote_candidate(conn, &candidate) {
                // A candidate for a connection that just closed changes nothing.
                Ok(()) | Err(SfuError::UnknownConn) => Ok(()),
                Err(_) => Err(ErrorCode::InvalidSignal),
            }
        }
        // ICE-lite: the server needs no end-of-candidates.
        Signal::EndOfCandidates => Ok(()),
        Signal::Answer { .. } | Signal::PreferredLayer { .. } | Signal::RestartIce => Err(ErrorCode::Forbidden),
    }
}

/// Closes every connection of `stream` (its publisher's, and the subscribers' that depend on it).
fn close_stream(live: &LiveSfu, stream: StreamId) {
    let conns: Vec<ConnId> = {
        let mut inner = live.lock();
        inner.publishing.remove(&stream);
        let keys: Vec<_> = inner.conns.keys().filter(|(_, s)| *s == stream).copied().collect();
        keys.into_iter().filter_map(|k| inner.conns.remove(&k)).collect()
    };
    for conn in conns {
        live.sfu.close(conn);
    }
}

/// Whether an SDP offer has an audio or video section that sends (`sendonly`/`sendrecv`, or no direction
/// attribute, which means `sendrecv`, RFC 8866 §6.7).
pub fn sends_media(sdp: &str) -> bool {
    let mut sends = false;
    let mut in_media = false;
    let mut direction: Option<&str> = None;
    let mut finish = |in_media: bool, direction: Option<&str>| {
        if in_media && matches!(direction, None | Some("sendonly") | Some("sendrecv")) {
            sends = true;
        }
    };
    for line in sdp.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            finish(in_media, direction);
            in_media = media.starts_with("audio") || media.starts_with("video");
            direction = None;
        } else if let Some(attr) = line.strip_prefix("a=") {
            if matches!(attr, "sendonly" | "sendrecv" | "recvonly" | "inactive") {
                direction = Some(attr);
            }
        }
    }
    finish(in_media, direction);
    sends
}

/// Tells the stream's publisher how many viewer connections the forwarding unit has open now.
fn subscribers_changed(state: &AppState, live: &LiveSfu, room: &RoomId, stream: StreamId) {
    // Read and sent under the lock, so that two watchers' counts reach the seller in order.
    let _order = live.lock();
    let subscribers = live.sfu.stats(stream.into()).map_or(0, |s| s.subscribers) as u32;
    let msg = ServerMsg::SfuSubscribers { room: room.clone(), subscribers };
    state.hub.send_to_role(room, MemberRole::Publisher, &msg);
}

/// Follows one forwarding-unit connection: when a publisher's comes up the stream's viewers hear
/// `sfu_publishing: true`; when any closes it is forgotten (if still the member's current one), and when an
/// announced publisher's closes, the viewers hear `false` (unless a newer publisher connection is up).
fn watch_conn(
    state: &AppState,
    peer: PeerId,
    room: RoomId,
    stream: StreamId,
    role: MemberRole,
    conn: ConnId,
    mut conn_state: tokio::sync::watch::Receiver<ConnState>,
) {
    let state = state.clone();
    tokio::spawn(async move {
        let Some(live) = state.live_sfu.as_deref() else { return };
        let mut announced = false;
        loop {
            let now = *conn_state.borrow_and_update();
            match now {
                ConnState::Connected if role == MemberRole::Viewer => subscribers_changed(&state, live, &room, stream),
                ConnState::Connected if role == MemberRole::Publisher && !announced => {
                    // Under the lock, and only while this is still the seller's current connection: a
                    // replaced connection's late watcher must not announce (or overwrite) the newer one.
                    let mut inner = live.lock();
                    if inner.conns.get(&(peer, stream)) == Some(&conn) && !inner.ended.contains(&stream) {
                        announced = true;
                        inner.publishing.insert(stream, conn);
                        let msg = ServerMsg::SfuPublishing { room: room.clone(), publishing: true };
                        state.hub.send_to_role(&room, MemberRole::Viewer, &msg);
                    }
                }
                ConnState::Closed => break,
                _ => {}
            }
            if conn_state.changed().await.is_err() {
                break;
            }
        }
        {
            // Decided and sent under the lock, so that a newer publisher's `true` cannot be overtaken by
            // this `false` (the hub's sends never wait, and the hub never takes this lock).
            let mut inner = live.lock();
            if inner.conns.get(&(peer, stream)) == Some(&conn) {
                inner.conns.remove(&(peer, stream));
            }
            if inner.publishing.get(&stream) == Some(&conn) {
                inner.publishing.remove(&stream);
            }
            if announced && !inner.publishing.contains_key(&stream) {
                let msg = ServerMsg::SfuPublishing { room: room.clone(), publishing: false };
                state.hub.send_to_role(&room, MemberRole::Viewer, &msg);
            }
        }
        if role == MemberRole::Viewer {
            subscribers_changed(&state, live, &room, stream);
        }
        tracing::debug!(%conn, %peer, %stream, "SFU connection closed");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_that_send_media_are_recognised() {
        let recv_only =
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n";
        assert!(!sends_media(recv_only));
        let publishing =
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n";
        assert!(sends_media(publishing));
        // No direction attribute means sendrecv.
        assert!(sends_media("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"));
        // A data channel section does not count.
        assert!(!sends_media("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
        // A session-level direction before any m= line is not a media section.
        assert!(!sends_media("v=0\r\na=sendrecv\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=inactive\r\n"));
    }

    #[test]
    fn advertised_ip_is_the_bound_one_unless_unspecified() {
        let lan: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(advertise_ip(lan), lan);
        assert!(!advertise_ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).is_unspecified());
    }
}
