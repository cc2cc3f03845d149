//! The results as Markdown: a summary table with targets (stdout and `docs/benchmarks.md`), the details of
//! each benchmark, and the machine block shared with the other benchmark scripts.

use crate::stats::{ms, thousands};
use crate::Results;
use std::fmt::Write as _;
use std::process::Command;

/// Heading of the section this tool owns in `docs/benchmarks.md`.
pub const SECTION_TITLE: &str = "## Server, signaling and bundle (`make bench`)";

const RELAY_TARGET_RATE: f64 = 100_000.0;
const RELAY_LATENCY_RATE: u64 = 4_000;
const RELAY_TARGET_P99_NS: u64 = 1_000_000;
const CHAT_TARGET_RATE: f64 = 250_000.0;
const CHAT_TARGET_P99_NS: u64 = 40_000_000;
const CHAT_TARGET_VIEWERS: usize = 5_000;
/// 8 KB = 8 000 bytes.
const MEMORY_TARGET_BYTES: f64 = 8_000.0;
const LISTING_TARGET_RPS: f64 = 3_000.0;
const LISTING_TARGET_P99_MS: f64 = 20.0;
const BUNDLE_TARGET_BROTLI: u64 = 250_000;

/// One row of the summary: what, result, target, met (`None` = not measured).
pub struct Row {
    pub what: String,
    pub result: String,
    pub target: String,
    pub met: Option<bool>,
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

/// The summary rows, one per target.
pub fn rows(r: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    match &r.relay {
        Some(relay) => {
            let best = relay.phases.iter().max_by(|a, b| a.delivered_per_s.total_cmp(&b.delivered_per_s));
            let sat = relay.phases.iter().find(|p| p.rate.is_none()).or(best);
            rows.push(Row {
                what: format!(
                    "Signaling relay at saturation ({} pairs, {} B messages)",
                    relay.pairs, relay.message_bytes
                ),
                result: best
                    .map(|p| {
                        format!(
                            "{} msgs/s (p99 {}, lost {})",
                            thousands(p.delivered_per_s as u64),
                            ms(p.latency.p99_ns),
                            sat.map_or(0, |s| s.lost)
                        )
                    })
                    .unwrap_or_default(),
                target: format!("≥ {} msgs/s", thousands(RELAY_TARGET_RATE as u64)),
                met: best.map(|p| p.delivered_per_s >= RELAY_TARGET_RATE),
            });
            let at = relay.phases.iter().find(|p| p.rate == Some(RELAY_LATENCY_RATE));
            rows.push(Row {
                what: format!("Signaling relay one-way latency at {} msgs/s", thousands(RELAY_LATENCY_RATE)),
                result: at
                    .map(|p| {
                        format!(
                            "p50 {}, p99 {}, max {}, lost {}",
                            ms(p.latency.p50_ns),
                            ms(p.latency.p99_ns),
                            ms(p.latency.max_ns),
                            p.lost
                        )
                    })
                    .unwrap_or_else(|| "not measured".into()),
                target: "p99 < 1 ms".into(),
                met: at.map(|p| p.latency.p99_ns < RELAY_TARGET_P99_NS && p.lost == 0),
            });
        }
        None => {
            rows.push(missing("Signaling relay at saturation", "≥ 100,000 msgs/s"));
            rows.push(missing("Signaling relay one-way latency at 4,000 msgs/s", "p99 < 1 ms"));
        }
    }
    let chat_level = r.chat.as_ref().and_then(|c| {
        c.levels.iter().find(|l| l.viewers == CHAT_TARGET_VIEWERS).or(c.levels.iter().max_by_key(|l| l.viewers))
    });
    match chat_level {
        Some(l) => {
            rows.push(Row {
                what: format!("Chat fan-out deliveries, {} viewers", thousands(l.viewers as u64)),
                result: format!("{} deliveries/s", thousands(l.deliveries_per_s as u64)),
                target: format!("≥ {}/s", thousands(CHAT_TARGET_RATE as u64)),
                met: Some(l.deliveries_per_s >= CHAT_TARGET_RATE && l.incomplete == 0),
            });
            rows.push(Row {
                what: format!("Chat: post until the last of {} viewers has it", thousands(l.viewers as u64)),
                result: format!("p50 {}, p99 {}", ms(l.time_to_last.p50_ns), ms(l.time_to_last.p99_ns)),
                target: "p99 < 40 ms".into(),
                met: Some(
                    l.time_to_last.p99_ns < CHAT_TARGET_P99_NS && l.incomplete == 0 && l.viewers >= CHAT_TARGET_VIEWERS,
                ),
            });
        }
        None => {
            rows.push(missing("Chat fan-out deliveries, 5,000 viewers", "≥ 250,000/s"));
            rows.push(missing("Chat: post until the last of 5,000 viewers has it", "p99 < 40 ms"));
        }
    }
    match r.memory.as_ref().and_then(|m| m.levels.last().map(|l| (m, l))) {
        Some((m, l)) => rows.push(Row {
            what: format!("Idle connection memory, {} sockets", thousands(l.connections as u64)),
            result: format!(
                "{:.1} KB per connection (RSS {:.0} MB)",
                l.kib_per_connection * 1.024,
                l.rss_kib as f64 * 1.024 / 1000.0
            ),
            target: "≤ 8 KB per connection".into(),
            met: Some(l.kib_per_connection * 1024.0 <= MEMORY_TARGET_BYTES && m.dropped == 0),
        }),
        None => rows.push(missing("Idle connection memory, 20,000 sockets", "≤ 8 KB per connection")),
    }
    match &r.listing {
        Some(l) => rows.push(Row {
            what: format!("Listing page `/live`, {} live streams (wrk, {} connections)", l.streams, l.connections),
            result: format!("{} req/s, p99 {:.1} ms", thousands(l.wrk.requests_per_s as u64), l.wrk.p99_ms),
            target: "≥ 3,000 req/s, p99 < 20 ms".into(),
            met: Some(
                l.wrk.requests_per_s >= LISTING_TARGET_RPS
                    && l.wrk.p99_ms < LISTING_TARGET_P99_MS
                    && l.wrk.non_2xx == 0
                    && l.wrk.socket_errors == 0,
            ),
        }),
        None => rows.push(missing("Listing page `/live`, 50 live streams", "≥ 3,000 req/s, p99 < 20 ms")),
    }
    match r.bundle.as_ref().and_then(|b| b.wasm()) {
        Some(w) => rows.push(Row {
            what: "Client bundle: WASM, brotli".into(),
            result: format!("{} (raw {}, gzip {})", kb(w.brotli), kb(w.raw), kb(w.gzip)),
            target: "≤ 250 KB".into(),
            met: Some(w.brotli <= BUNDLE_TARGET_BROTLI),
        }),
        None => rows.push(missing("Client bundle: WASM, brotli", "≤ 250 KB")),
    }
    rows
}

fn missing(what: &str, target: &str) -> Row {
    Row { what: what.into(), result: "not measured (failed)".into(), target: target.into(), met: None }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**met**",
        Some(false) => "**not met**",
        None => "—",
    }
}

