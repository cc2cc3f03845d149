//! Simulcast layers: which layer a publisher's frame belongs to, how fast each layer arrives, which layer a
//! subscriber should get for its bandwidth estimate, and the subscriber's continuous video clock across
//! layer switches. Pure logic; the connection tasks in `conn` use it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use str0m::media::{MediaTime, Rid};

/// The simulcast layers the forwarding unit understands, lowest first, by their RTP stream id (RFC 8851
/// `a=rid`): `l` (low, e.g. a quarter of the resolution), `m` (medium, half) and `h` (high, full). Video without
/// a rid (a publisher that does not simulcast) counts as the one layer `h`.
pub const LAYER_RIDS: [&str; LAYERS] = ["l", "m", "h"];
/// How many simulcast layers a stream can have.
pub const LAYERS: usize = 3;
/// The index of the top layer, `h` (also video without a rid).
pub const TOP: usize = LAYERS - 1;

/// How long the publisher's per-layer byte counts are summed before a layer's bitrate is updated. A layer
/// that sent nothing for a whole window is inactive (the publisher paused it, e.g. Chrome drops its top
/// layer when its own uplink estimate falls).
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// A layer is chosen only if its bitrate is at most this share of the estimate (headroom for audio, RTP
/// overhead and retransmissions).
const FIT: f64 = 0.85;

/// The layer index of a video frame's rid: `Some(0..LAYERS)`, `TOP` without a rid, `None` for a rid we do
/// not know (its frames are not forwarded).
pub fn layer_of(rid: Option<&Rid>) -> Option<usize> {
    match rid {
        None => Some(TOP),
        Some(rid) => LAYER_RIDS.iter().position(|r| **rid == **r),
    }
}

/// The rid to put in a keyframe request for `layer` to a publisher that does (`simulcast`) or does not
/// send rids.
pub fn rid_of(layer: usize, simulcast: bool) -> Option<Rid> {
    simulcast.then(|| Rid::from(LAYER_RIDS[layer.min(TOP)]))
}

/// Each layer's bitrate as the publisher's task last measured it, in bits per second; 0 means inactive.
/// Shared (atomics) between the publisher task, which writes it once per [`RATE_WINDOW`], and the subscriber
/// tasks, which read it to choose their layer.
#[derive(Debug, Default)]
pub struct LayerRates {
    bps: [AtomicU64; LAYERS],
}

impl LayerRates {
    /// The last measured bitrates, bits per second, lowest layer first.
    pub fn get(&self) -> [u64; LAYERS] {
        std::array::from_fn(|i| self.bps[i].load(Ordering::Relaxed))
    }

    fn set(&self, rates: [u64; LAYERS]) {
        for (slot, v) in self.bps.iter().zip(rates) {
            slot.store(v, Ordering::Relaxed);
        }
    }
}

/// The publisher task's byte counting per layer; publishes to [`LayerRates`] once per window.
#[derive(Debug)]
pub struct RateMeter {
    bytes: [u64; LAYERS],
    since: Instant,
}

impl RateMeter {
    /// Starts the first window at `now`.
    pub fn new(now: Instant) -> RateMeter {
        RateMeter { bytes: [0; LAYERS], since: now }
    }

    /// Counts a frame of `bytes` payload bytes on `layer`, then [`RateMeter::roll`]s.
    pub fn add(&mut self, layer: usize, bytes: usize, now: Instant, rates: &LayerRates) -> bool {
        self.bytes[layer.min(TOP)] += bytes as u64;
        self.roll(now, rates)
    }

    /// When the window is over, stores every layer's bitrate in `rates` and starts the next window (also
    /// when no video arrives at all, so stopped layers read 0). Returns whether it stored.
    pub fn roll(&mut self, now: Instant, rates: &LayerRates) -> bool {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < RATE_WINDOW {
            return false;
        }
        let secs = elapsed.as_secs_f64();
        rates.set(std::array::from_fn(|i| (self.bytes[i] as f64 * 8.0 / secs) as u64));
        self.bytes = [0; LAYERS];
        self.since = now;
        true
    }
}

