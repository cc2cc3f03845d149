//! Live streams against a real PostgreSQL and a real server: going live, the listing, who may signal whom
//! in a stream room, viewer counts, ending, and the seller's grace period.

mod common;

use common::*;
use onair::ids::StreamId;
use onair::signaling::protocol::{ClientMsg, ErrorCode, MemberRole, RoomId, ServerMsg, Signal};
use sqlx::PgPool;

async fn go_live(browser: &Browser, title: &str, category: &str) -> StreamId {
    let res = browser.call("go_live", &[("title", title), ("description", "Testing"), ("category", category)]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

async fn listing(browser: &Browser, category: Option<&str>) -> Vec<serde_json::Value> {
    let form: Vec<(&str, &str)> = category.map(|c| vec![("category", c)]).unwrap_or_default();
    browser.call("live_streams", &form).await.json().await.unwrap()
}

/// Seller live in a stream with two viewers connected, all joined.
struct Scene {
    stream: StreamId,
    seller: Client,
    v1: Client,
    v2: Client,
    seller_b: Browser,
}

async fn scene(server: &TestServer) -> Scene {
    let seller_b = Browser::new(server);
    seller_b.signup("sam", "Sam Seller").await;
    let stream = go_live(&seller_b, "Vintage cameras", "collectibles").await;
    let room = RoomId::Stream(stream);
    let mut seller = Client::connect(server, &seller_b).await;
    seller.send(&ClientMsg::Join { room: room.clone() }).await;
    assert!(matches!(seller.recv().await, ServerMsg::Joined { .. }));
    assert_eq!(seller.recv().await, ServerMsg::ViewerCount { stream, viewers: 0 });

    let mut viewers = Vec::new();
    for name in ["ada", "ben"] {
        let b = Browser::new(server);
        b.signup(name, name).await;
        let mut v = Client::connect(server, &b).await;
        v.send(&ClientMsg::Join { room: room.clone() }).await;
        match v.recv().await {
            ServerMsg::Joined { peers, .. } => {
                let publisher = peers.iter().find(|p| p.role == MemberRole::Publisher).expect("publisher listed");
                assert_eq!(publisher.peer, seller.peer);
            }
            other => panic!("{other:?}"),
        }
        viewers.push(v);
    }
    let v2 = viewers.pop().unwrap();
    let v1 = viewers.pop().unwrap();
    Scene { stream, seller, v1, v2, seller_b }
}

#[sqlx::test]
async fn the_listing_returns_only_live_streams_and_filters_by_category(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let a = Browser::new(&server);
    a.signup("alice", "Alice").await;
    let b = Browser::new(&server);
    b.signup("bob", "Bob").await;
    let live = go_live(&a, "Phones", "electronics").await;
    let ended = go_live(&b, "Lamps", "home").await;
    assert_eq!(b.call("end_stream", &[("id", &ended.to_string())]).await.status(), 200);

    let all = listing(&a, None).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], live.to_string());
    assert_eq!(all[0]["seller_name"], "Alice");
    assert_eq!(all[0]["category"], "Electronics");
    assert_eq!(listing(&a, Some("electronics")).await.len(), 1);
    assert!(listing(&a, Some("home")).await.is_empty());
}

#[sqlx::test]
async fn go_live_validates_and_allows_one_live_stream_per_seller(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let a = Browser::new(&server);
    a.signup("carol", "Carol").await;
    let long = "t".repeat(121);
    for (title, category, status) in [("", "home", 422), (long.as_str(), "home", 422), ("Ok", "no-such", 422)] {
        let res = a.call("go_live", &[("title", title), ("description", ""), ("category", category)]).await;
        assert_eq!(res.status(), status, "{title:?} {category}");
    }
    go_live(&a, "First", "home").await;
    let res = a.call("go_live", &[("title", "Second"), ("description", ""), ("category", "home")]).await;
    assert_eq!(res.status(), 409);
    // Signed out: refused.
    let res = Browser::new(&server).call("go_live", &[("title", "X"), ("description", ""), ("category", "home")]).await;
    assert_eq!(res.status(), 401);
}

#[sqlx::test]
async fn only_the_seller_may_end_a_stream(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let seller = Browser::new(&server);
    seller.signup("dan", "Dan").await;
    let stream = go_live(&seller, "Shoes", "fashion").await;
    let other = Browser::new(&server);
    other.signup("eve", "Eve").await;
    assert_eq!(other.call("end_stream", &[("id", &stream.to_string())]).await.status(), 403);
    assert_eq!(listing(&other, None).await.len(), 1);
}

