//! Pages of the rooms feature: `/rooms` (create a room, your rooms), `/rooms/<slug>` (pre-join screen, then
//! the call: video tiles with name, mute and camera icons and a quality badge, controls, data-channel chat)
//! and `/match` (random 1:1 partner). The WebRTC side is [`engine`] (hydrate only); the views here only read
//! the signals of [`CallUi`] and call the engine's controls.

#[cfg(feature = "hydrate")]
mod engine;

use crate::auth::components::use_auth;
use crate::ids::PeerId;
use crate::rooms::{get_room, my_rooms, CreateRoom, RoomView, MAX_CHAT_CHARS, MAX_ROOM_NAME_CHARS};
use crate::rtc::quality::{Quality, Sample};
use crate::ui::clock::plural;
use crate::ui::devices::DevicePicker;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

/// The connection to one remote participant, from its `RTCPeerConnection.connectionState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Connected,
    /// `disconnected` or `failed`: ICE is trying to recover.
    Reconnecting,
}

/// One other person in the call, as their tile shows them.
#[derive(Clone, Debug, PartialEq)]
pub struct Participant {
    pub peer: PeerId,
    /// Display name from the server's presence (plain text).
    pub name: String,
    /// Their microphone is on (from their data-channel state).
    pub audio: bool,
    /// Their camera is on.
    pub video: bool,
    /// They share a screen.
    pub screen: bool,
    pub conn: ConnState,
    /// Latest badge; `None` until the first stats reading.
    pub quality: Option<Quality>,
    /// Latest stats numbers, for the panel.
    pub sample: Option<Sample>,
    /// Bumped whenever their media stream arrives or changes (re-attach the `<video>`).
    pub stream_version: u32,
    /// The data channel to them is open (chat and state reach them).
    pub data_open: bool,
    /// The browser refused to play their audio without a click: show "Unmute".
    pub needs_unmute: bool,
}

impl Participant {
    /// A participant who just appeared: connecting, mic and camera assumed on until their state arrives.
    pub fn new(peer: PeerId, name: String) -> Self {
        Self {
            peer,
            name,
            audio: true,
            video: true,
            screen: false,
            conn: ConnState::Connecting,
            quality: None,
            sample: None,
            stream_version: 0,
            data_open: false,
            needs_unmute: false,
        }
    }
}

/// A chat line of the call (never stored; it exists only in the browsers that were in the call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatLine {
    /// Sender's name as the server's presence gave it, or "You".
    pub from: String,
    /// Plain text; render as text.
    pub text: String,
    /// When it arrived (or was sent), in milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub mine: bool,
}

/// The reactive state of a call, shared by the views and the engine (all `Copy` signals).
#[derive(Clone, Copy)]
pub struct CallUi {
    pub participants: RwSignal<Vec<Participant>>,
    pub chat: RwSignal<Vec<ChatLine>>,
    pub mic_on: RwSignal<bool>,
    pub cam_on: RwSignal<bool>,
    pub sharing: RwSignal<bool>,
    /// A microphone / camera track exists (false when joined without devices).
    pub has_audio: RwSignal<bool>,
    pub has_video: RwSignal<bool>,
    /// Bumped when the local preview must be re-attached (device switch, screen share).
    pub local_version: RwSignal<u32>,
    /// A message for the person (device or screen-share problems).
    pub notice: RwSignal<Option<String>>,
    /// The signaling connection is up.
    pub link_ok: RwSignal<bool>,
}

impl CallUi {
    fn new() -> Self {
        Self {
            participants: RwSignal::new(Vec::new()),
            chat: RwSignal::new(Vec::new()),
            mic_on: RwSignal::new(true),
            cam_on: RwSignal::new(true),
            sharing: RwSignal::new(false),
            has_audio: RwSignal::new(false),
            has_video: RwSignal::new(false),
            local_version: RwSignal::new(0),
            notice: RwSignal::new(None),
            link_ok: RwSignal::new(true),
        }
    }
}

