//! Server-side rules of rooms: creating and looking up rooms by link, and random partner matching driven
//! by `/ws` messages (`find_partner`, `stop_matching`, disconnects) over the pure [`Matcher`].

use crate::auth::backend::{require_user, User};
use crate::error::AppError;
use crate::ids::PeerId;
use crate::rooms::matcher::{MatchEvent, Matcher, Seat};
use crate::rooms::{queries, valid_slug, validate_room_name, RoomView};
use crate::server::state::AppState;
use crate::signaling::protocol::{ErrorCode, MemberRole, PeerInfo, RoomId, ServerMsg};
use leptos::prelude::expect_context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rooms shown in "Your rooms".
const MY_ROOMS_LIMIT: i64 = 20;

/// Ephemeral state of random matching: the queue and the pairs, with the clock they are measured on.
pub struct RoomsState {
    matcher: Mutex<Matcher>,
    started: Instant,
    /// A delayed re-pairing task is pending (at most one at a time).
    rematch_pending: AtomicBool,
}

impl Default for RoomsState {
    fn default() -> Self {
        Self { matcher: Mutex::new(Matcher::new()), started: Instant::now(), rematch_pending: AtomicBool::new(false) }
    }
}

impl RoomsState {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Matcher> {
        self.matcher.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn view(row: queries::RoomRow, participants: u32) -> RoomView {
    RoomView {
        slug: row.slug,
        name: row.name,
        created_by_name: row.created_by_name,
        created_at_ms: (row.created_at.unix_timestamp_nanos() / 1_000_000) as i64,
        participants,
    }
}

/// A random link key like `kqz-rmtd-wpa` (10 letters from a v4 UUID's random bits: about 47 bits).
fn new_slug() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let letters: Vec<char> = bytes.iter().take(10).map(|b| (b'a' + b % 26) as char).collect();
    format!(
        "{}-{}-{}",
        letters[..3].iter().collect::<String>(),
        letters[3..7].iter().collect::<String>(),
        letters[7..].iter().collect::<String>()
    )
}

fn participants(state: &AppState, slug: &str) -> u32 {
    state.hub.members(&RoomId::Call(slug.to_string())).len() as u32
}

/// Body of `create_room`. Errors: `Unauthorized`, `Validation` (name).
pub async fn create_room(name: &str) -> Result<RoomView, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let name = validate_room_name(name)?;
    for _ in 0..3 {
        let slug = new_slug();
        match queries::insert_room(&state.pool, &slug, &name, user.id).await {
            Ok(()) => {
                tracing::info!(room = %slug, by = %user.id, "room created");
                return room(&slug).await;
            }
            Err(e) if e.as_database_error().and_then(|d| d.constraint()) == Some("rooms_pkey") => continue,
            Err(e) => return Err(AppError::internal(e)),
        }
    }
    Err(AppError::internal("could not find a free room link in 3 tries"))
}

/// Body of `get_room`. Errors: `NotFound`.
pub async fn room(slug: &str) -> Result<RoomView, AppError> {
    let state = expect_context::<AppState>();
    let not_found =
        || AppError::NotFound("There is no room at this link. Check the link, or create a new room.".into());
    if !valid_slug(slug) {
        return Err(not_found());
    }
    let row = queries::room(&state.pool, slug).await?.ok_or_else(not_found)?;
    let n = participants(&state, &row.slug);
    Ok(view(row, n))
}

/// Body of `my_rooms`. Errors: `Unauthorized`.
pub async fn my_rooms() -> Result<Vec<RoomView>, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let rows = queries::rooms_by_creator(&state.pool, user.id, MY_ROOMS_LIMIT).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let n = participants(&state, &row.slug);
            view(row, n)
        })
        .collect())
}

/// May `peer` join `room` (a `match:<n>` room)? Only the two connections of pair `n`, while it lasts.
/// Errors: `NoSuchRoom` when the pair has ended (or never existed), `Forbidden` for anyone else.
pub fn authorize_match_join(state: &AppState, peer: PeerId, pair: u64) -> Result<MemberRole, ErrorCode> {
    let matcher = state.rooms.lock();
    let (a, b) = matcher.pair(pair).ok_or(ErrorCode::NoSuchRoom)?;
    if a.peer == peer || b.peer == peer {
        Ok(MemberRole::Member)
    } else {
        Err(ErrorCode::Forbidden)
    }
}

/// `find_partner` from `peer` (`user`): ends its current match and queues it (former partners alone in the
/// queue meet again after [`crate::rooms::matcher::REMATCH_AFTER_MS`]).
pub fn find_partner(state: &AppState, user: &User, peer: PeerId) {
    let seat = Seat { peer, user: user.id, name: user.display_name.clone() };
    let events = {
        let mut m = state.rooms.lock();
        let now = state.rooms.now_ms();
        m.find_partner(seat, now)
    };
    let still_waiting = deliver(state, events);
    if still_waiting {
        schedule_rematch(state.clone());
    }
}

/// `stop_matching` from `peer` (`answer`: send it `match_stopped`, even if it was not matching), or its
/// disconnect (`answer` false).
pub fn stop_matching(state: &AppState, peer: PeerId, answer: bool) {
    let mut events: Vec<MatchEvent> =
        state.rooms.lock().stop(peer).into_iter().filter(|e| !matches!(e, MatchEvent::Stopped { .. })).collect();
    if answer {
        events.push(MatchEvent::Stopped { peer });
    }
    deliver(state, events);
}

/// While people stay in the queue, tries again every second so that former partners alone in the queue
/// meet again after [`REMATCH_AFTER_MS`]. One such task at most; it ends when nobody waits.
fn schedule_rematch(state: AppState) {
    if state.rooms.rematch_pending.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let events = {
                let mut m = state.rooms.lock();
                let now = state.rooms.now_ms();
                m.tick(now)
            };
            if !deliver(&state, events) {
                state.rooms.rematch_pending.store(false, Ordering::Release);
                // Someone may have queued between the check and the store: look once more.
                if state.rooms.lock().has_waiting() && !state.rooms.rematch_pending.swap(true, Ordering::AcqRel) {
                    continue;
                }
                return;
            }
        }
    });
}

/// Sends each event to whom it concerns; returns whether anyone is still waiting.
fn deliver(state: &AppState, events: Vec<MatchEvent>) -> bool {
    for event in events {
        match event {
            MatchEvent::Waiting { peer, waiting } => {
                state.hub.send(peer, &ServerMsg::MatchWaiting { waiting: waiting as u32 });
            }
            MatchEvent::Matched { pair, a, b } => {
                let room = RoomId::Match(pair);
                let info =
                    |s: &Seat| PeerInfo { peer: s.peer, user: s.user, name: s.name.clone(), role: MemberRole::Member };
                state.hub.send(a.peer, &ServerMsg::Matched { room: room.clone(), partner: info(&b) });
                state.hub.send(b.peer, &ServerMsg::Matched { room, partner: info(&a) });
                tracing::debug!(pair, a = %a.peer, b = %b.peer, "matched");
            }
            MatchEvent::PartnerLeft { pair, peer } => {
                let room = RoomId::Match(pair);
                // The leaver is out of the call at once, whatever its page does next.
                for member in state.hub.members(&room) {
                    if member.peer != peer {
                        state.hub.leave(member.peer, &room);
                    }
                }
                state.hub.send(peer, &ServerMsg::PartnerLeft { room });
            }
            MatchEvent::Stopped { peer } => state.hub.send(peer, &ServerMsg::MatchStopped),
        }
    }
    state.rooms.lock().has_waiting()
}
