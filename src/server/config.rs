//! Server configuration from command-line flags and environment variables (clap), with defaults that work
//! on one machine.

use clap::{Parser, ValueEnum};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Every setting of the server. Each flag has an environment variable; flags win over variables.
#[derive(Parser, Clone, Debug)]
#[command(name = "onair", version, about = "Live video platform: live shopping, proctoring and video rooms")]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "ONAIR_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// PostgreSQL URL. The database is created if missing and migrated at start-up.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/onair")]
    pub database_url: String,

    /// Most connections in the database pool.
    #[arg(long, env = "ONAIR_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// PEM file with the TLS certificate chain (leaf first). With `--tls-key`, the server serves HTTPS and
    /// WSS itself; the session cookie is then `Secure` and the default origins are `https://`.
    #[arg(long, env = "ONAIR_TLS_CERT", value_name = "PEM_FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1). Give both or neither.
    #[arg(long, env = "ONAIR_TLS_KEY", value_name = "PEM_FILE")]
    pub tls_key: Option<PathBuf>,

    /// Origins (scheme://host[:port]) allowed to open `/ws` and to call server functions cross-site,
    /// comma-separated. Default: `http://<bind>` and `http://localhost:<port>` (`https://` with TLS).
    #[arg(long, env = "ONAIR_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// ICE server URLs handed to browsers (`stun:host:port`, `turn:host:port?transport=udp`),
    /// comma-separated. Default: none, which works when all peers share one network.
    #[arg(long, env = "ONAIR_ICE_SERVERS", value_delimiter = ',')]
    pub ice_servers: Vec<String>,

    /// TURN server URLs (`turn:host:3478?transport=udp`, `turn:host:3478?transport=tcp`, `turns:host:443`),
    /// comma-separated. Used only with `--turn-secret`: signed-in users get short-lived credentials for them.
    #[arg(long, env = "ONAIR_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// The TURN server's shared secret (coturn `static-auth-secret` with `use-auth-secret`). Stays on the
    /// server; browsers get `expiry:user` + HMAC credentials (TURN REST API). Prefer the environment variable.
    #[arg(long, env = "ONAIR_TURN_SECRET", value_parser = parse_turn_secret, hide_env_values = true)]
    pub turn_secret: Option<crate::server::turn::TurnSecret>,

    /// Lifetime of issued TURN credentials, in seconds (at most 3600).
    #[arg(long, env = "ONAIR_TURN_TTL_SECS", default_value_t = 3600)]
    pub turn_ttl_secs: u64,

    /// How live streams reach their viewers: `sfu` (the seller sends once to this server's forwarding unit,
    /// which forwards to every viewer) or `p2p` (the seller's browser sends to each viewer itself, which caps
    /// a stream at a handful of viewers). With `sfu`, if the UDP port cannot be bound the server logs why
    /// and uses `p2p`. Rooms and proctoring are always peer-to-peer.
    #[arg(long, env = "ONAIR_LIVE_DELIVERY", value_enum, default_value_t = LiveDelivery::Sfu)]
    pub live_delivery: LiveDelivery,

    /// UDP address of the forwarding unit: one port carries all its WebRTC connections (ICE-lite, so open
    /// this port to viewers). Port 0 picks a free one.
    #[arg(long, env = "ONAIR_SFU_UDP", value_name = "IP:PORT", default_value = "0.0.0.0:3479")]
    pub sfu_udp: SocketAddr,

    /// The IP address browsers reach the forwarding unit at, put in its ICE candidate (the public address
    /// when the server is behind NAT or in a container). Default: the IP of `--sfu-udp`; when that is
    /// `0.0.0.0`, the address of the interface that routes outwards (else 127.0.0.1).
    #[arg(long, env = "ONAIR_SFU_ADVERTISE", value_name = "IP")]
    pub sfu_advertise: Option<IpAddr>,

    /// Bearer token that lets a client off this host read `GET /metrics` (`Authorization: Bearer <token>`);
    /// loopback clients never need it. Without it, only loopback clients may. Prefer the environment variable.
    #[arg(long, env = "ONAIR_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Folder with the built site (`pkg/` with the WASM, JS and CSS, plus public assets).
    #[arg(long, env = "ONAIR_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Create the demo accounts (and later the demo content) at start-up, and print their logins.
    #[arg(long, env = "ONAIR_DEMO")]
    pub demo: bool,

    /// Mark the session cookie `Secure` (set this behind an HTTPS proxy; implied by `--tls-cert`/`--tls-key`).
    #[arg(long, env = "ONAIR_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Log format: `text` or `json`.
    #[arg(long, env = "ONAIR_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Interval between WebSocket pings, in milliseconds.
    #[arg(long, env = "ONAIR_WS_PING_INTERVAL_MS", default_value_t = 15_000)]
    pub ws_ping_interval_ms: u64,

    /// A socket that sends nothing (not even a pong) for this long is dropped, in milliseconds.
    #[arg(long, env = "ONAIR_WS_IDLE_TIMEOUT_MS", default_value_t = 40_000)]
    pub ws_idle_timeout_ms: u64,

    /// Messages a connection's send queue holds before a slow reader is disconnected.
    #[arg(long, env = "ONAIR_WS_SEND_QUEUE", default_value_t = 256)]
    pub ws_send_queue: usize,

    /// How long a live stream waits for its seller's connection to come back before it ends by itself,
    /// in milliseconds.
    #[arg(long, env = "ONAIR_PUBLISHER_GRACE_MS", default_value_t = 30_000)]
    pub publisher_grace_ms: u64,

    /// Log-in attempts allowed per client IP address per minute.
    #[arg(long, env = "ONAIR_LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 10)]
    pub login_attempts_per_minute: u32,

    /// Chat messages one user may send per 5 seconds (a burst of this many, then one more every
    /// 5 s / this number).
    #[arg(long = "chat-messages-per-5s", env = "ONAIR_CHAT_MESSAGES_PER_5S", default_value_t = 5)]
    pub chat_messages_per_5s: u32,
    /// Offers to the forwarding unit (`sfu_signal` offers) one user may make per minute: a burst of this many,
    /// then one more every minute / this number. Each offer starts a WebRTC connection at the server; a page
    /// makes one when it opens, reconnects or retries.
    #[arg(long = "sfu-offers-per-minute", env = "ONAIR_SFU_OFFERS_PER_MINUTE", default_value_t = 30)]
    pub sfu_offers_per_minute: u32,
}

