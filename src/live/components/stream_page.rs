//! `/live/:id`: the seller's control room (own preview, viewer count, elapsed time, End stream) or the
//! shopper's player (seller's video, details, connection status), or a clear page for an unknown or ended
//! stream.

use crate::auth::components::use_auth;
use crate::chat::ChatPanel;
use crate::commerce::components::{FeaturedShelf, SellerShop, StreamOrders};
use crate::ids::StreamId;
use crate::live::{end_stream, get_stream, StreamDetail, StreamStatus};
use crate::ui::clock::{format_elapsed, plural, use_now};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

/// What a shopper's player shows about the connection to the seller.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchStatus {
    /// Waiting for the seller's offer or for ICE to connect.
    Connecting,
    /// Media is flowing.
    Connected,
    /// The stream is live but the seller's media is not there now (their page is closed or still connecting
    /// to the server); the video starts by itself when it comes.
    WaitingForSeller,
    /// The seller's or our connection dropped; trying again.
    Reconnecting,
    /// The seller ended the stream.
    Ended,
    /// The connection failed after an ICE restart; the user can retry.
    Failed,
}

impl WatchStatus {
    fn label(self) -> &'static str {
        match self {
            Self::Connecting => "Connecting…",
            Self::Connected => "Connected",
            Self::WaitingForSeller => "Waiting for the seller's video…",
            Self::Reconnecting => "Reconnecting…",
            Self::Ended => "Stream ended",
            Self::Failed => "Connection failed",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::WaitingForSeller => "waiting",
            Self::Reconnecting => "reconnecting",
            Self::Ended => "ended",
            Self::Failed => "failed",
        }
    }
}

/// `/live/:id`.
#[component]
pub fn StreamPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id")).and_then(|s| s.parse::<StreamId>().ok()));
    let detail = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_stream(id).await.map(Some),
                None => Ok(None),
            }
        },
    );

    let auth = use_auth();
    let signed_in = move || async move { matches!(auth.user.await, Ok(Some(_))) };
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading stream…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(Some(d)) if d.status == StreamStatus::Ended => view! { <EndedPage detail=d/> }.into_any(),
                    Ok(Some(d)) if d.is_seller => view! { <SellerView detail=d/> }.into_any(),
                    Ok(Some(d)) if !signed_in().await => view! { <LogInToWatch detail=d/> }.into_any(),
                    Ok(Some(d)) => view! { <WatchView detail=d/> }.into_any(),
                    Ok(None) | Err(crate::error::AppError::NotFound(_)) => view! { <MissingPage/> }.into_any(),
                    Err(e) => view! {
                        <section class="card narrow">
                            <h1>"Could not load this stream"</h1>
                            <p role="alert">{e.to_string()}</p>
                            <A href="/live" attr:class="btn">"Back to live streams"</A>
                        </section>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn MissingPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Stream not found"/>
        <section class="card narrow" data-testid="stream-missing">
            <h1>"Stream not found"</h1>
            <p>"There is no stream at this address. The link may be mistyped."</p>
            <A href="/live" attr:class="btn">"See who is live"</A>
        </section>
    }
}

#[component]
fn LogInToWatch(detail: StreamDetail) -> impl IntoView {
    let next = format!("/login?next=/live/{}", detail.id);
    view! {
        <Title text=detail.title.clone()/>
        <section class="card narrow">
            <span class="live-badge">"LIVE"</span>
            <h1>{detail.title}</h1>
            <p class="muted">{detail.seller_name} " · " {detail.category}</p>
            <p>"Log in to watch, chat and buy during the stream."</p>
            <A href=next attr:class="btn">"Log in to watch"</A>
        </section>
    }
}

