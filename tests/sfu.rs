//! The forwarding unit (`onair::sfu`) against synthetic str0m clients on 127.0.0.1: a publisher that sends
//! fake VP8 frames (keyframe every `gop` frames, or at once when asked) and Opus frames, each frame carrying
//! its index; receive-only subscribers that record the indexes they get. No database needed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onair::sfu::{ConnId, ConnState, Sfu, SfuConfig, SfuError, SfuStream};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const VIDEO_FRAME: Duration = Duration::from_millis(33);
const AUDIO_FRAME: Duration = Duration::from_millis(20);

fn stream() -> SfuStream {
    SfuStream(uuid::Uuid::new_v4())
}

async fn start_sfu() -> Sfu {
    Sfu::start(SfuConfig { bind: "127.0.0.1:0".parse().unwrap(), advertise: None }).await.expect("SFU starts")
}

/// A str0m client (not ICE-lite) with its own socket on 127.0.0.1 and its offer made.
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Mid,
    audio: Mid,
    offer: String,
}

impl Client {
    async fn new(direction: Direction) -> (Client, SdpPendingOffer) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = RtcConfig::new().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, direction, None, None, None);
        let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        (Client { rtc, socket, local, video, audio, offer: offer.to_sdp_string() }, pending)
    }

    fn accept(&mut self, answer_sdp: &str, pending: SdpPendingOffer) {
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

    fn receive(&mut self, buf: &[u8], source: SocketAddr) {
        if let Ok(r) = Receive::new(Protocol::Udp, source, self.local, buf) {
            let _ = self.rtc.handle_input(Input::Receive(Instant::now(), r));
        }
    }
}

/// The synthetic publisher: 30 fps VP8 (keyframe 3000 bytes, delta 600), 50 fps Opus, each frame's index in
/// bytes 1..5 (video) or 0..4 (audio). Byte 0 of a video frame is the VP8 frame tag: bit 0 clear = keyframe.
struct Publisher {
    conn: ConnId,
    state: watch::Receiver<ConnState>,
    keyframe_requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_publisher(sfu: &Sfu, stream: SfuStream, gop: u32) -> Publisher {
    let (mut c, pending) = Client::new(Direction::SendOnly).await;
    let answer = sfu.publish(stream, c.offer.clone()).await.expect("publish accepted");
    c.accept(&answer.sdp, pending);
    let keyframe_requests = Arc::new(AtomicU64::new(0));
    let requests = keyframe_requests.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let mut events = Vec::new();
        let mut connected = false;
        let (mut v, mut a) = (0u32, 0u32);
        let mut key_next = true;
        let mut video_tick = tokio::time::interval(VIDEO_FRAME);
        let mut audio_tick = tokio::time::interval(AUDIO_FRAME);
        loop {
            let deadline = c.drain(&mut events).await;
            for e in events.drain(..) {
                match e {
                    Event::Connected => connected = true,
                    Event::KeyframeRequest(_) => {
                        requests.fetch_add(1, Ordering::Relaxed);
                        key_next = true;
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
                    let key = key_next || v % gop == 0;
                    key_next = false;
                    let mut frame = vec![0xAB; if key { 3000 } else { 600 }];
                    frame[0] = if key { 0x00 } else { 0x01 };
                    frame[1..5].copy_from_slice(&v.to_be_bytes());
                    let w = c.rtc.writer(c.video).expect("video writer");
                    let pt = w.payload_params().find(|p| p.spec().codec == Codec::Vp8).expect("VP8").pt();
                    let t = MediaTime::new(u64::from(v) * 3000, Frequency::NINETY_KHZ);
                    w.write(pt, Instant::now(), t, frame).expect("video write");
                    v += 1;
                }
                _ = audio_tick.tick(), if connected => {
                    let mut frame = vec![0x55; 120];
                    frame[0..4].copy_from_slice(&a.to_be_bytes());
                    let w = c.rtc.writer(c.audio).expect("audio writer");
                    let pt = w.payload_params().find(|p| p.spec().codec == Codec::Opus).expect("Opus").pt();
                    let t = MediaTime::new(u64::from(a) * 960, Frequency::FORTY_EIGHT_KHZ);
                    w.write(pt, Instant::now(), t, frame).expect("audio write");
                    a += 1;
                }
                _ = tokio::time::sleep_until(wait.into()) => {
                    let _ = c.rtc.handle_input(Input::Timeout(Instant::now()));
                }
            }
        }
    });
    Publisher { conn: answer.conn, state: answer.state, keyframe_requests, task }
}

/// What a subscriber got: (index, keyframe) per video frame, index per audio frame, in arrival order.
#[derive(Default, Debug, Clone)]
struct Received {
    video: Vec<(u32, bool)>,
    audio: Vec<u32>,
}

