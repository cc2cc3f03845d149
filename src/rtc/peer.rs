//! One `RTCPeerConnection` to one remote peer, driven by the [`Negotiator`] (WASM / `hydrate` only).
//!
//! This is the thin effectful shell around [`super::negotiation`]: it turns browser events and remote
//! [`Signal`]s into [`Input`]s, executes the resulting [`Action`]s with web-sys, and feeds the completions
//! back. Everything that reaches the negotiator goes through one FIFO queue per peer, drained by a single
//! task, so a signal is never started before the promises of the previous one have settled (JSEP, RFC 8829;
//! W3C webrtc-pc perfect negotiation). Local ICE candidates are trickled as they are gathered (RFC 8838).
//! The peer owns its event-handler closures and drops them in [`Peer::close`] (or when the last clone is
//! dropped); nothing is `forget()`-ed.

use super::negotiation::{Action, Candidate, Input, Negotiator, SdpKind};
use crate::signaling::client;
use crate::signaling::protocol::{RoomId, Signal};
use leptos::logging::warn;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    Event, MediaStream, MediaStreamTrack, MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelInit,
    RtcDataChannelState, RtcIceCandidateInit, RtcIceServer, RtcPeerConnection, RtcPeerConnectionIceEvent,
    RtcPeerConnectionState, RtcRtpSender, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};

// Members that web-sys 0.3.107 does not bind, on local views of the same JS objects (an inherent impl on the
// web-sys types themselves would break the orphan rule); reach them with `unchecked_ref`.
#[wasm_bindgen]
extern "C" {
    /// View of an `RTCPeerConnection`.
    type PeerConnectionExt;

    /// `RTCPeerConnection.setLocalDescription()` with no argument: the implicit description (W3C
    /// webrtc-pc), an offer in `stable` and an answer in `have-remote-offer`.
    #[wasm_bindgen(method, js_name = setLocalDescription)]
    fn set_local_description_implicit(this: &PeerConnectionExt) -> js_sys::Promise;

    /// `RTCPeerConnection.addTrack(track, stream)`, with its exception caught (web-sys's `add_track_0` lets
    /// an `InvalidAccessError` for a track added twice escape).
    #[wasm_bindgen(method, catch, js_name = addTrack)]
    fn add_track(
        this: &PeerConnectionExt,
        track: &MediaStreamTrack,
        stream: &MediaStream,
    ) -> Result<RtcRtpSender, JsValue>;

    /// `RTCPeerConnection.restartIce()` (W3C webrtc-pc, RFC 8445 §2.4).
    #[wasm_bindgen(method, catch, js_name = restartIce)]
    fn restart_ice(this: &PeerConnectionExt) -> Result<(), JsValue>;

    /// View of an `RTCIceCandidate` or an `RTCIceCandidateInit` dictionary.
    type IceCandidateExt;

    /// `RTCIceCandidate.usernameFragment`.
    #[wasm_bindgen(method, getter = usernameFragment)]
    fn username_fragment(this: &IceCandidateExt) -> Option<String>;

    /// `RTCIceCandidateInit.usernameFragment`.
    #[wasm_bindgen(method, setter = usernameFragment)]
    fn set_username_fragment(this: &IceCandidateExt, value: &str);
}

/// The connection's overall state, from W3C `RTCPeerConnectionState` (`pc.connectionState`), which
/// aggregates the ICE and DTLS transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Nothing has happened yet (`"new"`).
    New,
    /// ICE or DTLS is establishing (`"connecting"`).
    Connecting,
    /// Media can flow (`"connected"`).
    Connected,
    /// Connectivity was lost and may come back by itself (`"disconnected"`).
    Disconnected,
    /// Connectivity failed; needs an ICE restart (`"failed"`). One automatic restart is attempted per
    /// failure episode; offer the person a *Retry* ([`Peer::restart_ice`]) if it stays failed.
    Failed,
    /// The connection was closed (`"closed"`, or [`Peer::close`] was called).
    Closed,
}

