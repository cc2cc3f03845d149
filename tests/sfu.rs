//! The forwarding unit (`onair::sfu`) against synthetic str0m clients on 127.0.0.1: a publisher that sends
//! fake VP8 frames (keyframe every `gop` frames, or at once when asked) and Opus frames, each frame carrying
//! its index; receive-only subscribers that record the indexes they get. No database needed.

#[path = "common/sfu_client.rs"]
mod sfu_client;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onair::sfu::{ConnId, ConnState, Sfu, SfuConfig, SfuError, SfuStream};
use sfu_client::{
    assert_continuous, spawn_publisher, spawn_publisher_ignoring, spawn_simulcast_publisher, spawn_subscriber, Client,
    KeyframeRequests, Received,
};
use str0m::media::Direction;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;

fn stream() -> SfuStream {
    SfuStream(uuid::Uuid::new_v4())
}

async fn start_sfu() -> Sfu {
    Sfu::start(SfuConfig { bind: "127.0.0.1:0".parse().unwrap(), advertise: None }).await.expect("SFU starts")
}

/// The synthetic publisher (see [`spawn_publisher`]) with its connection at the SFU.
struct Publisher {
    conn: ConnId,
    state: watch::Receiver<ConnState>,
    keyframe_requests: KeyframeRequests,
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
    let (task, keyframe_requests) = spawn_publisher(c, gop);
    Publisher { conn: answer.conn, state: answer.state, keyframe_requests, task }
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
    let (task, received) = spawn_subscriber(c);
    Subscriber { conn: answer.conn, state: answer.state, received, task }
}

async fn wait_state(state: &mut watch::Receiver<ConnState>, want: ConnState, limit: Duration) {
    timeout(limit, state.wait_for(|s| *s == want))
        .await
        .unwrap_or_else(|_| panic!("no {want:?} within {limit:?}"))
        .expect("state channel open");
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
    assert!(publisher.keyframe_requests[0].load(Ordering::Relaxed) >= 1, "the publisher saw the request");
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
async fn a_subscriber_whose_keyframe_request_was_lost_asks_again() {
    let sfu = start_sfu().await;
    let s = stream();
    let (mut c, pending) = Client::new(Direction::SendOnly).await;
    let answer = sfu.publish(s, c.offer.clone()).await.expect("publish accepted");
    c.accept(&answer.sdp, pending);
    // A keyframe only every 10 s, and the first request goes unanswered.
    let (task, requests) = spawn_publisher_ignoring(c, 300, 1);
    let mut publisher = Publisher { conn: answer.conn, state: answer.state, keyframe_requests: requests, task };
    wait_state(&mut publisher.state, ConnState::Connected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(700)).await; // past the publisher's first keyframe

    let sub = start_subscriber(&sfu, s).await;
    let r = sub.wait_video(30, Duration::from_secs(6)).await;
    assert_continuous("subscriber", &r);
    assert!(
        publisher.keyframe_requests[0].load(Ordering::Relaxed) >= 2,
        "the subscriber asked again for the keyframe it did not get"
    );
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

/// The layer runs of what a subscriber got: (layer, first index, frames) per stretch of one layer.
fn layer_runs(r: &Received) -> Vec<(u8, u32, usize)> {
    let mut runs: Vec<(u8, u32, usize)> = Vec::new();
    for (i, layer) in r.video_layer.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if run.0 == *layer => run.2 += 1,
            _ => runs.push((*layer, r.video[i].0, 1)),
        }
    }
    runs
}

/// Each layer run starts on a keyframe and runs without a gap; the media time the subscriber sees only moves
/// forward, across switches too (each layer has its own clock at the publisher).
fn assert_switches_clean(who: &str, r: &Received) {
    let mut start = 0;
    for (_, _, len) in layer_runs(r) {
        let run = &r.video[start..start + len];
        assert!(run[0].1, "{who}: a layer run starts on a delta frame ({}): {:?}", run[0].0, layer_runs(r));
        for w in run.windows(2) {
            assert_eq!(w[1].0, w[0].0 + 1, "{who}: gap between frames {} and {}", w[0].0, w[1].0);
        }
        start += len;
    }
    for w in r.video_time.windows(2) {
        assert!(w[1] > w[0], "{who}: media time went back from {} to {}", w[0], w[1]);
    }
}

