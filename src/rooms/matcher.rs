//! Random partner matching as pure state: the waiting queue, the current pairs and the pairing rules
//! (no I/O, no clock; the caller passes the time). `rooms::service` drives it from `/ws` messages.
//!
//! Rules:
//! - people are paired oldest-waiting first;
//! - a user is never paired with themselves (two tabs of one account are one person);
//! - two users who were each other's last partner are not paired again while anyone else could be paired
//!   with either of them; when nobody else comes, they may meet again once both have waited
//!   [`REMATCH_AFTER_MS`] (so two people alone on the page are not stuck forever);
//! - ending a match ("Next", leaving the page, disconnecting) ends it for both: the partner is told and is not
//!   queued again until they ask.

use crate::ids::{PeerId, UserId};
use std::collections::HashMap;

/// How long two former partners must both have waited before they may be paired again, in milliseconds.
pub const REMATCH_AFTER_MS: u64 = 10_000;

/// One person (one connection) in the queue or in a pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    /// The connection.
    pub peer: PeerId,
    /// The signed-in account behind it.
    pub user: UserId,
    /// Display name (plain text).
    pub name: String,
}

#[derive(Clone, Debug)]
struct Waiting {
    seat: Seat,
    /// When it entered the queue, in milliseconds on the caller's clock.
    since_ms: u64,
}

/// What the caller must tell whom, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchEvent {
    /// `peer` is waiting; `waiting` connections are in the queue now.
    Waiting { peer: PeerId, waiting: usize },
    /// `a` and `b` were paired as pair number `pair` (`a` waited longer).
    Matched { pair: u64, a: Seat, b: Seat },
    /// `peer`'s partner in `pair` left; `peer` is neither waiting nor paired now.
    PartnerLeft { pair: u64, peer: PeerId },
    /// `peer` left the queue or its pair (it asked, or disconnected).
    Stopped { peer: PeerId },
}

/// The queue and the pairs of one server process.
#[derive(Debug, Default)]
pub struct Matcher {
    waiting: Vec<Waiting>,
    pairs: HashMap<u64, (Seat, Seat)>,
    pair_of: HashMap<PeerId, u64>,
    /// Each user's most recent partner.
    last_partner: HashMap<UserId, UserId>,
    next_pair: u64,
}

impl Matcher {
    /// An empty matcher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends `seat.peer`'s current pair, if any, then queues it (if not already queued) and pairs whoever
    /// can be paired. `now_ms` is the caller's clock in milliseconds.
    pub fn find_partner(&mut self, seat: Seat, now_ms: u64) -> Vec<MatchEvent> {
        let mut events = self.end_pair(seat.peer);
        if !self.waiting.iter().any(|w| w.seat.peer == seat.peer) {
            let peer = seat.peer;
            self.waiting.push(Waiting { seat, since_ms: now_ms });
            events.push(MatchEvent::Waiting { peer, waiting: self.waiting.len() });
        }
        events.extend(self.pair_waiting(now_ms));
        events
    }

    /// Takes `peer` out of the queue or its pair (the partner gets [`MatchEvent::PartnerLeft`]). Returns
    /// nothing if `peer` was neither waiting nor paired.
    pub fn stop(&mut self, peer: PeerId) -> Vec<MatchEvent> {
        let mut events = self.end_pair(peer);
        let before = self.waiting.len();
        self.waiting.retain(|w| w.seat.peer != peer);
        if before != self.waiting.len() || !events.is_empty() {
            events.push(MatchEvent::Stopped { peer });
        }
        events
    }

    /// Pairs whoever can be paired now (call it periodically so that former partners alone in the queue
    /// meet again after [`REMATCH_AFTER_MS`]).
    pub fn tick(&mut self, now_ms: u64) -> Vec<MatchEvent> {
        self.pair_waiting(now_ms)
    }

    /// The pair `peer` is in, if any.
    pub fn pair_of(&self, peer: PeerId) -> Option<u64> {
        self.pair_of.get(&peer).copied()
    }

    /// The two seats of `pair`, if it still exists.
    pub fn pair(&self, pair: u64) -> Option<&(Seat, Seat)> {
        self.pairs.get(&pair)
    }

