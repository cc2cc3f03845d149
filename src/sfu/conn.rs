//! One connection's task: it owns the `Rtc`, feeds it datagrams, commands, forwarded frames and timeouts one
//! at a time, and drains `poll_output` to `Timeout` after each (str0m's single-mutation rule).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid, Rids};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};
use tokio::net::UdpSocket;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};

use super::layers::{self, LayerRates, RateMeter, VideoClock, LAYERS, TOP};
use super::{ConnId, ConnState, StreamStats};

/// How often str0m reports egress stats (packets, NACKs) of a subscriber.
pub(super) const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Keyframe requests toward a publisher are coalesced to at most one per this.
const KEYFRAME_SPACING: Duration = Duration::from_millis(500);
/// A connection that is not up by then is closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest sleep between timeouts (str0m may answer "not happening" with a far future).
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How often a subscriber of a simulcast stream re-chooses its layer.
const CHOOSE_EVERY: Duration = Duration::from_millis(250);
/// How long a subscriber waits for the keyframe of the layer it is switching to (or starting on) before it
/// asks again: a keyframe of the top layer may take a few hundred ms to arrive, so not sooner.
const KEYFRAME_RETRY: Duration = Duration::from_secs(1);
/// A subscriber's current layer that delivered no frame for this long counts as paused (the publisher
/// stopped sending it) in the next choice, without waiting for the publisher's rate window to show it.
/// Long enough for slow sources (a dark camera at 15 fps, still scenes) not to flap between layers.
const LAYER_SILENT: Duration = Duration::from_secs(1);
/// The bandwidth estimate a subscriber of a simulcast stream starts from, bits per second (str0m probes up
/// from there).
pub(super) const INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(600);

/// A datagram the reader task routed to this connection.
pub(super) struct Datagram {
    pub(super) data: Vec<u8>,
    pub(super) source: SocketAddr,
    pub(super) at: Instant,
}

/// Requests from the handle to a connection task.
pub(super) enum Command {
    Candidate(Candidate),
    /// Panics inside the task: the unit test that a panic stays in its connection.
    #[cfg(test)]
    Panic,
}

/// One depacketized audio or video frame of the publisher, as every subscriber writes it.
pub(super) struct Frame {
    kind: MediaKind,
    params: PayloadParams,
    time: MediaTime,
    network_time: Instant,
    keyframe: bool,
    data: Arc<[u8]>,
}

/// The counters behind [`StreamStats`], shared by the stream's tasks.
#[derive(Default)]
pub(super) struct Counters {
    frames_in: AtomicU64,
    bytes_in: AtomicU64,
    frames_forwarded: AtomicU64,
    packets_forwarded: AtomicU64,
    nacks: AtomicU64,
    keyframe_wanted: AtomicU64,
    keyframe_requests: AtomicU64,
    lagged: AtomicU64,
    layer_subscribers: [AtomicU64; LAYERS],
    layer_switches: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self, subscribers: usize, rates: &LayerRates) -> StreamStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StreamStats {
            subscribers,
            frames_in: get(&self.frames_in),
            bytes_in: get(&self.bytes_in),
            frames_forwarded: get(&self.frames_forwarded),
            packets_forwarded: get(&self.packets_forwarded),
            nacks: get(&self.nacks),
            keyframe_wanted: get(&self.keyframe_wanted),
            keyframe_requests: get(&self.keyframe_requests),
            lagged: get(&self.lagged),
            layer_bitrates: rates.get(),
            layer_subscribers: std::array::from_fn(|i| get(&self.layer_subscribers[i])),
            layer_switches: get(&self.layer_switches),
        }
    }

    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The layer a subscriber receives, counted in [`Counters`] (`layer_subscribers`) while the task holds it;
/// dropping the seat (the task ends or is aborted) gives it back.
struct Seat {
    counters: Arc<Counters>,
    layer: Option<usize>,
}

