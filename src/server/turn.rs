//! Ephemeral TURN credentials by the TURN REST API (draft-uberti-behave-turn-rest-00), as coturn checks them
//! with `use-auth-secret` / `static-auth-secret`: the username is `"<expiry unix seconds>:<user id>"` and the
//! password `base64(HMAC-SHA1(secret, username))`. The shared secret stays on the server: [`TurnSecret`]
//! implements neither `Serialize` nor a revealing `Debug`.

use crate::rtc::IceServer;
use crate::server::config::Config;
use crate::signaling::protocol::IceConfig;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Longest lifetime of issued credentials, in seconds (1 hour).
pub const MAX_TTL_SECS: u64 = 3600;

/// The secret shared with the TURN server. Never serialized; `Debug` prints `TurnSecret(<redacted>)`.
#[derive(Clone)]
pub struct TurnSecret(String);

impl TurnSecret {
    /// Wraps the configured secret; `None` for an empty one.
    pub fn new(secret: impl Into<String>) -> Option<Self> {
        let secret = secret.into();
        (!secret.is_empty()).then_some(Self(secret))
    }
}

impl std::fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TurnSecret(<redacted>)")
    }
}

/// One set of TURN credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnCredentials {
    /// `"<expiry>:<user>"`.
    pub username: String,
    /// `base64(HMAC-SHA1(secret, username))`.
    pub credential: String,
    /// When they stop working, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Credentials for `user` (any string without `:`; we use the account's UUID) valid from `now` (Unix
/// seconds) for `ttl_secs`, capped at [`MAX_TTL_SECS`].
pub fn credentials(secret: &TurnSecret, user: &str, now: u64, ttl_secs: u64) -> TurnCredentials {
    let expires_at = now + ttl_secs.clamp(1, MAX_TTL_SECS);
    let username = format!("{expires_at}:{user}");
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.0.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    TurnCredentials { username, credential, expires_at }
}

/// The ICE servers for `user`'s peer connections, as of `now` (Unix seconds): the STUN URLs of
/// `--ice-servers` for everyone, plus, for `Some(user)` when a TURN secret is configured, the `--turn-urls`
/// with fresh credentials ([`credentials`], lifetime `ttl_secs` capped at [`MAX_TTL_SECS`]). Pass a user
/// only when they may use TURN (a member of a media room, or the signed-in user of the connection test);
/// `None` gives STUN only.
pub fn ice_config(config: &Config, user: Option<&str>, now: u64, ttl_secs: u64) -> IceConfig {
    let mut ice = IceConfig::default();
    if !config.ice_servers.is_empty() {
        ice.servers.push(IceServer { urls: config.ice_servers.clone(), username: None, credential: None });
    }
    if let (Some(secret), Some(user), false) = (&config.turn_secret, user, config.turn_urls.is_empty()) {
        let c = credentials(secret, user, now, ttl_secs);
        ice.expires_at_ms = Some(c.expires_at as i64 * 1000);
        ice.servers.push(IceServer {
            urls: config.turn_urls.clone(),
            username: Some(c.username),
            credential: Some(c.credential),
        });
    }
    ice
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // Computed independently: base64(HMAC-SHA1("coturn-shared-secret", username)).
        let secret = TurnSecret::new("coturn-shared-secret").unwrap();
        let c = credentials(&secret, "0190a000-0000-7000-8000-000000000001", 1_700_000_000, 3600);
        assert_eq!(c.username, "1700003600:0190a000-0000-7000-8000-000000000001");
        assert_eq!(c.credential, "T1u6gAsaXUXDVFkjSpWNm3K+lGI=");
        assert_eq!(c.expires_at, 1_700_003_600);
    }

    #[test]
    fn ice_config_hands_out_turn_only_with_a_secret() {
        let mut config = Config::for_tests("postgres://unused");
        assert_eq!(ice_config(&config, Some("u"), 100, 60), IceConfig::default());
        config.ice_servers = vec!["stun:stun.example.net:3478".into()];
        config.turn_urls = vec!["turn:turn.example.net:3478?transport=udp".into()];
        let stun_only = ice_config(&config, Some("u"), 100, 60);
        assert_eq!(stun_only.servers.len(), 1, "TURN URLs without a secret are not handed out");
        assert_eq!(stun_only.expires_at_ms, None);
        config.turn_secret = TurnSecret::new("coturn-shared-secret");
        let ice = ice_config(&config, Some("0190a000-0000-7000-8000-000000000001"), 1_700_000_000, 3600);
        assert_eq!(ice_config(&config, None, 1_700_000_000, 3600).servers.len(), 1, "no user: STUN only");
        assert_eq!(ice.expires_at_ms, Some(1_700_003_600_000));
        let turn = &ice.servers[1];
        assert_eq!(turn.username.as_deref(), Some("1700003600:0190a000-0000-7000-8000-000000000001"));
        assert_eq!(turn.credential.as_deref(), Some("T1u6gAsaXUXDVFkjSpWNm3K+lGI="));
        assert!(!serde_json::to_string(&ice).unwrap().contains("coturn-shared-secret"));
    }

    #[test]
    fn lifetime_is_capped_at_one_hour_and_the_secret_is_not_printed() {
        let secret = TurnSecret::new("s3cret").unwrap();
        let c = credentials(&secret, "u", 100, 86_400);
        assert_eq!(c.expires_at, 100 + MAX_TTL_SECS);
        assert!(!format!("{secret:?}").contains("s3cret"));
        assert!(TurnSecret::new("").is_none());
        // A different user or expiry gives a different credential.
        assert_ne!(credentials(&secret, "v", 100, 60).credential, credentials(&secret, "u", 100, 60).credential);
    }
}
