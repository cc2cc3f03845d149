//! Commerce: sellers' catalog (`catalog`), products featured at a special price during a live stream,
//! buying them in one click, and orders. Prices are integer minor units (cents) read from the database,
//! never from the client.

pub mod catalog;
pub mod components;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod service;

use crate::error::AppError;
use crate::ids::{OrderId, ProductId, StreamId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A product in a seller's catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    /// 1–120 characters, plain text.
    pub name: String,
    /// Up to 2000 characters, plain text.
    pub description: String,
    /// List price in cents (> 0).
    pub list_price_cents: i64,
    /// Units in stock (≥ 0).
    pub stock: i32,
    /// Where the browser loads the image from (`/media/products/<image id>`), or `None` for the placeholder.
    pub image_url: Option<String>,
}

/// A product featured in a live stream, as every viewer sees it.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeaturedProduct {
    pub product: ProductId,
    pub name: String,
    pub description: String,
    pub image_url: Option<String>,
    /// The catalog price, shown struck through, in cents.
    pub list_price_cents: i64,
    /// The price during the stream, in cents (≤ list price).
    pub special_price_cents: i64,
    /// Units left.
    pub stock: i32,
    /// Most units one buyer may buy in this stream, if limited.
    pub per_buyer_limit: Option<i32>,
    /// When the flash sale ends, in milliseconds since the Unix epoch (UTC), if it does.
    pub ends_at_ms: Option<i64>,
}

/// An order as the buyer and the seller see it.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub id: OrderId,
    /// The order number people quote (starts at 1001).
    pub number: i64,
    pub stream: StreamId,
    pub product: ProductId,
    pub product_name: String,
    pub buyer_name: String,
    pub seller_name: String,
    pub quantity: i32,
    /// Price paid per unit, in cents.
    pub unit_price_cents: i64,
    /// `unit_price_cents × quantity`, in cents.
    pub total_cents: i64,
    /// Milliseconds since the Unix epoch (UTC).
    pub created_at_ms: i64,
}

/// A stream's orders and revenue, for its seller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSales {
    /// Newest first.
    pub orders: Vec<OrderView>,
    /// Sum of the orders' totals, in cents.
    pub revenue_cents: i64,
}

#[cfg(feature = "ssr")]
fn state() -> crate::server::state::AppState {
    expect_context()
}

#[cfg(feature = "ssr")]
fn optional_number(field: &str, value: &str, message: &str) -> Result<Option<i32>, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value.parse::<i32>().map(Some).map_err(|_| AppError::invalid(field, message))
}

/// The products featured in a stream right now (anyone may ask).
#[server(prefix = "/api", endpoint = "featured")]
pub async fn featured_products(stream: StreamId) -> Result<Vec<FeaturedProduct>, AppError> {
    crate::error::with_status(queries::featured(&state().pool, stream).await.map_err(AppError::from))
}

/// Features one of the seller's products in their live stream at `special_price` (money as typed, e.g.
/// `9.99`), optionally with a per-buyer limit and a flash-sale length in minutes (empty = none), and pushes the
/// new list to every viewer. Returns the new list.
///
/// Errors: `Unauthorized`; `Forbidden` unless the caller is the stream's seller and owns the product;
/// `Validation` (price > 0 and ≤ list price, limit 1–1000, 1–1440 minutes); `Conflict` (stream not live, or
/// 3 products already featured).
#[server(prefix = "/api", endpoint = "feature_product")]
pub async fn feature_product(
    stream: StreamId,
    product: ProductId,
    special_price: String,
    per_buyer_limit: String,
    ends_in_minutes: String,
) -> Result<Vec<FeaturedProduct>, AppError> {
    crate::error::with_status(
        async {
            let user = crate::auth::backend::require_user().await?;
            let special_price_cents = parse_money(&special_price)
                .ok_or_else(|| AppError::invalid("special_price", "Enter the special price like 9.99."))?;
            let req = service::FeatureRequest {
                stream,
                product,
                special_price_cents,
                per_buyer_limit: optional_number(
                    "per_buyer_limit",
                    &per_buyer_limit,
                    "The limit must be a whole number.",
                )?,
                ends_in_minutes: optional_number(
                    "ends_in_minutes",
                    &ends_in_minutes,
                    "Minutes must be a whole number.",
                )?,
            };
            let state = state();
            let list = service::feature(&state.pool, user.id, req).await?;
            service::announce_featured(&state, stream, list.clone());
            Ok(list)
        }
        .await,
    )
}

