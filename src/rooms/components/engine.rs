//! The browser side of a mesh call (WASM / `hydrate` only): one [`Peer`] per other member of the signaling
//! room, perfect negotiation with the newer connection as the polite peer, a pre-negotiated data channel per
//! peer for chat and mute/camera state, `getStats()` polling for the quality badges, and the controls (mute,
//! camera, device switch with `replaceTrack`, screen share). One call per page: the engine lives in a
//! thread-local slot between [`start`] and [`shutdown`].

use super::{CallUi, ChatLine, ConnState, Participant};
use crate::ids::PeerId;
use crate::rooms::DataMsg;
use crate::rtc::media;
use crate::rtc::peer::{Peer, PeerEvent, PeerState};
use crate::rtc::quality::quality;
use crate::rtc::stats::{self, Reading};
use crate::signaling::client::{self, ClientEvent, LinkStatus};
use crate::signaling::protocol::{ClientMsg, PeerInfo, RoomId, ServerMsg, Signal};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlVideoElement, MediaStream, MediaStreamTrack};

struct Remote {
    peer: Peer,
    stream: Option<MediaStream>,
    last: Option<Reading>,
}

struct State {
    ui: CallUi,
    room: Option<RoomId>,
    /// What the local preview shows and the peers are sent: the camera's video track (or none) and the
    /// microphone's audio track.
    local: Option<MediaStream>,
    camera: Option<MediaStreamTrack>,
    screen: Option<MediaStreamTrack>,
    /// Keeps the screen track's `ended` handler alive while sharing.
    screen_ended: Option<Closure<dyn FnMut(web_sys::Event)>>,
    remotes: HashMap<PeerId, Remote>,
    /// Which [`start`] made this engine (see [`shutdown`]).
    token: u64,
    /// Polls `getStats()` every [`STATS_EVERY_MS`].
    stats_timer: Option<IntervalHandle>,
}

/// How often the quality badges are recomputed, in milliseconds.
const STATS_EVERY_MS: u64 = 2_000;

