//! Synthetic str0m WebRTC clients for the forwarding-unit tests: a sending client with fake VP8 and Opus frames
//! (each carrying its index; optionally simulcast in three layers that can be paused) and receive-only clients
//! that record what they get. Included by `tests/sfu.rs`
//! (the SFU alone) and `tests/live_sfu.rs` (through `/ws`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

pub const VIDEO_FRAME: Duration = Duration::from_millis(33);
pub const AUDIO_FRAME: Duration = Duration::from_millis(20);

/// A str0m client (not ICE-lite) with its own socket on 127.0.0.1 and its offer made.
pub struct Client {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Mid,
    audio: Mid,
    pub offer: String,
}

impl Client {
    /// A client with one video and one audio m-line in `direction`.
    pub async fn new(direction: Direction) -> (Client, SdpPendingOffer) {
        Self::with_video(direction, None).await
    }

    /// A sending client whose video m-line declares simulcast layers `l`, `m`, `h` (RFC 8853).
    pub async fn new_simulcast() -> (Client, SdpPendingOffer) {
        let mut simulcast = Simulcast::new();
        for rid in LAYER_RIDS {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        Self::with_video(Direction::SendOnly, Some(simulcast)).await
    }

    async fn with_video(direction: Direction, simulcast: Option<Simulcast>) -> (Client, SdpPendingOffer) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = RtcConfig::new().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, direction, None, None, simulcast);
        let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        (Client { rtc, socket, local, video, audio, offer: offer.to_sdp_string() }, pending)
    }

    pub fn accept(&mut self, answer_sdp: &str, pending: SdpPendingOffer) {
        let answer = SdpAnswer::from_sdp_string(answer_sdp).expect("the SFU's answer parses");
        self.rtc.sdp_api().accept_answer(pending, answer).expect("the SFU's answer is accepted");
    }

    /// Drains to the next timeout, sending on the socket and collecting events.
    async fn drain(&mut self, events: &mut Vec<Event>) -> Instant {
        loop {
            match self.rtc.poll_output().expect("client poll_output") {
                Output::Timeout(t) => return t,
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(e) => events.push(e),
            }
        }
    }

    /// Writes one VP8 frame at `ticks` of 90 kHz on the video m-line (on simulcast layer `rid` if given).
    fn write_video(&mut self, rid: Option<&str>, ticks: u64, frame: Vec<u8>) {
        let w = self.rtc.writer(self.video).expect("video writer");
        let pt = w.payload_params().find(|p| p.spec().codec == Codec::Vp8).expect("VP8").pt();
        let w = match rid {
            Some(rid) => w.rid(Rid::from(rid)),
            None => w,
        };
        let t = MediaTime::new(ticks, Frequency::NINETY_KHZ);
        w.write(pt, Instant::now(), t, frame).expect("video write");
    }

    /// Writes Opus-sized audio frame number `a` (120 bytes, the index in bytes 0..4, 20 ms apart).
    fn write_audio(&mut self, a: u32) {
        let mut frame = vec![0x55; 120];
        frame[0..4].copy_from_slice(&a.to_be_bytes());
        let w = self.rtc.writer(self.audio).expect("audio writer");
        let pt = w.payload_params().find(|p| p.spec().codec == Codec::Opus).expect("Opus").pt();
        let t = MediaTime::new(u64::from(a) * 960, Frequency::FORTY_EIGHT_KHZ);
        w.write(pt, Instant::now(), t, frame).expect("audio write");
    }

    fn receive(&mut self, buf: &[u8], source: SocketAddr) {
        if let Ok(r) = Receive::new(Protocol::Udp, source, self.local, buf) {
            let _ = self.rtc.handle_input(Input::Receive(Instant::now(), r));
        }
    }
}

/// Keyframe requests a synthetic publisher got, per layer (one entry for a single-layer publisher).
pub type KeyframeRequests = Arc<Vec<AtomicU64>>;

/// One video layer of a synthetic publisher.
struct Layer {
    /// Simulcast rid, `None` for a publisher without simulcast.
    rid: Option<&'static str>,
    delta_bytes: usize,
    key_bytes: usize,
    /// Its own RTP clock base (separate RTP streams have separate clocks), 90 kHz ticks.
    clock_base: u64,
}

