//! Benchmark 4, listing page: `wrk` (Debian's package) against the server-rendered `/live` with 50 live
//! streams in the database, as a signed-out visitor.

use crate::server::{self, ServerUnderTest};
use crate::{cpu, http, Opts};
use serde::Serialize;
use std::process::Command;
use std::time::Instant;

/// Live streams in the database during the run.
pub const STREAMS: usize = 50;

#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct WrkReport {
    pub requests: u64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ListingResult {
    pub streams: usize,
    pub connections: usize,
    pub secs: u64,
    pub page_bytes: usize,
    pub wrk: WrkReport,
    pub server_cpu_pct: f64,
}

/// A duration as wrk prints it (`812.00us`, `4.90ms`, `1.02s`, `2.00m`), in milliseconds.
pub fn parse_wrk_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * factor)
}

/// The numbers of a `wrk --latency` report.
pub fn parse_wrk(out: &str) -> Result<WrkReport, String> {
    let mut r = WrkReport::default();
    let mut have_rate = false;
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => {
                r.requests_per_s = v.parse().map_err(|_| format!("bad Requests/sec {v:?}"))?;
                have_rate = true;
            }
            ["50%", v] => r.p50_ms = parse_wrk_duration(v).ok_or("bad 50% latency")?,
            ["99%", v] => r.p99_ms = parse_wrk_duration(v).ok_or("bad 99% latency")?,
            ["Latency", _avg, _stdev, max, ..] => r.max_ms = parse_wrk_duration(max).unwrap_or(0.0),
            [n, "requests", "in", ..] => r.requests = n.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", n] => r.non_2xx = n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                r.socket_errors = rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum();
            }
            _ => {}
        }
    }
    if !have_rate {
        return Err(format!("no 'Requests/sec' in wrk's output:\n{out}"));
    }
    Ok(r)
}

/// Runs the listing benchmark against its own server.
pub async fn run(opts: &Opts) -> Result<ListingResult, String> {
    let server = ServerUnderTest::start(opts, "listing").await?;
    let sellers = server::create_users(&server.database_url, "lister_", STREAMS).await?;
    let cookies = server::log_in_all(server.addr, &sellers, 8).await?;
    let categories = ["fashion", "electronics", "home", "beauty", "food", "collectibles", "other"];
    for (i, cookie) in cookies.iter().enumerate() {
        let title = format!("Live deal #{} — vintage cameras and lenses", i + 1);
        let body = http::form(&[
            ("title", &title),
            ("description", "Everything must go: bodies, lenses, flashes and film, tested and cleaned."),
            ("category", categories[i % categories.len()]),
        ]);
        let res = http::post_form(server.addr, "/api/go_live", &body, Some(cookie)).await?;
        if res.status != 200 {
            return Err(format!("go_live: HTTP {} {}", res.status, res.text()));
        }
    }
    let page = http::get(server.addr, "/live").await?;
    let cards = page.text().matches("data-stream-id=").count();
    if page.status != 200 || cards != STREAMS {
        return Err(format!("/live: HTTP {} with {cards} stream cards (expected {STREAMS})", page.status));
    }
    let url = format!("http://{}/live", server.addr);
    let conns = opts.wrk_connections.to_string();
    // Warm-up, then the measured run.
    run_wrk(&["-t1", "-c", &conns, "-d2s", &url])?;
    let cpu_before = cpu::process_ticks(server.pid);
    let started = Instant::now();
    let secs = opts.wrk_secs;
    let out = run_wrk(&["-t1", "-c", &conns, &format!("-d{secs}s"), "--latency", &url])?;
    let server_cpu_pct = cpu::pct(cpu_before, cpu::process_ticks(server.pid), started.elapsed());
    let wrk = parse_wrk(&out)?;
    eprintln!(
        "listing: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {}, socket errors {}, server CPU {:.0}%",
        wrk.requests_per_s, wrk.p50_ms, wrk.p99_ms, wrk.non_2xx, wrk.socket_errors, server_cpu_pct
    );
    drop(server);
    Ok(ListingResult {
        streams: STREAMS,
        connections: opts.wrk_connections,
        secs,
        page_bytes: page.body.len(),
        wrk,
        server_cpu_pct,
    })
}

fn run_wrk(args: &[&str]) -> Result<String, String> {
    let out = Command::new("wrk")
        .args(args)
        .output()
        .map_err(|e| format!("wrk: {e} (install Debian's wrk: `scripts/setup.sh --bench`)"))?;
    if !out.status.success() {
        return Err(format!("wrk failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 10s test @ http://127.0.0.1:3300/live
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.01ms    1.20ms  20.31ms   80.00%
    Req/Sec     3.20k   100.00     3.40k    70.00%
  Latency Distribution
     50%    4.90ms
     75%    5.50ms
     90%    6.30ms
     99%  812.00us
  32000 requests in 10.00s, 500.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   3199.50
Transfer/sec:     50.00MB
";

    #[test]
    fn parses_a_wrk_latency_report() {
        let r = parse_wrk(SAMPLE).unwrap();
        assert_eq!(r.requests, 32000);
        assert_eq!(r.requests_per_s, 3199.5);
        assert_eq!(r.p50_ms, 4.9);
        assert!((r.p99_ms - 0.812).abs() < 1e-9);
        assert_eq!(r.max_ms, 20.31);
        assert_eq!(r.non_2xx, 5);
        assert_eq!(r.socket_errors, 3);
        assert!(parse_wrk("nothing here").is_err());
    }

    #[test]
    fn wrk_durations() {
        assert_eq!(parse_wrk_duration("1.50s"), Some(1500.0));
        assert_eq!(parse_wrk_duration("2.00m"), Some(120_000.0));
        assert_eq!(parse_wrk_duration("7.25ms"), Some(7.25));
        assert_eq!(parse_wrk_duration("250.00us"), Some(0.25));
        assert_eq!(parse_wrk_duration("fast"), None);
    }
}
