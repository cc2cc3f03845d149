//! ICE servers handed to clients: STUN for everyone, TURN with short-lived TURN REST API credentials only for
//! signed-in users (the connection test) and for members of a media room (`joined`, `refresh_ice`); and the
//! protocol version check of `/ws` (issue #8).

mod common;

use common::*;
use onair::ids::UserId;
use onair::signaling::protocol::{close_code, ClientMsg, ErrorCode, IceConfig, RoomId, ServerMsg, PROTOCOL_VERSION};
use sqlx::PgPool;

#[sqlx::test]
async fn the_connection_test_gets_turn_credentials_only_when_signed_in_for_ten_minutes(pool: PgPool) {
    let server = TestServer::start_with(pool, |c| {
        c.ice_servers = vec!["stun:stun.example.test:3478".into()];
        c.turn_urls = vec!["turn:turn.example.test:3478?transport=udp".into()];
        c.turn_secret = onair::server::turn::TurnSecret::new("test-secret");
        c.turn_ttl_secs = 86_400;
    })
    .await;
    let anon = Browser::new(&server);
    let servers: Vec<onair::rtc::IceServer> = anon.call("ice_servers", &[]).await.json().await.unwrap();
    assert_eq!(servers.len(), 1, "signed out: STUN only");
    assert!(servers[0].credential.is_none());

    let ada = Browser::new(&server);
    ada.signup("ada", "Ada").await;
    let me: serde_json::Value = ada.call("me", &[]).await.json().await.unwrap();
    let servers: Vec<onair::rtc::IceServer> = ada.call("ice_servers", &[]).await.json().await.unwrap();
    assert_eq!(servers.len(), 2);
    let turn = &servers[1];
    assert_eq!(turn.urls, vec!["turn:turn.example.test:3478?transport=udp".to_string()]);
    let username = turn.username.clone().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, me["id"].as_str().unwrap());
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        expiry > now && expiry <= now + 600 + 5,
        "the connection test's credentials last 10 minutes: {expiry} vs {now}"
    );
    let expected = onair::server::turn::credentials(
        &onair::server::turn::TurnSecret::new("test-secret").unwrap(),
        user,
        expiry - 600,
        600,
    );
    assert_eq!(turn.credential.as_deref(), Some(expected.credential.as_str()));
}

fn turn_config(c: &mut onair::server::config::Config) {
    c.ice_servers = vec!["stun:stun.example.test:3478".into()];
    c.turn_urls = vec!["turn:turn.example.test:3478?transport=udp".into()];
    c.turn_secret = onair::server::turn::TurnSecret::new("test-secret");
    c.turn_ttl_secs = 600;
}

/// The TURN entry of an ICE config, checked against the secret: username `<expiry>:<user>`, HMAC credential,
/// `expires_at_ms` = expiry, lifetime as configured.
fn assert_turn_for(ice: &IceConfig, user: UserId) {
    assert_eq!(ice.servers.len(), 2, "STUN + TURN: {ice:?}");
    let turn = &ice.servers[1];
    let username = turn.username.clone().expect("TURN username");
    let (expiry, who) = username.split_once(':').unwrap();
    assert_eq!(who, user.to_string());
    let expiry: u64 = expiry.parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    assert!(expiry > now + 590 && expiry <= now + 605, "10-minute credentials: {expiry} vs {now}");
    assert_eq!(ice.expires_at_ms, Some(expiry as i64 * 1000));
    let secret = onair::server::turn::TurnSecret::new("test-secret").unwrap();
    let expected = onair::server::turn::credentials(&secret, who, expiry - 600, 600);
    assert_eq!(turn.credential.as_deref(), Some(expected.credential.as_str()));
}

