//! The connection test (`/connectivity`): what its checks found, in plain words. This module is pure (all
//! targets, unit-tested natively): it turns the raw observations of the browser probes (`components::probe`,
//! hydrate only) into one [`Finding`] per row and an overall verdict.
//!
//! - camera and microphone: the device labels of the captured tracks ([`camera_finding`]); errors use
//!   `rtc::media::MediaError`'s wording, as on Go Live and the room pre-join screen;
//! - the signaling WebSocket (`/ws`): what happened to a one-shot connection ([`WsOutcome`] →
//!   [`websocket_finding`]);
//! - STUN/TURN: the ICE candidates and `icecandidateerror` events of a throw-away `RTCPeerConnection`
//!   ([`IceOutcome`] → [`ice_findings`]): host candidates mean direct connections, server-reflexive ones a
//!   public address found through STUN, relay ones a reachable TURN relay.
//!
//! Standards: candidate lines as in RFC 8839 §5.1 (`candidate-attribute`), candidate types of RFC 8445 §5.1.1,
//! STUN/TURN error codes of RFC 8489 §14.8 and RFC 8656 §18, and the 7xx codes of W3C webrtc-pc
//! (`RTCPeerConnectionIceErrorEvent`: 701 = the server could not be reached).

pub mod components;

use crate::rtc::IceServer;

/// Where to log in and come back here (the login page honours local `next` paths).
pub const LOGIN_HREF: &str = "/login?next=/connectivity";
/// How long the WebSocket check waits for `welcome` and then `pong`, in seconds.
pub const WS_TIMEOUT_SECS: u32 = 10;
/// How long candidate gathering may take before the ICE check reports what it has, in seconds.
pub const ICE_TIMEOUT_SECS: u32 = 10;
/// A signaling round trip longer than this (milliseconds) is reported as a warning.
pub const SLOW_ROUND_TRIP_MS: f64 = 500.0;

/// The state of one row (and of the overall verdict).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not started yet.
    Waiting,
    /// In progress.
    Running,
    /// Works.
    Ok,
    /// Works with limits, or could not be tested; the message says what to do.
    Warning,
    /// Does not work; the message says what to do.
    Failed,
}

impl Status {
    /// The badge text: "Waiting", "Running…", "OK", "Warning", "Failed".
    pub fn label(self) -> &'static str {
        match self {
            Status::Waiting => "Waiting",
            Status::Running => "Running…",
            Status::Ok => "OK",
            Status::Warning => "Warning",
            Status::Failed => "Failed",
        }
    }

    /// Lower-case key for `data-status` attributes and CSS: `waiting`, `running`, `ok`, `warning`, `failed`.
    pub fn key(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Running => "running",
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failed => "failed",
        }
    }

    /// Severity for the verdict: `Failed` > `Warning` > `Ok` (`Waiting`/`Running` rank lowest).
    fn severity(self) -> u8 {
        match self {
            Status::Waiting | Status::Running => 0,
            Status::Ok => 1,
            Status::Warning => 2,
            Status::Failed => 3,
        }
    }
}

/// A link a row offers, e.g. "Log in" → [`LOGIN_HREF`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Link text.
    pub label: &'static str,
    /// Local path.
    pub href: &'static str,
}

/// What one check found: a status, one sentence a person can act on, optional detail lines (device
/// names, per-server results) and an optional link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub status: Status,
    /// One or two plain sentences.
    pub message: String,
    /// Extra lines, shown smaller below the message.
    pub details: Vec<String>,
    pub link: Option<Link>,
}

impl Finding {
    /// A finding without details or link.
    pub fn new(status: Status, message: impl Into<String>) -> Finding {
        Finding { status, message: message.into(), details: Vec::new(), link: None }
    }

    /// A [`Status::Failed`] finding with `message`, e.g. a `MediaError`'s text.
    pub fn failed(message: impl Into<String>) -> Finding {
        Finding::new(Status::Failed, message)
    }

    fn with_details(mut self, details: Vec<String>) -> Finding {
        self.details = details;
        self
    }

    fn with_link(mut self, link: Link) -> Finding {
        self.link = Some(link);
        self
    }
}

/// The rows before "Start test": what each will check.
pub mod waiting {
    use super::{Finding, Status};

