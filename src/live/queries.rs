//! SQL for live streams and categories (compile-checked; offline data in `.sqlx/`).

use crate::ids::{StreamId, UserId};
use crate::live::Category;
use sqlx::PgExecutor;
use time::OffsetDateTime;

/// A stream row joined with its seller's and category's names.
pub struct StreamRow {
    pub id: StreamId,
    pub seller_id: UserId,
    pub seller_name: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub category_slug: String,
    pub status: String,
    pub started_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    pub peak_viewers: i32,
}

/// All categories in display order.
pub async fn categories(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Category>> {
    sqlx::query_as!(Category, "SELECT slug, name FROM categories ORDER BY sort_order").fetch_all(db).await
}

/// The id of the category with this slug.
pub async fn category_id(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<i16>> {
    Ok(sqlx::query!("SELECT id FROM categories WHERE slug = $1", slug).fetch_optional(db).await?.map(|r| r.id))
}

/// Inserts a live stream. Fails with a unique violation on `streams_one_live_per_seller` if the seller
/// already has one.
pub async fn insert_live_stream(
    db: impl PgExecutor<'_>,
    id: StreamId,
    seller: UserId,
    title: &str,
    description: &str,
    category_id: i16,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO streams (id, seller_id, title, description, category_id, status) VALUES ($1, $2, $3, $4, $5, 'live')",
        id as StreamId,
        seller as UserId,
        title,
        description,
        category_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One stream with names, live or ended.
pub async fn stream(db: impl PgExecutor<'_>, id: StreamId) -> sqlx::Result<Option<StreamRow>> {
    sqlx::query_as!(
        StreamRow,
        r#"SELECT s.id AS "id: StreamId", s.seller_id AS "seller_id: UserId", u.display_name AS seller_name,
                  s.title, s.description, c.name AS category, c.slug AS category_slug, s.status,
                  s.started_at, s.ended_at, s.peak_viewers
           FROM streams s JOIN users u ON u.id = s.seller_id JOIN categories c ON c.id = s.category_id
           WHERE s.id = $1"#,
        id as StreamId
    )
    .fetch_optional(db)
    .await
}

/// Live streams, newest first; only category `slug` when given.
pub async fn live_streams(db: impl PgExecutor<'_>, slug: Option<&str>) -> sqlx::Result<Vec<StreamRow>> {
    sqlx::query_as!(
        StreamRow,
        r#"SELECT s.id AS "id: StreamId", s.seller_id AS "seller_id: UserId", u.display_name AS seller_name,
                  s.title, s.description, c.name AS category, c.slug AS category_slug, s.status,
                  s.started_at, s.ended_at, s.peak_viewers
           FROM streams s JOIN users u ON u.id = s.seller_id JOIN categories c ON c.id = s.category_id
           WHERE s.status = 'live' AND ($1::text IS NULL OR c.slug = $1)
           ORDER BY s.started_at DESC
           LIMIT 500"#,
        slug
    )
    .fetch_all(db)
    .await
}

/// Marks a live stream ended now. Returns `false` if it was not live (already ended or unknown).
pub async fn end_stream(db: impl PgExecutor<'_>, id: StreamId) -> sqlx::Result<bool> {
    let row = sqlx::query!(
        "UPDATE streams SET status = 'ended', ended_at = now() WHERE id = $1 AND status = 'live' RETURNING id",
        id as StreamId
    )
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

/// Raises the stream's peak viewer count to `viewers` if higher.
pub async fn record_viewers(db: impl PgExecutor<'_>, id: StreamId, viewers: i32) -> sqlx::Result<()> {
    sqlx::query!("UPDATE streams SET peak_viewers = GREATEST(peak_viewers, $2) WHERE id = $1", id as StreamId, viewers)
        .execute(db)
        .await?;
    Ok(())
}
