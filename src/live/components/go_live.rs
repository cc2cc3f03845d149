//! `/live/new`: title, description, category, a camera and microphone preview with device pickers, and
//! the Go Live button. The captured stream is handed to the seller's page after going live.

use crate::auth::components::use_auth;
use crate::live::{list_categories, GoLive, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS};
use crate::ui::devices::DevicePicker;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

#[cfg(feature = "hydrate")]
pub(crate) mod preview {
    //! The camera stream captured on `/live/new`, kept for the seller's page (same tab, no re-prompt).
    use std::cell::RefCell;
    use web_sys::MediaStream;

    thread_local! {
        static STREAM: RefCell<Option<MediaStream>> = const { RefCell::new(None) };
    }

    /// Keeps `stream` (stopping any previous one).
    pub fn keep(stream: MediaStream) {
        if let Some(old) = STREAM.with(|s| s.borrow_mut().replace(stream)) {
            crate::rtc::media::stop(&old);
        }
    }

    /// Takes the kept stream, if any.
    pub fn take() -> Option<MediaStream> {
        STREAM.with(|s| s.borrow_mut().take())
    }
}

/// `/live/new`.
#[component]
pub fn GoLivePage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text="Go Live"/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                auth.user.get().map(|u| match u.ok().flatten() {
                    Some(_) => view! { <GoLiveForm/> }.into_any(),
                    None => view! {
                        <section class="card narrow">
                            <h1>"Go Live"</h1>
                            <p>"Log in to start a live stream."</p>
                            <A href="/login?next=/live/new" attr:class="btn">"Log in"</A>
                        </section>
                    }
                    .into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn GoLiveForm() -> impl IntoView {
    let categories = Resource::new(|| (), |_| list_categories());
    let go_live = ServerAction::<GoLive>::new();
    let navigate = use_navigate();
    // Camera state for the preview: None while starting, Some(Ok) when the preview runs, Some(Err(msg)).
    let camera = RwSignal::new(None::<Result<(), String>>);
    let cameras = RwSignal::new(Vec::<(String, String)>::new());
    let microphones = RwSignal::new(Vec::<(String, String)>::new());
    let selected_camera = RwSignal::new(String::new());
    let selected_microphone = RwSignal::new(String::new());
    let retry = RwSignal::new(0u32);
    let video = NodeRef::<leptos::html::Video>::new();
    let pending = go_live.pending();

    Effect::new(move |_| {
        if let Some(Ok(id)) = go_live.value().get() {
            navigate(&format!("/live/{id}"), Default::default());
        }
    });

    #[cfg(feature = "hydrate")]
    {
        use crate::rtc::media;
        use leptos::task::spawn_local;
        // (Re)start the preview whenever a picker changes or Retry is clicked.
        Effect::new(move |_| {
            retry.track();
            let cam = selected_camera.get();
            let mic = selected_microphone.get();
            camera.set(None);
            spawn_local(async move {
                let cam = (!cam.is_empty()).then_some(cam);
                let mic = (!mic.is_empty()).then_some(mic);
                match media::capture(cam.as_deref(), mic.as_deref()).await {
                    Ok(stream) => {
                        if let Some(el) = video.try_get_untracked().flatten() {
                            media::attach(&el, &stream);
                        }
                        preview::keep(stream);
                        // The page may be gone by now (Go Live clicked): writes must not panic then.
                        camera.try_set(Some(Ok(())));
                        // Labels are only readable once permission is granted, so list devices now.
                        if let Ok((cams, mics)) = media::list_devices().await {
                            cameras.try_set(cams.into_iter().map(|d| (d.id, d.label)).collect());
                            microphones.try_set(mics.into_iter().map(|d| (d.id, d.label)).collect());
                        }
                    }
                    Err(e) => {
                        camera.try_set(Some(Err(e.to_string())));
                    }
                }
            });
        });
        // Leaving the page without going live turns the camera off.
        on_cleanup(move || {
            if !matches!(go_live.value().get_untracked(), Some(Ok(_))) {
                if let Some(stream) = preview::take() {
                    media::stop(&stream);
                }
            }
        });
    }

    view! {
        <div class="page-head"><h1>"Go Live"</h1></div>
        <div class="go-live">
            <section class="card preview-card">
                <div class="video-frame">
                    <video node_ref=video autoplay=true muted=true playsinline=true aria-label="Your camera preview"
                        data-testid="preview"></video>
                    {move || match camera.get() {
                        None => Some(view! { <p class="video-overlay">"Starting your camera…"</p> }.into_any()),
                        Some(Ok(())) => None,
                        Some(Err(msg)) => Some(view! {
                            <div class="video-overlay" role="alert">
                                <p>{msg}</p>
                                <button type="button" class="btn" on:click=move |_| retry.update(|n| *n += 1)>"Try again"</button>
                            </div>
                        }.into_any()),
                    }}
                </div>
                <div class="form pickers">
                    <DevicePicker label="Camera" name="camera" options=cameras selected=selected_camera/>
                    <DevicePicker label="Microphone" name="microphone" options=microphones selected=selected_microphone/>
                </div>
            </section>
            <section class="card">
                <ActionForm action=go_live attr:class="form">
                    <label>
                        "Title"
                        <input name="title" required maxlength=MAX_TITLE_CHARS.to_string()
                            placeholder="Vintage cameras, all tested"/>
                    </label>
                    <label>
                        "Description"
                        <textarea name="description" rows="4" maxlength=MAX_DESCRIPTION_CHARS.to_string()
                            placeholder="What will you show?"></textarea>
                    </label>
                    <label>
                        "Category"
                        <select name="category" required>
                            <Transition fallback=|| ()>
                                {move || categories.get().map(|c| {
                                    c.unwrap_or_default()
                                        .into_iter()
                                        .map(|c| view! { <option value=c.slug>{c.name}</option> })
                                        .collect_view()
                                })}
                            </Transition>
                        </select>
                    </label>
                    {move || go_live.value().get().and_then(Result::err).map(|e| {
                        view! { <p class="form-error" role="alert">{e.to_string()}</p> }
                    })}
                    <button type="submit" class="btn btn-live"
                        disabled=move || pending.get() || !matches!(camera.get(), Some(Ok(())))>
                        "Go Live"
                    </button>
                    <p class="hint">"Your camera and microphone start broadcasting when you click Go Live."</p>
                </ActionForm>
            </section>
        </div>
    }
}