// The controls, callable from views in both builds (they do nothing on the server).
fn toggle_mic() {
    #[cfg(feature = "hydrate")]
    engine::toggle_mic();
}
fn toggle_camera() {
    #[cfg(feature = "hydrate")]
    engine::toggle_camera();
}
fn toggle_screen(sharing: bool) {
    #[cfg(feature = "hydrate")]
    if sharing {
        engine::stop_share();
    } else {
        engine::share_screen();
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = sharing;
}
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn switch_device(kind: &'static str, device: String) {
    #[cfg(feature = "hydrate")]
    engine::switch_device(kind, device);
    #[cfg(not(feature = "hydrate"))]
    let _ = (kind, device);
}
fn send_chat(text: &str) -> usize {
    #[cfg(feature = "hydrate")]
    return engine::send_chat(text);
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = text;
        0
    }
}

fn format_time(ms: i64) -> String {
    // Local wall-clock time of the browser, HH:MM.
    #[cfg(feature = "hydrate")]
    {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let secs = ms / 1000;
        format!("{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60)
    }
}

/// Sign-in gate: `view` for a signed-in user, else a log-in prompt that comes back to `next`.
fn signed_in_only<V: IntoView + 'static>(
    title: &'static str,
    next: impl Fn() -> String + Send + Sync + 'static,
    view: impl Fn() -> V + Send + Sync + 'static,
) -> impl IntoView {
    let auth = use_auth();
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                auth.user.get().map(|u| match u.ok().flatten() {
                    Some(_) => view().into_any(),
                    None => {
                        let href = format!("/login?next={}", next());
                        view! {
                            <section class="card narrow">
                                <h1>{title}</h1>
                                <p>"Log in to join video calls."</p>
                                <a href=href class="btn">"Log in"</a>
                            </section>
                        }
                        .into_any()
                    }
                })
            }}
        </Transition>
    }
}

/// `/rooms`: create a room and get its link; the rooms you created.
#[component]
pub fn RoomsPage() -> impl IntoView {
    view! {
        <Title text="Video rooms"/>
        {signed_in_only("Video rooms", || "/rooms".into(), || view! { <RoomsHome/> })}
    }
}

