//! The signaling hub: who is connected, which rooms they are in, and relaying messages between them.
//!
//! The hub holds only ephemeral state (rebuilt from reconnecting clients after a restart). Each peer has
//! a bounded send queue; a peer whose queue is full is disconnected (its `kicked` notifier fires) rather than
//! letting memory grow. Broadcasts are serialized once and the bytes shared by every receiver. Permission
//! checks happen before the hub is called (see `signaling::ws::authorize_join`); the hub itself enforces
//! room membership for relays and stamps the sender.

use crate::ids::{PeerId, UserId};
use crate::signaling::protocol::{ErrorCode, PeerInfo, RoomId, ServerMsg, Signal, MAX_ROOMS_PER_PEER};
use axum::extract::ws::Utf8Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, Notify};

/// A connection's handle on the hub, returned by [`Hub::register`].
pub struct Registration {
    /// The id the hub gave this connection.
    pub peer: PeerId,
    /// Messages to write to the socket, in order.
    pub outbox: mpsc::Receiver<Utf8Bytes>,
    /// Fires when the hub disconnects this peer because its send queue is full.
    pub kicked: Arc<Notify>,
}

struct PeerEntry {
    info: PeerInfo,
    tx: mpsc::Sender<Utf8Bytes>,
    kicked: Arc<Notify>,
    rooms: Vec<RoomId>,
}

#[derive(Default)]
struct Inner {
    peers: HashMap<PeerId, PeerEntry>,
    /// Members of each room; `BTreeMap` so that lists come out in join order of peer ids (oldest first).
    rooms: HashMap<RoomId, BTreeMap<PeerId, ()>>,
}

/// Rooms, presence and relay for every `/ws` connection of this server process.
pub struct Hub {
    inner: RwLock<Inner>,
    next_peer: AtomicU64,
    queue_capacity: usize,
}

type Target = (mpsc::Sender<Utf8Bytes>, Arc<Notify>);

impl Hub {
    /// A hub whose per-connection send queues hold `queue_capacity` messages (at least 1).
    pub fn new(queue_capacity: usize) -> Self {
        Self { inner: RwLock::default(), next_peer: AtomicU64::new(1), queue_capacity: queue_capacity.max(1) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection for `user` (display name `name`) and queues its [`ServerMsg::Welcome`].
    pub fn register(&self, user: UserId, name: String) -> Registration {
        let peer = PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed));
        let (tx, outbox) = mpsc::channel(self.queue_capacity);
        let kicked = Arc::new(Notify::new());
        let welcome = encode(&ServerMsg::Welcome { peer, user, name: name.clone() });
        let _ = tx.try_send(welcome);
        let entry = PeerEntry { info: PeerInfo { peer, user, name }, tx, kicked: kicked.clone(), rooms: Vec::new() };
        self.write().peers.insert(peer, entry);
        Registration { peer, outbox, kicked }
    }

    /// Removes a connection: it leaves every room, and the other members get [`ServerMsg::PeerLeft`].
    pub fn unregister(&self, peer: PeerId) {
        let mut notices = Vec::new();
        {
            let mut inner = self.write();
            let Some(entry) = inner.peers.remove(&peer) else { return };
            for room in entry.rooms {
                notices.push((Self::remove_member(&mut inner, &room, peer), room));
            }
        }
        for (targets, room) in notices {
            fan_out(&targets, &encode(&ServerMsg::PeerLeft { room, peer }));
        }
    }

