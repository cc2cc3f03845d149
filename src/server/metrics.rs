//! `GET /metrics`: the server's metrics in the Prometheus/OpenMetrics text format (`prometheus-client`), read
//! at scrape time: `/ws` connections, and for each live stream published to the forwarding unit its
//! subscribers, the publisher's media bytes (their rate is its bitrate), forwarded frames and packets, NACKs,
//! keyframe requests and lagging subscribers, and per simulcast layer the publisher's bitrate and the
//! subscribers receiving it.
//!
//! Who may read it: clients on the loopback interface (a Prometheus or an agent on the same host) whose
//! request carries no `Forwarded`/`X-Forwarded-For` header (a reverse proxy on the same host relays outside
//! requests from loopback too), and anyone sending `Authorization: Bearer <--metrics-token>` when that is set;
//! everyone else gets 403.

use crate::server::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;

/// The OpenMetrics text format's content type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads the hub and the forwarding unit on each scrape.
struct Live {
    state: AppState,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let connections = ConstGauge::new(self.state.hub.peer_count() as i64);
        connections.encode(encoder.encode_descriptor(
            "onair_ws_connections",
            "Open /ws connections",
            None,
            connections.metric_type(),
        )?)?;

        let streams = self.state.live_sfu.as_ref().map(|l| l.sfu().all_stats()).unwrap_or_default();
        let gauge = |v: usize| ConstGauge::new(v as i64);
        let up = ConstGauge::new(streams.len() as i64);
        up.encode(encoder.encode_descriptor(
            "onair_sfu_streams",
            "Live streams with a publisher at the forwarding unit",
            None,
            up.metric_type(),
        )?)?;
        type Pick = fn(&crate::sfu::StreamStats) -> u64;
        let counters: [(&str, &str, Pick); 8] = [
            (
                "onair_sfu_publisher_bytes",
                "Media payload bytes received from the stream's publisher (rate x 8 = its bitrate in bit/s)",
                |s| s.bytes_in,
            ),
            ("onair_sfu_frames_in", "Audio and video frames received from the publisher", |s| s.frames_in),
            ("onair_sfu_frames_forwarded", "Frames written to subscribers, summed over subscribers", |s| {
                s.frames_forwarded
            }),
            ("onair_sfu_packets_forwarded", "RTP packets sent to subscribers, retransmissions included", |s| {
                s.packets_forwarded
            }),
            ("onair_sfu_nacks", "NACKs received from subscribers", |s| s.nacks),
            (
                "onair_sfu_keyframe_requests",
                "Keyframe requests sent to the publisher (coalesced, at most one per 500 ms)",
                |s| s.keyframe_requests,
            ),
            ("onair_sfu_lagged", "Times a subscriber fell behind and skipped to the next keyframe", |s| s.lagged),
            ("onair_sfu_layer_switches", "Times a subscriber moved to another simulcast layer", |s| s.layer_switches),
        ];
        let subscribers = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "onair_sfu_subscribers",
            "Subscriber connections open now",
            None,
            subscribers.metric_type(),
        )?;
        for (stream, stats) in &streams {
            gauge(stats.subscribers).encode(family.encode_family(&[("stream", stream.to_string())])?)?;
        }
        type PickLayer = fn(&crate::sfu::StreamStats, usize) -> u64;
        let per_layer: [(&str, &str, PickLayer); 2] = [
            (
                "onair_sfu_layer_bitrate_bps",
                "The publisher's video bitrate per simulcast layer (l, m, h), bit/s over the last second",
                |s, l| s.layer_bitrates[l],
            ),
            ("onair_sfu_layer_subscribers", "Subscribers receiving each simulcast layer now", |s, l| {
                s.layer_subscribers[l]
            }),
        ];
        for (name, help, pick) in per_layer {
            let mut family = encoder.encode_descriptor(name, help, None, subscribers.metric_type())?;
            for (stream, stats) in &streams {
                for (layer, rid) in crate::sfu::layers::LAYER_RIDS.iter().enumerate() {
                    let labels = [("stream", stream.to_string()), ("layer", rid.to_string())];
                    ConstGauge::new(pick(stats, layer) as i64).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        for (name, help, pick) in counters {
            let kind = ConstCounter::new(0u64).metric_type();
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for (stream, stats) in &streams {
                ConstCounter::new(pick(stats)).encode(family.encode_family(&[("stream", stream.to_string())])?)?;
            }
        }
        Ok(())
    }
}

/// `GET /metrics`. 403 unless the client is on loopback or sends the `--metrics-token` bearer token.
pub async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !allowed(peer, state.config.metrics_token.as_deref(), &headers) {
        return (StatusCode::FORBIDDEN, "Metrics are served to loopback clients or with the metrics token.")
            .into_response();
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Live { state }));
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            tracing::error!(%e, "encoding metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Whether a client at `peer` may read the metrics: on loopback, or with `Authorization: Bearer <token>`.
fn allowed(peer: SocketAddr, token: Option<&str>, headers: &HeaderMap) -> bool {
    // A request relayed by a reverse proxy on this host also comes from loopback: one that says it was
    // forwarded is not trusted for being local.
    let forwarded = headers.contains_key("forwarded") || headers.contains_key("x-forwarded-for");
    if peer.ip().to_canonical().is_loopback() && !forwarded {
        return true;
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else { return false };
    let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Compared in constant time, so response timing does not leak the token byte by byte.
    sent.is_some_and(|s| bool::from(subtle::ConstantTimeEq::ct_eq(s.as_bytes(), token.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_or_the_token() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        let none = HeaderMap::new();
        let mut good = HeaderMap::new();
        good.insert(header::AUTHORIZATION, "Bearer s3cret-token".parse().unwrap());
        let mut bad = HeaderMap::new();
        bad.insert(header::AUTHORIZATION, "Bearer s3cret-tokeN".parse().unwrap());
        assert!(allowed(local, None, &none));
        assert!(!allowed(remote, None, &none));
        assert!(!allowed(remote, None, &good), "no token configured: only loopback");
        assert!(!allowed(remote, Some(""), &good), "an empty token opens nothing");
        assert!(allowed(remote, Some("s3cret-token"), &good));
        assert!(!allowed(remote, Some("s3cret-token"), &bad));
        assert!(!allowed(remote, Some("s3cret-token"), &none));
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert!(allowed(mapped, None, &none), "IPv4 loopback through an IPv6 socket");
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-for", "198.51.100.4".parse().unwrap());
        assert!(!allowed(local, None, &proxied), "relayed by a proxy on this host");
        proxied.insert(header::AUTHORIZATION, "Bearer s3cret-token".parse().unwrap());
        assert!(allowed(local, Some("s3cret-token"), &proxied));
    }
}