/// The layer a subscriber should receive: the highest active layer (bitrate > 0) whose bitrate fits in the
/// bandwidth `estimate` (bits per second) with headroom, or the lowest active layer if none fits. Hysteresis:
/// the `current` layer is kept while it is active and its bitrate is within the whole estimate, so a layer is
/// not left for a brief dip, and going up needs the headroom. With no estimate (bandwidth estimation off, or
/// nothing measured yet) the highest active layer. `None` when no layer is active (nothing to choose yet).
pub fn choose_layer(rates: [u64; LAYERS], estimate: Option<u64>, current: Option<usize>) -> Option<usize> {
    let active = |i: usize| rates[i] > 0;
    let lowest = (0..LAYERS).find(|&i| active(i))?;
    let Some(estimate) = estimate else {
        return (0..LAYERS).rev().find(|&i| active(i));
    };
    let fits = |i: usize| active(i) && rates[i] as f64 <= estimate as f64 * FIT;
    let best = (0..LAYERS).rev().find(|&i| fits(i)).unwrap_or(lowest);
    match current {
        Some(c) if c < LAYERS && active(c) && c > best && rates[c] <= estimate => Some(c),
        _ => Some(best),
    }
}

/// What the subscriber asks str0m's bandwidth estimation for (`Bwe::set_bitrate`), in bits per second:
/// `minimum`, the rate of the next layer above `current` (padding up to it lets the estimate grow to where that
/// layer fits), and `desired`, the top active layer's rate with headroom. `minimum` is 0 on the top layer; both
/// are 0 when no layer is active or there is no current layer.
pub fn probe_targets(rates: [u64; LAYERS], current: Option<usize>) -> (u64, u64) {
    let top = (0..LAYERS).rev().find(|&i| rates[i] > 0);
    let (Some(top), Some(current)) = (top, current) else {
        return (0, 0);
    };
    if current >= top {
        return (0, (rates[top] as f64 / FIT) as u64);
    }
    let next = (current + 1..=top).find(|&i| rates[i] > 0).unwrap_or(top);
    ((rates[next] as f64 / FIT) as u64, (rates[top] as f64 / FIT) as u64)
}

/// A subscriber's outgoing video clock: the publisher's layers have clocks of their own (each RTP stream
/// starts at a random timestamp), so after a switch the new layer's times are shifted to continue where the
/// last written frame left off, by the wall-clock time between the two frames. Frames of the same layer keep
/// their own spacing (a publisher without simulcast passes through unchanged).
#[derive(Debug, Default)]
pub struct VideoClock {
    /// Added to the incoming frame's time (ticks of its clock rate) while on the same layer.
    offset: i64,
    last: Option<(u64, Instant)>,
    layer: Option<usize>,
}