    /// Puts `peer` in `room` (idempotent) and returns the other members, oldest first. The others get
    /// [`ServerMsg::PeerJoined`]. Errors with `TooManyRooms` past [`MAX_ROOMS_PER_PEER`].
    pub fn join(&self, peer: PeerId, room: &RoomId) -> Result<Vec<PeerInfo>, ErrorCode> {
        let (others, targets, info) = {
            let mut inner = self.write();
            let entry = inner.peers.get(&peer).ok_or(ErrorCode::NotInRoom)?;
            let info = entry.info.clone();
            let already = entry.rooms.contains(room);
            if !already && entry.rooms.len() >= MAX_ROOMS_PER_PEER {
                return Err(ErrorCode::TooManyRooms);
            }
            let member_ids: Vec<PeerId> =
                inner.rooms.get(room).map(|m| m.keys().copied().filter(|p| *p != peer).collect()).unwrap_or_default();
            let others: Vec<PeerInfo> = member_ids.iter().filter_map(|p| inner.peers.get(p)).map(|e| e.info.clone()).collect();
            if already {
                return Ok(others);
            }
            let targets = Self::targets(&inner, &member_ids);
            inner.rooms.entry(room.clone()).or_default().insert(peer, ());
            if let Some(entry) = inner.peers.get_mut(&peer) {
                entry.rooms.push(room.clone());
            }
            (others, targets, info)
        };
        fan_out(&targets, &encode(&ServerMsg::PeerJoined { room: room.clone(), peer: info }));
        Ok(others)
    }

    /// Takes `peer` out of `room`; the others get [`ServerMsg::PeerLeft`]. Leaving a room one is not in
    /// changes nothing.
    pub fn leave(&self, peer: PeerId, room: &RoomId) {
        let targets = {
            let mut inner = self.write();
            let Some(entry) = inner.peers.get_mut(&peer) else { return };
            let Some(pos) = entry.rooms.iter().position(|r| r == room) else { return };
            entry.rooms.swap_remove(pos);
            Self::remove_member(&mut inner, room, peer)
        };
        fan_out(&targets, &encode(&ServerMsg::PeerLeft { room: room.clone(), peer }));
    }

    /// Relays `signal` from `from` to `to` in `room`, stamping the sender's peer and user id.
    ///
    /// Errors: `NotInRoom` if `from` is not in `room`; `PeerNotInRoom` if `to` is not (or is `from`).
    pub fn relay(&self, from: PeerId, room: &RoomId, to: PeerId, signal: Signal) -> Result<(), ErrorCode> {
        let (from_user, target) = {
            let inner = self.read();
            let members = inner.rooms.get(room).ok_or(ErrorCode::NotInRoom)?;
            if !members.contains_key(&from) {
                return Err(ErrorCode::NotInRoom);
            }
            if to == from || !members.contains_key(&to) {
                return Err(ErrorCode::PeerNotInRoom);
            }
            let from_user = inner.peers.get(&from).ok_or(ErrorCode::NotInRoom)?.info.user;
            let target = inner.peers.get(&to).map(|e| (e.tx.clone(), e.kicked.clone())).ok_or(ErrorCode::PeerNotInRoom)?;
            (from_user, target)
        };
        let msg = encode(&ServerMsg::Signal { room: room.clone(), from, from_user, signal });
        deliver(&target, msg);
        Ok(())
    }

    /// Queues `msg` for one peer (e.g. an error reply). Unknown peers are ignored.
    pub fn send(&self, peer: PeerId, msg: &ServerMsg) {
        let target = self.read().peers.get(&peer).map(|e| (e.tx.clone(), e.kicked.clone()));
        if let Some(target) = target {
            deliver(&target, encode(msg));
        }
    }

    /// Number of connected peers.
    pub fn peer_count(&self) -> usize {
        self.read().peers.len()
    }

    /// Members of `room`, oldest first.
    pub fn members(&self, room: &RoomId) -> Vec<PeerInfo> {
        let inner = self.read();
        inner
            .rooms
            .get(room)
            .map(|m| m.keys().filter_map(|p| inner.peers.get(p)).map(|e| e.info.clone()).collect())
            .unwrap_or_default()
    }

    fn remove_member(inner: &mut Inner, room: &RoomId, peer: PeerId) -> Vec<Target> {
        let Some(members) = inner.rooms.get_mut(room) else { return Vec::new() };
        members.remove(&peer);
        if members.is_empty() {
            inner.rooms.remove(room);
            return Vec::new();
        }
        let ids: Vec<PeerId> = members.keys().copied().collect();
        Self::targets(inner, &ids)
    }

