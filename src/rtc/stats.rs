//! Reading `RTCPeerConnection.getStats()` (W3C webrtc-stats) into the plain numbers of [`super::quality`]
//! (WASM / `hydrate` only).

use super::peer::Peer;
use super::quality::{interval, Counters, Sample};
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

fn field(entry: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(entry, &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

fn number(entry: &JsValue, name: &str) -> Option<f64> {
    field(entry, name).and_then(|v| v.as_f64())
}

fn text(entry: &JsValue, name: &str) -> Option<String> {
    field(entry, name).and_then(|v| v.as_string())
}

/// What one report says about the media received from the remote peer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    /// Cumulative counters, audio + video.
    pub counters: Counters,
    /// Selected candidate pair's `currentRoundTripTime`, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Video `jitter` (else audio), in milliseconds.
    pub jitter_ms: Option<f64>,
    /// Video `framesPerSecond`.
    pub fps: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl Reading {
    /// The interval's [`Sample`] from the previous reading (`None` for the first: no loss or bitrate yet,
    /// and the packets counted since the connection started).
    pub fn sample_since(&self, prev: Option<&Reading>) -> Sample {
        let (loss_percent, kbps, packets) = match prev {
            Some(p) => interval(&p.counters, &self.counters),
            None => (None, None, self.counters.packets_received),
        };
        Sample {
            rtt_ms: self.rtt_ms,
            loss_percent,
            jitter_ms: self.jitter_ms,
            fps: self.fps,
            kbps,
            packets,
            width: self.width,
            height: self.height,
        }
    }
}

/// Takes one `getStats()` report of `peer` and reads it.
///
/// # Errors
/// The rejection of `getStats()` (e.g. the connection was closed meanwhile).
pub async fn read(peer: &Peer) -> Result<Reading, JsValue> {
    let report = JsFuture::from(peer.get_stats()).await?;
    let now = web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or_default();
    let mut reading = Reading { counters: Counters { at_ms: now, ..Counters::default() }, ..Reading::default() };
    let mut audio_jitter = None;
    let mut selected_pair: Option<String> = None;
    let mut pairs: Vec<JsValue> = Vec::new();
    // RTCStatsReport is a maplike: iterating it yields [id, stats] entries.
    let entries = js_sys::try_iter(&report)?.ok_or_else(|| JsValue::from_str("getStats() gave no report"))?;
    for item in entries {
        let entry = js_sys::Array::from(&item?).get(1);
        match text(&entry, "type").as_deref() {
            Some("inbound-rtp") => {
                let c = &mut reading.counters;
                c.packets_received += number(&entry, "packetsReceived").unwrap_or(0.0) as u64;
                c.packets_lost += number(&entry, "packetsLost").unwrap_or(0.0) as i64;
                c.bytes_received += number(&entry, "bytesReceived").unwrap_or(0.0) as u64;
                let jitter = number(&entry, "jitter").map(|s| s * 1000.0);
                if text(&entry, "kind").as_deref() == Some("video") {
                    reading.jitter_ms = jitter.or(reading.jitter_ms);
                    reading.fps = number(&entry, "framesPerSecond").or(Some(0.0));
                    reading.width = number(&entry, "frameWidth").map(|w| w as u32);
                    reading.height = number(&entry, "frameHeight").map(|h| h as u32);
                } else {
                    audio_jitter = jitter;
                }
            }
            Some("transport") => selected_pair = text(&entry, "selectedCandidatePairId"),
            Some("candidate-pair") => pairs.push(entry),
            _ => {}
        }
    }
    reading.jitter_ms = reading.jitter_ms.or(audio_jitter);
    // The selected pair (from the transport), else a nominated pair that succeeded.
    let pair = pairs.iter().find(|p| selected_pair.is_some() && text(p, "id") == selected_pair).or_else(|| {
        pairs.iter().find(|p| {
            text(p, "state").as_deref() == Some("succeeded")
                && field(p, "nominated").and_then(|v| v.as_bool()) == Some(true)
        })
    });
    reading.rtt_ms = pair.and_then(|p| number(p, "currentRoundTripTime")).map(|s| s * 1000.0);
    Ok(reading)
}