    /// Connections waiting now.
    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    /// Whether anyone waits (a periodic [`Matcher::tick`] is useful only then).
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    fn end_pair(&mut self, peer: PeerId) -> Vec<MatchEvent> {
        let Some(pair) = self.pair_of.remove(&peer) else { return Vec::new() };
        let Some((a, b)) = self.pairs.remove(&pair) else { return Vec::new() };
        let partner = if a.peer == peer { b } else { a };
        self.pair_of.remove(&partner.peer);
        vec![MatchEvent::PartnerLeft { pair, peer: partner.peer }]
    }

    fn repeat(&self, x: &Seat, y: &Seat) -> bool {
        self.last_partner.get(&x.user) == Some(&y.user) || self.last_partner.get(&y.user) == Some(&x.user)
    }

    /// Greedy, oldest first: first every pair of different users that are not each other's last partner;
    /// then former partners who both waited long enough. After the first pass no allowed non-repeat pair is
    /// left (when `i` was visited, any later `j` still waiting was available to it).
    fn pair_waiting(&mut self, now_ms: u64) -> Vec<MatchEvent> {
        let mut events = Vec::new();
        for allow_repeat in [false, true] {
            let mut i = 0;
            while i < self.waiting.len() {
                let found = (i + 1..self.waiting.len()).find(|&j| {
                    let (x, y) = (&self.waiting[i], &self.waiting[j]);
                    x.seat.user != y.seat.user
                        && if allow_repeat {
                            now_ms.saturating_sub(x.since_ms) >= REMATCH_AFTER_MS
                                && now_ms.saturating_sub(y.since_ms) >= REMATCH_AFTER_MS
                        } else {
                            !self.repeat(&x.seat, &y.seat)
                        }
                });
                match found {
                    Some(j) => {
                        let b = self.waiting.remove(j).seat;
                        let a = self.waiting.remove(i).seat;
                        self.next_pair += 1;
                        let pair = self.next_pair;
                        self.pair_of.insert(a.peer, pair);
                        self.pair_of.insert(b.peer, pair);
                        self.last_partner.insert(a.user, b.user);
                        self.last_partner.insert(b.user, a.user);
                        self.pairs.insert(pair, (a.clone(), b.clone()));
                        events.push(MatchEvent::Matched { pair, a, b });
                    }
                    None => i += 1,
                }
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(peer: u64, user: UserId) -> Seat {
        Seat { peer: PeerId(peer), user, name: format!("p{peer}") }
    }

    fn matched(events: &[MatchEvent]) -> Vec<(u64, u64)> {
        events
            .iter()
            .filter_map(|e| match e {
                MatchEvent::Matched { a, b, .. } => Some((a.peer.0, b.peer.0)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn two_waiting_people_are_paired_oldest_first() {
        let mut m = Matcher::new();
        let (u1, u2, u3) = (UserId::new(), UserId::new(), UserId::new());
        let e = m.find_partner(seat(1, u1), 0);
        assert_eq!(e, vec![MatchEvent::Waiting { peer: PeerId(1), waiting: 1 }]);
        let e = m.find_partner(seat(2, u2), 10);
        assert_eq!(matched(&e), vec![(1, 2)]);
        assert_eq!(m.pair_of(PeerId(1)), m.pair_of(PeerId(2)));
        assert!(m.pair_of(PeerId(1)).is_some());
        let e = m.find_partner(seat(3, u3), 20);
        assert_eq!(e, vec![MatchEvent::Waiting { peer: PeerId(3), waiting: 1 }]);
        assert_eq!(m.waiting_count(), 1);
    }

    #[test]
    fn nobody_is_matched_with_themselves() {
        let mut m = Matcher::new();
        let me = UserId::new();
        m.find_partner(seat(1, me), 0);
        let e = m.find_partner(seat(2, me), 0);
        assert!(matched(&e).is_empty(), "two tabs of one account stay apart: {e:?}");
        assert!(matched(&m.tick(60_000)).is_empty(), "not even after waiting");
        let other = UserId::new();
        let e = m.find_partner(seat(3, other), 60_000);
        assert_eq!(matched(&e), vec![(1, 3)]);
    }

    #[test]
    fn next_ends_the_pair_for_both_and_requeues_only_the_one_who_asked() {
        let mut m = Matcher::new();
        let (u1, u2) = (UserId::new(), UserId::new());
        m.find_partner(seat(1, u1), 0);
        let pair = match m.find_partner(seat(2, u2), 0).pop() {
            Some(MatchEvent::Matched { pair, .. }) => pair,
            other => panic!("{other:?}"),
        };
        let e = m.find_partner(seat(1, u1), 100);
        assert_eq!(
            e,
            vec![
                MatchEvent::PartnerLeft { pair, peer: PeerId(2) },
                MatchEvent::Waiting { peer: PeerId(1), waiting: 1 },
            ]
        );
        assert_eq!(m.pair_of(PeerId(2)), None);
        assert!(m.pair(pair).is_none());
    }

    #[test]
    fn former_partners_are_not_paired_again_while_others_wait() {
        let mut m = Matcher::new();
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        m.find_partner(seat(1, a), 0);
        m.find_partner(seat(2, b), 0); // a–b
        m.find_partner(seat(1, a), 1_000); // a presses Next: b is told, a waits
        let e = m.find_partner(seat(2, b), 1_000); // b requeues: a and b alone, no repeat yet
        assert!(matched(&e).is_empty(), "{e:?}");
        let e = m.find_partner(seat(3, c), 2_000); // c arrives: a (oldest) gets c, b keeps waiting
        assert_eq!(matched(&e), vec![(1, 3)]);
        assert_eq!(m.waiting_count(), 1);
    }

    #[test]
    fn former_partners_alone_meet_again_after_both_waited() {
        let mut m = Matcher::new();
        let (a, b) = (UserId::new(), UserId::new());
        m.find_partner(seat(1, a), 0);
        m.find_partner(seat(2, b), 0);
        m.find_partner(seat(1, a), 1_000);
        m.find_partner(seat(2, b), 3_000);
        assert!(matched(&m.tick(1_000 + REMATCH_AFTER_MS)).is_empty(), "b has not waited long enough");
        assert_eq!(matched(&m.tick(3_000 + REMATCH_AFTER_MS)), vec![(1, 2)]);
    }

    #[test]
    fn stop_leaves_the_queue_or_the_pair() {
        let mut m = Matcher::new();
        let (a, b) = (UserId::new(), UserId::new());
        assert!(m.stop(PeerId(9)).is_empty(), "stopping when not matching is a no-op");
        m.find_partner(seat(1, a), 0);
        assert_eq!(m.stop(PeerId(1)), vec![MatchEvent::Stopped { peer: PeerId(1) }]);
        assert!(!m.has_waiting());
        m.find_partner(seat(1, a), 0);
        let pair = m.find_partner(seat(2, b), 0).iter().find_map(|e| match e {
            MatchEvent::Matched { pair, .. } => Some(*pair),
            _ => None,
        });
        let pair = pair.unwrap();
        assert_eq!(
            m.stop(PeerId(2)),
            vec![MatchEvent::PartnerLeft { pair, peer: PeerId(1) }, MatchEvent::Stopped { peer: PeerId(2) }]
        );
        assert_eq!(m.pair_of(PeerId(1)), None);
        // Asking twice does not queue twice.
        m.find_partner(seat(1, a), 0);
        m.find_partner(seat(1, a), 0);
        assert_eq!(m.waiting_count(), 1);
    }

    #[test]
    fn many_people_pair_up_with_no_one_twice() {
        let mut m = Matcher::new();
        let users: Vec<UserId> = (0..7).map(|_| UserId::new()).collect();
        let mut paired = Vec::new();
        for (i, u) in users.iter().enumerate() {
            paired.extend(matched(&m.find_partner(seat(i as u64 + 1, *u), 0)));
        }
        assert_eq!(paired, vec![(1, 2), (3, 4), (5, 6)]);
        assert_eq!(m.waiting_count(), 1);
    }
}
