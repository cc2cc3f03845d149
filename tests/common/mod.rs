//! Test support: a real server on an ephemeral port over a `#[sqlx::test]` database, an HTTP client with a
//! cookie jar, and a WebSocket client that speaks the `/ws` protocol.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use onair::ids::{PeerId, UserId};
use onair::server::config::Config;
use onair::server::{prepare_database, Server};
use onair::signaling::protocol::{ClientMsg, ServerMsg};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for one expected message before failing.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    /// `http://<addr>`, or `https://<addr>` when the test config has `--tls-cert`/`--tls-key`.
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// Starts the full app on 127.0.0.1:<ephemeral> over `pool`, with `tweak` applied to the test config.
    pub async fn start_with(pool: PgPool, tweak: impl FnOnce(&mut Config)) -> Self {
        install_crypto_provider();
        prepare_database(&pool).await.expect("migrate");
        let mut config = Config::for_tests("postgres://unused-in-tests");
        tweak(&mut config);
        let server = Server::bind(config, pool).await.expect("bind");
        let (addr, base) = (server.addr, server.url());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        Self { addr, base, stop: Some(tx) }
    }

    pub async fn start(pool: PgPool) -> Self {
        Self::start_with(pool, |_| {}).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The origin the server allows by default.
    pub fn origin(&self) -> String {
        self.base.clone()
    }

    /// `ws://<addr>/ws`, or `wss://` over TLS.
    pub fn ws_url(&self) -> String {
        format!("ws{}/ws", self.base.strip_prefix("http").expect("the base URL is http(s)://"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Makes aws-lc-rs the process's rustls provider (idempotent). reqwest's TLS here is built without a
/// provider of its own (so the tree keeps one, the server's), and every `reqwest::Client` needs one, even for
/// plain `http://`; tests build their clients after starting a [`TestServer`], which calls this.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A browser-like HTTP client: cookie jar, same-origin `Origin` header on posts.
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub origin: String,
    base: String,
}

#[derive(serde::Deserialize, Debug)]
pub struct UserJson {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
}

impl Browser {
    pub fn new(server: &TestServer) -> Self {
        Self::with_client(server, reqwest::Client::builder())
    }

    /// Like [`Browser::new`], from a client builder with other settings (e.g. the TLS roots to trust).
    pub fn with_client(server: &TestServer, builder: reqwest::ClientBuilder) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = builder.cookie_provider(jar.clone()).build().unwrap();
        Self { http, jar, origin: server.origin(), base: server.url("") }
    }

    /// POSTs a server function with form fields, as the browser does.
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/api/{endpoint}", self.base))
            .header("Origin", &self.origin)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn signup(&self, username: &str, display_name: &str) -> UserJson {
        let res = self
            .call("signup", &[("username", username), ("display_name", display_name), ("password", "correct horse")])
            .await;
        assert_eq!(res.status(), 200, "signup failed: {}", res.text().await.unwrap_or_default());
        res.json().await.unwrap()
    }

    /// The `Cookie` header value this browser would send to the server.
    pub fn cookie(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().unwrap();
        self.jar.cookies(&url).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `/ws` with the given cookie and origin; returns the handshake error if the server refuses.
pub async fn ws_connect(
    server: &TestServer,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = server.ws_url().into_client_request().unwrap();
    if let Some(cookie) = cookie {
        req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    }
    if let Some(origin) = origin {
        req.headers_mut().insert("Origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.map(|(ws, _)| ws)
}

/// A signed-in user's `/ws` connection, after its `welcome`.
pub struct Client {
    pub ws: Ws,
    pub peer: PeerId,
    pub user: UserId,
}

impl Client {
    pub async fn connect(server: &TestServer, browser: &Browser) -> Self {
        let mut ws = ws_connect(server, Some(&browser.cookie()), Some(&server.origin())).await.expect("upgrade");
        match next_msg(&mut ws).await {
            ServerMsg::Welcome { peer, user, .. } => Self { ws, peer, user },
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.send_raw(&serde_json::to_string(msg).unwrap()).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn recv(&mut self) -> ServerMsg {
        next_msg(&mut self.ws).await
    }
}

/// Reads `client`'s messages until one matches `pred`, and returns it (each read bounded by [`WAIT`]).
pub async fn recv_until(client: &mut Client, mut pred: impl FnMut(&ServerMsg) -> bool) -> ServerMsg {
    loop {
        let msg = client.recv().await;
        if pred(&msg) {
            return msg;
        }
    }
}

/// The next protocol message (pings and pongs skipped); panics on close or after [`WAIT`].
pub async fn next_msg(ws: &mut Ws) -> ServerMsg {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.expect("timed out waiting for a message");
        match msg {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Reads until the server closes; returns the close code (`None` if the connection ended without a
/// close frame).
pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("timed out waiting for close") {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

pub fn code(c: CloseCode) -> u16 {
    c.into()
}
