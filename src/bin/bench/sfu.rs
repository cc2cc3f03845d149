//! `bench sfu`: the forwarding unit (`onair::sfu`, issue #9) under one ~1.5 Mbps publisher and a growing
//! number of synthetic subscribers, all in this process. The SFU runs on its own single-thread tokio runtime,
//! on a thread pinned to CPU 0; the publisher and the subscribers (str0m clients on 127.0.0.1, one UDP socket
//! each) run on the tool's runtime on CPU 1. Per subscriber count it measures, over a steady-state window
//! after every subscriber has had its first keyframe: the SFU thread's CPU (% of one core), packet loss at
//! the subscribers (from RTP sequence-number gaps), the SFU's CPU per forwarded packet (µs), frames
//! forwarded/s, NACKs, keyframe requests, and the tool thread's own CPU (to tell when the clients are the
//! bound). Not part of `bench all`; `--write-docs` rewrites the section [`SECTION_TITLE`] of
//! `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onair::sfu::{ConnState, Sfu, SfuConfig, SfuStream, StreamStats};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Heading of this benchmark's section in `docs/benchmarks.md`.
pub const SECTION_TITLE: &str = "## Forwarding unit (SFU)";

/// Video frames per second of the synthetic publisher.
const VIDEO_FPS: u32 = 30;
/// Frames from one keyframe to the next (2 s at 30 fps); a keyframe request from the SFU brings the next
/// keyframe forward, as a browser's encoder does.
const GOP_FRAMES: u32 = 60;
/// Video payload bit rate, bits/s (VP8 frame bytes; RTP/SRTP/UDP headers come on top).
const VIDEO_BPS: u64 = 1_450_000;
/// A keyframe is this many times the size of a delta frame (typical of VP8 camera video at this rate).
const KEY_TO_DELTA: u64 = 8;
/// Opus: 20 ms frames of this many bytes (40 kbit/s).
const AUDIO_FRAME_BYTES: usize = 100;
const AUDIO_FPS: u32 = 50;
/// Subscribers connected at once while ramping up (the SFU does their DTLS handshakes on its one core).
const JOIN_BATCH: usize = 25;
/// Longest wait for one batch of subscribers to connect, and for all of them to get video.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between "every subscriber has video" and the measured window (lets the join keyframes drain).
const SETTLE: Duration = Duration::from_secs(3);
/// Target of issue #9: subscribers reached with the two per-packet targets below.
pub const TARGET_SUBSCRIBERS: usize = 300;
/// Loss target, % of expected packets.
pub const TARGET_LOSS_PCT: f64 = 0.1;
/// Forwarding cost target, µs of SFU CPU per forwarded packet.
pub const TARGET_US_PER_PACKET: f64 = 10.0;

/// How the synthetic subscribers receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum ClientMode {
    /// Every datagram goes into a str0m client in RTP mode (SRTP decryption, receiver reports, NACKs for
    /// what is missing; no depacketization), as a real viewer's stack would; packets are counted from
    /// their RTP header first.
    Str0m,
    /// RTP packets are only counted from their (unencrypted) header and not decrypted; STUN, DTLS and RTCP
    /// still go to str0m. Cheaper for the load tool, but the subscribers send no NACKs.
    Headers,
}

/// Settings of one run.
pub struct SfuOpts {
    /// Subscriber counts, ascending; each step adds subscribers to reach the next.
    pub subscribers: Vec<usize>,
    /// Seconds of the measured window per step.
    pub secs: f64,
    pub clients: ClientMode,
    /// CPU for the SFU thread, when pinning (the tool's threads are pinned by `main`).
    pub sfu_cpu: Option<usize>,
}

/// What one step measured, over its window.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct StepResult {
    /// Subscribers asked for / connected and still open at the end of the window.
    pub subscribers: usize,
    pub open: usize,
    /// Seconds to connect this step's new subscribers (ICE + DTLS), in batches of [`JOIN_BATCH`].
    pub join_secs: f64,
    /// Length of the window, s.
    pub secs: f64,
    /// SFU thread CPU, % of one core.
    pub sfu_cpu_pct: f64,
    /// The tool's thread (publisher + subscribers), % of one core.
    pub tool_cpu_pct: f64,
    /// Payload the publisher wrote in the window, Mbit/s (frames; headers not included).
    pub publisher_mbps: f64,
    /// RTP packets that arrived at the subscribers (all of them, retransmissions included).
    pub packets_received: u64,
    /// Of those, retransmissions (RTX).
    pub rtx_received: u64,
    /// Original (non-RTX) RTP packets the subscribers should have got, from their sequence numbers, and
    /// how many of those never arrived.
    pub expected: u64,
    pub lost: u64,
    pub loss_pct: f64,
    /// [`ClientMode::Str0m`]: % of original packets still missing after NACK/RTX repair.
    pub repaired_loss_pct: Option<f64>,
    /// SFU's `StreamStats.packets_forwarded` over the window (str0m egress stats, updated once a second
    /// per subscriber, so ±1 s of packets at the edges).
    pub packets_forwarded_sfu: u64,
    /// SFU CPU per packet received at the subscribers, µs.
    pub us_per_packet: f64,
    pub frames_in_per_s: f64,
    pub frames_forwarded_per_s: f64,
    /// Frames the publisher wrote per second (audio + video).
    pub frames_sent_per_s: f64,
    /// % of the publisher's frames the SFU did not get whole (a packet lost on the way in loses its frame;
    /// the subscribers' sequence numbers cannot show that, str0m numbers each subscriber's packets afresh).
    pub ingress_frame_loss_pct: f64,
    /// % of (publisher frames × open subscribers) not forwarded: end to end, at frame level.
    pub frame_loss_pct: f64,
    pub nacks: u64,
    pub keyframe_wanted: u64,
    pub keyframe_requests: u64,
    pub lagged: u64,
    /// UDP datagrams the kernel dropped because a receive buffer was full (whole machine, /proc/net/snmp).
    pub udp_rcvbuf_errors: u64,
    /// Load average (1, 5, 15 min) when the window started.
    pub load: String,
}

