//! ICE servers handed to browsers: STUN for everyone, TURN with short-lived TURN REST API credentials only for
//! signed-in users (issue #8, first part).

mod common;

use common::*;
use sqlx::PgPool;

#[sqlx::test]
async fn turn_credentials_go_only_to_signed_in_users_and_expire_within_an_hour(pool: PgPool) {
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
    assert!(expiry > now && expiry <= now + 3600 + 5, "capped at one hour: {expiry} vs {now}");
    let expected = onair::server::turn::credentials(
        &onair::server::turn::TurnSecret::new("test-secret").unwrap(),
        user,
        expiry - 3600,
        3600,
    );
    assert_eq!(turn.credential.as_deref(), Some(expected.credential.as_str()));
}
