//! `/ws` against a real running server with real sessions: relay with a server-stamped sender, and every
//! refusal the protocol promises (no session, wrong Origin, oversize frame, bad JSON, non-member target,
//! silent client, slow reader).

mod common;

use common::*;
use futures_util::SinkExt;
use onair::ids::PeerId;
use onair::signaling::protocol::{close_code, ClientMsg, ErrorCode, IceConfig, RoomId, ServerMsg, Signal};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

fn room(slug: &str) -> RoomId {
    RoomId::Call(slug.into())
}

async fn two_users_in_room(server: &TestServer, slug: &str) -> (Client, Client) {
    let alice_b = Browser::new(server);
    alice_b.signup("alice", "Alice").await;
    let bob_b = Browser::new(server);
    bob_b.signup("bob", "Bob").await;
    let mut alice = Client::connect(server, &alice_b).await;
    let mut bob = Client::connect(server, &bob_b).await;
    alice.send(&ClientMsg::Join { room: room(slug) }).await;
    assert_eq!(
        alice.recv().await,
        ServerMsg::Joined { room: room(slug), peers: vec![], ice: Some(IceConfig::default()), delivery: None }
    );
    bob.send(&ClientMsg::Join { room: room(slug) }).await;
    match bob.recv().await {
        ServerMsg::Joined { peers, .. } => {
            assert_eq!(peers.len(), 1);
            assert_eq!(peers[0].peer, alice.peer);
            assert_eq!(peers[0].name, "Alice");
        }
        other => panic!("{other:?}"),
    }
    match alice.recv().await {
        ServerMsg::PeerJoined { peer, .. } => assert_eq!(peer.peer, bob.peer),
        other => panic!("{other:?}"),
    }
    (alice, bob)
}

#[sqlx::test]
async fn two_users_exchange_a_relayed_signal_with_the_server_stamped_sender(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (mut alice, mut bob) = two_users_in_room(&server, "standup").await;

    // Bob claims to be Alice in an extra `from` field; the server ignores it and stamps Bob.
    let forged = format!(
        r#"{{"type":"signal","room":"call:standup","to":{},"from":{},"from_user":"{}","signal":{{"kind":"offer","sdp":"v=0"}}}}"#,
        alice.peer.0, alice.peer.0, alice.user
    );
    bob.send_raw(&forged).await;
    assert_eq!(
        alice.recv().await,
        ServerMsg::Signal {
            room: room("standup"),
            from: bob.peer,
            from_user: bob.user,
            signal: Signal::Offer { sdp: "v=0".into() }
        }
    );

    alice
        .send(&ClientMsg::Signal {
            room: room("standup"),
            to: bob.peer,
            signal: Signal::Answer { sdp: "v=0 answer".into() },
        })
        .await;
    match bob.recv().await {
        ServerMsg::Signal { from, from_user, signal, .. } => {
            assert_eq!((from, from_user), (alice.peer, alice.user));
            assert_eq!(signal, Signal::Answer { sdp: "v=0 answer".into() });
        }
        other => panic!("{other:?}"),
    }

    // Leaving tells the others.
    bob.send(&ClientMsg::Leave { room: room("standup") }).await;
    assert_eq!(bob.recv().await, ServerMsg::Left { room: room("standup") });
    assert_eq!(alice.recv().await, ServerMsg::PeerLeft { room: room("standup"), peer: bob.peer });
}

