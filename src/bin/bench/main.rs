//! `bench`: the load tool behind `make bench` (issue #7). Each benchmark starts the release server it
//! measures (`target/release/onair`, fresh database `onair_bench_<name>`) and, on a machine with two or more
//! CPUs, pins the server to CPU 0 and this tool (and `wrk`) to CPU 1.
//!
//! ```text
//! bench [all|relay|chat|memory|listing|bundle] [--write-docs] [--pairs 500] [--rates 1000,4000,...,max] ...
//! ```
//!
//! Prints progress and a summary table, writes `target/bench/results.json`, and with `--write-docs` (only
//! for `all`) rewrites its section and the machine block of `docs/benchmarks.md`. Traffic goes only to
//! 127.0.0.0/8; every phase is bounded in time.
//!
//! `bench sfu` (not part of `all`) measures the forwarding unit in this process instead of a server: see
//! `sfu.rs`; it writes `target/bench/sfu.json` and, with `--write-docs`, its own section of the doc.

mod bundle;
mod chat;
mod client;
mod cpu;
mod http;
mod listing;
mod memory;
mod relay;
mod report;
mod server;
mod sfu;
mod stats;

/// The SFU (`bench sfu`) runs inside this binary: give it the server's allocator (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, ValueEnum};
use std::process::Command;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum What {
    All,
    Relay,
    Chat,
    Memory,
    Listing,
    Bundle,
    /// The forwarding unit (SFU) in this process: one ~1.5 Mbps publisher, synthetic subscribers
    /// (--subscribers, --sfu-secs, --sfu-clients); not part of `all`.
    Sfu,
    /// Print the table of the last run (target/bench/results.json) and, with --write-docs, rewrite the doc
    /// from it (e.g. after changing the explanations in report.rs); measures nothing.
    Report,
}

fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    if s.eq_ignore_ascii_case("max") {
        Ok(None)
    } else {
        s.parse().map(Some).map_err(|_| format!("a rate is a number of messages/s or 'max', not {s:?}"))
    }
}

/// Load tool for the onair server: signaling relay, chat fan-out, idle connection memory, listing page, bundle.
#[derive(Parser, Debug)]
#[command(name = "bench")]
struct Cli {
    /// Which benchmark to run.
    #[arg(value_enum, default_value = "all")]
    what: What,
    /// Relay: pair-rooms (2 sockets each).
    #[arg(long, default_value_t = 500)]
    pairs: usize,
    /// Relay: total offered rates in messages/s, comma-separated; `max` = as fast as a window of 16
    /// unanswered messages per pair allows.
    #[arg(long, value_delimiter = ',', value_parser = parse_rate, default_value = "1000,4000,16000,32000,64000,max")]
    rates: Vec<Option<u64>>,
    /// Relay: seconds per rate.
    #[arg(long, default_value_t = 5.0)]
    phase_secs: f64,
    /// Relay: size of one client `signal` message in bytes.
    #[arg(long, default_value_t = 1024)]
    message_bytes: usize,
    /// Chat: viewer counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    viewers: Vec<usize>,
    /// Memory: idle socket counts, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,20000")]
    connections: Vec<usize>,
    /// Listing: wrk connections.
    #[arg(long, default_value_t = 16)]
    wrk_connections: usize,
    /// Listing: wrk seconds.
    #[arg(long, default_value_t = 10)]
    wrk_secs: u64,
    /// SFU: subscriber counts, comma-separated (each step adds subscribers to reach the next).
    #[arg(long, value_delimiter = ',', default_value = "10,100,300,500")]
    subscribers: Vec<usize>,
    /// SFU: seconds measured per subscriber count.
    #[arg(long, default_value_t = 20.0)]
    sfu_secs: f64,
    /// SFU: how the synthetic subscribers receive.
    #[arg(long, value_enum, default_value = "str0m")]
    sfu_clients: sfu::ClientMode,
    /// Port of the server under test (127.0.0.1).
    #[arg(long, default_value_t = 3300)]
    port: u16,
    /// The server binary.
    #[arg(long, default_value = "target/release/onair")]
    server_bin: String,
    /// The built site (pkg/ with the WASM).
    #[arg(long, default_value = "target/site")]
    site_root: String,
    /// Do not pin the server and the tool to separate CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Rewrite the section of docs/benchmarks.md (with `all` only).
    #[arg(long)]
    write_docs: bool,
    /// Before each benchmark, wait until the 1-minute load average is below this (other work on the
    /// machine skews every number); 0 = do not wait.
    #[arg(long, default_value_t = 1.5)]
    quiet_load: f64,
    /// Longest wait for a quiet machine per benchmark, in seconds; after it the benchmark runs anyway and
    /// the load is reported with its numbers.
    #[arg(long, default_value_t = 240)]
    quiet_wait_secs: u64,
}

