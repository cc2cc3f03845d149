//! SQL for rooms by link (compile-checked; offline data in `.sqlx/`).

use crate::ids::UserId;
use sqlx::PgExecutor;
use time::OffsetDateTime;

/// A room row with its creator's display name.
pub struct RoomRow {
    pub slug: String,
    pub name: String,
    pub created_by_name: String,
    pub created_at: OffsetDateTime,
}

/// Inserts a room. Fails with a unique violation on `rooms_pkey` if the slug is taken.
pub async fn insert_room(db: impl PgExecutor<'_>, slug: &str, name: &str, created_by: UserId) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO rooms (slug, name, created_by) VALUES ($1, $2, $3)", slug, name, created_by.0)
        .execute(db)
        .await
        .map(|_| ())
}

/// The room with this slug.
pub async fn room(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<RoomRow>> {
    sqlx::query_as!(
        RoomRow,
        r#"SELECT r.slug, r.name, u.display_name AS created_by_name, r.created_at
           FROM rooms r JOIN users u ON u.id = r.created_by
           WHERE r.slug = $1"#,
        slug
    )
    .fetch_optional(db)
    .await
}

/// Rooms created by `user`, newest first, at most `limit`.
pub async fn rooms_by_creator(db: impl PgExecutor<'_>, user: UserId, limit: i64) -> sqlx::Result<Vec<RoomRow>> {
    sqlx::query_as!(
        RoomRow,
        r#"SELECT r.slug, r.name, u.display_name AS created_by_name, r.created_at
           FROM rooms r JOIN users u ON u.id = r.created_by
           WHERE r.created_by = $1
           ORDER BY r.created_at DESC
           LIMIT $2"#,
        user.0,
        limit
    )
    .fetch_all(db)
    .await
}