impl From<RtcPeerConnectionState> for PeerState {
    fn from(state: RtcPeerConnectionState) -> Self {
        match state {
            RtcPeerConnectionState::New => PeerState::New,
            RtcPeerConnectionState::Connecting => PeerState::Connecting,
            RtcPeerConnectionState::Connected => PeerState::Connected,
            RtcPeerConnectionState::Disconnected => PeerState::Disconnected,
            RtcPeerConnectionState::Failed => PeerState::Failed,
            RtcPeerConnectionState::Closed => PeerState::Closed,
            _ => PeerState::New,
        }
    }
}

/// What a [`Peer`] reports to its owner through `on_event`.
#[derive(Clone, Debug)]
pub enum PeerEvent {
    /// The remote side's media arrived (the `track` event). Fired once per remote track, usually with the
    /// same stream for the audio and the video track: attach it to a `<video>` (idempotent). When the remote
    /// sent a track without a stream, the peer collects such tracks in one stream of its own.
    RemoteStream(MediaStream),
    /// `pc.connectionState` changed.
    State(PeerState),
    /// The data channel ([`Peer::open_data_channel`]) opened: [`Peer::send_data`] works from now on.
    DataOpen,
    /// A text message arrived on the data channel.
    Data(String),
}

/// A cheap-to-clone handle (`Rc`) on one `RTCPeerConnection` with perfect negotiation, trickle ICE and ICE
/// restart. Dropping the last clone closes the connection, like [`Peer::close`].
#[derive(Clone)]
pub struct Peer {
    inner: Rc<Inner>,
}

type SendFn = Rc<dyn Fn(Signal)>;
type EventFn = Rc<dyn Fn(PeerEvent)>;

struct Inner {
    pc: RtcPeerConnection,
    polite: bool,
    /// The signaling room whose ICE servers this connection uses (fresh ones before each ICE restart).
    room: RoomId,
    /// The owner's callbacks; taken on close, which also breaks any `Rc` cycle through them.
    send: RefCell<Option<SendFn>>,
    on_event: RefCell<Option<EventFn>>,
    negotiator: RefCell<Negotiator>,
    /// Inputs waiting for the negotiator, arrival order.
    queue: RefCell<VecDeque<Input>>,
    /// A task is draining `queue`.
    pumping: Cell<bool>,
    closed: Cell<bool>,
    /// `(track kind, sender)` for every track added with [`Peer::add_stream`].
    senders: RefCell<Vec<(String, RtcRtpSender)>>,
    /// Collects remote tracks that arrived without a stream.
    loose_tracks: RefCell<Option<MediaStream>>,
    callbacks: RefCell<Option<Callbacks>>,
    /// The data channel and its handlers, if [`Peer::open_data_channel`] was called.
    data: RefCell<Option<DataChannel>>,
}

/// A data channel with its handlers (dropped, never forgotten, on close).
struct DataChannel {
    channel: RtcDataChannel,
    _open: Closure<dyn FnMut(Event)>,
    _message: Closure<dyn FnMut(MessageEvent)>,
}

/// The event handlers installed on the connection; dropped (never forgotten) on close.
struct Callbacks {
    _negotiation_needed: Closure<dyn FnMut(Event)>,
    _ice_candidate: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
    _track: Closure<dyn FnMut(RtcTrackEvent)>,
    _connection_state: Closure<dyn FnMut(Event)>,
}

