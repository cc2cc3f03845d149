//! `/ws` client connections for the load tool (tokio-tungstenite), from a chosen 127.0.0.x source address.

use futures_util::{SinkExt, StreamExt};
use onair::ids::PeerId;
use onair::signaling::protocol::{ClientMsg, RoomId, ServerMsg};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// One bench WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// How long set-up steps (connect, welcome, joined) may take per socket.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Client buffers: small, so that 20k client sockets fit in memory too (the server's are what we measure).
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(16 * 1024).max_message_size(Some(16 << 20))
}

/// Source address for connection number `i`: 127.0.0.1 for the first 10 000, then 127.0.0.2, … so that
/// ephemeral ports (about 28 000 per source address) never run out.
pub fn source_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i / 10_000) as u8)
}

/// Opens `/ws` as the owner of `cookie` from source address `src` and reads the `welcome`.
pub async fn connect(addr: SocketAddr, src: Ipv4Addr, cookie: &str) -> Result<(Ws, PeerId), String> {
    let work = async {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket.bind(SocketAddr::from((src, 0))).map_err(|e| format!("bind {src}: {e}"))?;
        let stream = socket.connect(addr).await.map_err(|e| format!("connect {addr} from {src}: {e}"))?;
        stream.set_nodelay(true).ok();
        let mut req = format!("ws://{addr}/ws").into_client_request().map_err(|e| e.to_string())?;
        req.headers_mut().insert("Cookie", cookie.parse().map_err(|_| "bad cookie")?);
        req.headers_mut().insert("Origin", format!("http://{addr}").parse().map_err(|_| "bad origin")?);
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(client_config()))
            .await
            .map_err(|e| format!("upgrade: {e}"))?;
        match next_server_msg(&mut ws).await? {
            ServerMsg::Welcome { peer, .. } => Ok((ws, peer)),
            other => Err(format!("expected welcome, got {other:?}")),
        }
    };
    tokio::time::timeout(SETUP_TIMEOUT, work).await.map_err(|_| "connect timed out".to_string())?
}

/// Sends one protocol message.
pub async fn send(ws: &mut Ws, msg: &ClientMsg) -> Result<(), String> {
    let text = serde_json::to_string(msg).map_err(|e| e.to_string())?;
    ws.send(Message::text(text)).await.map_err(|e| format!("send: {e}"))
}

/// The next protocol message (pings/pongs skipped).
pub async fn next_server_msg(ws: &mut Ws) -> Result<ServerMsg, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).map_err(|e| format!("bad message: {e}")),
            Some(Ok(Message::Close(frame))) => return Err(format!("closed by the server: {frame:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("connection ended".into()),
        }
    }
}

/// Joins `room` and waits for `joined` (other messages before it are skipped); returns the peers listed.
pub async fn join(ws: &mut Ws, room: &RoomId) -> Result<Vec<onair::signaling::protocol::PeerInfo>, String> {
    send(ws, &ClientMsg::Join { room: room.clone() }).await?;
    let work = async {
        loop {
            match next_server_msg(ws).await? {
                ServerMsg::Joined { room: r, peers, .. } if &r == room => return Ok(peers),
                ServerMsg::Error { code, message, .. } => return Err(format!("join {room}: {code:?} {message}")),
                _ => continue,
            }
        }
    };
    tokio::time::timeout(SETUP_TIMEOUT, work).await.map_err(|_| format!("join {room}: timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_change_every_10k_connections() {
        assert_eq!(source_ip(0), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(source_ip(9_999), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(source_ip(10_000), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_ip(25_000), Ipv4Addr::new(127, 0, 0, 3));
    }
}
