//! Shared presentational components and the pages that belong to no feature: navigation, home, 404.

pub mod clock;
pub mod devices;
pub mod media_toggles;

use crate::auth::components::{use_auth, AccountMenu};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The top bar: brand, feature links (one per page that exists), account menu.
#[component]
pub fn NavBar() -> impl IntoView {
    let auth = use_auth();
    view! {
        <header class="topbar">
            <nav class="nav" aria-label="Main">
                <A href="/" attr:class="brand">
                    <span class="brand-dot" aria-hidden="true"></span>
                    "OnAir"
                </A>
                <div class="nav-links">
                    <A href="/live" exact=true>"Live"</A>
                    <Transition fallback=|| ()>
                        {move || {
                            auth.user.get().and_then(|u| u.ok().flatten()).map(|_| {
                                view! {
                                    <A href="/live/new">"Go Live"</A>
                                    <A href="/sell/products">"My products"</A>
                                    <A href="/orders">"My orders"</A>
                                    <A href="/tests">"Tests"</A>
                                    <A href="/rooms">"Rooms"</A>
                                    <A href="/match">"Match"</A>
                                }
                            })
                        }}
                    </Transition>
                </div>
                <AccountMenu/>
            </nav>
            <OutdatedNotice/>
        </header>
    }
}

/// A banner when the server refused this page's `/ws` protocol version (close code 4003, e.g. the app was
/// updated while the page was open): live features stop until the page is reloaded, so say so.
#[component]
fn OutdatedNotice() -> impl IntoView {
    let outdated = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    {
        use crate::signaling::client::{self, ClientEvent, LinkStatus};
        client::observe_scoped(move |event| {
            if matches!(event, ClientEvent::Status(LinkStatus::Outdated)) {
                outdated.try_set(true);
            }
        });
    }
    view! {
        <Show when=move || outdated.get()>
            <p class="banner" role="alert">
                "This page is out of date: the server was updated. Reload it to get live updates again. "
                <button type="button" on:click=|_| {
                    #[cfg(feature = "hydrate")]
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().reload();
                    }
                }>"Reload"</button>
            </p>
        </Show>
    }
}

/// `/`: what the platform is.
#[component]
pub fn HomePage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text=""/>
        <section class="hero">
            <h1>"Live video that sells, supervises and connects"</h1>
            <p class="lead">
                "OnAir is one browser app for three jobs: sellers go live and sell featured products while they talk, "
                "invigilators watch every student's camera during a test, and anyone can start a video call by link. "
                "Video flows straight between browsers over WebRTC."
            </p>
            <Transition fallback=|| ()>
                {move || {
                    auth.user.get().map(|user| match user.ok().flatten() {
                        Some(user) => view! {
                            <p class="hero-note">"Welcome back, " {user.display_name} "."</p>
                        }
                        .into_any(),
                        None => view! {
                            <div class="hero-actions">
                                <A href="/signup" attr:class="btn">"Create an account"</A>
                                <A href="/live" attr:class="btn btn-ghost">"See who is live"</A>
                            </div>
                        }
                        .into_any(),
                    })
                }}
            </Transition>
        </section>
        <section class="products" aria-label="Products">
            <article class="card product">
                <h2><A href="/live">"Live shopping"</A></h2>
                <p>"Click Go Live, show your products, and let viewers buy the ones you feature at a special price while they watch and chat."</p>
            </article>
            <article class="card product">
                <h2><A href="/tests">"Proctoring"</A></h2>
                <p>"Students stream their camera during a test; invigilators see the whole class in a grid and open any student live."</p>
            </article>
            <article class="card product">
                <h2><A href="/rooms">"Video rooms"</A></h2>
                <p>"Small calls by link, or a " <A href="/match">"random partner"</A> ", with mute, camera, screen share and chat."</p>
            </article>
        </section>
        <p class="muted home-check">
            "Calls not connecting, or no picture? " <A href="/connectivity">"Test your connection"</A>
            " (camera, microphone and network)."
        </p>
    }
}

/// Shown for any path no route matches; answers HTTP 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found"/>
        <section class="card narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
            <A href="/" attr:class="btn">"Go to the home page"</A>
        </section>
    }
}
