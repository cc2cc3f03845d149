//! Camera and microphone: listing devices, capturing, stopping, and showing a stream in a `<video>`
//! (W3C Media Capture and Streams: `enumerateDevices`, `getUserMedia`; WASM / `hydrate` only).
//!
//! `getUserMedia` needs a secure context (HTTPS, or `http://localhost` / `http://127.0.0.1`).

use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    HtmlVideoElement, MediaDeviceInfo, MediaDeviceKind, MediaDevices, MediaStream, MediaStreamConstraints,
    MediaStreamTrack, MediaTrackConstraints,
};

/// One capture device as the device picker shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// `MediaDeviceInfo.deviceId`: opaque, stable per origin; pass it to [`capture`].
    pub id: String,
    /// `MediaDeviceInfo.label`, e.g. "FaceTime HD Camera". Browsers hide real labels until the page has
    /// been granted access once; then this is "Camera 1", "Microphone 2", ...
    pub label: String,
}

/// Why the camera or microphone could not be used, mapped from the `DOMException` name that
/// `getUserMedia` / `enumerateDevices` reject with. `Display` is a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// `NotAllowedError` or `SecurityError`: the person or a browser policy refused access.
    #[error("Camera or microphone access was blocked. Allow it in the browser's address bar and try again.")]
    PermissionDenied,
    /// `NotFoundError` or `OverconstrainedError`: no such device, or the chosen one was unplugged.
    #[error("No camera or microphone was found. Connect one (or pick another in the device list) and try again.")]
    NoDevice,
    /// `NotReadableError` or `AbortError`: the device exists but could not be started.
    #[error(
        "The camera or microphone is busy or could not be started. Close other apps or tabs that use it and try again."
    )]
    InUse,
    /// Anything else; the text says what happened.
    #[error("{0}")]
    Other(String),
}

impl MediaError {
    /// Maps a rejection from `getUserMedia` / `enumerateDevices` by its `name` (legacy Chrome names
    /// included); any other value becomes [`MediaError::Other`] with its name and message.
    pub fn from_js(err: &JsValue) -> MediaError {
        let field = |key: &str| js_sys::Reflect::get(err, &JsValue::from_str(key)).ok().and_then(|v| v.as_string());
        let name = field("name").unwrap_or_default();
        match name.as_str() {
            "NotAllowedError" | "SecurityError" | "PermissionDeniedError" => MediaError::PermissionDenied,
            "NotFoundError" | "OverconstrainedError" | "DevicesNotFoundError" => MediaError::NoDevice,
            "NotReadableError" | "AbortError" | "TrackStartError" => MediaError::InUse,
            _ => {
                let detail = match (name.is_empty(), field("message")) {
                    (false, Some(message)) => format!("{name}: {message}"),
                    (false, None) => name,
                    (true, _) => err.as_string().unwrap_or_else(|| format!("{err:?}")),
                };
                MediaError::Other(format!("The camera or microphone could not be started ({detail})."))
            }
        }
    }
}

/// `navigator.mediaDevices`, absent outside a secure context.
fn media_devices() -> Result<MediaDevices, MediaError> {
    let insecure = || {
        MediaError::Other(
            "This page cannot use a camera: open it over HTTPS (or on localhost) and try again.".to_string(),
        )
    };
    let window = web_sys::window().ok_or_else(insecure)?;
    let devices = window.navigator().media_devices().map_err(|_| insecure())?;
    if JsValue::from(devices.clone()).is_undefined() {
        return Err(insecure());
    }
    Ok(devices)
}

/// Lists the capture devices: `(cameras, microphones)`, in the browser's order (the default first).
///
/// # Errors
/// [`MediaError`] when the page is not a secure context or `enumerateDevices` rejects.
pub async fn list_devices() -> Result<(Vec<Device>, Vec<Device>), MediaError> {
    let promise = media_devices()?.enumerate_devices().map_err(|e| MediaError::from_js(&e))?;
    let list = JsFuture::from(promise).await.map_err(|e| MediaError::from_js(&e))?;
    let mut cameras = Vec::new();
    let mut microphones = Vec::new();
    for info in js_sys::Array::from(&list).iter() {
        let info: MediaDeviceInfo = info.unchecked_into();
        let (bucket, noun) = match info.kind() {
            MediaDeviceKind::Videoinput => (&mut cameras, "Camera"),
            MediaDeviceKind::Audioinput => (&mut microphones, "Microphone"),
            _ => continue,
        };
        let label = match info.label() {
            label if label.is_empty() => format!("{noun} {}", bucket.len() + 1),
            label => label,
        };
        bucket.push(Device { id: info.device_id(), label });
    }
    Ok((cameras, microphones))
}

