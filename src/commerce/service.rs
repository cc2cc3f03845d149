//! Server-side commerce rules: featuring products in a live stream and buying them in one transaction
//! (price from the database, conditional stock decrement, per-buyer limit, idempotency key), plus the
//! events pushed to viewers and to the seller.

use crate::commerce::{queries, FeaturedProduct, OrderView};
use crate::error::AppError;
use crate::ids::{OrderId, ProductId, StreamId, UserId};
use crate::server::state::AppState;
use crate::signaling::protocol::{MemberRole, RoomId, ServerMsg};
use sqlx::PgPool;
use time::OffsetDateTime;

/// Most products featured in one stream at a time.
pub const MAX_FEATURED: i64 = 3;
/// Most units in one order.
pub const MAX_QUANTITY: i32 = 1000;

/// What the seller asks for when featuring a product.
#[derive(Clone, Debug)]
pub struct FeatureRequest {
    pub stream: StreamId,
    pub product: ProductId,
    /// In cents; must be > 0 and ≤ the product's list price.
    pub special_price_cents: i64,
    /// 1–1000 units per buyer, or unlimited.
    pub per_buyer_limit: Option<i32>,
    /// Flash sale length in minutes from now (1–1440), or no end.
    pub ends_in_minutes: Option<i32>,
}

/// Features (or re-prices) a product in the seller's live stream and returns the stream's new featured list.
///
/// Errors: `NotFound` (stream or product), `Forbidden` (not the stream's seller, or not their product),
/// `Conflict` (stream not live; already 3 featured), `Validation` (price, limit, duration).
pub async fn feature(pool: &PgPool, seller: UserId, req: FeatureRequest) -> Result<Vec<FeaturedProduct>, AppError> {
    if req.special_price_cents <= 0 {
        return Err(AppError::invalid("special_price", "Enter a special price above $0.00."));
    }
    if req.per_buyer_limit.is_some_and(|l| !(1..=1000).contains(&l)) {
        return Err(AppError::invalid("per_buyer_limit", "The per-buyer limit must be between 1 and 1000."));
    }
    if req.ends_in_minutes.is_some_and(|m| !(1..=1440).contains(&m)) {
        return Err(AppError::invalid("ends_in_minutes", "A flash sale lasts 1 to 1440 minutes."));
    }
    let mut tx = pool.begin().await?;
    let (stream_seller, status) = queries::lock_stream(&mut *tx, req.stream)
        .await?
        .ok_or_else(|| AppError::NotFound("No such stream.".into()))?;
    if stream_seller != seller {
        return Err(AppError::Forbidden("Only the stream's seller can feature products.".into()));
    }
    if status != "live" {
        return Err(AppError::Conflict { field: "stream".into(), message: "This stream has ended.".into() });
    }
    let owner = queries::product_owner(&mut *tx, req.product)
        .await?
        .ok_or_else(|| AppError::NotFound("No such product.".into()))?;
    if owner.seller_id != seller {
        return Err(AppError::Forbidden("You can only feature your own products.".into()));
    }
    if req.special_price_cents > owner.list_price_cents {
        return Err(AppError::invalid("special_price", "The special price cannot be above the list price."));
    }
    if queries::featured_count_except(&mut *tx, req.stream, req.product).await? >= MAX_FEATURED {
        return Err(AppError::Conflict {
            field: "product".into(),
            message: "You can feature up to 3 products at a time. Remove one first.".into(),
        });
    }
    let ends_at = req.ends_in_minutes.map(|m| OffsetDateTime::now_utc() + time::Duration::minutes(m.into()));
    queries::upsert_featured(&mut *tx, req.stream, req.product, req.special_price_cents, req.per_buyer_limit, ends_at)
        .await?;
    let list = queries::featured(&mut *tx, req.stream).await?;
    tx.commit().await?;
    Ok(list)
}

/// Stops featuring a product; returns the new list. Errors: `NotFound`, `Forbidden`.
pub async fn unfeature(
    pool: &PgPool,
    seller: UserId,
    stream: StreamId,
    product: ProductId,
) -> Result<Vec<FeaturedProduct>, AppError> {
    let mut tx = pool.begin().await?;
    let (stream_seller, _) =
        queries::lock_stream(&mut *tx, stream).await?.ok_or_else(|| AppError::NotFound("No such stream.".into()))?;
    if stream_seller != seller {
        return Err(AppError::Forbidden("Only the stream's seller can change featured products.".into()));
    }
    queries::delete_featured(&mut *tx, stream, product).await?;
    let list = queries::featured(&mut *tx, stream).await?;
    tx.commit().await?;
    Ok(list)
}

/// A purchase as the buyer's browser sends it: no price, the server reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuyRequest {
    pub stream: StreamId,
    pub product: ProductId,
    /// 1–1000.
    pub quantity: i32,
    /// Made by the browser once per purchase attempt; a retry with the same key returns the same order.
    pub idempotency_key: uuid::Uuid,
}

/// The result of a purchase.
#[derive(Clone, Debug)]
pub struct Purchase {
    pub order: OrderView,
    /// Stock left after this order (for a replayed key: the stock now).
    pub stock: i32,
    /// `false` when the idempotency key had been used already and the earlier order is returned.
    pub created: bool,
}

