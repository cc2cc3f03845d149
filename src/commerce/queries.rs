//! SQL for featured products and orders (compile-checked; offline data in `.sqlx/`).

use crate::commerce::{FeaturedProduct, OrderView};
use crate::ids::{OrderId, ProductId, StreamId, UserId};
use sqlx::PgExecutor;
use time::OffsetDateTime;

/// The products featured in a stream, oldest feature first.
pub async fn featured(db: impl PgExecutor<'_>, stream: StreamId) -> sqlx::Result<Vec<FeaturedProduct>> {
    sqlx::query_as!(
        FeaturedProduct,
        r#"SELECT p.id AS "product: ProductId", p.name, p.description,
                  CASE WHEN p.image_id IS NULL THEN NULL ELSE '/media/products/' || p.image_id END AS image_url,
                  p.list_price_cents, f.special_price_cents, p.stock, f.per_buyer_limit,
                  (EXTRACT(EPOCH FROM f.ends_at) * 1000)::bigint AS ends_at_ms
           FROM featured_products f JOIN products p ON p.id = f.product_id
           WHERE f.stream_id = $1
           ORDER BY f.featured_at, p.name"#,
        stream as StreamId
    )
    .fetch_all(db)
    .await
}

/// A seller's product: its owner, list price and whether it exists.
pub struct ProductOwner {
    pub seller_id: UserId,
    pub list_price_cents: i64,
}

/// Owner and list price of a product.
pub async fn product_owner(db: impl PgExecutor<'_>, product: ProductId) -> sqlx::Result<Option<ProductOwner>> {
    sqlx::query_as!(
        ProductOwner,
        r#"SELECT seller_id AS "seller_id: UserId", list_price_cents FROM products WHERE id = $1"#,
        product as ProductId
    )
    .fetch_optional(db)
    .await
}

/// Locks the stream row (serializes changes to its featured list) and returns its seller and status.
pub async fn lock_stream(db: impl PgExecutor<'_>, stream: StreamId) -> sqlx::Result<Option<(UserId, String)>> {
    let row = sqlx::query!(
        r#"SELECT seller_id AS "seller_id: UserId", status FROM streams WHERE id = $1 FOR UPDATE"#,
        stream as StreamId
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.seller_id, r.status)))
}

/// How many products the stream features, not counting `except`.
pub async fn featured_count_except(db: impl PgExecutor<'_>, stream: StreamId, except: ProductId) -> sqlx::Result<i64> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "n!" FROM featured_products WHERE stream_id = $1 AND product_id <> $2"#,
        stream as StreamId,
        except as ProductId
    )
    .fetch_one(db)
    .await?;
    Ok(row.n)
}