/// The summary as a Markdown table.
pub fn summary_table(r: &Results) -> String {
    let mut out = String::from("| measurement | result | target | |\n|---|---|---|---|\n");
    for row in rows(r) {
        let _ = writeln!(out, "| {} | {} | {} | {} |", row.what, row.result, row.target, verdict(row.met));
    }
    out
}

/// Current time, UTC, ISO 8601 (from `date`).
pub fn utc_now() -> String {
    sh("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default()
}

fn sh(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub struct Machine {
    nproc: String,
    model: String,
    ram: String,
    kernel: String,
    chromium: Option<String>,
    node: Option<String>,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    Machine {
        nproc: sh("nproc", &["--all"]).unwrap_or_else(|| "?".into()),
        model,
        ram: format!("{:.1} GiB", mem_kb / 1024.0 / 1024.0),
        kernel: format!("{} {}", sh("uname", &["-s"]).unwrap_or_default(), sh("uname", &["-r"]).unwrap_or_default()),
        chromium: sh("chromium", &["--version"]).and_then(|v| {
            v.split_whitespace().find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit())).map(String::from)
        }),
        node: sh("node", &["--version"]),
    }
}

fn machine_block(m: &Machine, date: &str) -> String {
    let mut extra = String::new();
    if let Some(c) = &m.chromium {
        let _ = write!(extra, ", Chromium {c} (Debian, headless)");
    }
    if let Some(n) = &m.node {
        let _ = write!(extra, ", Node {n}");
    }
    format!(
        "<!-- machine: written by the benchmark scripts -->\nMachine of the latest run ({date}): {} CPUs (`nproc`), {}, {} RAM,\nkernel {}{extra}.\n<!-- /machine -->\n",
        m.nproc, m.model, m.ram, m.kernel
    )
}