#[sqlx::test]
async fn a_non_seller_offer_is_refused_and_viewers_cannot_reach_each_other(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let mut s = scene(&server).await;
    let room = RoomId::Stream(s.stream);

    // A viewer's offer to the seller: viewers are receive-only.
    s.v1.send(&ClientMsg::Signal {
        room: room.clone(),
        to: s.seller.peer,
        signal: Signal::Offer { sdp: "v=0".into() },
    })
    .await;
    let err = recv_until(&mut s.v1, |m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(matches!(err, ServerMsg::Error { code: ErrorCode::Forbidden, .. }), "{err:?}");

    // A viewer addressing another viewer, with any signal.
    s.v1.send(&ClientMsg::Signal { room: room.clone(), to: s.v2.peer, signal: Signal::Answer { sdp: "v=0".into() } })
        .await;
    let err = recv_until(&mut s.v1, |m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(matches!(err, ServerMsg::Error { code: ErrorCode::Forbidden, .. }), "{err:?}");

    // What is allowed: the seller offers, the viewer answers; both stamped by the server.
    s.seller
        .send(&ClientMsg::Signal { room: room.clone(), to: s.v1.peer, signal: Signal::Offer { sdp: "offer".into() } })
        .await;
    let got = recv_until(&mut s.v1, |m| matches!(m, ServerMsg::Signal { .. })).await;
    assert!(matches!(got, ServerMsg::Signal { from, .. } if from == s.seller.peer));
    s.v1.send(&ClientMsg::Signal {
        room: room.clone(),
        to: s.seller.peer,
        signal: Signal::Answer { sdp: "answer".into() },
    })
    .await;
    let got = recv_until(&mut s.seller, |m| matches!(m, ServerMsg::Signal { .. })).await;
    assert!(matches!(got, ServerMsg::Signal { from, signal: Signal::Answer { .. }, .. } if from == s.v1.peer));

    // Nothing reached the other viewer.
    s.v2.send(&ClientMsg::Ping { nonce: 9 }).await;
    let next = recv_until(&mut s.v2, |m| matches!(m, ServerMsg::Pong { .. } | ServerMsg::Signal { .. })).await;
    assert_eq!(next, ServerMsg::Pong { nonce: 9 });
}

#[sqlx::test]
async fn viewers_are_counted_and_see_the_end_at_once(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let mut s = scene(&server).await;
    let stream = s.stream;
    recv_until(&mut s.seller, |m| *m == ServerMsg::ViewerCount { stream, viewers: 2 }).await;

    // The listing shows the count too.
    let listed = listing(&s.seller_b, None).await;
    assert_eq!(listed[0]["viewers"], 2);

    assert_eq!(s.seller_b.call("end_stream", &[("id", &stream.to_string())]).await.status(), 200);
    for v in [&mut s.v1, &mut s.v2] {
        recv_until(v, |m| *m == ServerMsg::StreamEnded { stream }).await;
    }
    assert!(listing(&s.seller_b, None).await.is_empty());

    // Joining an ended stream is refused.
    s.v1.send(&ClientMsg::Join { room: RoomId::Stream(stream) }).await;
    let err = recv_until(&mut s.v1, |m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(matches!(err, ServerMsg::Error { code: ErrorCode::NoSuchRoom, .. }));
}

#[sqlx::test]
async fn a_stream_ends_by_itself_when_the_seller_does_not_come_back(pool: PgPool) {
    let server = TestServer::start_with(pool.clone(), |c| c.publisher_grace_ms = 300).await;
    let mut s = scene(&server).await;
    let stream = s.stream;
    drop(s.seller);
    recv_until(&mut s.v1, |m| *m == ServerMsg::PublisherStatus { stream, connected: false }).await;
    recv_until(&mut s.v1, |m| *m == ServerMsg::StreamEnded { stream }).await;
    let row: (String, Option<time::OffsetDateTime>, i32) =
        sqlx::query_as("SELECT status, ended_at, peak_viewers FROM streams WHERE id = $1")
            .bind(stream.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(row.0, "ended");
    assert!(row.1.is_some());
    assert_eq!(row.2, 2);
}

#[sqlx::test]
async fn a_seller_who_comes_back_in_time_keeps_the_stream(pool: PgPool) {
    let server = TestServer::start_with(pool, |c| c.publisher_grace_ms = 1500).await;
    let mut s = scene(&server).await;
    let stream = s.stream;
    drop(s.seller);
    recv_until(&mut s.v1, |m| *m == ServerMsg::PublisherStatus { stream, connected: false }).await;
    let mut back = Client::connect(&server, &s.seller_b).await;
    back.send(&ClientMsg::Join { room: RoomId::Stream(stream) }).await;
    match back.recv().await {
        ServerMsg::Joined { peers, .. } => assert_eq!(peers.iter().filter(|p| p.role == MemberRole::Viewer).count(), 2),
        other => panic!("{other:?}"),
    }
    recv_until(&mut s.v1, |m| *m == ServerMsg::PublisherStatus { stream, connected: true }).await;
    tokio::time::sleep(std::time::Duration::from_millis(1800)).await;
    assert_eq!(listing(&s.seller_b, None).await.len(), 1);
}

/// `GET /live` as a visitor with the given `Cookie` header (none = signed out): status and HTML.
async fn live_page(server: &TestServer, cookie: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(server.url("/live"));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    assert!(res.headers().get("set-cookie").is_none(), "a listing page view sets no cookie");
    (status, res.text().await.unwrap())
}

#[sqlx::test]
async fn the_listing_page_shows_a_new_stream_at_once_and_signed_in_visitors_their_own_page(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let (status, empty) = live_page(&server, None).await;
    assert_eq!(status, 200);
    assert!(!empty.contains("Brand new lamps"));
    // Served twice in a row (the second from the page cache), the page is the same.
    assert_eq!(live_page(&server, None).await.1, empty);

    // A stream that goes live is on the next signed-out page view, cache or not.
    let seller = Browser::new(&server);
    seller.signup("lena", "Lena Lamps").await;
    let stream = go_live(&seller, "Brand new lamps", "home").await;
    let (_, with_stream) = live_page(&server, None).await;
    assert!(with_stream.contains("Brand new lamps"), "the new stream is listed");

    // A signed-in visitor never gets the signed-out page: the nav shows their name.
    let (_, signed_in) = live_page(&server, Some(&seller.cookie())).await;
    assert!(signed_in.contains("Log out"), "signed-in page has the Log out button");
    assert!(!with_stream.contains("Log out"), "signed-out page has none");

    // Ending the stream takes it off the next signed-out page view.
    assert_eq!(seller.call("end_stream", &[("id", &stream.to_string())]).await.status(), 200);
    assert!(!live_page(&server, None).await.1.contains("Brand new lamps"));
}
