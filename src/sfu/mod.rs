//! The forwarding unit (SFU): it owns the server side of broadcast WebRTC connections (one publisher per
//! stream, any number of receive-only subscribers), the one UDP socket they all share, and the fan-out of the
//! publisher's audio and video frames to the subscribers.
//!
//! Shape (the one that scaled in the team's str0m study, shared/SFU.md): one tokio task owns each
//! [`str0m::Rtc`] and keeps str0m's single-mutation rule (after each input, drain `poll_output` until
//! `Timeout`); a reader (on a thread of its own, so that busy connection tasks never delay it while the
//! kernel's receive buffer fills) routes each datagram of the shared socket by its source address, learning new
//! addresses from the local ufrag in the
//! STUN USERNAME (RFC 8445 §7.2.2); the publisher task sends depacketized frames over a `tokio::sync::broadcast`
//! channel and each subscriber task writes them with str0m's `Writer`, so str0m does SSRCs, sequence numbers,
//! NACK/RTX and TWCC per subscriber. The server is ICE-lite (RFC 8445 §2.5): the remote peer runs the checks.
//!
//! Not this module's job: permissions (who may publish or watch a stream is checked by the signaling hub
//! before it calls [`Sfu::publish`] or [`Sfu::subscribe`]), and signaling (offers, answers and candidates
//! travel on `/ws`; this module takes and returns plain SDP strings, RFC 8829 JSEP).

mod conn;
pub mod layers;
mod net;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::config::{CryptoProvider, DtlsCert};
use str0m::ice::IceCreds;
use str0m::{Candidate, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use crate::ids::StreamId;

/// Frames buffered per stream for subscribers, per channel (audio, and each simulcast layer's video): about
/// 8 s of 30 fps video or 5 s of 50 fps audio. A subscriber that falls further behind gets `Lagged` and
/// skips to the next keyframe.
const FRAME_BUFFER: usize = 256;
/// Datagrams queued per connection between the socket reader and the connection task; more are dropped.
const DATAGRAM_QUEUE: usize = 1024;
/// Kernel receive buffer asked for the shared socket, in bytes (8 MiB: about 5 s of a 1.5 Mbit/s publisher
/// plus every subscriber's RTCP). Linux grants at most `net.core.rmem_max` (×2); the granted size is logged.
pub const RECEIVE_BUFFER_BYTES: usize = 8 * 1024 * 1024;
/// A connection whose learned source addresses exceed this keeps the first ones (a peer uses one or two).
const MAX_ADDRS_PER_CONN: usize = 8;

/// Where the forwarding unit listens and what it tells peers.
#[derive(Clone, Debug)]
pub struct SfuConfig {
    /// The UDP address to bind; port 0 picks a free port. An unspecified IP (`0.0.0.0`) needs `advertise`.
    pub bind: SocketAddr,
    /// The public IP to put in the host candidate (the server behind NAT or in a container); `None` uses the
    /// IP of `bind`. Packets are accepted on the bound socket whatever their destination address.
    pub advertise: Option<IpAddr>,
}

/// Which broadcast a connection belongs to: today a live shopping stream; proctoring can key its student
/// streams the same way. A newtype over the UUID so that a random UUID does not slip in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SfuStream(pub uuid::Uuid);

impl From<StreamId> for SfuStream {
    fn from(id: StreamId) -> Self {
        Self(id.0)
    }
}

impl fmt::Display for SfuStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One WebRTC connection of the forwarding unit (a publisher or a subscriber), unique per [`Sfu`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sfu-conn-{}", self.0)
    }
}

/// The life of a connection, as seen by the signaling hub (via [`Answer::state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Answer given; waiting for the peer's ICE checks and the DTLS handshake.
    Connecting,
    /// ICE and DTLS are up; media flows.
    Connected,
    /// Gone: closed by [`Sfu::close`], by the peer (DTLS close), because the peer fell silent (str0m's
    /// ICE-lite timeout, about 15 s), because its publisher left (for a subscriber), or because it never
    /// connected within 30 s. Final; by the time it is seen, the connection is out of [`Sfu::stats`].
    Closed,
}