    /// Camera and microphone row.
    pub fn camera() -> Finding {
        Finding::new(Status::Waiting, "Starts your camera and microphone; the browser asks for permission first.")
    }
    /// WebSocket row.
    pub fn websocket() -> Finding {
        Finding::new(Status::Waiting, "Connects to the OnAir server the way calls and live streams do.")
    }
    /// Direct connections row.
    pub fn direct() -> Finding {
        Finding::new(Status::Waiting, "Looks for the local network addresses calls can use directly.")
    }
    /// STUN row.
    pub fn stun() -> Finding {
        Finding::new(Status::Waiting, "Asks the STUN server for this network's public address.")
    }
    /// TURN row.
    pub fn turn() -> Finding {
        Finding::new(Status::Waiting, "Checks the TURN relay that carries calls when direct connections fail.")
    }
}

/// The camera row after a successful capture: `video` and `audio` are the labels of the captured tracks
/// (`MediaStreamTrack.label`), `None` when the stream has no such track. Failed without a camera track,
/// a warning without a microphone track.
pub fn camera_finding(video: Option<&str>, audio: Option<&str>) -> Finding {
    let name =
        |label: &str| if label.trim().is_empty() { "unnamed device".to_string() } else { label.trim().to_string() };
    let mut details = Vec::new();
    if let Some(v) = video {
        details.push(format!("Camera: {}", name(v)));
    }
    if let Some(a) = audio {
        details.push(format!("Microphone: {}", name(a)));
    }
    let finding = match (video, audio) {
        (Some(_), Some(_)) => Finding::new(Status::Ok, "Your camera and microphone work: you should see yourself below."),
        (None, _) => Finding::failed(
            "The browser gave no camera picture. Connect a camera (or close apps that use it) and run the test again.",
        ),
        (Some(_), None) => Finding::new(
            Status::Warning,
            "Your camera works, but no microphone was found: others will not hear you. Connect one and run the test again.",
        ),
    };
    finding.with_details(details)
}

/// What happened to the one-shot `/ws` connection.
#[derive(Clone, Debug, PartialEq)]
pub enum WsOutcome {
    /// Not tried: the signaling server accepts only signed-in users.
    SignedOut,
    /// `new WebSocket(url)` threw (e.g. a blocked scheme); the text says why.
    Unavailable(String),
    /// `welcome` arrived and the `ping` was answered after `round_trip_ms` milliseconds.
    Connected { round_trip_ms: f64 },
    /// `welcome` arrived but no `pong` within the timeout.
    NoPong,
    /// Nothing arrived within the timeout (the socket stayed in CONNECTING or was silent).
    TimedOut,
    /// The socket closed before the check finished: `code` and `reason` of the `CloseEvent` (1006 when the
    /// upgrade was refused or the network dropped it), `welcomed` whether `welcome` had arrived.
    Closed { code: u16, reason: String, welcomed: bool },
}

/// The WebSocket row for `outcome` (timeouts as [`WS_TIMEOUT_SECS`]).
pub fn websocket_finding(outcome: &WsOutcome) -> Finding {
    let blocked = "A firewall, proxy or browser extension may block WebSocket connections: try another network, \
                   or ask your IT department to allow WebSockets to this site.";
    match outcome {
        WsOutcome::SignedOut => Finding::new(
            Status::Warning,
            "Not tested: the server accepts connections only from signed-in users. Log in and run the test again.",
        )
        .with_link(Link { label: "Log in", href: LOGIN_HREF }),
        WsOutcome::Unavailable(why) => {
            Finding::failed(format!("This browser could not open a WebSocket ({why}). Try another browser."))
        }
        WsOutcome::Connected { round_trip_ms } => {
            let ms = round_trip_ms.max(0.0).round();
            if *round_trip_ms > SLOW_ROUND_TRIP_MS {
                Finding::new(
                    Status::Warning,
                    format!(
                        "Connected to the server, but slowly (a round trip took {ms} ms): calls may take a while to \
                         start. A wired or stronger connection helps."
                    ),
                )
            } else {
                Finding::new(Status::Ok, format!("Connected to the server (round trip {ms} ms)."))
            }
        }
        WsOutcome::NoPong => Finding::failed(format!(
            "Connected, but the server did not answer within {WS_TIMEOUT_SECS} seconds. The network may be \
             very slow or a proxy holds messages back: try another network."
        )),
        WsOutcome::TimedOut => {
            Finding::failed(format!("The server did not answer within {WS_TIMEOUT_SECS} seconds. {blocked}"))
        }
        WsOutcome::Closed { code, reason, welcomed } => {
            let reason = reason.trim();
            let why = if reason.is_empty() { format!("code {code}") } else { format!("code {code}: {reason}") };
            match (*code, *welcomed) {
                (1001, _) => {
                    Finding::failed(format!("The server is restarting ({why}). Run the test again in a minute."))
                }
                (_, false) => Finding::failed(format!("Could not connect to the server ({why}). {blocked}"))
                    .with_details(vec![
                        "If you logged in long ago, log in again: an expired session is refused too.".to_string()
                    ]),
                (_, true) => Finding::failed(format!(
                    "The connection dropped right after it opened ({why}). A proxy or an unstable network may \
                     cut it: try another network."
                )),
            }
        }
    }
}