    fn targets(inner: &Inner, ids: &[PeerId]) -> Vec<Target> {
        ids.iter().filter_map(|p| inner.peers.get(p)).map(|e| (e.tx.clone(), e.kicked.clone())).collect()
    }
}

/// Serializes a server message once; the bytes are shared by every receiver.
pub fn encode(msg: &ServerMsg) -> Utf8Bytes {
    // Serializing these plain enums cannot fail (no maps with non-string keys, no custom serializers).
    Utf8Bytes::from(serde_json::to_string(msg).expect("ServerMsg serializes"))
}

fn deliver((tx, kicked): &Target, msg: Utf8Bytes) {
    if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(msg) {
        // A peer that does not read is cut off instead of growing memory or slowing the sender.
        kicked.notify_one();
    }
}

fn fan_out(targets: &[Target], msg: &Utf8Bytes) {
    for target in targets {
        deliver(target, msg.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: Utf8Bytes) -> ServerMsg {
        serde_json::from_str(bytes.as_str()).unwrap()
    }

    fn room(s: &str) -> RoomId {
        RoomId::Call(s.into())
    }

    #[tokio::test]
    async fn join_relay_leave() {
        let hub = Hub::new(8);
        let (ua, ub) = (UserId::new(), UserId::new());
        let mut a = hub.register(ua, "A".into());
        let mut b = hub.register(ub, "B".into());
        assert!(matches!(decode(a.outbox.recv().await.unwrap()), ServerMsg::Welcome { .. }));
        assert!(matches!(decode(b.outbox.recv().await.unwrap()), ServerMsg::Welcome { .. }));
        assert!(hub.join(a.peer, &room("x")).unwrap().is_empty());
        let others = hub.join(b.peer, &room("x")).unwrap();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].peer, a.peer);
        assert!(matches!(decode(a.outbox.recv().await.unwrap()), ServerMsg::PeerJoined { .. }));

        hub.relay(b.peer, &room("x"), a.peer, Signal::Offer { sdp: "o".into() }).unwrap();
        match decode(a.outbox.recv().await.unwrap()) {
            ServerMsg::Signal { from, from_user, .. } => {
                assert_eq!(from, b.peer);
                assert_eq!(from_user, ub);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(hub.relay(b.peer, &room("y"), a.peer, Signal::EndOfCandidates), Err(ErrorCode::NotInRoom));
        assert_eq!(hub.relay(b.peer, &room("x"), b.peer, Signal::EndOfCandidates), Err(ErrorCode::PeerNotInRoom));
        assert_eq!(hub.relay(b.peer, &room("x"), PeerId(999), Signal::EndOfCandidates), Err(ErrorCode::PeerNotInRoom));

        hub.unregister(b.peer);
        assert!(matches!(decode(a.outbox.recv().await.unwrap()), ServerMsg::PeerLeft { .. }));
        assert_eq!(hub.members(&room("x")).len(), 1);
        hub.leave(a.peer, &room("x"));
        assert!(hub.members(&room("x")).is_empty());
    }

    #[tokio::test]
    async fn full_queue_kicks_the_slow_peer() {
        let hub = Hub::new(2);
        let a = hub.register(UserId::new(), "A".into());
        let b = hub.register(UserId::new(), "B".into());
        hub.join(a.peer, &room("x")).unwrap();
        hub.join(b.peer, &room("x")).unwrap();
        // a's queue: Welcome + PeerJoined = full; the next relay must kick a, not block b.
        hub.relay(b.peer, &room("x"), a.peer, Signal::EndOfCandidates).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), a.kicked.notified()).await.unwrap();
    }

    #[test]
    fn room_limit() {
        let hub = Hub::new(4);
        let a = hub.register(UserId::new(), "A".into());
        for i in 0..MAX_ROOMS_PER_PEER {
            hub.join(a.peer, &room(&format!("r{i}"))).unwrap();
        }
        assert_eq!(hub.join(a.peer, &room("one-more")), Err(ErrorCode::TooManyRooms));
        // Re-joining a room one is in is fine.
        assert!(hub.join(a.peer, &room("r0")).is_ok());
    }
}