#[component]
fn RoomsHome() -> impl IntoView {
    let create = ServerAction::<CreateRoom>::new();
    let rooms = Resource::new(move || create.version().get(), |_| my_rooms());
    let navigate = use_navigate();
    let go = use_navigate();
    let code = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(room)) = create.value().get() {
            navigate(&format!("/rooms/{}", room.slug), Default::default());
        }
    });
    let open_link = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let raw = code.get_untracked();
        let slug = raw.trim().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_lowercase();
        if crate::rooms::valid_slug(&slug) {
            go(&format!("/rooms/{slug}"), Default::default());
        }
    };
    view! {
        <div class="page-head">
            <h1>"Video rooms"</h1>
            <A href="/match" attr:class="btn btn-ghost">"Meet someone at random"</A>
        </div>
        <div class="rooms-home">
            <section class="card">
                <h2>"New room"</h2>
                <ActionForm action=create attr:class="form">
                    <label>
                        "Room name"
                        <input name="name" required maxlength=MAX_ROOM_NAME_CHARS.to_string()
                            placeholder="Team sync" data-testid="room-name"/>
                    </label>
                    {move || create.value().get().and_then(Result::err).map(|e| {
                        view! { <p class="form-error" role="alert">{e.to_string()}</p> }
                    })}
                    <button type="submit" class="btn" disabled=move || create.pending().get()>"Create room"</button>
                    <p class="hint">"You get a link to share. Up to 6 people can be in a room at once."</p>
                </ActionForm>
            </section>
            <section class="card">
                <h2>"Join with a link"</h2>
                <form class="form" on:submit=open_link>
                    <label>
                        "Room link or code"
                        <input placeholder="abc-defg-hij" bind:value=code/>
                    </label>
                    <button type="submit" class="btn btn-ghost">"Open"</button>
                </form>
            </section>
        </div>
        <section class="card">
            <h2>"Your rooms"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || rooms.get().map(|r| match r {
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted">"You have not created a room yet."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <ul class="room-list">
                            {list.into_iter().map(|room| {
                                let href = format!("/rooms/{}", room.slug);
                                view! {
                                    <li>
                                        <a href=href>{room.name}</a>
                                        <span class="muted">" · " {room.slug.clone()} " · "
                                            {if room.participants == 0 {
                                                "empty".to_string()
                                            } else {
                                                format!("{} in the call", room.participants)
                                            }}
                                        </span>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// Where a person is on a room's page.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Pre-join screen: preview and device pickers.
    PreJoin,
    /// Join sent, waiting for the server.
    Joining,
    InCall,
    /// The room already had 6 people.
    Full,
    /// Left with the Leave button.
    Left,
}

/// `/rooms/<slug>`.
#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let room = Resource::new(slug, get_room);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || room.get().map(|r| match r {
                Err(e) => view! {
                    <Title text="Room not found"/>
                    <section class="card narrow">
                        <h1>"Room not found"</h1>
                        <p>{e.to_string()}</p>
                        <A href="/rooms" attr:class="btn">"Create a room"</A>
                    </section>
                }.into_any(),
                Ok(room) => {
                    let title = room.name.clone();
                    let next = format!("/rooms/{}", room.slug);
                    view! {
                        <Title text=title/>
                        {signed_in_only("Video room", move || next.clone(), move || view! { <Room room=room.clone()/> })}
                    }.into_any()
                }
            })}
        </Suspense>
    }
}

#[component]
fn Room(room: RoomView) -> impl IntoView {
    let phase = RwSignal::new(Phase::PreJoin);
    let ui = CallUi::new();
    let slug = room.slug.clone();
    let share_link = RwSignal::new(format!("/rooms/{}", room.slug));
    let copied = RwSignal::new(false);

    #[cfg(feature = "hydrate")]
    {
        if let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) {
            share_link.set(format!("{origin}/rooms/{}", room.slug));
        }
        use crate::signaling::client::{self, ClientEvent, LinkStatus};
        use crate::signaling::protocol::{ErrorCode, RoomId, ServerMsg};
        let token = engine::start(ui);
        let call_room = RoomId::Call(slug.clone());
        client::subscribe_scoped(move |event: &ClientEvent| {
            if let ClientEvent::Status(status) = event {
                ui.link_ok.set(*status == LinkStatus::Open);
            }
            match event {
                ClientEvent::Msg(ServerMsg::Joined { room, .. }) if *room == call_room => phase.set(Phase::InCall),
                ClientEvent::Msg(ServerMsg::Error { code: ErrorCode::RoomFull, room: Some(room), .. })
                    if *room == call_room =>
                {
                    engine::exit();
                    phase.set(Phase::Full);
                }
                _ => {}
            }
            engine::handle(event);
        });
        on_cleanup(move || engine::shutdown(token));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = &slug;

    let screen = Memo::new(move |_| match phase.get() {
        Phase::Joining => Phase::PreJoin,
        other => other,
    });
    let join = move || {
        phase.set(Phase::Joining);
        #[cfg(feature = "hydrate")]
        engine::enter(crate::signaling::protocol::RoomId::Call(slug.clone()));
    };
    let leave = move || {
        #[cfg(feature = "hydrate")]
        engine::exit();
        ui.chat.set(Vec::new());
        phase.set(Phase::Left);
    };
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&share_link.get_untracked());
        }
        copied.set(true);
    };

    view! {
        <div class="page-head room-head">
            <h1>{room.name.clone()}</h1>
            <div class="share">
                <input readonly aria-label="Room link" data-testid="room-link" prop:value=move || share_link.get()/>
                <button type="button" class="btn btn-ghost" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy link" }}
                </button>
            </div>
        </div>
        // One view per screen: going from PreJoin to Joining must not re-create the pre-join screen (and capture again).
        {move || match screen.get() {
            Phase::PreJoin | Phase::Joining => view! {
                <PreJoin ui=ui joining=Signal::derive(move || phase.get() == Phase::Joining) on_join=join.clone()/>
            }.into_any(),
            Phase::InCall => view! { <CallView ui=ui on_leave=leave/> }.into_any(),
            Phase::Full => view! {
                <section class="card narrow" role="alert" data-testid="room-full">
                    <h2>"This room is full"</h2>
                    <p>"A room holds 6 people at once. Try again when someone leaves, or create a room of your own."</p>
                    <div class="row">
                        <button type="button" class="btn" on:click=move |_| phase.set(Phase::PreJoin)>"Try again"</button>
                        <A href="/rooms" attr:class="btn btn-ghost">"Create a room"</A>
                    </div>
                </section>
            }.into_any(),
            Phase::Left => view! {
                <section class="card narrow" data-testid="left-room">
                    <h2>"You left the call"</h2>
                    <div class="row">
                        <button type="button" class="btn" on:click=move |_| phase.set(Phase::PreJoin)>"Rejoin"</button>
                        <A href="/rooms" attr:class="btn btn-ghost">"Back to rooms"</A>
                    </div>
                </section>
            }.into_any(),
        }}
    }
}