/// An ICE candidate type (RFC 8445 §5.1.1; the `typ` of a candidate line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CandidateType {
    /// `host`: an address of this device (or its mDNS `.local` name).
    Host,
    /// `srflx`: the public address a STUN (or TURN) server saw.
    ServerReflexive,
    /// `prflx`: learned from a peer during checks (not expected while gathering alone).
    PeerReflexive,
    /// `relay`: an address allocated on a TURN server.
    Relay,
}

/// One parsed candidate line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub kind: CandidateType,
    /// Lower-case transport: `udp` or `tcp`.
    pub transport: String,
    /// `connection-address`: an IP address or an mDNS `.local` name.
    pub address: String,
    pub port: u16,
}

/// Parses `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...`
/// (RFC 8839 §5.1), with or without a leading `a=`, as `RTCIceCandidate.candidate` gives it. `None` for
/// anything else (an empty end-of-candidates string, a malformed line, an unknown type).
pub fn parse_candidate(line: &str) -> Option<Candidate> {
    let line = line.trim();
    let line = line.strip_prefix("a=").unwrap_or(line);
    let rest = line.strip_prefix("candidate:")?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let [_foundation, _component, transport, _priority, address, port, typ, kind, ..] = fields.as_slice() else {
        return None;
    };
    if *typ != "typ" {
        return None;
    }
    let kind = match *kind {
        "host" => CandidateType::Host,
        "srflx" => CandidateType::ServerReflexive,
        "prflx" => CandidateType::PeerReflexive,
        "relay" => CandidateType::Relay,
        _ => return None,
    };
    Some(Candidate {
        kind,
        transport: transport.to_ascii_lowercase(),
        address: (*address).to_string(),
        port: port.parse().ok()?,
    })
}

/// A candidate as gathered: the parsed line and the STUN/TURN URL that produced it
/// (`RTCPeerConnectionIceEvent.url`; `None` for host candidates or when the browser does not say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gathered {
    pub candidate: Candidate,
    pub url: Option<String>,
}

/// One `icecandidateerror` event: `errorCode` (STUN/TURN code, or 7xx from webrtc-pc), `errorText` and the
/// server `url` it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceError {
    pub code: u16,
    pub text: String,
    pub url: String,
}

/// What gathering produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IceOutcome {
    pub candidates: Vec<Gathered>,
    pub errors: Vec<IceError>,
    /// Whether gathering finished (`iceGatheringState` `complete`) before [`ICE_TIMEOUT_SECS`].
    pub completed: bool,
}

/// The three ICE rows: direct connections (host candidates), STUN (server-reflexive), TURN (relay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceFindings {
    pub direct: Finding,
    pub stun: Finding,
    pub turn: Finding,
}

/// The kind of server a URL names (RFC 7064 `stun:`/`stuns:`, RFC 7065 `turn:`/`turns:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Stun,
    Turn,
}

/// The kind of `url` by its scheme (case-insensitive); `None` for other schemes.
pub fn server_kind(url: &str) -> Option<ServerKind> {
    let scheme = url.trim().split(':').next()?.to_ascii_lowercase();
    match scheme.as_str() {
        "stun" | "stuns" => Some(ServerKind::Stun),
        "turn" | "turns" => Some(ServerKind::Turn),
        _ => None,
    }
}

/// Whether two server URLs name the same server: equal after trimming, with the scheme compared
/// case-insensitively (browsers report the URL as configured).
fn same_url(a: &str, b: &str) -> bool {
    let split = |u: &str| {
        let u = u.trim();
        match u.split_once(':') {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest.to_string()),
            None => (String::new(), u.to_string()),
        }
    };
    split(a) == split(b)
}

