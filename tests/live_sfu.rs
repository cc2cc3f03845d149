//! Live streams delivered through the forwarding unit, against a real server (its SFU on a free UDP port of
//! 127.0.0.1) and a real PostgreSQL: who may publish and subscribe with `sfu_signal`, a synthetic str0m
//! publisher and subscribers negotiating through `/ws`, and what viewers hear when the seller's media comes
//! and goes.

mod common;
#[path = "common/sfu_client.rs"]
mod sfu_client;

use common::*;
use onair::ids::StreamId;
use onair::signaling::protocol::{ClientMsg, Delivery, ErrorCode, RoomId, ServerMsg, Signal};
use sfu_client::{assert_continuous, spawn_publisher, spawn_subscriber, Client as RtcClient, Received};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use str0m::change::SdpPendingOffer;
use str0m::media::Direction;

async fn go_live(browser: &Browser, title: &str) -> StreamId {
    let res =
        browser.call("go_live", &[("title", title), ("description", "Testing"), ("category", "collectibles")]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

async fn user(server: &TestServer, name: &str) -> (Browser, Client) {
    let b = Browser::new(server);
    b.signup(name, name).await;
    let c = Client::connect(server, &b).await;
    (b, c)
}

/// Joins `room` and returns the `delivery` of its `joined`.
async fn join(c: &mut Client, room: &RoomId) -> Option<Delivery> {
    c.send(&ClientMsg::Join { room: room.clone() }).await;
    match recv_until(c, |m| matches!(m, ServerMsg::Joined { .. } | ServerMsg::Error { .. })).await {
        ServerMsg::Joined { delivery, .. } => delivery,
        other => panic!("join refused: {other:?}"),
    }
}

async fn refused(c: &mut Client, room: &RoomId, signal: Signal) -> ErrorCode {
    c.send(&ClientMsg::SfuSignal { room: room.clone(), signal }).await;
    match recv_until(c, |m| matches!(m, ServerMsg::Error { .. } | ServerMsg::SfuSignal { .. })).await {
        ServerMsg::Error { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Sends a str0m client's offer as `sfu_signal` and applies the answer.
async fn negotiate(c: &mut Client, room: &RoomId, rtc: &mut RtcClient, pending: SdpPendingOffer) {
    c.send(&ClientMsg::SfuSignal { room: room.clone(), signal: Signal::Offer { sdp: rtc.offer.clone() } }).await;
    match recv_until(c, |m| matches!(m, ServerMsg::Error { .. } | ServerMsg::SfuSignal { .. })).await {
        ServerMsg::SfuSignal { signal: Signal::Answer { sdp }, .. } => rtc.accept(&sdp, pending),
        other => panic!("expected an answer, got {other:?}"),
    }
}

async fn wait_video(received: &Arc<Mutex<Received>>, frames: usize, limit: Duration) -> Received {
    let until = Instant::now() + limit;
    loop {
        let r = received.lock().unwrap().clone();
        if r.video.len() >= frames {
            return r;
        }
        assert!(Instant::now() < until, "only {} video frames within {limit:?}", r.video.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A well-formed host candidate (for signals that are refused before any offer).
fn host_candidate() -> Signal {
    Signal::Candidate {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    }
}

fn offer(signal_of: &RtcClient) -> Signal {
    Signal::Offer { sdp: signal_of.offer.clone() }
}

#[sqlx::test]
async fn a_flood_of_offers_is_refused_per_user(pool: PgPool) {
    let server = TestServer::start_with(pool, |c| c.sfu_offers_per_minute = 3).await;
    let (seller_b, mut seller) = user(&server, "sam").await;
    let stream = go_live(&seller_b, "Vintage cameras").await;
    let room = RoomId::Stream(stream);
    join(&mut seller, &room).await;
    let (_, mut ada) = user(&server, "ada").await;
    let (_, mut ben) = user(&server, "ben").await;
    join(&mut ada, &room).await;
    join(&mut ben, &room).await;
    let (receiving, _) = RtcClient::new(Direction::RecvOnly).await;
    for _ in 0..3 {
        assert_eq!(refused(&mut ada, &room, offer(&receiving)).await, ErrorCode::NotPublishing);
    }
    assert_eq!(
        refused(&mut ada, &room, offer(&receiving)).await,
        ErrorCode::RateLimited,
        "the fourth offer in a minute"
    );
    // Only offers count, and only the sender's.
    assert_eq!(refused(&mut ada, &room, host_candidate()).await, ErrorCode::InvalidSignal);
    assert_eq!(refused(&mut ben, &room, offer(&receiving)).await, ErrorCode::NotPublishing);
}

#[sqlx::test]
async fn a_second_page_of_the_seller_takes_over_publishing_and_the_first_is_told(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (seller_b, mut first) = user(&server, "sam").await;
    let mut second = Client::connect(&server, &seller_b).await;
    let stream = go_live(&seller_b, "Vintage cameras").await;
    let room = RoomId::Stream(stream);
    join(&mut first, &room).await;
    join(&mut second, &room).await;
    let (mut one, pending) = RtcClient::new(Direction::SendOnly).await;
    negotiate(&mut first, &room, &mut one, pending).await;
    let (mut two, pending) = RtcClient::new(Direction::SendOnly).await;
    negotiate(&mut second, &room, &mut two, pending).await;
    let told = recv_until(&mut first, |m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(
        matches!(&told, ServerMsg::Error { code: ErrorCode::PublishingElsewhere, room: Some(r), .. } if *r == room),
        "{told:?}"
    );
    // The page that took over is not told anything of the kind.
    let (_, mut ada) = user(&server, "ada").await;
    join(&mut ada, &room).await;
    let next =
        recv_until(&mut second, |m| matches!(m, ServerMsg::Error { .. } | ServerMsg::ViewerCount { viewers: 1, .. }))
            .await;
    assert!(matches!(next, ServerMsg::ViewerCount { viewers: 1, .. }), "{next:?}");
}

#[sqlx::test]
async fn only_the_seller_publishes_and_viewers_of_a_live_stream_subscribe(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (seller_b, mut seller) = user(&server, "sam").await;
    let stream = go_live(&seller_b, "Vintage cameras").await;
    let room = RoomId::Stream(stream);
    assert_eq!(join(&mut seller, &room).await, Some(Delivery::Sfu), "the default delivery is the SFU");
    let (_, mut v1) = user(&server, "ada").await;
    let (_, mut v2) = user(&server, "ben").await;
    let (_, mut outsider) = user(&server, "cyd").await;
    assert_eq!(join(&mut v1, &room).await, Some(Delivery::Sfu));
    // Nothing is published yet: the viewer hears so right after `joined` (its page says it waits for the seller).
    let not_publishing = ServerMsg::SfuPublishing { room: room.clone(), publishing: false };
    assert_eq!(v1.recv().await, not_publishing);
    assert_eq!(join(&mut v2, &room).await, Some(Delivery::Sfu));

    // Refusals before anything is published; each changes nothing.
    let (sending, _) = RtcClient::new(Direction::SendOnly).await;
    let (receiving, _) = RtcClient::new(Direction::RecvOnly).await;
    assert_eq!(refused(&mut v1, &room, offer(&sending)).await, ErrorCode::Forbidden, "a viewer may not publish");
    assert_eq!(refused(&mut v1, &room, offer(&receiving)).await, ErrorCode::NotPublishing);
    assert_eq!(refused(&mut outsider, &room, offer(&receiving)).await, ErrorCode::NotInRoom);
    assert_eq!(
        refused(&mut v1, &room, host_candidate()).await,
        ErrorCode::InvalidSignal,
        "a candidate before any offer"
    );
    assert_eq!(refused(&mut seller, &room, Signal::Offer { sdp: "not sdp".into() }).await, ErrorCode::InvalidSignal);
    assert_eq!(refused(&mut seller, &room, Signal::RestartIce).await, ErrorCode::Forbidden);

    // The seller publishes; once its connection is up, the viewers hear so.
    let (mut publisher, pending) = RtcClient::new(Direction::SendOnly).await;
    negotiate(&mut seller, &room, &mut publisher, pending).await;
    let (publisher_task, _) = spawn_publisher(publisher, 30);
    let publishing = ServerMsg::SfuPublishing { room: room.clone(), publishing: true };
    for v in [&mut v1, &mut v2] {
        recv_until(v, |m| *m == publishing).await;
    }
    // A viewer who joins now hears it right after `joined`.
    let (_, mut v3) = user(&server, "dee").await;
    assert_eq!(join(&mut v3, &room).await, Some(Delivery::Sfu));
    assert_eq!(v3.recv().await, publishing);

    // Three viewers subscribe and get the frames in order from a keyframe.
    let mut subscribers = Vec::new();
    for v in [&mut v1, &mut v2, &mut v3] {
        let (mut rtc, pending) = RtcClient::new(Direction::RecvOnly).await;
        negotiate(v, &room, &mut rtc, pending).await;
        subscribers.push(spawn_subscriber(rtc));
    }
    for (i, (_, received)) in subscribers.iter().enumerate() {
        let r = wait_video(received, 30, Duration::from_secs(15)).await;
        assert_continuous(&format!("viewer {i}"), &r);
    }

    // The seller hears how many viewer connections the forwarding unit holds.
    let three = ServerMsg::SfuSubscribers { room: room.clone(), subscribers: 3 };
    recv_until(&mut seller, |m| *m == three).await;

    // The Prometheus metrics show the stream at the forwarding unit.
    let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    let label = format!("{{stream=\"{}\"}}", stream.0);
    assert!(metrics.contains(&format!("onair_sfu_subscribers{label} 3")), "{metrics}");
    let bytes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("onair_sfu_publisher_bytes_total{label} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no publisher bytes in {metrics}"));
    assert!(bytes > 0);
    assert!(metrics.contains("onair_sfu_packets_forwarded_total"), "{metrics}");

    // Leaving closes that viewer's connection: it gets nothing more; the others carry on.
    v3.send(&ClientMsg::Leave { room: room.clone() }).await;
    recv_until(&mut v3, |m| matches!(m, ServerMsg::Left { .. })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left_at = subscribers[2].1.lock().unwrap().video.len();
    let others_at = subscribers[0].1.lock().unwrap().video.len();
    wait_video(&subscribers[0].1, others_at + 15, Duration::from_secs(5)).await;
    let two = ServerMsg::SfuSubscribers { room: room.clone(), subscribers: 2 };
    recv_until(&mut seller, |m| *m == two).await;
    assert_eq!(subscribers[2].1.lock().unwrap().video.len(), left_at, "a viewer who left gets no more frames");

    // The seller ends the stream: viewers hear it, their connections close, and subscribing is refused.
    assert_eq!(seller_b.call("end_stream", &[("id", &stream.to_string())]).await.status(), 200);
    for v in [&mut v1, &mut v2] {
        recv_until(v, |m| *m == ServerMsg::StreamEnded { stream }).await;
        recv_until(v, |m| *m == not_publishing).await;
    }
    let (late, _) = RtcClient::new(Direction::RecvOnly).await;
    assert_eq!(refused(&mut v1, &room, offer(&late)).await, ErrorCode::NoSuchRoom, "subscribing to an ended stream");
    let (again, _) = RtcClient::new(Direction::SendOnly).await;
    assert_eq!(
        refused(&mut seller, &room, offer(&again)).await,
        ErrorCode::NoSuchRoom,
        "publishing to an ended stream"
    );
    v1.send(&ClientMsg::Join { room: room.clone() }).await;
    assert!(matches!(
        recv_until(&mut v1, |m| matches!(m, ServerMsg::Error { .. } | ServerMsg::Joined { .. })).await,
        ServerMsg::Error { code: ErrorCode::NoSuchRoom, .. }
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ended_at = subscribers[0].1.lock().unwrap().video.len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(subscribers[0].1.lock().unwrap().video.len(), ended_at, "no frames after the end");
    publisher_task.abort();
}

#[sqlx::test]
async fn other_rooms_and_p2p_delivery_have_no_sfu(pool: PgPool) {
    let server = TestServer::start_with(pool, |c| c.live_delivery = onair::server::config::LiveDelivery::P2p).await;
    let (seller_b, mut seller) = user(&server, "sam").await;
    let stream = go_live(&seller_b, "Shoes").await;
    let room = RoomId::Stream(stream);
    assert_eq!(join(&mut seller, &room).await, Some(Delivery::P2p));
    let (sending, _) = RtcClient::new(Direction::SendOnly).await;
    assert_eq!(refused(&mut seller, &room, offer(&sending)).await, ErrorCode::Forbidden);

    let call = RoomId::Call("team".into());
    assert_eq!(join(&mut seller, &call).await, None, "no delivery outside live streams");
    assert_eq!(refused(&mut seller, &call, offer(&sending)).await, ErrorCode::Forbidden);
}
