//! The chat panel of a stream: the messages (author, time, text; the seller's marked "Seller"), kept
//! scrolled to the newest, an input with a character counter, and for the seller Delete and Mute per
//! message. History loads in the browser; new messages, deletions and mutes arrive over `/ws`.
//!
//! The page that embeds the panel is already in the stream's room; the panel only subscribes to the page's
//! `/ws` events and never joins or leaves the room itself.

use crate::chat::{
    check_chat_text, delete_chat, mute_in_chat, post_chat, ChatLog, ChatMessageView, CLOSED, MAX_CHAT_CHARS, MUTED,
    TOO_FAST,
};
use crate::error::AppError;
use crate::ids::{ChatMessageId, StreamId, UserId};
use leptos::prelude::*;

/// What a person reads for an error of a chat action.
fn error_text(e: &AppError) -> String {
    match e {
        AppError::RateLimited { .. } => TOO_FAST.to_string(),
        other => other.to_string(),
    }
}

/// `sent_at_ms` as an RFC 3339 timestamp (UTC), for `<time datetime>`.
fn iso_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// `sent_at_ms` as `HH:MM`: local time in the browser, UTC on the server.
fn clock_time(ms: i64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
            .unwrap_or_default()
    }
}

/// The chat of live stream `stream`, whose seller is `seller`. `is_seller` (the viewer is the seller)
/// adds Delete and Mute to every message.
///
/// Needs the page's `/ws` connection to be in the stream's room (the stream page joins it); shows the
/// last 50 messages, then everything new, without reloading.
#[component]
pub fn ChatPanel(stream: StreamId, seller: UserId, is_seller: bool) -> impl IntoView {
    let log = RwSignal::new(ChatLog::default());
    let loaded = RwSignal::new(false);
    let load_error = RwSignal::new(None::<String>);
    let me = RwSignal::new(None::<UserId>);
    let muted_users = RwSignal::new(Vec::<UserId>::new());
    let open = RwSignal::new(true);
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let list = NodeRef::<leptos::html::Div>::new();
    // Whether the list is scrolled to (near) the bottom, so new messages keep it there.
    let stick = RwSignal::new(true);

    let i_am_muted = Memo::new(move |_| me.get().is_some_and(|me| muted_users.with(|m| m.contains(&me))));

    let send = Action::new(move |text: &String| {
        let text = text.clone();
        async move {
            let result = post_chat(stream, text.clone()).await;
            (text, result)
        }
    });
    let sending = send.pending();
    Effect::new(move |_| match send.value().get() {
        Some((text, Ok(message))) => {
            error.set(None);
            log.update(|l| {
                l.push(message);
            });
            stick.set(true);
            if draft.with_untracked(|d| d.trim() == text) {
                draft.set(String::new());
            }
        }
        Some((_, Err(e))) => {
            match &e {
                AppError::Forbidden(msg) if msg == MUTED => {
                    if let Some(me) = me.get_untracked() {
                        muted_users.update(|m| {
                            if !m.contains(&me) {
                                m.push(me);
                            }
                        });
                    }
                }
                AppError::Conflict { message, .. } if message == CLOSED => open.set(false),
                _ => {}
            }
            error.set(Some(error_text(&e)));
        }
        None => {}
    });

    let delete = Action::new(move |id: &ChatMessageId| {
        let id = *id;
        async move { delete_chat(id).await.map(|()| id) }
    });
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(id)) => log.update(|l| l.delete(id)),
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });

    let mute = Action::new(move |user: &UserId| {
        let user = *user;
        async move { mute_in_chat(stream, user).await.map(|()| user) }
    });
    Effect::new(move |_| match mute.value().get() {
        Some(Ok(user)) => muted_users.update(|m| {
            if !m.contains(&user) {
                m.push(user);
            }
        }),
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });

    #[cfg(feature = "hydrate")]
    browser::connect(stream, log, loaded, load_error, me, muted_users, open);
    #[cfg(not(feature = "hydrate"))]
    let _ = (load_error, me, loaded);

    // Keep the newest message in view while the reader is at the bottom.
    Effect::new(move |_| {
        log.track();
        if stick.get_untracked() {
            #[cfg(feature = "hydrate")]
            request_animation_frame(move || {
                if let Some(el) = list.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
    });
    let on_scroll = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(el) = list.get_untracked() {
            stick.set(el.scroll_height() - el.scroll_top() - el.client_height() < 48);
        }
    };

    let count = Memo::new(move |_| draft.with(|d| d.trim().chars().count()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if sending.get_untracked() || i_am_muted.get_untracked() || !open.get_untracked() {
            return;
        }
        match check_chat_text(&draft.get_untracked()) {
            Ok(text) => {
                error.set(None);
                send.dispatch(text);
            }
            Err(msg) => error.set(Some(msg.to_string())),
        }
    };

    let message_view = move |m: ChatMessageView| {
        let author = m.author.clone();
        let user = m.user;
        let id = m.id;
        let actions = is_seller.then(|| {
            let mute_button = (user != seller).then(|| {
                let is_muted = move || muted_users.with(|u| u.contains(&user));
                view! {
                    <button type="button" class="chat-action" aria-label=format!("Mute {author}")
                        disabled=move || is_muted() || mute.pending().get()
                        on:click=move |_| { mute.dispatch(user); }>
                        {move || if is_muted() { "Muted" } else { "Mute" }}
                    </button>
                }
            });
            view! {
                <div class="chat-actions">
                    <button type="button" class="chat-action" aria-label=format!("Delete message from {}", m.author)
                        on:click=move |_| { delete.dispatch(id); }>
                        "Delete"
                    </button>
                    {mute_button}
                </div>
            }
        });
        view! {
            <li class=if m.from_seller { "chat-message chat-from-seller" } else { "chat-message" }
                data-testid="chat-message" data-id=id.to_string()>
                <div class="chat-meta">
                    <span class="chat-author">{m.author.clone()}</span>
                    {m.from_seller.then(|| view! { <span class="chat-badge">"Seller"</span> })}
                    <time class="chat-time" datetime=iso_time(m.sent_at_ms)>{clock_time(m.sent_at_ms)}</time>
                </div>
                <p class="chat-text">{m.text}</p>
                {actions}
            </li>
        }
    };

    view! {
        <section class="card chat" aria-labelledby="chat-title" data-testid="chat">
            <h2 class="chat-title" id="chat-title">"Chat"</h2>
            <div class="chat-scroll" node_ref=list on:scroll=on_scroll role="log" aria-label="Chat messages">
                <Show when=move || loaded.get()
                    fallback=move || view! {
                        <p class="muted chat-empty">
                            {move || load_error.get().unwrap_or_else(|| "Loading chat…".to_string())}
                        </p>
                    }>
                    <Show when=move || log.with(|l| !l.messages().is_empty())
                        fallback=|| view! { <p class="muted chat-empty">"No messages yet. Say hello!"</p> }>
                        <ol class="chat-list">
                            <For each=move || log.with(|l| l.messages().to_vec()) key=|m| m.id children=message_view/>
                        </ol>
                    </Show>
                </Show>
            </div>
            {move || error.get().map(|e| view! { <p class="form-error chat-error" role="alert">{e}</p> })}
            {move || if !open.get() {
                Some(view! { <p class="chat-note" data-testid="chat-closed">{CLOSED}</p> }.into_any())
            } else if i_am_muted.get() {
                Some(view! {
                    <p class="chat-note" data-testid="chat-muted">
                        "The seller muted you in this chat. You can still read it, but you can't send messages."
                    </p>
                }.into_any())
            } else {
                None
            }}
            <form class="chat-form" on:submit=on_submit>
                <input type="text" name="text" class="chat-input" aria-label="Chat message" autocomplete="off"
                    placeholder="Say something…"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    disabled=move || i_am_muted.get() || !open.get()/>
                <span class="chat-counter" class:chat-counter-over={move || count.get() > MAX_CHAT_CHARS}
                    data-testid="chat-counter" aria-label="Characters used">
                    {move || count.get()} "/" {MAX_CHAT_CHARS}
                </span>
                <button type="submit" class="btn chat-send"
                    disabled=move || sending.get() || i_am_muted.get() || !open.get()>
                    "Send"
                </button>
            </form>
        </section>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    //! Loading the history and following the stream's `/ws` events.

    use crate::chat::{chat_status, recent_chat, ChatLog};
    use crate::error::AppError;
    use crate::ids::{StreamId, UserId};
    use crate::signaling::client::{self, ClientEvent, LinkStatus};
    use crate::signaling::protocol::ServerMsg;
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Loads who I am, who is muted and the last messages, and merges them into the panel's state.
    fn load(
        stream: StreamId,
        log: RwSignal<ChatLog>,
        loaded: RwSignal<bool>,
        load_error: RwSignal<Option<String>>,
        me: RwSignal<Option<UserId>>,
        muted_users: RwSignal<Vec<UserId>>,
        open: RwSignal<bool>,
    ) {
        spawn_local(async move {
            let result: Result<_, AppError> =
                async { Ok((chat_status(stream).await?, recent_chat(stream).await?)) }.await;
            match result {
                Ok((status, recent)) => {
                    me.try_set(Some(status.me));
                    muted_users.try_update(|m| {
                        for u in status.muted_users {
                            if !m.contains(&u) {
                                m.push(u);
                            }
                        }
                    });
                    if !status.open {
                        open.try_set(false);
                    }
                    log.try_update(|l| l.load(recent));
                    load_error.try_set(None);
                    loaded.try_set(true);
                }
                Err(e) => {
                    if !loaded.get_untracked() {
                        load_error.try_set(Some(format!("Could not load the chat. {e}")));
                    }
                }
            }
        });
    }

    /// Loads the history and follows `chat_*` events for `stream` while the panel is mounted; reloads the
    /// history after the page's connection comes back (messages sent meanwhile were not pushed to us).
    pub fn connect(
        stream: StreamId,
        log: RwSignal<ChatLog>,
        loaded: RwSignal<bool>,
        load_error: RwSignal<Option<String>>,
        me: RwSignal<Option<UserId>>,
        muted_users: RwSignal<Vec<UserId>>,
        open: RwSignal<bool>,
    ) {
        let was_down = Rc::new(Cell::new(false));
        client::subscribe_scoped(move |event: &ClientEvent| match event {
            ClientEvent::Status(LinkStatus::Reconnecting) => was_down.set(true),
            ClientEvent::Status(LinkStatus::Open) => {
                if was_down.replace(false) {
                    load(stream, log, loaded, load_error, me, muted_users, open);
                }
            }
            ClientEvent::Status(LinkStatus::Connecting | LinkStatus::Outdated) => {}
            ClientEvent::Msg(msg) => match msg {
                ServerMsg::ChatMessage { stream: id, message } if *id == stream => {
                    log.update(|l| {
                        l.push(message.clone());
                    });
                }
                ServerMsg::ChatDeleted { stream: id, message } if *id == stream => log.update(|l| l.delete(*message)),
                ServerMsg::ChatMuted { stream: id, user } if *id == stream => muted_users.update(|m| {
                    if !m.contains(user) {
                        m.push(*user);
                    }
                }),
                ServerMsg::StreamEnded { stream: id } if *id == stream => open.set(false),
                _ => {}
            },
        });
        load(stream, log, loaded, load_error, me, muted_users, open);
    }
}