/// Settings the benchmarks read.
pub struct Opts {
    pub pairs: usize,
    pub rates: Vec<Option<u64>>,
    pub phase_secs: f64,
    pub message_bytes: usize,
    pub viewers: Vec<usize>,
    pub connections: Vec<usize>,
    pub wrk_connections: usize,
    pub wrk_secs: u64,
    pub port: u16,
    pub server_bin: String,
    pub site_root: String,
    /// CPU for the server (`taskset -c`), when pinning.
    pub server_cpu: Option<usize>,
    /// CPU of this tool, when pinning.
    pub client_cpu: Option<usize>,
    /// Most sockets one process may hold here (open-file limit less a margin).
    pub max_sockets: usize,
    /// The open-file limit in force.
    pub fd_limit: u64,
    pub quiet_load: f64,
    pub quiet_wait_secs: u64,
}

/// Everything one run measured.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Results {
    pub started: String,
    /// The checkout measured (`git rev-parse --short HEAD`, marked when there were uncommitted changes).
    pub commit: String,
    pub relay: Option<relay::RelayResult>,
    pub chat: Option<chat::ChatResult>,
    pub memory: Option<memory::MemoryResult>,
    pub listing: Option<listing::ListingResult>,
    pub bundle: Option<bundle::BundleResult>,
    pub failures: Vec<String>,
    pub server_cpu: Option<usize>,
    pub client_cpu: Option<usize>,
    pub load_before: String,
    /// Per benchmark: the load average (1, 5, 15 min) when it started.
    pub loads: Vec<(String, String)>,
}