impl Peer {
    /// Creates the `RTCPeerConnection` with the STUN/TURN servers the server gave for `room` (in its
    /// `joined`; see [`client::ice_servers`]) and installs its handlers. Before each ICE restart the peer
    /// asks for fresh ones ([`client::fresh_ice`]) and applies them with `setConfiguration`, so the restart
    /// never gathers with expired TURN credentials.
    ///
    /// `polite`: true for the receive-only viewer, false for the publisher (in a mesh call, opposite values
    /// on the two ends, e.g. by comparing peer ids); see [`Negotiator::new`]. `send` relays a signal to the
    /// remote peer (called from event handlers; must not block). `on_event` receives [`PeerEvent`]s; both may
    /// call back into the peer, including [`Peer::close`]. Both are dropped on close, so capturing a clone of
    /// this `Peer` in them is fine as long as the peer is closed eventually.
    ///
    /// # Errors
    /// The `RTCPeerConnection` constructor's exception, e.g. a `SyntaxError` for a malformed ICE server URL
    /// or an `InvalidAccessError` for a TURN server without credentials.
    pub fn new(
        room: &RoomId,
        polite: bool,
        send: Rc<dyn Fn(Signal)>,
        on_event: Rc<dyn Fn(PeerEvent)>,
    ) -> Result<Peer, JsValue> {
        let pc = RtcPeerConnection::new_with_configuration(&configuration(&client::ice_servers(room)))?;
        let inner = Rc::new(Inner {
            pc,
            polite,
            room: room.clone(),
            send: RefCell::new(Some(send)),
            on_event: RefCell::new(Some(on_event)),
            negotiator: RefCell::new(Negotiator::new(polite)),
            queue: RefCell::new(VecDeque::new()),
            pumping: Cell::new(false),
            closed: Cell::new(false),
            senders: RefCell::new(Vec::new()),
            loose_tracks: RefCell::new(None),
            callbacks: RefCell::new(None),
            data: RefCell::new(None),
        });
        let callbacks = install_handlers(&inner);
        *inner.callbacks.borrow_mut() = Some(callbacks);
        Ok(Peer { inner })
    }

    /// Whether this end yields on offer collisions (see [`Peer::new`]).
    pub fn is_polite(&self) -> bool {
        self.inner.polite
    }

    /// Sends every track of `stream` (`pc.addTrack(track, stream)`); the browser then fires
    /// `negotiationneeded` and the peer offers through `send`. Call once per stream; to switch camera or
    /// microphone later use [`Peer::replace_video_track`] / [`Peer::replace_audio_track`]. A track the
    /// browser refuses (e.g. added twice) is logged and skipped.
    pub fn add_stream(&self, stream: &MediaStream) {
        if self.inner.closed.get() {
            return;
        }
        for track in stream.get_tracks().iter() {
            let track: MediaStreamTrack = track.unchecked_into();
            match self.inner.pc.unchecked_ref::<PeerConnectionExt>().add_track(&track, stream) {
                Ok(sender) => self.inner.senders.borrow_mut().push((track.kind(), sender)),
                Err(err) => warn!("rtc: addTrack({}) failed: {}", track.kind(), describe(&err)),
            }
        }
    }

    /// Sends `stream` like [`Peer::add_stream`], but its video as simulcast (RFC 8853): encodings of the same
    /// camera with rids `l` (a quarter of the width and height, ≤ 150 kbit/s), `m` (half, ≤ 500 kbit/s) and
    /// `h` (full, ≤ 1.5 Mbit/s), on one `sendonly` transceiver (`pc.addTransceiver(track, {sendEncodings})`,
    /// W3C webrtc-pc §5.2). For a forwarding unit, which gives each viewer the layer its bandwidth allows.
    /// How many layers follows the camera's resolution as Chrome does (it drops the encodings beyond its limit,
    /// top ones first): all three from 960×540, `m` and `h` from 480×270 (e.g. 640×480 → 320×240 and
    /// 640×480), below that `h` alone. Audio is sent as usual.
    pub fn add_stream_simulcast(&self, stream: &MediaStream) {
        if self.inner.closed.get() {
            return;
        }
        for track in stream.get_tracks().iter() {
            let track: MediaStreamTrack = track.unchecked_into();
            if track.kind() != "video" {
                match self.inner.pc.unchecked_ref::<PeerConnectionExt>().add_track(&track, stream) {
                    Ok(sender) => self.inner.senders.borrow_mut().push((track.kind(), sender)),
                    Err(err) => warn!("rtc: addTrack({}) failed: {}", track.kind(), describe(&err)),
                }
                continue;
            }
            let init = web_sys::RtcRtpTransceiverInit::new();
            init.set_direction(web_sys::RtcRtpTransceiverDirection::Sendonly);
            init.set_streams(&js_sys::Array::of1(stream));
            init.set_send_encodings(&simulcast_encodings(simulcast_layer_count(&track)));
            let transceiver = self.inner.pc.add_transceiver_with_media_stream_track_and_init(&track, &init);
            self.inner.senders.borrow_mut().push((track.kind(), transceiver.sender()));
        }
    }