/// Buys `quantity` units of a featured product at the stream's special price, in one transaction.
///
/// Rules, all checked in the transaction with the featured row locked: the product is featured in the
/// stream right now (`NotFound` otherwise), the stream is live and the flash sale has not ended
/// (`Conflict`), the buyer is not the seller (`Forbidden`), quantity is 1–1000 and within the per-buyer limit
/// (`Validation`, field `quantity`), and there is enough stock (`Conflict`, field `quantity`: one
/// conditional `UPDATE … WHERE stock >= qty`). The same idempotency key with the same request returns the
/// first order; with a different request it is `Conflict` (field `idempotency_key`).
pub async fn buy(pool: &PgPool, buyer: UserId, req: BuyRequest) -> Result<Purchase, AppError> {
    if !(1..=MAX_QUANTITY).contains(&req.quantity) {
        return Err(AppError::invalid("quantity", "Choose a quantity from 1 to 1000."));
    }
    if let Some(existing) = replay(pool, buyer, &req).await? {
        return Ok(existing);
    }
    let mut tx = pool.begin().await?;
    let terms = queries::lock_sale_terms(&mut *tx, req.stream, req.product)
        .await?
        .ok_or_else(|| AppError::NotFound("This product is not on sale in this stream right now.".into()))?;
    if !terms.stream_live {
        return Err(AppError::Conflict { field: "stream".into(), message: "This stream has ended.".into() });
    }
    if terms.ended {
        return Err(AppError::Conflict { field: "product".into(), message: "This flash sale has ended.".into() });
    }
    if terms.seller_id == buyer {
        return Err(AppError::Forbidden("You cannot buy from your own stream.".into()));
    }
    if let Some(limit) = terms.per_buyer_limit {
        let had = queries::bought_so_far(&mut *tx, buyer, req.stream, req.product).await?;
        if had + i64::from(req.quantity) > i64::from(limit) {
            let left = (i64::from(limit) - had).max(0);
            return Err(AppError::invalid(
                "quantity",
                format!("You can buy at most {limit} of these in this stream ({left} more)."),
            ));
        }
    }
    let order_id = OrderId::new();
    let new_order = queries::NewOrder {
        id: order_id,
        buyer,
        seller: terms.seller_id,
        stream: req.stream,
        product: req.product,
        quantity: req.quantity,
        unit_price_cents: terms.special_price_cents,
        idempotency_key: req.idempotency_key,
    };
    if !queries::insert_order(&mut *tx, &new_order).await? {
        // Another request with this key committed while we waited for the lock.
        drop(tx);
        return replay(pool, buyer, &req).await?.ok_or(AppError::Internal);
    }
    let Some(stock) = queries::take_stock(&mut *tx, req.product, req.quantity).await? else {
        drop(tx);
        let left = queries::stock(pool, req.product).await?;
        let message = if left == 0 { "Sold out.".to_string() } else { format!("Only {left} left.") };
        return Err(AppError::Conflict { field: "quantity".into(), message });
    };
    tx.commit().await?;
    let order = queries::order(pool, order_id).await?;
    Ok(Purchase { order, stock, created: true })
}

/// If the buyer used this idempotency key before: the earlier order for the same request, or `Conflict`.
async fn replay(pool: &PgPool, buyer: UserId, req: &BuyRequest) -> Result<Option<Purchase>, AppError> {
    let Some(stored) = queries::order_by_key(pool, buyer, req.idempotency_key).await? else { return Ok(None) };
    if stored.stream_id != req.stream || stored.product_id != req.product || stored.quantity != req.quantity {
        return Err(AppError::Conflict {
            field: "idempotency_key".into(),
            message: "This purchase key was already used for a different order.".into(),
        });
    }
    let order = queries::order(pool, stored.id).await?;
    let stock = queries::stock(pool, req.product).await?;
    Ok(Some(Purchase { order, stock, created: false }))
}

/// Pushes a new featured list to everyone in the stream.
pub fn announce_featured(state: &AppState, stream: StreamId, products: Vec<FeaturedProduct>) {
    state.hub.broadcast(&RoomId::Stream(stream), &ServerMsg::FeaturedChanged { stream, products });
}

/// Pushes a new order: stock to everyone in the stream, the order and the totals to the seller.
pub async fn announce_purchase(state: &AppState, purchase: &Purchase) -> Result<(), AppError> {
    let stream = purchase.order.stream;
    let room = RoomId::Stream(stream);
    state
        .hub
        .broadcast(&room, &ServerMsg::StockChanged { stream, product: purchase.order.product, stock: purchase.stock });
    state.hub.send_to_role(
        &room,
        MemberRole::Publisher,
        &ServerMsg::OrderPlaced { stream, order: purchase.order.clone() },
    );
    let (orders, revenue_cents) = queries::sales(&state.pool, stream).await?;
    state.hub.send_to_role(
        &room,
        MemberRole::Publisher,
        &ServerMsg::SalesStats { stream, orders: orders as u32, revenue_cents },
    );
    Ok(())
}