/// Waits (up to 3 s) until the stream's subscribers per layer are `want`.
async fn wait_seats(sfu: &Sfu, s: SfuStream, want: [u64; 3]) {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let stats = sfu.stats(s).expect("stats");
        if stats.layer_subscribers == want {
            return;
        }
        assert!(Instant::now() < until, "subscribers per layer are not {want:?}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `sub` has received at least `frames` video frames of `layer` after its first `after`.
async fn wait_layer(sub: &Subscriber, layer: u8, after: usize, frames: usize, limit: Duration) -> Received {
    let until = Instant::now() + limit;
    loop {
        let r = sub.received();
        if r.video_layer.iter().skip(after).filter(|l| **l == layer).count() >= frames {
            return r;
        }
        assert!(Instant::now() < until, "no {frames} frames of layer {layer} within {limit:?}: {:?}", layer_runs(&r));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn simulcast_subscribers_get_the_layers_that_arrive_and_switch_at_keyframes() {
    let sfu = start_sfu().await;
    let s = stream();
    let (mut c, pending) = Client::new_simulcast().await;
    let answer = sfu.publish(s, c.offer.clone()).await.expect("a simulcast publish is accepted");
    c.accept(&answer.sdp, pending);
    let sending: Arc<Vec<AtomicBool>> = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect());
    // A keyframe only every 10 s unless asked: switches must ask for one.
    let (task, requests) = spawn_simulcast_publisher(c, 300, sending.clone());
    let _publisher = Publisher { conn: answer.conn, state: answer.state, keyframe_requests: Arc::default(), task };
    // Let the SFU measure every layer's bitrate first (one-second windows).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let rates = sfu.stats(s).expect("stats").layer_bitrates;
    eprintln!("layer bitrates: {rates:?}");
    assert!(rates[0] > 15_000 && rates[0] < rates[1] && rates[1] < rates[2], "{rates:?}");

    // All three layers fit in the starting estimate (600 kbit/s): the subscriber gets the top one.
    let sub = start_subscriber(&sfu, s).await;
    let r = wait_layer(&sub, 2, 0, 30, Duration::from_secs(10)).await;
    assert_switches_clean("subscriber", &r);
    wait_seats(&sfu, s, [0, 0, 1]).await;

    // The publisher pauses its top layer (as Chrome does when its uplink is short): the subscriber moves to
    // `m`, starting on one of its keyframes, and the stream goes on.
    let before = sub.received().video.len();
    sending[2].store(false, Ordering::Relaxed);
    let r = wait_layer(&sub, 1, before, 30, Duration::from_secs(10)).await;
    assert_switches_clean("subscriber", &r);
    assert!(requests[1].load(Ordering::Relaxed) >= 1, "the switch asked for a keyframe of `m`");
    wait_seats(&sfu, s, [0, 1, 0]).await;
    // The switch does not wait for the publisher's one-second rate window; the next window shows the pause.
    let until = Instant::now() + Duration::from_secs(3);
    while sfu.stats(s).expect("stats").layer_bitrates[2] != 0 {
        assert!(Instant::now() < until, "the paused layer still has a bitrate: {:?}", sfu.stats(s));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The top layer comes back: up again.
    let before = sub.received().video.len();
    sending[2].store(true, Ordering::Relaxed);
    let r = wait_layer(&sub, 2, before, 30, Duration::from_secs(10)).await;
    assert_switches_clean("subscriber", &r);
    wait_seats(&sfu, s, [0, 0, 1]).await;
    let stats = sfu.stats(s).expect("stats");
    assert!(stats.layer_switches >= 2, "{stats:?}");
    eprintln!("layer runs: {:?}", layer_runs(&r));
    assert!(r.audio.len() > 100, "audio flows throughout: {}", r.audio.len());
    for w in r.audio.windows(2) {
        assert_eq!(w[1], w[0] + 1, "audio gap between frames {} and {}", w[0], w[1]);
    }

    // Closing the subscriber gives its layer seat back.
    assert!(sfu.close(sub.conn));
    wait_seats(&sfu, s, [0, 0, 0]).await;
}
