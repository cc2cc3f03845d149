//! Featured products and buying, against a real PostgreSQL: concurrency (no overselling, idempotency),
//! refusals that change nothing, and the events pushed to viewers and the seller over a real server.

mod common;

use common::*;
use onair::commerce::service::{buy, feature, BuyRequest, FeatureRequest};
use onair::error::AppError;
use onair::ids::{ProductId, StreamId, UserId};
use onair::signaling::protocol::{ClientMsg, RoomId, ServerMsg};
use sqlx::PgPool;
use std::sync::Arc;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$not-a-real-hash-for-tests";

async fn user(pool: &PgPool, name: &str) -> UserId {
    let id = UserId(uuid::Uuid::now_v7());
    sqlx::query("INSERT INTO users (id, username, display_name, password_hash) VALUES ($1, $2, $2, $3)")
        .bind(id.0)
        .bind(name)
        .bind(HASH)
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn live_stream(pool: &PgPool, seller: UserId) -> StreamId {
    let id = StreamId(uuid::Uuid::now_v7());
    sqlx::query("INSERT INTO streams (id, seller_id, title, category_id, status) VALUES ($1, $2, 'Sale', 1, 'live')")
        .bind(id.0)
        .bind(seller.0)
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn product(pool: &PgPool, seller: UserId, price_cents: i64, stock: i32) -> ProductId {
    let id = ProductId(uuid::Uuid::now_v7());
    sqlx::query(
        "INSERT INTO products (id, seller_id, name, list_price_cents, stock) VALUES ($1, $2, 'Camera', $3, $4)",
    )
    .bind(id.0)
    .bind(seller.0)
    .bind(price_cents)
    .bind(stock)
    .execute(pool)
    .await
    .unwrap();
    id
}

async fn stock_of(pool: &PgPool, p: ProductId) -> i32 {
    sqlx::query_scalar("SELECT stock FROM products WHERE id = $1").bind(p.0).fetch_one(pool).await.unwrap()
}

async fn order_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(pool).await.unwrap()
}

fn feature_req(stream: StreamId, product: ProductId, cents: i64, limit: Option<i32>) -> FeatureRequest {
    FeatureRequest { stream, product, special_price_cents: cents, per_buyer_limit: limit, ends_in_minutes: None }
}

fn buy_req(stream: StreamId, product: ProductId, quantity: i32) -> BuyRequest {
    BuyRequest { stream, product, quantity, idempotency_key: uuid::Uuid::new_v4() }
}

struct Shop {
    seller: UserId,
    stream: StreamId,
    product: ProductId,
}

async fn shop(pool: &PgPool, stock: i32, limit: Option<i32>) -> Shop {
    let seller = user(pool, "seller").await;
    let stream = live_stream(pool, seller).await;
    let product = product(pool, seller, 2000, stock).await;
    feature(pool, seller, feature_req(stream, product, 1500, limit)).await.unwrap();
    Shop { seller, stream, product }
}

#[sqlx::test]
async fn two_hundred_concurrent_buyers_never_oversell(pool: PgPool) {
    let s = shop(&pool, 10, None).await;
    let mut buyers = Vec::new();
    for i in 0..20 {
        buyers.push(user(&pool, &format!("buyer{i}")).await);
    }
    let pool = Arc::new(pool);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let pool = pool.clone();
        let buyer = buyers[i % buyers.len()];
        let req = buy_req(s.stream, s.product, 1);
        tasks.push(tokio::spawn(async move { buy(&pool, buyer, req).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => {
                ok += 1;
                assert_eq!(p.order.unit_price_cents, 1500, "the special price from the database");
            }
            Err(AppError::Conflict { field, .. }) => assert_eq!(field, "quantity"),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(order_count(&pool).await, 10);
    assert_eq!(stock_of(&pool, s.product).await, 0);
}

#[sqlx::test]
async fn the_same_idempotency_key_fifty_times_at_once_makes_one_order(pool: PgPool) {
    let s = shop(&pool, 10, None).await;
    let buyer = user(&pool, "ada").await;
    let req = buy_req(s.stream, s.product, 2);
    let pool = Arc::new(pool);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move { buy(&pool, buyer, req).await }));
    }
    let mut numbers = std::collections::HashSet::new();
    let mut created = 0;
    for t in tasks {
        let p = t.await.unwrap().expect("a replayed key returns the same order");
        numbers.insert(p.order.number);
        created += usize::from(p.created);
    }
    assert_eq!(numbers.len(), 1);
    assert_eq!(created, 1);
    assert_eq!(order_count(&pool).await, 1);
    assert_eq!(stock_of(&pool, s.product).await, 8);

    // The same key with a different body is an error and changes nothing.
    let other = BuyRequest { quantity: 3, ..req };
    let err = buy(&pool, buyer, other).await.unwrap_err();
    assert!(matches!(err, AppError::Conflict { ref field, .. } if field == "idempotency_key"), "{err:?}");
    assert_eq!(order_count(&pool).await, 1);
}

#[sqlx::test]
async fn refused_purchases_change_nothing(pool: PgPool) {
    let s = shop(&pool, 10, Some(3)).await;
    let buyer = user(&pool, "ben").await;
    let unfeatured = product(&pool, s.seller, 1000, 10).await;

    // Not featured.
    assert!(matches!(buy(&pool, buyer, buy_req(s.stream, unfeatured, 1)).await, Err(AppError::NotFound(_))));
    // Quantity 0, negative, too many.
    for q in [0, -1, 1001] {
        let err = buy(&pool, buyer, buy_req(s.stream, s.product, q)).await.unwrap_err();
        assert_eq!(err.field(), Some("quantity"), "{q}: {err:?}");
    }
    // Over the per-buyer limit (3): 2 then 2 more is refused.
    buy(&pool, buyer, buy_req(s.stream, s.product, 2)).await.unwrap();
    let err = buy(&pool, buyer, buy_req(s.stream, s.product, 2)).await.unwrap_err();
    assert_eq!(err.field(), Some("quantity"), "{err:?}");
    // More than the stock.
    let big = user(&pool, "cat").await;
    let scarce = product(&pool, s.seller, 1000, 2).await;
    feature(&pool, s.seller, feature_req(s.stream, scarce, 900, None)).await.unwrap();
    let err = buy(&pool, big, buy_req(s.stream, scarce, 3)).await.unwrap_err();
    assert!(matches!(&err, AppError::Conflict { message, .. } if message.contains("Only 2 left")), "{err:?}");
    assert_eq!(stock_of(&pool, scarce).await, 2);
    // The seller cannot buy from their own stream.
    assert!(matches!(buy(&pool, s.seller, buy_req(s.stream, s.product, 1)).await, Err(AppError::Forbidden(_))));
    // An ended stream.
    sqlx::query("UPDATE streams SET status = 'ended', ended_at = now() WHERE id = $1")
        .bind(s.stream.0)
        .execute(&pool)
        .await
        .unwrap();
    let err = buy(&pool, big, buy_req(s.stream, s.product, 1)).await.unwrap_err();
    assert!(matches!(&err, AppError::Conflict { field, .. } if field == "stream"), "{err:?}");

    assert_eq!(order_count(&pool).await, 1);
    assert_eq!(stock_of(&pool, s.product).await, 8);
}

#[sqlx::test]
async fn featuring_follows_the_rules(pool: PgPool) {
    let seller = user(&pool, "sam").await;
    let stream = live_stream(&pool, seller).await;
    let other = user(&pool, "olga").await;
    let theirs = product(&pool, other, 1000, 1).await;
    let mut mine = Vec::new();
    for _ in 0..4 {
        mine.push(product(&pool, seller, 1000, 5).await);
    }
    // Special price above list price; zero price.
    assert_eq!(
        feature(&pool, seller, feature_req(stream, mine[0], 1001, None)).await.unwrap_err().field(),
        Some("special_price")
    );
    assert_eq!(
        feature(&pool, seller, feature_req(stream, mine[0], 0, None)).await.unwrap_err().field(),
        Some("special_price")
    );
    // Someone else's product, someone else's stream.
    assert!(matches!(
        feature(&pool, seller, feature_req(stream, theirs, 500, None)).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        feature(&pool, other, feature_req(stream, mine[0], 500, None)).await,
        Err(AppError::Forbidden(_))
    ));
    // Up to three; re-pricing a featured one is fine.
    for p in &mine[..3] {
        feature(&pool, seller, feature_req(stream, *p, 900, None)).await.unwrap();
    }
    let list = feature(&pool, seller, feature_req(stream, mine[0], 800, Some(2))).await.unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().find(|f| f.product == mine[0]).unwrap().special_price_cents, 800);
    assert!(matches!(
        feature(&pool, seller, feature_req(stream, mine[3], 900, None)).await,
        Err(AppError::Conflict { .. })
    ));
}