/// A STUN/TURN error code in plain words: `"error 401: credentials refused"`. Codes from RFC 8489 §14.8,
/// RFC 8656 §18 and webrtc-pc (701: not reachable); others use the browser's `text`.
pub fn error_words(code: u16, text: &str) -> String {
    let words = match code {
        300 => "told to use another server",
        400 => "the server did not understand the request",
        401 => "credentials refused",
        403 => "forbidden by the server",
        420 => "unknown attribute",
        437 => "allocation mismatch",
        438 => "stale nonce",
        440 => "address family not supported",
        441 => "wrong credentials",
        442 => "transport not supported by the server",
        486 => "the server's allocation quota is used up",
        500 => "server error",
        508 => "the server is out of capacity",
        700..=799 => "no answer from the server",
        _ if !text.trim().is_empty() => text.trim(),
        _ => "unknown error",
    };
    format!("error {code}: {words}")
}

/// Orders errors for display: a refusal (4xx/5xx) says more than "no answer" (7xx), which some local
/// interfaces report even when another one reaches the server; 438 (stale nonce) is retried by the browser.
fn error_rank(code: u16) -> u8 {
    match code {
        438 => 0,
        700..=799 => 1,
        _ => 2,
    }
}

/// What happened for one configured server URL: `Ok(address)` of the first candidate of `kind` it gave,
/// or `Err(sentence)` saying why none came.
fn server_result(url: &str, kind: CandidateType, outcome: &IceOutcome) -> Result<String, String> {
    if let Some(g) = outcome
        .candidates
        .iter()
        .find(|g| g.candidate.kind == kind && g.url.as_deref().is_some_and(|u| same_url(u, url)))
    {
        return Ok(format!("{} ({})", g.candidate.address, g.candidate.transport));
    }
    let worst = outcome.errors.iter().filter(|e| same_url(&e.url, url)).max_by_key(|e| error_rank(e.code));
    match worst {
        Some(e) => Err(error_words(e.code, &e.text)),
        None if outcome.completed => Err("no answer".to_string()),
        None => Err(format!("no answer within {ICE_TIMEOUT_SECS} s")),
    }
}

