//! Mute and camera-off buttons for a page that sends its own camera (the seller's control room), acting on the
//! stream shown in the page's local preview `<video>`: they flip `MediaStreamTrack.enabled`, so every peer
//! connection sending those tracks sends silence / black frames at once, with no renegotiation.

use leptos::prelude::*;

/// The buttons, for the local stream attached to `video` (its `srcObject`). Keyboard: M and V when focus is
/// not in a text field.
#[component]
pub fn MediaToggles(video: NodeRef<leptos::html::Video>) -> impl IntoView {
    let mic_on = RwSignal::new(true);
    let cam_on = RwSignal::new(true);
    let toggle = move |kind: &'static str| {
        let on = if kind == "audio" { mic_on } else { cam_on };
        let next = !on.get_untracked();
        #[cfg(feature = "hydrate")]
        if let Some(stream) = video.get_untracked().and_then(|v| v.src_object()) {
            use wasm_bindgen::JsCast;
            let tracks = if kind == "audio" { stream.get_audio_tracks() } else { stream.get_video_tracks() };
            for t in tracks.iter() {
                t.unchecked_into::<web_sys::MediaStreamTrack>().set_enabled(next);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = video;
        on.set(next);
    };
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener(leptos::ev::keydown, move |ev: web_sys::KeyboardEvent| {
            use wasm_bindgen::JsCast;
            let typing = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
            if typing || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
                return;
            }
            match ev.key().to_lowercase().as_str() {
                "m" => toggle("audio"),
                "v" => toggle("video"),
                _ => {}
            }
        });
        on_cleanup(move || handle.remove());
    }
    view! {
        <div class="controls" role="toolbar" aria-label="Camera and microphone">
            <button type="button" class="ctl" data-testid="toggle-mic" aria-pressed=move || (!mic_on.get()).to_string()
                aria-label=move || if mic_on.get() { "Mute microphone (M)" } else { "Unmute microphone (M)" }
                on:click=move |_| toggle("audio")>
                {move || if mic_on.get() { "Mute" } else { "Unmute" }}
            </button>
            <button type="button" class="ctl" data-testid="toggle-camera" aria-pressed=move || (!cam_on.get()).to_string()
                aria-label=move || if cam_on.get() { "Turn camera off (V)" } else { "Turn camera on (V)" }
                on:click=move |_| toggle("video")>
                {move || if cam_on.get() { "Camera off" } else { "Camera on" }}
            </button>
        </div>
        {move || (!cam_on.get() || !mic_on.get()).then(|| view! {
            <p class="muted" role="status">
                {move || match (mic_on.get(), cam_on.get()) {
                    (false, false) => "Viewers see a black picture and hear nothing.",
                    (false, true) => "Viewers cannot hear you.",
                    _ => "Viewers see a black picture.",
                }}
            </p>
        })}
    }
}
