//! Benchmark 1, signaling relay: N pair-rooms `call:bench-<i>`; in each, one socket sends ~1 KB `signal`
//! offers to the other at a fixed total rate (spread evenly over the pairs), or as fast as a window of
//! unanswered messages per pair allows ("max", saturation). Each offer's SDP carries its sequence number and
//! the send time, so the receiver measures one-way latency and counts lost and late messages.

use crate::client::{self, Ws};
use crate::server::{self, ServerUnderTest};
use crate::stats::{self, SeqTracker, Summary};
use crate::{cpu, Opts};
use futures_util::{SinkExt, StreamExt};
use onair::ids::PeerId;
use onair::signaling::protocol::{ClientMsg, RoomId, Signal};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Messages in flight per pair (sent, not yet received) at most; at a fixed rate, a send that would pass
/// this is skipped and counted (the server's per-socket queue is 256).
const WINDOW_FIXED: u64 = 128;
/// Window per pair in the saturation phase.
const WINDOW_MAX: u64 = 16;

/// One phase's result.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct PhaseResult {
    /// Offered rate, messages/s over all pairs (`None` = as fast as possible).
    pub rate: Option<u64>,
    pub secs: f64,
    pub sent: u64,
    /// Received within the phase's sending time.
    pub delivered_in_time: u64,
    /// Delivered messages per second (within the sending time).
    pub delivered_per_s: f64,
    pub received: u64,
    pub lost: u64,
    pub late: u64,
    /// Sends skipped because the pair's window was full (fixed rates only).
    pub skipped: u64,
    /// `error` answers from the server.
    pub errors: u64,
    /// Sockets that closed or failed during the phase.
    pub broken: u64,
    pub latency: Summary,
    /// CPU used during the phase, in % of one core: server process, load tool.
    pub server_cpu_pct: f64,
    pub client_cpu_pct: f64,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct RelayResult {
    pub pairs: usize,
    pub message_bytes: usize,
    pub phases: Vec<PhaseResult>,
}

struct Pair {
    tx: Ws,
    rx: Ws,
    room: RoomId,
    to: PeerId,
    next_seq: u64,
}

#[derive(Clone, Copy)]
struct PhasePlan {
    rate: Option<f64>,
    start: Instant,
    deadline: Instant,
    drain_until: Instant,
    pairs: usize,
    msg_len: usize,
    clock: Instant,
}

#[derive(Default)]
struct PairOutcome {
    sent: u64,
    in_time: u64,
    tracker: SeqTracker,
    latencies: Vec<u64>,
    skipped: u64,
    errors: u64,
    broken: Option<String>,
}