/// Classifies a gathering `outcome` against the `servers` the page was given (from `live::ice_servers`).
/// `signed_in`: TURN credentials are only issued to signed-in users, so without TURN servers a signed-out
/// visitor is told to log in rather than that TURN is not configured.
///
/// - direct: OK with any host candidate, failed without (WebRTC blocked by a setting, extension or policy);
/// - STUN: OK with a server-reflexive candidate from a `stun:` URL (or one the browser did not attribute),
///   a warning when no STUN server is configured or none answered;
/// - TURN: OK with a relay candidate, failed when configured but no relay came (with the error in words),
///   a warning when not configured.
///
/// Each configured URL gets a detail line; the message names the first error.
pub fn ice_findings(servers: &[IceServer], outcome: &IceOutcome, signed_in: bool) -> IceFindings {
    let urls: Vec<&str> = servers.iter().flat_map(|s| s.urls.iter().map(String::as_str)).collect();
    let stun_urls: Vec<&str> = urls.iter().copied().filter(|u| server_kind(u) == Some(ServerKind::Stun)).collect();
    let turn_urls: Vec<&str> = urls.iter().copied().filter(|u| server_kind(u) == Some(ServerKind::Turn)).collect();
    let of_kind = |kind: CandidateType| outcome.candidates.iter().filter(move |g| g.candidate.kind == kind);

    // Direct connections: host candidates.
    let hosts: Vec<&Gathered> = of_kind(CandidateType::Host).collect();
    let direct = if hosts.is_empty() {
        Finding::failed(
            "Direct connections on this network: no. The browser offered no local address: a browser setting, \
             extension or company policy may block WebRTC. Try another browser, or ask your IT department.",
        )
    } else {
        let mut transports: Vec<&str> = hosts.iter().map(|g| g.candidate.transport.as_str()).collect();
        transports.sort_unstable();
        transports.dedup();
        let hidden = hosts.iter().any(|g| g.candidate.address.ends_with(".local"));
        let mut details = vec![format!(
            "{} local address{} ({})",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "es" },
            transports.join(", ").to_uppercase()
        )];
        if hidden {
            details.push("The browser hides local addresses behind .local names for privacy; that is normal.".into());
        }
        Finding::new(
            Status::Ok,
            "Direct connections on this network: yes. Calls with people on the same network can connect directly.",
        )
        .with_details(details)
    };

    // STUN: server-reflexive candidates from a stun: URL.
    let stun = if stun_urls.is_empty() {
        Finding::new(
            Status::Warning,
            "Public address found through STUN: no (no STUN server is configured). Calls with people on other \
             networks may fail; the site's operator can configure one.",
        )
    } else {
        let results: Vec<(&str, Result<String, String>)> =
            stun_urls.iter().map(|u| (*u, server_result(u, CandidateType::ServerReflexive, outcome))).collect();
        let unattributed = of_kind(CandidateType::ServerReflexive).find(|g| g.url.is_none());
        let mut details: Vec<String> = results
            .iter()
            .map(|(url, r)| match r {
                Ok(addr) => format!("{url}: public address {addr}"),
                Err(why) => format!("{url}: {why}"),
            })
            .collect();
        if let Some(g) = unattributed {
            details.push(format!("public address {} ({})", g.candidate.address, g.candidate.transport));
        }
        if results.iter().any(|(_, r)| r.is_ok()) || unattributed.is_some() {
            Finding::new(
                Status::Ok,
                "Public address found through STUN: yes. Calls with people on other networks can usually connect.",
            )
            .with_details(details)
        } else {
            let why = results.iter().find_map(|(_, r)| r.clone().err()).unwrap_or_else(|| "no answer".into());
            Finding::new(
                Status::Warning,
                format!(
                    "Public address found through STUN: no ({why}). This network may block UDP: calls with people \
                     on other networks need the TURN relay."
                ),
            )
            .with_details(details)
        }
    };

    // TURN: relay candidates.
    let turn = if turn_urls.is_empty() {
        if signed_in {
            Finding::new(
                Status::Warning,
                "TURN relay: not configured — calls from strict networks may fail (some offices, schools and \
                 mobile carriers block direct connections). The site's operator can configure one.",
            )
        } else {
            Finding::new(
                Status::Warning,
                "TURN relay: not tested — relay credentials are given only to signed-in users. Log in and run \
                 the test again.",
            )
            .with_link(Link { label: "Log in", href: LOGIN_HREF })
        }
    } else {
        let results: Vec<(&str, Result<String, String>)> =
            turn_urls.iter().map(|u| (*u, server_result(u, CandidateType::Relay, outcome))).collect();
        let unattributed = of_kind(CandidateType::Relay).find(|g| g.url.is_none());
        let mut details: Vec<String> = results
            .iter()
            .map(|(url, r)| match r {
                Ok(addr) => format!("{url}: reachable, relay address {addr}"),
                Err(why) => format!("{url}: not reachable ({why})"),
            })
            .collect();
        if let Some(g) = unattributed {
            details.push(format!("relay address {} ({})", g.candidate.address, g.candidate.transport));
        }
        if results.iter().any(|(_, r)| r.is_ok()) || unattributed.is_some() {
            let all = results.iter().all(|(_, r)| r.is_ok()) || results.is_empty();
            let message = if all {
                "TURN relay: reachable. Calls work even from networks that block direct connections.".to_string()
            } else {
                "TURN relay: reachable (some of its addresses are not; see below). Calls work even from networks \
                 that block direct connections."
                    .to_string()
            };
            Finding::new(Status::Ok, message).with_details(details)
        } else {
            let first = results.iter().find_map(|(_, r)| r.clone().err()).unwrap_or_else(|| "no answer".into());
            let hint = if first.starts_with("error 401") || first.starts_with("error 441") {
                " Reload the page and run the test again; if it stays, tell the site's operator (the relay's \
                 secret may not match)."
            } else {
                " This network may block it; try another network, or tell the site's operator."
            };
            Finding::failed(format!("TURN relay: not reachable ({first}) — calls from strict networks may fail.{hint}"))
                .with_details(details)
        }
    };

    IceFindings { direct, stun, turn }
}