impl Seat {
    fn set(&mut self, layer: Option<usize>) {
        if layer == self.layer {
            return;
        }
        if let Some(old) = self.layer {
            self.counters.layer_subscribers[old].fetch_sub(1, Ordering::Relaxed);
            if layer.is_some() {
                Counters::add(&self.counters.layer_switches, 1);
            }
        }
        if let Some(new) = layer {
            Counters::add(&self.counters.layer_subscribers[new], 1);
        }
        self.layer = layer;
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.set(None);
    }
}

/// A stream's fan-out, shared by its publisher task, its subscriber tasks and the registry: one broadcast
/// channel for audio and one per simulcast layer for video (a subscriber listens to the layer it forwards,
/// plus the one it is switching to), and the layers' measured bitrates.
pub(super) struct Channels {
    pub(super) audio: broadcast::Sender<Arc<Frame>>,
    pub(super) video: [broadcast::Sender<Arc<Frame>>; LAYERS],
    pub(super) rates: LayerRates,
    /// The publisher's offer declared simulcast (`a=simulcast:send`): keyframe requests name a rid, and
    /// subscribers estimate their bandwidth to choose a layer.
    pub(super) simulcast: bool,
}

impl Channels {
    /// Channels of `capacity` frames each (per layer, and for audio).
    pub(super) fn new(capacity: usize, simulcast: bool) -> Channels {
        Channels {
            audio: broadcast::channel(capacity).0,
            video: std::array::from_fn(|_| broadcast::channel(capacity).0),
            rates: LayerRates::default(),
            simulcast,
        }
    }
}

/// The audio and video m-lines a connection forwards (the first of each kind in the right direction).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Mids {
    audio: Option<Mid>,
    video: Option<Mid>,
    /// A publisher's video m-line was negotiated with simulcast rids (RFC 8851/8853: str0m then expects
    /// specific rids on it).
    simulcast: bool,
}

impl Mids {
    /// From the m-lines of an accepted offer (their `a=mid:` lines): those we receive on (`publisher`) or
    /// send on. (str0m emits `MediaAdded` only once SRTP is up, too late to refuse a wrong offer.)
    pub(super) fn from_offer(rtc: &Rtc, offer_sdp: &str, publisher: bool) -> Mids {
        let mut mids = Mids::default();
        let lines = offer_sdp.lines().filter_map(|l| l.trim().strip_prefix("a=mid:"));
        for media in lines.filter_map(|m| rtc.media(Mid::from(m.trim()))) {
            let dir = media.direction();
            let ours = if publisher { dir.is_receiving() } else { dir.is_sending() };
            if !ours {
                continue;
            }
            let slot = match media.kind() {
                MediaKind::Audio => &mut mids.audio,
                MediaKind::Video => &mut mids.video,
            };
            if slot.is_none() {
                *slot = Some(media.mid());
                if media.kind() == MediaKind::Video {
                    mids.simulcast = publisher && matches!(media.rids_rx(), Rids::Specific(_));
                }
            }
        }
        mids
    }

    /// Whether the forwarded video m-line carries simulcast layers (a publisher's only).
    pub(super) fn simulcast(&self) -> bool {
        self.simulcast
    }

    pub(super) fn is_empty(&self) -> bool {
        self.audio.is_none() && self.video.is_none()
    }

    fn kind_of(&self, mid: Mid) -> Option<MediaKind> {
        if self.audio == Some(mid) {
            Some(MediaKind::Audio)
        } else if self.video == Some(mid) {
            Some(MediaKind::Video)
        } else {
            None
        }
    }

    fn mid_of(&self, kind: MediaKind) -> Option<Mid> {
        match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        }
    }
}

/// What accepting the offer produced, drained before the task starts.
pub(super) struct FirstOutput {
    transmits: Vec<Transmit>,
}

impl FirstOutput {
    pub(super) fn drain(rtc: &mut Rtc) -> Result<FirstOutput, RtcError> {
        let mut first = FirstOutput { transmits: Vec::new() };
        loop {
            match rtc.poll_output()? {
                Output::Timeout(_) => return Ok(first),
                Output::Transmit(t) => first.transmits.push(t),
                Output::Event(_) => {}
            }
        }
    }
}

