//! Stream chat against a real PostgreSQL and a real server: messages pushed over `/ws` with the author
//! stamped by the server, the last-50 history, the text rule, the per-user rate limit, and the seller's
//! moderation (delete, mute), each refusal leaving nothing stored.

mod common;

use common::*;
use onair::chat::{ChatAccess, ChatMessageView, MAX_CHAT_CHARS};
use onair::ids::{ChatMessageId, StreamId};
use onair::signaling::protocol::{ClientMsg, RoomId, ServerMsg};
use sqlx::PgPool;

/// A limit no test but the rate-limit test reaches.
const GENEROUS: u32 = 10_000;

async fn go_live(browser: &Browser, title: &str) -> StreamId {
    let res = browser.call("go_live", &[("title", title), ("description", ""), ("category", "other")]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

async fn post(browser: &Browser, stream: StreamId, text: &str) -> reqwest::Response {
    browser.call("post_chat", &[("stream", &stream.to_string()), ("text", text)]).await
}

async fn post_ok(browser: &Browser, stream: StreamId, text: &str) -> ChatMessageView {
    let res = post(browser, stream, text).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

async fn recent(browser: &Browser, stream: StreamId) -> Vec<ChatMessageView> {
    let res = browser.call("recent_chat", &[("stream", &stream.to_string())]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

async fn access(browser: &Browser, stream: StreamId) -> ChatAccess {
    let res = browser.call("chat_status", &[("stream", &stream.to_string())]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM chat_messages").fetch_one(pool).await.unwrap()
}

/// The next chat event (message, deletion or mute) `client` receives.
async fn next_chat_event(client: &mut Client) -> ServerMsg {
    recv_until(client, |m| {
        matches!(m, ServerMsg::ChatMessage { .. } | ServerMsg::ChatDeleted { .. } | ServerMsg::ChatMuted { .. })
    })
    .await
}

/// A seller live in a stream, and two signed-in shoppers (Ada, Ben) whose `/ws` connections are in its room.
struct Scene {
    stream: StreamId,
    seller: Browser,
    seller_ws: Client,
    ada: Browser,
    ada_ws: Client,
    ben: Browser,
    ben_ws: Client,
}

async fn join(server: &TestServer, browser: &Browser, stream: StreamId) -> Client {
    let mut client = Client::connect(server, browser).await;
    client.send(&ClientMsg::Join { room: RoomId::Stream(stream) }).await;
    recv_until(&mut client, |m| matches!(m, ServerMsg::Joined { .. })).await;
    client
}

async fn scene(server: &TestServer) -> Scene {
    let seller = Browser::new(server);
    seller.signup("sam", "Sam Seller").await;
    let stream = go_live(&seller, "Vintage cameras").await;
    let seller_ws = join(server, &seller, stream).await;
    let ada = Browser::new(server);
    ada.signup("ada", "Ada").await;
    let ada_ws = join(server, &ada, stream).await;
    let ben = Browser::new(server);
    ben.signup("ben", "Ben").await;
    let ben_ws = join(server, &ben, stream).await;
    Scene { stream, seller, seller_ws, ada, ada_ws, ben, ben_ws }
}

async fn generous_server(pool: PgPool) -> TestServer {
    TestServer::start_with(pool, |c| c.chat_messages_per_5s = GENEROUS).await
}

#[sqlx::test]
async fn a_posted_message_reaches_everyone_in_the_stream_with_the_server_stamped_author(pool: PgPool) {
    let server = generous_server(pool).await;
    let mut s = scene(&server).await;
    let ada_id = access(&s.ada, s.stream).await.me;

    let sent = post_ok(&s.ada, s.stream, "  <img src=x onerror=alert(1)> hello  ").await;
    assert_eq!(sent.text, "<img src=x onerror=alert(1)> hello", "trimmed, stored verbatim");
    assert_eq!(sent.author, "Ada");
    assert_eq!(sent.user, ada_id);
    assert_eq!(sent.stream, s.stream);
    assert!(!sent.from_seller);

    for client in [&mut s.ben_ws, &mut s.seller_ws, &mut s.ada_ws] {
        assert_eq!(next_chat_event(client).await, ServerMsg::ChatMessage { stream: s.stream, message: sent.clone() });
    }

    // A client-supplied author is ignored: the server stamps who the session says.
    let res =
        s.ben.call("post_chat", &[("stream", &s.stream.to_string()), ("text", "hi"), ("author", "Sam Seller")]).await;
    assert_eq!(res.status(), 200);
    let got: ChatMessageView = res.json().await.unwrap();
    assert_eq!(got.author, "Ben");
    assert!(!got.from_seller);

    let from_seller = post_ok(&s.seller, s.stream, "Welcome!").await;
    assert!(from_seller.from_seller);
    assert_eq!(from_seller.author, "Sam Seller");
    let got = recv_until(
        &mut s.ada_ws,
        |m| matches!(m, ServerMsg::ChatMessage { message, .. } if message.id == from_seller.id),
    )
    .await;
    assert_eq!(got, ServerMsg::ChatMessage { stream: s.stream, message: from_seller });

    // Someone in another stream's room hears nothing of this one.
    let other_seller = Browser::new(&server);
    other_seller.signup("olga", "Olga").await;
    let other = go_live(&other_seller, "Lamps").await;
    let mut elsewhere = join(&server, &other_seller, other).await;
    post_ok(&s.ada, s.stream, "only here").await;
    let mine = post_ok(&other_seller, other, "my own stream").await;
    assert_eq!(next_chat_event(&mut elsewhere).await, ServerMsg::ChatMessage { stream: other, message: mine });
}

#[sqlx::test]
async fn recent_chat_returns_the_last_50_oldest_first(pool: PgPool) {
    let server = generous_server(pool).await;
    let seller = Browser::new(&server);
    seller.signup("sam", "Sam Seller").await;
    let stream = go_live(&seller, "Sneakers").await;
    let ada = Browser::new(&server);
    ada.signup("ada", "Ada").await;
    for i in 0..55 {
        let who = if i % 2 == 0 { &ada } else { &seller };
        post_ok(who, stream, &format!("message {i}")).await;
    }

    let reader = Browser::new(&server);
    reader.signup("rita", "Rita").await;
    let got = recent(&reader, stream).await;
    let texts: Vec<String> = got.iter().map(|m| m.text.clone()).collect();
    let expected: Vec<String> = (5..55).map(|i| format!("message {i}")).collect();
    assert_eq!(texts, expected);
    assert!(got.windows(2).all(|w| w[0].sent_at_ms <= w[1].sent_at_ms));
    assert!(got.iter().all(|m| m.from_seller == (m.author == "Sam Seller")));

    // Another stream's chat is separate; signed out is refused; an unknown stream is 404.
    let ada_stream = go_live(&ada, "Ada's stream").await;
    assert!(recent(&reader, ada_stream).await.is_empty());
    let anonymous = Browser::new(&server);
    assert_eq!(anonymous.call("recent_chat", &[("stream", &stream.to_string())]).await.status(), 401);
    let unknown = StreamId(uuid::Uuid::now_v7());
    assert_eq!(reader.call("recent_chat", &[("stream", &unknown.to_string())]).await.status(), 404);
}

#[sqlx::test]
async fn empty_and_too_long_messages_are_refused_and_nothing_is_stored(pool: PgPool) {
    let server = generous_server(pool.clone()).await;
    let mut s = scene(&server).await;
    let too_long = "é".repeat(MAX_CHAT_CHARS + 1);
    for text in ["", "   \t  ", too_long.as_str()] {
        let res = post(&s.ada, s.stream, text).await;
        assert_eq!(res.status(), 422, "{text:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "validation");
        assert_eq!(body["detail"]["field"], "text");
        assert!(!body["detail"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(stored(&pool).await, 0);

    // Exactly 500 characters (not bytes), surrounded by spaces, is fine.
    let longest = format!("  {}  ", "é".repeat(MAX_CHAT_CHARS));
    let sent = post_ok(&s.ada, s.stream, &longest).await;
    assert_eq!(sent.text.chars().count(), MAX_CHAT_CHARS);
    assert_eq!(stored(&pool).await, 1);
    // The refused ones were never pushed: the first chat event is the accepted message.
    assert_eq!(next_chat_event(&mut s.ben_ws).await, ServerMsg::ChatMessage { stream: s.stream, message: sent });
}

#[sqlx::test]
async fn the_sixth_message_within_five_seconds_is_refused(pool: PgPool) {
    let server = TestServer::start_with(pool.clone(), |c| c.chat_messages_per_5s = 5).await;
    let seller = Browser::new(&server);
    seller.signup("sam", "Sam Seller").await;
    let stream = go_live(&seller, "Watches").await;
    let ada = Browser::new(&server);
    ada.signup("ada", "Ada").await;

    let started = std::time::Instant::now();
    for i in 0..5 {
        post_ok(&ada, stream, &format!("quick {i}")).await;
    }
    let res = post(&ada, stream, "one too many").await;
    // The allowance refills one message per second (5 per 5 s), so the six posts must fit in a second.
    assert_eq!(res.status(), 429, "sixth post {:?} after the first", started.elapsed());
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(stored(&pool).await, 5);

    // The limit is per user: someone else may still talk.
    post_ok(&seller, stream, "Slow down, Ada").await;
    assert_eq!(stored(&pool).await, 6);
}

#[sqlx::test]
async fn a_muted_user_cannot_post_and_everyone_is_told(pool: PgPool) {
    let server = generous_server(pool.clone()).await;
    let mut s = scene(&server).await;
    let ada_id = access(&s.ada, s.stream).await.me;
    post_ok(&s.ada, s.stream, "buy my stuff instead").await;
    next_chat_event(&mut s.ben_ws).await;

    let res = s.seller.call("mute_in_chat", &[("stream", &s.stream.to_string()), ("user", &ada_id.to_string())]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    for client in [&mut s.ben_ws, &mut s.ada_ws, &mut s.seller_ws] {
        let event = recv_until(client, |m| matches!(m, ServerMsg::ChatMuted { .. })).await;
        assert_eq!(event, ServerMsg::ChatMuted { stream: s.stream, user: ada_id });
    }

    let before = stored(&pool).await;
    let res = post(&s.ada, s.stream, "am I still here?").await;
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["detail"], "The seller muted you in this chat.");
    assert_eq!(stored(&pool).await, before);
    let ada_access = access(&s.ada, s.stream).await;
    assert!(ada_access.muted);
    assert_eq!(ada_access.muted_users, vec![ada_id]);
    assert!(!access(&s.ben, s.stream).await.muted);

    // Nothing was pushed for the refused post; Ben can still talk; muting again is harmless.
    let ok = post_ok(&s.ben, s.stream, "still here").await;
    assert_eq!(next_chat_event(&mut s.ben_ws).await, ServerMsg::ChatMessage { stream: s.stream, message: ok });
    let res = s.seller.call("mute_in_chat", &[("stream", &s.stream.to_string()), ("user", &ada_id.to_string())]).await;
    assert_eq!(res.status(), 200);

    // Muted in this stream only.
    let ben_stream = go_live(&s.ben, "Ben's stream").await;
    post_ok(&s.ada, ben_stream, "hi Ben").await;

    // The seller cannot mute themselves, nor an unknown account.
    let seller_id = access(&s.seller, s.stream).await.me;
    let res =
        s.seller.call("mute_in_chat", &[("stream", &s.stream.to_string()), ("user", &seller_id.to_string())]).await;
    assert_eq!(res.status(), 400);
    let nobody = uuid::Uuid::now_v7().to_string();
    let res = s.seller.call("mute_in_chat", &[("stream", &s.stream.to_string()), ("user", &nobody)]).await;
    assert_eq!(res.status(), 404);
    post_ok(&s.seller, s.stream, "I can still talk").await;
}

#[sqlx::test]
async fn only_the_seller_may_delete_or_mute(pool: PgPool) {
    let server = generous_server(pool.clone()).await;
    let s = scene(&server).await;
    let ada_id = access(&s.ada, s.stream).await.me;
    let ben_id = access(&s.ben, s.stream).await.me;
    let msg = post_ok(&s.ada, s.stream, "hello").await;

    for who in [&s.ben, &s.ada] {
        let res = who.call("delete_chat", &[("message", &msg.id.to_string())]).await;
        assert_eq!(res.status(), 403, "{}", res.text().await.unwrap_or_default());
        let res = who.call("mute_in_chat", &[("stream", &s.stream.to_string()), ("user", &ben_id.to_string())]).await;
        assert_eq!(res.status(), 403);
        let res = who.call("mute_in_chat", &[("stream", &s.stream.to_string()), ("user", &ada_id.to_string())]).await;
        assert_eq!(res.status(), 403);
    }
    let anonymous = Browser::new(&server);
    assert_eq!(anonymous.call("delete_chat", &[("message", &msg.id.to_string())]).await.status(), 401);

    assert_eq!(recent(&s.ben, s.stream).await, vec![msg.clone()]);
    let mutes: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_mutes").fetch_one(&pool).await.unwrap();
    assert_eq!(mutes, 0);
    post_ok(&s.ben, s.stream, "not muted").await;

    // Being the seller of another stream does not help.
    let ben_stream = go_live(&s.ben, "Ben's stream").await;
    let res = s.ben.call("delete_chat", &[("message", &msg.id.to_string())]).await;
    assert_eq!(res.status(), 403);
    let res = s.ben.call("mute_in_chat", &[("stream", &s.stream.to_string()), ("user", &ada_id.to_string())]).await;
    assert_eq!(res.status(), 403);
    let _ = ben_stream;

    let unknown = ChatMessageId(uuid::Uuid::now_v7());
    assert_eq!(s.seller.call("delete_chat", &[("message", &unknown.to_string())]).await.status(), 404);
}

#[sqlx::test]
async fn a_deleted_message_disappears_for_everyone(pool: PgPool) {
    let server = generous_server(pool.clone()).await;
    let mut s = scene(&server).await;
    let first = post_ok(&s.ada, s.stream, "something rude").await;
    let second = post_ok(&s.ben, s.stream, "something nice").await;
    for _ in 0..2 {
        next_chat_event(&mut s.ben_ws).await;
        next_chat_event(&mut s.ada_ws).await;
    }

    let res = s.seller.call("delete_chat", &[("message", &first.id.to_string())]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    for client in [&mut s.ben_ws, &mut s.ada_ws] {
        assert_eq!(next_chat_event(client).await, ServerMsg::ChatDeleted { stream: s.stream, message: first.id });
    }
    assert_eq!(recent(&s.ben, s.stream).await, vec![second.clone()]);

    // Kept for the record, marked deleted by the seller; deleting again is harmless and pushes nothing.
    let seller_id = access(&s.seller, s.stream).await.me;
    let deleted_by: Option<uuid::Uuid> = sqlx::query_scalar("SELECT deleted_by FROM chat_messages WHERE id = $1")
        .bind(first.id.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(deleted_by, Some(seller_id.0));
    assert_eq!(s.seller.call("delete_chat", &[("message", &first.id.to_string())]).await.status(), 200);
    let next = post_ok(&s.seller, s.stream, "Let's keep it friendly").await;
    let pushed = ServerMsg::ChatMessage { stream: s.stream, message: next.clone() };
    assert_eq!(next_chat_event(&mut s.ben_ws).await, pushed);
    assert_eq!(next_chat_event(&mut s.ada_ws).await, pushed);

    // The seller may delete their own message and anyone else's.
    let res = s.seller.call("delete_chat", &[("message", &next.id.to_string())]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(next_chat_event(&mut s.ada_ws).await, ServerMsg::ChatDeleted { stream: s.stream, message: next.id });
    assert_eq!(recent(&s.ada, s.stream).await, vec![second]);
}

#[sqlx::test]
async fn posting_in_an_ended_stream_is_refused(pool: PgPool) {
    let server = generous_server(pool.clone()).await;
    let seller = Browser::new(&server);
    seller.signup("sam", "Sam Seller").await;
    let stream = go_live(&seller, "Books").await;
    let ada = Browser::new(&server);
    ada.signup("ada", "Ada").await;
    let kept = post_ok(&ada, stream, "before the end").await;
    assert!(access(&ada, stream).await.open);

    assert_eq!(seller.call("end_stream", &[("id", &stream.to_string())]).await.status(), 200);
    for who in [&ada, &seller] {
        let res = post(who, stream, "after the end").await;
        assert_eq!(res.status(), 409);
    }
    assert_eq!(stored(&pool).await, 1);
    assert!(!access(&ada, stream).await.open);
    // The history stays readable.
    assert_eq!(recent(&ada, stream).await, vec![kept]);

    let unknown = StreamId(uuid::Uuid::now_v7());
    assert_eq!(post(&ada, unknown, "anyone?").await.status(), 404);
    let anonymous = Browser::new(&server);
    assert_eq!(post(&anonymous, stream, "hi").await.status(), 401);
    assert_eq!(stored(&pool).await, 1);
}
