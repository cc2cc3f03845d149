//! A seller's catalog: products with name, description, image, list price and stock, managed on
//! `/sell/products`.
//!
//! - Server functions (prefix `/api`): [`my_products`], [`create_product`], [`update_product`],
//!   [`delete_product`]. Every one needs a session; changing or deleting a product needs to own it.
//! - HTTP routes ([`routes`], ssr): `POST /api/product_images` (upload, raw body) and
//!   `GET /media/products/{id}` (the stored bytes, cached forever: image ids are UUIDv7 and never reused).
//! - Deleting: a product that was ever featured in a stream or ordered stays in the catalog (orders and
//!   stream history point at it); the seller sets its stock to 0 to stop selling it. Any other product is
//!   deleted, together with its image when no other product uses that image.
//! - Images are accepted by their magic bytes (PNG, JPEG, WebP, GIF), never by the type the client claims,
//!   up to [`MAX_IMAGE_BYTES`]. An uploaded image belongs to its uploader until a product uses it; unused
//!   uploads are removed an hour later.

pub mod components;
#[cfg(feature = "ssr")]
pub mod images;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod service;

use crate::commerce::{format_money, parse_money, Product};
use crate::error::AppError;
use crate::ids::ProductId;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest product description, in characters (line breaks count as one).
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Highest list price, in cents ($1,000,000.00).
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
/// Most units in stock.
pub const MAX_STOCK: i32 = 1_000_000;
/// Largest image upload, in bytes (2 MiB).
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
/// Where images are uploaded (`POST`, raw image bytes as the body).
pub const UPLOAD_PATH: &str = "/api/product_images";
/// Image content types accepted (recognized by magic bytes).
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "image/gif"];

/// An uploaded product image (`product_images.id`), a UUIDv7. Never reused, so its URL can be cached forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(transparent))]
pub struct ImageId(pub uuid::Uuid);

#[cfg(feature = "ssr")]
impl ImageId {
    /// A new time-ordered id (UUIDv7, RFC 9562 §5.7).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ImageId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

/// Where the browser loads image `id` from: `/media/products/<id>`.
pub fn image_url(id: ImageId) -> String {
    format!("/media/products/{id}")
}

/// The image id inside a [`Product::image_url`] made by [`image_url`], if any.
pub fn image_id_of(product: &Product) -> Option<ImageId> {
    product.image_url.as_deref()?.strip_prefix("/media/products/")?.parse().ok()
}

/// What `POST /api/product_images` answers on success (HTTP 201).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedImage {
    pub id: ImageId,
    /// `/media/products/<id>`.
    pub url: String,
    /// The content type recognized from the bytes, e.g. `image/png`.
    pub content_type: String,
}

/// The product form as typed, before validation: every field a string, as a form sends it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProductDraft {
    pub name: String,
    pub description: String,
    /// Money as typed, e.g. `12.50` or `$1,200`.
    pub price: String,
    /// A whole number as typed.
    pub stock: String,
    /// An [`ImageId`] from an upload, or empty for no image.
    pub image: String,
}

/// A product's fields after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductInput {
    /// Trimmed, 1–120 characters, no control characters.
    pub name: String,
    /// Trimmed, line breaks as `\n`, ≤ 2000 characters.
    pub description: String,
    /// 1 ..= [`MAX_PRICE_CENTS`].
    pub list_price_cents: i64,
    /// 0 ..= [`MAX_STOCK`].
    pub stock: i32,
    pub image: Option<ImageId>,
}