/// What [`Sfu::publish`] and [`Sfu::subscribe`] return.
#[derive(Debug)]
pub struct Answer {
    /// The SDP answer (RFC 8829 JSEP) to send back to the peer; it carries the server's one host candidate
    /// and `a=ice-lite`.
    pub sdp: String,
    /// The connection, for [`Sfu::add_remote_candidate`] and [`Sfu::close`].
    pub conn: ConnId,
    /// Follows the connection's [`ConnState`]; it ends at [`ConnState::Closed`].
    pub state: watch::Receiver<ConnState>,
}

/// Why the forwarding unit refused a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SfuError {
    /// `subscribe` to a stream nobody publishes (yet, or any more).
    #[error("nobody publishes this stream")]
    NoPublisher,
    /// `publish` to a stream that already has a publisher (close the old connection first).
    #[error("this stream already has a publisher")]
    AlreadyPublishing,
    /// The offer did not parse, or str0m refused it (e.g. no `a=fingerprint`, no media, both sides ICE-lite),
    /// or it lacks what the role needs (a publisher must send audio or video, a subscriber must receive it).
    #[error("bad SDP offer: {0}")]
    BadSdp(String),
    /// A trickled ICE candidate that did not parse (RFC 8839 `candidate:` attribute).
    #[error("bad ICE candidate: {0}")]
    BadCandidate(String),
    /// The connection is not (or no longer) open.
    #[error("no such connection")]
    UnknownConn,
}

/// Per-stream counters, for metrics. Totals since the stream's publisher connected, except `subscribers`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Subscriber connections open now (connecting or connected); drops at once on [`Sfu::close`].
    pub subscribers: usize,
    /// Audio and video frames received from the publisher.
    pub frames_in: u64,
    /// Payload bytes of those frames (codec data without RTP headers): their rate is the publisher's media
    /// bitrate.
    pub bytes_in: u64,
    /// Frames written to subscribers (summed over subscribers).
    pub frames_forwarded: u64,
    /// RTP packets sent to subscribers, retransmissions included (str0m egress stats, updated once a second).
    pub packets_forwarded: u64,
    /// NACKs received from subscribers (str0m egress stats, updated once a second).
    pub nacks: u64,
    /// Keyframes wanted by subscribers: their PLI/FIR, joins, layer switches, lag recoveries, and the repeats
    /// of a switch still waiting for its keyframe (one per second).
    pub keyframe_wanted: u64,
    /// Keyframe requests sent to the publisher after coalescing (per layer at most one per 500 ms).
    pub keyframe_requests: u64,
    /// Times a subscriber's video fell more than the frame buffer behind and skipped to the next keyframe
    /// (audio that falls behind just skips).
    pub lagged: u64,
    /// The publisher's video bitrate per simulcast layer (`l`, `m`, `h`; a publisher without simulcast is
    /// `h`), bits per second over the last second; 0 for a layer not sent.
    pub layer_bitrates: [u64; layers::LAYERS],
    /// Subscribers receiving each layer now (a subscriber still waiting for its first keyframe is in none).
    pub layer_subscribers: [u64; layers::LAYERS],
    /// Times a subscriber moved from one layer to another.
    pub layer_switches: u64,
}

/// The forwarding unit: one UDP socket and the connections on it. Cheap to clone (an `Arc` inside); the
/// socket and every connection close when the last clone is dropped.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    /// The address in our host candidate (advertised IP, bound port); str0m wants it as each datagram's
    /// destination.
    local: SocketAddr,
    crypto: Arc<CryptoProvider>,
    cert: DtlsCert,
    next_id: AtomicU64,
    /// Stops the reader thread (dropping it does too).
    reader_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(stop) = self.reader_stop.take() {
            let _ = stop.send(());
        }
        let mut reg = self.shared.lock();
        for (_, c) in reg.conns.drain() {
            c.abort.abort();
            c.state.send_replace(ConnState::Closed);
        }
        reg.streams.clear();
        reg.by_ufrag.clear();
        reg.by_addr.clear();
    }
}

