//! The reader of the shared UDP socket: routes each datagram to its connection task by source address, and
//! learns a new source address from the local ufrag in a STUN binding request's USERNAME (RFC 8445 §7.2.2,
//! `USERNAME = <our ufrag>:<their ufrag>`). It runs on a thread of its own (a one-thread tokio runtime), so
//! connection tasks busy with fan-out never delay it while the kernel's receive buffer fills.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::ice::StunMessage;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;

use super::conn::Datagram;
use super::{Registry, Shared, MAX_ADDRS_PER_CONN};

/// Largest datagram read (WebRTC keeps packets under the ~1200-byte MTU target; this leaves room).
const MAX_DATAGRAM: usize = 2048;

/// Asks the kernel for a receive buffer of `bytes` for `socket`; returns the size granted (0 if unknown).
pub(super) fn grow_receive_buffer(socket: &std::net::UdpSocket, bytes: usize) -> usize {
    let sock = socket2::SockRef::from(socket);
    if let Err(e) = sock.set_recv_buffer_size(bytes) {
        tracing::warn!(error = %e, "could not enlarge the SFU socket's receive buffer");
    }
    let granted = sock.recv_buffer_size().unwrap_or(0);
    if granted < bytes / 2 {
        tracing::info!(
            asked = bytes,
            granted,
            "the kernel capped the SFU socket's receive buffer; raise net.core.rmem_max for large audiences"
        );
    }
    granted
}

/// Starts the reader of `socket` (non-blocking, a clone of the one the connections send on) on a thread of
/// its own; it stops when the returned sender is used or dropped.
pub(super) fn spawn_reader(
    socket: std::net::UdpSocket,
    shared: Arc<Shared>,
) -> io::Result<tokio::sync::oneshot::Sender<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new().name("sfu-udp-reader".into()).spawn(move || {
        runtime.block_on(async move {
            let socket = match UdpSocket::from_std(socket) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    tracing::error!(error = %e, "the SFU socket reader cannot start");
                    return;
                }
            };
            tokio::select! {
                _ = read_loop(socket, shared) => {}
                _ = stop_rx => {}
            }
        });
    })?;
    Ok(stop_tx)
}

async fn read_loop(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, source) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP port unreachable from a peer that left surfaces as ConnectionRefused/Reset: not ours to end.
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "SFU socket read failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let data = &buf[..n];
        let at = Instant::now();
        let mut reg = shared.lock();
        let Some(id) = reg.by_addr.get(&source).copied().or_else(|| learn(&mut reg, source, data)) else {
            tracing::trace!(%source, len = n, "datagram from an unknown address");
            continue;
        };
        let Some(conn) = reg.conns.get(&id) else {
            continue;
        };
        match conn.net.try_send(Datagram { data: data.to_vec(), source, at }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => tracing::debug!(conn = %id, "connection busy; datagram dropped"),
            Err(TrySendError::Closed(_)) => {}
        }
    }
}

/// A first datagram from `source`: if it is a STUN request naming one of our ufrags, remember the address.
fn learn(reg: &mut Registry, source: SocketAddr, data: &[u8]) -> Option<super::ConnId> {
    // RFC 7983: STUN starts with 0..=3; checking first saves parsing media.
    if data.first().is_none_or(|b| *b > 3) {
        return None;
    }
    let msg = StunMessage::parse(data).ok()?;
    if !msg.is_binding_request() {
        return None;
    }
    let ours = msg.username()?.split(':').next()?;
    let id = *reg.by_ufrag.get(ours)?;
    let conn = reg.conns.get_mut(&id)?;
    if conn.addrs.len() >= MAX_ADDRS_PER_CONN {
        return None;
    }
    conn.addrs.push(source);
    reg.by_addr.insert(source, id);
    tracing::debug!(conn = %id, %source, "learned peer address");
    Some(id)
}