    /// Asks to receive audio and video without sending anything: one `recvonly` transceiver per kind
    /// (`pc.addTransceiver(kind, {direction: "recvonly"})`, W3C webrtc-pc §5.1). The browser then fires
    /// `negotiationneeded` and this (impolite, offering) peer sends an offer, e.g. to subscribe at a
    /// forwarding unit. Call once, right after [`Peer::new`].
    pub fn receive_only(&self) {
        if self.inner.closed.get() {
            return;
        }
        for kind in ["audio", "video"] {
            let init = web_sys::RtcRtpTransceiverInit::new();
            init.set_direction(web_sys::RtcRtpTransceiverDirection::Recvonly);
            self.inner.pc.add_transceiver_with_str_and_init(kind, &init);
        }
    }

    /// Swaps the sent video track for `track` (`RTCRtpSender.replaceTrack`, no renegotiation), e.g. for
    /// another camera or a screen share. Logs a warning if no video was added or the browser refuses.
    pub fn replace_video_track(&self, track: &MediaStreamTrack) {
        self.replace_track("video", track);
    }

    /// Swaps the sent audio track for `track` (`RTCRtpSender.replaceTrack`, no renegotiation).
    /// Logs a warning if no audio was added or the browser refuses.
    pub fn replace_audio_track(&self, track: &MediaStreamTrack) {
        self.replace_track("audio", track);
    }

    fn replace_track(&self, kind: &'static str, track: &MediaStreamTrack) {
        if self.inner.closed.get() {
            return;
        }
        let sender = self.inner.senders.borrow().iter().find(|(k, _)| k == kind).map(|(_, s)| s.clone());
        let Some(sender) = sender else {
            warn!("rtc: no {kind} track is being sent; nothing to replace");
            return;
        };
        let promise = sender.replace_track(Some(track));
        spawn_local(async move {
            if let Err(err) = JsFuture::from(promise).await {
                warn!("rtc: replaceTrack({kind}) failed: {}", describe(&err));
            }
        });
    }