/// Pre-join screen: camera preview with device pickers; Join (or join without camera and microphone when
/// they cannot be used).
#[component]
fn PreJoin(ui: CallUi, joining: Signal<bool>, on_join: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let camera = RwSignal::new(None::<Result<(), String>>);
    let cameras = RwSignal::new(Vec::<(String, String)>::new());
    let microphones = RwSignal::new(Vec::<(String, String)>::new());
    let selected_camera = RwSignal::new(String::new());
    let selected_microphone = RwSignal::new(String::new());
    let retry = RwSignal::new(0u32);
    let video = NodeRef::<leptos::html::Video>::new();

    #[cfg(feature = "hydrate")]
    {
        use crate::rtc::media;
        use leptos::task::spawn_local;
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
                        // Gone meanwhile (joined, left the page): this capture is not wanted.
                        if camera.try_set(Some(Ok(()))).is_some() {
                            media::stop(&stream);
                            return;
                        }
                        if let Some(el) = video.try_get_untracked().flatten() {
                            media::attach(&el, &stream);
                        }
                        engine::set_local(Some(stream));
                        if let Ok((cams, mics)) = media::list_devices().await {
                            cameras.try_set(cams.into_iter().map(|d| (d.id, d.label)).collect());
                            microphones.try_set(mics.into_iter().map(|d| (d.id, d.label)).collect());
                        }
                    }
                    Err(e) => {
                        if camera.try_set(Some(Err(e.to_string()))).is_none() {
                            engine::set_local(None);
                        }
                    }
                }
            });
        });
    }

    let join_now = on_join.clone();
    view! {
        <div class="go-live prejoin">
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
                <h2>"Ready to join?"</h2>
                <p class="muted">"Your camera and microphone are sent to the others once you join. "
                    "You can mute or turn the camera off at any time."</p>
                <div class="row">
                    <button type="button" class="btn" data-testid="join"
                        disabled=move || joining.get() || !matches!(camera.get(), Some(Ok(())))
                        on:click=move |_| { ui.mic_on.set(true); ui.cam_on.set(true); join_now() }>
                        {move || if joining.get() { "Joining…" } else { "Join now" }}
                    </button>
                    {move || matches!(camera.get(), Some(Err(_))).then(|| {
                        let join = on_join.clone();
                        view! {
                            <button type="button" class="btn btn-ghost" disabled=move || joining.get()
                                on:click=move |_| join()>
                                "Join without camera and microphone"
                            </button>
                        }
                    })}
                </div>
            </section>
        </div>
    }
}

/// The call: tiles, controls, chat.
#[component]
fn CallView(ui: CallUi, on_leave: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let count = move || ui.participants.with(Vec::len) as u32 + 1;
    view! {
        <div class="call">
            <div class="call-main">
                {move || (!ui.link_ok.get()).then(|| view! {
                    <p class="banner" role="status">"Connection to the server lost. Reconnecting…"</p>
                })}
                <p class="muted call-count" data-testid="participant-count">
                    {move || plural(count(), "person", "people")} " in the call"
                </p>
                <div class="tiles" data-count=move || count().to_string()>
                    <LocalTile ui=ui/>
                    <For each=move || ui.participants.get() key=|p| p.peer let:p>
                        <RemoteTile ui=ui peer=p.peer/>
                    </For>
                </div>
                {move || (count() == 1).then(|| view! {
                    <p class="muted empty-call">"Nobody else is here yet. Share the link to invite people."</p>
                })}
                <Controls ui=ui on_leave=on_leave/>
            </div>
            <CallChat ui=ui/>
        </div>
    }
}