/// The checkout, as Markdown: `` `abc1234` `` or `` `abc1234` (with uncommitted changes) ``.
pub fn commit() -> String {
    let head = sh("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = sh("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("`{head}` (with uncommitted changes)")
    } else {
        format!("`{head}`")
    }
}

/// This tool's section of `docs/benchmarks.md`.
pub fn section(r: &Results, m: &Machine) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{SECTION_TITLE}\n");
    let _ = writeln!(
        s,
        "Written by the `bench` binary (`src/bin/bench/`); reproduce with `make bench` (about 5 minutes; it builds the\n\
         release first). All five measurements below come from one run, started {}, on checkout {}.\n\
         \"KB\" is 1000 bytes.\n",
        r.started,
        r.commit
    );
    let pinning = match (r.server_cpu, r.client_cpu) {
        (Some(s), Some(c)) => format!(
            "the server ran on CPU {s} and the load tool (and `wrk`) on CPU {c} (`taskset`); PostgreSQL was not pinned"
        ),
        _ => "no CPU pinning (fewer than 2 CPUs)".into(),
    };
    let loads = if r.loads.is_empty() {
        String::new()
    } else {
        format!(
            " Load average (1, 5, 15 min) as each benchmark started: {}{}",
            r.loads.iter().map(|(what, load)| format!("{what} {load}")).collect::<Vec<_>>().join("; "),
            if r.loads.iter().any(|(_, l)| l
                .split(',')
                .next()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
                >= 1.5)
            {
                " (other work was running on the 2 CPUs for some of them: those numbers are on the slow side)."
            } else {
                " (the machine was otherwise quiet)."
            }
        )
    };
    let _ = writeln!(
        s,
        "Machine: {} CPUs, {}, {} RAM; {pinning}. Load average before the run: {}.{loads}\n",
        m.nproc, m.model, m.ram, r.load_before
    );
    s.push_str(&summary_table(r));
    s.push('\n');
    let unmet: Vec<Row> = rows(r).into_iter().filter(|row| row.met != Some(true)).collect();
    if !unmet.is_empty() {
        s.push_str("Where a target is not met, and why:\n\n");
        for row in &unmet {
            let _ = writeln!(s, "- **{}**: {}", row.what, crate::report::why_not(&row.what));
        }
        s.push('\n');
    }
    if !r.failures.is_empty() {
        s.push_str("Failures in this run:\n\n");
        for f in &r.failures {
            let _ = writeln!(s, "- {}", f.replace('\n', " "));
        }
        s.push('\n');
    }

    if let Some(relay) = &r.relay {
        let _ = writeln!(
            s,
            "### Signaling relay\n\n{} pair-rooms (`call:bench-<i>`, {} authenticated sockets, one account each); in each pair one\n\
             socket sends `signal` offers of {} bytes to the other. The SDP carries a sequence number and the send time, so\n\
             the receiver measures one-way latency (send call to message read, same clock) and counts lost and late\n\
             messages. Each rate runs {:.0} s after a 2 s warm-up; `max` keeps {} unanswered messages in flight per pair.\n",
            relay.pairs,
            relay.pairs * 2,
            relay.message_bytes,
            relay.phases.first().map_or(0.0, |p| p.secs),
            16
        );
        s.push_str(
            "| offered msgs/s | delivered msgs/s | p50 | p99 | max | lost | late | skipped | server CPU | tool CPU |\n",
        );
        s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for p in &relay.phases {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% | {:.0}% |",
                p.rate.map(thousands).unwrap_or_else(|| "max".into()),
                thousands(p.delivered_per_s as u64),
                ms(p.latency.p50_ns),
                ms(p.latency.p99_ns),
                ms(p.latency.max_ns),
                p.lost,
                p.late,
                p.skipped,
                p.server_cpu_pct,
                p.client_cpu_pct
            );
        }
        s.push_str(
            "\n*skipped*: sends the tool left out because 128 messages of that pair were already in flight.\n\
             CPU is in % of one core over the phase (100% = the pinned core was busy all the time).\n\n",
        );
    }
    if let Some(chat) = &r.chat {
        s.push_str(
            "### Chat fan-out\n\nOne seller goes live; the viewers (one account each) join `stream:<id>` over `/ws`; one user posts\n\
             through the `post_chat` server function (HTTP, one request per connection). *Paced*: one message at a time,\n\
             the next 20 ms after the previous reached every viewer; the time runs from sending the request until the last\n\
             viewer has read the message. *Burst*: 100 messages posted with 8 requests in flight; deliveries per second\n\
             from the first request until the last delivery.\n\n",
        );
        s.push_str("| viewers | p50 until the last viewer | p99 | max | burst deliveries | deliveries/s | incomplete | viewers dropped | server CPU (burst) |\n");
        s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for l in &chat.levels {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% |",
                thousands(l.viewers as u64),
                ms(l.time_to_last.p50_ns),
                ms(l.time_to_last.p99_ns),
                ms(l.time_to_last.max_ns),
                thousands(l.burst_deliveries),
                thousands(l.deliveries_per_s as u64),
                l.incomplete,
                l.viewers_dropped,
                l.server_cpu_pct_burst
            );
        }
        s.push('\n');
    }
    if let Some(mem) = &r.memory {
        let _ = writeln!(
            s,
            "### Idle connection memory\n\nServer RSS (`VmRSS`) with idle authenticated `/ws` sockets (welcome read, no room; 1000 accounts, many\n\
             sockets each; several 127.0.0.x source addresses), 3 s after the last one opened. Baseline with no socket\n\
             (after log-ins and 50 warm-up sockets): {:.1} MB. Sockets dropped by the server while idle: {}.\n",
            mem.baseline_rss_kib as f64 * 1.024 / 1000.0,
            mem.dropped
        );
        for (asked, measured, limit) in &mem.capped {
            let _ = writeln!(
                s,
                "{} sockets were asked for, {} measured: the open-file limit here is {} per process (a hard\n\
                 limit that only CAP_SYS_RESOURCE could raise), and the server holds one descriptor per socket.\n",
                thousands(*asked as u64),
                thousands(*measured as u64),
                thousands(*limit)
            );
        }
        s.push_str("| sockets | RSS | KB per connection | KB per added connection |\n|---:|---:|---:|---:|\n");
        for l in &mem.levels {
            let _ = writeln!(
                s,
                "| {} | {:.1} MB | {:.2} | {:.2} |",
                thousands(l.connections as u64),
                l.rss_kib as f64 * 1.024 / 1000.0,
                l.kib_per_connection * 1.024,
                l.marginal_kib_per_connection * 1.024
            );
        }
        s.push('\n');
    }
    if let Some(l) = &r.listing {
        let _ = writeln!(
            s,
            "### Listing page\n\n`wrk -t1 -c{} -d{}s --latency http://127.0.0.1:<port>/live` as a signed-out visitor, after a 2 s warm-up;\n\
             {} live streams (50 sellers, 7 categories); the page is {} of server-rendered HTML.\n\n\
             | requests | req/s | p50 | p99 | max | non-2xx | socket errors | server CPU |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n\
             | {} | {} | {:.2} ms | {:.2} ms | {:.1} ms | {} | {} | {:.0}% |\n",
            l.connections,
            l.secs,
            l.streams,
            kb(l.page_bytes as u64),
            thousands(l.wrk.requests),
            thousands(l.wrk.requests_per_s as u64),
            l.wrk.p50_ms,
            l.wrk.p99_ms,
            l.wrk.max_ms,
            l.wrk.non_2xx,
            l.wrk.socket_errors,
            l.server_cpu_pct
        );
    }
    if let Some(b) = &r.bundle {
        let _ = writeln!(
            s,
            "### Client bundle\n\n`target/site/pkg` of the release build (WASM built {}; profile `wasm-release`, then wasm-opt),\n\
             compressed with `gzip -9` and `brotli -q 11`.\n\n| file | raw | gzip | brotli |\n|---|---:|---:|---:|",
            b.wasm_built
        );
        for f in &b.files {
            let _ = writeln!(s, "| `{}` | {} | {} | {} |", f.file, kb(f.raw), kb(f.gzip), kb(f.brotli));
        }
        s.push('\n');
    }
    s
}