#[sqlx::test]
async fn a_purchase_pushes_stock_to_viewers_and_the_order_to_the_seller(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let seller_b = Browser::new(&server);
    let seller = seller_b.signup("sam", "Sam").await;
    let res = seller_b.call("go_live", &[("title", "Sale"), ("description", ""), ("category", "home")]).await;
    let stream: StreamId = res.json().await.unwrap();
    let p = product(&pool, seller.id, 2000, 5).await;
    let res = seller_b
        .call(
            "feature_product",
            &[
                ("stream", &stream.to_string()),
                ("product", &p.to_string()),
                ("special_price", "15.00"),
                ("per_buyer_limit", ""),
                ("ends_in_minutes", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let mut seller_ws = Client::connect(&server, &seller_b).await;
    seller_ws.send(&ClientMsg::Join { room: RoomId::Stream(stream) }).await;
    let buyer_b = Browser::new(&server);
    buyer_b.signup("ada", "Ada").await;
    let mut viewer_ws = Client::connect(&server, &buyer_b).await;
    viewer_ws.send(&ClientMsg::Join { room: RoomId::Stream(stream) }).await;

    let key = uuid::Uuid::new_v4().to_string();
    let form = [
        ("stream", stream.to_string()),
        ("product", p.to_string()),
        ("quantity", "2".into()),
        ("idempotency_key", key),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = buyer_b.call("buy_now", &form).await;
    assert_eq!(res.status(), 200);
    let order: serde_json::Value = res.json().await.unwrap();
    assert_eq!(order["total_cents"], 3000);
    // A retried click with the same key: same order, no second stock change.
    let again: serde_json::Value = buyer_b.call("buy_now", &form).await.json().await.unwrap();
    assert_eq!(again["number"], order["number"]);

    loop {
        if let ServerMsg::StockChanged { stock, .. } = viewer_ws.recv().await {
            assert_eq!(stock, 3);
            break;
        }
    }
    loop {
        if let ServerMsg::OrderPlaced { order: o, .. } = seller_ws.recv().await {
            assert_eq!(o.quantity, 2);
            assert_eq!(o.buyer_name, "Ada");
            break;
        }
    }
    assert_eq!(stock_of(&pool, p).await, 3);
    // The buyer's orders page data.
    let mine: Vec<serde_json::Value> = buyer_b.call("my_orders", &[]).await.json().await.unwrap();
    assert_eq!(mine.len(), 1);
}