#[component]
fn EndedPage(detail: StreamDetail) -> impl IntoView {
    let lasted = detail.ended_at_ms.map(|end| format_elapsed(end - detail.started_at_ms));
    view! {
        <Title text=detail.title.clone()/>
        <section class="card narrow" data-testid="stream-ended">
            <h1>"This stream has ended"</h1>
            <p><strong>{detail.title}</strong> " by " {detail.seller_name}</p>
            {lasted.map(|l| view! { <p class="muted">"It was live for " {l} ", with up to " {plural(detail.peak_viewers, "viewer", "viewers")} "."</p> })}
            <A href="/live" attr:class="btn">"See who is live now"</A>
        </section>
        {detail.is_seller.then(|| {
            let orders = RwSignal::new(Vec::new());
            let revenue = RwSignal::new(0i64);
            view! {
                <div class="narrow">
                    <p class="muted">"Revenue: " {move || crate::commerce::format_money(revenue.get())}</p>
                    <StreamOrders stream=detail.id orders=orders revenue=revenue/>
                </div>
            }
        })}
    }
}

#[component]
fn SellerView(detail: StreamDetail) -> impl IntoView {
    let stream = detail.id;
    let viewers = RwSignal::new(detail.viewers);
    let ended = RwSignal::new(false);
    let link_ok = RwSignal::new(true);
    let media_error = RwSignal::new(None::<String>);
    // Another tab or device of this seller sends the video now (delivery `sfu`); bumped to take it back.
    let elsewhere = RwSignal::new(false);
    let take_back = RwSignal::new(0u32);
    let now = use_now(1000);
    let started = detail.started_at_ms;
    let video = NodeRef::<leptos::html::Video>::new();
    let peak = Memo::new(move |prev: Option<&u32>| viewers.get().max(prev.copied().unwrap_or(detail.peak_viewers)));
    // Viewer connections the server's forwarding unit has open (delivery `sfu` only).
    let sfu_subscribers = RwSignal::new(None::<u32>);
    let end = Action::new(move |_: &()| end_stream(stream));
    let ending = end.pending();
    Effect::new(move |_| {
        if let Some(Ok(())) = end.value().get() {
            ended.set(true);
        }
    });

    #[cfg(feature = "hydrate")]
    browser::publish(stream, video, viewers, ended, link_ok, media_error, sfu_subscribers, elsewhere, take_back);

    view! {
        <Title text=detail.title.clone()/>
        <div class="stream-layout">
            <section class="card">
                <div class="video-frame">
                    <video node_ref=video autoplay=true muted=true playsinline=true aria-label="Your camera"
                        data-testid="seller-preview"></video>
                    {move || ended.get().then(|| view! {
                        <div class="video-overlay" data-testid="seller-ended">
                            <p>"Stream ended"</p>
                            <A href="/live" attr:class="btn">"Back to live streams"</A>
                        </div>
                    })}
                    {move || media_error.get().map(|msg| view! { <div class="video-overlay" role="alert"><p>{msg}</p></div> })}
                    {move || (elsewhere.get() && !ended.get()).then(|| view! {
                        <div class="video-overlay" role="status" data-testid="publishing-elsewhere">
                            <p class="overlay-title">"Sending from another tab"</p>
                            <p>"Your viewers now get your video from another tab or device. This tab is paused."</p>
                            <button type="button" class="btn" on:click=move |_| take_back.update(|n| *n += 1)>
                                "Send from this tab"
                            </button>
                        </div>
                    })}
                </div>
                <Show when=move || !ended.get()>
                    <crate::ui::media_toggles::MediaToggles video=video/>
                </Show>
            </section>
            <aside class="card stream-info">
                <p>
                    {move || if ended.get() {
                        view! { <span class="status status-ended">"Ended"</span> }.into_any()
                    } else if link_ok.get() {
                        view! { <span class="live-badge">"LIVE"</span> }.into_any()
                    } else {
                        view! { <span class="status status-reconnecting">"Reconnecting…"</span> }.into_any()
                    }}
                </p>
                <h1 class="stream-title">{detail.title}</h1>
                <p class="muted">{detail.category}</p>
                <dl class="stats">
                    <div><dt>"Viewers"</dt><dd data-testid="viewer-count">{move || viewers.get()}</dd></div>
                    <div><dt>"Live for"</dt><dd data-testid="elapsed">{move || format_elapsed(now.get() - started)}</dd></div>
                    {move || sfu_subscribers.get().map(|n| view! {
                        <div title="Viewers whose video comes through the server's forwarding unit">
                            <dt>"Receiving video"</dt><dd data-testid="sfu-subscribers">{n}</dd>
                        </div>
                    })}
                </dl>
                <Show when=move || !ended.get()>
                    <button type="button" class="btn btn-danger" disabled=move || ending.get()
                        on:click=move |_| { end.dispatch(()); }>
                        "End stream"
                    </button>
                </Show>
                {move || end.value().get().and_then(Result::err).map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
            </aside>
        </div>
        <div class="stream-columns">
            <div class="stack">
                <SellerShop stream=stream peak_viewers=Signal::from(peak) viewers=Signal::from(viewers)/>
            </div>
            <ChatPanel stream=stream seller=detail.seller_id is_seller=true/>
        </div>
    }
}

#[component]
fn WatchView(detail: StreamDetail) -> impl IntoView {
    let stream = detail.id;
    let status = RwSignal::new(WatchStatus::Connecting);
    let viewers = RwSignal::new(detail.viewers);
    let muted = RwSignal::new(false);
    let retry = RwSignal::new(0u32);
    let now = use_now(1000);
    let started = detail.started_at_ms;
    let video = NodeRef::<leptos::html::Video>::new();
    let delivery = RwSignal::new(None::<crate::signaling::protocol::Delivery>);
    // The picture's size as decoded, read once a second ("—" until the first frame).
    let resolution = move || {
        now.track();
        video
            .get()
            .map(|v| (v.video_width(), v.video_height()))
            .filter(|(w, h)| *w > 0 && *h > 0)
            .map_or_else(|| "—".to_string(), |(w, h)| format!("{w}×{h}"))
    };
    let delivery_label = move || match delivery.get() {
        Some(crate::signaling::protocol::Delivery::Sfu) => "Through the server (SFU)",
        Some(crate::signaling::protocol::Delivery::P2p) => "Direct from the seller",
        None => "—",
    };
    let delivery_key = move || match delivery.get() {
        Some(crate::signaling::protocol::Delivery::Sfu) => "sfu",
        Some(crate::signaling::protocol::Delivery::P2p) => "p2p",
        None => "",
    };

    #[cfg(feature = "hydrate")]
    browser::watch(stream, video, status, viewers, muted, retry, delivery);

    let unmute = move |_| {
        if let Some(v) = video.get() {
            v.set_muted(false);
            let _ = v.play();
        }
        muted.set(false);
    };

    view! {
        <Title text=detail.title.clone()/>
        <div class="stream-layout">
            <section class="card">
                <div class="video-frame" data-testid="player" data-status=move || status.get().key()>
                    <video node_ref=video autoplay=true playsinline=true aria-label="Live video"
                        data-testid="remote-video"></video>
                    {move || match status.get() {
                        WatchStatus::Connected => None,
                        WatchStatus::Ended => Some(view! {
                            <div class="video-overlay">
                                <p class="overlay-title">"Stream ended"</p>
                                <p>"Thanks for watching."</p>
                                <A href="/live" attr:class="btn">"See who else is live"</A>
                            </div>
                        }.into_any()),
                        WatchStatus::Failed => Some(view! {
                            <div class="video-overlay" role="alert">
                                <p class="overlay-title">"Connection failed"</p>
                                <p>"We could not reach the seller's video. Check your network and try again."</p>
                                <button type="button" class="btn" on:click=move |_| retry.update(|n| *n += 1)>"Retry"</button>
                            </div>
                        }.into_any()),
                        WatchStatus::WaitingForSeller => Some(view! {
                            <div class="video-overlay">
                                <p class="overlay-title">{WatchStatus::WaitingForSeller.label()}</p>
                                <p>"The seller's camera is not connected right now. The video starts by itself when it is."</p>
                            </div>
                        }.into_any()),
                        other => Some(view! { <p class="video-overlay">{other.label()}</p> }.into_any()),
                    }}
                    <Show when=move || muted.get() && status.get() == WatchStatus::Connected>
                        <button type="button" class="btn unmute" on:click=unmute aria-label="Unmute the stream">"Unmute"</button>
                    </Show>
                </div>
            </section>
            <aside class="card stream-info">
                <p>
                    <span class=move || format!("status status-{}", status.get().key()) data-testid="watch-status">
                        {move || status.get().label()}
                    </span>
                </p>
                <h1 class="stream-title">{detail.title}</h1>
                <p class="muted">{detail.seller_name} " · " {detail.category}</p>
                <dl class="stats">
                    <div><dt>"Viewers"</dt><dd data-testid="viewer-count">{move || viewers.get()}</dd></div>
                    <div><dt>"Live for"</dt><dd>{move || format_elapsed(now.get() - started)}</dd></div>
                    <div><dt>"Resolution"</dt><dd data-testid="resolution">{resolution}</dd></div>
                    <div><dt>"Video"</dt><dd data-testid="delivery" data-delivery=delivery_key>{delivery_label}</dd></div>
                </dl>
                <p class="description">{detail.description}</p>
            </aside>
        </div>
        <div class="stream-columns">
            <div class="stack">
                <FeaturedShelf stream=stream/>
            </div>
            <ChatPanel stream=stream seller=detail.seller_id is_seller=false/>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    //! The WebRTC side of the stream page: the seller publishes to one peer connection per viewer, a
    //! viewer receives from the seller. Offers always come from the seller (a fixed offerer); the viewer
    //! is the polite peer, so even a crossing offer cannot deadlock (perfect negotiation).

    use super::WatchStatus;
    use crate::ids::{PeerId, StreamId};
    use crate::rtc::media;
    use crate::rtc::peer::{Peer, PeerEvent, PeerState};
    use crate::signaling::client::{self, ClientEvent, LinkStatus};
    use crate::signaling::protocol::{ClientMsg, Delivery, ErrorCode, MemberRole, RoomId, ServerMsg, Signal};
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::rc::{Rc, Weak};

    /// How long a failed connection may try to recover (ICE restart) before the viewer sees Retry, in ms.
    const RECOVERY_MS: u32 = 8_000;

    fn signal_sender(room: RoomId, to: PeerId) -> Rc<dyn Fn(Signal)> {
        Rc::new(move |signal| {
            client::send(&ClientMsg::Signal { room: room.clone(), to, signal });
        })
    }

    /// How long after its connection to the forwarding unit failed the page makes a new one, in ms.
    const SFU_RECONNECT_MS: u64 = 1_500;

    /// Sends the signals of one connection to the forwarding unit (`sfu_signal`). The forwarding unit takes
    /// one offer per connection (no renegotiation, no ICE restart), so a later offer of the same peer (its
    /// automatic ICE restart) is not sent: the page replaces a failed connection with a new one instead.
    fn sfu_sender(room: RoomId) -> Rc<dyn Fn(Signal)> {
        let offered = Cell::new(false);
        Rc::new(move |signal| match signal {
            Signal::Offer { .. } if offered.replace(true) => {}
            Signal::Offer { .. } | Signal::Candidate { .. } | Signal::EndOfCandidates => {
                client::send(&ClientMsg::SfuSignal { room: room.clone(), signal });
            }
            _ => {}
        })
    }

    struct Publisher {
        local: Option<web_sys::MediaStream>,
        peers: HashMap<PeerId, Peer>,
        room: RoomId,
        /// The connection to the forwarding unit (delivery `sfu`), and how many have been made.
        sfu: Option<Peer>,
        sfu_generation: u32,
        delivery: Delivery,
    }

    impl Publisher {
        /// Publishes the camera to the forwarding unit over a new connection (closing the previous one). If
        /// it fails, a new one is made after [`SFU_RECONNECT_MS`].
        fn connect_sfu(this: &Rc<RefCell<Publisher>>) {
            let mut s = this.borrow_mut();
            if let Some(old) = s.sfu.take() {
                old.close();
            }
            let Some(local) = s.local.clone() else { return };
            s.sfu_generation += 1;
            let generation = s.sfu_generation;
            let weak: Weak<RefCell<Publisher>> = Rc::downgrade(this);
            let on_event: Rc<dyn Fn(PeerEvent)> = Rc::new(move |event| {
                if let PeerEvent::State(PeerState::Failed) = event {
                    let weak = send_wrapper::SendWrapper::new(weak.clone());
                    set_timeout(
                        move || {
                            let Some(this) = weak.upgrade() else { return };
                            let current = {
                                let s = this.borrow();
                                s.sfu_generation == generation && s.delivery == Delivery::Sfu && s.local.is_some()
                            };
                            if current {
                                Publisher::connect_sfu(&this);
                            }
                        },
                        std::time::Duration::from_millis(SFU_RECONNECT_MS),
                    );
                }
            });
            match Peer::new(&s.room, false, sfu_sender(s.room.clone()), on_event) {
                Ok(peer) => {
                    peer.add_stream_simulcast(&local);
                    s.sfu = Some(peer);
                }
                Err(e) => leptos::logging::error!("could not create a peer connection: {e:?}"),
            }
        }

        fn connect_viewer(&mut self, viewer: PeerId) {
            if let Some(old) = self.peers.remove(&viewer) {
                old.close();
            }
            let Some(local) = self.local.clone() else { return };
            let on_event: Rc<dyn Fn(PeerEvent)> = Rc::new(|_| {});
            match Peer::new(&self.room, false, signal_sender(self.room.clone(), viewer), on_event) {
                Ok(peer) => {
                    peer.add_stream(&local);
                    self.peers.insert(viewer, peer);
                }
                Err(e) => leptos::logging::error!("could not create a peer connection: {e:?}"),
            }
        }

        fn close_all(&mut self) {
            for (_, peer) in self.peers.drain() {
                peer.close();
            }
            if let Some(peer) = self.sfu.take() {
                peer.close();
            }
            // A reconnect timer of the closed connection must not fire into the next one.
            self.sfu_generation += 1;
        }
    }

    /// Seller: camera → one peer connection per viewer in `stream`'s room.
    pub fn publish(
        stream: StreamId,
        video: NodeRef<leptos::html::Video>,
        viewers: RwSignal<u32>,
        ended: RwSignal<bool>,
        link_ok: RwSignal<bool>,
        media_error: RwSignal<Option<String>>,
        sfu_subscribers: RwSignal<Option<u32>>,
        elsewhere: RwSignal<bool>,
        take_back: RwSignal<u32>,
    ) {
        let room = RoomId::Stream(stream);
        let state = Rc::new(RefCell::new(Publisher {
            local: None,
            peers: HashMap::new(),
            room: room.clone(),
            sfu: None,
            sfu_generation: 0,
            delivery: Delivery::P2p,
        }));

        let handler_state = state.clone();
        let handler_room = room.clone();
        let handler = move |event: &ClientEvent| {
            if let ClientEvent::Msg(ServerMsg::Joined { room, delivery: Some(Delivery::Sfu), .. }) = event {
                if *room == handler_room {
                    handler_state.borrow_mut().delivery = Delivery::Sfu;
                    sfu_subscribers.set(Some(0));
                    // A page paused for another one stays paused through a reconnect of its WebSocket.
                    if !elsewhere.get_untracked() {
                        Publisher::connect_sfu(&handler_state);
                    }
                    return;
                }
            }
            let mut s = handler_state.borrow_mut();
            match event {
                ClientEvent::Status(status) => {
                    link_ok.set(*status == LinkStatus::Open);
                    if *status == LinkStatus::Reconnecting {
                        // Viewers (or the forwarding unit) are offered again after the rejoin.
                        s.close_all();
                    }
                }
                ClientEvent::Msg(msg) => match msg {
                    ServerMsg::Joined { room, peers, .. } if *room == handler_room => {
                        s.delivery = Delivery::P2p;
                        for p in peers.iter().filter(|p| p.role == MemberRole::Viewer) {
                            s.connect_viewer(p.peer);
                        }
                    }
                    ServerMsg::PeerJoined { room, peer }
                        if *room == handler_room && peer.role == MemberRole::Viewer && s.delivery == Delivery::P2p =>
                    {
                        s.connect_viewer(peer.peer);
                    }
                    ServerMsg::SfuSignal { room, signal } if *room == handler_room => {
                        if let Some(peer) = &s.sfu {
                            peer.handle(signal.clone());
                        }
                    }
                    ServerMsg::SfuSubscribers { room, subscribers } if *room == handler_room => {
                        sfu_subscribers.set(Some(*subscribers));
                    }
                    ServerMsg::PeerLeft { room, peer } if *room == handler_room => {
                        if let Some(p) = s.peers.remove(peer) {
                            p.close();
                        }
                    }
                    ServerMsg::Signal { room, from, signal, .. } if *room == handler_room => {
                        if let Some(p) = s.peers.get(from) {
                            p.handle(signal.clone());
                        }
                    }
                    ServerMsg::ViewerCount { stream: id, viewers: n } if *id == stream => viewers.set(*n),
                    ServerMsg::StreamEnded { stream: id } if *id == stream => ended.set(true),
                    ServerMsg::Error { code: ErrorCode::NoSuchRoom, .. } => ended.set(true),
                    // Another page of ours publishes now: stop (no reconnect) until the seller takes it back.
                    ServerMsg::Error { code: ErrorCode::PublishingElsewhere, room: Some(r), .. }
                        if *r == handler_room =>
                    {
                        s.close_all();
                        elsewhere.set(true);
                    }
                    // The server refused our offer to the forwarding unit: no answer will come.
                    ServerMsg::Error {
                        code: ErrorCode::InvalidSignal | ErrorCode::Forbidden | ErrorCode::RateLimited,
                        room: None,
                        ..
                    } if s.sfu.is_some() => {
                        if let Some(peer) = s.sfu.take() {
                            peer.close();
                        }
                        media_error
                            .set(Some("The server could not take your video. Reload the page to try again.".into()));
                    }
                    _ => {}
                },
            }
        };

        client::subscribe_scoped(handler);
        let leave_room = send_wrapper::SendWrapper::new(room.clone());
        on_cleanup(move || client::leave(&leave_room));

        // Camera first (from /live/new when we came from there), then the room (whose `joined` brings the ICE
        // servers).
        let start_state = state.clone();
        spawn_local(async move {
            let local = match super::super::go_live::preview::take() {
                Some(stream) => Ok(stream),
                None => media::capture(None, None).await,
            };
            match local {
                Ok(local) => {
                    if let Some(el) = video.get_untracked() {
                        media::attach(&el, &local);
                    }
                    start_state.borrow_mut().local = Some(local);
                }
                Err(e) => {
                    media_error.set(Some(e.to_string()));
                    return;
                }
            }
            if !ended.get_untracked() {
                client::join(room);
            }
        });

        // "Send from this tab": publish again (the other page is then told to stop).
        let take_back_state = send_wrapper::SendWrapper::new(state.clone());
        Effect::new(move |prev: Option<u32>| {
            let n = take_back.get();
            if prev.is_some_and(|p| p != n) {
                elsewhere.set(false);
                Publisher::connect_sfu(&take_back_state);
            }
            n
        });

        // Ending (by the button or by the server) and leaving the page stop the camera.
        let end_state = send_wrapper::SendWrapper::new(state.clone());
        Effect::new(move |_| {
            if ended.get() {
                let mut s = end_state.borrow_mut();
                s.close_all();
                if let Some(local) = s.local.take() {
                    media::stop(&local);
                }
                client::leave(&s.room);
            }
        });
        let cleanup_state = send_wrapper::SendWrapper::new(state);
        on_cleanup(move || {
            let mut s = cleanup_state.borrow_mut();
            s.close_all();
            if let Some(local) = s.local.take() {
                media::stop(&local);
            }
        });
    }

    struct Viewer {
        /// The peer connection from the seller (delivery `p2p`).
        peer: Option<(PeerId, Peer)>,
        /// The connection to the forwarding unit (delivery `sfu`).
        sfu: Option<Peer>,
        room: RoomId,
        publisher: Option<PeerId>,
    }

    impl Viewer {
        fn close_peer(&mut self) {
            if let Some((_, peer)) = self.peer.take() {
                peer.close();
            }
            if let Some(peer) = self.sfu.take() {
                peer.close();
            }
        }
    }

    /// Shopper: receive-only peer connection to the seller of `stream`.
    pub fn watch(
        stream: StreamId,
        video: NodeRef<leptos::html::Video>,
        status: RwSignal<WatchStatus>,
        viewers: RwSignal<u32>,
        muted: RwSignal<bool>,
        retry: RwSignal<u32>,
        delivery: RwSignal<Option<Delivery>>,
    ) {
        let room = RoomId::Stream(stream);
        let state = Rc::new(RefCell::new(Viewer { peer: None, sfu: None, room: room.clone(), publisher: None }));
        let set_status = move |s: WatchStatus| {
            if status.get_untracked() != WatchStatus::Ended {
                status.set(s);
            }
        };

        let on_peer_event: Rc<dyn Fn(PeerEvent)> = Rc::new(move |event| match event {
            PeerEvent::RemoteStream(remote) => {
                if let Some(el) = video.get_untracked() {
                    media::attach(&el, &remote);
                    el.set_muted(false);
                    let el2 = el.clone();
                    spawn_local(async move {
                        // Autoplay with sound needs a user gesture in many browsers: fall back to muted
                        // playback with an Unmute button.
                        if let Ok(p) = el2.play() {
                            if wasm_bindgen_futures::JsFuture::from(p).await.is_err() {
                                el2.set_muted(true);
                                muted.set(true);
                                if let Ok(p) = el2.play() {
                                    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
                                }
                            }
                        }
                    });
                }
            }
            PeerEvent::State(PeerState::Connected) => set_status(WatchStatus::Connected),
            PeerEvent::State(PeerState::Disconnected) => set_status(WatchStatus::Reconnecting),
            PeerEvent::State(PeerState::Failed) => {
                set_status(WatchStatus::Reconnecting);
                // The peer restarts ICE once by itself; if that does not help in time, offer Retry.
                let _ = set_timeout_with_handle(
                    move || {
                        if status.get_untracked() == WatchStatus::Reconnecting {
                            status.set(WatchStatus::Failed);
                        }
                    },
                    std::time::Duration::from_millis(RECOVERY_MS as u64),
                );
            }
            PeerEvent::State(_) | PeerEvent::DataOpen | PeerEvent::Data(_) => {}
        });

        let handler_state = state.clone();
        let handler_room = room.clone();
        let handler = move |event: &ClientEvent| {
            let mut s = handler_state.borrow_mut();
            match event {
                ClientEvent::Status(LinkStatus::Reconnecting) => {
                    s.close_peer();
                    set_status(WatchStatus::Reconnecting);
                }
                ClientEvent::Status(_) => {}
                ClientEvent::Msg(msg) => match msg {
                    ServerMsg::Joined { room, peers, delivery: how, .. } if *room == handler_room => {
                        delivery.set(Some(how.unwrap_or(Delivery::P2p)));
                        s.publisher = peers.iter().find(|p| p.role == MemberRole::Publisher).map(|p| p.peer);
                        set_status(if s.publisher.is_some() {
                            WatchStatus::Connecting
                        } else {
                            WatchStatus::WaitingForSeller
                        });
                    }
                    ServerMsg::PeerJoined { room, peer }
                        if *room == handler_room && peer.role == MemberRole::Publisher =>
                    {
                        s.publisher = Some(peer.peer);
                        set_status(WatchStatus::Connecting);
                    }
                    ServerMsg::PeerLeft { room, peer } if *room == handler_room && s.publisher == Some(*peer) => {
                        s.publisher = None;
                        s.close_peer();
                        set_status(WatchStatus::WaitingForSeller);
                    }
                    ServerMsg::Signal { room, from, signal, .. } if *room == handler_room => {
                        let fresh = !matches!(&s.peer, Some((p, _)) if p == from);
                        if fresh {
                            s.close_peer();
                            match Peer::new(
                                &handler_room,
                                true,
                                signal_sender(handler_room.clone(), *from),
                                on_peer_event.clone(),
                            ) {
                                Ok(peer) => s.peer = Some((*from, peer)),
                                Err(e) => {
                                    leptos::logging::error!("could not create a peer connection: {e:?}");
                                    status.set(WatchStatus::Failed);
                                    return;
                                }
                            }
                        }
                        if let Some((_, peer)) = &s.peer {
                            peer.handle(signal.clone());
                        }
                    }
                    // Delivery `sfu`: subscribe once the seller's media is at the forwarding unit.
                    ServerMsg::SfuPublishing { room, publishing } if *room == handler_room => {
                        // A second `true` without a `false` between (the one after `joined` crossing the
                        // announcement to everyone) is the same publisher: keep the connection we have.
                        let alive = s
                            .sfu
                            .as_ref()
                            .is_some_and(|p| !matches!(p.connection_state(), PeerState::Failed | PeerState::Closed));
                        if *publishing && alive {
                            return;
                        }
                        s.close_peer();
                        if !*publishing {
                            set_status(WatchStatus::WaitingForSeller);
                            return;
                        }
                        match Peer::new(&handler_room, false, sfu_sender(handler_room.clone()), on_peer_event.clone()) {
                            Ok(peer) => {
                                peer.receive_only();
                                s.sfu = Some(peer);
                                set_status(WatchStatus::Connecting);
                            }
                            Err(e) => {
                                leptos::logging::error!("could not create a peer connection: {e:?}");
                                status.set(WatchStatus::Failed);
                            }
                        }
                    }
                    ServerMsg::SfuSignal { room, signal } if *room == handler_room => {
                        if let Some(peer) = &s.sfu {
                            peer.handle(signal.clone());
                        }
                    }
                    ServerMsg::Error { code: ErrorCode::NotPublishing, .. } => {
                        s.close_peer();
                        set_status(WatchStatus::WaitingForSeller);
                    }
                    // The server refused our offer to the forwarding unit: no answer will come; offer Retry.
                    ServerMsg::Error {
                        code: ErrorCode::InvalidSignal | ErrorCode::Forbidden | ErrorCode::RateLimited,
                        room: None,
                        ..
                    } if s.sfu.is_some() => {
                        s.close_peer();
                        status.set(WatchStatus::Failed);
                    }
                    ServerMsg::PublisherStatus { stream: id, connected } if *id == stream => {
                        set_status(if *connected { WatchStatus::Connecting } else { WatchStatus::WaitingForSeller });
                    }
                    ServerMsg::ViewerCount { stream: id, viewers: n } if *id == stream => viewers.set(*n),
                    ServerMsg::StreamEnded { stream: id } if *id == stream => {
                        s.close_peer();
                        status.set(WatchStatus::Ended);
                        client::leave(&handler_room);
                    }
                    ServerMsg::Error { code: ErrorCode::NoSuchRoom, .. } => {
                        s.close_peer();
                        status.set(WatchStatus::Ended);
                        client::leave(&handler_room);
                    }
                    _ => {}
                },
            }
        };

        client::subscribe_scoped(handler);
        let leave_room = send_wrapper::SendWrapper::new(room.clone());
        on_cleanup(move || client::leave(&leave_room));
        client::join(room.clone());

        // Retry: a fresh membership makes the seller offer a fresh peer connection.
        let retry_state = send_wrapper::SendWrapper::new(state.clone());
        Effect::new(move |prev: Option<u32>| {
            let n = retry.get();
            if prev.is_some_and(|p| p != n) {
                retry_state.borrow_mut().close_peer();
                status.set(WatchStatus::Connecting);
                let room = retry_state.borrow().room.clone();
                client::leave(&room);
                client::join(room);
            }
            n
        });
        let cleanup_state = send_wrapper::SendWrapper::new(state);
        on_cleanup(move || cleanup_state.borrow_mut().close_peer());
    }
}