#[sqlx::test]
async fn joining_a_media_room_hands_out_turn_credentials_and_refresh_ice_renews_them(pool: PgPool) {
    let server = TestServer::start_with(pool, turn_config).await;
    let ada = Browser::new(&server);
    ada.signup("ada", "Ada").await;
    let mut c = Client::connect(&server, &ada).await;
    let call = RoomId::Call("ice-test".into());

    // Not a member yet: no credentials.
    c.send(&ClientMsg::RefreshIce { room: call.clone() }).await;
    assert!(matches!(c.recv().await, ServerMsg::Error { code: ErrorCode::NotInRoom, .. }));

    c.send(&ClientMsg::Join { room: call.clone() }).await;
    match c.recv().await {
        ServerMsg::Joined { ice: Some(ice), .. } => assert_turn_for(&ice, c.user),
        other => panic!("expected joined with ICE servers, got {other:?}"),
    }
    c.send(&ClientMsg::RefreshIce { room: call.clone() }).await;
    match c.recv().await {
        ServerMsg::IceServers { room, ice } => {
            assert_eq!(room, call);
            assert_turn_for(&ice, c.user);
        }
        other => panic!("expected ice_servers, got {other:?}"),
    }

    // The listings feed carries no media: no ICE servers, and no refresh.
    c.send(&ClientMsg::Join { room: RoomId::Listings }).await;
    assert!(matches!(c.recv().await, ServerMsg::Joined { ice: None, .. }));
    c.send(&ClientMsg::RefreshIce { room: RoomId::Listings }).await;
    assert!(matches!(c.recv().await, ServerMsg::Error { code: ErrorCode::NotInRoom, .. }));

    // After leaving, no more credentials for that room.
    c.send(&ClientMsg::Leave { room: call.clone() }).await;
    assert!(matches!(c.recv().await, ServerMsg::Left { .. }));
    c.send(&ClientMsg::RefreshIce { room: call }).await;
    assert!(matches!(c.recv().await, ServerMsg::Error { code: ErrorCode::NotInRoom, .. }));
}

#[sqlx::test]
async fn a_refused_join_gets_no_credentials(pool: PgPool) {
    let server = TestServer::start_with(pool, turn_config).await;
    let ada = Browser::new(&server);
    ada.signup("ada", "Ada").await;
    let mut c = Client::connect(&server, &ada).await;
    // A stream that is not live (unknown id) is refused; the error carries nothing secret.
    let stream = RoomId::Stream(onair::ids::StreamId(uuid::Uuid::now_v7()));
    c.send(&ClientMsg::Join { room: stream.clone() }).await;
    match c.recv().await {
        ServerMsg::Error { code: ErrorCode::NoSuchRoom, room, .. } => assert_eq!(room, Some(stream.clone())),
        other => panic!("expected no_such_room, got {other:?}"),
    }
    c.send(&ClientMsg::RefreshIce { room: stream }).await;
    assert!(matches!(c.recv().await, ServerMsg::Error { code: ErrorCode::NotInRoom, .. }));
}

/// Opens `/ws<query>` as `browser`.
async fn ws_with_query(server: &TestServer, browser: &Browser, query: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}{query}", server.ws_url()).into_client_request().unwrap();
    req.headers_mut().insert("Cookie", browser.cookie().parse().unwrap());
    req.headers_mut().insert("Origin", server.origin().parse().unwrap());
    tokio_tungstenite::connect_async(req).await.expect("upgrade").0
}

#[sqlx::test]
async fn the_protocol_version_is_checked(pool: PgPool) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::start(pool).await;
    let ada = Browser::new(&server);
    ada.signup("ada", "Ada").await;

    for query in ["", "?v=1"] {
        let mut ws = ws_with_query(&server, &ada, query).await;
        match next_msg(&mut ws).await {
            ServerMsg::Welcome { protocol, .. } => assert_eq!(protocol, PROTOCOL_VERSION),
            other => panic!("expected welcome, got {other:?}"),
        }
    }
    for query in ["?v=2", "?v=0", "?v=abc"] {
        let mut ws = ws_with_query(&server, &ada, query).await;
        let frame = loop {
            match tokio::time::timeout(WAIT, ws.next()).await.expect("closed in time") {
                Some(Ok(Message::Close(frame))) => break frame.expect("a close frame with a code"),
                Some(Ok(Message::Text(t))) => panic!("{query}: expected a close, got {t}"),
                Some(Ok(_)) => continue,
                other => panic!("{query}: expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(u16::from(frame.code), close_code::UNSUPPORTED_VERSION, "{query}");
        assert!(frame.reason.contains("version"), "{query}: the reason says why: {}", frame.reason);
    }
}
