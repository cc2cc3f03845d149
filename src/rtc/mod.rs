//! WebRTC core of the browser: perfect negotiation as a pure state machine ([`negotiation`], all targets,
//! unit-tested natively), connection quality from stats numbers ([`quality`], pure), and the thin web-sys
//! layer around them ([`peer`]: one `RTCPeerConnection` with an optional data channel; [`media`]: camera,
//! microphone and screen capture; [`stats`]: `getStats()` reading), which exists only in the `hydrate` build.
//!
//! Standards followed: RFC 8829 (JSEP), RFC 8838 (trickle ICE), RFC 8445 (ICE, restart in §2.4), the W3C
//! webrtc-pc "perfect negotiation" example, and W3C Media Capture and Streams for `getUserMedia`.

use serde::{Deserialize, Serialize};

pub mod negotiation;
pub mod quality;

#[cfg(feature = "hydrate")]
pub mod media;
#[cfg(feature = "hydrate")]
pub mod peer;
#[cfg(feature = "hydrate")]
pub mod stats;

/// One STUN or TURN server as the server hands it to the browser: the JSON form of W3C webrtc-pc's
/// `RTCIceServer` dictionary.
///
/// `urls` are `stun:`/`turn:`/`turns:` URIs (RFC 7064, RFC 7065), e.g. `"turn:turn.example.com:3478?transport=udp"`.
/// `username` and `credential` are set for TURN only; with the TURN REST API draft they are a time-limited
/// `"<expiry unix seconds>:<user>"` and its base64 HMAC, so they are short-lived and safe to send to the
/// signed-in browser (the long-term TURN secret never leaves the server). Absent fields are omitted in JSON:
/// `{"urls":["stun:stun.example.com:3478"]}`.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// One or more `stun:`, `turn:` or `turns:` URIs for the same server.
    pub urls: Vec<String>,
    /// TURN username; `None` for STUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password (credential type `password`); `None` for STUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::IceServer;

    #[test]
    fn ice_server_json_omits_absent_credentials() {
        let stun = IceServer { urls: vec!["stun:stun.example.com:3478".into()], username: None, credential: None };
        let json = serde_json::to_value(&stun).unwrap();
        assert_eq!(json, serde_json::json!({"urls": ["stun:stun.example.com:3478"]}));
        let back: IceServer = serde_json::from_value(json).unwrap();
        assert_eq!(back, stun);

        let turn = IceServer {
            urls: vec!["turn:turn.example.com:3478?transport=udp".into()],
            username: Some("1700000000:ada".into()),
            credential: Some("c2VjcmV0".into()),
        };
        let json = serde_json::to_string(&turn).unwrap();
        assert_eq!(serde_json::from_str::<IceServer>(&json).unwrap(), turn);
    }
}