/// The role-specific half of a connection task.
pub(super) enum Role {
    /// `keyframe` receives the layers subscribers want a keyframe of.
    Publisher {
        channels: Arc<Channels>,
        keyframe: mpsc::Receiver<usize>,
        mids: Mids,
    },
    Subscriber {
        channels: Arc<Channels>,
        keyframe: mpsc::Sender<usize>,
        mids: Mids,
    },
}

/// The parts every connection task has.
pub(super) struct Task {
    pub(super) id: ConnId,
    pub(super) rtc: Rtc,
    pub(super) socket: Arc<UdpSocket>,
    pub(super) local: SocketAddr,
    pub(super) net: mpsc::Receiver<Datagram>,
    pub(super) cmd: mpsc::UnboundedReceiver<Command>,
    pub(super) state: watch::Sender<ConnState>,
    pub(super) counters: Arc<Counters>,
}

/// What a drain saw that the loop acts on after it.
#[derive(Default)]
struct Seen {
    connected: bool,
    gone: bool,
}

/// Which of a subscriber's channels a frame came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Audio,
    Video,
    Pending,
}

/// One thing that woke the task; each becomes exactly one mutation of the `Rtc`.
enum Wake {
    Datagram(Datagram),
    Command(Command),
    /// A frame from the audio channel, the current video layer, or the layer being switched to.
    Frame(Arc<Frame>, Source),
    Lagged(u64, Source),
    KeyframeWanted(usize),
    Timeout,
    Stop(&'static str),
}

impl Task {
    pub(super) async fn run(mut self, first: FirstOutput, role: Role) {
        for t in first.transmits {
            self.send(t).await;
        }
        let result = match role {
            Role::Publisher { channels, keyframe, mids } => self.run_publisher(channels, keyframe, mids).await,
            Role::Subscriber { channels, keyframe, mids } => self.run_subscriber(channels, keyframe, mids).await,
        };
        if let Err(e) = result {
            tracing::info!(conn = %self.id, error = %e, "connection failed");
        }
        // `Closed` is sent by the registry when the watcher removes this connection, so that whoever sees
        // it also sees the connection gone from the stats.
    }

