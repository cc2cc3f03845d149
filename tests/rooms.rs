//! Rooms against a real PostgreSQL and a real server: creating and opening rooms by link, the 6-person
//! limit of a call, and random matching over `/ws` (pairing, Next, partner left, who may join a match room).

mod common;

use common::*;
use onair::signaling::protocol::{ClientMsg, ErrorCode, RoomId, ServerMsg, Signal};
use sqlx::PgPool;

async fn user(server: &TestServer, name: &str) -> (Browser, Client) {
    let b = Browser::new(server);
    b.signup(name, &format!("{name} display")).await;
    let c = Client::connect(server, &b).await;
    (b, c)
}

#[sqlx::test]
async fn a_room_is_created_with_a_link_and_opened_by_anyone_signed_in(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (ada, _) = user(&server, "ada").await;
    let res = ada.call("create_room", &[("name", "  Team sync  ")]).await;
    assert_eq!(res.status(), 200);
    let room: serde_json::Value = res.json().await.unwrap();
    let slug = room["slug"].as_str().unwrap().to_string();
    assert_eq!(room["name"], "Team sync");
    assert_eq!(room["participants"], 0);
    assert!(onair::rooms::valid_slug(&slug), "{slug}");

    let (ben, _) = user(&server, "ben").await;
    let res = ben.call("room", &[("slug", &slug)]).await;
    assert_eq!(res.status(), 200);
    let seen: serde_json::Value = res.json().await.unwrap();
    assert_eq!(seen["name"], "Team sync");
    assert_eq!(seen["created_by_name"], "ada display");

    let mine: Vec<serde_json::Value> = ada.call("my_rooms", &[]).await.json().await.unwrap();
    assert_eq!(mine.len(), 1);
    let theirs: Vec<serde_json::Value> = ben.call("my_rooms", &[]).await.json().await.unwrap();
    assert!(theirs.is_empty());

    for bad in ["nope-nope-nope", "UPPER", "../etc", ""] {
        let res = ben.call("room", &[("slug", bad)]).await;
        assert_eq!(res.status(), 404, "{bad}");
    }
}

#[sqlx::test]
async fn bad_room_names_and_signed_out_callers_are_refused_and_nothing_is_stored(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (ada, _) = user(&server, "ada").await;
    for bad in ["", "   ", &"x".repeat(81), "bell\u{7}"] {
        let res = ada.call("create_room", &[("name", bad)]).await;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(body["error"], "validation", "{body}");
    }
    let anon = Browser::new(&server);
    assert_eq!(anon.call("create_room", &[("name", "Mine")]).await.status(), 401);
    assert_eq!(anon.call("my_rooms", &[]).await.status(), 401);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM rooms").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn a_call_holds_six_and_the_seventh_is_told_the_room_is_full(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let room = RoomId::Call("six".into());
    let mut members = Vec::new();
    for i in 0..6 {
        let (_, mut c) = user(&server, &format!("person{i}")).await;
        c.send(&ClientMsg::Join { room: room.clone() }).await;
        match recv_until(&mut c, |m| matches!(m, ServerMsg::Joined { .. })).await {
            ServerMsg::Joined { peers, .. } => assert_eq!(peers.len(), i),
            other => panic!("{other:?}"),
        }
        members.push(c);
    }
    let (_, mut seventh) = user(&server, "late").await;
    seventh.send(&ClientMsg::Join { room: room.clone() }).await;
    assert_eq!(
        seventh.recv().await,
        ServerMsg::Error { code: ErrorCode::RoomFull, message: "This room is full.".into(), room: Some(room.clone()) }
    );
    // Nobody in the room heard of the refused member; one leaves and the seventh gets in.
    let mut first = members.remove(0);
    first.send(&ClientMsg::Leave { room: room.clone() }).await;
    recv_until(&mut first, |m| matches!(m, ServerMsg::Left { .. })).await;
    let refused = seventh.peer;
    for m in &mut members {
        let left = recv_until(m, |msg| {
            assert!(
                !matches!(msg, ServerMsg::PeerJoined { peer, .. } if peer.peer == refused),
                "the refused join was announced"
            );
            matches!(msg, ServerMsg::PeerLeft { .. })
        })
        .await;
        assert!(matches!(left, ServerMsg::PeerLeft { peer, .. } if peer == first.peer));
    }
    seventh.send(&ClientMsg::Join { room: room.clone() }).await;
    match seventh.recv().await {
        ServerMsg::Joined { peers, .. } => assert_eq!(peers.len(), 5),
        other => panic!("{other:?}"),
    }
}

fn matched(msg: &ServerMsg) -> Option<(RoomId, onair::ids::PeerId)> {
    match msg {
        ServerMsg::Matched { room, partner } => Some((room.clone(), partner.peer)),
        _ => None,
    }
}

