//! The signaling hub: who is connected, which rooms they are in, and relaying messages between them.
//!
//! The hub holds only ephemeral state (rebuilt from reconnecting clients after a restart). Each peer has
//! a bounded send queue; a peer whose queue is full is disconnected (its `kicked` notifier fires) rather than
//! letting memory grow. Broadcasts are serialized once and the bytes shared by every receiver. Permission
//! checks happen before the hub is called (see `signaling::ws::authorize_join`); the hub itself enforces
//! room membership for relays and stamps the sender.

use crate::ids::{PeerId, UserId};
use crate::signaling::protocol::{
    ErrorCode, MemberRole, PeerInfo, RoomId, ServerMsg, Signal, MAX_ROOMS_PER_PEER, PROTOCOL_VERSION,
};
use axum::extract::ws::Utf8Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Notify;

/// A connection's handle on the hub, returned by [`Hub::register`].
pub struct Registration {
    /// The id the hub gave this connection.
    pub peer: PeerId,
    /// Messages to write to the socket, in order.
    pub outbox: Outbox,
    /// Fires when the hub disconnects this peer because its send queue is full.
    pub kicked: Arc<Notify>,
}

/// A connection's bounded send queue: many senders (the hub's relays and broadcasts), one receiver (the
/// connection's task). It holds only what is queued: an idle connection's queue is a few dozen bytes, where a
/// tokio `mpsc` channel allocates a 32-slot block (about 1.5 KB) per channel up front. That is most of the
/// difference at 20k idle sockets (docs/benchmarks.md, idle connection memory).
struct Queue {
    items: Mutex<VecDeque<Utf8Bytes>>,
    /// Woken on each message and when the last sender goes away.
    ready: Notify,
    capacity: usize,
    senders: AtomicUsize,
}

/// The sending half of a [`Queue`].
struct QueueSender(Arc<Queue>);

/// The send queue was full; the message was not queued.
struct QueueFull;

impl QueueSender {
    fn try_send(&self, msg: Utf8Bytes) -> Result<(), QueueFull> {
        {
            let mut items = self.0.items.lock().unwrap_or_else(|e| e.into_inner());
            if items.len() >= self.0.capacity {
                return Err(QueueFull);
            }
            items.push_back(msg);
        }
        self.0.ready.notify_one();
        Ok(())
    }
}

impl Clone for QueueSender {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        Self(self.0.clone())
    }
}

impl Drop for QueueSender {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.ready.notify_one();
        }
    }
}

/// The receiving half of a connection's send queue: the messages to write to its socket, in order.
pub struct Outbox(Arc<Queue>);

impl Outbox {
    /// The next message; waits while the queue is empty. `None` once the hub dropped this connection and
    /// everything queued was taken. Cancel-safe: dropping the future loses nothing.
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        loop {
            if let Some(msg) = self.try_recv() {
                return Some(msg);
            }
            if self.0.senders.load(Ordering::Acquire) == 0 {
                return None;
            }
            // A message queued between the check and here left a permit: this returns at once.
            self.0.ready.notified().await;
        }
    }

    /// The next message if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        self.0.items.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }
}

fn queue(capacity: usize) -> (QueueSender, Outbox) {
    let queue = Arc::new(Queue {
        items: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        capacity,
        senders: AtomicUsize::new(1),
    });
    (QueueSender(queue.clone()), Outbox(queue))
}

struct PeerEntry {
    info: PeerInfo,
    tx: QueueSender,
    kicked: Arc<Notify>,
    rooms: Vec<RoomId>,
}

#[derive(Default)]
struct Inner {
    peers: HashMap<PeerId, PeerEntry>,
    /// Members of each room with their role; `BTreeMap` so lists come out by peer id (oldest connection first).
    rooms: HashMap<RoomId, BTreeMap<PeerId, MemberRole>>,
}

/// Rooms, presence and relay for every `/ws` connection of this server process.
pub struct Hub {
    inner: RwLock<Inner>,
    next_peer: AtomicU64,
    queue_capacity: usize,
}