/// Where each run leaves its numbers (read back by `bench report`).
const RESULTS: &str = "target/bench/results.json";

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// Waits (bounded by `opts.quiet_wait_secs`) until the 1-minute load average is under `opts.quiet_load`;
/// returns the load average then.
async fn wait_for_quiet(opts: &Opts, what: &str) -> String {
    let deadline = Instant::now() + std::time::Duration::from_secs(opts.quiet_wait_secs);
    let mut said = false;
    loop {
        let load = load_average();
        let one: f64 = load.split(',').next().and_then(|v| v.trim().parse().ok()).unwrap_or(0.0);
        if opts.quiet_load <= 0.0 || one < opts.quiet_load || Instant::now() >= deadline {
            if said {
                eprintln!("{what}: starting at load average {load}");
            }
            return load;
        }
        if !said {
            eprintln!(
                "{what}: waiting for the load average ({load}) to drop below {} (at most {} s)",
                opts.quiet_load, opts.quiet_wait_secs
            );
            said = true;
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// This process's open-file limits (soft, hard), from `prlimit`.
fn fd_limits() -> Option<(u64, u64)> {
    let pid = std::process::id().to_string();
    let out = Command::new("prlimit")
        .args(["--pid", &pid, "--nofile", "--raw", "--noheadings", "-o", "SOFT,HARD"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace().map(|w| if w == "unlimited" { Some(u64::MAX) } else { w.parse().ok() });
    Some((words.next()??, words.next()??))
}

/// Raises this process's open-file limit (sockets) towards `want`, as far as the hard limit allows (raising
/// the hard limit needs CAP_SYS_RESOURCE); children (the server, wrk) inherit it. Returns the limit in force.
fn raise_fd_limit(want: u64) -> u64 {
    let pid = std::process::id().to_string();
    let spec = format!("--nofile={want}:{want}");
    let quiet = || std::process::Stdio::null();
    if Command::new("prlimit").args(["--pid", &pid, &spec]).stderr(quiet()).status().is_ok_and(|s| s.success()) {
        return want;
    }
    let Some((_, hard)) = fd_limits() else { return 1024 };
    let spec = format!("--nofile={hard}:{hard}");
    let _ = Command::new("prlimit").args(["--pid", &pid, &spec]).stderr(quiet()).status();
    fd_limits().map_or(1024, |(soft, _)| soft)
}

fn main() {
    let cli = Cli::parse();
    let pin = !cli.no_pin && cpus() >= 2;
    let (server_cpu, client_cpu) = if pin { (Some(0), Some(1)) } else { (None, None) };
    if let Some(cpu) = client_cpu {
        // Before any thread exists, so that every thread of the tool (and wrk, a child) inherits it.
        let ok = Command::new("taskset")
            .args(["-p", "-c", &cpu.to_string(), &std::process::id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("note: taskset failed; the tool is not pinned");
        }
    }
    let max_conns = cli
        .connections
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(cli.pairs * 2)
        .max(cli.viewers.iter().copied().max().unwrap_or(0))
        .max(cli.subscribers.iter().copied().max().unwrap_or(0));
    let fd_limit = raise_fd_limit((max_conns as u64 + 4096).max(65_536));
    // The server and this tool each hold one descriptor per socket, plus a few hundred others.
    let max_sockets = fd_limit.saturating_sub(300) as usize;
    if max_conns > max_sockets {
        eprintln!("note: the open-file limit is {fd_limit} (hard limit; raising it needs CAP_SYS_RESOURCE): at most {max_sockets} sockets per benchmark");
    }
    let opts = Opts {
        pairs: cli.pairs,
        rates: cli.rates.clone(),
        phase_secs: cli.phase_secs,
        message_bytes: cli.message_bytes,
        viewers: cli.viewers.clone(),
        connections: cli.connections.clone(),
        wrk_connections: cli.wrk_connections,
        wrk_secs: cli.wrk_secs,
        port: cli.port,
        server_bin: cli.server_bin.clone(),
        site_root: cli.site_root.clone(),
        server_cpu,
        client_cpu,
        max_sockets,
        fd_limit,
        quiet_load: cli.quiet_load,
        quiet_wait_secs: cli.quiet_wait_secs,
    };
    if cli.what == What::Sfu {
        run_sfu(&cli, &opts);
        return;
    }
    if cli.what != What::Report && !std::path::Path::new(&opts.server_bin).exists() {
        eprintln!("error: {} is missing: build the release first (cargo leptos build --release)", opts.server_bin);
        std::process::exit(2);
    }
    let results = if cli.what == What::Report {
        let text = std::fs::read_to_string(RESULTS).unwrap_or_else(|e| {
            eprintln!("error: {RESULTS}: {e} (run a benchmark first)");
            std::process::exit(2);
        });
        serde_json::from_str(&text).unwrap_or_else(|e| {
            eprintln!("error: {RESULTS}: {e}");
            std::process::exit(2);
        })
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let results = runtime.block_on(run(cli.what, &opts));
        let json = serde_json::to_string_pretty(&results).unwrap_or_default();
        let _ = std::fs::create_dir_all("target/bench");
        let _ = std::fs::write(RESULTS, json);
        results
    };
    println!("{}", report::summary_table(&results));
    if cli.write_docs {
        if !matches!(cli.what, What::All | What::Report) {
            eprintln!("note: --write-docs needs `all` (the doc's table is from one run of everything); not written");
        } else {
            match report::write_doc("docs/benchmarks.md", &results) {
                Ok(()) => eprintln!("wrote docs/benchmarks.md"),
                Err(e) => {
                    eprintln!("error: writing docs/benchmarks.md: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    if !results.failures.is_empty() {
        for f in &results.failures {
            eprintln!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}

/// Where `bench sfu` leaves its numbers.
const SFU_RESULTS: &str = "target/bench/sfu.json";

/// `bench sfu`: runs the steps, prints the table, writes [`SFU_RESULTS`] and, with `--write-docs`, the
/// section of `docs/benchmarks.md`. Exits 1 when a step failed.
fn run_sfu(cli: &Cli, opts: &Opts) {
    let (nproc, cpu_model) = sfu::machine();
    let mut result = sfu::SfuResult {
        started: report::utc_now(),
        commit: report::commit(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        nproc,
        cpu_model,
        sfu_cpu: opts.server_cpu,
        client_cpu: opts.client_cpu,
        load_before: load_average(),
        ..Default::default()
    };
    let sfu_opts = sfu::SfuOpts {
        subscribers: cli.subscribers.clone(),
        secs: cli.sfu_secs,
        clients: cli.sfu_clients,
        sfu_cpu: opts.server_cpu,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        result.load_before = wait_for_quiet(opts, "sfu").await;
        if let Err(e) = sfu::run(&sfu_opts, &mut result).await {
            result.failures.push(e);
        }
    });
    drop(runtime);
    let _ = std::fs::create_dir_all("target/bench");
    let _ = std::fs::write(SFU_RESULTS, serde_json::to_string_pretty(&result).unwrap_or_default());
    println!("{}", sfu::table(&result));
    if cli.write_docs {
        let path = "docs/benchmarks.md";
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        let updated = report::splice_section(&doc, sfu::SECTION_TITLE, &sfu::section(&result));
        match std::fs::write(path, updated) {
            Ok(()) => eprintln!("wrote the section \"{}\" of {path}", sfu::SECTION_TITLE),
            Err(e) => {
                eprintln!("error: writing {path}: {e}");
                std::process::exit(1);
            }
        }
    }
    if !result.failures.is_empty() {
        for f in &result.failures {
            eprintln!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}

async fn run(what: What, opts: &Opts) -> Results {
    let clock = Instant::now();
    let mut results = Results {
        started: report::utc_now(),
        commit: report::commit(),
        server_cpu: opts.server_cpu,
        client_cpu: opts.client_cpu,
        load_before: load_average(),
        ..Results::default()
    };
    let all = what == What::All;
    if all || what == What::Bundle {
        match bundle::run(&opts.site_root) {
            Ok(r) => results.bundle = Some(r),
            Err(e) => results.failures.push(format!("bundle: {e}")),
        }
    }
    if all || what == What::Relay {
        results.loads.push(("relay".into(), wait_for_quiet(opts, "relay").await));
        match relay::run(opts, clock).await {
            Ok(r) => results.relay = Some(r),
            Err(e) => results.failures.push(format!("relay: {e}")),
        }
    }
    if all || what == What::Chat {
        results.loads.push(("chat".into(), wait_for_quiet(opts, "chat").await));
        match chat::run(opts, clock).await {
            Ok(r) => results.chat = Some(r),
            Err(e) => results.failures.push(format!("chat: {e}")),
        }
    }
    if all || what == What::Memory {
        results.loads.push(("memory".into(), wait_for_quiet(opts, "memory").await));
        match memory::run(opts).await {
            Ok(r) => results.memory = Some(r),
            Err(e) => results.failures.push(format!("memory: {e}")),
        }
    }
    if all || what == What::Listing {
        results.loads.push(("listing".into(), wait_for_quiet(opts, "listing").await));
        match listing::run(opts).await {
            Ok(r) => results.listing = Some(r),
            Err(e) => results.failures.push(format!("listing: {e}")),
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_max() {
        assert_eq!(parse_rate("4000"), Ok(Some(4000)));
        assert_eq!(parse_rate("MAX"), Ok(None));
        assert!(parse_rate("fast").is_err());
        let cli = Cli::parse_from(["bench", "relay", "--rates", "10,max", "--pairs", "3"]);
        assert_eq!(cli.what, What::Relay);
        assert_eq!(cli.rates, vec![Some(10), None]);
        assert_eq!(cli.pairs, 3);
    }
}