#[component]
fn LocalTile(ui: CallUi) -> impl IntoView {
    let video = NodeRef::<leptos::html::Video>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        ui.local_version.track();
        if let Some(el) = video.get() {
            engine::attach_local(&el);
        }
    });
    let camera_off = move || !ui.cam_on.get() && !ui.sharing.get();
    view! {
        <figure class="tile local" data-testid="local-tile">
            <video node_ref=video autoplay=true muted=true playsinline=true aria-label="Your video"
                class:mirrored=move || !ui.sharing.get()></video>
            {move || camera_off().then(|| view! { <div class="tile-avatar" aria-hidden="true">"You"</div> })}
            <figcaption>
                <span class="tile-name">"You"</span>
                {move || ui.sharing.get().then(|| view! { <span class="pill">"Sharing screen"</span> })}
                {move || (!ui.mic_on.get()).then(|| view! {
                    <span class="icon" role="img" aria-label="Your microphone is off">"🔇"</span>
                })}
            </figcaption>
        </figure>
    }
}

#[component]
fn RemoteTile(ui: CallUi, peer: PeerId) -> impl IntoView {
    let me = Memo::new(move |_| ui.participants.with(|l| l.iter().find(|p| p.peer == peer).cloned()));
    let video = NodeRef::<leptos::html::Video>::new();
    let show_stats = RwSignal::new(false);
    // Only a new or changed media stream re-attaches the video (stats updates change `me` every 2 s).
    #[cfg(feature = "hydrate")]
    {
        let version = Memo::new(move |_| me.with(|p| p.as_ref().map(|p| p.stream_version)));
        Effect::new(move |_| {
            if let (Some(_), Some(el)) = (version.get(), video.get()) {
                engine::attach_remote(peer, &el);
            }
        });
    }
    let name = move || me.with(|p| p.as_ref().map(|p| p.name.clone()).unwrap_or_default());
    let field = move |f: fn(&Participant) -> bool| move || me.with(|p| p.as_ref().is_some_and(f));
    let muted = field(|p| !p.audio);
    let camera_off = field(|p| !p.video && !p.screen);
    let sharing = field(|p| p.screen);
    let reconnecting = field(|p| p.conn == ConnState::Reconnecting);
    let needs_unmute = field(|p| p.needs_unmute);
    let quality = move || me.with(|p| p.as_ref().and_then(|p| p.quality));
    let initial = move || name().chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default();
    let unmute = move |_| {
        if let Some(el) = video.get_untracked() {
            el.set_muted(false);
            let _ = el.play();
        }
        ui.participants.update(|l| {
            if let Some(p) = l.iter_mut().find(|p| p.peer == peer) {
                p.needs_unmute = false;
            }
        });
    };
    view! {
        <figure class="tile" data-testid="remote-tile" data-peer=peer.0.to_string() data-name=name>
            <video node_ref=video autoplay=true playsinline=true data-testid="remote-video"
                aria-label=move || format!("Video of {}", name())></video>
            {move || camera_off().then(|| view! { <div class="tile-avatar" aria-hidden="true">{initial}</div> })}
            {move || reconnecting().then(|| view! { <p class="video-overlay">"Reconnecting…"</p> })}
            {move || needs_unmute().then(|| view! {
                <button type="button" class="btn tile-unmute" on:click=unmute>"Click to hear"</button>
            })}
            <figcaption>
                <span class="tile-name">{name}</span>
                {move || sharing().then(|| view! { <span class="pill">"Sharing screen"</span> })}
                {move || muted().then(|| view! {
                    <span class="icon" role="img" data-testid="muted-icon" aria-label=move || format!("{} is muted", name())>"🔇"</span>
                })}
                {move || camera_off().then(|| view! {
                    <span class="icon" role="img" data-testid="camera-off-icon"
                        aria-label=move || format!("{}'s camera is off", name())>"📷̸"</span>
                })}
                {move || quality().map(|q| view! {
                    <span class=format!("quality quality-{}", q.key()) data-testid="quality" data-quality=q.key()
                        title="Connection quality">{q.label()}</span>
                })}
                <button type="button" class="icon-btn" aria-pressed=move || show_stats.get().to_string()
                    aria-label=move || format!("Connection details for {}", name())
                    on:click=move |_| show_stats.update(|s| *s = !*s)>"ⓘ"</button>
            </figcaption>
            {move || show_stats.get().then(|| view! { <StatsPanel sample=Signal::derive(move || me.with(|p| p.as_ref().and_then(|p| p.sample)))/> })}
        </figure>
    }
}