thread_local! {
    static ENGINE: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
    static NEXT_TOKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

fn engine() -> Option<Rc<RefCell<State>>> {
    ENGINE.with(|e| e.borrow().clone())
}

/// Starts the page's call engine with `ui` (replacing any previous one) and starts the stats polling (the
/// ICE servers come with the room's `joined`). Returns the token to pass to [`shutdown`] when the page goes away.
pub fn start(ui: CallUi) -> u64 {
    if let Some(old) = engine().map(|e| e.borrow().token) {
        shutdown(old);
    }
    let token = NEXT_TOKEN.with(|t| t.replace(t.get() + 1));
    let stats_timer = set_interval_with_handle(poll_stats, std::time::Duration::from_millis(STATS_EVERY_MS)).ok();
    let state = Rc::new(RefCell::new(State {
        ui,
        room: None,
        local: None,
        camera: None,
        screen: None,
        screen_ended: None,
        remotes: HashMap::new(),
        token,
        stats_timer,
    }));
    ENGINE.with(|e| *e.borrow_mut() = Some(state));
    token
}

/// Hands the engine the captured camera + microphone (or `None` to join without them).
pub fn set_local(stream: Option<MediaStream>) {
    let Some(e) = engine() else { return };
    let mut s = e.borrow_mut();
    if let Some(old) = s.local.take() {
        media::stop(&old);
    }
    s.camera = stream.as_ref().and_then(|st| st.get_video_tracks().get(0).dyn_into::<MediaStreamTrack>().ok());
    // Already in a call: send the new tracks instead (replaceTrack, no renegotiation).
    if let Some(st) = &stream {
        let audio = st.get_audio_tracks().get(0).dyn_into::<MediaStreamTrack>().ok();
        for r in s.remotes.values() {
            if let (Some(camera), None) = (&s.camera, &s.screen) {
                r.peer.replace_video_track(camera);
            }
            if let Some(audio) = &audio {
                r.peer.replace_audio_track(audio);
            }
        }
    }
    let ui = s.ui;
    ui.has_audio.try_set(stream.as_ref().is_some_and(|st| st.get_audio_tracks().length() > 0));
    ui.has_video.try_set(s.camera.is_some());
    s.local = stream;
    ui.local_version.try_update(|v| *v += 1);
}

/// Enters `room`: joins it (and rejoins after reconnects); peers connect as members appear.
pub fn enter(room: RoomId) {
    let Some(e) = engine() else { return };
    e.borrow_mut().room = Some(room.clone());
    client::join(room);
}

/// Leaves the current room: closes every peer connection and forgets the participants. Local media stays.
pub fn exit() {
    let Some(e) = engine() else { return };
    let mut s = e.borrow_mut();
    close_remotes(&mut s);
    if let Some(room) = s.room.take() {
        client::leave(&room);
    }
}

/// Ends the call of the engine that [`start`] returned `token` for, and stops its camera, microphone and
/// screen share; nothing happens if another page's engine replaced it meanwhile.
pub fn shutdown(token: u64) {
    if engine().is_none_or(|e| e.borrow().token != token) {
        return;
    }
    exit();
    if let Some(e) = ENGINE.with(|e| e.borrow_mut().take()) {
        let mut s = e.borrow_mut();
        if let Some(timer) = s.stats_timer.take() {
            timer.clear();
        }
        if let Some(local) = s.local.take() {
            media::stop(&local);
        }
        if let Some(screen) = s.screen.take() {
            screen.stop();
        }
        s.screen_ended = None;
    }
}

fn close_remotes(s: &mut State) {
    for (_, r) in s.remotes.drain() {
        r.peer.close();
    }
    s.ui.participants.try_set(Vec::new());
}

fn update(ui: CallUi, peer: PeerId, f: impl FnOnce(&mut Participant)) {
    ui.participants.try_update(|list| {
        if let Some(p) = list.iter_mut().find(|p| p.peer == peer) {
            f(p);
        }
    });
}

fn my_state(s: &State) -> DataMsg {
    DataMsg::State {
        audio: s.ui.mic_on.try_get_untracked().unwrap_or_default()
            && s.ui.has_audio.try_get_untracked().unwrap_or_default(),
        video: s.ui.cam_on.try_get_untracked().unwrap_or_default()
            && s.ui.has_video.try_get_untracked().unwrap_or_default(),
        screen: s.screen.is_some(),
    }
}

fn broadcast_data(s: &State, msg: &DataMsg) -> usize {
    let Ok(text) = serde_json::to_string(msg) else { return 0 };
    s.remotes.values().filter(|r| r.peer.send_data(&text)).count()
}

/// Whether this page is the polite peer toward `remote`: the connection with the higher peer id is polite.
fn polite_toward(remote: PeerId) -> bool {
    client::me().is_some_and(|me| me > remote)
}

/// A member is in the room (from `joined` or `peer_joined`): show its tile, and if this page is the impolite
/// side, open the connection and offer. The polite side waits for that offer and adds its own tracks before
/// answering ([`connect`] from the first signal), so the first negotiation of a pair never has crossing
/// offers. (Chromium leaves the receivers of a rolled-back `addTrack` transceiver muted, so initial glare
/// cost a direction of media; perfect negotiation still handles collisions in later renegotiations.)
fn appear(e: &Rc<RefCell<State>>, info: &PeerInfo) {
    let ui = e.borrow().ui;
    let remote = info.peer;
    ui.participants.try_update(|list| {
        if !list.iter().any(|p| p.peer == remote) {
            list.push(Participant::new(remote, info.name.clone()));
        }
    });
    if !polite_toward(remote) {
        connect(e, info);
    }
}

/// Opens a peer connection to `info` (unless one exists), with the data channel and the local tracks.
fn connect(e: &Rc<RefCell<State>>, info: &PeerInfo) {
    let mut s = e.borrow_mut();
    let Some(room) = s.room.clone() else { return };
    if s.remotes.contains_key(&info.peer) {
        return;
    }
    let remote = info.peer;
    let polite = polite_toward(remote);
    let signal_room = room.clone();
    let send: Rc<dyn Fn(Signal)> = Rc::new(move |signal| {
        client::send(&ClientMsg::Signal { room: signal_room.clone(), to: remote, signal });
    });
    let weak = Rc::downgrade(e);
    let on_event: Rc<dyn Fn(PeerEvent)> = Rc::new(move |event| {
        if let Some(e) = weak.upgrade() {
            peer_event(&e, remote, event);
        }
    });
    leptos::logging::log!("call: connecting to peer {remote} ({}), polite = {polite}", info.name);
    let peer = match Peer::new(&room, polite, send, on_event) {
        Ok(peer) => peer,
        Err(err) => {
            leptos::logging::error!("could not create a peer connection: {err:?}");
            return;
        }
    };
    peer.open_data_channel("chat");
    if let Some(local) = &s.local {
        peer.add_stream(local);
        if let Some(screen) = &s.screen {
            peer.replace_video_track(screen);
        }
    }
    s.remotes.insert(remote, Remote { peer, stream: None, last: None });
    let ui = s.ui;
    drop(s);
    ui.participants.try_update(|list| {
        if !list.iter().any(|p| p.peer == remote) {
            list.push(Participant::new(remote, info.name.clone()));
        }
    });
}

fn peer_event(e: &Rc<RefCell<State>>, remote: PeerId, event: PeerEvent) {
    let ui = e.borrow().ui;
    match event {
        PeerEvent::RemoteStream(stream) => {
            if let Some(r) = e.borrow_mut().remotes.get_mut(&remote) {
                r.stream = Some(stream);
            }
            update(ui, remote, |p| p.stream_version += 1);
        }
        PeerEvent::State(state) => {
            leptos::logging::log!("call: peer {remote} is {state:?}");
            let conn = match state {
                PeerState::Connected => ConnState::Connected,
                PeerState::Disconnected | PeerState::Failed => ConnState::Reconnecting,
                _ => ConnState::Connecting,
            };
            update(ui, remote, |p| {
                p.conn = conn;
                if conn != ConnState::Connected {
                    p.quality = None;
                }
            });
        }
        PeerEvent::DataOpen => {
            let s = e.borrow();
            if let (Some(r), Ok(text)) = (s.remotes.get(&remote), serde_json::to_string(&my_state(&s))) {
                r.peer.send_data(&text);
            }
            drop(s);
            update(ui, remote, |p| p.data_open = true);
        }
        PeerEvent::Data(text) => match DataMsg::parse(&text) {
            Some(DataMsg::State { audio, video, screen }) => update(ui, remote, |p| {
                p.audio = audio;
                p.video = video;
                p.screen = screen;
            }),
            Some(DataMsg::Chat { text, .. }) => {
                let name = ui
                    .participants
                    .try_with_untracked(|list| {
                        list.iter().find(|p| p.peer == remote).map(|p| p.name.clone()).unwrap_or_default()
                    })
                    .unwrap_or_default();
                ui.chat.try_update(|c| {
                    c.push(ChatLine { from: name, text, at_ms: js_sys::Date::now() as i64, mine: false })
                });
            }
            None => {}
        },
    }
}

fn remove(e: &Rc<RefCell<State>>, peer: PeerId) {
    let mut s = e.borrow_mut();
    if let Some(r) = s.remotes.remove(&peer) {
        r.peer.close();
    }
    s.ui.participants.try_update(|list| list.retain(|p| p.peer != peer));
}

/// Feeds a signaling event to the engine; returns `true` if it concerned the engine's room.
pub fn handle(event: &ClientEvent) -> bool {
    let Some(e) = engine() else { return false };
    let room = e.borrow().room.clone();
    let Some(room) = room else { return false };
    match event {
        ClientEvent::Status(LinkStatus::Reconnecting) => {
            // Everyone is connected again after the automatic rejoin.
            close_remotes(&mut e.borrow_mut());
            false
        }
        ClientEvent::Status(_) => false,
        ClientEvent::Msg(msg) => match msg {
            ServerMsg::Joined { room: r, peers, .. } if *r == room => {
                for p in peers {
                    appear(&e, p);
                }
                true
            }
            ServerMsg::PeerJoined { room: r, peer } if *r == room => {
                appear(&e, peer);
                true
            }
            ServerMsg::PeerLeft { room: r, peer } if *r == room => {
                remove(&e, *peer);
                true
            }
            ServerMsg::Signal { room: r, from, signal, .. } if *r == room => {
                if !e.borrow().remotes.contains_key(from) {
                    // The impolite side's first offer: connect now (tracks added before the offer is applied).
                    let ui = e.borrow().ui;
                    let name = ui
                        .participants
                        .try_with_untracked(|l| l.iter().find(|p| p.peer == *from).map(|p| p.name.clone()))
                        .flatten()
                        .unwrap_or_else(|| "Guest".into());
                    let info = PeerInfo {
                        peer: *from,
                        user: crate::ids::UserId(uuid::Uuid::nil()),
                        name,
                        role: Default::default(),
                    };
                    connect(&e, &info);
                }
                let peer = e.borrow().remotes.get(from).map(|r| r.peer.clone());
                if let Some(peer) = peer {
                    peer.handle(signal.clone());
                }
                true
            }
            _ => false,
        },
    }
}

/// Shows the local camera (or the shared screen) in `video`.
pub fn attach_local(video: &HtmlVideoElement) {
    let Some(e) = engine() else { return };
    let s = e.borrow();
    match (&s.screen, &s.local) {
        (Some(screen), _) => {
            if let Ok(preview) = MediaStream::new() {
                preview.add_track(screen);
                media::attach(video, &preview);
            }
        }
        (None, Some(local)) => media::attach(video, local),
        (None, None) => video.set_src_object(None),
    }
}

/// Shows `peer`'s media in `video` and starts playback (muted if the browser refuses sound; then
/// `needs_unmute` is set for that participant).
pub fn attach_remote(peer: PeerId, video: &HtmlVideoElement) {
    let Some(e) = engine() else { return };
    let (stream, ui) = {
        let s = e.borrow();
        (s.remotes.get(&peer).and_then(|r| r.stream.clone()), s.ui)
    };
    let Some(stream) = stream else { return };
    let current: Option<JsValue> = video.src_object().map(Into::into);
    if current.is_some_and(|c| c == JsValue::from(stream.clone())) {
        // Already showing it (a second track of the same stream arrived): reassigning would restart it.
        return;
    }
    media::attach(video, &stream);
    let video = video.clone();
    spawn_local(async move {
        if let Ok(p) = video.play() {
            let Err(err) = wasm_bindgen_futures::JsFuture::from(p).await else { return };
            // `AbortError`: a newer load replaced this one (it plays by itself, `autoplay`). Only a refusal to
            // play with sound (`NotAllowedError`) needs the muted fallback and a click.
            let name = js_sys::Reflect::get(&err, &JsValue::from_str("name")).ok().and_then(|n| n.as_string());
            if name.as_deref() == Some("NotAllowedError") {
                leptos::logging::warn!("call: the browser refused to play peer {peer}'s media with sound");
                video.set_muted(true);
                update(ui, peer, |p| p.needs_unmute = true);
                if let Ok(p) = video.play() {
                    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
                }
            }
        }
    });
}

/// Mutes or unmutes the microphone (`track.enabled`; the others see the state).
pub fn toggle_mic() {
    let Some(e) = engine() else { return };
    let s = e.borrow();
    let on = !s.ui.mic_on.try_get_untracked().unwrap_or_default();
    if let Some(local) = &s.local {
        for t in local.get_audio_tracks().iter() {
            t.unchecked_into::<MediaStreamTrack>().set_enabled(on);
        }
    }
    s.ui.mic_on.try_set(on);
    broadcast_data(&s, &my_state(&s));
}

/// Turns the camera off or on (`track.enabled`: black frames, the others show the name instead).
pub fn toggle_camera() {
    let Some(e) = engine() else { return };
    let s = e.borrow();
    let on = !s.ui.cam_on.try_get_untracked().unwrap_or_default();
    if let Some(camera) = &s.camera {
        camera.set_enabled(on);
    }
    s.ui.cam_on.try_set(on);
    broadcast_data(&s, &my_state(&s));
}

/// Switches to another camera (`kind` "video") or microphone ("audio") during the call with
/// `RTCRtpSender.replaceTrack` (no renegotiation). Errors go to `ui.notice`.
pub fn switch_device(kind: &'static str, device: String) {
    spawn_local(async move {
        let Some(e) = engine() else { return };
        let ui = e.borrow().ui;
        let device = (!device.is_empty()).then_some(device);
        let track = match media::capture_track(kind, device.as_deref()).await {
            Ok(track) => track,
            Err(err) => {
                ui.notice.try_set(Some(err.to_string()));
                return;
            }
        };
        let mut s = e.borrow_mut();
        let Some(local) = s.local.clone() else {
            track.stop();
            return;
        };
        let old: Vec<MediaStreamTrack> =
            if kind == "video" { local.get_video_tracks() } else { local.get_audio_tracks() }
                .iter()
                .map(|t| t.unchecked_into())
                .collect();
        for t in &old {
            local.remove_track(t);
            t.stop();
        }
        local.add_track(&track);
        if kind == "video" {
            track.set_enabled(ui.cam_on.try_get_untracked().unwrap_or_default());
            s.camera = Some(track.clone());
            if s.screen.is_none() {
                for r in s.remotes.values() {
                    r.peer.replace_video_track(&track);
                }
            }
        } else {
            track.set_enabled(ui.mic_on.try_get_untracked().unwrap_or_default());
            for r in s.remotes.values() {
                r.peer.replace_audio_track(&track);
            }
        }
        drop(s);
        ui.notice.try_set(None);
        ui.local_version.try_update(|v| *v += 1);
    });
}

/// Starts sharing a screen (`getDisplayMedia`), sent instead of the camera; sharing stops (back to the
/// camera) with [`stop_share`] or when the person ends it from the browser's bar.
pub fn share_screen() {
    spawn_local(async move {
        let Some(e) = engine() else { return };
        let ui = e.borrow().ui;
        let track = match media::capture_screen().await {
            Ok(track) => track,
            Err(err) => {
                ui.notice.try_set(Some(format!("Screen sharing did not start: {err}")));
                return;
            }
        };
        let ended = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| stop_share());
        track.set_onended(Some(ended.as_ref().unchecked_ref()));
        let mut s = e.borrow_mut();
        for r in s.remotes.values() {
            r.peer.replace_video_track(&track);
        }
        if let Some(old) = s.screen.replace(track) {
            old.stop();
        }
        s.screen_ended = Some(ended);
        ui.sharing.try_set(true);
        ui.notice.try_set(None);
        broadcast_data(&s, &my_state(&s));
        drop(s);
        ui.local_version.try_update(|v| *v += 1);
    });
}

