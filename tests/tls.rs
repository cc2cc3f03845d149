//! HTTPS and WSS served by the server itself: a self-signed certificate for 127.0.0.1 made at test time
//! (rcgen), the real server started with `--tls-cert`/`--tls-key` on 127.0.0.1:<ephemeral>, and clients
//! (reqwest, tokio-tungstenite) that trust only that certificate.

mod common;

use common::*;
use onair::signaling::protocol::ServerMsg;
use rustls::pki_types::CertificateDer;
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::Connector;

/// A self-signed certificate for `127.0.0.1` and `localhost`, written as PEM files into its own directory.
struct DevCert {
    dir: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
    der: CertificateDer<'static>,
}

impl DevCert {
    fn new(test: &str) -> Self {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let dir = std::env::temp_dir().join(format!("onair-tls-test-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, signing_key.serialize_pem()).unwrap();
        Self { dir, cert_file, key_file, der: cert.der().clone() }
    }

    /// A rustls client configuration whose only trusted root is this certificate.
    fn client_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// A browser (cookie jar, same-origin `Origin`) that trusts only this certificate.
    fn browser(&self, server: &TestServer) -> Browser {
        Browser::with_client(server, reqwest::Client::builder().use_preconfigured_tls(self.client_config()))
    }
}

impl Drop for DevCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_tls(pool: PgPool, cert: &DevCert) -> TestServer {
    let (cert_file, key_file) = (cert.cert_file.clone(), cert.key_file.clone());
    TestServer::start_with(pool, move |config| {
        config.tls_cert = Some(cert_file);
        config.tls_key = Some(key_file);
    })
    .await
}

/// Opens `wss://.../ws` through a connector that trusts only `cert`.
async fn wss_connect(server: &TestServer, cert: &DevCert, cookie: &str, origin: &str) -> Result<Ws, WsError> {
    let mut req = server.ws_url().into_client_request().unwrap();
    req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    req.headers_mut().insert("Origin", origin.parse().unwrap());
    let connector = Connector::Rustls(Arc::new(cert.client_config()));
    tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await.map(|(ws, _)| ws)
}

#[sqlx::test]
async fn healthz_answers_over_https_with_the_configured_certificate(pool: PgPool) {
    let cert = DevCert::new("healthz");
    let server = start_tls(pool, &cert).await;
    assert!(server.url("").starts_with("https://127.0.0.1:"), "{}", server.url(""));

    let browser = cert.browser(&server);
    let res = browser.http.get(server.url("/healthz")).send().await.expect("HTTPS GET /healthz");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");

    // A client that does not trust the certificate is refused by its own TLS check.
    let stranger = reqwest::Client::builder()
        .use_preconfigured_tls(DevCert::new("healthz-other").client_config())
        .build()
        .unwrap();
    let err = stranger.get(server.url("/healthz")).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[sqlx::test]
async fn the_session_cookie_is_secure_over_https(pool: PgPool) {
    let cert = DevCert::new("cookie");
    let server = start_tls(pool, &cert).await;
    let browser = cert.browser(&server);

    let res =
        browser.call("signup", &[("username", "tess"), ("display_name", "Tess"), ("password", "correct horse")]).await;
    assert_eq!(res.status(), 200, "signup: {}", res.text().await.unwrap_or_default());
    let session = set_cookie(&res, "onair_session").expect("signup sets the session cookie");
    assert!(has_attribute(&session, "Secure"), "{session}");
    assert!(has_attribute(&session, "HttpOnly"), "{session}");

    assert_eq!(browser.call("logout", &[]).await.status(), 200);
    let res = browser.call("login", &[("username", "tess"), ("password", "correct horse")]).await;
    assert_eq!(res.status(), 200);
    let session = set_cookie(&res, "onair_session").expect("login sets the session cookie");
    assert!(has_attribute(&session, "Secure"), "{session}");
    let me: Option<UserJson> = browser.call("me", &[]).await.json().await.unwrap();
    assert_eq!(me.expect("signed in over HTTPS").username, "tess");
}

/// The `Set-Cookie` header of `res` that sets `name`.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn has_attribute(set_cookie: &str, attribute: &str) -> bool {
    set_cookie.split(';').any(|part| part.trim().eq_ignore_ascii_case(attribute))
}

#[sqlx::test]
async fn a_wss_client_with_the_session_and_an_https_origin_is_welcomed(pool: PgPool) {
    let cert = DevCert::new("wss");
    let server = start_tls(pool, &cert).await;
    let browser = cert.browser(&server);
    let user = browser.signup("walt", "Walt").await;
    assert!(server.origin().starts_with("https://"), "{}", server.origin());

    let mut ws = wss_connect(&server, &cert, &browser.cookie(), &server.origin()).await.expect("WSS upgrade");
    match next_msg(&mut ws).await {
        ServerMsg::Welcome { user: welcomed, .. } => assert_eq!(welcomed, user.id),
        other => panic!("expected welcome, got {other:?}"),
    }

    // Over HTTPS the default origins are https://: the http:// origin of the same address is refused.
    let http_origin = format!("http://{}", server.addr);
    match wss_connect(&server, &cert, &browser.cookie(), &http_origin).await {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("expected 403 for {http_origin}, got {:?}", other.map(|_| ())),
    }

    // Graceful shutdown reaches WebSockets over TLS too: they close with 1001 (going away).
    drop(server);
    assert_eq!(close_code(&mut ws).await, Some(code(CloseCode::Away)));
}

#[sqlx::test]
async fn plain_http_and_ws_clients_on_the_tls_port_fail_and_https_keeps_working(pool: PgPool) {
    let cert = DevCert::new("plain");
    let server = start_tls(pool, &cert).await;

    let plain = reqwest::Client::new();
    let answer = plain.get(format!("http://{}/healthz", server.addr)).send().await;
    assert!(answer.is_err(), "plain HTTP must not get an answer: {answer:?}");

    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await.map(|_| ()).unwrap_err();
    assert!(!matches!(err, WsError::Http(_)), "plain ws:// must not get an HTTP answer: {err:?}");

    // Those failed handshakes cost only their own connections.
    let res = cert.browser(&server).http.get(server.url("/healthz")).send().await.expect("HTTPS after them");
    assert_eq!(res.status(), 200);
}