impl StepResult {
    /// Whether this step meets both per-packet targets of issue #9.
    pub fn met(&self) -> bool {
        self.open == self.subscribers
            && self.expected > 0
            && self.loss_pct < TARGET_LOSS_PCT
            && self.frame_loss_pct < TARGET_LOSS_PCT
            && self.us_per_packet <= TARGET_US_PER_PACKET
    }

    /// Whether the tool's core was (nearly) saturated, so that the clients, not the SFU, may be the bound.
    pub fn tool_saturated(&self) -> bool {
        self.tool_cpu_pct >= 90.0
    }
}

/// One run of `bench sfu`.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SfuResult {
    pub started: String,
    pub commit: String,
    pub command: String,
    pub clients: Option<ClientMode>,
    pub nproc: String,
    pub cpu_model: String,
    pub sfu_cpu: Option<usize>,
    pub client_cpu: Option<usize>,
    pub load_before: String,
    /// Bytes of a keyframe and of a delta frame, as sent by the publisher.
    pub keyframe_bytes: usize,
    pub delta_bytes: usize,
    pub steps: Vec<StepResult>,
    pub failures: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------------
// Pure logic (unit-tested)

/// Sizes of (keyframe, delta frame) in bytes so that one GOP carries `bps` of video at `fps`.
pub fn frame_sizes(bps: u64, fps: u32, gop: u32, key_to_delta: u64) -> (usize, usize) {
    let gop_bytes = bps * u64::from(gop) / 8 / u64::from(fps);
    let delta = gop_bytes / (u64::from(gop) - 1 + key_to_delta);
    ((delta * key_to_delta) as usize, delta as usize)
}

/// The 64-bit extended sequence number for the 16-bit `seq` that is nearest to `reference` (an extended
/// number seen before): RFC 3550 §A.1's roll-over handling, also right for packets that arrive a little late.
pub fn extend_seq(reference: u64, seq: u16) -> u64 {
    let roc = reference >> 16;
    let mut best = (roc << 16) | u64::from(seq);
    for cand in [roc.checked_sub(1), roc.checked_add(1)].into_iter().flatten() {
        let v = (cand << 16) | u64::from(seq);
        if v.abs_diff(reference) < best.abs_diff(reference) {
            best = v;
        }
    }
    best
}

/// Received and expected packets of one RTP stream (one SSRC), from its sequence numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqCount {
    /// Lowest and highest extended sequence numbers seen (the first one is put at 2^16 + seq so that a
    /// packet reordered before it still fits).
    low: u64,
    high: u64,
    received: u64,
}

impl SeqCount {
    pub fn observe(&mut self, seq: u16) {
        if self.received == 0 {
            self.low = (1 << 16) | u64::from(seq);
            self.high = self.low;
        } else {
            let ext = extend_seq(self.high, seq);
            self.high = self.high.max(ext);
            self.low = self.low.min(ext);
        }
        self.received += 1;
    }

    /// Packets from the first to the highest sequence number seen.
    pub fn expected(&self) -> u64 {
        if self.received == 0 {
            0
        } else {
            self.high - self.low + 1
        }
    }

    pub fn received(&self) -> u64 {
        self.received
    }
}

/// Counts of packets at the subscribers, summed; differences of two are a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Original (non-RTX) packets expected from the sequence numbers, and those received.
    pub expected: u64,
    pub received: u64,
    /// Retransmissions (RTX) received.
    pub rtx: u64,
    /// [`ClientMode::Str0m`] only: original packets expected and delivered by str0m after NACK/RTX repair.
    pub repaired_expected: u64,
    pub repaired_received: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.expected += o.expected;
        self.received += o.received;
        self.rtx += o.rtx;
        self.repaired_expected += o.repaired_expected;
        self.repaired_received += o.repaired_received;
    }

    /// `self - earlier`, per field (0 where it went backwards).
    pub fn since(&self, earlier: &Tally) -> Tally {
        Tally {
            expected: self.expected.saturating_sub(earlier.expected),
            received: self.received.saturating_sub(earlier.received),
            rtx: self.rtx.saturating_sub(earlier.rtx),
            repaired_expected: self.repaired_expected.saturating_sub(earlier.repaired_expected),
            repaired_received: self.repaired_received.saturating_sub(earlier.repaired_received),
        }
    }

    /// Original packets that did not arrive (duplicates do not make it negative).
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// Lost packets in % of expected ones (0 when nothing was expected).
    pub fn loss_pct(&self) -> f64 {
        pct_missing(self.expected, self.received)
    }

    /// Packets still missing after NACK/RTX repair, in % (`None` when not counted).
    pub fn repaired_loss_pct(&self) -> Option<f64> {
        (self.repaired_expected > 0).then(|| pct_missing(self.repaired_expected, self.repaired_received))
    }
}

/// `expected - received` in % of `expected` (0 when nothing was expected; duplicates never go below 0).
pub fn pct_missing(expected: u64, received: u64) -> f64 {
    if expected == 0 {
        0.0
    } else {
        expected.saturating_sub(received) as f64 * 100.0 / expected as f64
    }
}

/// CPU time per packet in µs: `cpu_ns` over `packets` (`None` when no packet).
pub fn us_per_packet(cpu_ns: u64, packets: u64) -> Option<f64> {
    (packets > 0).then(|| cpu_ns as f64 / 1000.0 / packets as f64)
}

