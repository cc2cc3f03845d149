//! Connection quality from `RTCPeerConnection.getStats()` numbers (W3C webrtc-stats), as pure functions:
//! the per-interval sample computed from two snapshots of cumulative counters, and the four-level badge.
//!
//! The thresholds follow common VoIP practice (ITU-T G.114 puts one-way delay up to 150 ms as fine for
//! conversation, so a round trip under 300 ms is still "good"; audio and video degrade visibly above a few
//! percent loss and 30–50 ms jitter).

use serde::{Deserialize, Serialize};

/// The badge on a participant's tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Round trip < 150 ms, loss < 1 %, jitter < 20 ms, and video (when on) at ≥ 15 fps.
    Excellent,
    /// Usable: nothing is poor, but not everything is excellent.
    Good,
    /// Round trip > 400 ms, loss > 5 %, jitter > 50 ms, or video (when on) below 8 fps.
    Poor,
    /// No packets arrived during the last interval, or the connection is down.
    Lost,
}

impl Quality {
    /// Word shown on the badge.
    pub fn label(self) -> &'static str {
        match self {
            Quality::Excellent => "Excellent",
            Quality::Good => "Good",
            Quality::Poor => "Poor",
            Quality::Lost => "Lost",
        }
    }

    /// Lower-case key for CSS classes and test ids (`excellent`, `good`, `poor`, `lost`).
    pub fn key(self) -> &'static str {
        match self {
            Quality::Excellent => "excellent",
            Quality::Good => "good",
            Quality::Poor => "poor",
            Quality::Lost => "lost",
        }
    }
}

/// Cumulative counters read from one `getStats()` report for one remote peer (summed over its inbound
/// audio and video `inbound-rtp` entries).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    /// When the report was taken, in milliseconds (any monotonic clock; `performance.now()`).
    pub at_ms: f64,
    /// `inbound-rtp.packetsReceived`, audio + video.
    pub packets_received: u64,
    /// `inbound-rtp.packetsLost`, audio + video (may decrease when duplicates arrive; treated as 0 then).
    pub packets_lost: i64,
    /// `inbound-rtp.bytesReceived`, audio + video.
    pub bytes_received: u64,
}

/// One interval's numbers for the stats panel and the badge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Round-trip time of the selected ICE candidate pair (`currentRoundTripTime`), in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Packets lost during the interval, in percent of those expected (0–100).
    pub loss_percent: Option<f64>,
    /// Inbound video jitter (`inbound-rtp.jitter`, else audio), in milliseconds.
    pub jitter_ms: Option<f64>,
    /// Decoded video frames per second (`framesPerSecond`); `None` when no video is expected.
    pub fps: Option<f64>,
    /// Received bitrate over the interval, in kbit/s.
    pub kbps: Option<f64>,
    /// Packets received during the interval (0 means nothing arrived).
    pub packets: u64,
    /// Received video size (`frameWidth`×`frameHeight`), if any.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Loss and bitrate between two snapshots of [`Counters`] (`prev` older). `None` for the rates when the
/// interval is not positive (same or reordered reports).
pub fn interval(prev: &Counters, cur: &Counters) -> (Option<f64>, Option<f64>, u64) {
    let received = cur.packets_received.saturating_sub(prev.packets_received);
    let lost = (cur.packets_lost - prev.packets_lost).max(0) as u64;
    let expected = received + lost;
    let loss = (expected > 0).then(|| lost as f64 * 100.0 / expected as f64);
    let seconds = (cur.at_ms - prev.at_ms) / 1000.0;
    let kbps =
        (seconds > 0.0).then(|| cur.bytes_received.saturating_sub(prev.bytes_received) as f64 * 8.0 / 1000.0 / seconds);
    (loss, if seconds > 0.0 { kbps } else { None }, received)
}

