//! Browser side of `/ws` (hydrate only): one WebSocket per page, shared by every component; reconnects
//! with exponential backoff and rejoins its rooms; delivers typed [`ServerMsg`]s to subscribers; keeps each
//! joined room's ICE servers ([`IceConfig`]) and refreshes their TURN credentials before they expire.

use crate::ids::PeerId;
use crate::rtc::IceServer;
use crate::signaling::protocol::{close_code, ClientMsg, IceConfig, RoomId, ServerMsg, PROTOCOL_VERSION};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// State of the page's signaling connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    /// First connection attempt in progress.
    Connecting,
    /// Connected; rooms are joined.
    Open,
    /// The connection dropped; retrying with backoff.
    Reconnecting,
    /// The server does not speak this page's protocol version (close code 4003): reload the page. No retry.
    Outdated,
}

/// What subscribers receive.
#[derive(Clone, Debug)]
pub enum ClientEvent {
    /// The connection's status changed (also sent once on subscribing).
    Status(LinkStatus),
    /// A message from the server.
    Msg(ServerMsg),
}

type Handler = Rc<dyn Fn(&ClientEvent)>;

struct Inner {
    ws: Option<WebSocket>,
    status: LinkStatus,
    rooms: Vec<RoomId>,
    handlers: Vec<(u64, Handler)>,
    next_handler: u64,
    attempts: u32,
    me: Option<PeerId>,
    /// The newest ICE servers of each room, from `joined` or `ice_servers`.
    ice: Vec<(RoomId, IceConfig)>,
    /// Resolvers of [`fresh_ice`] calls waiting for an `ice_servers` answer.
    ice_waiters: Vec<(RoomId, js_sys::Function)>,
    // Kept alive as long as the socket they are attached to; replaced on reconnect.
    callbacks:
        Option<(Closure<dyn FnMut(MessageEvent)>, Closure<dyn FnMut(CloseEvent)>, Closure<dyn FnMut(web_sys::Event)>)>,
}

thread_local! {
    static CLIENT: Rc<RefCell<Inner>> = Rc::new(RefCell::new(Inner {
        ws: None,
        status: LinkStatus::Connecting,
        rooms: Vec::new(),
        handlers: Vec::new(),
        next_handler: 1,
        attempts: 0,
        me: None,
        ice: Vec::new(),
        ice_waiters: Vec::new(),
        callbacks: None,
    }));
}

fn client() -> Rc<RefCell<Inner>> {
    CLIENT.with(Rc::clone)
}

/// `ws://<host>/ws` (`wss:` on an HTTPS page): the page's signaling endpoint, also used by the connection
/// test's one-shot socket.
pub(crate) fn ws_url() -> String {
    let location = web_sys::window().expect("window").location();
    let scheme = if location.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{}/ws?v={PROTOCOL_VERSION}", location.host().unwrap_or_default())
}

/// Remembers `ice` as `room`'s newest ICE servers, wakes [`fresh_ice`] waiters, and schedules a
/// `refresh_ice` when three quarters of the credentials' remaining lifetime have passed (at least 5 s from
/// now), so a connection made or restarted later never uses expired TURN credentials.
fn store_ice(room: &RoomId, ice: &IceConfig) {
    let waiters = {
        let c = client();
        let mut inner = c.borrow_mut();
        inner.ice.retain(|(r, _)| r != room);
        inner.ice.push((room.clone(), ice.clone()));
        let (mine, others) = inner.ice_waiters.drain(..).partition::<Vec<_>, _>(|(r, _)| r == room);
        inner.ice_waiters = others;
        mine
    };
    for (_, resolve) in waiters {
        let _ = resolve.call0(&JsValue::NULL);
    }
    let Some(expires_at_ms) = ice.expires_at_ms else { return };
    let now = js_sys::Date::now();
    let delay = ((expires_at_ms as f64 - now) * 0.75).max(5_000.0).min(i32::MAX as f64);
    let room = room.clone();
    let refresh = Closure::once_into_js(move || {
        // Only if this is still the newest config of a room the page is in (a newer one has its own timer).
        let due = {
            let c = client();
            let inner = c.borrow();
            inner.rooms.contains(&room)
                && inner.ice.iter().any(|(r, i)| *r == room && i.expires_at_ms == Some(expires_at_ms))
        };
        if due {
            send(&ClientMsg::RefreshIce { room });
        }
    });
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(refresh.unchecked_ref(), delay as i32);
    }
}