    /// Opens the peer's text data channel (`RTCDataChannel`, W3C webrtc-pc §6, RFC 8831), reliable and
    /// ordered, pre-negotiated with id 0 (`negotiated: true`): both ends call this right after
    /// [`Peer::new`], before the first offer, and no `datachannel` event is involved, so it works the same
    /// whichever side offers first (perfect negotiation). Messages arrive as [`PeerEvent::Data`]; the
    /// channel is usable after [`PeerEvent::DataOpen`]. Calling it twice does nothing.
    pub fn open_data_channel(&self, label: &str) {
        if self.inner.closed.get() || self.inner.data.borrow().is_some() {
            return;
        }
        let init = RtcDataChannelInit::new();
        init.set_negotiated(true);
        init.set_id(0);
        init.set_ordered(true);
        let channel = self.inner.pc.create_data_channel_with_data_channel_dict(label, &init);
        let weak = Rc::downgrade(&self.inner);
        let open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            if let Some(notify) = weak.upgrade().and_then(|inner| inner.notifier()) {
                notify(PeerEvent::DataOpen);
            }
        });
        let weak = Rc::downgrade(&self.inner);
        let message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            if let Some(notify) = weak.upgrade().and_then(|inner| inner.notifier()) {
                notify(PeerEvent::Data(text));
            }
        });
        channel.set_onopen(Some(open.as_ref().unchecked_ref()));
        channel.set_onmessage(Some(message.as_ref().unchecked_ref()));
        *self.inner.data.borrow_mut() = Some(DataChannel { channel, _open: open, _message: message });
    }

    /// Sends `text` on the data channel; `false` (and nothing sent) when there is none or it is not open.
    pub fn send_data(&self, text: &str) -> bool {
        let data = self.inner.data.borrow();
        match data.as_ref() {
            Some(d) if d.channel.ready_state() == RtcDataChannelState::Open => d.channel.send_with_str(text).is_ok(),
            _ => false,
        }
    }

    /// Whether the data channel is open.
    pub fn data_open(&self) -> bool {
        self.inner.data.borrow().as_ref().is_some_and(|d| d.channel.ready_state() == RtcDataChannelState::Open)
    }

    /// `pc.getStats()`: a promise of the `RTCStatsReport` (W3C webrtc-stats); read it with
    /// [`super::stats::read`].
    pub fn get_stats(&self) -> js_sys::Promise {
        self.inner.pc.get_stats()
    }

    /// Processes a signal from the remote peer. Signals are handled strictly in arrival order, each after
    /// the previous one's browser operations settled.
    pub fn handle(&self, signal: Signal) {
        match signal {
            Signal::PreferredLayer { high } => self.set_video_layer(high),
            signal => enqueue(&self.inner, Input::Remote(signal)),
        }
    }

    /// Sends the video at full resolution and frame rate (`high`), or as a thumbnail: a quarter of the
    /// pixels (`scaleResolutionDownBy` 2, so 640×480 → 320×240) at ≤ 10 fps. Uses
    /// `RTCRtpSender.setParameters` on the first encoding (W3C webrtc-pc §5.2); no renegotiation.
    pub fn set_video_layer(&self, high: bool) {
        if self.inner.closed.get() {
            return;
        }
        let sender = self.inner.senders.borrow().iter().find(|(k, _)| *k == "video").map(|(_, s)| s.clone());
        let Some(sender) = sender else { return };
        let apply = || -> Result<js_sys::Promise, JsValue> {
            use js_sys::{Array, Function, Object, Reflect};
            let get: Function = Reflect::get(&sender, &"getParameters".into())?.dyn_into()?;
            let params = get.call0(&sender)?;
            let encodings: Array = Reflect::get(&params, &"encodings".into())?.dyn_into()?;
            let first = if encodings.length() == 0 {
                let e = Object::new();
                encodings.push(&e);
                e.into()
            } else {
                encodings.get(0)
            };
            Reflect::set(&first, &"scaleResolutionDownBy".into(), &(if high { 1.0 } else { 2.0 }).into())?;
            Reflect::set(&first, &"maxFramerate".into(), &(if high { 30.0 } else { 10.0 }).into())?;
            let set: Function = Reflect::get(&sender, &"setParameters".into())?.dyn_into()?;
            set.call1(&sender, &params)?.dyn_into()
        };
        match apply() {
            Ok(promise) => spawn_local(async move {
                if let Err(err) = JsFuture::from(promise).await {
                    warn!("rtc: setParameters failed: {}", describe(&err));
                }
            }),
            Err(err) => warn!("rtc: could not change the video layer: {}", describe(&err)),
        }
    }

    /// Restarts ICE now (RFC 8445 §2.4), e.g. from a *Retry* button: the publisher (impolite side) calls
    /// `pc.restartIce()` and sends a new offer; the viewer (polite side) sends [`Signal::RestartIce`]
    /// to ask the publisher for it ([`Peer::request_restart`]).
    pub fn restart_ice(&self) {
        enqueue(&self.inner, Input::RestartIceRequested);
    }

    /// Sends [`Signal::RestartIce`] to the remote peer, asking it (the offering side) to restart ICE.
    pub fn request_restart(&self) {
        if let Some(send) = self.inner.sender() {
            send(Signal::RestartIce);
        }
    }

    /// The current `pc.connectionState`; [`PeerState::Closed`] after [`Peer::close`].
    pub fn connection_state(&self) -> PeerState {
        if self.inner.closed.get() {
            PeerState::Closed
        } else {
            self.inner.pc.connection_state().into()
        }
    }

    /// Closes the connection (`pc.close()`), drops the event handlers and any queued signals; no event is
    /// reported afterwards. Idempotent. Local tracks are not stopped (see [`super::media::stop`]).
    pub fn close(&self) {
        self.inner.shutdown();
    }
}

impl Inner {
    /// The owner's `send`, unless closed. Clone it out so that no borrow is held while it runs.
    fn sender(&self) -> Option<SendFn> {
        self.send.borrow().clone().filter(|_| !self.closed.get())
    }

    /// The owner's `on_event`, unless closed.
    fn notifier(&self) -> Option<EventFn> {
        self.on_event.borrow().clone().filter(|_| !self.closed.get())
    }

