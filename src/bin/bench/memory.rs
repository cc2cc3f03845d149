//! Benchmark 3, idle connection memory: the server's RSS with 0, then 1k, 10k, 20k idle authenticated `/ws`
//! sockets (connected, `welcome` read, nothing else; the tool answers the server's pings).

use crate::client::{self, Ws};
use crate::server::{self, ServerUnderTest};
use crate::Opts;
use futures_util::StreamExt;
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Accounts the sockets are spread over (each has many sockets, like a user with many tabs).
const USERS: usize = 1000;

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct MemoryLevel {
    pub connections: usize,
    pub rss_kib: u64,
    /// (RSS − RSS with no sockets) / connections.
    pub kib_per_connection: f64,
    /// (RSS − RSS of the previous level) / added connections.
    pub marginal_kib_per_connection: f64,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct MemoryResult {
    pub baseline_rss_kib: u64,
    pub levels: Vec<MemoryLevel>,
    /// Sockets the server closed while idle (should be 0).
    pub dropped: u64,
    /// Levels that were asked for but lowered to what the open-file limit allows: (asked, measured, limit).
    pub capped: Vec<(usize, usize, u64)>,
}

/// Runs the memory benchmark against its own server.
pub async fn run(opts: &Opts) -> Result<MemoryResult, String> {
    let server = ServerUnderTest::start(opts, "memory").await?;
    let users = server::create_users(&server.database_url, "idle_", USERS).await?;
    let cookies = server::log_in_all(server.addr, &users, 16).await?;
    // Warm the server up (session loads, pool connections) with a few sockets that then close.
    let mut warm = Vec::new();
    for (i, cookie) in cookies.iter().take(50).enumerate() {
        warm.push(client::connect(server.addr, client::source_ip(i), cookie).await?.0);
    }
    for mut ws in warm {
        let _ = ws.close(None).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = server.rss_kib()?;
    eprintln!("memory: baseline RSS {} KiB", baseline);

    let (stop_tx, stop_rx) = watch::channel(false);
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    let mut open = 0usize;
    let mut levels = Vec::new();
    let mut previous = (0usize, baseline);
    let mut capped = Vec::new();
    for &asked in &opts.connections {
        let target = asked.min(opts.max_sockets);
        if target != asked {
            eprintln!(
                "memory: {asked} sockets do not fit the open-file limit of {}: measuring {target}",
                opts.fd_limit
            );
            capped.push((asked, target, opts.fd_limit));
        }
        if target <= open {
            continue;
        }
        let started = Instant::now();
        let sockets: Vec<Result<Ws, String>> = futures_util::stream::iter(open..target)
            .map(|i| {
                let cookie = cookies[i % cookies.len()].clone();
                let addr = server.addr;
                async move { client::connect(addr, client::source_ip(i), &cookie).await.map(|(ws, _)| ws) }
            })
            .buffered(128)
            .collect()
            .await;
        for ws in sockets {
            tasks.push(tokio::spawn(idle(ws?, stop_rx.clone(), dropped.clone())));
        }
        open = target;
        // Let allocations settle (the server's per-connection tasks have all run by now).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss = server.rss_kib()?;
        let level = MemoryLevel {
            connections: target,
            rss_kib: rss,
            kib_per_connection: rss.saturating_sub(baseline) as f64 / target as f64,
            marginal_kib_per_connection: rss.saturating_sub(previous.1) as f64 / (target - previous.0).max(1) as f64,
        };
        eprintln!(
            "memory: {target} idle sockets (opened in {:.1} s): RSS {} KiB, {:.2} KiB per connection ({:.2} marginal)",
            started.elapsed().as_secs_f64(),
            rss,
            level.kib_per_connection,
            level.marginal_kib_per_connection
        );
        previous = (target, rss);
        levels.push(level);
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let dropped = dropped.load(std::sync::atomic::Ordering::Relaxed);
    drop(server);
    Ok(MemoryResult { baseline_rss_kib: baseline, levels, dropped, capped })
}

/// Keeps a socket open, answering pings (tungstenite does when reading), until `stop`.
async fn idle(mut ws: Ws, mut stop: watch::Receiver<bool>, dropped: std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let limit = Instant::now() + Duration::from_secs(3600);
    loop {
        if *stop.borrow() || Instant::now() > limit {
            break;
        }
        tokio::select! {
            _ = stop.changed() => break,
            m = ws.next() => match m {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                Some(Ok(_)) => {}
            }
        }
    }
    let _ = ws.close(None).await;
}