/// Runs `c` as the synthetic publisher (its answer accepted): 30 fps VP8 (keyframe 3000 bytes, delta 600),
/// 50 fps Opus, each frame's index in bytes 1..5 (video) or 0..4 (audio). Byte 0 of a video frame is the VP8
/// frame tag: bit 0 clear = keyframe, sent every `gop` frames and at once when asked. Returns the task and the
/// count of keyframe requests it got (one entry).
pub fn spawn_publisher(c: Client, gop: u32) -> (JoinHandle<()>, KeyframeRequests) {
    spawn_publisher_ignoring(c, gop, 0)
}

/// [`spawn_publisher`] that counts but does not answer its first `ignore_first` keyframe requests (as if they
/// were lost on the way).
pub fn spawn_publisher_ignoring(c: Client, gop: u32, ignore_first: u64) -> (JoinHandle<()>, KeyframeRequests) {
    let layer = Layer { rid: None, delta_bytes: 600, key_bytes: 3000, clock_base: 0 };
    spawn_layered(c, gop, vec![layer], Arc::new(vec![AtomicBool::new(true)]), ignore_first)
}

/// The simulcast layers of [`Client::new_simulcast`], lowest first.
pub const LAYER_RIDS: [&str; 3] = ["l", "m", "h"];
/// Delta frame sizes of the simulcast publisher's layers, bytes (30 fps: about 24, 72 and 144 kbit/s, all
/// well inside the SFU's starting estimate, so a busy machine's estimate cannot push the test off `h`);
/// keyframes are four times as big.
pub const LAYER_DELTA_BYTES: [usize; 3] = [100, 300, 600];

/// Runs `c` (from [`Client::new_simulcast`], its answer accepted) as a simulcast publisher: each 33 ms the
/// same frame index on every layer whose flag in `sending` (3 entries, lowest first) is set (clear one to pause
/// that layer, as Chrome does when its uplink is short), payload byte 5 = the layer; keyframes every `gop`
/// frames and when a layer's keyframe is asked (str0m reports the rid). Audio as in [`spawn_publisher`].
/// Returns the task and the keyframe requests it got per layer.
pub fn spawn_simulcast_publisher(
    c: Client,
    gop: u32,
    sending: Arc<Vec<AtomicBool>>,
) -> (JoinHandle<()>, KeyframeRequests) {
    let layers = (0..3)
        .map(|l| Layer {
            rid: Some(LAYER_RIDS[l]),
            delta_bytes: LAYER_DELTA_BYTES[l],
            key_bytes: 4 * LAYER_DELTA_BYTES[l],
            clock_base: l as u64 * 1_000_000,
        })
        .collect();
    spawn_layered(c, gop, layers, sending, 0)
}