type Target = (QueueSender, Arc<Notify>);

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
        let (tx, outbox) = queue(self.queue_capacity);
        let kicked = Arc::new(Notify::new());
        let welcome = encode(&ServerMsg::Welcome { peer, user, name: name.clone(), protocol: PROTOCOL_VERSION });
        let _ = tx.try_send(welcome);
        let info = PeerInfo { peer, user, name, role: MemberRole::Member };
        let entry = PeerEntry { info, tx, kicked: kicked.clone(), rooms: Vec::new() };
        self.write().peers.insert(peer, entry);
        Registration { peer, outbox, kicked }
    }

    /// Removes a connection: it leaves every room, and the other members get [`ServerMsg::PeerLeft`].
    /// Returns the rooms it was in, with its role in each.
    pub fn unregister(&self, peer: PeerId) -> Vec<(RoomId, MemberRole)> {
        let mut notices = Vec::new();
        {
            let mut inner = self.write();
            let Some(entry) = inner.peers.remove(&peer) else { return Vec::new() };
            for room in entry.rooms {
                let (role, targets) = Self::remove_member(&mut inner, &room, peer);
                notices.push((room, role, targets));
            }
        }
        notices
            .into_iter()
            .map(|(room, role, targets)| {
                fan_out(&targets, &encode(&ServerMsg::PeerLeft { room: room.clone(), peer }));
                (room, role)
            })
            .collect()
    }

    /// Puts `peer` in `room` with `role` (joining again changes the role) and returns the other members,
    /// oldest first. The others get [`ServerMsg::PeerJoined`] unless the peer was already there.
    /// Errors with `TooManyRooms` past [`MAX_ROOMS_PER_PEER`], and with `RoomFull` when the room already
    /// has [`room_capacity`] members (checked under the same lock as the insert, so two joins at once cannot
    /// both take the last place).
    pub fn join(&self, peer: PeerId, room: &RoomId, role: MemberRole) -> Result<Vec<PeerInfo>, ErrorCode> {
        let (others, targets, info) = {
            let mut inner = self.write();
            let entry = inner.peers.get(&peer).ok_or(ErrorCode::NotInRoom)?;
            let info = PeerInfo { role, ..entry.info.clone() };
            let already = entry.rooms.contains(room);
            if !already && entry.rooms.len() >= MAX_ROOMS_PER_PEER {
                return Err(ErrorCode::TooManyRooms);
            }
            if !already {
                let members_now = inner.rooms.get(room).map_or(0, BTreeMap::len);
                if room_capacity(room).is_some_and(|cap| members_now >= cap) {
                    return Err(ErrorCode::RoomFull);
                }
            }
            let members: Vec<(PeerId, MemberRole)> = inner
                .rooms
                .get(room)
                .map(|m| m.iter().filter(|(p, _)| **p != peer).map(|(p, r)| (*p, *r)).collect())
                .unwrap_or_default();
            let others: Vec<PeerInfo> = members
                .iter()
                .filter(|(_, r)| presence_visible(room, role, *r))
                .filter_map(|(p, r)| inner.peers.get(p).map(|e| PeerInfo { role: *r, ..e.info.clone() }))
                .collect();
            inner.rooms.entry(room.clone()).or_default().insert(peer, role);
            if already {
                return Ok(others);
            }
            if let Some(entry) = inner.peers.get_mut(&peer) {
                entry.rooms.push(room.clone());
            }
            let ids: Vec<PeerId> =
                members.iter().filter(|(_, r)| presence_visible(room, *r, role)).map(|(p, _)| *p).collect();
            (others, Self::targets(&inner, &ids), info)
        };
        fan_out(&targets, &encode(&ServerMsg::PeerJoined { room: room.clone(), peer: info }));
        Ok(others)
    }

    /// Takes `peer` out of `room`; the others get [`ServerMsg::PeerLeft`]. Returns the role it had, or
    /// `None` (and changes nothing) if it was not in the room.
    pub fn leave(&self, peer: PeerId, room: &RoomId) -> Option<MemberRole> {
        let (role, targets) = {
            let mut inner = self.write();
            let entry = inner.peers.get_mut(&peer)?;
            let pos = entry.rooms.iter().position(|r| r == room)?;
            entry.rooms.swap_remove(pos);
            Self::remove_member(&mut inner, room, peer)
        };
        fan_out(&targets, &encode(&ServerMsg::PeerLeft { room: room.clone(), peer }));
        Some(role)
    }

    /// Relays `signal` from `from` to `to` in `room`, stamping the sender's peer and user id.
    ///
    /// Errors: `NotInRoom` if `from` is not in `room`; `PeerNotInRoom` if `to` is not (or is `from`);
    /// `Forbidden` if the room's rule does not allow it (see [`relay_allowed`]).
    pub fn relay(&self, from: PeerId, room: &RoomId, to: PeerId, signal: Signal) -> Result<(), ErrorCode> {
        let (from_user, target) = {
            let inner = self.read();
            let members = inner.rooms.get(room).ok_or(ErrorCode::NotInRoom)?;
            let from_role = *members.get(&from).ok_or(ErrorCode::NotInRoom)?;
            let to_role = *members.get(&to).filter(|_| to != from).ok_or(ErrorCode::PeerNotInRoom)?;
            relay_allowed(room, from_role, to_role, &signal)?;
            let from_user = inner.peers.get(&from).ok_or(ErrorCode::NotInRoom)?.info.user;
            let target =
                inner.peers.get(&to).map(|e| (e.tx.clone(), e.kicked.clone())).ok_or(ErrorCode::PeerNotInRoom)?;
            (from_user, target)
        };
        let msg = encode(&ServerMsg::Signal { room: room.clone(), from, from_user, signal });
        deliver(&target, msg);
        Ok(())
    }

    /// Sends `msg` to every member of `room` (serialized once).
    pub fn broadcast(&self, room: &RoomId, msg: &ServerMsg) {
        let targets = {
            let inner = self.read();
            let Some(members) = inner.rooms.get(room) else { return };
            let ids: Vec<PeerId> = members.keys().copied().collect();
            Self::targets(&inner, &ids)
        };
        fan_out(&targets, &encode(msg));
    }

    /// Sends `msg` to the members of `room` that have `role` (serialized once).
    pub fn send_to_role(&self, room: &RoomId, role: MemberRole, msg: &ServerMsg) {
        let targets = {
            let inner = self.read();
            let Some(members) = inner.rooms.get(room) else { return };
            let ids: Vec<PeerId> = members.iter().filter(|(_, r)| **r == role).map(|(p, _)| *p).collect();
            Self::targets(&inner, &ids)
        };
        fan_out(&targets, &encode(msg));
    }

    /// Sends `msg` to every connection of `user` that is in `room` (serialized once).
    pub fn send_to_user(&self, room: &RoomId, user: UserId, msg: &ServerMsg) {
        let targets = {
            let inner = self.read();
            let Some(members) = inner.rooms.get(room) else { return };
            let ids: Vec<PeerId> =
                members.keys().copied().filter(|p| inner.peers.get(p).is_some_and(|e| e.info.user == user)).collect();
            Self::targets(&inner, &ids)
        };
        fan_out(&targets, &encode(msg));
    }

    /// Distinct users in `room` with `role`.
    pub fn users_with_role(&self, room: &RoomId, role: MemberRole) -> std::collections::HashSet<UserId> {
        let inner = self.read();
        let Some(members) = inner.rooms.get(room) else { return Default::default() };
        members
            .iter()
            .filter(|(_, r)| **r == role)
            .filter_map(|(p, _)| inner.peers.get(p).map(|e| e.info.user))
            .collect()
    }

    /// Distinct users who are in `room` as [`MemberRole::Viewer`] (a user with two tabs counts once).
    pub fn viewer_count(&self, room: &RoomId) -> u32 {
        let inner = self.read();
        let Some(members) = inner.rooms.get(room) else { return 0 };
        let users: std::collections::HashSet<UserId> = members
            .iter()
            .filter(|(_, role)| **role == MemberRole::Viewer)
            .filter_map(|(p, _)| inner.peers.get(p).map(|e| e.info.user))
            .collect();
        users.len() as u32
    }

    /// Whether `peer` is in `room`.
    pub fn is_member(&self, peer: PeerId, room: &RoomId) -> bool {
        self.role_of(peer, room).is_some()
    }

    /// The role `peer` has in `room`, or `None` if it is not a member.
    pub fn role_of(&self, peer: PeerId, room: &RoomId) -> Option<MemberRole> {
        self.read().rooms.get(room).and_then(|m| m.get(&peer).copied())
    }

    /// Whether any member of `room` has `role`.
    pub fn has_role(&self, room: &RoomId, role: MemberRole) -> bool {
        self.read().rooms.get(room).is_some_and(|m| m.values().any(|r| *r == role))
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
            .map(|m| {
                m.iter()
                    .filter_map(|(p, r)| inner.peers.get(p).map(|e| PeerInfo { role: *r, ..e.info.clone() }))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn remove_member(inner: &mut Inner, room: &RoomId, peer: PeerId) -> (MemberRole, Vec<Target>) {
        let Some(members) = inner.rooms.get_mut(room) else { return (MemberRole::Member, Vec::new()) };
        let role = members.remove(&peer).unwrap_or_default();
        if members.is_empty() {
            inner.rooms.remove(room);
            return (role, Vec::new());
        }
        let ids: Vec<PeerId> =
            members.iter().filter(|(_, r)| presence_visible(room, **r, role)).map(|(p, _)| *p).collect();
        (role, Self::targets(inner, &ids))
    }

    fn targets(inner: &Inner, ids: &[PeerId]) -> Vec<Target> {
        ids.iter().filter_map(|p| inner.peers.get(p)).map(|e| (e.tx.clone(), e.kicked.clone())).collect()
    }
}

/// Most connections one call by link may hold at once: a mesh of 6 (each sends its media 5 times).
pub const CALL_CAPACITY: usize = 6;

/// Most members `room` admits: [`CALL_CAPACITY`] for `call:*`, 2 for `match:*`, no limit otherwise.
pub fn room_capacity(room: &RoomId) -> Option<usize> {
    match room {
        RoomId::Call(_) => Some(CALL_CAPACITY),
        RoomId::Match(_) => Some(2),
        RoomId::Stream(_) | RoomId::Test(_) | RoomId::Listings => None,
    }
}

/// Does a member with role `observer` learn of a member with role `subject` (in `joined`, `peer_joined`,
/// `peer_left`)? Calls: everyone sees everyone. Streams: the publisher sees everyone, viewers see only the
/// publisher (shoppers' presence is private). Tests: invigilators see everyone, a student sees only the
/// invigilators (never another student). Listings: nobody.
pub fn presence_visible(room: &RoomId, observer: MemberRole, subject: MemberRole) -> bool {
    match room {
        RoomId::Call(_) | RoomId::Match(_) => true,
        RoomId::Stream(_) => observer == MemberRole::Publisher || subject == MemberRole::Publisher,
        RoomId::Test(_) => observer == MemberRole::Viewer || subject == MemberRole::Viewer,
        RoomId::Listings => false,
    }
}

/// May a member with role `from` send `signal` to a member with role `to` in `room`?
///
/// - `call:*`, `match:*`: anyone to anyone.
/// - `stream:*`: the publisher to any viewer; a viewer only to the publisher, and never an offer (viewers
///   are receive-only: they answer, trickle candidates, and ask for an ICE restart with `restart_ice`).
/// - `test:*`: the same as a stream, with each student as a publisher and the invigilators as viewers: a
///   student signals only invigilators, an invigilator only students (never student to student).
/// - `listings:live`: no relay at all.
///
/// Errors: `ErrorCode::Forbidden`.
pub fn relay_allowed(room: &RoomId, from: MemberRole, to: MemberRole, signal: &Signal) -> Result<(), ErrorCode> {
    let ok = match room {
        RoomId::Call(_) | RoomId::Match(_) => true,
        RoomId::Stream(_) | RoomId::Test(_) => match (from, to) {
            (MemberRole::Publisher, MemberRole::Viewer) => {
                !matches!(signal, Signal::RestartIce | Signal::PreferredLayer { .. })
            }
            (MemberRole::Viewer, MemberRole::Publisher) => !matches!(signal, Signal::Offer { .. }),
            _ => false,
        },
        RoomId::Listings => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ErrorCode::Forbidden)
    }
}

/// Serializes a server message once; the bytes are shared by every receiver.
pub fn encode(msg: &ServerMsg) -> Utf8Bytes {
    // Serializing these plain enums cannot fail (no maps with non-string keys, no custom serializers).
    Utf8Bytes::from(serde_json::to_string(msg).expect("ServerMsg serializes"))
}

fn deliver((tx, kicked): &Target, msg: Utf8Bytes) {
    if let Err(QueueFull) = tx.try_send(msg) {
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

    #[test]
    fn a_call_takes_six_and_the_seventh_is_refused_until_someone_leaves() {
        let hub = Hub::new(8);
        let regs: Vec<Registration> = (0..8).map(|i| hub.register(UserId::new(), format!("P{i}"))).collect();
        for r in &regs[..CALL_CAPACITY] {
            hub.join(r.peer, &room("full"), MemberRole::Member).unwrap();
        }
        assert_eq!(hub.join(regs[6].peer, &room("full"), MemberRole::Member), Err(ErrorCode::RoomFull));
        assert_eq!(hub.members(&room("full")).len(), CALL_CAPACITY, "the refused join changed nothing");
        // Joining again while already in is not a new place.
        assert!(hub.join(regs[0].peer, &room("full"), MemberRole::Member).is_ok());
        hub.leave(regs[0].peer, &room("full")).unwrap();
        assert!(hub.join(regs[6].peer, &room("full"), MemberRole::Member).is_ok());
        // A match room holds two.
        hub.join(regs[0].peer, &RoomId::Match(1), MemberRole::Member).unwrap();
        hub.join(regs[7].peer, &RoomId::Match(1), MemberRole::Member).unwrap();
        assert_eq!(hub.join(regs[1].peer, &RoomId::Match(1), MemberRole::Member), Err(ErrorCode::RoomFull));
    }

    #[tokio::test]
    async fn join_relay_leave() {
        let hub = Hub::new(8);
        let (ua, ub) = (UserId::new(), UserId::new());
        let mut a = hub.register(ua, "A".into());
        let mut b = hub.register(ub, "B".into());
        assert!(matches!(decode(a.outbox.recv().await.unwrap()), ServerMsg::Welcome { .. }));
        assert!(matches!(decode(b.outbox.recv().await.unwrap()), ServerMsg::Welcome { .. }));
        assert!(hub.join(a.peer, &room("x"), MemberRole::Member).unwrap().is_empty());
        let others = hub.join(b.peer, &room("x"), MemberRole::Member).unwrap();
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

        assert_eq!(hub.unregister(b.peer), vec![(room("x"), MemberRole::Member)]);
        assert!(matches!(decode(a.outbox.recv().await.unwrap()), ServerMsg::PeerLeft { .. }));
        assert_eq!(hub.members(&room("x")).len(), 1);
        assert_eq!(hub.leave(a.peer, &room("x")), Some(MemberRole::Member));
        assert_eq!(hub.leave(a.peer, &room("x")), None);
        assert!(hub.members(&room("x")).is_empty());
    }

    #[tokio::test]
    async fn the_send_queue_is_fifo_bounded_and_ends_when_the_hub_lets_go() {
        let (tx, mut rx) = queue(2);
        let tx2 = tx.clone();
        assert!(tx.try_send(Utf8Bytes::from_static("a")).is_ok());
        assert!(tx2.try_send(Utf8Bytes::from_static("b")).is_ok());
        assert!(tx.try_send(Utf8Bytes::from_static("c")).is_err(), "over capacity");
        assert_eq!(rx.recv().await.unwrap().as_str(), "a");
        assert_eq!(rx.try_recv().unwrap().as_str(), "b");
        assert!(rx.try_recv().is_none());
        // A waiting receiver is woken by a send from elsewhere.
        let waiter = tokio::spawn(async move { (rx.recv().await, rx) });
        tokio::task::yield_now().await;
        assert!(tx2.try_send(Utf8Bytes::from_static("d")).is_ok());
        let (got, mut rx) = tokio::time::timeout(std::time::Duration::from_secs(1), waiter).await.unwrap().unwrap();
        assert_eq!(got.unwrap().as_str(), "d");
        // Once every sender is gone, what is left is still delivered, then the queue ends.
        assert!(tx.try_send(Utf8Bytes::from_static("e")).is_ok());
        drop(tx);
        drop(tx2);
        assert_eq!(rx.recv().await.unwrap().as_str(), "e");
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn full_queue_kicks_the_slow_peer() {
        let hub = Hub::new(2);
        let a = hub.register(UserId::new(), "A".into());
        let b = hub.register(UserId::new(), "B".into());
        hub.join(a.peer, &room("x"), MemberRole::Member).unwrap();
        hub.join(b.peer, &room("x"), MemberRole::Member).unwrap();
        // a's queue: Welcome + PeerJoined = full; the next relay must kick a, not block b.
        hub.relay(b.peer, &room("x"), a.peer, Signal::EndOfCandidates).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), a.kicked.notified()).await.unwrap();
    }

    #[test]
    fn room_limit() {
        let hub = Hub::new(4);
        let a = hub.register(UserId::new(), "A".into());
        for i in 0..MAX_ROOMS_PER_PEER {
            hub.join(a.peer, &room(&format!("r{i}")), MemberRole::Member).unwrap();
        }
        assert_eq!(hub.join(a.peer, &room("one-more"), MemberRole::Member), Err(ErrorCode::TooManyRooms));
        // Re-joining a room one is in is fine.
        assert!(hub.join(a.peer, &room("r0"), MemberRole::Member).is_ok());
    }

    #[tokio::test]
    async fn stream_rooms_count_distinct_viewers_and_restrict_relay() {
        let hub = Hub::new(16);
        let stream = RoomId::Stream(crate::ids::StreamId::new());
        let (seller_user, viewer_user) = (UserId::new(), UserId::new());
        let seller = hub.register(seller_user, "S".into());
        let v1 = hub.register(viewer_user, "V".into());
        let v1_other_tab = hub.register(viewer_user, "V".into());
        let v2 = hub.register(UserId::new(), "W".into());
        hub.join(seller.peer, &stream, MemberRole::Publisher).unwrap();
        for v in [&v1, &v1_other_tab, &v2] {
            hub.join(v.peer, &stream, MemberRole::Viewer).unwrap();
        }
        assert_eq!(hub.viewer_count(&stream), 2);
        assert!(hub.has_role(&stream, MemberRole::Publisher));

        let offer = || Signal::Offer { sdp: "o".into() };
        let answer = || Signal::Answer { sdp: "a".into() };
        assert_eq!(hub.relay(seller.peer, &stream, v1.peer, offer()), Ok(()));
        assert_eq!(hub.relay(v1.peer, &stream, seller.peer, answer()), Ok(()));
        assert_eq!(hub.relay(v1.peer, &stream, seller.peer, Signal::RestartIce), Ok(()));
        assert_eq!(hub.relay(v1.peer, &stream, seller.peer, offer()), Err(ErrorCode::Forbidden));
        assert_eq!(hub.relay(v1.peer, &stream, v2.peer, answer()), Err(ErrorCode::Forbidden));

        hub.unregister(v1_other_tab.peer);
        assert_eq!(hub.viewer_count(&stream), 2);
        hub.unregister(v1.peer);
        assert_eq!(hub.viewer_count(&stream), 1);
        assert_eq!(hub.unregister(seller.peer), vec![(stream.clone(), MemberRole::Publisher)]);
        assert!(!hub.has_role(&stream, MemberRole::Publisher));
    }
}
