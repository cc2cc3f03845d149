//! Server-side rules of the catalog: who may change a product, validation before any write, and keeping
//! product images tidy (an image goes when the last product using it lets go of it).

use crate::auth::backend::{require_user, User};
use crate::commerce::catalog::{queries, ImageId, ProductDraft, ProductInput};
use crate::commerce::Product;
use crate::error::AppError;
use crate::ids::ProductId;
use crate::server::state::AppState;
use leptos::prelude::expect_context;
use sqlx::PgPool;

/// Checks that `user` sells product `id`. Errors: `NotFound`, `Forbidden`.
pub async fn require_product_owner(pool: &PgPool, user: &User, id: ProductId) -> Result<queries::ProductRow, AppError> {
    let row = queries::product(pool, id).await?.ok_or_else(|| AppError::NotFound("No such product.".into()))?;
    if row.seller_id != user.id {
        return Err(AppError::Forbidden("Only the product's seller can change it.".into()));
    }
    Ok(row)
}

/// Checks that `image` (if any) was uploaded by `user`. Errors: `Validation` on field `image`.
async fn require_own_image(pool: &PgPool, user: &User, image: Option<ImageId>) -> Result<(), AppError> {
    let Some(image) = image else { return Ok(()) };
    match queries::image_owner(pool, image).await? {
        Some(owner) if owner == user.id => Ok(()),
        _ => Err(AppError::invalid("image", "That image is no longer available. Upload it again.")),
    }
}

/// Maps a write's database error: a vanished image (foreign key) is the `image` field's problem.
fn write_error(e: sqlx::Error) -> AppError {
    match e.as_database_error().and_then(|d| d.constraint()) {
        Some("products_image_id_fkey") => {
            AppError::invalid("image", "That image is no longer available. Upload it again.")
        }
        _ => AppError::internal(e),
    }
}

/// Body of `my_products`.
pub async fn my_products() -> Result<Vec<Product>, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let rows = queries::products_of_seller(&state.pool, user.id).await?;
    Ok(rows.into_iter().map(queries::ProductRow::into_product).collect())
}

/// Body of `create_product`.
pub async fn create(draft: ProductDraft) -> Result<Product, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let input = draft.validate()?;
    create_for(&state.pool, &user, &input).await
}

/// Inserts a validated product for `user` (also used for demo data).
pub async fn create_for(pool: &PgPool, user: &User, input: &ProductInput) -> Result<Product, AppError> {
    require_own_image(pool, user, input.image).await?;
    let row = queries::insert_product(pool, ProductId::new(), user.id, input).await.map_err(write_error)?;
    tracing::info!(product = %row.id, seller = %user.id, "product created");
    Ok(row.into_product())
}

/// Body of `update_product`.
pub async fn update(id: ProductId, draft: ProductDraft) -> Result<Product, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_product_owner(&state.pool, &user, id).await?;
    let input = draft.validate()?;
    require_own_image(&state.pool, &user, input.image).await?;

    let mut tx = state.pool.begin().await?;
    let before = queries::product_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| AppError::NotFound("No such product.".into()))?;
    let row = queries::update_product(&mut *tx, id, user.id, &input)
        .await
        .map_err(write_error)?
        .ok_or_else(|| AppError::Forbidden("Only the product's seller can change it.".into()))?;
    if let Some(old) = before.image_id.filter(|old| Some(*old) != row.image_id) {
        queries::delete_image_if_unused(&mut *tx, old).await?;
    }
    tx.commit().await?;
    tracing::info!(product = %id, seller = %user.id, "product updated");
    Ok(row.into_product())
}

/// Body of `delete_product`.
pub async fn delete(id: ProductId) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_product_owner(&state.pool, &user, id).await?;
    let kept = || AppError::Conflict {
        field: "product".into(),
        message: "This product was featured in a stream or ordered, so it stays in your catalog. \
                  Set its stock to 0 to stop selling it."
            .into(),
    };

    let mut tx = state.pool.begin().await?;
    let deleted = match queries::delete_unused_product(&mut *tx, id, user.id).await {
        Ok(d) => d,
        // An order or feature committed between the check and the delete.
        Err(e) if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) => return Err(kept()),
        Err(e) => return Err(AppError::internal(e)),
    };
    match deleted {
        queries::Deleted::Kept => return Err(kept()),
        queries::Deleted::Yes { image } => {
            if let Some(image) = image {
                queries::delete_image_if_unused(&mut *tx, image).await?;
            }
        }
    }
    tx.commit().await?;
    tracing::info!(product = %id, seller = %user.id, "product deleted");
    Ok(())
}