/// Why a target is not met, for the doc (kept with the code that measures it).
pub fn why_not(what: &str) -> &'static str {
    crate::report::notes::why(what)
}

/// Replaces this tool's section (heading to the next `#`/`##` heading) and the machine block of `path`;
/// keeps everything else (e.g. "Join to first frame"). A missing section goes before the first other `##`.
pub fn write_doc(path: &str, r: &Results) -> Result<(), String> {
    let m = machine();
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    let updated = splice(&doc, &machine_block(&m, &r.started), &section(r, &m));
    std::fs::write(path, updated).map_err(|e| e.to_string())
}

/// `doc` with its machine block replaced by `machine` and the section [`SECTION_TITLE`] replaced by
/// `section` (or inserted before the first other `## ` section, or appended).
pub fn splice(doc: &str, machine: &str, section: &str) -> String {
    const OPEN: &str = "<!-- machine: written by the benchmark scripts -->";
    const CLOSE: &str = "<!-- /machine -->";
    let mut doc = if doc.trim().is_empty() { format!("# Benchmarks\n\n{machine}\n") } else { doc.to_string() };
    if let (Some(a), Some(b)) = (doc.find(OPEN), doc.find(CLOSE)) {
        let mut end = b + CLOSE.len();
        if doc[end..].starts_with('\n') {
            end += 1;
        }
        doc.replace_range(a..end, machine);
    }
    let section = section.trim_end_matches('\n');
    let out = replace_section(&doc, SECTION_TITLE, section).unwrap_or_else(|| {
        let lines: Vec<&str> = doc.lines().collect();
        match lines.iter().position(|l| l.starts_with("## ")) {
            Some(at) => {
                let mut v: Vec<&str> = lines[..at].to_vec();
                v.push(section);
                v.push("");
                v.extend_from_slice(&lines[at..]);
                v.join("\n")
            }
            None => format!("{}\n\n{section}", doc.trim_end()),
        }
    });
    with_final_newline(&out)
}