    fn shutdown(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.pc.set_onnegotiationneeded(None);
        self.pc.set_onicecandidate(None);
        self.pc.set_ontrack(None);
        self.pc.set_onconnectionstatechange(None);
        if let Some(data) = self.data.borrow_mut().take() {
            data.channel.set_onopen(None);
            data.channel.set_onmessage(None);
            data.channel.close();
        }
        self.pc.close();
        self.queue.borrow_mut().clear();
        // Dropping a closure that is running right now (close() called from inside `on_event`) is safe:
        // wasm-bindgen frees it when that call returns.
        drop(self.callbacks.borrow_mut().take());
        drop(self.send.borrow_mut().take());
        drop(self.on_event.borrow_mut().take());
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The simulcast layers [`Peer::add_stream_simulcast`] sends, lowest first (what the forwarding unit's
/// `sfu::layers::LAYER_RIDS` expects): `[{rid, scaleResolutionDownBy, maxBitrate (bit/s)}]`.
const SIMULCAST_LAYERS: [(&str, f64, f64); 3] = [("l", 4.0, 150_000.0), ("m", 2.0, 500_000.0), ("h", 1.0, 1_500_000.0)];

/// How many simulcast layers a video track's resolution (`track.getSettings()`) is worth, by Chrome's own
/// limits (libwebrtc's simulcast format table: 3 layers from 960×540 pixels, 2 from 480×270, else 1). A
/// track without settings (not started) gets 2.
fn simulcast_layer_count(track: &MediaStreamTrack) -> usize {
    let pixels = || -> Option<f64> {
        use js_sys::{Function, Reflect};
        let get: Function = Reflect::get(track, &"getSettings".into()).ok()?.dyn_into().ok()?;
        let settings = get.call0(track).ok()?;
        let width = Reflect::get(&settings, &"width".into()).ok()?.as_f64()?;
        let height = Reflect::get(&settings, &"height".into()).ok()?.as_f64()?;
        Some(width * height)
    };
    match pixels() {
        Some(p) if p >= 960.0 * 540.0 => 3,
        Some(p) if p < 480.0 * 270.0 => 1,
        _ => 2,
    }
}

/// `sendEncodings` for the top `count` of [`SIMULCAST_LAYERS`] (`RTCRtpEncodingParameters` dictionaries),
/// lowest first; the top layer always at full resolution.
fn simulcast_encodings(count: usize) -> js_sys::Array {
    let encodings = js_sys::Array::new();
    let skip = SIMULCAST_LAYERS.len() - count.clamp(1, SIMULCAST_LAYERS.len());
    for (rid, scale, max_bitrate) in SIMULCAST_LAYERS.into_iter().skip(skip) {
        let e = js_sys::Object::new();
        // Setting properties on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&e, &"rid".into(), &rid.into());
        let _ = js_sys::Reflect::set(&e, &"scaleResolutionDownBy".into(), &scale.into());
        let _ = js_sys::Reflect::set(&e, &"maxBitrate".into(), &max_bitrate.into());
        encodings.push(&e);
    }
    encodings
}

/// `RTCConfiguration` with `iceServers` from our serde type; servers without URLs are skipped (also used by
/// the connection test).
pub(crate) fn configuration(ice_servers: &[super::IceServer]) -> RtcConfiguration {
    let servers = js_sys::Array::new();
    for server in ice_servers.iter().filter(|s| !s.urls.is_empty()) {
        let urls = js_sys::Array::new();
        for url in &server.urls {
            urls.push(&JsValue::from_str(url));
        }
        let entry = RtcIceServer::new();
        entry.set_urls(&urls);
        if let Some(username) = &server.username {
            entry.set_username(username);
        }
        if let Some(credential) = &server.credential {
            entry.set_credential(credential);
        }
        servers.push(&entry);
    }
    let config = RtcConfiguration::new();
    config.set_ice_servers(&servers);
    config
}

fn install_handlers(inner: &Rc<Inner>) -> Callbacks {
    let pc = &inner.pc;

    let weak = Rc::downgrade(inner);
    let negotiation_needed = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        if let Some(inner) = weak.upgrade() {
            enqueue(&inner, Input::NegotiationNeeded);
        }
    });
    pc.set_onnegotiationneeded(Some(negotiation_needed.as_ref().unchecked_ref()));

    let weak = Rc::downgrade(inner);
    let ice_candidate = Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(move |ev: RtcPeerConnectionIceEvent| {
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.get() {
            return;
        }
        let signal = match ev.candidate() {
            // Per-section end markers (empty candidate string) are not relayed; the final null is.
            Some(c) if c.candidate().is_empty() => return,
            Some(c) => Signal::Candidate {
                candidate: c.candidate(),
                sdp_mid: c.sdp_mid(),
                sdp_m_line_index: c.sdp_m_line_index(),
                username_fragment: c.unchecked_ref::<IceCandidateExt>().username_fragment(),
            },
            None => Signal::EndOfCandidates,
        };
        let Some(send) = inner.sender() else { return };
        drop(inner);
        send(signal);
    });
    pc.set_onicecandidate(Some(ice_candidate.as_ref().unchecked_ref()));

    let weak = Rc::downgrade(inner);
    let track = Closure::<dyn FnMut(RtcTrackEvent)>::new(move |ev: RtcTrackEvent| {
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.get() {
            return;
        }
        let streams = ev.streams();
        let stream = if streams.length() > 0 {
            streams.get(0).unchecked_into::<MediaStream>()
        } else {
            let mut loose = inner.loose_tracks.borrow_mut();
            let stream = match loose.as_ref() {
                Some(stream) => stream.clone(),
                None => match MediaStream::new() {
                    Ok(stream) => loose.insert(stream).clone(),
                    Err(err) => {
                        warn!("rtc: cannot create a MediaStream: {}", describe(&err));
                        return;
                    }
                },
            };
            stream.add_track(&ev.track());
            stream
        };
        let Some(on_event) = inner.notifier() else { return };
        drop(inner);
        on_event(PeerEvent::RemoteStream(stream));
    });
    pc.set_ontrack(Some(track.as_ref().unchecked_ref()));

    let weak = Rc::downgrade(inner);
    let connection_state = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.get() {
            return;
        }
        let state = PeerState::from(inner.pc.connection_state());
        let Some(on_event) = inner.notifier() else { return };
        on_event(PeerEvent::State(state));
        match state {
            PeerState::Failed => enqueue(&inner, Input::IceFailed),
            PeerState::Connected => enqueue(&inner, Input::Connected),
            _ => {}
        }
    });
    pc.set_onconnectionstatechange(Some(connection_state.as_ref().unchecked_ref()));

    Callbacks {
        _negotiation_needed: negotiation_needed,
        _ice_candidate: ice_candidate,
        _track: track,
        _connection_state: connection_state,
    }
}