/// Runs the relay benchmark against its own server.
pub async fn run(opts: &Opts, clock: Instant) -> Result<RelayResult, String> {
    let server = ServerUnderTest::start(opts, "relay").await?;
    let pairs = opts.pairs;
    eprintln!("relay: {pairs} pairs = {} sockets; creating users and logging in", pairs * 2);
    let users = server::create_users(&server.database_url, "relay_", pairs * 2).await?;
    let cookies = server::log_in_all(server.addr, &users, 16).await?;

    let mut pair_list = Vec::with_capacity(pairs);
    let connected: Vec<Result<Pair, String>> = futures_util::stream::iter(0..pairs)
        .map(|i| {
            let (a, b) = (cookies[2 * i].clone(), cookies[2 * i + 1].clone());
            let addr = server.addr;
            async move {
                let (mut tx, _) = client::connect(addr, client::source_ip(2 * i), &a).await?;
                let (mut rx, to) = client::connect(addr, client::source_ip(2 * i + 1), &b).await?;
                let room = RoomId::Call(format!("bench-{i}"));
                client::join(&mut rx, &room).await?;
                let peers = client::join(&mut tx, &room).await?;
                if !peers.iter().any(|p| p.peer == to) {
                    return Err(format!("pair {i}: receiver not listed in joined"));
                }
                Ok(Pair { tx, rx, room, to, next_seq: 0 })
            }
        })
        .buffered(64)
        .collect()
        .await;
    for p in connected {
        pair_list.push(p?);
    }
    eprintln!("relay: {} pairs joined", pair_list.len());

    let mut phases = Vec::new();
    // Warm-up, not reported.
    let (back, _) = run_phase(&server, pair_list, Some(1000.0), Duration::from_secs(2), opts, clock).await;
    pair_list = back;
    for rate in &opts.rates {
        let secs = Duration::from_secs_f64(opts.phase_secs);
        let (back, result) = run_phase(&server, pair_list, rate.map(|r| r as f64), secs, opts, clock).await;
        pair_list = back;
        eprintln!(
            "relay: rate {:>7} -> {:>9.0} msgs/s delivered, p50 {} p99 {} max {}, lost {}, skipped {}, server CPU {:.0}%, tool CPU {:.0}%",
            rate.map(|r| r.to_string()).unwrap_or_else(|| "max".into()),
            result.delivered_per_s,
            stats::ms(result.latency.p50_ns),
            stats::ms(result.latency.p99_ns),
            stats::ms(result.latency.max_ns),
            result.lost,
            result.skipped,
            result.server_cpu_pct,
            result.client_cpu_pct,
        );
        phases.push(result);
        if pair_list.is_empty() {
            return Err("relay: every pair broke".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(server);
    Ok(RelayResult { pairs, message_bytes: opts.message_bytes, phases })
}

async fn run_phase(
    server: &ServerUnderTest,
    pairs: Vec<Pair>,
    rate: Option<f64>,
    secs: Duration,
    opts: &Opts,
    clock: Instant,
) -> (Vec<Pair>, PhaseResult) {
    let n = pairs.len();
    let start = Instant::now() + Duration::from_millis(50);
    let plan = PhasePlan {
        rate,
        start,
        deadline: start + secs,
        drain_until: start + secs + Duration::from_secs(3),
        pairs: n,
        msg_len: opts.message_bytes,
        clock,
    };
    let cpu_before = (cpu::process_ticks(server.pid), cpu::process_ticks(std::process::id()));
    let tasks: Vec<_> = pairs.into_iter().enumerate().map(|(i, p)| tokio::spawn(run_pair(p, i, plan))).collect();
    let mut back = Vec::with_capacity(n);
    let mut total = PairOutcome::default();
    let mut broken = 0;
    let mut lost = 0u64;
    let mut all_latencies = Vec::new();
    for t in tasks {
        let Ok((pair, out)) = t.await else {
            broken += 1;
            continue;
        };
        total.sent += out.sent;
        total.in_time += out.in_time;
        total.tracker.received += out.tracker.received;
        total.tracker.late += out.tracker.late;
        total.tracker.gaps += out.tracker.gaps;
        total.skipped += out.skipped;
        total.errors += out.errors;
        // Lost per pair, so that one pair's extra cannot hide another's loss.
        lost += out.tracker.lost(out.sent);
        all_latencies.extend_from_slice(&out.latencies);
        match (pair, out.broken) {
            (Some(p), None) => back.push(p),
            (_, why) => {
                broken += 1;
                if broken <= 3 {
                    eprintln!("relay: a pair broke: {}", why.unwrap_or_default());
                }
            }
        }
    }
    let elapsed = plan.deadline - plan.start;
    let cpu_after = (cpu::process_ticks(server.pid), cpu::process_ticks(std::process::id()));
    let wall = plan.drain_until.min(Instant::now()) - plan.start;
    let latency = Summary::of(&mut all_latencies);
    let result = PhaseResult {
        rate: rate.map(|r| r as u64),
        secs: elapsed.as_secs_f64(),
        sent: total.sent,
        delivered_in_time: total.in_time,
        delivered_per_s: stats::per_second(total.in_time, elapsed),
        received: total.tracker.received,
        lost,
        late: total.tracker.late,
        skipped: total.skipped,
        errors: total.errors,
        broken,
        latency,
        server_cpu_pct: cpu::pct(cpu_before.0, cpu_after.0, wall),
        client_cpu_pct: cpu::pct(cpu_before.1, cpu_after.1, wall),
    };
    (back, result)
}

fn now_ns(clock: Instant) -> u64 {
    clock.elapsed().as_nanos() as u64
}

async fn run_pair(mut p: Pair, index: usize, plan: PhasePlan) -> (Option<Pair>, PairOutcome) {
    let mut out = PairOutcome { tracker: SeqTracker::starting_at(p.next_seq), ..Default::default() };
    let first_seq = p.next_seq;
    let interval = plan.rate.map(|r| Duration::from_secs_f64(plan.pairs as f64 / r.max(1.0)));
    let window = if plan.rate.is_some() { WINDOW_FIXED } else { WINDOW_MAX };
    // Stagger the pairs evenly over one interval so that the total rate is smooth.
    let mut next_due = plan.start + interval.map(|iv| iv.mul_f64(index as f64 / plan.pairs as f64)).unwrap_or_default();
    let max_loop = Instant::now() + (plan.drain_until - Instant::now()) + Duration::from_secs(2);
    tokio::time::sleep_until(plan.start.into()).await;
    loop {
        let now = Instant::now();
        if now > max_loop {
            break;
        }
        let sending = now < plan.deadline;
        // Send what is due (fixed rate) or what the window allows (saturation), then flush once.
        if sending {
            let mut queued = 0u64;
            let in_flight = |out: &PairOutcome| out.sent - (out.tracker.received.min(out.sent));
            match interval {
                Some(iv) => {
                    while next_due <= now && queued < 64 {
                        if in_flight(&out) < window {
                            if let Err(e) = feed(&mut p, &plan, &mut out).await {
                                out.broken = Some(e);
                                break;
                            }
                            queued += 1;
                        } else {
                            out.skipped += 1;
                        }
                        next_due += iv;
                    }
                }
                None => {
                    while in_flight(&out) < window && queued < window {
                        if let Err(e) = feed(&mut p, &plan, &mut out).await {
                            out.broken = Some(e);
                            break;
                        }
                        queued += 1;
                    }
                }
            }
            if out.broken.is_some() {
                break;
            }
            if queued > 0 {
                if let Err(e) = p.tx.flush().await {
                    out.broken = Some(format!("flush: {e}"));
                    break;
                }
            }
        } else if out.tracker.received >= out.sent || now >= plan.drain_until {
            break;
        }
        let wake = match (sending, interval) {
            (true, Some(_)) => next_due.min(plan.deadline),
            (true, None) => plan.deadline,
            (false, _) => plan.drain_until,
        };
        tokio::select! {
            biased;
            m = p.rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if let Some((seq, sent_ns)) = stats::parse_stamp(&t) {
                        let at = now_ns(plan.clock);
                        out.latencies.push(at.saturating_sub(sent_ns));
                        out.tracker.observe(seq);
                        if Instant::now() <= plan.deadline {
                            out.in_time += 1;
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => { out.broken = Some(format!("receiver: {e}")); break; }
                None => { out.broken = Some("receiver: connection ended".into()); break; }
            },
            m = p.tx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if t.contains("\"type\":\"error\"") {
                        out.errors += 1;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => { out.broken = Some(format!("sender: {e}")); break; }
                None => { out.broken = Some("sender: connection ended".into()); break; }
            },
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    p.next_seq = first_seq + out.sent;
    let keep = if out.broken.is_none() { Some(p) } else { None };
    (keep, out)
}

async fn feed(p: &mut Pair, plan: &PhasePlan, out: &mut PairOutcome) -> Result<(), String> {
    let seq = p.next_seq + out.sent;
    let sdp = stats::stamped_sdp(seq, now_ns(plan.clock), plan.msg_len.saturating_sub(90));
    let msg = ClientMsg::Signal { room: p.room.clone(), to: p.to, signal: Signal::Offer { sdp } };
    let text = serde_json::to_string(&msg).map_err(|e| e.to_string())?;
    p.tx.feed(Message::text(text)).await.map_err(|e| format!("send: {e}"))?;
    out.sent += 1;
    Ok(())
}