/// The badge for one interval. `connected`: the peer connection's state is `connected`.
/// `expect_video`: the remote camera (or screen) is on, so frames per second count.
pub fn quality(sample: &Sample, connected: bool, expect_video: bool) -> Quality {
    if !connected || sample.packets == 0 {
        return Quality::Lost;
    }
    let rtt = sample.rtt_ms.unwrap_or(0.0);
    let loss = sample.loss_percent.unwrap_or(0.0);
    let jitter = sample.jitter_ms.unwrap_or(0.0);
    let fps = if expect_video { sample.fps } else { None };
    if rtt > 400.0 || loss > 5.0 || jitter > 50.0 || fps.is_some_and(|f| f < 8.0) {
        Quality::Poor
    } else if rtt < 150.0 && loss < 1.0 && jitter < 20.0 && fps.is_none_or(|f| f >= 15.0) {
        Quality::Excellent
    } else {
        Quality::Good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rtt: f64, loss: f64, jitter: f64, fps: f64) -> Sample {
        Sample {
            rtt_ms: Some(rtt),
            loss_percent: Some(loss),
            jitter_ms: Some(jitter),
            fps: Some(fps),
            packets: 100,
            ..Sample::default()
        }
    }

    #[test]
    fn levels_over_sample_stats() {
        // A LAN call: everything excellent.
        assert_eq!(quality(&sample(2.0, 0.0, 3.0, 30.0), true, true), Quality::Excellent);
        // Across a continent: 200 ms round trip is good, not excellent.
        assert_eq!(quality(&sample(200.0, 0.2, 10.0, 30.0), true, true), Quality::Good);
        // 2 % loss: good.
        assert_eq!(quality(&sample(40.0, 2.0, 10.0, 30.0), true, true), Quality::Good);
        // Each bad number alone makes it poor.
        assert_eq!(quality(&sample(450.0, 0.0, 5.0, 30.0), true, true), Quality::Poor);
        assert_eq!(quality(&sample(40.0, 8.0, 5.0, 30.0), true, true), Quality::Poor);
        assert_eq!(quality(&sample(40.0, 0.0, 80.0, 30.0), true, true), Quality::Poor);
        assert_eq!(quality(&sample(40.0, 0.0, 5.0, 4.0), true, true), Quality::Poor);
        // Camera off: a frame rate of 0 does not count against the connection.
        assert_eq!(quality(&sample(40.0, 0.0, 5.0, 0.0), true, false), Quality::Excellent);
        // Nothing arrived, or the connection is down: lost.
        assert_eq!(quality(&Sample { packets: 0, ..sample(2.0, 0.0, 3.0, 30.0) }, true, true), Quality::Lost);
        assert_eq!(quality(&sample(2.0, 0.0, 3.0, 30.0), false, true), Quality::Lost);
        // Missing numbers (e.g. no RTT yet) do not make it worse.
        let unknown = Sample { packets: 10, ..Sample::default() };
        assert_eq!(quality(&unknown, true, true), Quality::Excellent);
    }

    #[test]
    fn interval_loss_and_bitrate_from_cumulative_counters() {
        let a = Counters { at_ms: 1_000.0, packets_received: 1_000, packets_lost: 10, bytes_received: 100_000 };
        let b = Counters { at_ms: 3_000.0, packets_received: 1_190, packets_lost: 20, bytes_received: 350_000 };
        let (loss, kbps, packets) = interval(&a, &b);
        assert_eq!(packets, 190);
        assert!((loss.unwrap() - 5.0).abs() < 1e-9, "10 lost of 200 expected");
        assert!((kbps.unwrap() - 1000.0).abs() < 1e-9, "250 kB in 2 s = 1000 kbit/s");
        // Duplicates can make packetsLost go down: never negative loss.
        let c = Counters { packets_lost: 15, packets_received: 1_300, ..b };
        assert_eq!(interval(&b, &c).0, Some(0.0));
        // Same report twice: no rates, nothing received.
        assert_eq!(interval(&b, &b), (None, None, 0));
    }
}