    async fn run_publisher(
        &mut self,
        channels: Arc<Channels>,
        mut keyframe_rx: mpsc::Receiver<usize>,
        mids: Mids,
    ) -> Result<(), RtcError> {
        let started = Instant::now();
        let mut connected = false;
        // Per layer: a keyframe is wanted, and when the last request went out.
        let mut want_keyframe = [false; LAYERS];
        let mut last_request: [Option<Instant>; LAYERS] = [None; LAYERS];
        let mut meter = RateMeter::new(started);
        let counters = self.counters.clone();
        loop {
            let mut seen = Seen::default();
            let deadline = self
                .drain(&mut seen, |event| {
                    if let Event::MediaData(data) = event {
                        let Some((frame, layer)) = frame_of(&mids, data, &mut want_keyframe) else { return };
                        Counters::add(&counters.frames_in, 1);
                        Counters::add(&counters.bytes_in, frame.data.len() as u64);
                        let channel = match layer {
                            Some(layer) => {
                                meter.add(layer, frame.data.len(), frame.network_time, &channels.rates);
                                &channels.video[layer]
                            }
                            None => &channels.audio,
                        };
                        // Err only means nobody listens right now.
                        let _ = channel.send(Arc::new(frame));
                    }
                })
                .await?;
            if seen.gone {
                return Ok(());
            }
            connected |= seen.connected;
            // Rate windows also close when no video arrives, so stopped layers read 0.
            meter.roll(Instant::now(), &channels.rates);

            // Coalesced keyframe requests: per layer at most one per KEYFRAME_SPACING, the rest wait for the slot.
            let now = Instant::now();
            let due = |layer: usize| last_request[layer].map_or(now, |t| t + KEYFRAME_SPACING);
            if let Some(layer) = (0..LAYERS).find(|&l| connected && want_keyframe[l] && due(l) <= now) {
                want_keyframe[layer] = false;
                last_request[layer] = Some(now);
                if let Some(mut w) = mids.video.and_then(|mid| self.rtc.writer(mid)) {
                    let kind = if w.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
                        KeyframeRequestKind::Pli
                    } else {
                        KeyframeRequestKind::Fir
                    };
                    match w.request_keyframe(layers::rid_of(layer, channels.simulcast), kind) {
                        Ok(()) => Counters::add(&counters.keyframe_requests, 1),
                        Err(e) => tracing::debug!(conn = %self.id, layer, error = %e, "keyframe request failed"),
                    }
                }
                continue; // that was a mutation: drain before the next one
            }
            let next_request = (0..LAYERS).filter(|&l| connected && want_keyframe[l]).map(due).min();
            let wake_at = next_request.map_or(deadline, |due| deadline.min(due));
            let wake_at = self.bound_wait(wake_at, connected, started);

            // A due timeout goes first, so that a busy channel cannot starve str0m's timers.
            let wake = if wake_at <= Instant::now() {
                Wake::Timeout
            } else {
                tokio::select! {
                biased;
                c = self.cmd.recv() => c.map_or(Wake::Stop("handle dropped"), Wake::Command),
                d = self.net.recv() => d.map_or(Wake::Stop("handle dropped"), Wake::Datagram),
                k = keyframe_rx.recv() => k.map_or(Wake::Stop("stream dropped"), Wake::KeyframeWanted),
                _ = tokio::time::sleep_until(wake_at.into()) => Wake::Timeout,
                }
            };
            match wake {
                Wake::KeyframeWanted(layer) => want_keyframe[layer.min(TOP)] = true,
                Wake::Timeout if !connected && started.elapsed() >= CONNECT_TIMEOUT => {
                    tracing::info!(conn = %self.id, "publisher never connected");
                    return Ok(());
                }
                other => {
                    if !self.apply(other)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// A subscriber forwards the audio channel and one video layer. Video starts at a keyframe of the layer
    /// it is switching to (`pending`), which then becomes the current layer: at first, after falling behind,
    /// and when the layer choice ([`layers::choose_layer`], every [`CHOOSE_EVERY`] for a simulcast stream)
    /// changes. The old layer is forwarded until the new one's keyframe arrives, so a switch does not freeze.
    async fn run_subscriber(
        &mut self,
        channels: Arc<Channels>,
        keyframe_tx: mpsc::Sender<usize>,
        mids: Mids,
    ) -> Result<(), RtcError> {
        let started = Instant::now();
        let mut connected = false;
        let mut audio: Option<broadcast::Receiver<Arc<Frame>>> = None;
        // (layer, receiver): the layer being forwarded, and the one waiting for its keyframe.
        let mut video: Option<(usize, broadcast::Receiver<Arc<Frame>>)> = None;
        let mut pending: Option<(usize, broadcast::Receiver<Arc<Frame>>)> = None;
        let mut clock = VideoClock::default();
        let mut seat = Seat { counters: self.counters.clone(), layer: None };
        let mut estimate: Option<u64> = None;
        let mut probing = (0, 0);
        let mut next_choice = started;
        // The layer a switch waits for the keyframe of, and when to ask for it again.
        let mut retry: (Option<usize>, Instant) = (None, started);
        // When the current layer last delivered a video frame.
        let mut last_video = started;
        let mut egress: HashMap<Mid, (u64, u64)> = HashMap::new();
        let counters = self.counters.clone();
        // An audio-only subscriber takes no video layer (no seat, no keyframe requests).
        let has_video = mids.video.is_some();
        let want_keyframe = |layer: usize| {
            Counters::add(&counters.keyframe_wanted, 1);
            // A full queue means requests are already on their way: that is the coalescing.
            let _ = keyframe_tx.try_send(layer);
        };
        // Starts listening to `layer` for its next keyframe (unless already forwarding or waiting for it).
        let switch_to = |layer: usize, video: &Option<(usize, _)>, pending: &mut Option<(usize, _)>| {
            if video.as_ref().is_some_and(|(l, _)| *l == layer) || pending.as_ref().is_some_and(|(l, _)| *l == layer) {
                return;
            }
            *pending = Some((layer, channels.video[layer].subscribe()));
            want_keyframe(layer);
        };
        loop {
            let mut seen = Seen::default();
            let mut kf_asked = false;
            let deadline = self
                .drain(&mut seen, |event| match event {
                    Event::KeyframeRequest(_) => kf_asked = true,
                    Event::MediaEgressStats(s) => {
                        let last = egress.entry(s.mid).or_default();
                        Counters::add(&counters.packets_forwarded, s.packets.saturating_sub(last.0));
                        Counters::add(&counters.nacks, s.nacks.saturating_sub(last.1));
                        *last = (s.packets, s.nacks);
                    }
                    Event::EgressBitrateEstimate(BweKind::Twcc { estimate: e, .. }) => estimate = Some(e.as_u64()),
                    _ => {}
                })
                .await?;
            if seen.gone {
                return Ok(());
            }
            if kf_asked {
                // The subscriber lost something: a keyframe of what it decodes, and of what it is about to
                // (the switch may yet be called off).
                for (layer, _) in video.iter().chain(pending.iter()) {
                    want_keyframe(*layer);
                }
            }
            if seen.connected && !connected {
                connected = true;
                // Start from the newest frames, not what queued while connecting.
                audio = Some(channels.audio.subscribe());
                // The first layer: for a single layer its one; for simulcast the best that fits the starting
                // estimate, or, before the publisher's first rate window says which layers arrive, none yet
                // (the periodic choice picks as soon as it can).
                let first = if channels.simulcast {
                    layers::choose_layer(channels.rates.get(), estimate.or(Some(INITIAL_ESTIMATE.as_u64())), None)
                } else {
                    Some(TOP)
                };
                if let (Some(first), true) = (first, has_video) {
                    switch_to(first, &video, &mut pending);
                }
                next_choice = Instant::now() + CHOOSE_EVERY;
            }

            let now = Instant::now();
            if connected && has_video && channels.simulcast && next_choice <= now {
                next_choice = now + CHOOSE_EVERY;
                let mut rates = channels.rates.get();
                if let Some((layer, _)) = &video {
                    if now.saturating_duration_since(last_video) >= LAYER_SILENT {
                        rates[*layer] = 0;
                    }
                }
                let current = pending.as_ref().or(video.as_ref()).map(|(l, _)| *l);
                // No estimate yet (str0m reports one once it can probe; never without transport-cc): the
                // starting one.
                let estimate = estimate.or(Some(INITIAL_ESTIMATE.as_u64()));
                tracing::trace!(conn = %self.id, ?current, ?estimate, ?rates, "layer choice");
                if let Some(target) = layers::choose_layer(rates, estimate, current) {
                    if Some(target) != current {
                        tracing::debug!(conn = %self.id, ?current, target, ?estimate, ?rates, "switching layer");
                        if video.as_ref().is_some_and(|(l, _)| *l == target) {
                            pending = None; // back to the layer still being forwarded
                        } else {
                            switch_to(target, &video, &mut pending);
                        }
                    }
                }
                let targets = layers::probe_targets(rates, pending.as_ref().or(video.as_ref()).map(|(l, _)| *l));
                // Rates wobble from window to window: only a real change is passed on (each raise of `desired`
                // above the estimate may start a probe).
                let moved = |new: u64, old: u64| new.abs_diff(old) * 4 > old.max(1);
                if moved(targets.0, probing.0) || moved(targets.1, probing.1) {
                    probing = targets;
                    self.rtc.bwe().set_bitrate(Bitrate::bps(targets.0), Bitrate::bps(targets.1));
                    continue; // a mutation: drain before the next one
                }
            }
            // A switch still waiting for its keyframe asks again each KEYFRAME_RETRY (the request or the
            // keyframe may have been lost; without video the subscriber's browser asks for nothing itself).
            let waiting = pending.as_ref().map(|(l, _)| *l);
            if waiting != retry.0 {
                retry = (waiting, now + KEYFRAME_RETRY);
            } else if let (Some(layer), true) = (waiting, retry.1 <= now) {
                want_keyframe(layer);
                retry.1 = now + KEYFRAME_RETRY;
            }
            let mut wake_at = self.bound_wait(deadline, connected, started);
            if connected && has_video && channels.simulcast {
                wake_at = wake_at.min(next_choice);
            }
            if retry.0.is_some() {
                wake_at = wake_at.min(retry.1);
            }

            let wake = if wake_at <= Instant::now() {
                Wake::Timeout
            } else {
                tokio::select! {
                biased;
                c = self.cmd.recv() => c.map_or(Wake::Stop("handle dropped"), Wake::Command),
                d = self.net.recv() => d.map_or(Wake::Stop("handle dropped"), Wake::Datagram),
                f = recv(audio.as_mut()) => received(f, Source::Audio),
                f = recv(pending.as_mut().map(|(_, rx)| rx)) => received(f, Source::Pending),
                f = recv(video.as_mut().map(|(_, rx)| rx)) => received(f, Source::Video),
                _ = tokio::time::sleep_until(wake_at.into()) => Wake::Timeout,
                }
            };
            match wake {
                Wake::Frame(frame, from) => {
                    if from == Source::Pending {
                        if !frame.keyframe {
                            continue;
                        }
                        video = pending.take();
                        seat.set(video.as_ref().map(|(l, _)| *l));
                    }
                    if from != Source::Audio {
                        last_video = Instant::now();
                    }
                    let layer = video.as_ref().map_or(TOP, |(l, _)| *l);
                    if self.forward(&mids, &frame, &mut clock, layer) {
                        Counters::add(&counters.frames_forwarded, 1);
                    }
                }
                Wake::Lagged(n, from) => {
                    tracing::debug!(conn = %self.id, skipped = n, ?from, "subscriber lagged");
                    if from != Source::Audio {
                        Counters::add(&counters.lagged, 1);
                    }
                    match from {
                        Source::Audio => {} // a gap in the sound; the receiver conceals it
                        Source::Pending => {
                            if let Some((layer, _)) = pending.take() {
                                switch_to(layer, &video, &mut pending);
                            }
                        }
                        Source::Video => {
                            // Deltas without their references are useless: wait for a keyframe again, of the
                            // layer a switch under way is waiting for if there is one, else of this one.
                            if let Some((layer, _)) = video.take() {
                                seat.set(None);
                                if pending.is_none() {
                                    switch_to(layer, &video, &mut pending);
                                }
                            }
                        }
                    }
                }
                Wake::Timeout if !connected && started.elapsed() >= CONNECT_TIMEOUT => {
                    tracing::info!(conn = %self.id, "subscriber never connected");
                    return Ok(());
                }
                other => {
                    if !self.apply(other)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Writes one frame to the subscriber (a mutation); video times go through `clock` (`layer`: the video
    /// layer the frame is from). Returns whether it was written.
    fn forward(&mut self, mids: &Mids, frame: &Frame, clock: &mut VideoClock, layer: usize) -> bool {
        let Some(mid) = mids.mid_of(frame.kind) else {
            return false;
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return false;
        };
        let Some(pt) = writer.match_params(frame.params) else {
            tracing::debug!(conn = %self.id, ?mid, "subscriber did not negotiate the publisher's codec");
            return false;
        };
        let time = match frame.kind {
            MediaKind::Video => clock.map(frame.time, frame.network_time, layer),
            MediaKind::Audio => frame.time,
        };
        match writer.write(pt, frame.network_time, time, frame.data.clone()) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(conn = %self.id, error = %e, "write to subscriber failed");
                false
            }
        }
    }

    /// Performs the mutation for a datagram, command or timeout. Returns false when the task should end.
    fn apply(&mut self, wake: Wake) -> Result<bool, RtcError> {
        match wake {
            Wake::Datagram(d) => {
                let input = match Receive::new(Protocol::Udp, d.source, self.local, &d.data) {
                    Ok(r) => Input::Receive(d.at, r),
                    Err(e) => {
                        tracing::trace!(conn = %self.id, error = %e, "unparseable datagram");
                        return Ok(true);
                    }
                };
                if let Err(e) = self.rtc.handle_input(input) {
                    // Junk from the network must not end the connection; str0m says when it is dead.
                    tracing::debug!(conn = %self.id, error = %e, "datagram refused");
                }
            }
            Wake::Command(Command::Candidate(c)) => self.rtc.add_remote_candidate(c),
            #[cfg(test)]
            Wake::Command(Command::Panic) => panic!("test panic in {}", self.id),
            Wake::Timeout => self.rtc.handle_input(Input::Timeout(Instant::now()))?,
            Wake::Stop(why) => {
                tracing::debug!(conn = %self.id, why, "stopping");
                return Ok(false);
            }
            Wake::Frame(..) | Wake::Lagged(..) | Wake::KeyframeWanted(_) => {}
        }
        Ok(self.rtc.is_alive())
    }

    /// Drains `poll_output` until `Timeout`, sending transmits and passing events to `on_event`. Returns the
    /// next deadline.
    async fn drain(&mut self, seen: &mut Seen, mut on_event: impl FnMut(Event)) -> Result<Instant, RtcError> {
        loop {
            if !self.rtc.is_alive() {
                seen.gone = true;
                return Ok(Instant::now());
            }
            match self.rtc.poll_output()? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => self.send(t).await,
                Output::Event(Event::Connected) => {
                    tracing::debug!(conn = %self.id, "connected");
                    seen.connected = true;
                    self.state.send_replace(ConnState::Connected);
                }
                Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                    tracing::info!(conn = %self.id, "ICE disconnected");
                    seen.gone = true;
                    self.rtc.disconnect();
                }
                Output::Event(Event::Closed) => {
                    tracing::debug!(conn = %self.id, "peer closed");
                    seen.gone = true;
                }
                Output::Event(e) => on_event(e),
            }
        }
    }

    async fn send(&self, t: Transmit) {
        if let Err(e) = self.socket.send_to(&t.contents, t.destination).await {
            tracing::debug!(conn = %self.id, to = %t.destination, error = %e, "UDP send failed");
        }
    }

    fn bound_wait(&self, deadline: Instant, connected: bool, started: Instant) -> Instant {
        let mut at = deadline.min(Instant::now() + MAX_SLEEP);
        if !connected {
            at = at.min(started + CONNECT_TIMEOUT);
        }
        at
    }
}

/// Receives from a channel, or never when there is none (a disabled `select!` branch).
async fn recv(rx: Option<&mut broadcast::Receiver<Arc<Frame>>>) -> Result<Arc<Frame>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// What a subscriber does with a channel's result.
fn received(result: Result<Arc<Frame>, RecvError>, from: Source) -> Wake {
    match result {
        Ok(frame) => Wake::Frame(frame, from),
        Err(RecvError::Lagged(n)) => Wake::Lagged(n, from),
        // Not expected: every subscriber holds the stream's channels (their senders); when the publisher
        // goes, the registry aborts its subscribers instead.
        Err(RecvError::Closed) => Wake::Stop("publisher left"),
    }
}

/// Turns the publisher's `MediaData` into a frame to forward and, for video, its simulcast layer; `None` if
/// it is not forwarded (another m-line, a rid we do not know). Marks the layer in `want_keyframe` when its
/// video arrived with a gap, and clears the mark when a keyframe of it arrives.
fn frame_of(mids: &Mids, data: MediaData, want_keyframe: &mut [bool; LAYERS]) -> Option<(Frame, Option<usize>)> {
    let kind = mids.kind_of(data.mid)?;
    let layer = match kind {
        MediaKind::Video => Some(layers::layer_of(data.rid.as_ref())?),
        MediaKind::Audio => None,
    };
    let keyframe = data.is_keyframe();
    if let Some(layer) = layer {
        if keyframe {
            // It answers any request still waiting for its slot: no second keyframe nobody needs.
            want_keyframe[layer] = false;
        } else if !data.contiguous {
            want_keyframe[layer] = true;
        }
    }
    let frame = Frame {
        kind,
        params: data.params,
        time: data.time,
        network_time: data.network_time,
        keyframe,
        data: data.data,
    };
    Some((frame, layer))
}