/// The SFU CPU of the packets a step added over the previous one, µs per packet: the growth of SFU CPU
/// (core-seconds per second) over the growth of packets/s at the subscribers; without the fixed costs
/// (publisher ingress, timers) that dominate at few subscribers. `None` when the rate did not grow.
pub fn marginal_us_per_packet(before: &StepResult, after: &StepResult) -> Option<f64> {
    let rate = |s: &StepResult| s.packets_received as f64 / s.secs.max(1e-9);
    let added = rate(after) - rate(before);
    (added > 0.0).then(|| (after.sfu_cpu_pct - before.sfu_cpu_pct) / 100.0 * 1e6 / added)
}

/// CPU time over wall time, in % of one core.
pub fn cpu_pct(cpu_ns: u64, wall: Duration) -> f64 {
    if wall.is_zero() {
        0.0
    } else {
        cpu_ns as f64 / wall.as_nanos() as f64 * 100.0
    }
}

/// What kind of datagram this is (RFC 7983 demultiplexing, RFC 5761 for RTP vs RTCP).
#[derive(Debug, PartialEq, Eq)]
pub enum Datagram {
    /// An RTP packet: payload type, sequence number, SSRC (all in the clear in SRTP).
    Rtp { pt: u8, seq: u16, ssrc: u32 },
    /// RTCP, STUN, DTLS or anything else: for str0m.
    Other,
}

pub fn classify(d: &[u8]) -> Datagram {
    if d.len() >= 12 && (128..=191).contains(&d[0]) && !(192..=223).contains(&d[1]) {
        Datagram::Rtp {
            pt: d[1] & 0x7f,
            seq: u16::from_be_bytes([d[2], d[3]]),
            ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        }
    } else {
        Datagram::Other
    }
}

/// The RTX payload types of an SDP (`a=rtpmap:<pt> rtx/<clock>`).
pub fn rtx_payload_types(sdp: &str) -> Vec<u8> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=rtpmap:"))
        .filter_map(|r| {
            let (pt, codec) = r.split_once(' ')?;
            codec.to_ascii_lowercase().starts_with("rtx/").then(|| pt.parse().ok()).flatten()
        })
        .collect()
}

/// The payload types of the first `m=video` line of an SDP (its format list).
pub fn video_payload_types(sdp: &str) -> Vec<u8> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("m=video "))
        .map(|m| m.split_whitespace().skip(2).filter_map(|pt| pt.parse().ok()).collect())
        .unwrap_or_default()
}

/// Packets one subscriber got: per original SSRC, and retransmissions.
#[derive(Default)]
struct SubCounts {
    /// Per SSRC, as they arrived (RTP header).
    streams: Vec<(u32, SeqCount)>,
    rtx: u64,
    /// Per SSRC, as str0m hands them over after NACK/RTX repair ([`ClientMode::Str0m`]).
    repaired: Vec<(u32, SeqCount)>,
    video_seen: bool,
}

fn observe(streams: &mut Vec<(u32, SeqCount)>, ssrc: u32, seq: u16) {
    match streams.iter_mut().find(|(s, _)| *s == ssrc) {
        Some((_, s)) => s.observe(seq),
        None => {
            let mut s = SeqCount::default();
            s.observe(seq);
            streams.push((ssrc, s));
        }
    }
}

impl SubCounts {
    fn tally(&self) -> Tally {
        let mut t = Tally { rtx: self.rtx, ..Tally::default() };
        for (_, s) in &self.streams {
            t.expected += s.expected();
            t.received += s.received();
        }
        for (_, s) in &self.repaired {
            t.repaired_expected += s.expected();
            t.repaired_received += s.received();
        }
        t
    }
}

// ---------------------------------------------------------------------------------------------------------
// CPU time of one thread

/// This thread's kernel id (`/proc/thread-self` → `<pid>/task/<tid>`).
fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// CPU time of thread `tid` of this process in ns (`/proc/self/task/<tid>/schedstat`, first field).
fn thread_cpu_ns(tid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// `RcvbufErrors` of `Udp:` in /proc/net/snmp (all sockets of this network namespace).
fn udp_rcvbuf_errors() -> u64 {
    let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------------------
// The SFU on its own thread

/// The SFU, its runtime's handle, and its thread.
struct SfuThread {
    sfu: Sfu,
    handle: tokio::runtime::Handle,
    tid: u32,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SfuThread {
    fn start(cpu: Option<usize>) -> io::Result<SfuThread> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("sfu".into()).spawn(move || {
            let tid = current_tid().unwrap_or(0);
            if let Some(cpu) = cpu {
                let ok = std::process::Command::new("taskset")
                    .args(["-p", "-c", &cpu.to_string(), &tid.to_string()])
                    .stdout(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    eprintln!("note: taskset failed; the SFU thread is not pinned");
                }
            }
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let config = SfuConfig { bind: SocketAddr::from(([127, 0, 0, 1], 0)), advertise: None };
            match rt.block_on(Sfu::start(config)) {
                Ok(sfu) => {
                    let _ = tx.send(Ok((sfu, rt.handle().clone(), tid)));
                    // Drive the SFU's tasks until told to stop.
                    let _ = rt.block_on(stop_rx);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
        let (sfu, handle, tid) = rx.recv().map_err(|_| io::Error::other("the SFU thread ended"))??;
        Ok(SfuThread { sfu, handle, tid, stop: Some(stop_tx), thread: Some(thread) })
    }

    fn cpu_ns(&self) -> u64 {
        thread_cpu_ns(self.tid).unwrap_or(0)
    }
}

impl Drop for SfuThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Synthetic clients

/// A str0m client (not ICE-lite) with its own UDP socket on 127.0.0.1 and its offer made.
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Mid,
    audio: Mid,
    offer: String,
    pending: Option<SdpPendingOffer>,
}

impl Client {
    async fn new(direction: Direction, rtp_mode: bool) -> io::Result<Client> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let local = socket.local_addr()?;
        let mut rtc = RtcConfig::new().set_rtp_mode(rtp_mode).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").map_err(io::Error::other)?);
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, direction, None, None, None);
        let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
        let (offer, pending) = api.apply().ok_or_else(|| io::Error::other("no offer"))?;
        Ok(Client { rtc, socket, local, video, audio, offer: offer.to_sdp_string(), pending: Some(pending) })
    }

    fn accept(&mut self, answer_sdp: &str) -> Result<(), String> {
        let answer = SdpAnswer::from_sdp_string(answer_sdp).map_err(|e| e.to_string())?;
        let pending = self.pending.take().ok_or("no pending offer")?;
        self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| e.to_string())
    }

    /// Drains to the next timeout, sending without waiting (loopback; a full send buffer drops, like a
    /// network would) and handing events to `on_event`.
    fn drain(&mut self, mut on_event: impl FnMut(Event)) -> Instant {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return t,
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(e)) => on_event(e),
                Err(_) => return Instant::now() + Duration::from_millis(100),
            }
        }
    }

    fn receive(&mut self, buf: &[u8], source: SocketAddr) {
        if let Ok(r) = Receive::new(Protocol::Udp, source, self.local, buf) {
            let _ = self.rtc.handle_input(Input::Receive(Instant::now(), r));
        }
    }
}