/// Features a product in a stream, or updates its special price, limit and end.
pub async fn upsert_featured(
    db: impl PgExecutor<'_>,
    stream: StreamId,
    product: ProductId,
    special_price_cents: i64,
    per_buyer_limit: Option<i32>,
    ends_at: Option<OffsetDateTime>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO featured_products (stream_id, product_id, special_price_cents, per_buyer_limit, ends_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (stream_id, product_id) DO UPDATE
         SET special_price_cents = EXCLUDED.special_price_cents, per_buyer_limit = EXCLUDED.per_buyer_limit,
             ends_at = EXCLUDED.ends_at",
        stream as StreamId,
        product as ProductId,
        special_price_cents,
        per_buyer_limit,
        ends_at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Stops featuring a product. Returns whether it was featured.
pub async fn delete_featured(db: impl PgExecutor<'_>, stream: StreamId, product: ProductId) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "DELETE FROM featured_products WHERE stream_id = $1 AND product_id = $2",
        stream as StreamId,
        product as ProductId
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// What a purchase needs to know, read with the featured row locked (`FOR UPDATE`), so purchases of one
/// featured product are serialized.
pub struct SaleTerms {
    pub seller_id: UserId,
    pub stream_live: bool,
    pub special_price_cents: i64,
    pub per_buyer_limit: Option<i32>,
    pub ended: bool,
}

/// Locks the featured row of `product` in `stream` and returns the sale's terms; `None` if not featured.
pub async fn lock_sale_terms(
    db: impl PgExecutor<'_>,
    stream: StreamId,
    product: ProductId,
) -> sqlx::Result<Option<SaleTerms>> {
    sqlx::query_as!(
        SaleTerms,
        r#"SELECT s.seller_id AS "seller_id: UserId", (s.status = 'live') AS "stream_live!",
                  f.special_price_cents, f.per_buyer_limit,
                  (f.ends_at IS NOT NULL AND f.ends_at <= now()) AS "ended!"
           FROM featured_products f JOIN streams s ON s.id = f.stream_id
           WHERE f.stream_id = $1 AND f.product_id = $2
           FOR UPDATE OF f"#,
        stream as StreamId,
        product as ProductId
    )
    .fetch_optional(db)
    .await
}

/// Units of `product` the buyer already bought in `stream`.
pub async fn bought_so_far(
    db: impl PgExecutor<'_>,
    buyer: UserId,
    stream: StreamId,
    product: ProductId,
) -> sqlx::Result<i64> {
    let row = sqlx::query!(
        r#"SELECT COALESCE(SUM(quantity), 0)::bigint AS "n!" FROM orders
           WHERE buyer_id = $1 AND stream_id = $2 AND product_id = $3"#,
        buyer as UserId,
        stream as StreamId,
        product as ProductId
    )
    .fetch_one(db)
    .await?;
    Ok(row.n)
}

/// A new order's fields.
pub struct NewOrder {
    pub id: OrderId,
    pub buyer: UserId,
    pub seller: UserId,
    pub stream: StreamId,
    pub product: ProductId,
    pub quantity: i32,
    pub unit_price_cents: i64,
    pub idempotency_key: uuid::Uuid,
}

/// Inserts the order unless the buyer already used this idempotency key; returns whether it was inserted.
pub async fn insert_order(db: impl PgExecutor<'_>, o: &NewOrder) -> sqlx::Result<bool> {
    let row = sqlx::query!(
        "INSERT INTO orders (id, buyer_id, seller_id, stream_id, product_id, quantity, unit_price_cents, total_cents, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6::integer, $7::bigint, $7::bigint * $6::integer, $8)
         ON CONFLICT (buyer_id, idempotency_key) DO NOTHING
         RETURNING id",
        o.id as OrderId,
        o.buyer as UserId,
        o.seller as UserId,
        o.stream as StreamId,
        o.product as ProductId,
        o.quantity,
        o.unit_price_cents,
        o.idempotency_key
    )
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

/// Takes `quantity` units out of stock if that many are there (one conditional UPDATE: never negative,
/// never oversold). Returns the new stock, or `None` when there are fewer than `quantity`.
pub async fn take_stock(db: impl PgExecutor<'_>, product: ProductId, quantity: i32) -> sqlx::Result<Option<i32>> {
    let row = sqlx::query!(
        "UPDATE products SET stock = stock - $2, updated_at = now() WHERE id = $1 AND stock >= $2 RETURNING stock",
        product as ProductId,
        quantity
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| r.stock))
}

/// Current stock of a product.
pub async fn stock(db: impl PgExecutor<'_>, product: ProductId) -> sqlx::Result<i32> {
    Ok(sqlx::query!("SELECT stock FROM products WHERE id = $1", product as ProductId).fetch_one(db).await?.stock)
}

/// An order row as stored, for comparing a repeated idempotency key with its first request.
pub struct StoredOrder {
    pub id: OrderId,
    pub stream_id: StreamId,
    pub product_id: ProductId,
    pub quantity: i32,
}

/// The buyer's order made with this idempotency key, if any.
pub async fn order_by_key(
    db: impl PgExecutor<'_>,
    buyer: UserId,
    key: uuid::Uuid,
) -> sqlx::Result<Option<StoredOrder>> {
    sqlx::query_as!(
        StoredOrder,
        r#"SELECT id AS "id: OrderId", stream_id AS "stream_id: StreamId", product_id AS "product_id: ProductId", quantity
           FROM orders WHERE buyer_id = $1 AND idempotency_key = $2"#,
        buyer as UserId,
        key
    )
    .fetch_optional(db)
    .await
}

/// Which orders [`orders`] returns: every set field must match.
#[derive(Clone, Copy, Debug, Default)]
pub struct OrderFilter {
    pub id: Option<OrderId>,
    pub buyer: Option<UserId>,
    pub stream: Option<StreamId>,
}

/// Orders with names matching `filter`, newest first, at most `limit`.
pub async fn orders(db: impl PgExecutor<'_>, filter: OrderFilter, limit: i64) -> sqlx::Result<Vec<OrderView>> {
    sqlx::query_as!(
        OrderView,
        r#"SELECT o.id AS "id: OrderId", o.number, o.stream_id AS "stream: StreamId", o.product_id AS "product: ProductId",
                  p.name AS product_name, b.display_name AS buyer_name, s.display_name AS seller_name,
                  o.quantity, o.unit_price_cents, o.total_cents,
                  (EXTRACT(EPOCH FROM o.created_at) * 1000)::bigint AS "created_at_ms!"
           FROM orders o JOIN products p ON p.id = o.product_id JOIN users b ON b.id = o.buyer_id
                JOIN users s ON s.id = o.seller_id
           WHERE ($1::uuid IS NULL OR o.id = $1)
             AND ($2::uuid IS NULL OR o.buyer_id = $2)
             AND ($3::uuid IS NULL OR o.stream_id = $3)
           ORDER BY o.created_at DESC
           LIMIT $4"#,
        filter.id.map(|i| i.0),
        filter.buyer.map(|i| i.0),
        filter.stream.map(|i| i.0),
        limit
    )
    .fetch_all(db)
    .await
}

/// One order with names, by id. Errors with `RowNotFound` if there is none.
pub async fn order(db: impl PgExecutor<'_>, id: OrderId) -> sqlx::Result<OrderView> {
    orders(db, OrderFilter { id: Some(id), ..Default::default() }, 1).await?.pop().ok_or(sqlx::Error::RowNotFound)
}

/// Number of orders and revenue in cents of a stream.
pub async fn sales(db: impl PgExecutor<'_>, stream: StreamId) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "orders!", COALESCE(SUM(total_cents), 0)::bigint AS "revenue!" FROM orders WHERE stream_id = $1"#,
        stream as StreamId
    )
    .fetch_one(db)
    .await?;
    Ok((row.orders, row.revenue))
}