/// The ICE servers the server gave for `room` (empty before `joined`): pass them to new peer connections.
pub fn ice_servers(room: &RoomId) -> Vec<IceServer> {
    client().borrow().ice.iter().find(|(r, _)| r == room).map(|(_, i)| i.servers.clone()).unwrap_or_default()
}

/// Asks the server for fresh ICE servers for `room` (`refresh_ice`) and waits for the answer, at most 3 s;
/// returns the newest ones known then (the previous ones if the server did not answer in time). Used right
/// before an ICE restart, so the restart never gathers with expired TURN credentials.
pub async fn fresh_ice(room: &RoomId) -> Vec<IceServer> {
    if send(&ClientMsg::RefreshIce { room: room.clone() }) {
        let (answered, resolve) = crate::ui::clock::deferred();
        crate::ui::clock::resolve_after(&resolve, 3_000);
        client().borrow_mut().ice_waiters.push((room.clone(), resolve));
        let _ = wasm_bindgen_futures::JsFuture::from(answered).await;
    }
    ice_servers(room)
}

fn dispatch(event: ClientEvent) {
    let handlers: Vec<Handler> = client().borrow().handlers.iter().map(|(_, h)| h.clone()).collect();
    for handler in handlers {
        handler(&event);
    }
}

fn set_status(status: LinkStatus) {
    let changed = {
        let c = client();
        let mut inner = c.borrow_mut();
        let changed = inner.status != status;
        inner.status = status;
        changed
    };
    if changed {
        dispatch(ClientEvent::Status(status));
    }
}

fn raw_send(ws: &WebSocket, msg: &ClientMsg) -> bool {
    match serde_json::to_string(msg) {
        Ok(text) => ws.send_with_str(&text).is_ok(),
        Err(_) => false,
    }
}

fn connect() {
    let ws = match WebSocket::new(&ws_url()) {
        Ok(ws) => ws,
        Err(_) => {
            schedule_reconnect();
            return;
        }
    };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let Some(text) = e.data().as_string() else { return };
        match serde_json::from_str::<ServerMsg>(&text) {
            Ok(msg) => {
                match &msg {
                    ServerMsg::Welcome { peer, .. } => client().borrow_mut().me = Some(*peer),
                    ServerMsg::Joined { room, ice: Some(ice), .. } | ServerMsg::IceServers { room, ice } => {
                        store_ice(room, ice)
                    }
                    _ => {}
                }
                dispatch(ClientEvent::Msg(msg));
            }
            Err(e) => leptos::logging::warn!("ignoring a message this page does not understand: {e}"),
        }
    });
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        let (ws, rooms) = {
            let c = client();
            let mut inner = c.borrow_mut();
            inner.attempts = 0;
            (inner.ws.clone(), inner.rooms.clone())
        };
        if let Some(ws) = ws {
            for room in rooms {
                raw_send(&ws, &ClientMsg::Join { room });
            }
        }
        set_status(LinkStatus::Open);
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
        {
            let c = client();
            let mut inner = c.borrow_mut();
            inner.ws = None;
            inner.me = None;
        }
        if e.code() == close_code::UNSUPPORTED_VERSION {
            // Retrying cannot help: this page's code is older (or newer) than the server's.
            leptos::logging::warn!("the server refused this page's protocol version: {}", e.reason());
            set_status(LinkStatus::Outdated);
            return;
        }
        set_status(LinkStatus::Reconnecting);
        schedule_reconnect();
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let c = client();
    let mut inner = c.borrow_mut();
    inner.ws = Some(ws);
    // Dropping the previous socket's callbacks is safe: that socket is closed and has no handlers set.
    inner.callbacks = Some((on_message, on_close, on_open));
}