/// `doc` with the section `title` (its heading line up to the next `#`/`##` heading) replaced by `section`
/// (without trailing newlines), or `None` when `doc` has no such heading.
fn replace_section(doc: &str, title: &str, section: &str) -> Option<String> {
    let lines: Vec<&str> = doc.lines().collect();
    let is_heading = |l: &str| l.starts_with("# ") || l.starts_with("## ");
    let start = lines.iter().position(|l| l.trim() == title)?;
    let end = lines.iter().enumerate().skip(start + 1).find(|(_, l)| is_heading(l)).map_or(lines.len(), |(i, _)| i);
    let mut v: Vec<&str> = lines[..start].to_vec();
    v.push(section);
    if end < lines.len() {
        v.push("");
        v.extend_from_slice(&lines[end..]);
    }
    Some(v.join("\n"))
}

/// `text` without trailing whitespace, ending in one newline.
fn with_final_newline(text: &str) -> String {
    let mut out = text.trim_end().to_string();
    out.push('\n');
    out
}

/// `doc` with the section `title` (its heading line up to the next `#`/`##` heading) replaced by `section`,
/// or `section` appended at the end when there is none; the rest (machine block included) is left alone.
/// For benchmarks that own a section of their own (`bench sfu`).
pub fn splice_section(doc: &str, title: &str, section: &str) -> String {
    let section = section.trim_end_matches('\n');
    let out = replace_section(doc, title, section).unwrap_or_else(|| {
        if doc.trim().is_empty() {
            format!("# Benchmarks\n\n{section}")
        } else {
            format!("{}\n\n{section}", doc.trim_end())
        }
    });
    with_final_newline(&out)
}

