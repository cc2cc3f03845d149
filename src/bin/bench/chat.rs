//! Benchmark 2, chat fan-out: one seller goes live, V viewers join `stream:<id>` over `/ws`, and one user
//! posts chat messages through the `post_chat` server function. Two rounds per viewer count:
//! - paced: one message at a time (the next after the previous reached every viewer): the time from the
//!   post until the last viewer has it, p50/p99;
//! - burst: messages posted back to back (8 posts in flight): deliveries per second, from the first post
//!   until the last delivery.

use crate::client::{self, Ws};
use crate::server::{self, ServerUnderTest};
use crate::stats::{self, FanOut, Summary};
use crate::{cpu, http, Opts};
use futures_util::StreamExt;
use onair::signaling::protocol::RoomId;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Messages of the paced round, per viewer count.
const PACED: usize = 40;
/// Messages of the burst round (under the server's per-socket queue of 256, so nobody is cut off for it).
const BURST: usize = 100;
/// Posts in flight at once in the burst round.
const BURST_CONCURRENCY: usize = 8;

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ChatLevel {
    pub viewers: usize,
    pub paced_messages: usize,
    /// From the post (request sent) until the last viewer had the message.
    pub time_to_last: Summary,
    /// Messages (paced + burst) that did not reach every viewer.
    pub incomplete: u64,
    pub burst_messages: usize,
    pub burst_deliveries: u64,
    pub deliveries_per_s: f64,
    /// Viewer sockets that the server closed (e.g. send queue full).
    pub viewers_dropped: u64,
    pub server_cpu_pct_burst: f64,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ChatResult {
    pub levels: Vec<ChatLevel>,
}

struct Shared {
    fan: Mutex<FanOut>,
    dropped: AtomicU64,
    clock: Instant,
}

/// Runs the chat benchmark against its own server.
pub async fn run(opts: &Opts, clock: Instant) -> Result<ChatResult, String> {
    let server = ServerUnderTest::start(opts, "chat").await?;
    let max_viewers = opts.viewers.iter().copied().max().unwrap_or(0);
    eprintln!("chat: creating 1 seller and {max_viewers} viewer accounts");
    let seller_name = server::create_users(&server.database_url, "seller_", 1).await?;
    let seller = server::log_in(server.addr, &seller_name[0]).await?;
    let viewer_names = server::create_users(&server.database_url, "viewer_", max_viewers).await?;
    let cookies = server::log_in_all(server.addr, &viewer_names, 16).await?;
    let body = http::form(&[("title", "Bench stream"), ("description", "chat fan-out"), ("category", "other")]);
    let res = http::post_form(server.addr, "/api/go_live", &body, Some(&seller)).await?;
    if res.status != 200 {
        return Err(format!("go_live: HTTP {} {}", res.status, res.text()));
    }
    let stream: String = serde_json::from_slice(&res.body).map_err(|e| format!("go_live answer: {e}"))?;
    let room: RoomId = format!("stream:{stream}").try_into().map_err(|e| format!("{e}"))?;

    let total_messages = opts.viewers.len() * (PACED + BURST);
    let shared = Arc::new(Shared { fan: Mutex::new(FanOut::new(total_messages)), dropped: AtomicU64::new(0), clock });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut connected = 0usize;
    let mut posted_ns = vec![0u64; total_messages];
    let mut next_seq = 0usize;
    let mut levels = Vec::new();

    for &viewers in &opts.viewers {
        // Add viewers up to this level.
        let joins: Vec<Result<Ws, String>> = futures_util::stream::iter(connected..viewers)
            .map(|i| {
                let cookie = cookies[i].clone();
                let (addr, room) = (server.addr, room.clone());
                async move {
                    let (mut ws, _) = client::connect(addr, client::source_ip(i), &cookie).await?;
                    client::join(&mut ws, &room).await?;
                    Ok(ws)
                }
            })
            .buffered(64)
            .collect()
            .await;
        for ws in joins {
            tasks.push(tokio::spawn(read_viewer(ws?, shared.clone(), stop_rx.clone())));
        }
        connected = viewers;
        eprintln!("chat: {viewers} viewers in the stream room");
        // Let presence and viewer-count updates of the joins settle.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let dropped_before = shared.dropped.load(Ordering::Relaxed);

        // Paced round.
        let paced_from = next_seq;
        for _ in 0..PACED {
            let seq = next_seq;
            next_seq += 1;
            posted_ns[seq] = now_ns(clock);
            post(server.addr, &seller, &stream, seq).await?;
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && delivered(&shared, seq as u64) < viewers as u64 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Burst round.
        let burst_from = next_seq;
        next_seq += BURST;
        let cpu_before = cpu::process_ticks(server.pid);
        let burst_start = Instant::now();
        let first_post_ns = now_ns(clock);
        let posts: Vec<Result<(usize, u64), String>> = futures_util::stream::iter(burst_from..burst_from + BURST)
            .map(|seq| {
                let (addr, seller, stream) = (server.addr, seller.clone(), stream.clone());
                async move {
                    let at = now_ns(clock);
                    post(addr, &seller, &stream, seq).await?;
                    Ok((seq, at))
                }
            })
            .buffer_unordered(BURST_CONCURRENCY)
            .collect()
            .await;
        for p in posts {
            let (seq, at) = p?;
            posted_ns[seq] = at;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline
            && (burst_from..burst_from + BURST).any(|s| delivered(&shared, s as u64) < viewers as u64)
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let cpu_after = cpu::process_ticks(server.pid);
        let wall = burst_start.elapsed();

        let fan = shared.fan.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut paced = FanOut::new(0);
        let mut burst = FanOut::new(0);
        split(&fan, paced_from..paced_from + PACED, &mut paced);
        split(&fan, burst_from..burst_from + BURST, &mut burst);
        let (mut times, incomplete_paced) =
            paced.time_to_last(&posted_ns[paced_from..paced_from + PACED], viewers as u64);
        let (_, incomplete_burst) = burst.time_to_last(&posted_ns[burst_from..burst_from + BURST], viewers as u64);
        let deliveries = burst.deliveries();
        let span = Duration::from_nanos(burst.last_arrival_ns().saturating_sub(first_post_ns));
        let level = ChatLevel {
            viewers,
            paced_messages: PACED,
            time_to_last: Summary::of(&mut times),
            incomplete: incomplete_paced + incomplete_burst,
            burst_messages: BURST,
            burst_deliveries: deliveries,
            deliveries_per_s: stats::per_second(deliveries, span),
            viewers_dropped: shared.dropped.load(Ordering::Relaxed) - dropped_before,
            server_cpu_pct_burst: cpu::pct(cpu_before, cpu_after, wall),
        };
        eprintln!(
            "chat: {viewers} viewers: time to last viewer p50 {} p99 {} max {}; burst {} deliveries at {:.0}/s; incomplete {}, dropped {}, server CPU {:.0}%",
            stats::ms(level.time_to_last.p50_ns),
            stats::ms(level.time_to_last.p99_ns),
            stats::ms(level.time_to_last.max_ns),
            level.burst_deliveries,
            level.deliveries_per_s,
            level.incomplete,
            level.viewers_dropped,
            level.server_cpu_pct_burst,
        );
        levels.push(level);
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    drop(server);
    Ok(ChatResult { levels })
}

fn now_ns(clock: Instant) -> u64 {
    clock.elapsed().as_nanos() as u64
}

fn delivered(shared: &Shared, seq: u64) -> u64 {
    let fan = shared.fan.lock().unwrap_or_else(|e| e.into_inner());
    fan.deliveries_of(seq)
}

/// Copies the slots `range` of `fan` into `out` (renumbered from 0).
fn split(fan: &FanOut, range: std::ops::Range<usize>, out: &mut FanOut) {
    *out = fan.slice(range);
}

async fn post(addr: SocketAddr, cookie: &str, stream: &str, seq: usize) -> Result<(), String> {
    let text = format!("bench {seq} — how much is the blue one, and does it ship today?");
    let body = http::form(&[("stream", stream), ("text", &text)]);
    let res = http::post_form(addr, "/api/post_chat", &body, Some(cookie)).await?;
    if res.status != 200 {
        return Err(format!("post_chat: HTTP {} {}", res.status, res.text()));
    }
    Ok(())
}

async fn read_viewer(mut ws: Ws, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let limit = Instant::now() + Duration::from_secs(3600);
    loop {
        if *stop.borrow() || Instant::now() > limit {
            break;
        }
        tokio::select! {
            _ = stop.changed() => break,
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if t.starts_with("{\"type\":\"chat_message\"") {
                        if let Some(seq) = stats::parse_chat_seq(&t) {
                            let at = now_ns(shared.clock);
                            shared.fan.lock().unwrap_or_else(|e| e.into_inner()).deliver(seq, at);
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    let _ = ws.close(None).await;
}