/// Appends an input to the peer's queue and starts the draining task if none is running.
fn enqueue(inner: &Rc<Inner>, input: Input) {
    if inner.closed.get() {
        return;
    }
    inner.queue.borrow_mut().push_back(input);
    if !inner.pumping.replace(true) {
        spawn_local(pump(Rc::downgrade(inner)));
    }
}

/// Drains the queue: one input at a time, each with all its actions (and their completions) finished
/// before the next input starts. Holds only a `Weak` across awaits, so dropping the last [`Peer`] closes
/// the connection at once.
async fn pump(weak: Weak<Inner>) {
    loop {
        let mut todo: VecDeque<Action> = {
            let Some(inner) = weak.upgrade() else { return };
            let next = inner.queue.borrow_mut().pop_front();
            let Some(input) = next.filter(|_| !inner.closed.get()) else {
                inner.pumping.set(false);
                return;
            };
            let actions = inner.negotiator.borrow_mut().handle(input);
            actions.into()
        };
        while let Some(action) = todo.pop_front() {
            let Some(completion) = execute(&weak, action).await else { continue };
            let Some(inner) = weak.upgrade() else { return };
            if inner.closed.get() {
                return;
            }
            let more = inner.negotiator.borrow_mut().handle(completion);
            todo.extend(more);
        }
    }
}

