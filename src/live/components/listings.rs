//! `/live`: every live stream, filtered by category, updated without reload from `listings:live` events.

use crate::auth::components::use_auth;
use crate::live::{list_categories, live_streams, StreamSummary};
use crate::ui::clock::{format_elapsed, plural, use_now};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

/// `/live?category=<slug>`.
#[component]
pub fn LiveListingsPage() -> impl IntoView {
    let auth = use_auth();
    let query = use_query_map();
    let category = Memo::new(move |_| query.with(|q| q.get("category")).filter(|c| !c.is_empty()));
    let categories = Resource::new(|| (), |_| list_categories());
    let loaded = Resource::new(move || category.get(), live_streams);
    // The list on screen: seeded from `loaded`, then changed by pushed events.
    let streams = RwSignal::new(Vec::<StreamSummary>::new());
    let now = use_now(1000);

    #[cfg(feature = "hydrate")]
    {
        // Signed in: events pushed over /ws. Signed out (no socket allowed): refresh every 15 s.
        let owner = Owner::current().expect("component owner");
        Effect::new(move |subscribed: Option<bool>| {
            let signed_in = auth.user.get().and_then(|u| u.ok().flatten()).is_some();
            if signed_in && subscribed != Some(true) {
                owner.with(|| subscribe_listings(category, streams, loaded));
            }
            signed_in || subscribed == Some(true)
        });
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if auth.user.get_untracked().and_then(|u| u.ok().flatten()).is_none() {
                    loaded.refetch();
                }
            },
            std::time::Duration::from_secs(15),
        ) {
            on_cleanup(move || handle.clear());
        }
    }

    let filter_link = move |slug: Option<String>, name: String| {
        let href = slug.as_ref().map(|s| format!("/live?category={s}")).unwrap_or_else(|| "/live".into());
        let active = Memo::new(move |_| category.get() == slug);
        view! {
            <a href=href class="chip" class:chip-active=active aria-current=move || active.get().then_some("page")>
                {name}
            </a>
        }
    };

    view! {
        <Title text="Live now"/>
        <div class="page-head">
            <h1>"Live now"</h1>
            <Transition fallback=|| ()>
                {move || {
                    auth.user.get().and_then(|u| u.ok().flatten()).map(|_| {
                        view! { <A href="/live/new" attr:class="btn">"Go Live"</A> }
                    })
                }}
            </Transition>
        </div>
        <nav class="chips" aria-label="Categories">
            <Transition fallback=|| ()>
                {move || {
                    categories.get().map(|list| {
                        let list = list.unwrap_or_default();
                        view! {
                            {filter_link(None, "All".into())}
                            {list.into_iter().map(|c| filter_link(Some(c.slug), c.name)).collect_view()}
                        }
                    })
                }}
            </Transition>
        </nav>
        <Transition fallback=|| view! { <p class="muted">"Loading live streams…"</p> }>
            {move || Suspend::new(async move {
                match loaded.await {
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) => {
                        streams.set(list);
                        view! {
                            <Show
                                when=move || !streams.with(Vec::is_empty)
                                fallback=move || view! {
                                    <div class="card empty" data-testid="live-empty">
                                        <h2>"Nobody is live right now"</h2>
                                        <p class="muted">"Streams appear here the moment a seller goes live. This page updates by itself."</p>
                                    </div>
                                }
                            >
                                <ul class="stream-grid" data-testid="live-list">
                                    <For each=move || streams.get() key=|s| (s.id, s.viewers) let:s>
                                        <StreamCard stream=s now=now/>
                                    </For>
                                </ul>
                            </Show>
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn StreamCard(stream: StreamSummary, now: ReadSignal<i64>) -> impl IntoView {
    let started = stream.started_at_ms;
    let href = format!("/live/{}", stream.id);
    view! {
        <li class="card stream-card" data-stream-id=stream.id.to_string()>
            <a href=href class="stream-link">
                <span class="live-badge">"LIVE"</span>
                <h2 class="stream-title">{stream.title}</h2>
            </a>
            <p class="muted">{stream.seller_name} " · " {stream.category}</p>
            <p class="stream-meta">
                <span data-testid="viewer-count">{plural(stream.viewers, "viewer", "viewers")}</span>
                " · live for "
                <span>{move || format_elapsed(now.get() - started)}</span>
            </p>
        </li>
    }
}

/// Applies `listings:live` events to `streams` for the lifetime of the current owner.
#[cfg(feature = "hydrate")]
fn subscribe_listings(
    category: Memo<Option<String>>,
    streams: RwSignal<Vec<StreamSummary>>,
    loaded: Resource<Result<Vec<StreamSummary>, crate::error::AppError>>,
) {
    use crate::signaling::client::{self, ClientEvent};
    use crate::signaling::protocol::{RoomId, ServerMsg};
    let was_down = std::cell::Cell::new(false);
    client::subscribe_scoped(move |event| {
        let msg = match event {
            // Events sent while the socket was down are lost: reload the list after a reconnect.
            ClientEvent::Status(client::LinkStatus::Reconnecting) => return was_down.set(true),
            ClientEvent::Status(client::LinkStatus::Open) if was_down.replace(false) => return loaded.refetch(),
            ClientEvent::Status(_) => return,
            ClientEvent::Msg(msg) => msg,
        };
        match msg {
            ServerMsg::StreamStarted { stream } => {
                let wanted = category.get_untracked().is_none_or(|c| c == stream.category_slug);
                streams.update(|list| {
                    if wanted && !list.iter().any(|s| s.id == stream.id) {
                        list.insert(0, stream.clone());
                    }
                });
            }
            ServerMsg::StreamEnded { stream } => streams.update(|list| list.retain(|s| s.id != *stream)),
            ServerMsg::ViewerCount { stream, viewers } => streams.update(|list| {
                if let Some(s) = list.iter_mut().find(|s| s.id == *stream) {
                    s.viewers = *viewers;
                }
            }),
            _ => {}
        }
    });
    client::join_scoped(RoomId::Listings);
}