#[component]
fn StatsPanel(sample: Signal<Option<Sample>>) -> impl IntoView {
    let num =
        |v: Option<f64>, unit: &str, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$} {unit}"));
    view! {
        <dl class="stats-panel" data-testid="stats-panel">
            {move || {
                let s = sample.get().unwrap_or_default();
                let size = match (s.width, s.height) {
                    (Some(w), Some(h)) => format!("{w}×{h}"),
                    _ => "–".to_string(),
                };
                view! {
                    <div><dt>"Round trip"</dt><dd>{num(s.rtt_ms, "ms", 0)}</dd></div>
                    <div><dt>"Packet loss"</dt><dd>{num(s.loss_percent, "%", 1)}</dd></div>
                    <div><dt>"Jitter"</dt><dd>{num(s.jitter_ms, "ms", 0)}</dd></div>
                    <div><dt>"Frame rate"</dt><dd>{num(s.fps, "fps", 0)}</dd></div>
                    <div><dt>"Resolution"</dt><dd>{size}</dd></div>
                    <div><dt>"Bitrate"</dt><dd>{num(s.kbps, "kbit/s", 0)}</dd></div>
                }
            }}
        </dl>
    }
}

/// Mute, camera, screen share, devices, leave; keyboard shortcuts M / V (and Ctrl+D / Ctrl+E).
#[component]
fn Controls(ui: CallUi, on_leave: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let cameras = RwSignal::new(Vec::<(String, String)>::new());
    let microphones = RwSignal::new(Vec::<(String, String)>::new());
    let selected_camera = RwSignal::new(String::new());
    let selected_microphone = RwSignal::new(String::new());

    #[cfg(feature = "hydrate")]
    {
        use leptos::task::spawn_local;
        spawn_local(async move {
            if let Ok((cams, mics)) = crate::rtc::media::list_devices().await {
                cameras.try_set(cams.into_iter().map(|d| (d.id, d.label)).collect());
                microphones.try_set(mics.into_iter().map(|d| (d.id, d.label)).collect());
            }
        });
        // Switch devices when a picker changes (not on the initial value).
        Effect::new(move |prev: Option<String>| {
            let id = selected_camera.get();
            if prev.is_some_and(|p| p != id) {
                switch_device("video", id.clone());
            }
            id
        });
        Effect::new(move |prev: Option<String>| {
            let id = selected_microphone.get();
            if prev.is_some_and(|p| p != id) {
                switch_device("audio", id.clone());
            }
            id
        });
        let handle = window_event_listener(leptos::ev::keydown, move |ev: web_sys::KeyboardEvent| {
            use wasm_bindgen::JsCast;
            let typing = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
            let key = ev.key().to_lowercase();
            let ctrl = ev.ctrl_key() || ev.meta_key();
            match (ctrl, key.as_str()) {
                (true, "d") => {
                    ev.prevent_default();
                    toggle_mic();
                }
                (true, "e") => {
                    ev.prevent_default();
                    toggle_camera();
                }
                (false, "m") if !typing && !ev.alt_key() => toggle_mic(),
                (false, "v") if !typing && !ev.alt_key() => toggle_camera(),
                _ => {}
            }
        });
        on_cleanup(move || handle.remove());
    }

    let leave = on_leave.clone();
    view! {
        <div class="controls" role="toolbar" aria-label="Call controls">
            <button type="button" class="ctl" data-testid="toggle-mic" disabled=move || !ui.has_audio.get()
                aria-pressed=move || (!ui.mic_on.get()).to_string()
                aria-label=move || if ui.mic_on.get() { "Mute microphone (M)" } else { "Unmute microphone (M)" }
                title="Microphone (M or Ctrl+D)" on:click=move |_| toggle_mic()>
                {move || if ui.mic_on.get() { "Mute" } else { "Unmute" }}
            </button>
            <button type="button" class="ctl" data-testid="toggle-camera" disabled=move || !ui.has_video.get()
                aria-pressed=move || (!ui.cam_on.get()).to_string()
                aria-label=move || if ui.cam_on.get() { "Turn camera off (V)" } else { "Turn camera on (V)" }
                title="Camera (V or Ctrl+E)" on:click=move |_| toggle_camera()>
                {move || if ui.cam_on.get() { "Camera off" } else { "Camera on" }}
            </button>
            <button type="button" class="ctl" data-testid="toggle-screen" aria-pressed=move || ui.sharing.get().to_string()
                aria-label=move || if ui.sharing.get() { "Stop sharing your screen" } else { "Share your screen" }
                on:click=move |_| toggle_screen(ui.sharing.get_untracked())>
                {move || if ui.sharing.get() { "Stop sharing" } else { "Share screen" }}
            </button>
            <details class="devices">
                <summary class="ctl" aria-label="Choose camera and microphone">"Devices"</summary>
                <div class="form pickers">
                    <DevicePicker label="Camera" name="camera" options=cameras selected=selected_camera/>
                    <DevicePicker label="Microphone" name="microphone" options=microphones selected=selected_microphone/>
                </div>
            </details>
            <button type="button" class="ctl ctl-leave" data-testid="leave" aria-label="Leave the call"
                on:click=move |_| leave()>"Leave"</button>
        </div>
        {move || ui.notice.get().map(|n| view! { <p class="form-error" role="alert">{n}</p> })}
    }
}