/// Backoff: 0.5 s doubling to 10 s, with ±25 % jitter so a restarted server is not hit all at once.
fn schedule_reconnect() {
    let attempts = {
        let c = client();
        let mut inner = c.borrow_mut();
        inner.attempts = inner.attempts.saturating_add(1);
        inner.attempts
    };
    let base = (500.0 * 2f64.powi(attempts.min(5) as i32 - 1)).min(10_000.0);
    let delay = base * (0.75 + 0.5 * js_sys::Math::random());
    let retry = Closure::once_into_js(connect);
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), delay as i32);
    }
}

fn ensure_started() {
    let needs_start = {
        let c = client();
        let inner = c.borrow();
        inner.ws.is_none() && inner.callbacks.is_none()
    };
    if needs_start {
        connect();
    }
}

/// Unsubscribes when dropped.
pub struct Subscription(u64);

impl Drop for Subscription {
    fn drop(&mut self) {
        let id = self.0;
        client().borrow_mut().handlers.retain(|(h, _)| *h != id);
    }
}

/// Calls `handler` for every event until the returned [`Subscription`] is dropped; opens the connection
/// if needed. The current status is delivered at once.
pub fn subscribe(handler: impl Fn(&ClientEvent) + 'static) -> Subscription {
    ensure_started();
    let handler: Handler = Rc::new(handler);
    let (id, status) = {
        let c = client();
        let mut inner = c.borrow_mut();
        let id = inner.next_handler;
        inner.next_handler += 1;
        inner.handlers.push((id, handler.clone()));
        (id, inner.status)
    };
    handler(&ClientEvent::Status(status));
    Subscription(id)
}

/// Like [`subscribe_scoped`], but does not open the connection: for page-wide observers (the navigation
/// bar's "reload the page" notice) that must not connect pages that need no `/ws`.
pub fn observe_scoped(handler: impl Fn(&ClientEvent) + 'static) {
    let handler: Handler = Rc::new(handler);
    let id = {
        let c = client();
        let mut inner = c.borrow_mut();
        let id = inner.next_handler;
        inner.next_handler += 1;
        inner.handlers.push((id, handler));
        id
    };
    let sub = send_wrapper::SendWrapper::new(Subscription(id));
    leptos::prelude::on_cleanup(move || drop(sub));
}

/// Joins `room` now if connected, and again after every reconnect until [`leave`].
pub fn join(room: RoomId) {
    ensure_started();
    let ws = {
        let c = client();
        let mut inner = c.borrow_mut();
        if !inner.rooms.contains(&room) {
            inner.rooms.push(room.clone());
        }
        inner.ws.clone().filter(|_| inner.status == LinkStatus::Open)
    };
    if let Some(ws) = ws {
        raw_send(&ws, &ClientMsg::Join { room });
    }
}

/// Leaves `room` and stops rejoining it.
pub fn leave(room: &RoomId) {
    let ws = {
        let c = client();
        let mut inner = c.borrow_mut();
        inner.rooms.retain(|r| r != room);
        inner.ice.retain(|(r, _)| r != room);
        inner.ws.clone().filter(|_| inner.status == LinkStatus::Open)
    };
    if let Some(ws) = ws {
        raw_send(&ws, &ClientMsg::Leave { room: room.clone() });
    }
}

/// Sends `msg` if connected; returns `false` (and drops it) otherwise. Signaling during an outage is
/// pointless: peers renegotiate after the rejoin.
pub fn send(msg: &ClientMsg) -> bool {
    let ws = {
        let c = client();
        let inner = c.borrow();
        inner.ws.clone().filter(|_| inner.status == LinkStatus::Open)
    };
    ws.is_some_and(|ws| raw_send(&ws, msg))
}

/// This page's peer id, once the server said `welcome`.
pub fn me() -> Option<PeerId> {
    client().borrow().me
}

/// Subscribes for the lifetime of the current Leptos owner (component): unsubscribes on cleanup.
pub fn subscribe_scoped(handler: impl Fn(&ClientEvent) + 'static) {
    let sub = send_wrapper::SendWrapper::new(subscribe(handler));
    leptos::prelude::on_cleanup(move || drop(sub));
}

/// Joins `room` for the lifetime of the current Leptos owner: leaves it on cleanup.
pub fn join_scoped(room: RoomId) {
    join(room.clone());
    let room = send_wrapper::SendWrapper::new(room);
    leptos::prelude::on_cleanup(move || leave(&room));
}