/// Stops featuring a product in the seller's stream and pushes the new list. Errors: `Unauthorized`,
/// `NotFound`, `Forbidden`.
#[server(prefix = "/api", endpoint = "unfeature_product")]
pub async fn unfeature_product(stream: StreamId, product: ProductId) -> Result<Vec<FeaturedProduct>, AppError> {
    crate::error::with_status(
        async {
            let user = crate::auth::backend::require_user().await?;
            let state = state();
            let list = service::unfeature(&state.pool, user.id, stream, product).await?;
            service::announce_featured(&state, stream, list.clone());
            Ok(list)
        }
        .await,
    )
}

/// Buys `quantity` units of a product featured in `stream` at its special price (read from the database;
/// the browser sends no price). `idempotency_key` is a UUID the browser makes once per purchase attempt:
/// sending it again returns the same order instead of a second one. Every viewer sees the new stock at once;
/// the seller gets the order.
///
/// Errors: see `commerce::service::buy` (`NotFound`, `Conflict`, `Forbidden`, `Validation`), `Unauthorized`.
#[server(prefix = "/api", endpoint = "buy_now")]
pub async fn buy_now(
    stream: StreamId,
    product: ProductId,
    quantity: i32,
    idempotency_key: uuid::Uuid,
) -> Result<OrderView, AppError> {
    crate::error::with_status(
        async {
            let user = crate::auth::backend::require_user().await?;
            let state = state();
            let req = service::BuyRequest { stream, product, quantity, idempotency_key };
            let purchase = service::buy(&state.pool, user.id, req).await?;
            if purchase.created {
                tracing::info!(order = %purchase.order.id, number = purchase.order.number, "order placed");
                service::announce_purchase(&state, &purchase).await?;
            }
            Ok(purchase.order)
        }
        .await,
    )
}

/// The signed-in user's orders, newest first. Errors: `Unauthorized`.
#[server(prefix = "/api", endpoint = "my_orders")]
pub async fn my_orders() -> Result<Vec<OrderView>, AppError> {
    crate::error::with_status(
        async {
            let user = crate::auth::backend::require_user().await?;
            let filter = queries::OrderFilter { buyer: Some(user.id), ..Default::default() };
            Ok(queries::orders(&state().pool, filter, 200).await?)
        }
        .await,
    )
}

/// A stream's orders and revenue, for its seller. Errors: `Unauthorized`, `NotFound`, `Forbidden`.
#[server(prefix = "/api", endpoint = "stream_orders")]
pub async fn stream_orders(stream: StreamId) -> Result<StreamSales, AppError> {
    crate::error::with_status(
        async {
            let user = crate::auth::backend::require_user().await?;
            let state = state();
            crate::live::service::require_seller(&state, &user, stream).await?;
            let filter = queries::OrderFilter { stream: Some(stream), ..Default::default() };
            let orders = queries::orders(&state.pool, filter, 500).await?;
            let revenue_cents = orders.iter().map(|o| o.total_cents).sum();
            Ok(StreamSales { orders, revenue_cents })
        }
        .await,
    )
}

/// An amount of money in cents as people read it: `$1,234.50`.
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// Parses a price typed by a person (`12`, `12.5`, `12.50`, `$1,234.50`) into cents. `None` if it is not a
/// plain non-negative amount with at most two decimals.
pub fn parse_money(input: &str) -> Option<i64> {
    let s: String = input.trim().trim_start_matches('$').chars().filter(|c| *c != ',').collect();
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s.as_str(), ""),
    };
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 2
        || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    whole.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_round_trips() {
        assert_eq!(format_money(0), "$0.00");
        assert_eq!(format_money(5), "$0.05");
        assert_eq!(format_money(123_450), "$1,234.50");
        assert_eq!(format_money(100_000_000), "$1,000,000.00");
        assert_eq!(parse_money("12"), Some(1200));
        assert_eq!(parse_money("12.5"), Some(1250));
        assert_eq!(parse_money(" $1,234.50 "), Some(123_450));
        assert_eq!(parse_money(".99"), Some(99));
        for bad in ["", "-1", "1.234", "abc", "1e3", "."] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
    }
}