/// How live streams reach their viewers (`--live-delivery`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LiveDelivery {
    /// Through the server's forwarding unit (SFU).
    Sfu,
    /// Peer-to-peer from the seller's browser to each viewer.
    P2p,
}

impl Config {
    /// Configuration from the process's flags and environment (after loading `.env` if present).
    pub fn from_env_and_args() -> Self {
        let _ = dotenvy::dotenv();
        Self::parse()
    }

    /// Defaults for tests: bind to an ephemeral port and use `database_url`.
    pub fn for_tests(database_url: &str) -> Self {
        // Each test server gets its own forwarding unit on a free UDP port.
        Self::parse_from(["onair", "--bind", "127.0.0.1:0", "--database-url", database_url, "--sfu-udp", "127.0.0.1:0"])
    }

    /// The TLS certificate and key files: `Ok(None)` for plain HTTP, an error when only one of
    /// `--tls-cert`/`--tls-key` is given (see [`TlsFiles::from_flags`](crate::server::tls::TlsFiles::from_flags)).
    pub fn tls_files(&self) -> Result<Option<crate::server::tls::TlsFiles>, crate::server::tls::TlsError> {
        crate::server::tls::TlsFiles::from_flags(self.tls_cert.as_deref(), self.tls_key.as_deref())
    }

    /// Whether the server serves HTTPS/WSS itself (both `--tls-cert` and `--tls-key` given).
    pub fn serves_https(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Whether the session cookie is `Secure`: `--secure-cookies`, or the server serves HTTPS itself.
    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies || self.serves_https()
    }

    /// `https` when the server serves TLS itself, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.serves_https() {
            "https"
        } else {
            "http"
        }
    }

    /// The allowed origins, with the defaults filled in for `bind` (the actual bound address):
    /// `<scheme>://<bound>`, `<scheme>://localhost:<port>` and, when bound to all interfaces,
    /// `<scheme>://127.0.0.1:<port>`, with the scheme of [`Config::scheme`].
    pub fn origins_for(&self, bound: SocketAddr) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.iter().map(|o| o.trim().trim_end_matches('/').to_string()).collect();
        }
        let (scheme, port) = (self.scheme(), bound.port());
        let mut origins = vec![format!("{scheme}://{bound}"), format!("{scheme}://localhost:{port}")];
        if bound.ip().is_unspecified() {
            origins.push(format!("{scheme}://127.0.0.1:{port}"));
        }
        origins
    }
}

fn parse_turn_secret(value: &str) -> Result<crate::server::turn::TurnSecret, String> {
    crate::server::turn::TurnSecret::new(value).ok_or_else(|| "the TURN secret must not be empty".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from([&["onair"], args].concat()).unwrap()
    }

    #[test]
    fn plain_http_by_default() {
        let config = parse(&[]);
        assert!(!config.serves_https());
        assert!(!config.cookies_secure());
        assert_eq!(config.tls_files().unwrap(), None);
        let bound: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        assert_eq!(config.origins_for(bound), ["http://127.0.0.1:3000", "http://localhost:3000"]);
    }

    #[test]
    fn tls_flags_make_origins_https_and_cookies_secure() {
        let config = parse(&["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
        assert!(config.serves_https());
        assert!(config.cookies_secure());
        assert_eq!(config.scheme(), "https");
        assert!(config.tls_files().unwrap().is_some());
        let bound: SocketAddr = "0.0.0.0:3443".parse().unwrap();
        assert_eq!(
            config.origins_for(bound),
            ["https://0.0.0.0:3443", "https://localhost:3443", "https://127.0.0.1:3443"]
        );
        // Explicit origins still win.
        let config = parse(&["--tls-cert", "c", "--tls-key", "k", "--allowed-origins", "https://192.168.1.20:3443/"]);
        assert_eq!(config.origins_for(bound), ["https://192.168.1.20:3443"]);
    }

    #[test]
    fn one_tls_flag_alone_is_an_error() {
        let only_cert = parse(&["--tls-cert", "cert.pem"]);
        assert!(!only_cert.serves_https());
        let err = only_cert.tls_files().unwrap_err().to_string();
        assert!(err.contains("--tls-key"), "{err}");
        let err = parse(&["--tls-key", "key.pem"]).tls_files().unwrap_err().to_string();
        assert!(err.contains("--tls-cert"), "{err}");
    }
}
