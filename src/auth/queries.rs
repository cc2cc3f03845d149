//! SQL for accounts (compile-checked by `sqlx::query!`; offline data in `.sqlx/`).

use crate::auth::backend::User;
use crate::ids::UserId;
use sqlx::PgExecutor;

/// The account with this (lowercase) username.
pub async fn user_by_username(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"SELECT id AS "id: UserId", username, display_name, password_hash FROM users WHERE username = $1"#,
        username
    )
    .fetch_optional(db)
    .await
}

/// The account with this id.
pub async fn user_by_id(db: impl PgExecutor<'_>, id: UserId) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"SELECT id AS "id: UserId", username, display_name, password_hash FROM users WHERE id = $1"#,
        id as UserId
    )
    .fetch_optional(db)
    .await
}

/// Inserts an account. Fails with a unique violation on constraint `users_username_key` if the username
/// is taken.
pub async fn insert_user(db: impl PgExecutor<'_>, user: &User) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO users (id, username, display_name, password_hash) VALUES ($1, $2, $3, $4)",
        user.id as UserId,
        user.username,
        user.display_name,
        user.password_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether an account with this username exists.
pub async fn username_exists(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<bool> {
    let row = sqlx::query!(r#"SELECT EXISTS (SELECT 1 FROM users WHERE username = $1) AS "exists!""#, username)
        .fetch_one(db)
        .await?;
    Ok(row.exists)
}
