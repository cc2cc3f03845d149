//! Pure measurement logic of the load tool, unit-tested: nearest-rank percentiles, per-pair sequence
//! accounting (delivered, lost, late), the send stamp carried inside a relayed SDP, and rates.

use std::time::Duration;

/// Nearest-rank percentile (`p` in 0–100] of an ascending-sorted slice: the smallest value with at least
/// `p`% of the values at or below it. `None` for an empty slice.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Summary of a set of durations, all in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    pub mean_ns: u64,
}

impl Summary {
    /// Summarizes `values` (nanoseconds, any order; sorted in place). All zero when empty.
    pub fn of(values: &mut [u64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let sum: u128 = values.iter().map(|&v| v as u128).sum();
        Self {
            count: values.len() as u64,
            p50_ns: percentile(values, 50.0).unwrap_or(0),
            p99_ns: percentile(values, 99.0).unwrap_or(0),
            max_ns: *values.last().unwrap_or(&0),
            mean_ns: (sum / values.len() as u128) as u64,
        }
    }
}

/// Messages per second: `count` over `elapsed` (0 when no time passed).
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        count as f64 / secs
    }
}

/// Accounts for the numbered messages of one sender→receiver stream (numbers 0, 1, 2, … in send order).
///
/// The relay runs over one TCP connection each way, so messages must arrive in order: a number below the
/// next expected one is `late` (reordered or duplicated), a jump forward counts the skipped numbers as
/// `gaps`. What was sent but never arrived is [`SeqTracker::lost`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqTracker {
    next: u64,
    /// Messages that arrived (including late ones).
    pub received: u64,
    /// Messages that arrived with a number lower than expected.
    pub late: u64,
    /// Numbers skipped over when a higher number arrived first.
    pub gaps: u64,
}

impl SeqTracker {
    /// A tracker whose first expected message is number `first`.
    pub fn starting_at(first: u64) -> Self {
        Self { next: first, ..Self::default() }
    }

    /// Records the arrival of message `seq`.
    pub fn observe(&mut self, seq: u64) {
        self.received += 1;
        if seq >= self.next {
            self.gaps += seq - self.next;
            self.next = seq + 1;
        } else {
            self.late += 1;
        }
    }

    /// Messages sent but not received, given that `sent` were sent.
    pub fn lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.received)
    }
}

/// The marker before the stamp in a bench SDP (`o=` line of RFC 8866, user name `bench`).
const STAMP_MARK: &str = "o=bench ";

/// An SDP-looking offer body of about `len` bytes whose `o=` line carries `seq` and `sent_ns` (the
/// sender's clock, nanoseconds since the tool started). The receiver gets it back with [`parse_stamp`].
pub fn stamped_sdp(seq: u64, sent_ns: u64, len: usize) -> String {
    let head = format!("v=0\r\n{STAMP_MARK}{seq} {sent_ns} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=x-pad:");
    let pad = len.saturating_sub(head.len() + 2);
    let mut sdp = String::with_capacity(head.len() + pad + 2);
    sdp.push_str(&head);
    sdp.extend(std::iter::repeat_n('x', pad));
    sdp.push_str("\r\n");
    sdp
}

/// The `(seq, sent_ns)` stamp of a message that contains a [`stamped_sdp`], as raw JSON text or as the
/// SDP itself; `None` if there is none. Looks only for the marker, so the JSON around it is not parsed.
pub fn parse_stamp(text: &str) -> Option<(u64, u64)> {
    let at = text.find(STAMP_MARK)? + STAMP_MARK.len();
    let mut parts = text[at..].splitn(3, ' ');
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((seq, sent))
}

/// The number in a bench chat text `bench <n> …`, as found in a `chat_message` JSON text.
pub fn parse_chat_seq(text: &str) -> Option<u64> {
    const MARK: &str = "\"text\":\"bench ";
    let at = text.find(MARK)? + MARK.len();
    let digits: &str = &text[at..at + text[at..].find(|c: char| !c.is_ascii_digit())?];
    digits.parse().ok()
}

/// Per-message fan-out accounting of the chat benchmark: how many viewers have message `i` and when the
/// last of them got it.
#[derive(Clone, Debug, Default)]
pub struct FanOut {
    /// Per message: (deliveries so far, arrival of the latest delivery in ns).
    slots: Vec<(u64, u64)>,
}

impl FanOut {
    /// Accounting for `messages` messages.
    pub fn new(messages: usize) -> Self {
        Self { slots: vec![(0, 0); messages] }
    }

    /// Message `seq` reached one more viewer at `at_ns`. Unknown numbers are ignored (returns `false`).
    pub fn deliver(&mut self, seq: u64, at_ns: u64) -> bool {
        match self.slots.get_mut(seq as usize) {
            Some(slot) => {
                slot.0 += 1;
                slot.1 = slot.1.max(at_ns);
                true
            }
            None => false,
        }
    }

    /// Deliveries of message `seq` so far.
    pub fn deliveries_of(&self, seq: u64) -> u64 {
        self.slots.get(seq as usize).map_or(0, |s| s.0)
    }

    /// Messages `range` only, renumbered from 0.
    pub fn slice(&self, range: std::ops::Range<usize>) -> FanOut {
        FanOut { slots: self.slots.get(range).map(<[_]>::to_vec).unwrap_or_default() }
    }

    /// All deliveries.
    pub fn deliveries(&self) -> u64 {
        self.slots.iter().map(|s| s.0).sum()
    }

    /// Latest arrival of any message (ns).
    pub fn last_arrival_ns(&self) -> u64 {
        self.slots.iter().map(|s| s.1).max().unwrap_or(0)
    }