/// Chat over the peers' data channels: messages go browser to browser, never through the server.
#[component]
fn CallChat(ui: CallUi) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<&'static str>);
    let reachable = move || ui.participants.with(|l| l.iter().any(|p| p.data_open));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if text.chars().count() > MAX_CHAT_CHARS {
            error.set(Some("Messages are at most 500 characters."));
            return;
        }
        if send_chat(text) == 0 {
            error.set(Some("Nobody is connected to receive it yet."));
        } else {
            error.set(None);
            draft.set(String::new());
        }
    };
    view! {
        <section class="card call-chat" aria-label="Chat">
            <h2>"Chat"</h2>
            <ol class="chat-lines" data-testid="call-chat" aria-live="polite">
                <For each=move || ui.chat.get().into_iter().enumerate() key=|(i, _)| *i let:item>
                    <li class:mine=item.1.mine>
                        <b class="chat-from">{item.1.from.clone()}</b>
                        " "
                        <time class="muted">{format_time(item.1.at_ms)}</time>
                        <span class="chat-text">{item.1.text.clone()}</span>
                    </li>
                </For>
            </ol>
            <form class="chat-form" on:submit=submit>
                <input aria-label="Message to everyone in the call" data-testid="call-chat-input"
                    maxlength=MAX_CHAT_CHARS.to_string() placeholder="Message everyone" bind:value=draft/>
                <button type="submit" class="btn" disabled=move || !reachable()>"Send"</button>
            </form>
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            <p class="hint">"Messages go straight to the people in the call and are not saved."</p>
        </section>
    }
}

/// Where a person is on `/match`.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Eq)]
enum MatchPhase {
    /// Not looking (first visit, or after Stop).
    Idle,
    /// In the queue; `n` people are waiting.
    Waiting(u32),
    /// In a call with a partner.
    Matched(String),
    /// The partner pressed Next or left.
    PartnerLeft,
    /// The connection to the server dropped while looking or in a call.
    Lost,
}

/// `/match`: random 1:1 calls.
#[component]
pub fn MatchPage() -> impl IntoView {
    view! {
        <Title text="Meet someone"/>
        {signed_in_only("Meet someone", || "/match".into(), || view! { <Matching/> })}
    }
}

