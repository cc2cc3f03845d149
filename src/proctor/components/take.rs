//! `/tests/:id/take`: a student takes a test while the camera streams to the invigilators. Answers save as
//! the student types; a streaming indicator shows the camera's state; tab switches, leaving the window or
//! full screen and a stopped camera are reported as flags.

use super::{test_error, use_test_id};
use crate::error::AppError;
use crate::ids::{QuestionId, TestId};
use crate::proctor::{get_test, Attempt, SaveAnswer, TestDetail};
use crate::ui::clock::{format_elapsed, use_now};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The streaming indicator's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum CameraState {
    Starting,
    Live,
    Reconnecting,
    Off,
}

impl CameraState {
    fn class(self) -> &'static str {
        match self {
            Self::Live => "status status-connected",
            Self::Off => "status status-failed",
            _ => "status status-reconnecting",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Starting => "Starting camera…",
            Self::Live => "Live",
            Self::Reconnecting => "Reconnecting…",
            Self::Off => "Camera off",
        }
    }
}

/// `/tests/:id/take`.
#[component]
pub fn TakeTestPage() -> impl IntoView {
    let id = use_test_id();
    let detail = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_test(id).await,
                None => Err(AppError::NotFound("No such test.".into())),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => test_error(e),
                    Ok(t) if t.role != crate::proctor::TestRole::Student => test_error(AppError::Forbidden(
                        "Only the test's students take it. Invigilators open the student grid.".into(),
                    )),
                    Ok(t) => view! { <Take test=t/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Take(test: TestDetail) -> impl IntoView {
    let test_id = test.id;
    // None until the camera runs and the attempt started.
    let attempt = RwSignal::new(None::<Attempt>);
    let start_error = RwSignal::new(None::<String>);
    let camera = RwSignal::new(CameraState::Starting);
    let started = RwSignal::new(false);
    let submitted = RwSignal::new(false);
    let minimized = RwSignal::new(false);
    let attention = RwSignal::new(Vec::<(String, String)>::new());
    let self_view = NodeRef::<leptos::html::Video>::new();
    let now = use_now(1000);

    #[cfg(feature = "hydrate")]
    let session = browser::Session::new(test_id, self_view, attempt, start_error, camera, submitted, attention);
    let on_start = move |_| {
        started.set(true);
        start_error.set(None);
        #[cfg(feature = "hydrate")]
        session.start();
    };
    let on_submit = move |_| {
        #[cfg(feature = "hydrate")]
        session.submit();
    };
    // Time is up: submit what is there.
    #[cfg(feature = "hydrate")]
    {
        let auto_submitted = StoredValue::new(false);
        Effect::new(move |_| {
            let due =
                attempt.with(|a| a.as_ref().is_some_and(|a| a.submitted_at_ms.is_none() && now.get() >= a.deadline_ms));
            if due && !submitted.get_untracked() && !auto_submitted.get_value() {
                auto_submitted.set_value(true);
                session.submit();
            }
        });
    }

    let questions = test.questions.clone();
    view! {
        <Title text=test.title.clone()/>
        <div class="page-head"><h1>{test.title.clone()}</h1>
            {move || attempt.get().map(|a| {
                let deadline = a.deadline_ms;
                view! { <span class="status" data-testid="time-left">{move || format!("Time left: {}", format_elapsed(deadline - now.get()))}</span> }
            })}
        </div>
        {move || attention.get().into_iter().map(|(from, text)| view! {
            <p class="attention" role="alert" data-testid="attention"><strong>{from} ": "</strong>{text}</p>
        }).collect_view()}
        <Show when=move || attempt.with(Option::is_none) && !submitted.get()>
            <section class="card narrow stack">
                <h2>"Your camera is needed"</h2>
                <p>"During this test your camera streams to the test's invigilators, as in an exam room. It is not recorded. "
                   "The test starts once your camera is on; switching tabs or leaving the window is reported to them."</p>
                <p class="description">{test.instructions.clone()}</p>
                {move || start_error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="button" class="btn" on:click=on_start disabled=move || started.get() && start_error.with(Option::is_none)>
                    {move || if start_error.with(Option::is_some) { "Try again" } else { "Turn on camera and start" }}
                </button>
            </section>
        </Show>
        <Show when=move || submitted.get()>
            <section class="card narrow" data-testid="submitted">
                <h2>"Submitted"</h2>
                <p>"Your answers are in. You can close this page."</p>
                <A href="/tests" attr:class="btn">"Your tests"</A>
            </section>
        </Show>
        <Show when=move || attempt.with(Option::is_some) && !submitted.get()>
            <section class="card stack">
                <ol class="questions">
                    {questions.clone().into_iter().map(|q| {
                        let initial = attempt.with_untracked(|a| a.as_ref().and_then(|a| a.answers.iter().find(|(id, _)| *id == q.id).map(|(_, t)| t.clone())).unwrap_or_default());
                        view! { <li><AnswerBox test=test_id question=q.id prompt=q.prompt initial=initial/></li> }
                    }).collect_view()}
                </ol>
                <button type="button" class="btn" on:click=on_submit>"Submit answers"</button>
            </section>
        </Show>
        <aside class=move || if minimized.get() { "stream-indicator minimized" } else { "stream-indicator" }
            data-testid="stream-indicator" data-state=move || format!("{:?}", camera.get()).to_lowercase()
            hidden=move || attempt.with(Option::is_none) || submitted.get()>
            <video node_ref=self_view autoplay=true muted=true playsinline=true aria-label="Your camera"></video>
            <p><span class=move || camera.get().class()>{move || camera.get().label()}</span></p>
            <button type="button" class="btn btn-ghost btn-small" on:click=move |_| minimized.update(|m| *m = !*m)
                aria-label=move || if minimized.get() { "Show the camera indicator" } else { "Minimize the camera indicator" }>
                {move || if minimized.get() { "▢" } else { "–" }}
            </button>
        </aside>
    }
}

/// One question's answer box: saves 800 ms after the last keystroke, and on leaving the field.
#[component]
fn AnswerBox(test: TestId, question: QuestionId, prompt: String, initial: String) -> impl IntoView {
    let save = ServerAction::<SaveAnswer>::new();
    let text = RwSignal::new(initial);
    let dirty = RwSignal::new(false);
    let generation = StoredValue::new(0u32);
    let flush = move || {
        if dirty.get_untracked() {
            dirty.set(false);
            save.dispatch(SaveAnswer { test, question, text: text.get_untracked() });
        }
    };
    let on_input = move |ev| {
        text.set(event_target_value(&ev));
        dirty.set(true);
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        set_timeout(
            move || {
                if generation.get_value() == mine {
                    flush();
                }
            },
            std::time::Duration::from_millis(800),
        );
    };
    let state = move || {
        if save.pending().get() || dirty.get() {
            "Saving…".to_string()
        } else {
            match save.value().get() {
                Some(Ok(())) => "Saved".into(),
                Some(Err(e)) => e.to_string(),
                None => String::new(),
            }
        }
    };
    view! {
        <label class="answer">
            <span class="prompt">{prompt}</span>
            <textarea rows="4" maxlength="20000" prop:value=move || text.get() on:input=on_input on:blur=move |_| flush()
                data-testid="answer"></textarea>
            <small class="hint" data-testid="save-state" aria-live="polite">{state}</small>
        </label>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    //! Camera, streaming to every invigilator of the test (one peer connection each, thumbnail layer until
    //! an invigilator asks for full resolution), flags and the attempt's lifecycle.

    use super::CameraState;
    use crate::ids::{PeerId, TestId};
    use crate::proctor::{report_flag, start_attempt, submit_attempt, Attempt, FlagKind};
    use crate::rtc::media;
    use crate::rtc::peer::{Peer, PeerEvent};
    use crate::signaling::client::{self, ClientEvent, LinkStatus};
    use crate::signaling::protocol::{ClientMsg, MemberRole, RoomId, ServerMsg, Signal};
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use send_wrapper::SendWrapper;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::rc::Rc;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    struct Inner {
        test: TestId,
        room: RoomId,
        local: Option<web_sys::MediaStream>,
        peers: HashMap<PeerId, Peer>,
        link_open: bool,
        ended: bool,
        listeners: Vec<(web_sys::EventTarget, &'static str, Closure<dyn FnMut(web_sys::Event)>)>,
        track_closure: Option<Closure<dyn FnMut(web_sys::Event)>>,
    }

    /// The student's side of a test in this page. Cheap to copy.
    #[derive(Clone, Copy)]
    pub struct Session {
        inner: StoredValue<SendWrapper<Rc<RefCell<Inner>>>>,
        view: NodeRef<leptos::html::Video>,
        attempt: RwSignal<Option<Attempt>>,
        error: RwSignal<Option<String>>,
        camera: RwSignal<CameraState>,
        submitted: RwSignal<bool>,
        attention: RwSignal<Vec<(String, String)>>,
    }

    fn signal_sender(room: RoomId, to: PeerId) -> Rc<dyn Fn(Signal)> {
        Rc::new(move |signal| {
            client::send(&ClientMsg::Signal { room: room.clone(), to, signal });
        })
    }

    impl Session {
        pub fn new(
            test: TestId,
            view: NodeRef<leptos::html::Video>,
            attempt: RwSignal<Option<Attempt>>,
            error: RwSignal<Option<String>>,
            camera: RwSignal<CameraState>,
            submitted: RwSignal<bool>,
            attention: RwSignal<Vec<(String, String)>>,
        ) -> Self {
            let inner = Rc::new(RefCell::new(Inner {
                test,
                room: RoomId::Test(test),
                local: None,
                peers: HashMap::new(),
                link_open: false,
                ended: false,
                listeners: Vec::new(),
                track_closure: None,
            }));
            let s = Self {
                inner: StoredValue::new(SendWrapper::new(inner)),
                view,
                attempt,
                error,
                camera,
                submitted,
                attention,
            };
            s.listen();
            let cleanup = s;
            on_cleanup(move || cleanup.stop());
            s
        }

        fn rc(&self) -> Rc<RefCell<Inner>> {
            self.inner.with_value(|w| Rc::clone(w))
        }

        /// Camera first (refuse to start without it), then the attempt, then streaming and flags.
        pub fn start(self) {
            spawn_local(async move {
                let local = match media::capture(None, None).await {
                    Ok(s) => s,
                    Err(e) => {
                        self.error.set(Some(format!("{e} The test cannot start without your camera.")));
                        return;
                    }
                };
                let attempt = match start_attempt(self.rc().borrow().test).await {
                    Ok(a) => a,
                    Err(e) => {
                        media::stop(&local);
                        self.error.set(Some(e.to_string()));
                        return;
                    }
                };
                if attempt.submitted_at_ms.is_some() {
                    media::stop(&local);
                    self.submitted.set(true);
                    return;
                }
                self.use_stream(local);
                self.attempt.set(Some(attempt));
                self.watch_page();
                let room = self.rc().borrow().room.clone();
                client::join(room);
            });
        }

        /// Shows `local` in the indicator, sends it to every invigilator, and restarts the camera if it ends.
        fn use_stream(self, local: web_sys::MediaStream) {
            if let Some(el) = self.view.get_untracked() {
                media::attach(&el, &local);
            }
            let rc = self.rc();
            let mut inner = rc.borrow_mut();
            for peer in inner.peers.values() {
                if let Some(track) = local.get_video_tracks().get(0).dyn_into::<web_sys::MediaStreamTrack>().ok() {
                    peer.replace_video_track(&track);
                }
            }
            if let Some(track) = local.get_video_tracks().get(0).dyn_into::<web_sys::MediaStreamTrack>().ok() {
                let on_ended = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| self.camera_stopped());
                track.set_onended(Some(on_ended.as_ref().unchecked_ref()));
                inner.track_closure = Some(on_ended);
            }
            if let Some(old) = inner.local.replace(local) {
                media::stop(&old);
            }
            self.camera.set(if inner.link_open { CameraState::Live } else { CameraState::Reconnecting });
        }

        fn camera_stopped(self) {
            if self.rc().borrow().ended {
                return;
            }
            self.camera.set(CameraState::Off);
            self.flag(FlagKind::CameraStopped);
            // Try to get the camera back.
            spawn_local(async move {
                if let Ok(stream) = media::capture(None, None).await {
                    self.use_stream(stream);
                }
            });
        }

        fn flag(self, kind: FlagKind) {
            let (test, during_reconnect, ended) = {
                let rc = self.rc();
                let inner = rc.borrow();
                (inner.test, !inner.link_open, inner.ended)
            };
            if ended || self.attempt.with_untracked(Option::is_none) {
                return;
            }
            spawn_local(async move {
                let _ = report_flag(test, kind, during_reconnect).await;
            });
        }

        fn connect_invigilator(self, invigilator: PeerId) {
            let rc = self.rc();
            let mut inner = rc.borrow_mut();
            if let Some(old) = inner.peers.remove(&invigilator) {
                old.close();
            }
            let Some(local) = inner.local.clone() else { return };
            let on_event: Rc<dyn Fn(PeerEvent)> = Rc::new(|_| {});
            match Peer::new(&inner.room, false, signal_sender(inner.room.clone(), invigilator), on_event) {
                Ok(peer) => {
                    peer.add_stream(&local);
                    // Thumbnail layer until this invigilator opens the student (`preferred_layer`).
                    peer.set_video_layer(false);
                    inner.peers.insert(invigilator, peer);
                }
                Err(e) => leptos::logging::error!("could not create a peer connection: {e:?}"),
            }
        }

        fn listen(self) {
            client::subscribe_scoped(move |event| {
                let (room, test) = {
                    let rc = self.rc();
                    let inner = rc.borrow();
                    (inner.room.clone(), inner.test)
                };
                match event {
                    ClientEvent::Status(status) => {
                        let open = *status == LinkStatus::Open;
                        let rc = self.rc();
                        let mut inner = rc.borrow_mut();
                        inner.link_open = open;
                        if !open {
                            for (_, p) in inner.peers.drain() {
                                p.close();
                            }
                        }
                        if self.camera.get_untracked() != CameraState::Off {
                            self.camera.set(if open { CameraState::Live } else { CameraState::Reconnecting });
                        }
                    }
                    ClientEvent::Msg(msg) => match msg {
                        ServerMsg::Joined { room: r, peers, .. } if *r == room => {
                            for p in peers.iter().filter(|p| p.role == MemberRole::Viewer) {
                                self.connect_invigilator(p.peer);
                            }
                        }
                        ServerMsg::PeerJoined { room: r, peer } if *r == room && peer.role == MemberRole::Viewer => {
                            self.connect_invigilator(peer.peer)
                        }
                        ServerMsg::PeerLeft { room: r, peer } if *r == room => {
                            if let Some(p) = self.rc().borrow_mut().peers.remove(peer) {
                                p.close();
                            }
                        }
                        ServerMsg::Signal { room: r, from, signal, .. } if *r == room => {
                            let peer = self.rc().borrow().peers.get(from).cloned();
                            if let Some(p) = peer {
                                p.handle(signal.clone());
                            }
                        }
                        ServerMsg::Attention { test: t, from, text } if *t == test => {
                            self.attention.update(|l| l.push((from.clone(), text.clone())))
                        }
                        _ => {}
                    },
                }
            });
        }

        /// Flags: the tab hidden, the window left, full screen left.
        fn watch_page(self) {
            let Some(window) = web_sys::window() else { return };
            let Some(document) = window.document() else { return };
            let doc = document.clone();
            let on_visibility = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                if doc.visibility_state() == web_sys::VisibilityState::Hidden {
                    self.flag(FlagKind::TabHidden);
                }
            });
            let on_blur = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| self.flag(FlagKind::WindowBlur));
            let was_fullscreen = Rc::new(Cell::new(false));
            let doc = document.clone();
            let on_fullscreen = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                let now_full =
                    js_sys::Reflect::get(&doc, &"fullscreenElement".into()).map(|v| !v.is_null()).unwrap_or(false);
                if was_fullscreen.replace(now_full) && !now_full {
                    self.flag(FlagKind::FullscreenExit);
                }
            });
            let doc_target: web_sys::EventTarget = document.into();
            let win_target: web_sys::EventTarget = window.into();
            let add = |target: &web_sys::EventTarget, name: &'static str, f: Closure<dyn FnMut(web_sys::Event)>| {
                let _ = target.add_event_listener_with_callback(name, f.as_ref().unchecked_ref());
                self.rc().borrow_mut().listeners.push((target.clone(), name, f));
            };
            add(&doc_target, "visibilitychange", on_visibility);
            add(&win_target, "blur", on_blur);
            add(&doc_target, "fullscreenchange", on_fullscreen);
        }

        pub fn submit(self) {
            let test = self.rc().borrow().test;
            spawn_local(async move {
                match submit_attempt(test).await {
                    Ok(a) => {
                        self.attempt.set(Some(a));
                        self.submitted.set(true);
                        self.stop();
                    }
                    Err(e) => self.error.set(Some(e.to_string())),
                }
            });
        }

        /// Stops the camera, closes the peer connections, removes the listeners, leaves the room.
        fn stop(self) {
            let Some(rc) = self.inner.try_with_value(|w| Rc::clone(w)) else { return };
            let mut inner = rc.borrow_mut();
            inner.ended = true;
            for (_, p) in inner.peers.drain() {
                p.close();
            }
            if let Some(local) = inner.local.take() {
                media::stop(&local);
            }
            for (target, name, f) in inner.listeners.drain(..) {
                let _ = target.remove_event_listener_with_callback(name, f.as_ref().unchecked_ref());
            }
            client::leave(&inner.room);
        }
    }
}