struct Subscriber {
    conn: ConnId,
    state: watch::Receiver<ConnState>,
    received: Arc<Mutex<Received>>,
    task: JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    fn received(&self) -> Received {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `video` video frames arrived (bounded by `limit`).
    async fn wait_video(&self, video: usize, limit: Duration) -> Received {
        let until = Instant::now() + limit;
        loop {
            let r = self.received();
            if r.video.len() >= video {
                return r;
            }
            assert!(
                Instant::now() < until,
                "{}: only {} video / {} audio frames within {limit:?}",
                self.conn,
                r.video.len(),
                r.audio.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn recvonly_offer() -> String {
    Client::new(Direction::RecvOnly).await.0.offer
}

async fn start_subscriber(sfu: &Sfu, stream: SfuStream) -> Subscriber {
    let (mut c, pending) = Client::new(Direction::RecvOnly).await;
    let answer = sfu.subscribe(stream, c.offer.clone()).await.expect("subscribe accepted");
    c.accept(&answer.sdp, pending);
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
    Subscriber { conn: answer.conn, state: answer.state, received, task }
}

async fn wait_state(state: &mut watch::Receiver<ConnState>, want: ConnState, limit: Duration) {
    timeout(limit, state.wait_for(|s| *s == want))
        .await
        .unwrap_or_else(|_| panic!("no {want:?} within {limit:?}"))
        .expect("state channel open");
}

/// The first video frame is a keyframe and the indexes then run without a gap; audio runs without a gap.
fn assert_continuous(who: &str, r: &Received) {
    let (first, key) = r.video[0];
    assert!(key, "{who}: first video frame {first} is not a keyframe");
    for w in r.video.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "{who}: video gap between frames {} and {}", w[0].0, w[1].0);
    }
    for w in r.audio.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{who}: audio gap between frames {} and {}", w[0], w[1]);
    }
}

#[tokio::test]
async fn three_subscribers_receive_everything_and_close_leaves_at_once() {
    let sfu = start_sfu().await;
    let s = stream();
    let mut publisher = start_publisher(&sfu, s, 30).await;
    wait_state(&mut publisher.state, ConnState::Connected, Duration::from_secs(10)).await;

    let mut subs = Vec::new();
    for _ in 0..3 {
        subs.push(start_subscriber(&sfu, s).await);
    }
    assert_eq!(sfu.stats(s).expect("stats").subscribers, 3);
    for sub in &mut subs {
        wait_state(&mut sub.state, ConnState::Connected, Duration::from_secs(10)).await;
    }
    // About two seconds of media each.
    for (i, sub) in subs.iter().enumerate() {
        let r = sub.wait_video(60, Duration::from_secs(15)).await;
        assert!(r.audio.len() >= 50, "subscriber {i}: only {} audio frames", r.audio.len());
        assert_continuous(&format!("subscriber {i}"), &r);
    }
    let stats = sfu.stats(s).expect("stats");
    eprintln!("stats after ~2 s of 3 subscribers: {stats:?}");
    assert!(stats.frames_in > 0 && stats.frames_forwarded >= 3 * 60, "{stats:?}");
    assert!(stats.keyframe_wanted >= 3, "each subscriber wants a keyframe on connect: {stats:?}");
    assert!(stats.keyframe_requests >= 1, "{stats:?}");
    assert!(publisher.keyframe_requests.load(Ordering::Relaxed) >= 1, "the publisher saw the request");
    assert!(stats.packets_forwarded > 0, "egress stats arrive once a second: {stats:?}");
    assert_eq!(stats.lagged, 0, "{stats:?}");

    // Close one: it leaves the stats before `close` returns; the others carry on without a gap.
    let gone = subs.remove(0);
    assert!(sfu.close(gone.conn));
    assert_eq!(sfu.stats(s).expect("stats").subscribers, 2);
    assert_eq!(*gone.state.borrow(), ConnState::Closed);
    assert!(!sfu.close(gone.conn), "closing twice finds nothing");
    assert_eq!(
        sfu.add_remote_candidate(gone.conn, "candidate:1 1 udp 1 127.0.0.1 9 typ host"),
        Err(SfuError::UnknownConn)
    );
    tokio::time::sleep(Duration::from_millis(200)).await; // what was in flight
    let gone_count = gone.received().video.len();
    let before: Vec<usize> = subs.iter().map(|s| s.received().video.len()).collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(gone.received().video.len(), gone_count, "a closed subscriber gets nothing more");
    for (i, sub) in subs.iter().enumerate() {
        let r = sub.wait_video(before[i] + 20, Duration::from_secs(5)).await;
        assert_continuous(&format!("remaining subscriber {i}"), &r);
    }
    assert_eq!(sfu.stats(s).expect("stats").subscribers, 2);

    // The publisher leaving closes the stream and its subscribers.
    assert!(sfu.close(publisher.conn));
    assert_eq!(sfu.stats(s), None);
    for sub in &mut subs {
        wait_state(&mut sub.state, ConnState::Closed, Duration::from_secs(1)).await;
    }
    assert_eq!(sfu.subscribe(s, recvonly_offer().await).await.err(), Some(SfuError::NoPublisher));
}

#[tokio::test]
async fn late_subscriber_starts_on_a_keyframe() {
    let sfu = start_sfu().await;
    let s = stream();
    // A keyframe only every 10 s unless asked: without the SFU's gate the late joiner would start on a delta.
    let mut publisher = start_publisher(&sfu, s, 300).await;
    wait_state(&mut publisher.state, ConnState::Connected, Duration::from_secs(10)).await;
    let early = start_subscriber(&sfu, s).await;
    early.wait_video(20, Duration::from_secs(10)).await;
    let requests_before = sfu.stats(s).expect("stats").keyframe_requests;

    tokio::time::sleep(Duration::from_millis(700)).await; // mid-GOP
    let late = start_subscriber(&sfu, s).await;
    let r = late.wait_video(30, Duration::from_secs(10)).await;
    assert_continuous("late subscriber", &r);
    assert!(r.video[0].0 > 20, "the late subscriber starts late (frame {})", r.video[0].0);
    assert!(sfu.stats(s).expect("stats").keyframe_requests > requests_before, "joining asked for a keyframe");
    let early_r = early.received();
    assert_continuous("early subscriber", &early_r);
}

#[tokio::test]
async fn refusals() {
    let sfu = start_sfu().await;
    let s = stream();
    let offer = recvonly_offer().await;
    assert_eq!(sfu.subscribe(s, offer.clone()).await.err(), Some(SfuError::NoPublisher));
    assert_eq!(sfu.stats(s), None);

    assert!(matches!(sfu.publish(s, "not sdp".into()).await, Err(SfuError::BadSdp(_))));
    // A receive-only offer cannot publish.
    assert!(matches!(sfu.publish(s, offer.clone()).await, Err(SfuError::BadSdp(_))));
    let publisher = start_publisher(&sfu, s, 30).await;
    let second = Client::new(Direction::SendOnly).await.0;
    assert_eq!(sfu.publish(s, second.offer).await.err(), Some(SfuError::AlreadyPublishing));
    // A send-only offer cannot subscribe.
    let sendonly = Client::new(Direction::SendOnly).await.0;
    assert!(matches!(sfu.subscribe(s, sendonly.offer).await, Err(SfuError::BadSdp(_))));

    // Candidates: mDNS and end-of-candidates are skipped, junk is refused, a real one is taken.
    let c = publisher.conn;
    assert_eq!(sfu.add_remote_candidate(c, "candidate:1 1 udp 2122260223 9b36f1f2-8f5e.local 54321 typ host"), Ok(()));
    assert_eq!(sfu.add_remote_candidate(c, ""), Ok(()));
    assert!(matches!(sfu.add_remote_candidate(c, "candidate:junk"), Err(SfuError::BadCandidate(_))));
    assert_eq!(sfu.add_remote_candidate(c, "a=candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host"), Ok(()));
    assert_eq!(sfu.add_remote_candidate(ConnId(u64::MAX), ""), Err(SfuError::UnknownConn));
}

#[tokio::test]
async fn unspecified_bind_needs_an_advertised_address() {
    let err = Sfu::start(SfuConfig { bind: "0.0.0.0:0".parse().unwrap(), advertise: None }).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let sfu =
        Sfu::start(SfuConfig { bind: "0.0.0.0:0".parse().unwrap(), advertise: Some("127.0.0.1".parse().unwrap()) })
            .await
            .expect("starts with an advertised address");
    assert_eq!(sfu.local_addr().ip().to_string(), "127.0.0.1");
}

#[tokio::test]
async fn a_vanished_subscriber_is_dropped() {
    let sfu = start_sfu().await;
    let s = stream();
    let mut publisher = start_publisher(&sfu, s, 30).await;
    wait_state(&mut publisher.state, ConnState::Connected, Duration::from_secs(10)).await;
    let mut sub = start_subscriber(&sfu, s).await;
    wait_state(&mut sub.state, ConnState::Connected, Duration::from_secs(10)).await;
    sub.wait_video(10, Duration::from_secs(10)).await;
    // The viewer's tab dies without a word: no close, no more STUN.
    sub.task.abort();
    let t0 = Instant::now();
    // str0m's ICE-lite side gives up on a silent peer after about 15 s (measured here).
    wait_state(&mut sub.state, ConnState::Closed, Duration::from_secs(30)).await;
    eprintln!("vanished subscriber closed after {:?}", t0.elapsed());
    assert_eq!(sfu.stats(s).expect("stats").subscribers, 0);
}
