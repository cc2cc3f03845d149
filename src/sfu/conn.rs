//! One connection's task: it owns the `Rtc`, feeds it datagrams, commands, forwarded frames and timeouts one
//! at a time, and drains `poll_output` to `Timeout` after each (str0m's single-mutation rule).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid, Rid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};
use tokio::net::UdpSocket;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};

use super::{ConnId, ConnState, StreamStats};

/// How often str0m reports egress stats (packets, NACKs) of a subscriber.
pub(super) const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Keyframe requests toward a publisher are coalesced to at most one per this.
const KEYFRAME_SPACING: Duration = Duration::from_millis(500);
/// A connection that is not up by then is closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest sleep between timeouts (str0m may answer "not happening" with a far future).
const MAX_SLEEP: Duration = Duration::from_secs(1);

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
}

impl Counters {
    pub(super) fn snapshot(&self, subscribers: usize) -> StreamStats {
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
        }
    }

    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The audio and video m-lines a connection forwards (the first of each kind in the right direction).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Mids {
    audio: Option<Mid>,
    video: Option<Mid>,
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
            slot.get_or_insert(media.mid());
        }
        mids
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
    Publisher { frames: broadcast::Sender<Arc<Frame>>, keyframe: mpsc::Receiver<()>, mids: Mids },
    Subscriber { frames: broadcast::Receiver<Arc<Frame>>, keyframe: mpsc::Sender<()>, mids: Mids },
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

/// One thing that woke the task; each becomes exactly one mutation of the `Rtc`.
enum Wake {
    Datagram(Datagram),
    Command(Command),
    Frame(Arc<Frame>),
    Lagged(u64),
    KeyframeWanted,
    Timeout,
    Stop(&'static str),
}

impl Task {
    pub(super) async fn run(mut self, first: FirstOutput, role: Role) {
        for t in first.transmits {
            self.send(t).await;
        }
        let result = match role {
            Role::Publisher { frames, keyframe, mids } => self.run_publisher(frames, keyframe, mids).await,
            Role::Subscriber { frames, keyframe, mids } => self.run_subscriber(frames, keyframe, mids).await,
        };
        if let Err(e) = result {
            tracing::info!(conn = %self.id, error = %e, "connection failed");
        }
        // `Closed` is sent by the registry when the watcher removes this connection, so that whoever sees
        // it also sees the connection gone from the stats.
    }

