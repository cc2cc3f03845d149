//! SQL for products and product images (compile-checked; offline data in `.sqlx/`).

use crate::commerce::catalog::{image_url, ImageId, ProductInput};
use crate::commerce::Product;
use crate::ids::{ProductId, UserId};
use sqlx::PgExecutor;

/// A `products` row (without timestamps).
#[derive(Clone, Debug)]
pub struct ProductRow {
    pub id: ProductId,
    pub seller_id: UserId,
    pub name: String,
    pub description: String,
    pub list_price_cents: i64,
    pub stock: i32,
    pub image_id: Option<ImageId>,
}

impl ProductRow {
    /// The wire type.
    pub fn into_product(self) -> Product {
        Product {
            id: self.id,
            name: self.name,
            description: self.description,
            list_price_cents: self.list_price_cents,
            stock: self.stock,
            image_url: self.image_id.map(image_url),
        }
    }
}

/// One product, whoever sells it.
pub async fn product(db: impl PgExecutor<'_>, id: ProductId) -> sqlx::Result<Option<ProductRow>> {
    sqlx::query_as!(
        ProductRow,
        r#"SELECT id AS "id: ProductId", seller_id AS "seller_id: UserId", name, description, list_price_cents,
                  stock, image_id AS "image_id: ImageId"
           FROM products WHERE id = $1"#,
        id as ProductId
    )
    .fetch_optional(db)
    .await
}

/// One product, locked until the transaction ends (`FOR UPDATE`).
pub async fn product_for_update(db: impl PgExecutor<'_>, id: ProductId) -> sqlx::Result<Option<ProductRow>> {
    sqlx::query_as!(
        ProductRow,
        r#"SELECT id AS "id: ProductId", seller_id AS "seller_id: UserId", name, description, list_price_cents,
                  stock, image_id AS "image_id: ImageId"
           FROM products WHERE id = $1 FOR UPDATE"#,
        id as ProductId
    )
    .fetch_optional(db)
    .await
}

/// A seller's products, newest first.
pub async fn products_of_seller(db: impl PgExecutor<'_>, seller: UserId) -> sqlx::Result<Vec<ProductRow>> {
    sqlx::query_as!(
        ProductRow,
        r#"SELECT id AS "id: ProductId", seller_id AS "seller_id: UserId", name, description, list_price_cents,
                  stock, image_id AS "image_id: ImageId"
           FROM products WHERE seller_id = $1
           ORDER BY created_at DESC, id DESC"#,
        seller as UserId
    )
    .fetch_all(db)
    .await
}