/// What the reader task and the connection tasks' watchers share with the handle.
pub(crate) struct Shared {
    reg: Mutex<Registry>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding this lock leaves plain maps behind; carry on with them.
        self.reg.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct Registry {
    conns: HashMap<ConnId, ConnEntry>,
    by_ufrag: HashMap<String, ConnId>,
    by_addr: HashMap<SocketAddr, ConnId>,
    streams: HashMap<SfuStream, StreamEntry>,
}

struct ConnEntry {
    ufrag: String,
    addrs: Vec<SocketAddr>,
    stream: SfuStream,
    publisher: bool,
    net: mpsc::Sender<conn::Datagram>,
    cmd: mpsc::UnboundedSender<conn::Command>,
    abort: AbortHandle,
    state: watch::Sender<ConnState>,
}

struct StreamEntry {
    publisher: ConnId,
    channels: Arc<conn::Channels>,
    keyframe: mpsc::Sender<usize>,
    subscribers: HashSet<ConnId>,
    counters: Arc<conn::Counters>,
}

impl Registry {
    /// Forgets a connection and, for a publisher, its stream and that stream's subscribers. Returns the abort
    /// handles of the connections removed (to abort outside the lock).
    fn remove(&mut self, id: ConnId) -> Vec<AbortHandle> {
        let Some(c) = self.conns.remove(&id) else {
            return Vec::new();
        };
        self.by_ufrag.remove(&c.ufrag);
        for a in &c.addrs {
            self.by_addr.remove(a);
        }
        c.state.send_replace(ConnState::Closed);
        let mut aborts = vec![c.abort];
        if c.publisher {
            if self.streams.get(&c.stream).is_some_and(|s| s.publisher == id) {
                if let Some(s) = self.streams.remove(&c.stream) {
                    for sub in s.subscribers {
                        aborts.extend(self.remove(sub));
                    }
                }
            }
        } else if let Some(s) = self.streams.get_mut(&c.stream) {
            s.subscribers.remove(&id);
        }
        aborts
    }