impl ProductDraft {
    /// Validates the fields in form order and returns the first problem as `AppError::Validation` with the
    /// field's name (`name`, `description`, `price`, `stock`, `image`) and a message for people.
    pub fn validate(&self) -> Result<ProductInput, AppError> {
        let name = self.name.trim();
        match name.chars().count() {
            0 => return Err(AppError::invalid("name", "Give the product a name.")),
            n if n > MAX_NAME_CHARS => {
                return Err(AppError::invalid(
                    "name",
                    format!("Name must be at most {MAX_NAME_CHARS} characters (it has {n})."),
                ))
            }
            _ if name.chars().any(char::is_control) => {
                return Err(AppError::invalid("name", "Name cannot contain control characters."))
            }
            _ => {}
        }

        let description = self.description.replace("\r\n", "\n").trim().to_string();
        let n = description.chars().count();
        if n > MAX_DESCRIPTION_CHARS {
            return Err(AppError::invalid(
                "description",
                format!("Description must be at most {MAX_DESCRIPTION_CHARS} characters (it has {n})."),
            ));
        }
        if description.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(AppError::invalid("description", "Description cannot contain control characters."));
        }

        let price = self.price.trim();
        let list_price_cents = if price.is_empty() {
            return Err(AppError::invalid("price", "Enter a price, like 12.50."));
        } else if price.starts_with('-') {
            return Err(AppError::invalid("price", "Price must be more than $0.00."));
        } else {
            match parse_money(price) {
                None => return Err(AppError::invalid("price", "Enter the price in dollars and cents, like 12.50.")),
                Some(0) => return Err(AppError::invalid("price", "Price must be more than $0.00.")),
                Some(c) if c > MAX_PRICE_CENTS => {
                    return Err(AppError::invalid(
                        "price",
                        format!("Price can be at most {}.", format_money(MAX_PRICE_CENTS)),
                    ))
                }
                Some(c) => c,
            }
        };

        let stock = self.stock.trim();
        let stock = if stock.is_empty() {
            return Err(AppError::invalid("stock", "Enter how many units you have in stock, like 5."));
        } else {
            match stock.parse::<i64>() {
                Err(_) => return Err(AppError::invalid("stock", "Stock must be a whole number of units, like 5.")),
                Ok(n) if n < 0 => return Err(AppError::invalid("stock", "Stock cannot be negative.")),
                Ok(n) if n > i64::from(MAX_STOCK) => {
                    return Err(AppError::invalid("stock", "Stock can be at most 1,000,000 units."))
                }
                Ok(n) => n as i32,
            }
        };

        let image = self.image.trim();
        let image = if image.is_empty() {
            None
        } else {
            Some(image.parse::<ImageId>().map_err(|_| AppError::invalid("image", "Upload the image again."))?)
        };

        Ok(ProductInput { name: name.to_string(), description, list_price_cents, stock, image })
    }
}

/// The signed-in seller's products, newest first.
///
/// Errors: `Unauthorized` when signed out.
#[server(prefix = "/api", endpoint = "my_products")]
pub async fn my_products() -> Result<Vec<Product>, AppError> {
    crate::error::with_status(service::my_products().await)
}

/// Adds a product to the signed-in seller's catalog and returns it.
///
/// `price` is money as typed (`12.50`, `$1,200`), stored in cents, > 0 and ≤ $1,000,000; `stock` a whole
/// number 0–1,000,000; `image` the id `POST /api/product_images` returned, or empty for none.
/// Errors: `Unauthorized` when signed out; `Validation` naming the field (`name`, `description`, `price`,
/// `stock`, `image`) — nothing is stored then.
#[server(prefix = "/api", endpoint = "create_product")]
pub async fn create_product(
    name: String,
    description: String,
    price: String,
    stock: String,
    image: String,
) -> Result<Product, AppError> {
    crate::error::with_status(service::create(ProductDraft { name, description, price, stock, image }).await)
}

/// Replaces every field of product `id` (same fields and rules as [`create_product`]; an empty `image`
/// removes the image) and returns the product.
///
/// Errors: `Unauthorized` when signed out; `NotFound` for an unknown product; `Forbidden` if the caller
/// is not its seller; `Validation` naming the field — nothing changes then.
#[server(prefix = "/api", endpoint = "update_product")]
pub async fn update_product(
    id: ProductId,
    name: String,
    description: String,
    price: String,
    stock: String,
    image: String,
) -> Result<Product, AppError> {
    crate::error::with_status(service::update(id, ProductDraft { name, description, price, stock, image }).await)
}

