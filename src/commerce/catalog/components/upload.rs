//! Browser side of image uploads: the file picked in an `<input type="file">`, sent as the raw body of
//! `POST /api/product_images` with the Fetch API (WHATWG Fetch; the `File` is the body as is).

use crate::commerce::catalog::{UploadedImage, MAX_IMAGE_BYTES, UPLOAD_PATH};
use crate::error::AppError;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// View of an `<input type="file">`.
    type FileInputExt;

    /// `HTMLInputElement.files`: a `FileList`, or null.
    #[wasm_bindgen(method, getter)]
    fn files(this: &FileInputExt) -> Option<FileListExt>;

    /// View of a `FileList`.
    type FileListExt;

    /// `FileList.item(index)`.
    #[wasm_bindgen(method)]
    fn item(this: &FileListExt, index: u32) -> Option<FileExt>;

    /// View of a `File` (a `Blob`).
    #[derive(Clone)]
    pub type FileExt;

    /// `Blob.size`, in bytes.
    #[wasm_bindgen(method, getter)]
    fn size(this: &FileExt) -> f64;

    /// The global `fetch(input, init)`.
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_with_init(input: &str, init: &JsValue) -> js_sys::Promise;

    /// View of a fetch `Response`.
    type ResponseExt;

    /// `Response.status`.
    #[wasm_bindgen(method, getter)]
    fn status(this: &ResponseExt) -> u16;

    /// `Response.text()`.
    #[wasm_bindgen(method)]
    fn text(this: &ResponseExt) -> js_sys::Promise;
}

/// The first file chosen in the `<input type="file">` that fired `ev`, if any.
pub fn chosen_file(ev: &web_sys::Event) -> Option<FileExt> {
    let target = ev.target()?;
    target.unchecked_ref::<FileInputExt>().files()?.item(0)
}

fn network(_: JsValue) -> AppError {
    AppError::Network("upload failed".into())
}

/// Uploads `file`; the server checks the type by its bytes. Errors: what the server answered
/// (`Validation` on field `image`, `Unauthorized`), `Network` if it could not be reached.
pub async fn upload(file: &FileExt) -> Result<UploadedImage, AppError> {
    if file.size() > MAX_IMAGE_BYTES as f64 {
        return Err(AppError::invalid("image", "That image is larger than 2 MB. Choose a smaller one."));
    }
    let init = js_sys::Object::new();
    let set = |key: &str, value: &JsValue| js_sys::Reflect::set(&init, &JsValue::from_str(key), value);
    set("method", &JsValue::from_str("POST")).map_err(network)?;
    set("body", file.as_ref()).map_err(network)?;
    set("credentials", &JsValue::from_str("same-origin")).map_err(network)?;
    let headers = js_sys::Object::new();
    js_sys::Reflect::set(&headers, &JsValue::from_str("Accept"), &JsValue::from_str("application/json"))
        .map_err(network)?;
    set("headers", &headers).map_err(network)?;

    let response: ResponseExt =
        JsFuture::from(fetch_with_init(UPLOAD_PATH, &init)).await.map_err(network)?.unchecked_into();
    let status = response.status();
    let text = JsFuture::from(response.text()).await.map_err(network)?.as_string().unwrap_or_default();
    if (200..300).contains(&status) {
        serde_json::from_str(&text).map_err(|e| AppError::Network(e.to_string()))
    } else {
        Err(serde_json::from_str::<AppError>(&text).unwrap_or(match status {
            413 => AppError::invalid("image", "That image is larger than 2 MB. Choose a smaller one."),
            401 => AppError::Unauthorized,
            _ => AppError::Internal,
        }))
    }
}