    async fn run_publisher(
        &mut self,
        frames: broadcast::Sender<Arc<Frame>>,
        mut keyframe_rx: mpsc::Receiver<()>,
        mids: Mids,
    ) -> Result<(), RtcError> {
        let started = Instant::now();
        let mut connected = false;
        let mut want_keyframe = false;
        let mut last_request: Option<Instant> = None;
        let counters = self.counters.clone();
        loop {
            let mut seen = Seen::default();
            let deadline = self
                .drain(&mut seen, |event| {
                    if let Event::MediaData(data) = event {
                        if let Some(frame) = frame_of(&mids, data, &mut want_keyframe) {
                            Counters::add(&counters.frames_in, 1);
                            Counters::add(&counters.bytes_in, frame.data.len() as u64);
                            // Err only means nobody listens right now.
                            let _ = frames.send(Arc::new(frame));
                        }
                    }
                })
                .await?;
            if seen.gone {
                return Ok(());
            }
            connected |= seen.connected;

            // Coalesced keyframe request: at most one per KEYFRAME_SPACING, the rest wait for the slot.
            let now = Instant::now();
            let due = last_request.map_or(now, |t| t + KEYFRAME_SPACING);
            if want_keyframe && connected && due <= now {
                want_keyframe = false;
                last_request = Some(now);
                if let Some(mut w) = mids.video.and_then(|mid| self.rtc.writer(mid)) {
                    let kind = if w.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
                        KeyframeRequestKind::Pli
                    } else {
                        KeyframeRequestKind::Fir
                    };
                    match w.request_keyframe(None, kind) {
                        Ok(()) => Counters::add(&counters.keyframe_requests, 1),
                        Err(e) => tracing::debug!(conn = %self.id, error = %e, "keyframe request failed"),
                    }
                }
                continue; // that was a mutation: drain before the next one
            }
            let wake_at = if want_keyframe && connected { deadline.min(due) } else { deadline };
            let wake_at = self.bound_wait(wake_at, connected, started);

            // A due timeout goes first, so that a busy channel cannot starve str0m's timers.
            let wake = if wake_at <= Instant::now() {
                Wake::Timeout
            } else {
                tokio::select! {
                biased;
                c = self.cmd.recv() => c.map_or(Wake::Stop("handle dropped"), Wake::Command),
                d = self.net.recv() => d.map_or(Wake::Stop("handle dropped"), Wake::Datagram),
                k = keyframe_rx.recv() => k.map_or(Wake::Stop("stream dropped"), |()| Wake::KeyframeWanted),
                _ = tokio::time::sleep_until(wake_at.into()) => Wake::Timeout,
                }
            };
            match wake {
                Wake::KeyframeWanted => want_keyframe = true,
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

    async fn run_subscriber(
        &mut self,
        mut frames: broadcast::Receiver<Arc<Frame>>,
        keyframe_tx: mpsc::Sender<()>,
        mids: Mids,
    ) -> Result<(), RtcError> {
        let started = Instant::now();
        let mut connected = false;
        let mut gate = KeyframeGate::default();
        let mut egress: HashMap<Mid, (u64, u64)> = HashMap::new();
        let counters = self.counters.clone();
        let want_keyframe = |counters: &Counters| {
            Counters::add(&counters.keyframe_wanted, 1);
            // A full queue means a request is already on its way: that is the coalescing.
            let _ = keyframe_tx.try_send(());
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
                    _ => {}
                })
                .await?;
            if seen.gone {
                return Ok(());
            }
            if kf_asked {
                want_keyframe(&counters);
            }
            if seen.connected && !connected {
                connected = true;
                // Start from the newest frames, not what queued while connecting.
                frames = frames.resubscribe();
                gate.reset();
                want_keyframe(&counters);
            }
            let wake_at = self.bound_wait(deadline, connected, started);

            let wake = if wake_at <= Instant::now() {
                Wake::Timeout
            } else {
                tokio::select! {
                biased;
                c = self.cmd.recv() => c.map_or(Wake::Stop("handle dropped"), Wake::Command),
                d = self.net.recv() => d.map_or(Wake::Stop("handle dropped"), Wake::Datagram),
                f = frames.recv(), if connected => match f {
                    Ok(frame) => Wake::Frame(frame),
                    Err(RecvError::Lagged(n)) => Wake::Lagged(n),
                    Err(RecvError::Closed) => Wake::Stop("publisher left"),
                },
                _ = tokio::time::sleep_until(wake_at.into()) => Wake::Timeout,
                }
            };
            match wake {
                Wake::Frame(frame) => {
                    if !gate.pass(frame.kind, frame.keyframe) {
                        continue;
                    }
                    if self.forward(&mids, &frame) {
                        Counters::add(&counters.frames_forwarded, 1);
                    }
                }
                Wake::Lagged(n) => {
                    tracing::debug!(conn = %self.id, skipped = n, "subscriber lagged; waiting for a keyframe");
                    Counters::add(&counters.lagged, 1);
                    gate.reset();
                    want_keyframe(&counters);
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

    /// Writes one frame to the subscriber (a mutation). Returns whether it was written.
    fn forward(&mut self, mids: &Mids, frame: &Frame) -> bool {
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
        match writer.write(pt, frame.network_time, frame.time, frame.data.clone()) {
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
            Wake::Frame(_) | Wake::Lagged(_) | Wake::KeyframeWanted => {}
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

/// A subscriber's video starts at a keyframe: at first, and again after frames were skipped (a decoder
/// cannot use a delta frame whose reference it missed). Audio always passes.
#[derive(Default)]
struct KeyframeGate {
    open: bool,
}

impl KeyframeGate {
    /// Whether to forward this frame.
    fn pass(&mut self, kind: MediaKind, keyframe: bool) -> bool {
        if kind == MediaKind::Video && !self.open {
            self.open = keyframe;
            return keyframe;
        }
        true
    }

    /// Frames were skipped: wait for the next keyframe again.
    fn reset(&mut self) {
        self.open = false;
    }
}

/// Turns the publisher's `MediaData` into a frame to forward, or `None` if it is not forwarded (another
/// m-line, another simulcast layer). Sets `want_keyframe` when video arrived with a gap.
fn frame_of(mids: &Mids, data: MediaData, want_keyframe: &mut bool) -> Option<Frame> {
    let kind = mids.kind_of(data.mid)?;
    if data.rid.is_some() && data.rid != Some(Rid::from("h")) {
        return None;
    }
    let keyframe = data.is_keyframe();
    if kind == MediaKind::Video && !data.contiguous && !keyframe {
        *want_keyframe = true;
    }
    Some(Frame {
        kind,
        params: data.params,
        time: data.time,
        network_time: data.network_time,
        keyframe,
        data: data.data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_waits_for_a_keyframe_at_start_and_after_a_skip() {
        let mut gate = KeyframeGate::default();
        let (v, a) = (MediaKind::Video, MediaKind::Audio);
        assert!(!gate.pass(v, false), "no delta frame before the first keyframe");
        assert!(gate.pass(a, false), "audio never waits");
        assert!(gate.pass(v, true));
        assert!(gate.pass(v, false), "deltas follow the keyframe");
        gate.reset(); // lagged
        assert!(!gate.pass(v, false));
        assert!(gate.pass(a, false));
        assert!(gate.pass(v, true));
        assert!(gate.pass(v, false));
    }
}