/// Deletes product `id` and its image (when no other product uses it).
///
/// Errors: `Unauthorized` when signed out; `NotFound` for an unknown product; `Forbidden` if the caller
/// is not its seller; `Conflict` (field `product`) if it was ever featured in a stream or ordered — it
/// then stays, and setting its stock to 0 stops sales.
#[server(prefix = "/api", endpoint = "delete_product")]
pub async fn delete_product(id: ProductId) -> Result<(), AppError> {
    crate::error::with_status(service::delete(id).await)
}

/// The catalog's HTTP routes: `POST /api/product_images` and `GET /media/products/{id}`.
#[cfg(feature = "ssr")]
pub fn routes() -> axum::Router<crate::server::state::AppState> {
    images::routes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(name: &str, price: &str, stock: &str) -> ProductDraft {
        ProductDraft { name: name.into(), price: price.into(), stock: stock.into(), ..Default::default() }
    }

    fn field_of(d: &ProductDraft) -> Option<String> {
        d.validate().err().and_then(|e| e.field().map(str::to_string))
    }

    #[test]
    fn a_good_draft_is_trimmed_and_parsed() {
        let d = ProductDraft {
            name: "  Lamp ".into(),
            description: " one\r\ntwo ".into(),
            price: "$1,234.5".into(),
            stock: " 7 ".into(),
            image: String::new(),
        };
        let input = d.validate().unwrap();
        assert_eq!(input.name, "Lamp");
        assert_eq!(input.description, "one\ntwo");
        assert_eq!(input.list_price_cents, 123_450);
        assert_eq!(input.stock, 7);
        assert_eq!(input.image, None);
        assert_eq!(draft("x", "1000000", "0").validate().unwrap().list_price_cents, MAX_PRICE_CENTS);
    }

    #[test]
    fn each_bad_field_is_named() {
        let n120 = "n".repeat(120);
        let n121 = "n".repeat(121);
        assert!(draft(&n120, "1", "1").validate().is_ok());
        assert_eq!(field_of(&draft(&n121, "1", "1")).as_deref(), Some("name"));
        assert_eq!(field_of(&draft("  ", "1", "1")).as_deref(), Some("name"));
        assert_eq!(field_of(&draft("a\u{7}", "1", "1")).as_deref(), Some("name"));
        for price in ["0", "0.00", "-1", "abc", "1.234", "1000000.01", ""] {
            assert_eq!(field_of(&draft("x", price, "1")).as_deref(), Some("price"), "{price}");
        }
        for stock in ["-1", "1.5", "x", "", "1000001"] {
            assert_eq!(field_of(&draft("x", "1", stock)).as_deref(), Some("stock"), "{stock}");
        }
        let long = ProductDraft { description: "d".repeat(2001), ..draft("x", "1", "1") };
        assert_eq!(field_of(&long).as_deref(), Some("description"));
        // Windows line breaks count once.
        let crlf = ProductDraft { description: "d\r\n".repeat(1000), ..draft("x", "1", "1") };
        assert!(crlf.validate().is_ok());
        let img = ProductDraft { image: "not-an-id".into(), ..draft("x", "1", "1") };
        assert_eq!(field_of(&img).as_deref(), Some("image"));
    }

    #[test]
    fn image_ids_round_trip_through_urls() {
        let id: ImageId = "0190f5d2-7f3a-7c4e-9b1a-123456789abc".parse().unwrap();
        let p = Product {
            id: ProductId(uuid::Uuid::nil()),
            name: "x".into(),
            description: String::new(),
            list_price_cents: 1,
            stock: 0,
            image_url: Some(image_url(id)),
        };
        assert_eq!(image_id_of(&p), Some(id));
        assert_eq!(image_id_of(&Product { image_url: None, ..p }), None);
    }
}