/// What the publisher did, for the window.
#[derive(Default)]
struct PublisherCounts {
    payload_bytes: AtomicU64,
    /// Audio and video frames written.
    frames: AtomicU64,
    keyframes: AtomicU64,
    keyframe_requests: AtomicU64,
}

/// The synthetic publisher: VP8 at [`VIDEO_FPS`] (keyframe every [`GOP_FRAMES`] or at once when asked),
/// Opus at [`AUDIO_FPS`]. Byte 0 of a video frame is the VP8 frame tag (bit 0 clear = keyframe), as the
/// SFU's keyframe detection reads it; the rest is filler.
async fn run_publisher(mut c: Client, counts: Arc<PublisherCounts>, key_bytes: usize, delta_bytes: usize) {
    let mut buf = vec![0u8; 2048];
    let mut connected = false;
    let mut key_next = true;
    let (mut v, mut a) = (0u64, 0u64);
    let mut video_tick = tokio::time::interval(Duration::from_secs(1) / VIDEO_FPS);
    let mut audio_tick = tokio::time::interval(Duration::from_secs(1) / AUDIO_FPS);
    let key_frame: Arc<[u8]> = {
        let mut f = vec![0xAB; key_bytes];
        f[0] = 0x00;
        f.into()
    };
    let delta_frame: Arc<[u8]> = {
        let mut f = vec![0xAB; delta_bytes];
        f[0] = 0x01;
        f.into()
    };
    let audio_frame: Arc<[u8]> = vec![0x55; AUDIO_FRAME_BYTES].into();
    loop {
        let mut asked = false;
        let deadline = c.drain(|e| match e {
            Event::Connected => connected = true,
            Event::KeyframeRequest(_) => asked = true,
            _ => {}
        });
        if asked {
            counts.keyframe_requests.fetch_add(1, Ordering::Relaxed);
            key_next = true;
        }
        let wait = deadline.min(Instant::now() + Duration::from_millis(100));
        tokio::select! {
            r = c.socket.recv_from(&mut buf) => {
                if let Ok((n, src)) = r {
                    let data = buf[..n].to_vec();
                    c.receive(&data, src);
                }
            }
            _ = video_tick.tick(), if connected => {
                let key = key_next || v % u64::from(GOP_FRAMES) == 0;
                key_next = false;
                let frame = if key { key_frame.clone() } else { delta_frame.clone() };
                let Some(w) = c.rtc.writer(c.video) else { continue };
                let Some(pt) = w.payload_params().find(|p| p.spec().codec == Codec::Vp8).map(|p| p.pt()) else { continue };
                let t = MediaTime::new(v * 90_000 / u64::from(VIDEO_FPS), Frequency::NINETY_KHZ);
                let len = frame.len() as u64;
                if w.write(pt, Instant::now(), t, frame).is_ok() {
                    counts.payload_bytes.fetch_add(len, Ordering::Relaxed);
                    counts.frames.fetch_add(1, Ordering::Relaxed);
                    if key {
                        counts.keyframes.fetch_add(1, Ordering::Relaxed);
                    }
                }
                v += 1;
            }
            _ = audio_tick.tick(), if connected => {
                let Some(w) = c.rtc.writer(c.audio) else { continue };
                let Some(pt) = w.payload_params().find(|p| p.spec().codec == Codec::Opus).map(|p| p.pt()) else { continue };
                let t = MediaTime::new(a * 960, Frequency::FORTY_EIGHT_KHZ);
                if w.write(pt, Instant::now(), t, audio_frame.clone()).is_ok() {
                    counts.payload_bytes.fetch_add(AUDIO_FRAME_BYTES as u64, Ordering::Relaxed);
                    counts.frames.fetch_add(1, Ordering::Relaxed);
                }
                a += 1;
            }
            _ = tokio::time::sleep_until(wait.into()) => {
                let _ = c.rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
}

/// A receive-only subscriber: counts every RTP packet from its header (original packets per SSRC by
/// sequence number, RTX ones apart) and, in [`ClientMode::Str0m`], also hands it to str0m.
async fn run_subscriber(
    mut c: Client,
    counts: Arc<Mutex<SubCounts>>,
    rtx_pts: Vec<u8>,
    video_pts: Vec<u8>,
    mode: ClientMode,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = c.drain(|_| {});
        let wait = deadline.min(Instant::now() + Duration::from_millis(100));
        tokio::select! {
            r = c.socket.readable() => {
                if r.is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                // Up to 64 datagrams per wake-up, then the other tasks get a turn.
                for _ in 0..64 {
                    let (n, src) = match c.socket.try_recv_from(&mut buf) {
                        Ok(x) => x,
                        Err(_) => break,
                    };
                    let d = &buf[..n];
                    let feed = match classify(d) {
                        Datagram::Rtp { pt, seq, ssrc } => {
                            let mut k = counts.lock().unwrap_or_else(|p| p.into_inner());
                            if rtx_pts.contains(&pt) {
                                k.rtx += 1;
                            } else {
                                if video_pts.contains(&pt) {
                                    k.video_seen = true;
                                }
                                observe(&mut k.streams, ssrc, seq);
                            }
                            mode == ClientMode::Str0m
                        }
                        Datagram::Other => true,
                    };
                    if feed {
                        c.receive(d, src);
                        c.drain(|e| {
                            if let Event::RtpPacket(p) = e {
                                let mut k = counts.lock().unwrap_or_else(|p| p.into_inner());
                                observe(&mut k.repaired, *p.header.ssrc, (*p.seq_no & 0xffff) as u16);
                            }
                        });
                    }
                }
            }
            _ = tokio::time::sleep_until(wait.into()) => {
                let _ = c.rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
}

struct Subscriber {
    state: watch::Receiver<ConnState>,
    counts: Arc<Mutex<SubCounts>>,
    task: JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    fn tally(&self) -> Tally {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).tally()
    }

    fn has_video(&self) -> bool {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).video_seen
    }
}

async fn wait_connected(state: &mut watch::Receiver<ConnState>, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, state.wait_for(|s| *s != ConnState::Connecting)).await {
        Ok(Ok(s)) if *s == ConnState::Connected => Ok(()),
        Ok(Ok(s)) => Err(format!("ended {:?} before connecting", *s)),
        Ok(Err(_)) => Err("state channel closed".into()),
        Err(_) => Err(format!("not connected within {limit:?}")),
    }
}

async fn start_subscriber(sfu: &SfuThread, stream: SfuStream, mode: ClientMode) -> Result<Subscriber, String> {
    let mut c = Client::new(Direction::RecvOnly, mode == ClientMode::Str0m).await.map_err(|e| e.to_string())?;
    let s = sfu.sfu.clone();
    let offer = c.offer.clone();
    let answer = sfu
        .handle
        .spawn(async move { s.subscribe(stream, offer).await })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    c.accept(&answer.sdp)?;
    let rtx = rtx_payload_types(&answer.sdp);
    let video = video_payload_types(&answer.sdp);
    let counts = Arc::new(Mutex::new(SubCounts::default()));
    let task = tokio::spawn(run_subscriber(c, counts.clone(), rtx, video, mode));
    let mut state = answer.state;
    wait_connected(&mut state, JOIN_TIMEOUT).await?;
    Ok(Subscriber { state, counts, task })
}

// ---------------------------------------------------------------------------------------------------------
// The run

/// Everything read at the edges of a window.
struct Snapshot {
    at: Instant,
    sfu_ns: u64,
    tool_ns: u64,
    tally: Tally,
    stats: StreamStats,
    publisher_bytes: u64,
    publisher_frames: u64,
    rcvbuf_errors: u64,
}

fn snapshot(sfu: &SfuThread, stream: SfuStream, tool_tid: u32, subs: &[Subscriber], p: &PublisherCounts) -> Snapshot {
    let mut tally = Tally::default();
    for s in subs {
        tally.add(s.tally());
    }
    Snapshot {
        at: Instant::now(),
        sfu_ns: sfu.cpu_ns(),
        tool_ns: thread_cpu_ns(tool_tid).unwrap_or(0),
        tally,
        stats: sfu.sfu.stats(stream).unwrap_or_default(),
        publisher_bytes: p.payload_bytes.load(Ordering::Relaxed),
        publisher_frames: p.frames.load(Ordering::Relaxed),
        rcvbuf_errors: udp_rcvbuf_errors(),
    }
}

fn step_result(n: usize, open: usize, join_secs: f64, a: &Snapshot, b: &Snapshot, load: String) -> StepResult {
    let wall = b.at - a.at;
    let secs = wall.as_secs_f64();
    let t = b.tally.since(&a.tally);
    let sfu_ns = b.sfu_ns.saturating_sub(a.sfu_ns);
    let d = |f: fn(&StreamStats) -> u64| f(&b.stats).saturating_sub(f(&a.stats));
    StepResult {
        subscribers: n,
        open,
        join_secs,
        secs,
        sfu_cpu_pct: cpu_pct(sfu_ns, wall),
        tool_cpu_pct: cpu_pct(b.tool_ns.saturating_sub(a.tool_ns), wall),
        publisher_mbps: b.publisher_bytes.saturating_sub(a.publisher_bytes) as f64 * 8.0 / secs / 1e6,
        packets_received: t.received + t.rtx,
        rtx_received: t.rtx,
        expected: t.expected,
        lost: t.lost(),
        loss_pct: t.loss_pct(),
        repaired_loss_pct: t.repaired_loss_pct(),
        packets_forwarded_sfu: d(|s| s.packets_forwarded),
        us_per_packet: us_per_packet(sfu_ns, t.received + t.rtx).unwrap_or(0.0),
        frames_in_per_s: d(|s| s.frames_in) as f64 / secs,
        frames_forwarded_per_s: d(|s| s.frames_forwarded) as f64 / secs,
        frames_sent_per_s: b.publisher_frames.saturating_sub(a.publisher_frames) as f64 / secs,
        ingress_frame_loss_pct: pct_missing(b.publisher_frames.saturating_sub(a.publisher_frames), d(|s| s.frames_in)),
        frame_loss_pct: pct_missing(
            b.publisher_frames.saturating_sub(a.publisher_frames) * open as u64,
            d(|s| s.frames_forwarded),
        ),
        nacks: d(|s| s.nacks),
        keyframe_wanted: d(|s| s.keyframe_wanted),
        keyframe_requests: d(|s| s.keyframe_requests),
        lagged: d(|s| s.lagged),
        udp_rcvbuf_errors: b.rcvbuf_errors.saturating_sub(a.rcvbuf_errors),
        load,
    }
}

/// Runs the steps; a step that cannot connect its subscribers ends the run with what was reached.
pub async fn run(opts: &SfuOpts, result: &mut SfuResult) -> Result<(), String> {
    let (key_bytes, delta_bytes) = frame_sizes(VIDEO_BPS, VIDEO_FPS, GOP_FRAMES, KEY_TO_DELTA);
    result.keyframe_bytes = key_bytes;
    result.delta_bytes = delta_bytes;
    result.clients = Some(opts.clients);
    let tool_tid = current_tid().ok_or("cannot read /proc/thread-self")?;
    let sfu = SfuThread::start(opts.sfu_cpu).map_err(|e| format!("SFU start: {e}"))?;
    let stream = SfuStream(uuid::Uuid::new_v4());

    let mut publisher = Client::new(Direction::SendOnly, false).await.map_err(|e| e.to_string())?;
    let s = sfu.sfu.clone();
    let offer = publisher.offer.clone();
    let answer = sfu
        .handle
        .spawn(async move { s.publish(stream, offer).await })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("publish: {e}"))?;
    publisher.accept(&answer.sdp)?;
    let pcounts = Arc::new(PublisherCounts::default());
    let ptask = tokio::spawn(run_publisher(publisher, pcounts.clone(), key_bytes, delta_bytes));
    let _abort_publisher = AbortOnDrop(ptask);
    let mut pstate = answer.state;
    wait_connected(&mut pstate, JOIN_TIMEOUT).await.map_err(|e| format!("publisher: {e}"))?;
    eprintln!("sfu: publisher connected ({key_bytes} B keyframes, {delta_bytes} B delta frames, {VIDEO_FPS} fps)");

    let mut subs: Vec<Subscriber> = Vec::new();
    let mut targets = opts.subscribers.clone();
    targets.sort_unstable();
    targets.dedup();
    for n in targets {
        let joined = Instant::now();
        while subs.len() < n {
            let batch = JOIN_BATCH.min(n - subs.len());
            let started =
                futures_util::future::join_all((0..batch).map(|_| start_subscriber(&sfu, stream, opts.clients))).await;
            for s in started {
                match s {
                    Ok(s) => subs.push(s),
                    Err(e) => {
                        let msg = format!("{n} subscribers: a subscriber failed to join after {}: {e}", subs.len());
                        eprintln!("sfu: {msg}");
                        result.failures.push(msg);
                        return Ok(());
                    }
                }
            }
        }
        let join_secs = joined.elapsed().as_secs_f64();
        let until = Instant::now() + JOIN_TIMEOUT;
        while !subs.iter().all(Subscriber::has_video) {
            if Instant::now() > until {
                let without = subs.iter().filter(|s| !s.has_video()).count();
                let msg = format!("{n} subscribers: {without} got no video within {JOIN_TIMEOUT:?}");
                eprintln!("sfu: {msg}");
                result.failures.push(msg);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(SETTLE).await;
        let load = super::load_average();
        eprintln!("sfu: {n} subscribers joined in {join_secs:.1} s; measuring {:.0} s (load {load})", opts.secs);
        let a = snapshot(&sfu, stream, tool_tid, &subs, &pcounts);
        tokio::time::sleep(Duration::from_secs_f64(opts.secs)).await;
        let b = snapshot(&sfu, stream, tool_tid, &subs, &pcounts);
        let open = subs.iter().filter(|s| *s.state.borrow() == ConnState::Connected).count();
        let step = step_result(n, open, join_secs, &a, &b, load);
        eprintln!(
            "sfu: {n} subscribers: SFU {:.1}% CPU, {:.2} µs/packet, loss {:.3}% ({} of {}), tool {:.0}% CPU",
            step.sfu_cpu_pct, step.us_per_packet, step.loss_pct, step.lost, step.expected, step.tool_cpu_pct
        );
        let stop = step.tool_saturated() && step.loss_pct >= 5.0;
        result.steps.push(step);
        if stop {
            let msg = format!("stopped after {n} subscribers: the load tool's core is saturated and losing packets");
            eprintln!("sfu: {msg}");
            result.failures.push(msg);
            break;
        }
    }
    drop(subs);
    Ok(())
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ---------------------------------------------------------------------------------------------------------
// Report

fn verdict(met: bool) -> &'static str {
    if met {
        "**met**"
    } else {
        "**not met**"
    }
}

/// The largest subscriber count whose step met both per-packet targets (0 when none did).
pub fn reached(r: &SfuResult) -> usize {
    r.steps.iter().filter(|s| s.met()).map(|s| s.subscribers).max().unwrap_or(0)
}

/// The per-step table and the verdict rows, as Markdown.
pub fn table(r: &SfuResult) -> String {
    let mut s = String::from(
        "| subscribers | SFU CPU (% of 1 core) | loss at arrival | loss after NACK/RTX | frames lost (SFU ingress / end to end) | SFU CPU per forwarded packet | added packets' cost | packets/s at subscribers (RTX) | frames forwarded/s | NACKs | keyframe requests (wanted → sent) | lagged | publisher payload | tool CPU (% of 1 core) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, st) in r.steps.iter().enumerate() {
        let marginal = i.checked_sub(1).and_then(|j| marginal_us_per_packet(&r.steps[j], st));
        let _ = writeln!(
            s,
            "| {}{} | {:.1}% | {:.3}% ({} of {}) | {} | {:.2}% / {:.2}% | {:.2} µs | {} | {:.0} ({}) | {:.0} | {} | {} → {} | {} | {:.2} Mbit/s | {:.0}%{} |",
            st.subscribers,
            if st.open == st.subscribers { String::new() } else { format!(" ({} open)", st.open) },
            st.sfu_cpu_pct,
            st.loss_pct,
            st.lost,
            st.expected,
            st.repaired_loss_pct.map_or("—".to_string(), |p| format!("{p:.3}%")),
            st.ingress_frame_loss_pct,
            st.frame_loss_pct,
            st.us_per_packet,
            marginal.map_or("—".to_string(), |m| format!("{m:.2} µs")),
            st.packets_received as f64 / st.secs.max(1e-9),
            st.rtx_received,
            st.frames_forwarded_per_s,
            st.nacks,
            st.keyframe_wanted,
            st.keyframe_requests,
            st.lagged,
            st.publisher_mbps,
            st.tool_cpu_pct,
            if st.tool_saturated() { " (saturated)" } else { "" }
        );
    }
    s.push_str("\n| target (issue #9) | result | |\n|---|---|---|\n");
    for st in &r.steps {
        let _ = writeln!(
            s,
            "| {} subscribers: loss < {TARGET_LOSS_PCT}% (packets and frames), ≤ {TARGET_US_PER_PACKET} µs per forwarded packet | packets {:.3}%, frames {:.2}%, {:.2} µs | {} |",
            st.subscribers,
            st.loss_pct,
            st.frame_loss_pct,
            st.us_per_packet,
            verdict(st.met())
        );
    }
    let reached = reached(r);
    let _ = writeln!(
        s,
        "| ≥ {TARGET_SUBSCRIBERS} subscribers with both | {} | {} |",
        if reached == 0 { "none of the steps".to_string() } else { format!("{reached} subscribers") },
        verdict(reached >= TARGET_SUBSCRIBERS)
    );
    s
}

/// This benchmark's section of `docs/benchmarks.md`.
pub fn section(r: &SfuResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{SECTION_TITLE}\n");
    let pinning = match (r.sfu_cpu, r.client_cpu) {
        (Some(a), Some(b)) => {
            format!("the SFU thread on CPU {a}, the publisher and subscribers on CPU {b} (`taskset`)")
        }
        _ => "no CPU pinning (fewer than 2 CPUs)".into(),
    };
    let clients = match r.clients {
        Some(ClientMode::Headers) => "count RTP packets from their header only (no decryption, so they send no NACKs)",
        _ => "are str0m clients in RTP mode (SRTP decryption, receiver reports and NACKs; no depacketization)",
    };
    let _ = writeln!(
        s,
        "Written by `bench sfu` (`src/bin/bench/sfu.rs`) from a run started {} on checkout {}:\n\n\
         ```\n{}\n```\n\n\
         Machine: {} CPUs (`nproc --all`), {}; {pinning}. Load average before the run: {}.\n",
        r.started, r.commit, r.command, r.nproc, r.cpu_model, r.load_before
    );
    let _ = writeln!(
        s,
        "The forwarding unit (`onair::sfu`, str0m 0.25) runs inside the tool on its own single-thread tokio runtime;\n\
         its CPU is that thread's CPU time (`/proc/self/task/<tid>/schedstat`) over each window. One synthetic\n\
         publisher (a str0m client) sends VP8-shaped video at {VIDEO_FPS} fps (a {} B keyframe every {GOP_FRAMES} frames or\n\
         when the SFU asks, {} B delta frames otherwise; {:.2} Mbit/s of video payload) and {AUDIO_FPS} Opus-sized audio frames/s\n\
         of {AUDIO_FRAME_BYTES} B, about 220 RTP packets/s. The subscribers, each with its own UDP socket on 127.0.0.1, {clients}.\n\
         Subscribers join in batches of {JOIN_BATCH}; each step measures a window of {:.0} s that starts {} s after the last\n\
         subscriber got its first video packet, so the wait for the first keyframe is not counted. *Loss at arrival* is\n\
         original RTP packets missing from each subscriber's sequence numbers as they arrive (per SSRC, 16-bit roll-over\n\
         handled, retransmissions excluded); *after NACK/RTX* counts what str0m delivered once retransmissions filled\n\
         gaps (str0m clients only). str0m numbers each subscriber's packets afresh, so a packet lost on its way *into* the\n\
         SFU shows only as a frame the SFU never forwards: *frames lost* compares the publisher's frames with the SFU's\n\
         frames in (ingress) and with frames forwarded × subscribers (end to end). The loss target is judged on loss at\n\
         arrival and on end-to-end frame loss; `udp_rcvbuf_errors` in `target/bench/sfu.json` counts the kernel's receive-buffer drops (whole machine). *Per forwarded packet* is the SFU thread's CPU time over every RTP packet that reached a subscriber\n\
         (retransmissions included), so it also carries the publisher's ingress, RTCP, STUN and timers; *added packets'\n\
         cost* is the growth of SFU CPU over the growth of packets/s from the step before (without those fixed costs). \"Tool CPU\" is the\n\
         thread that runs the publisher and all subscribers: near 100% means the load generator, not the SFU, is the bound.\n",
        r.keyframe_bytes,
        r.delta_bytes,
        VIDEO_BPS as f64 / 1e6,
        r.steps.first().map_or(0.0, |s| s.secs),
        SETTLE.as_secs()
    );
    s.push_str(&table(r));
    s.push('\n');
    if !r.failures.is_empty() {
        s.push_str("In this run:\n\n");
        for f in &r.failures {
            let _ = writeln!(s, "- {}", f.replace('\n', " "));
        }
        s.push('\n');
    }
    s
}

/// `nproc --all` and the CPU model of /proc/cpuinfo.
pub fn machine() -> (String, String) {
    let nproc = std::process::Command::new("nproc")
        .arg("--all")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    (nproc, model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_give_the_bit_rate() {
        let (key, delta) = frame_sizes(1_450_000, 30, 60, 8);
        assert_eq!(key, 8 * delta);
        // One GOP (2 s) carries the bit rate within a delta frame's rounding.
        let gop_bits = (key + 59 * delta) as f64 * 8.0;
        assert!((gop_bits / 2.0 - 1_450_000.0).abs() < 67.0 * 8.0, "{key} {delta}");
    }

    #[test]
    fn extension_follows_roll_over_both_ways() {
        assert_eq!(extend_seq(1 << 16 | 100, 101), 1 << 16 | 101);
        assert_eq!(extend_seq(1 << 16 | 65_535, 0), 2 << 16, "forward over the wrap");
        assert_eq!(extend_seq(2 << 16 | 1, 65_534), 1 << 16 | 65_534, "a late packet from before the wrap");
        assert_eq!(extend_seq(5, 65_535), 65_535, "no roll-over below zero");
    }

    #[test]
    fn gaps_are_counted_across_the_wrap() {
        let mut c = SeqCount::default();
        for seq in (65_530u16..=65_535).chain(0..10) {
            if seq != 65_533 && seq != 2 && seq != 3 {
                c.observe(seq);
            }
        }
        assert_eq!(c.expected(), 16);
        assert_eq!(c.received(), 13);
        // Reordered (late) and the first packet's predecessor arriving late.
        let mut r = SeqCount::default();
        for seq in [10u16, 12, 11, 9, 13] {
            r.observe(seq);
        }
        assert_eq!((r.expected(), r.received()), (5, 5));
    }

    #[test]
    fn tallies_give_window_loss() {
        let a = Tally { expected: 1000, received: 990, rtx: 3, ..Default::default() };
        let b = Tally { expected: 21_000, received: 20_980, rtx: 5, ..Default::default() };
        let w = b.since(&a);
        assert_eq!(w, Tally { expected: 20_000, received: 19_990, rtx: 2, ..Default::default() });
        assert_eq!(w.repaired_loss_pct(), None, "not counted in header-only mode");
        let r = Tally { repaired_expected: 4000, repaired_received: 3999, ..Default::default() };
        assert!((r.repaired_loss_pct().unwrap() - 0.025).abs() < 1e-9);
        assert_eq!(w.lost(), 10);
        assert!((w.loss_pct() - 0.05).abs() < 1e-9);
        assert_eq!(Tally::default().loss_pct(), 0.0);
        let dup = Tally { expected: 10, received: 11, ..Default::default() };
        assert_eq!(dup.lost(), 0, "duplicates never make loss negative");
    }

    #[test]
    fn per_packet_cost_and_cpu() {
        // 0.5 s of CPU for 100,000 packets = 5 µs each.
        assert_eq!(us_per_packet(500_000_000, 100_000), Some(5.0));
        assert_eq!(us_per_packet(1, 0), None);
        assert!((cpu_pct(250_000_000, Duration::from_secs(1)) - 25.0).abs() < 1e-9);
        assert_eq!(cpu_pct(1, Duration::ZERO), 0.0);
        // 10% of a core at 10,000 packets/s, then 50% at 90,000 packets/s: the added 80,000 packets/s cost
        // 0.4 core-seconds per second = 5 µs each.
        let a = StepResult { sfu_cpu_pct: 10.0, packets_received: 100_000, secs: 10.0, ..Default::default() };
        let b = StepResult { sfu_cpu_pct: 50.0, packets_received: 900_000, secs: 10.0, ..Default::default() };
        assert!((marginal_us_per_packet(&a, &b).unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(marginal_us_per_packet(&b, &a).map(|m| m > 0.0), None);
    }

    #[test]
    fn datagrams_are_classified() {
        let mut rtp = [0u8; 20];
        rtp[0] = 0x80;
        rtp[1] = 0x80 | 96; // marker + PT 96
        rtp[2..4].copy_from_slice(&513u16.to_be_bytes());
        rtp[8..12].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        assert_eq!(classify(&rtp), Datagram::Rtp { pt: 96, seq: 513, ssrc: 0xdead_beef });
        let mut rtcp = rtp;
        rtcp[1] = 200; // sender report
        assert_eq!(classify(&rtcp), Datagram::Other);
        assert_eq!(classify(&[0x00, 0x01, 0, 0]), Datagram::Other, "STUN");
        assert_eq!(classify(&[22u8; 20]), Datagram::Other, "DTLS");
    }

    #[test]
    fn rtx_payload_types_from_sdp() {
        let sdp = "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:99 RTX/90000\r\n";
        assert_eq!(rtx_payload_types(sdp), vec![97, 99]);
        assert_eq!(video_payload_types(sdp), vec![96, 97]);
        assert_eq!(video_payload_types("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"), Vec::<u8>::new());
    }

    #[test]
    fn frame_loss_fails_a_step() {
        let mut s = step(300, 0.0, 7.0);
        assert!(s.met());
        s.frame_loss_pct = 6.5;
        assert!(!s.met(), "frames lost at the SFU's ingress count even with no sequence gap at the subscribers");
    }

    fn step(n: usize, loss: f64, us: f64) -> StepResult {
        StepResult { subscribers: n, open: n, expected: 1000, loss_pct: loss, us_per_packet: us, ..Default::default() }
    }

    #[test]
    fn reached_is_the_largest_step_meeting_both() {
        let r = SfuResult {
            steps: vec![step(10, 0.0, 9.0), step(100, 0.0, 8.0), step(300, 0.05, 9.9), step(500, 0.2, 9.0)],
            ..Default::default()
        };
        assert_eq!(reached(&r), 300);
        let t = table(&r);
        assert!(t.contains("| ≥ 300 subscribers with both | 300 subscribers | **met** |"), "{t}");
        assert!(!step(10, 0.0, 10.5).met());
        let mut closed = step(10, 0.0, 1.0);
        closed.open = 9;
        assert!(!closed.met(), "a subscriber that dropped out fails the step");
    }
}