#[sqlx::test]
async fn an_upgrade_without_a_session_is_refused_with_401(pool: PgPool) {
    let server = TestServer::start(pool).await;
    match ws_connect(&server, None, Some(&server.origin())).await {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    // A made-up session cookie is no better.
    match ws_connect(&server, Some("onair_session=forged"), Some(&server.origin())).await {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
}

#[sqlx::test]
async fn an_upgrade_from_a_wrong_origin_is_refused_with_403(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let browser = Browser::new(&server);
    browser.signup("carol", "Carol").await;
    for origin in [Some("http://evil.example"), None] {
        match ws_connect(&server, Some(&browser.cookie()), origin).await {
            Err(WsError::Http(res)) => assert_eq!(res.status(), 403, "origin {origin:?}"),
            other => panic!("expected 403 for {origin:?}, got {:?}", other.map(|_| ())),
        }
    }
}

#[sqlx::test]
async fn an_oversize_message_closes_only_that_socket_with_1009(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (mut alice, mut bob) = two_users_in_room(&server, "big").await;
    let huge = format!(r#"{{"type":"ping","nonce":1,"pad":"{}"}}"#, "x".repeat(70 * 1024));
    bob.ws.send(Message::text(huge)).await.unwrap();
    assert_eq!(close_code(&mut bob.ws).await, Some(close_code::MESSAGE_TOO_BIG));

    // Alice is unaffected: she sees Bob leave and still gets answers.
    assert_eq!(alice.recv().await, ServerMsg::PeerLeft { room: room("big"), peer: bob.peer });
    alice.send(&ClientMsg::Ping { nonce: 5 }).await;
    assert_eq!(alice.recv().await, ServerMsg::Pong { nonce: 5 });
}

#[sqlx::test]
async fn malformed_json_closes_with_1007_and_an_unknown_type_with_1008(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (mut alice, mut bob) = two_users_in_room(&server, "bad").await;
    bob.send_raw("{not json").await;
    assert_eq!(close_code(&mut bob.ws).await, Some(close_code::INVALID_PAYLOAD));

    let browser = Browser::new(&server);
    browser.signup("dave", "Dave").await;
    let mut dave = Client::connect(&server, &browser).await;
    dave.send_raw(r#"{"type":"shout","text":"hi"}"#).await;
    assert_eq!(close_code(&mut dave.ws).await, Some(close_code::POLICY_VIOLATION));

    alice.send(&ClientMsg::Ping { nonce: 1 }).await;
    assert_eq!(alice.recv().await, ServerMsg::PeerLeft { room: room("bad"), peer: bob.peer });
    assert_eq!(alice.recv().await, ServerMsg::Pong { nonce: 1 });
}

#[sqlx::test]
async fn a_message_to_a_non_member_is_dropped_with_an_error(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (mut alice, mut bob) = two_users_in_room(&server, "private").await;
    let eve_b = Browser::new(&server);
    eve_b.signup("eve", "Eve").await;
    let mut eve = Client::connect(&server, &eve_b).await;

    // Eve is not in the room: she cannot signal into it.
    eve.send(&ClientMsg::Signal { room: room("private"), to: alice.peer, signal: Signal::EndOfCandidates }).await;
    match eve.recv().await {
        ServerMsg::Error { code, .. } => assert_eq!(code, ErrorCode::NotInRoom),
        other => panic!("{other:?}"),
    }
    // Eve in another room cannot reach Alice through it.
    eve.send(&ClientMsg::Join { room: room("other") }).await;
    assert!(matches!(eve.recv().await, ServerMsg::Joined { .. }));
    eve.send(&ClientMsg::Signal { room: room("other"), to: alice.peer, signal: Signal::EndOfCandidates }).await;
    match eve.recv().await {
        ServerMsg::Error { code, .. } => assert_eq!(code, ErrorCode::PeerNotInRoom),
        other => panic!("{other:?}"),
    }
    // Bob addressing a peer that does not exist gets the same error.
    bob.send(&ClientMsg::Signal { room: room("private"), to: PeerId(999_999), signal: Signal::EndOfCandidates }).await;
    match bob.recv().await {
        ServerMsg::Error { code, .. } => assert_eq!(code, ErrorCode::PeerNotInRoom),
        other => panic!("{other:?}"),
    }
    // Nothing reached Alice: her next message is the answer to her own ping.
    alice.send(&ClientMsg::Ping { nonce: 42 }).await;
    assert_eq!(alice.recv().await, ServerMsg::Pong { nonce: 42 });
}

#[sqlx::test]
async fn a_silent_client_is_dropped_after_the_idle_timeout(pool: PgPool) {
    let server = TestServer::start_with(pool, |c| {
        c.ws_ping_interval_ms = 100;
        c.ws_idle_timeout_ms = 400;
    })
    .await;
    let browser = Browser::new(&server);
    browser.signup("quiet", "Quiet").await;
    let mut quiet = Client::connect(&server, &browser).await;
    // Not reading means not answering pings.
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(close_code(&mut quiet.ws).await, Some(close_code::HEARTBEAT_TIMEOUT));

    // A client that reads (and so answers pings) stays connected past the timeout.
    let mut lively = Client::connect(&server, &browser).await;
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(900);
    while tokio::time::Instant::now() < until {
        lively.send(&ClientMsg::Ping { nonce: 1 }).await;
        assert_eq!(lively.recv().await, ServerMsg::Pong { nonce: 1 });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[sqlx::test]
async fn a_client_that_never_reads_is_disconnected_not_buffered(pool: PgPool) {
    let server = TestServer::start_with(pool, |c| c.ws_send_queue = 8).await;
    let (mut alice, bob) = two_users_in_room(&server, "flood").await;
    let sdp = "a".repeat(1000);
    // Bob never reads. Alice keeps relaying until the server gives up on Bob and tells her he left.
    let mut sent = 0u64;
    let mut left = None;
    while left.is_none() {
        assert!(sent < 200_000, "bob was never disconnected");
        for _ in 0..500 {
            alice
                .send(&ClientMsg::Signal {
                    room: room("flood"),
                    to: bob.peer,
                    signal: Signal::Offer { sdp: sdp.clone() },
                })
                .await;
        }
        sent += 500;
        alice.send(&ClientMsg::Ping { nonce: sent }).await;
        // Read up to the pong; relays after Bob was dropped come back as errors, which is fine.
        loop {
            match alice.recv().await {
                ServerMsg::Pong { nonce } if nonce == sent => break,
                ServerMsg::PeerLeft { peer, .. } => left = Some(peer),
                ServerMsg::Error { code: ErrorCode::PeerNotInRoom, .. } => {}
                other => panic!("{other:?}"),
            }
        }
    }
    let left = left.unwrap();
    assert_eq!(left, bob.peer);
    drop(bob);
}