/// The verdict at the top of the page over all rows: waiting before the first run (`started` false),
/// running while any row waits or runs, else the worst status with one sentence.
pub fn verdict(rows: &[&Finding], started: bool) -> Finding {
    if !started {
        return Finding::new(
            Status::Waiting,
            "Click Start test to check your camera, microphone and network. Your browser will ask for camera and \
             microphone access; nothing is shown to anyone else.",
        );
    }
    if rows.iter().any(|r| matches!(r.status, Status::Waiting | Status::Running)) {
        return Finding::new(Status::Running, "Testing… this takes up to half a minute.");
    }
    let worst = rows.iter().map(|r| r.status).max_by_key(|s| s.severity()).unwrap_or(Status::Ok);
    let message = match worst {
        Status::Failed => {
            "Some checks failed: calls and live streams may not work from this device or network. See below for \
             what to do."
        }
        Status::Warning => "Calls should work, with limits: see the warnings below.",
        _ => "All checks passed: calls and live streams should work from this device and network.",
    };
    Finding::new(worst, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gathered(line: &str, url: Option<&str>) -> Gathered {
        Gathered { candidate: parse_candidate(line).expect("valid line"), url: url.map(str::to_string) }
    }

    const HOST: &str = "candidate:1 1 udp 2122260223 3f1c7a2e-1b5d-4c2a-9a3e-5f7d1c2b3a4e.local 54400 typ host generation 0 ufrag abcd network-id 1";
    const HOST_TCP: &str = "candidate:2 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active generation 0";
    const SRFLX: &str = "candidate:3 1 udp 1686052607 203.0.113.5 61000 typ srflx raddr 0.0.0.0 rport 0 generation 0";
    const RELAY: &str = "candidate:4 1 udp 41885439 198.51.100.7 50123 typ relay raddr 203.0.113.5 rport 61000";

    fn server(urls: &[&str], turn: bool) -> IceServer {
        IceServer {
            urls: urls.iter().map(|u| u.to_string()).collect(),
            username: turn.then(|| "1700000000:ada".into()),
            credential: turn.then(|| "c2VjcmV0".into()),
        }
    }

    #[test]
    fn parses_candidate_lines_of_each_type() {
        let host = parse_candidate(HOST).unwrap();
        assert_eq!(host.kind, CandidateType::Host);
        assert_eq!(host.transport, "udp");
        assert!(host.address.ends_with(".local"));
        assert_eq!(host.port, 54400);
        assert_eq!(parse_candidate(HOST_TCP).unwrap().transport, "tcp");
        assert_eq!(parse_candidate(SRFLX).unwrap().kind, CandidateType::ServerReflexive);
        let relay = parse_candidate(&format!("a={RELAY}")).unwrap();
        assert_eq!((relay.kind, relay.address.as_str(), relay.port), (CandidateType::Relay, "198.51.100.7", 50123));
        assert_eq!(
            parse_candidate("candidate:5 1 UDP 1 10.0.0.1 1 typ prflx").unwrap().kind,
            CandidateType::PeerReflexive
        );
    }

    #[test]
    fn rejects_what_is_not_a_candidate_line() {
        for bad in [
            "",
            "candidate:",
            "foo:1 1 udp 1 1.2.3.4 5 typ host",
            "candidate:1 1 udp 1 1.2.3.4 5 type host",
            "candidate:1 1 udp 1 1.2.3.4 5 typ wormhole",
            "candidate:1 1 udp 1 1.2.3.4 port typ host",
            "candidate:1 1 udp 1 1.2.3.4 70000 typ host",
        ] {
            assert_eq!(parse_candidate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn server_kinds_by_scheme() {
        assert_eq!(server_kind("stun:stun.example.com:3478"), Some(ServerKind::Stun));
        assert_eq!(server_kind("STUN:stun.example.com"), Some(ServerKind::Stun));
        assert_eq!(server_kind("turn:turn.example.com:3478?transport=udp"), Some(ServerKind::Turn));
        assert_eq!(server_kind("turns:turn.example.com:443?transport=tcp"), Some(ServerKind::Turn));
        assert_eq!(server_kind("https://example.com"), None);
        assert!(same_url("TURN:t.example.com:3478", " turn:t.example.com:3478"));
        assert!(!same_url("turn:t.example.com:3478", "turn:t.example.com:3479"));
    }

    #[test]
    fn error_codes_in_plain_words() {
        assert_eq!(error_words(401, "Unauthorized"), "error 401: credentials refused");
        assert_eq!(error_words(701, "STUN host lookup received error."), "error 701: no answer from the server");
        assert_eq!(error_words(486, ""), "error 486: the server's allocation quota is used up");
        assert_eq!(error_words(499, "Something odd"), "error 499: Something odd");
        assert_eq!(error_words(499, " "), "error 499: unknown error");
    }

    #[test]
    fn host_only_without_servers_is_direct_yes_and_not_configured() {
        let outcome = IceOutcome {
            candidates: vec![gathered(HOST, None), gathered(HOST_TCP, None)],
            errors: vec![],
            completed: true,
        };
        let f = ice_findings(&[], &outcome, true);
        assert_eq!(f.direct.status, Status::Ok);
        assert!(f.direct.message.starts_with("Direct connections on this network: yes"));
        assert_eq!(f.direct.details[0], "2 local addresses (TCP, UDP)");
        assert!(f.direct.details[1].contains(".local"));
        assert_eq!(f.stun.status, Status::Warning);
        assert!(f.stun.message.starts_with("Public address found through STUN: no (no STUN server is configured)"));
        assert_eq!(f.turn.status, Status::Warning);
        assert!(f.turn.message.starts_with("TURN relay: not configured"), "{}", f.turn.message);
        assert!(f.turn.message.contains("strict networks may fail"));
        assert_eq!(f.turn.link, None);
    }

    #[test]
    fn signed_out_without_turn_is_asked_to_log_in() {
        let outcome = IceOutcome { candidates: vec![gathered(HOST, None)], errors: vec![], completed: true };
        let f = ice_findings(&[], &outcome, false);
        assert!(f.turn.message.starts_with("TURN relay: not tested"));
        assert_eq!(f.turn.link, Some(Link { label: "Log in", href: LOGIN_HREF }));
    }

    #[test]
    fn no_host_candidate_means_webrtc_is_blocked() {
        let f = ice_findings(&[], &IceOutcome { completed: true, ..Default::default() }, true);
        assert_eq!(f.direct.status, Status::Failed);
        assert!(f.direct.message.starts_with("Direct connections on this network: no"));
    }

    #[test]
    fn everything_gathered_per_server() {
        let servers = [server(&["stun:stun.example.com:3478"], false), server(&["turn:turn.example.com:3478"], true)];
        let outcome = IceOutcome {
            candidates: vec![
                gathered(HOST, None),
                gathered(SRFLX, Some("stun:stun.example.com:3478")),
                gathered(RELAY, Some("turn:turn.example.com:3478")),
            ],
            // A 701 from another interface does not spoil a server that answered.
            errors: vec![IceError { code: 701, text: "timeout".into(), url: "stun:stun.example.com:3478".into() }],
            completed: true,
        };
        let f = ice_findings(&servers, &outcome, true);
        assert_eq!(f.stun.status, Status::Ok);
        assert!(f.stun.message.starts_with("Public address found through STUN: yes"));
        assert_eq!(f.stun.details, vec!["stun:stun.example.com:3478: public address 203.0.113.5 (udp)".to_string()]);
        assert_eq!(f.turn.status, Status::Ok);
        assert!(f.turn.message.starts_with("TURN relay: reachable."));
        assert_eq!(
            f.turn.details,
            vec!["turn:turn.example.com:3478: reachable, relay address 198.51.100.7 (udp)".to_string()]
        );
        let v = verdict(&[&f.direct, &f.stun, &f.turn], true);
        assert_eq!(v.status, Status::Ok);
    }

    #[test]
    fn refused_credentials_say_401_in_words() {
        let servers = [server(&["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443"], true)];
        let outcome = IceOutcome {
            candidates: vec![gathered(HOST, None)],
            errors: vec![
                IceError { code: 701, text: "x".into(), url: "turn:turn.example.com:3478?transport=udp".into() },
                IceError {
                    code: 401,
                    text: "Unauthorized".into(),
                    url: "turn:turn.example.com:3478?transport=udp".into(),
                },
            ],
            completed: false,
        };
        let f = ice_findings(&servers, &outcome, true);
        assert_eq!(f.turn.status, Status::Failed);
        assert!(
            f.turn.message.starts_with(
                "TURN relay: not reachable (error 401: credentials refused) — calls from strict networks may fail."
            ),
            "{}",
            f.turn.message
        );
        assert!(f.turn.message.contains("Reload the page"));
        assert_eq!(
            f.turn.details,
            vec![
                "turn:turn.example.com:3478?transport=udp: not reachable (error 401: credentials refused)".to_string(),
                format!("turns:turn.example.com:443: not reachable (no answer within {ICE_TIMEOUT_SECS} s)"),
            ]
        );
        // A configured STUN server that never answered is a warning, not a failure.
        let stun_only = [server(&["stun:stun.example.com:3478"], false)];
        let f = ice_findings(
            &stun_only,
            &IceOutcome { candidates: vec![gathered(HOST, None)], ..Default::default() },
            true,
        );
        assert_eq!(f.stun.status, Status::Warning);
        assert!(f
            .stun
            .message
            .starts_with(&format!("Public address found through STUN: no (no answer within {ICE_TIMEOUT_SECS} s)")));
    }

    #[test]
    fn unattributed_candidates_still_count() {
        let servers = [server(&["stun:s.example.com"], false), server(&["turn:t.example.com"], true)];
        let outcome = IceOutcome {
            candidates: vec![gathered(HOST, None), gathered(SRFLX, None), gathered(RELAY, None)],
            errors: vec![],
            completed: true,
        };
        let f = ice_findings(&servers, &outcome, true);
        assert_eq!((f.stun.status, f.turn.status), (Status::Ok, Status::Ok));
    }

    #[test]
    fn websocket_outcomes_in_plain_words() {
        let ok = websocket_finding(&WsOutcome::Connected { round_trip_ms: 12.4 });
        assert_eq!((ok.status, ok.message.as_str()), (Status::Ok, "Connected to the server (round trip 12 ms)."));
        let slow = websocket_finding(&WsOutcome::Connected { round_trip_ms: 900.0 });
        assert_eq!(slow.status, Status::Warning);
        assert!(slow.message.contains("900 ms"));
        let out = websocket_finding(&WsOutcome::SignedOut);
        assert_eq!(out.status, Status::Warning);
        assert!(out.message.contains("Log in"));
        assert_eq!(out.link.map(|l| l.href), Some("/login?next=/connectivity"));
        let refused = websocket_finding(&WsOutcome::Closed { code: 1006, reason: String::new(), welcomed: false });
        assert_eq!(refused.status, Status::Failed);
        assert!(refused.message.starts_with("Could not connect to the server (code 1006)."));
        assert!(refused.message.contains("firewall"));
        let restart =
            websocket_finding(&WsOutcome::Closed { code: 1001, reason: "server shutting down".into(), welcomed: true });
        assert!(restart.message.contains("restarting (code 1001: server shutting down)"));
        let dropped = websocket_finding(&WsOutcome::Closed { code: 4001, reason: String::new(), welcomed: true });
        assert!(dropped.message.starts_with("The connection dropped right after it opened (code 4001)."));
        assert_eq!(websocket_finding(&WsOutcome::TimedOut).status, Status::Failed);
        assert_eq!(websocket_finding(&WsOutcome::NoPong).status, Status::Failed);
    }

    #[test]
    fn camera_rows_name_the_devices() {
        let f = camera_finding(Some("fake_device_0"), Some("Fake Default Audio Input"));
        assert_eq!(f.status, Status::Ok);
        assert_eq!(
            f.details,
            vec!["Camera: fake_device_0".to_string(), "Microphone: Fake Default Audio Input".to_string()]
        );
        assert_eq!(camera_finding(Some("Cam"), None).status, Status::Warning);
        assert_eq!(camera_finding(None, Some("Mic")).status, Status::Failed);
        assert_eq!(camera_finding(Some(" "), Some("Mic")).details[0], "Camera: unnamed device");
    }

    #[test]
    fn verdict_is_the_worst_row() {
        let ok = Finding::new(Status::Ok, "");
        let warn = Finding::new(Status::Warning, "");
        let bad = Finding::failed("");
        let running = Finding::new(Status::Running, "");
        assert_eq!(verdict(&[&ok, &warn], false).status, Status::Waiting);
        assert_eq!(verdict(&[&ok, &running], true).status, Status::Running);
        assert_eq!(verdict(&[&ok, &ok], true).status, Status::Ok);
        assert_eq!(verdict(&[&ok, &warn, &ok], true).status, Status::Warning);
        assert_eq!(verdict(&[&warn, &bad, &ok], true).status, Status::Failed);
    }
}