/// Stops the screen share and sends the camera again.
pub fn stop_share() {
    let Some(e) = engine() else { return };
    let mut s = e.borrow_mut();
    let Some(screen) = s.screen.take() else { return };
    screen.set_onended(None);
    screen.stop();
    s.screen_ended = None;
    if let Some(camera) = s.camera.clone() {
        for r in s.remotes.values() {
            r.peer.replace_video_track(&camera);
        }
    }
    let ui = s.ui;
    ui.sharing.try_set(false);
    broadcast_data(&s, &my_state(&s));
    drop(s);
    ui.local_version.try_update(|v| *v += 1);
}

/// Sends a chat line to every peer whose data channel is open; returns how many got it (0: nobody).
pub fn send_chat(text: &str) -> usize {
    let Some(e) = engine() else { return 0 };
    let s = e.borrow();
    let sent = broadcast_data(&s, &DataMsg::Chat { text: text.to_string(), sent_at_ms: js_sys::Date::now() as i64 });
    if sent > 0 {
        s.ui.chat.try_update(|c| {
            c.push(ChatLine {
                from: "You".into(),
                text: text.to_string(),
                at_ms: js_sys::Date::now() as i64,
                mine: true,
            })
        });
    }
    sent
}

/// Reads every peer's `getStats()` and updates its quality badge and stats panel.
pub fn poll_stats() {
    let Some(e) = engine() else { return };
    let peers: Vec<(PeerId, Peer)> = e.borrow().remotes.iter().map(|(id, r)| (*id, r.peer.clone())).collect();
    for (id, peer) in peers {
        let weak = Rc::downgrade(&e);
        spawn_local(async move {
            let Ok(reading) = stats::read(&peer).await else { return };
            let Some(e) = weak.upgrade() else { return };
            let mut s = e.borrow_mut();
            let ui = s.ui;
            let Some(r) = s.remotes.get_mut(&id) else { return };
            let sample = reading.sample_since(r.last.as_ref());
            r.last = Some(reading);
            let connected = peer.connection_state() == PeerState::Connected;
            drop(s);
            update(ui, id, |p| {
                p.quality = Some(quality(&sample, connected, p.video || p.screen));
                p.sample = Some(sample);
            });
        });
    }
}