    /// For each message that reached all `viewers`, the time from its post (`posted_ns[i]`) until the last
    /// viewer had it; and how many messages did not reach everyone.
    pub fn time_to_last(&self, posted_ns: &[u64], viewers: u64) -> (Vec<u64>, u64) {
        let mut done = Vec::new();
        let mut incomplete = 0;
        for (slot, &posted) in self.slots.iter().zip(posted_ns) {
            if slot.0 >= viewers {
                done.push(slot.1.saturating_sub(posted));
            } else {
                incomplete += 1;
            }
        }
        (done, incomplete)
    }
}

/// Formats nanoseconds for a table: `0.123 ms` style with a sensible precision.
pub fn ms(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Formats a count with thousands separators (`123,456`).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair::ids::{PeerId, UserId};
    use onair::signaling::hub::encode;
    use onair::signaling::protocol::{ClientMsg, RoomId, ServerMsg, Signal};

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.1), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        // 10 values: p99 is the largest, p50 the 5th.
        let ten: Vec<u64> = (10..=100).step_by(10).collect();
        assert_eq!(percentile(&ten, 50.0), Some(50));
        assert_eq!(percentile(&ten, 99.0), Some(100));
    }

    #[test]
    fn summary_sorts_and_averages() {
        let mut v = vec![5_000, 1_000, 3_000, 2_000, 4_000];
        let s = Summary::of(&mut v);
        assert_eq!(s, Summary { count: 5, p50_ns: 3_000, p99_ns: 5_000, max_ns: 5_000, mean_ns: 3_000 });
        assert_eq!(Summary::of(&mut []), Summary::default());
    }

    #[test]
    fn rates() {
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
    }

    #[test]
    fn sequence_tracker_counts_lost_late_and_gaps() {
        let mut t = SeqTracker::default();
        for seq in [0, 1, 2, 3] {
            t.observe(seq);
        }
        assert_eq!((t.received, t.late, t.gaps, t.lost(4)), (4, 0, 0, 0));
        // 4 and 5 go missing, 6 arrives, then 5 shows up late.
        t.observe(6);
        t.observe(5);
        assert_eq!((t.received, t.late, t.gaps), (6, 1, 2));
        assert_eq!(t.lost(7), 1);
        // More received than sent never goes negative.
        assert_eq!(t.lost(3), 0);
        // A later phase continues the numbering.
        let mut t = SeqTracker::starting_at(100);
        t.observe(100);
        t.observe(102);
        assert_eq!((t.received, t.gaps, t.late, t.lost(3)), (2, 1, 0, 1));
    }

    #[test]
    fn stamp_survives_the_relay_json_both_ways() {
        let sdp = stamped_sdp(42, 1_234_567_890, 1000);
        assert!((990..=1010).contains(&sdp.len()), "{}", sdp.len());
        assert_eq!(parse_stamp(&sdp), Some((42, 1_234_567_890)));

        // As the client sends it…
        let room = RoomId::Call("bench-7".into());
        let out = ClientMsg::Signal { room: room.clone(), to: PeerId(9), signal: Signal::Offer { sdp: sdp.clone() } };
        let out_json = serde_json::to_string(&out).unwrap();
        assert_eq!(parse_stamp(&out_json), Some((42, 1_234_567_890)));
        // …and as the server relays it (the hub's own encoder, with the escaped \r\n).
        let relayed = encode(&ServerMsg::Signal {
            room,
            from: PeerId(3),
            from_user: UserId(uuid::Uuid::nil()),
            signal: Signal::Offer { sdp },
        });
        assert_eq!(parse_stamp(relayed.as_str()), Some((42, 1_234_567_890)));
        assert_eq!(parse_stamp("{\"type\":\"pong\",\"nonce\":1}"), None);
        assert_eq!(parse_stamp("o=bench x 1"), None);
    }

    #[test]
    fn chat_sequence_numbers_are_found_in_the_pushed_json() {
        let json =
            r#"{"type":"chat_message","stream":"s","message":{"id":"m","text":"bench 17 at 99","from_seller":false}}"#;
        assert_eq!(parse_chat_seq(json), Some(17));
        assert_eq!(parse_chat_seq(r#"{"type":"viewer_count","viewers":3}"#), None);
        assert_eq!(parse_chat_seq(r#"{"text":"bench "}"#), None);
    }

    #[test]
    fn fan_out_counts_deliveries_and_time_to_the_last_viewer() {
        let mut a = FanOut::new(3);
        // Message 0 posted at 100, message 1 at 200, message 2 at 300; two viewers.
        assert!(a.deliver(0, 150));
        assert!(a.deliver(0, 180));
        assert!(a.deliver(1, 260));
        assert!(a.deliver(1, 240));
        assert!(a.deliver(2, 310)); // the second viewer never gets message 2
        assert!(!a.deliver(3, 400));
        assert_eq!(a.deliveries(), 5);
        assert_eq!(a.last_arrival_ns(), 310);
        let (times, incomplete) = a.time_to_last(&[100, 200, 300], 2);
        assert_eq!(times, vec![80, 60]);
        assert_eq!(incomplete, 1);
        assert_eq!((a.deliveries_of(0), a.deliveries_of(2), a.deliveries_of(9)), (2, 1, 0));
        let tail = a.slice(1..3);
        assert_eq!(tail.deliveries(), 3);
        assert_eq!(tail.time_to_last(&[200, 300], 2), (vec![60], 1));
    }

    #[test]
    fn formatting() {
        assert_eq!(ms(250_000), "0.250 ms");
        assert_eq!(ms(12_340_000), "12.3 ms");
        assert_eq!(ms(250_000_000), "250 ms");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