/// Runs one action; returns the completion to feed back for description actions.
async fn execute(weak: &Weak<Inner>, action: Action) -> Option<Input> {
    let (pc, send, room) = {
        let inner = weak.upgrade()?;
        (inner.pc.clone(), inner.sender()?, inner.room.clone())
    };
    match action {
        Action::Send(signal) => {
            send(signal);
            None
        }
        Action::RestartIce => {
            // Fresh TURN credentials first (RFC 8445 §2.4 restarts gather anew with the current configuration).
            let servers = client::fresh_ice(&room).await;
            if let Err(err) = pc.set_configuration_with_configuration(&configuration(&servers)) {
                warn!("rtc: setConfiguration() failed: {}", describe(&err));
            }
            if let Err(err) = pc.unchecked_ref::<PeerConnectionExt>().restart_ice() {
                warn!("rtc: restartIce() failed: {}", describe(&err));
            }
            None
        }
        Action::AddIceCandidate { candidate, may_fail } => {
            let end_of_candidates = candidate.is_none();
            let init = candidate_init(candidate.as_ref());
            let result = JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await;
            // Rejections are expected for candidates of an ignored offer; end-of-candidates is only a hint
            // (RFC 8838), so its rejection is not worth a warning either.
            if let Err(err) = result {
                if !may_fail && !end_of_candidates {
                    warn!("rtc: addIceCandidate failed: {}", describe(&err));
                }
            }
            None
        }
        Action::SetLocalDescription => {
            Some(match JsFuture::from(pc.unchecked_ref::<PeerConnectionExt>().set_local_description_implicit()).await {
                Ok(_) => match pc.local_description() {
                    Some(desc) => match desc.type_() {
                        RtcSdpType::Offer => Input::LocalDescriptionSet { kind: SdpKind::Offer, sdp: desc.sdp() },
                        RtcSdpType::Answer => Input::LocalDescriptionSet { kind: SdpKind::Answer, sdp: desc.sdp() },
                        other => {
                            failed("setLocalDescription", &JsValue::from_str(&format!("unexpected type {other:?}")))
                        }
                    },
                    None => failed("setLocalDescription", &JsValue::from_str("no local description")),
                },
                Err(err) => failed("setLocalDescription", &err),
            })
        }
        Action::Rollback => {
            let init = RtcSessionDescriptionInit::new(RtcSdpType::Rollback);
            Some(match JsFuture::from(pc.set_local_description(&init)).await {
                Ok(_) => Input::RolledBack,
                Err(err) => failed("rollback", &err),
            })
        }
        Action::SetRemoteDescription { kind, sdp } => {
            let init = RtcSessionDescriptionInit::new(match kind {
                SdpKind::Offer => RtcSdpType::Offer,
                SdpKind::Answer => RtcSdpType::Answer,
            });
            init.set_sdp(&sdp);
            Some(match JsFuture::from(pc.set_remote_description(&init)).await {
                Ok(_) => Input::RemoteDescriptionSet,
                Err(err) => failed("setRemoteDescription", &err),
            })
        }
    }
}

/// `RTCIceCandidateInit` for a candidate, or `{candidate: ""}` (end-of-candidates) for `None`.
fn candidate_init(candidate: Option<&Candidate>) -> RtcIceCandidateInit {
    let Some(c) = candidate else {
        return RtcIceCandidateInit::new("");
    };
    let init = RtcIceCandidateInit::new(&c.candidate);
    init.set_sdp_mid(c.sdp_mid.as_deref());
    init.set_sdp_m_line_index(c.sdp_m_line_index);
    if let Some(ufrag) = &c.username_fragment {
        init.unchecked_ref::<IceCandidateExt>().set_username_fragment(ufrag);
    }
    init
}

fn failed(operation: &str, err: &JsValue) -> Input {
    let reason = describe(err);
    warn!("rtc: {operation} failed: {reason}");
    Input::OperationFailed(reason)
}

/// `"<name>: <message>"` for an exception (DOMException or Error), else its debug form.
pub(crate) fn describe(err: &JsValue) -> String {
    let field = |key: &str| js_sys::Reflect::get(err, &JsValue::from_str(key)).ok().and_then(|v| v.as_string());
    match (field("name"), field("message")) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        _ => err.as_string().unwrap_or_else(|| format!("{err:?}")),
    }
}