pub mod notes {
    //! The explanations shown next to a target that is not met. Keep them true: update them when the code
    //! or the numbers change.

    /// The explanation for the summary row `what`.
    pub fn why(what: &str) -> &'static str {
        if what.starts_with("Signaling relay at saturation") {
            RELAY_RATE
        } else if what.starts_with("Signaling relay one-way latency") {
            RELAY_LATENCY
        } else if what.starts_with("Chat fan-out deliveries") {
            CHAT_RATE
        } else if what.starts_with("Chat: post until") {
            CHAT_LATENCY
        } else if what.starts_with("Idle connection memory") {
            MEMORY
        } else if what.starts_with("Listing page") {
            LISTING
        } else if what.starts_with("Client bundle") {
            BUNDLE
        } else {
            "see the details below."
        }
    }

    const RELAY_RATE: &str = "the relay runs on one pinned core: per message the server reads the frame, \
parses the client's JSON (a ~1 KB SDP with escapes), checks both peers' membership, serializes the message \
again with the stamped sender and writes it. The load tool on the other core builds, sends, reads and \
checks every message and is as busy as the server (the CPU columns), and PostgreSQL and anything else on \
the machine share those two cores, so the number is a bound of this set-up as much as of the server. \
Relaying the payload as raw JSON (no second encode) is the next step.";
    const RELAY_LATENCY: &str = "the median stays near 0.1 ms; the tail is scheduling on two busy cores: \
sender, server and receiver are three tasks on two shared CPUs, and any other process (the run's load \
averages are above) preempts one of them for milliseconds.";
    const CHAT_RATE: &str = "each delivery is a wake-up of the viewer's connection task and a socket \
write on the server's one core; see the burst's server CPU in the chat table.";
    const CHAT_LATENCY: &str = "the time includes the HTTP post (session, permission and rate checks, \
one insert) and 5,000 separate socket writes on the server's one core, plus 5,000 reads by the load tool on \
the other; the broadcast is serialized once and queued to every viewer without blocking on any of them. Each connection's task now creates its shutdown and kick waits once instead of per message (every re-creation took the shutdown channel's shared waiter lock twice per wake): on the Intel VM, `bench chat` alone went from p99 63.9 ms to 38.5 and 40.8 ms in two runs, and 420k to 810–877k deliveries/s, but this number varies a lot between runs on this shared 2-core VM (the same code gave the p99 in the table within `bench all`), so the target is not reliably met yet. What is left per viewer is the task wake-up and one write system call.";
    const MEMORY: &str = "see the memory table below.";
    const LISTING: &str = "the server renders `/live` (about 40 KB of HTML with 50 cards and the \
hydration data) on one pinned core and is CPU-bound at saturation (server CPU in the listing table), \
mostly in Leptos' server rendering (reactive owners and effects per card, HTML escaping, the serialized \
resource data) and in allocation. This issue took the database off the path (the live listing is \
cached until a stream starts or ends, at most 1 s; categories are read once) and replaced glibc malloc \
with mimalloc, and signed-out page views (what wrk is) are served from a 500 ms cache of the rendered \
page (`live::page_cache`, cleared when a stream starts or ends), so this is the cached path. Next step: \
lighter server rendering of the listing for signed-in visitors (`SsrMode::Async`, fewer owners per card).";
    const BUNDLE: &str = "all pages (live shopping, catalog, orders, chat, proctoring, video rooms) are one WASM \
module, and most of its code is Leptos' rendering and reactive code monomorphized per view: in a \
name-section breakdown of the build before wasm-opt, `tachys` and `reactive_graph` generics are over half \
of the code, serde about 8%, our own functions under 4%. The profile is already at the small end \
(`opt-level = \"z\"`, fat LTO, one codegen unit, `panic = \"abort\"`, then `wasm-opt -Oz`; another \
`wasm-opt -Oz --converge` pass saves 0.4%). Reaching 250 KB needs structural changes: route-level code \
splitting (Leptos lazy routes with `cargo leptos --split`), so that a page loads only its own code, and \
type-erased views (cargo-leptos `always-erase-components`). Both change how every page is built and are \
left for their own issue.";
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "<!-- machine: written by the benchmark scripts -->\nnew machine\n<!-- /machine -->\n";

    #[test]
    fn splice_keeps_other_sections_and_replaces_ours() {
        let doc = "# Benchmarks\n\nintro\n\n<!-- machine: written by the benchmark scripts -->\nold\n<!-- /machine -->\n\n## Join to first frame\n\njoin text\n";
        let once = splice(doc, MACHINE, &format!("{SECTION_TITLE}\n\nrun-one\n"));
        assert!(once.contains("new machine") && !once.contains("old"));
        let ours = once.find(SECTION_TITLE).unwrap();
        let join = once.find("## Join to first frame").unwrap();
        assert!(ours < join, "{once}");
        assert!(once.contains("join text"));

        assert!(once.contains("run-one"));
        let twice = splice(&once, MACHINE, &format!("{SECTION_TITLE}\n\nrun-two\n\n### Details\n\nmore\n"));
        assert!(twice.contains("run-two") && twice.contains("### Details") && !twice.contains("run-one"), "{twice}");
        assert_eq!(twice.matches(SECTION_TITLE).count(), 1);
        assert!(twice.contains("## Join to first frame\n\njoin text\n"));
        assert_eq!(twice.matches("<!-- machine").count(), 1);
    }

    #[test]
    fn own_section_is_appended_then_replaced() {
        let doc = "# Benchmarks\n\n## A\n\na text\n\n## B\n\nb text\n";
        let once = splice_section(doc, "## S", "## S\n\nfirst\n\n### detail\n\nd\n");
        assert!(once.starts_with(doc.trim_end()) && once.ends_with("### detail\n\nd\n"), "{once}");
        let twice = splice_section(&once, "## S", "## S\n\nsecond\n");
        assert!(twice.contains("second") && !twice.contains("first") && !twice.contains("### detail"), "{twice}");
        // In the middle: the next section stays.
        let mid = splice_section(doc, "## A", "## A\n\nnew a\n");
        assert_eq!(mid, "# Benchmarks\n\n## A\n\nnew a\n\n## B\n\nb text\n");
        assert!(splice_section("", "## S", "## S\n\nx\n").starts_with("# Benchmarks\n\n## S"));
    }

    #[test]
    fn splice_into_an_empty_doc() {
        let out = splice("", MACHINE, &format!("{SECTION_TITLE}\n\nx\n"));
        assert!(out.starts_with("# Benchmarks\n"));
        assert!(out.contains("new machine") && out.contains(SECTION_TITLE));
    }

    #[test]
    fn summary_marks_unmeasured_rows() {
        let table = summary_table(&Results::default());
        assert_eq!(table.lines().count(), 2 + 7);
        assert!(table.contains("not measured"));
    }
}