    fn remove_and_abort(&mut self, id: ConnId) -> bool {
        let aborts = self.remove(id);
        let found = !aborts.is_empty();
        for a in aborts {
            a.abort();
        }
        found
    }
}

impl Sfu {
    /// Binds the shared UDP socket (asking for a [`RECEIVE_BUFFER_BYTES`] kernel receive buffer) and starts
    /// its reader thread; needs a tokio runtime (the connection tasks run on it).
    ///
    /// Errors: the bind fails, or `bind` has an unspecified IP and no `advertise` (a host candidate needs a
    /// real address; `InvalidInput`), or the crypto backend cannot make a DTLS certificate (`Other`).
    pub async fn start(config: SfuConfig) -> io::Result<Sfu> {
        let advertised = config.advertise.unwrap_or(config.bind.ip());
        if advertised.is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the SFU binds an unspecified address: set `advertise` to the IP peers reach",
            ));
        }
        let std_socket = std::net::UdpSocket::bind(config.bind)?;
        std_socket.set_nonblocking(true)?;
        let receive_buffer = net::grow_receive_buffer(&std_socket, RECEIVE_BUFFER_BYTES);
        let reader_socket = std_socket.try_clone()?;
        let socket = Arc::new(UdpSocket::from_std(std_socket)?);
        let local = SocketAddr::new(advertised, socket.local_addr()?.port());
        let crypto = Arc::new(str0m::crypto::from_feature_flags());
        // One DTLS certificate for all connections: making a key pair per connection costs CPU for nothing
        // (peers pin the fingerprint from the answer either way).
        let cert = crypto
            .dtls_provider
            .generate_certificate()
            .ok_or_else(|| io::Error::other("the crypto backend made no DTLS certificate"))?;
        let shared = Arc::new(Shared { reg: Mutex::new(Registry::default()) });
        let reader_stop = Some(net::spawn_reader(reader_socket, shared.clone())?);
        tracing::info!(bound = %socket.local_addr()?, candidate = %local, receive_buffer, "SFU listening");
        Ok(Sfu {
            inner: Arc::new(Inner { shared, socket, local, crypto, cert, next_id: AtomicU64::new(1), reader_stop }),
        })
    }

    /// The address in the server's host candidate (advertised IP and the bound port).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Accepts a publisher's offer for `stream` (its audio and/or video m-lines `sendonly` or `sendrecv`) and
    /// returns the answer; the ufrag is registered before this returns, so the peer may start its checks as
    /// soon as it has the answer. Only the first audio and the first video m-line are forwarded. A publisher
    /// may send simulcast on that video m-line (RFC 8853, rids `l`, `m`, `h` as in [`layers::LAYER_RIDS`];
    /// other rids are ignored): each subscriber then gets the layer its bandwidth estimate allows.
    ///
    /// Errors: [`SfuError::AlreadyPublishing`], [`SfuError::BadSdp`]. Permission is the caller's job.
    pub async fn publish(&self, stream: SfuStream, offer_sdp: String) -> Result<Answer, SfuError> {
        if self.inner.shared.lock().streams.contains_key(&stream) {
            return Err(SfuError::AlreadyPublishing);
        }
        let (rtc, creds, answer, first) = self.accept(&offer_sdp, false)?;
        let mids = conn::Mids::from_offer(&rtc, &offer_sdp, true);
        let simulcast = mids.simulcast();
        if mids.is_empty() {
            return Err(SfuError::BadSdp("a publisher must send audio or video".into()));
        }

        let mut reg = self.inner.shared.lock();
        if reg.streams.contains_key(&stream) {
            return Err(SfuError::AlreadyPublishing);
        }
        let id = self.next_id();
        let channels = Arc::new(conn::Channels::new(FRAME_BUFFER, simulcast));
        // Room for a request per layer several times over; a full queue drops a request, which the asking
        // subscriber repeats while it waits.
        let (kf_tx, kf_rx) = mpsc::channel(4 * layers::LAYERS);
        let counters = Arc::new(conn::Counters::default());
        let role = conn::Role::Publisher { channels: channels.clone(), keyframe: kf_rx, mids };
        let (entry, state) = self.spawn(&mut reg, id, stream, true, creds.ufrag, rtc, first, role, counters.clone());
        reg.conns.insert(id, entry);
        reg.streams.insert(
            stream,
            StreamEntry { publisher: id, channels, keyframe: kf_tx, subscribers: HashSet::new(), counters },
        );
        tracing::info!(conn = %id, %stream, simulcast, "publisher accepted");
        Ok(Answer { sdp: answer, conn: id, state })
    }

    /// Accepts a subscriber's offer for `stream` (audio and/or video m-lines `recvonly`) and returns the
    /// answer (those m-lines `sendonly`). Video starts at the publisher's next keyframe (one is requested on
    /// connect); the subscriber is closed when the publisher leaves. For a simulcast publisher the
    /// connection estimates its bandwidth (str0m's TWCC estimator, probing up from 600 kbit/s) and moves
    /// between layers at their keyframes ([`layers::choose_layer`]).
    ///
    /// Errors: [`SfuError::NoPublisher`], [`SfuError::BadSdp`]. Permission is the caller's job.
    pub async fn subscribe(&self, stream: SfuStream, offer_sdp: String) -> Result<Answer, SfuError> {
        let simulcast = match self.inner.shared.lock().streams.get(&stream) {
            Some(s) => s.channels.simulcast,
            None => return Err(SfuError::NoPublisher),
        };
        let (rtc, creds, answer, first) = self.accept(&offer_sdp, simulcast)?;
        let mids = conn::Mids::from_offer(&rtc, &offer_sdp, false);
        if mids.is_empty() {
            return Err(SfuError::BadSdp("a subscriber must receive audio or video".into()));
        }

        let mut reg = self.inner.shared.lock();
        let Some(s) = reg.streams.get(&stream) else {
            return Err(SfuError::NoPublisher);
        };
        let counters = s.counters.clone();
        let role = conn::Role::Subscriber { channels: s.channels.clone(), keyframe: s.keyframe.clone(), mids };
        let id = self.next_id();
        let (entry, state) = self.spawn(&mut reg, id, stream, false, creds.ufrag, rtc, first, role, counters);
        reg.conns.insert(id, entry);
        if let Some(s) = reg.streams.get_mut(&stream) {
            s.subscribers.insert(id);
        }
        tracing::info!(conn = %id, %stream, "subscriber accepted");
        Ok(Answer { sdp: answer, conn: id, state })
    }

    /// Adds a trickled remote candidate (`candidate:...`, with or without `a=`; RFC 8839). mDNS `.local`
    /// candidates (which receive-only Chrome sends) and the empty end-of-candidates are skipped with `Ok`:
    /// str0m cannot resolve them and, being ICE-lite, the server learns the peer's address from its checks.
    ///
    /// Errors: [`SfuError::BadCandidate`], [`SfuError::UnknownConn`].
    pub fn add_remote_candidate(&self, conn: ConnId, candidate: &str) -> Result<(), SfuError> {
        let line = candidate.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        let tx = self.inner.shared.lock().conns.get(&conn).map(|c| c.cmd.clone()).ok_or(SfuError::UnknownConn)?;
        if line.is_empty() || is_mdns_candidate(line) {
            tracing::debug!(%conn, candidate = line, "skipping candidate str0m cannot use");
            return Ok(());
        }
        let c = Candidate::from_sdp_string(line).map_err(|e| SfuError::BadCandidate(e.to_string()))?;
        tx.send(conn::Command::Candidate(c)).map_err(|_| SfuError::UnknownConn)
    }

    /// Closes a connection at once: it leaves the routing tables and the stream's subscribers before this
    /// returns, and its task is aborted (no DTLS close; the peer sees ICE fail). Closing a publisher closes
    /// its subscribers. Returns whether the connection was open.
    pub fn close(&self, conn: ConnId) -> bool {
        let found = self.inner.shared.lock().remove_and_abort(conn);
        if found {
            tracing::info!(%conn, "closed");
        }
        found
    }

    /// The stream's counters, or `None` if nobody publishes it.
    pub fn stats(&self, stream: SfuStream) -> Option<StreamStats> {
        let reg = self.inner.shared.lock();
        let s = reg.streams.get(&stream)?;
        Some(s.counters.snapshot(s.subscribers.len(), &s.channels.rates))
    }

    /// Every published stream with its counters, in no particular order.
    pub fn all_stats(&self) -> Vec<(SfuStream, StreamStats)> {
        let reg = self.inner.shared.lock();
        reg.streams.iter().map(|(id, s)| (*id, s.counters.snapshot(s.subscribers.len(), &s.channels.rates))).collect()
    }

    fn next_id(&self) -> ConnId {
        ConnId(self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Makes the `Rtc` for one offer (with bandwidth estimation if `bwe`) and drains what accepting it
    /// produced.
    fn accept(&self, offer_sdp: &str, bwe: bool) -> Result<(Rtc, IceCreds, String, conn::FirstOutput), SfuError> {
        let offer = SdpOffer::from_sdp_string(offer_sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let creds = IceCreds::new();
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .set_local_ice_credentials(creds.clone())
            .set_crypto_provider(self.inner.crypto.clone())
            .set_dtls_cert(self.inner.cert.clone())
            .set_stats_interval(Some(conn::STATS_INTERVAL))
            .enable_bwe(bwe.then_some(conn::INITIAL_ESTIMATE))
            .build(Instant::now());
        let candidate = Candidate::host(self.inner.local, "udp").map_err(|e| SfuError::BadSdp(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let first = conn::FirstOutput::drain(&mut rtc).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        Ok((rtc, creds, answer.to_sdp_string(), first))
    }

    /// Registers the connection's ufrag and spawns its task plus a watcher that cleans up after it (also
    /// after a panic, which stays inside that task). Called with the registry locked, so the task's own
    /// cleanup waits until the entry is in.
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &self,
        reg: &mut Registry,
        id: ConnId,
        stream: SfuStream,
        publisher: bool,
        ufrag: String,
        rtc: Rtc,
        first: conn::FirstOutput,
        role: conn::Role,
        counters: Arc<conn::Counters>,
    ) -> (ConnEntry, watch::Receiver<ConnState>) {
        let (net_tx, net_rx) = mpsc::channel(DATAGRAM_QUEUE);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(ConnState::Connecting);
        let task = conn::Task {
            id,
            rtc,
            socket: self.inner.socket.clone(),
            local: self.inner.local,
            net: net_rx,
            cmd: cmd_rx,
            state: state_tx.clone(),
            counters,
        };
        let handle = tokio::spawn(task.run(first, role));
        let abort = handle.abort_handle();
        let shared = Arc::downgrade(&self.inner.shared);
        tokio::spawn(async move {
            match handle.await {
                Ok(()) => tracing::debug!(conn = %id, "connection ended"),
                Err(e) if e.is_panic() => tracing::error!(conn = %id, error = %e, "connection task panicked"),
                Err(_) => tracing::debug!(conn = %id, "connection task aborted"),
            }
            if let Some(shared) = shared.upgrade() {
                shared.lock().remove_and_abort(id);
            }
        });
        reg.by_ufrag.insert(ufrag.clone(), id);
        let entry =
            ConnEntry { ufrag, addrs: Vec::new(), stream, publisher, net: net_tx, cmd: cmd_tx, abort, state: state_tx };
        (entry, state_rx)
    }
}

impl fmt::Debug for Sfu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sfu").field("local", &self.inner.local).finish_non_exhaustive()
    }
}

/// Whether an RFC 8839 candidate line names an mDNS host (`xxxxxxxx.local`), which str0m cannot parse.
fn is_mdns_candidate(line: &str) -> bool {
    // candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
    line.split_whitespace().nth(4).is_some_and(|addr| addr.ends_with(".local"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use str0m::media::{Direction, MediaKind};

    /// An offer from a str0m client with audio and video in `dir`.
    fn offer(dir: Direction) -> String {
        let mut rtc = RtcConfig::new().build(Instant::now());
        let addr = "127.0.0.1:9".parse().expect("an address");
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("a candidate"));
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Video, dir, None, None, None);
        api.add_media(MediaKind::Audio, dir, None, None, None);
        api.apply().expect("an offer").0.to_sdp_string()
    }

    #[tokio::test]
    async fn a_panic_stays_in_its_connection() {
        let sfu = Sfu::start(SfuConfig { bind: "127.0.0.1:0".parse().expect("an address"), advertise: None })
            .await
            .expect("SFU starts");
        let (a, b) = (SfuStream(uuid::Uuid::new_v4()), SfuStream(uuid::Uuid::new_v4()));
        let mut pa = sfu.publish(a, offer(Direction::SendOnly)).await.expect("publish a");
        let pb = sfu.publish(b, offer(Direction::SendOnly)).await.expect("publish b");
        let sb = sfu.subscribe(b, offer(Direction::RecvOnly)).await.expect("subscribe b");

        let cmd = sfu.inner.shared.lock().conns.get(&pa.conn).map(|c| c.cmd.clone()).expect("a's entry");
        cmd.send(conn::Command::Panic).map_err(|_| "a's task is gone").expect("sent");
        tokio::time::timeout(Duration::from_secs(2), pa.state.wait_for(|s| *s == ConnState::Closed))
            .await
            .expect("a closes after its panic")
            .expect("state open");
        assert_eq!(sfu.stats(a), None, "the watcher cleaned up the panicked publisher's stream");
        assert_eq!(sfu.inner.shared.lock().by_ufrag.len(), 2, "only b's two connections are left");

        // The other stream's tasks run on.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(sfu.stats(b).map(|s| s.subscribers), Some(1));
        for id in [pb.conn, sb.conn] {
            let reg = sfu.inner.shared.lock();
            let entry = reg.conns.get(&id).expect("b's connections are registered");
            assert!(!entry.abort.is_finished(), "{id} still runs");
        }
        assert_eq!(*pb.state.borrow(), ConnState::Connecting);
        assert_eq!(*sb.state.borrow(), ConnState::Connecting);
    }

    #[test]
    fn mdns_candidates_are_recognised() {
        assert!(is_mdns_candidate(
            "candidate:1 1 udp 2122260223 0f3b3a52-1c4e-4f37-9b2c-6f1c8a2b8d11.local 54321 typ host"
        ));
        assert!(!is_mdns_candidate("candidate:1 1 udp 2122260223 192.168.1.20 54321 typ host"));
        assert!(!is_mdns_candidate("candidate:1 1 udp"));
    }
}
