//! Product images over plain HTTP: `POST /api/product_images` stores an upload (raw image bytes as the
//! body, any or no `Content-Type`: the type is recognized from the magic bytes) and `GET /media/products/{id}`
//! serves it with its stored content type, cached forever (`immutable`, RFC 8246), since ids are never reused.

use crate::auth::backend::AuthSession;
use crate::commerce::catalog::{image_url, queries, ImageId, UploadedImage, MAX_IMAGE_BYTES, UPLOAD_PATH};
use crate::error::AppError;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

/// Request bodies up to this many bytes are read, so that a slightly oversized image gets a clear
/// message rather than a dropped connection.
const BODY_LIMIT: usize = MAX_IMAGE_BYTES + 64 * 1024;

/// Most images one user may have uploaded that no product uses yet.
const MAX_UNUSED_IMAGES: i64 = 20;

/// The routes: `POST /api/product_images`, `GET /media/products/{id}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(UPLOAD_PATH, post(upload).layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .route("/media/products/{id}", get(serve))
}

/// The content type of an image in one of the accepted formats, recognized by its first bytes
/// (PNG signature, JPEG SOI marker, `GIF87a`/`GIF89a`, RIFF container of type `WEBP`); `None` otherwise.
pub fn sniff_image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn too_large() -> Response {
    let err = AppError::invalid("image", "That image is larger than 2 MB. Choose a smaller one.");
    (StatusCode::PAYLOAD_TOO_LARGE, Json(err)).into_response()
}

/// `POST /api/product_images`: stores the body as an image of the signed-in user; answers 201 with an
/// [`UploadedImage`]. Errors (JSON `AppError`): 401 signed out; 413 over 2 MiB; 422 (field `image`) empty,
/// not a PNG/JPEG/WebP/GIF, or too many unused uploads.
async fn upload(State(state): State<AppState>, auth: AuthSession, body: Result<Bytes, BytesRejection>) -> Response {
    let Some(user) = auth.user else { return AppError::Unauthorized.into_response() };
    let bytes = match body {
        Ok(bytes) => bytes,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => return too_large(),
        Err(rejection) => return AppError::BadRequest(rejection.body_text()).into_response(),
    };
    if bytes.is_empty() {
        return AppError::invalid("image", "Choose an image file.").into_response();
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return too_large();
    }
    let Some(content_type) = sniff_image_type(&bytes) else {
        return AppError::invalid("image", "That file is not a PNG, JPEG, WebP or GIF image.").into_response();
    };

    let stored = async {
        queries::delete_stale_unused_images(&state.pool, user.id).await?;
        if queries::count_unused_images(&state.pool, user.id).await? >= MAX_UNUSED_IMAGES {
            return Err(AppError::invalid(
                "image",
                "You have uploaded many images that no product uses yet. Save a product, or try again in an hour.",
            ));
        }
        let id = ImageId::new();
        queries::insert_image(&state.pool, id, user.id, content_type, &bytes).await?;
        Ok(id)
    };
    match stored.await {
        Ok(id) => {
            tracing::info!(image = %id, owner = %user.id, content_type, size = bytes.len(), "product image uploaded");
            let body = UploadedImage { id, url: image_url(id), content_type: content_type.into() };
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /media/products/{id}`: the image's bytes with its stored content type; 404 if unknown.
async fn serve(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let not_found = || AppError::NotFound("No such image.".into()).into_response();
    let Ok(id) = id.parse::<ImageId>() else { return not_found() };
    match queries::image(&state.pool, id).await {
        Ok(Some(image)) => {
            let content_type = HeaderValue::from_str(&image.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
                    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox")),
                ],
                image.bytes,
            )
                .into_response()
        }
        Ok(None) => not_found(),
        Err(e) => AppError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::sniff_image_type;

    #[test]
    fn recognizes_the_four_formats_by_magic_bytes() {
        assert_eq!(sniff_image_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff_image_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F']), Some("image/jpeg"));
        assert_eq!(sniff_image_type(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(sniff_image_type(b"GIF87a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(sniff_image_type(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
    }

    #[test]
    fn refuses_everything_else() {
        for bytes in [
            &b""[..],
            b"\x89PNG",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"GIF88a",
            b"%PDF-1.7",
            b"hello world",
        ] {
            assert_eq!(sniff_image_type(bytes), None, "{bytes:?}");
        }
    }
}