/// The publisher loop behind [`spawn_publisher`] and [`spawn_simulcast_publisher`]. With more than one layer,
/// payload byte 5 of each video frame is its layer.
fn spawn_layered(
    mut c: Client,
    gop: u32,
    layers: Vec<Layer>,
    sending: Arc<Vec<AtomicBool>>,
    ignore_first: u64,
) -> (JoinHandle<()>, KeyframeRequests) {
    let keyframe_requests: KeyframeRequests = Arc::new(layers.iter().map(|_| AtomicU64::new(0)).collect());
    let requests = keyframe_requests.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let mut events = Vec::new();
        let mut connected = false;
        let (mut v, mut a) = (0u32, 0u32);
        let mut key_next = vec![true; layers.len()];
        let mut video_tick = tokio::time::interval(VIDEO_FRAME);
        let mut audio_tick = tokio::time::interval(AUDIO_FRAME);
        loop {
            let deadline = c.drain(&mut events).await;
            for e in events.drain(..) {
                match e {
                    Event::Connected => connected = true,
                    Event::KeyframeRequest(req) => {
                        // A request names the rid of a simulcast layer; without one it is for every layer.
                        let asked = req.rid.and_then(|r| layers.iter().position(|l| l.rid == Some(&*r)));
                        for l in asked.map_or(0..layers.len(), |l| l..l + 1) {
                            let n = requests[l].fetch_add(1, Ordering::Relaxed);
                            key_next[l] |= n >= ignore_first;
                        }
                    }
                    _ => {}
                }
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
                    for (i, layer) in layers.iter().enumerate() {
                        if !sending[i].load(Ordering::Relaxed) {
                            key_next[i] = true; // a resumed layer starts with a keyframe
                            continue;
                        }
                        let key = key_next[i] || v % gop == 0;
                        key_next[i] = false;
                        let mut frame = vec![0xAB; if key { layer.key_bytes } else { layer.delta_bytes }];
                        frame[0] = if key { 0x00 } else { 0x01 };
                        frame[1..5].copy_from_slice(&v.to_be_bytes());
                        if layers.len() > 1 {
                            frame[5] = i as u8;
                        }
                        c.write_video(layer.rid, u64::from(v) * 3000 + layer.clock_base, frame);
                        // One write per mutation: drain before the next layer's.
                        c.drain(&mut events).await;
                    }
                    v += 1;
                }
                _ = audio_tick.tick(), if connected => {
                    c.write_audio(a);
                    a += 1;
                }
                _ = tokio::time::sleep_until(wait.into()) => {
                    let _ = c.rtc.handle_input(Input::Timeout(Instant::now()));
                }
            }
        }
    });
    (task, keyframe_requests)
}

/// What a subscriber got: (index, keyframe) per video frame, index per audio frame, in arrival order; for
/// each video frame also its payload byte 5 (the layer, from the simulcast publisher) and its media time
/// (90 kHz ticks as the SFU wrote it).
#[derive(Default, Debug, Clone)]
pub struct Received {
    pub video: Vec<(u32, bool)>,
    pub video_layer: Vec<u8>,
    pub video_time: Vec<u64>,
    pub audio: Vec<u32>,
}

/// Runs `c` as a receive-only client (its answer accepted), recording each frame's index.
pub fn spawn_subscriber(mut c: Client) -> (JoinHandle<()>, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let rec = received.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let mut events = Vec::new();
        loop {
            let deadline = c.drain(&mut events).await;
            for e in events.drain(..) {
                if let Event::MediaData(d) = e {
                    let mut r = rec.lock().unwrap();
                    if d.mid == c.video && d.data.len() >= 5 {
                        let idx = u32::from_be_bytes([d.data[1], d.data[2], d.data[3], d.data[4]]);
                        let key = d.data[0] & 1 == 0;
                        assert_eq!(key, d.is_keyframe(), "str0m and the frame tag agree on keyframes");
                        r.video.push((idx, key));
                        r.video_layer.push(d.data.get(5).copied().unwrap_or(0));
                        r.video_time.push(d.time.rebase(Frequency::NINETY_KHZ).numer());
                    } else if d.mid == c.audio && d.data.len() >= 4 {
                        r.audio.push(u32::from_be_bytes([d.data[0], d.data[1], d.data[2], d.data[3]]));
                    }
                }
            }
            let wait = deadline.min(Instant::now() + Duration::from_millis(100));
            tokio::select! {
                r = c.socket.recv_from(&mut buf) => {
                    if let Ok((n, src)) = r {
                        let data = buf[..n].to_vec();
                        c.receive(&data, src);
                    }
                }
                _ = tokio::time::sleep_until(wait.into()) => {
                    let _ = c.rtc.handle_input(Input::Timeout(Instant::now()));
                }
            }
        }
    });
    (task, received)
}

/// The first video frame is a keyframe and the indexes then run without a gap; audio runs without a gap.
pub fn assert_continuous(who: &str, r: &Received) {
    let (first, key) = r.video[0];
    assert!(key, "{who}: first video frame {first} is not a keyframe");
    for w in r.video.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "{who}: video gap between frames {} and {}", w[0].0, w[1].0);
    }
    for w in r.audio.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{who}: audio gap between frames {} and {}", w[0], w[1]);
    }
}