/// How many products a seller has.
pub async fn count_of_seller(db: impl PgExecutor<'_>, seller: UserId) -> sqlx::Result<i64> {
    let row = sqlx::query!(r#"SELECT count(*) AS "n!" FROM products WHERE seller_id = $1"#, seller as UserId)
        .fetch_one(db)
        .await?;
    Ok(row.n)
}

/// Inserts a product and returns its row.
pub async fn insert_product(
    db: impl PgExecutor<'_>,
    id: ProductId,
    seller: UserId,
    input: &ProductInput,
) -> sqlx::Result<ProductRow> {
    sqlx::query_as!(
        ProductRow,
        r#"INSERT INTO products (id, seller_id, name, description, list_price_cents, stock, image_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id AS "id: ProductId", seller_id AS "seller_id: UserId", name, description, list_price_cents,
                     stock, image_id AS "image_id: ImageId""#,
        id as ProductId,
        seller as UserId,
        input.name,
        input.description,
        input.list_price_cents,
        input.stock,
        input.image as Option<ImageId>
    )
    .fetch_one(db)
    .await
}

/// Replaces a product's fields when `seller` sells it; `None` otherwise.
pub async fn update_product(
    db: impl PgExecutor<'_>,
    id: ProductId,
    seller: UserId,
    input: &ProductInput,
) -> sqlx::Result<Option<ProductRow>> {
    sqlx::query_as!(
        ProductRow,
        r#"UPDATE products
           SET name = $3, description = $4, list_price_cents = $5, stock = $6, image_id = $7, updated_at = now()
           WHERE id = $1 AND seller_id = $2
           RETURNING id AS "id: ProductId", seller_id AS "seller_id: UserId", name, description, list_price_cents,
                     stock, image_id AS "image_id: ImageId""#,
        id as ProductId,
        seller as UserId,
        input.name,
        input.description,
        input.list_price_cents,
        input.stock,
        input.image as Option<ImageId>
    )
    .fetch_optional(db)
    .await
}

/// What deleting a product did.
pub enum Deleted {
    /// Gone; it used this image.
    Yes { image: Option<ImageId> },
    /// Not deleted: it was featured in a stream or ordered (or is not this seller's).
    Kept,
}

/// Deletes a product of `seller` that was never featured or ordered.
pub async fn delete_unused_product(db: impl PgExecutor<'_>, id: ProductId, seller: UserId) -> sqlx::Result<Deleted> {
    let row = sqlx::query!(
        r#"DELETE FROM products p
           WHERE p.id = $1 AND p.seller_id = $2
             AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.product_id = p.id)
             AND NOT EXISTS (SELECT 1 FROM featured_products f WHERE f.product_id = p.id)
           RETURNING p.image_id AS "image_id: ImageId""#,
        id as ProductId,
        seller as UserId
    )
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(r) => Deleted::Yes { image: r.image_id },
        None => Deleted::Kept,
    })
}

/// Stores an uploaded image.
pub async fn insert_image(
    db: impl PgExecutor<'_>,
    id: ImageId,
    owner: UserId,
    content_type: &str,
    bytes: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO product_images (id, owner_id, content_type, bytes) VALUES ($1, $2, $3, $4)",
        id as ImageId,
        owner as UserId,
        content_type,
        bytes
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Who uploaded image `id`, if it exists.
pub async fn image_owner(db: impl PgExecutor<'_>, id: ImageId) -> sqlx::Result<Option<UserId>> {
    let row = sqlx::query!(r#"SELECT owner_id AS "owner_id: UserId" FROM product_images WHERE id = $1"#, id as ImageId)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| r.owner_id))
}

/// An image's content type and bytes.
pub struct ImageData {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Image `id`'s content type and bytes.
pub async fn image(db: impl PgExecutor<'_>, id: ImageId) -> sqlx::Result<Option<ImageData>> {
    sqlx::query_as!(ImageData, "SELECT content_type, bytes FROM product_images WHERE id = $1", id as ImageId)
        .fetch_optional(db)
        .await
}

/// Deletes image `id` unless a product uses it. Returns whether it was deleted.
pub async fn delete_image_if_unused(db: impl PgExecutor<'_>, id: ImageId) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "DELETE FROM product_images i WHERE i.id = $1 AND NOT EXISTS (SELECT 1 FROM products p WHERE p.image_id = i.id)",
        id as ImageId
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes `owner`'s images that no product uses and that were uploaded more than an hour ago (forms
/// abandoned after an upload). Returns how many were deleted.
pub async fn delete_stale_unused_images(db: impl PgExecutor<'_>, owner: UserId) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM product_images i
         WHERE i.owner_id = $1 AND i.created_at < now() - interval '1 hour'
           AND NOT EXISTS (SELECT 1 FROM products p WHERE p.image_id = i.id)",
        owner as UserId
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// How many of `owner`'s images no product uses.
pub async fn count_unused_images(db: impl PgExecutor<'_>, owner: UserId) -> sqlx::Result<i64> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "n!" FROM product_images i
           WHERE i.owner_id = $1 AND NOT EXISTS (SELECT 1 FROM products p WHERE p.image_id = i.id)"#,
        owner as UserId
    )
    .fetch_one(db)
    .await?;
    Ok(row.n)
}