impl VideoClock {
    /// The time to write a frame with: `time` is the frame's media time on `layer`, `arrived` when it arrived.
    pub fn map(&mut self, time: MediaTime, arrived: Instant, layer: usize) -> MediaTime {
        let freq = time.frequency();
        let ticks = time.numer() as i64;
        if self.layer != Some(layer) {
            self.layer = Some(layer);
            self.offset = match self.last {
                None => 0,
                Some((last, at)) => {
                    let gap = arrived.saturating_duration_since(at).as_secs_f64();
                    let gap_ticks = ((gap * freq.get() as f64) as i64).max(1);
                    last as i64 + gap_ticks - ticks
                }
            };
        }
        let out = (ticks + self.offset).max(0) as u64;
        self.last = Some((out, arrived));
        MediaTime::new(out, freq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KBPS: u64 = 1000;

    #[test]
    fn rids_map_to_layers() {
        assert_eq!(layer_of(None), Some(TOP));
        assert_eq!(layer_of(Some(&Rid::from("l"))), Some(0));
        assert_eq!(layer_of(Some(&Rid::from("m"))), Some(1));
        assert_eq!(layer_of(Some(&Rid::from("h"))), Some(2));
        assert_eq!(layer_of(Some(&Rid::from("f"))), None);
        assert_eq!(rid_of(0, true), Some(Rid::from("l")));
        assert_eq!(rid_of(2, false), None);
    }

    #[test]
    fn the_highest_layer_that_fits_is_chosen() {
        let rates = [150 * KBPS, 500 * KBPS, 1500 * KBPS];
        assert_eq!(choose_layer(rates, None, None), Some(2), "no estimate: the top");
        assert_eq!(choose_layer(rates, Some(5000 * KBPS), None), Some(2));
        assert_eq!(choose_layer(rates, Some(1000 * KBPS), None), Some(1));
        assert_eq!(choose_layer(rates, Some(300 * KBPS), None), Some(0));
        assert_eq!(choose_layer(rates, Some(50 * KBPS), None), Some(0), "nothing fits: the lowest");
        assert_eq!(choose_layer([0; LAYERS], Some(5000 * KBPS), None), None, "nothing to choose");
    }

    #[test]
    fn inactive_layers_are_skipped() {
        // Chrome paused the top layer: its subscribers move down.
        let rates = [150 * KBPS, 500 * KBPS, 0];
        assert_eq!(choose_layer(rates, Some(5000 * KBPS), Some(2)), Some(1));
        assert_eq!(choose_layer(rates, None, Some(2)), Some(1));
        // Only the low layer is sent (e.g. a small camera): everyone gets it.
        assert_eq!(choose_layer([150 * KBPS, 0, 0], Some(10 * KBPS), Some(2)), Some(0));
        // A publisher without simulcast: its one layer.
        assert_eq!(choose_layer([0, 0, 1500 * KBPS], Some(100 * KBPS), None), Some(2));
    }

    #[test]
    fn a_layer_is_kept_through_a_small_dip_and_left_when_it_no_longer_fits() {
        let rates = [150 * KBPS, 500 * KBPS, 1500 * KBPS];
        // 1.6 Mbit/s: 1.5 does not fit with headroom, but the current top layer is kept.
        assert_eq!(choose_layer(rates, Some(1600 * KBPS), Some(2)), Some(2));
        // ...and from below it is not yet reached.
        assert_eq!(choose_layer(rates, Some(1600 * KBPS), Some(1)), Some(1));
        // Below the layer's own rate: down.
        assert_eq!(choose_layer(rates, Some(1400 * KBPS), Some(2)), Some(1));
        // Up once it fits with headroom.
        assert_eq!(choose_layer(rates, Some(1800 * KBPS), Some(1)), Some(2));
    }

    #[test]
    fn probing_aims_at_the_next_layer_and_the_top() {
        let rates = [150 * KBPS, 500 * KBPS, 1700 * KBPS];
        let (min, desired) = probe_targets(rates, Some(0));
        assert!(min >= 500 * KBPS && min < 1700 * KBPS, "{min}");
        assert!(desired >= 1700 * KBPS, "{desired}");
        assert_eq!(probe_targets(rates, Some(2)).0, 0, "no padding at the top");
        assert_eq!(probe_targets(rates, None), (0, 0));
        // The medium layer is paused: the next one up is the top.
        assert!(probe_targets([150 * KBPS, 0, 1700 * KBPS], Some(0)).0 >= 1700 * KBPS);
    }

    #[test]
    fn the_meter_reports_bits_per_second_per_window() {
        let rates = LayerRates::default();
        let t0 = Instant::now();
        let mut meter = RateMeter::new(t0);
        assert!(!meter.add(0, 1000, t0 + Duration::from_millis(100), &rates));
        assert!(!meter.add(2, 5000, t0 + Duration::from_millis(500), &rates));
        assert_eq!(rates.get(), [0; LAYERS], "nothing before the window ends");
        assert!(meter.add(0, 1000, t0 + Duration::from_secs(1), &rates));
        assert_eq!(rates.get(), [16_000, 0, 40_000]);
        // The next window: the top layer stopped.
        assert!(meter.add(0, 500, t0 + Duration::from_secs(2), &rates));
        assert_eq!(rates.get(), [4_000, 0, 0]);
        // No video at all for a window: everything reads 0.
        assert!(!meter.roll(t0 + Duration::from_millis(2500), &rates));
        assert!(meter.roll(t0 + Duration::from_secs(3), &rates));
        assert_eq!(rates.get(), [0; LAYERS]);
    }

    #[test]
    fn the_video_clock_continues_across_a_switch() {
        let t0 = Instant::now();
        let mut clock = VideoClock::default();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Layer l starts at tick 1_000_000 (90 kHz).
        assert_eq!(clock.map(MediaTime::from_90khz(1_000_000), at(0), 0).numer(), 1_000_000);
        assert_eq!(clock.map(MediaTime::from_90khz(1_003_000), at(33), 0).numer(), 1_003_000);
        // Switch to layer h, whose clock is elsewhere: continues 33 ms (2970 ticks) later.
        let first = clock.map(MediaTime::from_90khz(77), at(66), 2).numer();
        assert_eq!(first, 1_003_000 + 2_970);
        assert_eq!(clock.map(MediaTime::from_90khz(77 + 3_000), at(99), 2).numer(), first + 3_000);
        // Frames skipped on the same layer keep the publisher's spacing (no re-basing).
        assert_eq!(clock.map(MediaTime::from_90khz(77 + 30_000), at(500), 2).numer(), first + 30_000);
        // A switch with no time between still moves forward.
        let again = clock.map(MediaTime::from_90khz(5), at(500), 1).numer();
        assert_eq!(again, first + 30_001);
    }
}