#[component]
fn Matching() -> impl IntoView {
    let phase = RwSignal::new(MatchPhase::Idle);
    let ui = CallUi::new();
    let camera = RwSignal::new(None::<Result<(), String>>);

    #[cfg(feature = "hydrate")]
    {
        use crate::rtc::media;
        use crate::signaling::client::{self, ClientEvent, LinkStatus};
        use crate::signaling::protocol::{ClientMsg, ServerMsg};
        use leptos::task::spawn_local;
        let token = engine::start(ui);
        spawn_local(async move {
            match media::capture(None, None).await {
                Ok(stream) => {
                    engine::set_local(Some(stream));
                    camera.try_set(Some(Ok(())));
                }
                Err(e) => {
                    camera.try_set(Some(Err(e.to_string())));
                }
            }
        });
        client::subscribe_scoped(move |event: &ClientEvent| {
            match event {
                ClientEvent::Status(LinkStatus::Reconnecting) => {
                    ui.link_ok.set(false);
                    if matches!(phase.get_untracked(), MatchPhase::Waiting(_) | MatchPhase::Matched(_)) {
                        engine::exit();
                        phase.set(MatchPhase::Lost);
                    }
                }
                ClientEvent::Status(status) => ui.link_ok.set(*status == LinkStatus::Open),
                ClientEvent::Msg(ServerMsg::MatchWaiting { waiting }) => phase.set(MatchPhase::Waiting(*waiting)),
                ClientEvent::Msg(ServerMsg::Matched { room, partner }) => {
                    engine::exit();
                    engine::enter(room.clone());
                    phase.set(MatchPhase::Matched(partner.name.clone()));
                }
                ClientEvent::Msg(ServerMsg::PartnerLeft { .. }) => {
                    engine::exit();
                    phase.set(MatchPhase::PartnerLeft);
                }
                ClientEvent::Msg(ServerMsg::MatchStopped) => {}
                _ => {}
            }
            engine::handle(event);
        });
        on_cleanup(move || {
            client::send(&ClientMsg::StopMatching);
            engine::shutdown(token);
        });
    }

    let find = move || {
        #[cfg(feature = "hydrate")]
        {
            engine::exit();
            crate::signaling::client::send(&crate::signaling::protocol::ClientMsg::FindPartner);
        }
        ui.chat.set(Vec::new());
        phase.set(MatchPhase::Waiting(0));
    };
    let stop = move || {
        #[cfg(feature = "hydrate")]
        {
            engine::exit();
            crate::signaling::client::send(&crate::signaling::protocol::ClientMsg::StopMatching);
        }
        phase.set(MatchPhase::Idle);
    };
    let ready = move || matches!(camera.get(), Some(Ok(())));

    view! {
        <div class="page-head">
            <h1>"Meet someone"</h1>
            <A href="/rooms" attr:class="btn btn-ghost">"Rooms by link"</A>
        </div>
        <section class="card match-bar" data-testid="match-status" role="status">
            {move || match phase.get() {
                MatchPhase::Idle => view! {
                    <p>"Press Find a partner to be matched with another person for a 1:1 video call."</p>
                    <button type="button" class="btn" data-testid="find-partner" disabled=move || !ready()
                        on:click=move |_| find()>"Find a partner"</button>
                }.into_any(),
                MatchPhase::Waiting(_) => view! {
                    <p data-state="waiting">"Looking for a partner…"</p>
                    <button type="button" class="btn btn-ghost" data-testid="stop-matching" on:click=move |_| stop()>"Stop"</button>
                }.into_any(),
                MatchPhase::Matched(name) => view! {
                    <p data-state="matched">"You are talking with " <b data-testid="partner-name">{name}</b> "."</p>
                    <div class="row">
                        <button type="button" class="btn" data-testid="next" aria-label="End this call and find someone new"
                            on:click=move |_| find()>"Next"</button>
                        <button type="button" class="btn btn-ghost" data-testid="stop-matching" on:click=move |_| stop()>"Stop"</button>
                    </div>
                }.into_any(),
                MatchPhase::PartnerLeft => view! {
                    <p data-state="partner-left">"Your partner left."</p>
                    <button type="button" class="btn" data-testid="find-partner" on:click=move |_| find()>"Find a new partner"</button>
                }.into_any(),
                MatchPhase::Lost => view! {
                    <p data-state="lost">"The connection to the server dropped, so the search (or the call) ended."</p>
                    <button type="button" class="btn" data-testid="find-partner" disabled=move || !ui.link_ok.get()
                        on:click=move |_| find()>"Find a partner"</button>
                }.into_any(),
            }}
            {move || camera.get().and_then(Result::err).map(|e| view! {
                <p class="form-error" role="alert">{e} " You need a camera and microphone for a video call."</p>
            })}
        </section>
        <div class="call">
            <div class="call-main">
                <div class="tiles" data-count=move || (ui.participants.with(Vec::len) + 1).to_string()>
                    <LocalTile ui=ui/>
                    <For each=move || ui.participants.get() key=|p| p.peer let:p>
                        <RemoteTile ui=ui peer=p.peer/>
                    </For>
                </div>
                {move || matches!(phase.get(), MatchPhase::Matched(_)).then(|| view! {
                    <Controls ui=ui on_leave=move || stop()/>
                })}
            </div>
            {move || matches!(phase.get(), MatchPhase::Matched(_)).then(|| view! { <CallChat ui=ui/> })}
        </div>
    }
}