#[sqlx::test]
async fn two_people_are_matched_call_each_other_and_next_ends_it_for_both(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (_, mut a) = user(&server, "ada").await;
    let (_, mut b) = user(&server, "ben").await;
    let (_, mut outsider) = user(&server, "eve").await;

    a.send(&ClientMsg::FindPartner).await;
    assert_eq!(a.recv().await, ServerMsg::MatchWaiting { waiting: 1 });
    b.send(&ClientMsg::FindPartner).await;
    let (room_b, partner_of_b) =
        matched(&recv_until(&mut b, |m| matches!(m, ServerMsg::Matched { .. })).await).unwrap();
    let (room_a, partner_of_a) = matched(&a.recv().await).unwrap();
    assert_eq!(room_a, room_b);
    assert_eq!((partner_of_a, partner_of_b), (b.peer, a.peer));
    assert!(matches!(room_a, RoomId::Match(_)));

    // Both join the match room and can signal each other; nobody else may join it.
    a.send(&ClientMsg::Join { room: room_a.clone() }).await;
    assert!(matches!(a.recv().await, ServerMsg::Joined { .. }));
    b.send(&ClientMsg::Join { room: room_a.clone() }).await;
    assert!(matches!(b.recv().await, ServerMsg::Joined { .. }));
    assert!(matches!(a.recv().await, ServerMsg::PeerJoined { .. }));
    outsider.send(&ClientMsg::Join { room: room_a.clone() }).await;
    assert!(matches!(outsider.recv().await, ServerMsg::Error { code: ErrorCode::Forbidden, .. }));
    b.send(&ClientMsg::Signal { room: room_a.clone(), to: a.peer, signal: Signal::Offer { sdp: "v=0".into() } }).await;
    assert!(matches!(a.recv().await, ServerMsg::Signal { from, .. } if from == b.peer));

    // A presses Next: A waits again, B hears that the partner left and is out of the room.
    a.send(&ClientMsg::FindPartner).await;
    let got = recv_until(&mut b, |m| matches!(m, ServerMsg::PartnerLeft { .. })).await;
    assert_eq!(got, ServerMsg::PartnerLeft { room: room_a.clone() });
    assert_eq!(
        recv_until(&mut a, |m| matches!(m, ServerMsg::MatchWaiting { .. })).await,
        ServerMsg::MatchWaiting { waiting: 1 }
    );
    // The ended pair's room can no longer be joined.
    b.send(&ClientMsg::Join { room: room_a.clone() }).await;
    assert!(matches!(
        recv_until(&mut b, |m| matches!(m, ServerMsg::Error { .. })).await,
        ServerMsg::Error { code: ErrorCode::NoSuchRoom, .. }
    ));

    // B requeues: former partners are not paired again at once; the outsider is paired with A (oldest).
    b.send(&ClientMsg::FindPartner).await;
    assert_eq!(b.recv().await, ServerMsg::MatchWaiting { waiting: 2 });
    outsider.send(&ClientMsg::FindPartner).await;
    let (_, partner) = matched(&recv_until(&mut outsider, |m| matches!(m, ServerMsg::Matched { .. })).await).unwrap();
    assert_eq!(partner, a.peer);
}

#[sqlx::test]
async fn nobody_is_matched_with_themselves_and_a_disconnect_ends_the_match(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (ada_browser, mut a1) = user(&server, "ada").await;
    let mut a2 = Client::connect(&server, &ada_browser).await;
    a1.send(&ClientMsg::FindPartner).await;
    assert_eq!(a1.recv().await, ServerMsg::MatchWaiting { waiting: 1 });
    a2.send(&ClientMsg::FindPartner).await;
    assert_eq!(a2.recv().await, ServerMsg::MatchWaiting { waiting: 2 }, "two tabs of one account stay apart");

    let (_, mut b) = user(&server, "ben").await;
    b.send(&ClientMsg::FindPartner).await;
    let (room, partner) = matched(&recv_until(&mut b, |m| matches!(m, ServerMsg::Matched { .. })).await).unwrap();
    assert_eq!(partner, a1.peer, "the one who waited longest");
    assert!(matches!(a1.recv().await, ServerMsg::Matched { .. }));

    // A closes the tab: B is told.
    drop(a1);
    assert_eq!(
        recv_until(&mut b, |m| matches!(m, ServerMsg::PartnerLeft { .. })).await,
        ServerMsg::PartnerLeft { room }
    );

    // Stop leaves the queue.
    a2.send(&ClientMsg::StopMatching).await;
    assert_eq!(a2.recv().await, ServerMsg::MatchStopped);
    b.send(&ClientMsg::FindPartner).await;
    assert_eq!(b.recv().await, ServerMsg::MatchWaiting { waiting: 1 }, "a2 is no longer waiting");
}
