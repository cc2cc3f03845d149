//! The reader of the shared UDP socket: routes each datagram to its connection task by source address, and
//! learns a new source address from the local ufrag in a STUN binding request's USERNAME (RFC 8445 §7.2.2,
//! `USERNAME = <our ufrag>:<their ufrag>`).

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

pub(super) async fn read_loop(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
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