/// `true`, or `{deviceId: {exact: id}}` for a chosen device.
fn track_constraints(device: Option<&str>) -> JsValue {
    match device {
        None => JsValue::TRUE,
        Some(id) => {
            let exact = js_sys::Object::new();
            // Setting a property on a fresh plain object cannot fail.
            let _ = js_sys::Reflect::set(&exact, &JsValue::from_str("exact"), &JsValue::from_str(id));
            let constraints = MediaTrackConstraints::new();
            constraints.set_device_id(&exact);
            constraints.into()
        }
    }
}

/// Captures video and audio with `getUserMedia`: the given camera and microphone (`deviceId` constraint
/// `exact`, from [`list_devices`]), or the browser's default for `None`. Prompts for permission the first
/// time. Stop the stream with [`stop`] when done.
///
/// # Errors
/// [`MediaError::PermissionDenied`] if refused, [`MediaError::NoDevice`] if there is no camera or
/// microphone or a chosen one is gone, [`MediaError::InUse`] if one cannot be started, otherwise
/// [`MediaError::Other`].
pub async fn capture(camera: Option<&str>, microphone: Option<&str>) -> Result<MediaStream, MediaError> {
    let constraints = MediaStreamConstraints::new();
    constraints.set_video(&track_constraints(camera));
    constraints.set_audio(&track_constraints(microphone));
    let promise =
        media_devices()?.get_user_media_with_constraints(&constraints).map_err(|e| MediaError::from_js(&e))?;
    let stream = JsFuture::from(promise).await.map_err(|e| MediaError::from_js(&e))?;
    stream.dyn_into::<MediaStream>().map_err(|_| MediaError::Other("The browser returned no media stream.".to_string()))
}

/// Captures only a camera (`kind` = `"video"`) or only a microphone (`"audio"`), e.g. to switch devices
/// during a call; returns its one track. Errors as [`capture`].
pub async fn capture_track(kind: &str, device: Option<&str>) -> Result<MediaStreamTrack, MediaError> {
    let constraints = MediaStreamConstraints::new();
    if kind == "video" {
        constraints.set_video(&track_constraints(device));
    } else {
        constraints.set_audio(&track_constraints(device));
    }
    let promise =
        media_devices()?.get_user_media_with_constraints(&constraints).map_err(|e| MediaError::from_js(&e))?;
    let stream: MediaStream = JsFuture::from(promise)
        .await
        .map_err(|e| MediaError::from_js(&e))?
        .dyn_into()
        .map_err(|_| MediaError::Other("The browser returned no media stream.".to_string()))?;
    let track = if kind == "video" { stream.get_video_tracks().get(0) } else { stream.get_audio_tracks().get(0) };
    track.dyn_into::<MediaStreamTrack>().map_err(|_| MediaError::NoDevice)
}

/// Asks the person to pick a screen, window or tab to share (`getDisplayMedia`, W3C Screen Capture) and
/// returns its video track. Stopping the share from the browser's own bar ends the track (`ended`).
///
/// # Errors
/// [`MediaError::PermissionDenied`] when the person cancels the picker or a policy forbids it; others as
/// [`capture`].
pub async fn capture_screen() -> Result<MediaStreamTrack, MediaError> {
    let constraints = web_sys::DisplayMediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::FALSE);
    let promise =
        media_devices()?.get_display_media_with_constraints(&constraints).map_err(|e| MediaError::from_js(&e))?;
    let stream: MediaStream = JsFuture::from(promise)
        .await
        .map_err(|e| MediaError::from_js(&e))?
        .dyn_into()
        .map_err(|_| MediaError::Other("The browser returned no screen.".to_string()))?;
    stream.get_video_tracks().get(0).dyn_into::<MediaStreamTrack>().map_err(|_| MediaError::NoDevice)
}

/// Stops every track of `stream` (turns the camera light off). Idempotent.
pub fn stop(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        track.unchecked_into::<MediaStreamTrack>().stop();
    }
}

/// Shows `stream` in `video` (`video.srcObject = stream`). For a local preview also set `muted` on the
/// element (no echo; lets autoplay start); give it `autoplay` and `playsinline` in the view.
pub fn attach(video: &HtmlVideoElement, stream: &MediaStream) {
    video.set_src_object(Some(stream));
}
