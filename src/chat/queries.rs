//! SQL for chat messages and mutes (compile-checked; offline data in `.sqlx/`).

use crate::ids::{ChatMessageId, StreamId, UserId};
use sqlx::PgExecutor;
use time::OffsetDateTime;

/// A chat message joined with its author's name and whether the author is the stream's seller.
pub struct ChatRow {
    pub id: ChatMessageId,
    pub stream_id: StreamId,
    pub user_id: UserId,
    pub author: String,
    pub text: String,
    pub from_seller: bool,
    pub created_at: OffsetDateTime,
}

/// Where a message belongs, for moderation.
pub struct MessageRef {
    pub stream_id: StreamId,
    pub deleted: bool,
}

/// Stores a message and returns it with its author's name, in one statement that re-checks the rules
/// ([`super::service::require_chat_writer`] checks them first, with messages for people): `None` when the
/// stream is not live or `user` is muted there, so a mute cannot race a message past itself.
pub async fn insert_message(
    db: impl PgExecutor<'_>,
    id: ChatMessageId,
    stream: StreamId,
    user: UserId,
    text: &str,
) -> sqlx::Result<Option<ChatRow>> {
    sqlx::query_as!(
        ChatRow,
        r#"WITH m AS (
               INSERT INTO chat_messages (id, stream_id, user_id, text)
               SELECT $1, $2, $3, $4
               WHERE EXISTS (SELECT 1 FROM streams WHERE id = $2 AND status = 'live')
                 AND NOT EXISTS (SELECT 1 FROM chat_mutes WHERE stream_id = $2 AND user_id = $3)
               RETURNING id, stream_id, user_id, text, created_at
           )
           SELECT m.id AS "id!: ChatMessageId", m.stream_id AS "stream_id!: StreamId",
                  m.user_id AS "user_id!: UserId", u.display_name AS "author!", m.text AS "text!",
                  (m.user_id = s.seller_id) AS "from_seller!", m.created_at AS "created_at!"
           FROM m JOIN users u ON u.id = m.user_id JOIN streams s ON s.id = m.stream_id"#,
        id as ChatMessageId,
        stream as StreamId,
        user as UserId,
        text
    )
    .fetch_optional(db)
    .await
}

/// The newest `limit` messages of `stream` that are not deleted, oldest first.
pub async fn recent_messages(db: impl PgExecutor<'_>, stream: StreamId, limit: i64) -> sqlx::Result<Vec<ChatRow>> {
    sqlx::query_as!(
        ChatRow,
        r#"SELECT id AS "id!: ChatMessageId", stream_id AS "stream_id!: StreamId", user_id AS "user_id!: UserId",
                  author AS "author!", text AS "text!", from_seller AS "from_seller!", created_at AS "created_at!"
           FROM (
               SELECT m.id, m.stream_id, m.user_id, u.display_name AS author, m.text,
                      (m.user_id = s.seller_id) AS from_seller, m.created_at
               FROM chat_messages m JOIN users u ON u.id = m.user_id JOIN streams s ON s.id = m.stream_id
               WHERE m.stream_id = $1 AND m.deleted_at IS NULL
               ORDER BY m.created_at DESC, m.id DESC
               LIMIT $2
           ) recent
           ORDER BY created_at, id"#,
        stream as StreamId,
        limit
    )
    .fetch_all(db)
    .await
}

/// The stream of message `id` and whether it is deleted; `None` for an unknown id.
pub async fn message_ref(db: impl PgExecutor<'_>, id: ChatMessageId) -> sqlx::Result<Option<MessageRef>> {
    sqlx::query_as!(
        MessageRef,
        r#"SELECT stream_id AS "stream_id: StreamId", (deleted_at IS NOT NULL) AS "deleted!"
           FROM chat_messages WHERE id = $1"#,
        id as ChatMessageId
    )
    .fetch_optional(db)
    .await
}

/// Marks message `id` deleted by `by`. Returns `false` if it was already deleted (or is unknown).
pub async fn delete_message(db: impl PgExecutor<'_>, id: ChatMessageId, by: UserId) -> sqlx::Result<bool> {
    let row = sqlx::query!(
        "UPDATE chat_messages SET deleted_at = now(), deleted_by = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING id",
        id as ChatMessageId,
        by as UserId
    )
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

/// Whether `user` is muted in `stream`.
pub async fn is_muted(db: impl PgExecutor<'_>, stream: StreamId, user: UserId) -> sqlx::Result<bool> {
    let row = sqlx::query!(
        r#"SELECT EXISTS (SELECT 1 FROM chat_mutes WHERE stream_id = $1 AND user_id = $2) AS "muted!""#,
        stream as StreamId,
        user as UserId
    )
    .fetch_one(db)
    .await?;
    Ok(row.muted)
}

/// Everyone muted in `stream`, in the order they were muted.
pub async fn muted_users(db: impl PgExecutor<'_>, stream: StreamId) -> sqlx::Result<Vec<UserId>> {
    let rows = sqlx::query!(
        r#"SELECT user_id AS "user_id: UserId" FROM chat_mutes WHERE stream_id = $1 ORDER BY created_at, user_id"#,
        stream as StreamId
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.user_id).collect())
}

/// Mutes `user` in `stream`. Returns `false` if they were muted already. Fails with a foreign-key
/// violation on `chat_mutes_user_id_fkey` for an unknown user.
pub async fn mute(db: impl PgExecutor<'_>, stream: StreamId, user: UserId, by: UserId) -> sqlx::Result<bool> {
    let row = sqlx::query!(
        "INSERT INTO chat_mutes (stream_id, user_id, muted_by) VALUES ($1, $2, $3)
         ON CONFLICT (stream_id, user_id) DO NOTHING RETURNING user_id",
        stream as StreamId,
        user as UserId,
        by as UserId
    )
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}
