//! The seller's catalog against a real PostgreSQL and a real server: create, list, edit, delete; validation
//! that changes nothing; only the owner may change a product; image uploads checked by their bytes and
//! served with their type and a forever cache.

mod common;

use common::*;
use onair::commerce::Product;
use onair::ids::ProductId;
use serde_json::Value;
use sqlx::PgPool;

/// A real 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x78, 0x28, 0xeb, 0x01, 0x00, 0x03, 0x29, 0x01, 0x47, 0xfe, 0xbe, 0xc3, 0x70,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The start of a GIF (magic bytes are what the server checks).
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

struct Fields<'a> {
    name: &'a str,
    description: &'a str,
    price: &'a str,
    stock: &'a str,
    image: &'a str,
}

const LAMP: Fields<'static> =
    Fields { name: "Desk lamp", description: "Warm LED", price: "12.50", stock: "5", image: "" };

fn form<'a>(f: &Fields<'a>) -> Vec<(&'static str, &'a str)> {
    vec![("name", f.name), ("description", f.description), ("price", f.price), ("stock", f.stock), ("image", f.image)]
}

async fn create(b: &Browser, f: &Fields<'_>) -> reqwest::Response {
    b.call("create_product", &form(f)).await
}

async fn create_ok(b: &Browser, f: &Fields<'_>) -> Product {
    let res = create(b, f).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

async fn update(b: &Browser, id: ProductId, f: &Fields<'_>) -> reqwest::Response {
    let id = id.to_string();
    let mut fields = form(f);
    fields.push(("id", &id));
    b.call("update_product", &fields).await
}

async fn delete(b: &Browser, id: ProductId) -> reqwest::Response {
    b.call("delete_product", &[("id", &id.to_string())]).await
}

async fn list(b: &Browser) -> Vec<Product> {
    let res = b.call("my_products", &[]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

async fn upload(server: &TestServer, b: &Browser, bytes: Vec<u8>, claimed_type: &str) -> reqwest::Response {
    b.http
        .post(server.url("/api/product_images"))
        .header("Origin", &b.origin)
        .header("Content-Type", claimed_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Uploads `bytes` and returns the new image's id.
async fn upload_ok(server: &TestServer, b: &Browser, bytes: &[u8]) -> String {
    let res = upload(server, b, bytes.to_vec(), "application/octet-stream").await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["url"], format!("/media/products/{}", body["id"].as_str().unwrap()));
    body["id"].as_str().unwrap().to_string()
}

/// Asserts a 422 naming `field`.
async fn assert_invalid(res: reqwest::Response, field: &str) {
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "validation", "{body}");
    assert_eq!(body["detail"]["field"], field, "{body}");
    assert!(!body["detail"]["message"].as_str().unwrap().is_empty());
}

async fn image_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM product_images").fetch_one(pool).await.unwrap()
}

async fn signed_up(server: &TestServer, username: &str) -> Browser {
    let b = Browser::new(server);
    b.signup(username, username).await;
    b
}

#[sqlx::test]
async fn create_list_edit_delete_round_trip(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let sam = signed_up(&server, "sam").await;
    assert!(list(&sam).await.is_empty());

    let image = upload_ok(&server, &sam, PNG).await;
    let lamp = create_ok(&sam, &Fields { image: &image, ..LAMP }).await;
    assert_eq!(lamp.name, "Desk lamp");
    assert_eq!(lamp.description, "Warm LED");
    assert_eq!(lamp.list_price_cents, 1250);
    assert_eq!(lamp.stock, 5);
    assert_eq!(lamp.image_url.as_deref(), Some(format!("/media/products/{image}").as_str()));

    let mug =
        create_ok(&sam, &Fields { name: "  Mug  ", description: "", price: "$1,000", stock: "0", image: "" }).await;
    assert_eq!(mug.name, "Mug", "trimmed");
    assert_eq!(mug.list_price_cents, 100_000);
    assert_eq!(mug.image_url, None);

    // Newest first.
    assert_eq!(list(&sam).await, vec![mug.clone(), lamp.clone()]);

    // Edit: every field replaced; a new image replaces (and removes) the old one.
    let gif = upload_ok(&server, &sam, GIF).await;
    let res = update(
        &sam,
        lamp.id,
        &Fields { name: "Desk lamp XL", description: "Brighter", price: "15", stock: "3", image: &gif },
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    let edited: Product = res.json().await.unwrap();
    assert_eq!(edited.id, lamp.id);
    assert_eq!((edited.name.as_str(), edited.description.as_str()), ("Desk lamp XL", "Brighter"));
    assert_eq!((edited.list_price_cents, edited.stock), (1500, 3));
    assert_eq!(edited.image_url.as_deref(), Some(format!("/media/products/{gif}").as_str()));
    assert_eq!(list(&sam).await, vec![mug.clone(), edited.clone()]);
    let old = sam.http.get(server.url(&format!("/media/products/{image}"))).send().await.unwrap();
    assert_eq!(old.status(), 404, "the replaced image is gone");

    // Removing the image.
    let res =
        update(&sam, lamp.id, &Fields { name: "Desk lamp XL", description: "", price: "15", stock: "3", image: "" })
            .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Product>().await.unwrap().image_url, None);
    assert_eq!(image_count(&pool).await, 0);

    // Delete.
    assert_eq!(delete(&sam, lamp.id).await.status(), 200);
    assert_eq!(list(&sam).await, vec![mug.clone()]);
    assert_eq!(delete(&sam, lamp.id).await.status(), 404);
    assert_eq!(update(&sam, lamp.id, &LAMP).await.status(), 404);
}

#[sqlx::test]
async fn invalid_input_is_refused_per_field_and_changes_nothing(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let sam = signed_up(&server, "sam").await;
    let long_name = "n".repeat(121);
    let long_description = "d".repeat(2001);
    let cases: Vec<(Fields, &str)> = vec![
        (Fields { price: "0", ..LAMP }, "price"),
        (Fields { price: "0.00", ..LAMP }, "price"),
        (Fields { price: "-3", ..LAMP }, "price"),
        (Fields { price: "12.505", ..LAMP }, "price"),
        (Fields { price: "twelve", ..LAMP }, "price"),
        (Fields { price: "1000000.01", ..LAMP }, "price"),
        (Fields { stock: "-1", ..LAMP }, "stock"),
        (Fields { stock: "2.5", ..LAMP }, "stock"),
        (Fields { stock: "", ..LAMP }, "stock"),
        (Fields { name: &long_name, ..LAMP }, "name"),
        (Fields { name: "   ", ..LAMP }, "name"),
        (Fields { description: &long_description, ..LAMP }, "description"),
        (Fields { image: "not-an-id", ..LAMP }, "image"),
        (Fields { image: "0190f5d2-7f3a-7c4e-9b1a-123456789abc", ..LAMP }, "image"),
    ];
    for (fields, field) in &cases {
        assert_invalid(create(&sam, fields).await, field).await;
    }
    assert!(list(&sam).await.is_empty(), "nothing was created");

    // The limits themselves are fine.
    let n120 = "n".repeat(120);
    let max = create_ok(&sam, &Fields { name: &n120, price: "1,000,000.00", stock: "1000000", ..LAMP }).await;
    assert_eq!(max.list_price_cents, 100_000_000);

    let lamp = create_ok(&sam, &LAMP).await;
    for (fields, field) in &cases {
        assert_invalid(update(&sam, lamp.id, fields).await, field).await;
    }
    assert_eq!(list(&sam).await, vec![lamp, max], "nothing was changed");
}

#[sqlx::test]
async fn only_the_owner_may_edit_or_delete(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let sam = signed_up(&server, "sam").await;
    let eve = signed_up(&server, "eve").await;
    let sams_image = upload_ok(&server, &sam, PNG).await;
    let lamp = create_ok(&sam, &Fields { image: &sams_image, ..LAMP }).await;

    assert_eq!(update(&eve, lamp.id, &Fields { name: "Mine now", ..LAMP }).await.status(), 403);
    // Even with invalid input, permission is checked first.
    assert_eq!(update(&eve, lamp.id, &Fields { price: "0", ..LAMP }).await.status(), 403);
    assert_eq!(delete(&eve, lamp.id).await.status(), 403);
    let res = delete(&eve, lamp.id).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    assert!(list(&eve).await.is_empty(), "eve's list has only her products");
    assert_eq!(list(&sam).await, vec![lamp.clone()], "unchanged");

    // Eve cannot put Sam's uploaded image on her own product.
    assert_invalid(create(&eve, &Fields { image: &sams_image, ..LAMP }).await, "image").await;

    // Signed out: nothing.
    let anon = Browser::new(&server);
    assert_eq!(anon.call("my_products", &[]).await.status(), 401);
    assert_eq!(create(&anon, &LAMP).await.status(), 401);
    assert_eq!(update(&anon, lamp.id, &LAMP).await.status(), 401);
    assert_eq!(delete(&anon, lamp.id).await.status(), 401);
    assert_eq!(upload(&server, &anon, PNG.to_vec(), "image/png").await.status(), 401);
    assert_eq!(list(&sam).await, vec![lamp]);
}

#[sqlx::test]
async fn uploads_are_checked_by_their_bytes_and_size(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let sam = signed_up(&server, "sam").await;

    // Not an image, whatever the client claims.
    for (bytes, claimed) in [
        (b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(), "image/svg+xml"),
        (b"just some text".to_vec(), "image/png"),
        (b"%PDF-1.7 not an image".to_vec(), "image/jpeg"),
        (Vec::new(), "image/png"),
    ] {
        assert_invalid(upload(&server, &sam, bytes, claimed).await, "image").await;
    }
    // Over 2 MiB, by a little (read, then refused) and by a lot (refused by the body limit).
    for size in [2 * 1024 * 1024 + 1, 3 * 1024 * 1024] {
        let mut big = PNG.to_vec();
        big.resize(size, 0);
        let res = upload(&server, &sam, big, "image/png").await;
        assert_eq!(res.status(), 413, "{size}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["detail"]["field"], "image");
        assert!(body["detail"]["message"].as_str().unwrap().contains("2 MB"), "{body}");
    }
    assert_eq!(image_count(&pool).await, 0, "nothing was stored");

    // Exactly 2 MiB is fine.
    let mut max = PNG.to_vec();
    max.resize(2 * 1024 * 1024, 0);
    let res = upload(&server, &sam, max, "image/png").await;
    assert_eq!(res.status(), 201);
    assert_eq!(image_count(&pool).await, 1);
}

#[sqlx::test]
async fn images_are_served_with_their_recognized_type_and_cached_forever(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let sam = signed_up(&server, "sam").await;
    // The claimed type is ignored: the bytes say PNG.
    let res = upload(&server, &sam, PNG.to_vec(), "text/html").await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["content_type"], "image/png");
    let id = body["id"].as_str().unwrap().to_string();
    let gif = upload_ok(&server, &sam, GIF).await;

    // Anyone may load a product image, signed in or not.
    let anon = reqwest::Client::new();
    for (id, content_type, bytes) in [(&id, "image/png", PNG), (&gif, "image/gif", GIF)] {
        let res = anon.get(server.url(&format!("/media/products/{id}"))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], content_type);
        assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes);
    }
    for missing in ["0190f5d2-7f3a-7c4e-9b1a-123456789abc", "nope"] {
        let res = anon.get(server.url(&format!("/media/products/{missing}"))).send().await.unwrap();
        assert_eq!(res.status(), 404, "{missing}");
    }
}

#[sqlx::test]
async fn a_featured_product_cannot_be_deleted(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let sam = signed_up(&server, "sam").await;
    let lamp = create_ok(&sam, &LAMP).await;
    let res = sam.call("go_live", &[("title", "Lamps"), ("description", ""), ("category", "home")]).await;
    assert_eq!(res.status(), 200);
    let stream: String = res.json().await.unwrap();
    sqlx::query(
        "INSERT INTO featured_products (stream_id, product_id, special_price_cents) VALUES ($1::uuid, $2, 999)",
    )
    .bind(&stream)
    .bind(lamp.id.0)
    .execute(&pool)
    .await
    .unwrap();

    let res = delete(&sam, lamp.id).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"]["message"].as_str().unwrap().contains("stock to 0"), "{body}");
    assert_eq!(list(&sam).await, vec![lamp.clone()]);

    // It can still be edited, e.g. to stop selling it.
    let res = update(&sam, lamp.id, &Fields { stock: "0", ..LAMP }).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Product>().await.unwrap().stock, 0);
}
