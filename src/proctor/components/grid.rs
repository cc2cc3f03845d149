//! `/tests/:id/invigilate`: a card per enrolled student with state, flags and a live thumbnail; clicking a
//! card opens the student's stream at full resolution in a modal (audited), with the flag list and an
//! attention message. Kept current from `/ws` events without reload.

use super::{format_time, test_error, use_test_id};
use crate::error::AppError;
use crate::ids::{TestId, UserId, ViewId};
use crate::proctor::{
    attention, end_view, start_view, student_flags, student_grid, FlagView, StudentCard, StudentState,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

fn state_label(s: StudentState) -> &'static str {
    match s {
        StudentState::NotStarted => "Not started",
        StudentState::Live => "Live",
        StudentState::Reconnecting => "Reconnecting",
        StudentState::Disconnected => "Disconnected",
        StudentState::Submitted => "Submitted",
    }
}

fn state_key(s: StudentState) -> &'static str {
    match s {
        StudentState::NotStarted => "not-started",
        StudentState::Live => "live",
        StudentState::Reconnecting => "reconnecting",
        StudentState::Disconnected => "disconnected",
        StudentState::Submitted => "submitted",
    }
}

fn flag_text(f: &FlagView) -> String {
    let network = if f.during_reconnect { " (while reconnecting: network, not behaviour)" } else { "" };
    format!("{} at {}{}", f.kind.label(), format_time(f.raised_at_ms), network)
}

/// `/tests/:id/invigilate`.
#[component]
pub fn InvigilatePage() -> impl IntoView {
    let id = use_test_id();
    let grid = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => student_grid(id).await,
                None => Err(AppError::NotFound("No such test.".into())),
            }
        },
    );
    view! {
        <Title text="Student grid"/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (grid.await, id.get_untracked()) {
                    (Ok(cards), Some(test)) => view! { <Grid test=test initial=cards/> }.into_any(),
                    (Err(e), _) => test_error(e),
                    (Ok(_), None) => test_error(AppError::NotFound("No such test.".into())),
                }
            })}
        </Transition>
    }
}

#[component]
fn Grid(test: TestId, initial: Vec<StudentCard>) -> impl IntoView {
    let cards = RwSignal::new(initial);
    // Bumped whenever a student's stream appears or goes, so videos re-attach.
    let streams_changed = RwSignal::new(0u32);
    let open = RwSignal::new(None::<UserId>);

    #[cfg(feature = "hydrate")]
    browser::follow(test, cards, streams_changed, open);

    view! {
        <div class="page-head">
            <h1>"Student grid"</h1>
            <A href=format!("/tests/{test}/report") attr:class="btn btn-ghost">"Audit report"</A>
        </div>
        <ul class="student-grid" data-testid="student-grid">
            <For each=move || cards.get() key=|c| c.student let:card>
                <GridCard student=card.student cards=cards streams_changed=streams_changed open=open/>
            </For>
        </ul>
        {move || open.get().map(|student| view! { <StudentModal test=test student=student cards=cards streams_changed=streams_changed open=open/> })}
    }
}

#[component]
fn GridCard(
    student: UserId,
    cards: RwSignal<Vec<StudentCard>>,
    streams_changed: RwSignal<u32>,
    open: RwSignal<Option<UserId>>,
) -> impl IntoView {
    let card = Memo::new(move |_| cards.with(|l| l.iter().find(|c| c.student == student).cloned()));
    let video = NodeRef::<leptos::html::Video>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        streams_changed.track();
        browser::attach(video, student);
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = streams_changed;
    move || {
        card.get().map(|c| {
            let name = c.name.clone();
            view! {
                <li class="student-card" data-testid="student-card" data-state=state_key(c.state)>
                    <button type="button" class="student-open" on:click=move |_| open.set(Some(student))
                        aria-label=format!("Watch {name}")>
                        <div class="thumb">
                            <video node_ref=video autoplay=true muted=true playsinline=true data-testid="thumbnail"></video>
                        </div>
                        <div class="student-meta">
                            <strong>{c.name.clone()}</strong>
                            <span class=format!("status state-{}", state_key(c.state)) data-testid="student-state">
                                {state_label(c.state)}
                                {(matches!(c.state, StudentState::Disconnected)).then(|| c.since_ms.map(|s| format!(" since {}", format_time(s)))).flatten()}
                            </span>
                            <span class="flags" data-testid="flag-count">
                                {if c.flag_count == 1 { "1 flag".to_string() } else { format!("{} flags", c.flag_count) }}
                            </span>
                            {c.latest_flag.as_ref().map(|f| view! { <span class="latest-flag" data-testid="latest-flag">{flag_text(f)}</span> })}
                        </div>
                    </button>
                </li>
            }
        })
    }
}

#[component]
fn StudentModal(
    test: TestId,
    student: UserId,
    cards: RwSignal<Vec<StudentCard>>,
    streams_changed: RwSignal<u32>,
    open: RwSignal<Option<UserId>>,
) -> impl IntoView {
    let name =
        move || cards.with(|l| l.iter().find(|c| c.student == student).map(|c| c.name.clone())).unwrap_or_default();
    let flags = Resource::new(
        move || (student, cards.with(|l| l.iter().find(|c| c.student == student).map(|c| c.flag_count))),
        move |_| student_flags(test, student),
    );
    let view_id = RwSignal::new(None::<ViewId>);
    let video = NodeRef::<leptos::html::Video>::new();
    let message = RwSignal::new(String::new());
    let ping = Action::new(move |text: &String| attention(test, student, text.clone()));

    #[cfg(feature = "hydrate")]
    {
        use leptos::task::spawn_local;
        Effect::new(move |_| {
            streams_changed.track();
            browser::attach(video, student);
        });
        browser::set_layer(student, true);
        spawn_local(async move {
            if let Ok(id) = start_view(test, student).await {
                view_id.set(Some(id));
            }
        });
        on_cleanup(move || {
            browser::set_layer(student, false);
            if let Some(id) = view_id.get_untracked() {
                spawn_local(async move {
                    let _ = end_view(id).await;
                });
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (streams_changed, view_id, start_view, end_view);

    view! {
        <div class="modal-backdrop" on:click=move |_| open.set(None)>
            <div class="modal card" role="dialog" aria-modal="true" aria-label=move || format!("{} live", name())
                data-testid="student-modal" on:click=|ev| ev.stop_propagation()>
                <div class="modal-head">
                    <h2>{name}</h2>
                    <button type="button" class="btn btn-ghost" on:click=move |_| open.set(None) aria-label="Close">"Close"</button>
                </div>
                <div class="video-frame">
                    <video node_ref=video autoplay=true muted=true playsinline=true data-testid="modal-video"></video>
                </div>
                <form class="form form-inline" on:submit=move |ev| {
                    ev.prevent_default();
                    let text = message.get_untracked();
                    if !text.trim().is_empty() {
                        ping.dispatch(text);
                        message.set(String::new());
                    }
                }>
                    <label>"Message to the student"
                        <input maxlength="200" prop:value=move || message.get() on:input=move |ev| message.set(event_target_value(&ev))/>
                    </label>
                    <button type="submit" class="btn">"Send"</button>
                </form>
                {move || ping.value().get().map(|r| match r {
                    Ok(()) => view! { <p class="confirmation" role="status">"Sent."</p> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
                <h3>"Flags"</h3>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        let list = flags.await.unwrap_or_default();
                        if list.is_empty() {
                            view! { <p class="muted">"No flags."</p> }.into_any()
                        } else {
                            view! { <ul class="flag-list" data-testid="flag-list">
                                {list.iter().map(|f| view! { <li>{flag_text(f)}</li> }).collect_view()}
                            </ul> }.into_any()
                        }
                    })}
                </Transition>
            </div>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    //! The invigilator's side: one receive-only peer connection per streaming student (the student offers),
    //! their streams by student, and layer requests when a student is opened.

    use crate::ids::{PeerId, TestId, UserId};
    use crate::proctor::{StudentCard, StudentState};
    use crate::rtc::media;
    use crate::rtc::peer::{Peer, PeerEvent};
    use crate::signaling::client::{self, ClientEvent};
    use crate::signaling::protocol::{ClientMsg, MemberRole, RoomId, ServerMsg, Signal};
    use leptos::prelude::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    #[derive(Default)]
    struct State {
        room: Option<RoomId>,
        /// Student connections in the room: peer → user.
        students: HashMap<PeerId, UserId>,
        peers: HashMap<PeerId, Peer>,
        streams: HashMap<UserId, web_sys::MediaStream>,
    }

    thread_local! {
        static STATE: RefCell<State> = RefCell::new(State::default());
    }

    /// Shows `student`'s stream (if any) in `video`.
    pub fn attach(video: NodeRef<leptos::html::Video>, student: UserId) {
        let stream = STATE.with(|s| s.borrow().streams.get(&student).cloned());
        if let (Some(el), Some(stream)) = (video.get_untracked(), stream) {
            media::attach(&el, &stream);
            let _ = el.play();
        }
    }

    /// Asks every connection of `student` for the full (`high`) or thumbnail layer.
    pub fn set_layer(student: UserId, high: bool) {
        let (room, peers): (Option<RoomId>, Vec<PeerId>) = STATE.with(|s| {
            let s = s.borrow();
            (s.room.clone(), s.students.iter().filter(|(_, u)| **u == student).map(|(p, _)| *p).collect())
        });
        if let Some(room) = room {
            for peer in peers {
                client::send(&ClientMsg::Signal {
                    room: room.clone(),
                    to: peer,
                    signal: Signal::PreferredLayer { high },
                });
            }
        }
    }

    fn close_peer(peer: PeerId) -> Option<UserId> {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(p) = s.peers.remove(&peer) {
                p.close();
            }
            let user = s.students.remove(&peer);
            if let Some(u) = user {
                if !s.students.values().any(|x| *x == u) {
                    s.streams.remove(&u);
                }
            }
            user
        })
    }

    /// Joins the test's room as an invigilator and keeps `cards` and the streams current.
    pub fn follow(
        test: TestId,
        cards: RwSignal<Vec<StudentCard>>,
        streams_changed: RwSignal<u32>,
        open: RwSignal<Option<UserId>>,
    ) {
        let room = RoomId::Test(test);
        STATE.with(|s| *s.borrow_mut() = State { room: Some(room.clone()), ..Default::default() });
        let update = move |student: UserId, f: &dyn Fn(&mut StudentCard)| {
            cards.update(|l| {
                if let Some(c) = l.iter_mut().find(|c| c.student == student) {
                    f(c);
                }
            })
        };
        let handler_room = room.clone();
        client::subscribe_scoped(move |event| {
            let ClientEvent::Msg(msg) = event else {
                if let ClientEvent::Status(client::LinkStatus::Reconnecting) = event {
                    let peers: Vec<PeerId> = STATE.with(|s| s.borrow().peers.keys().copied().collect());
                    for p in peers {
                        close_peer(p);
                    }
                    streams_changed.update(|n| *n += 1);
                }
                return;
            };
            match msg {
                ServerMsg::Joined { room, peers, .. } if *room == handler_room => STATE.with(|s| {
                    let mut s = s.borrow_mut();
                    for p in peers.iter().filter(|p| p.role == MemberRole::Publisher) {
                        s.students.insert(p.peer, p.user);
                    }
                }),
                ServerMsg::PeerJoined { room, peer } if *room == handler_room && peer.role == MemberRole::Publisher => {
                    STATE.with(|s| s.borrow_mut().students.insert(peer.peer, peer.user));
                }
                ServerMsg::PeerLeft { room, peer } if *room == handler_room => {
                    if close_peer(*peer).is_some() {
                        streams_changed.update(|n| *n += 1);
                    }
                }
                ServerMsg::Signal { room, from, from_user, signal } if *room == handler_room => {
                    let existing = STATE.with(|s| s.borrow().peers.get(from).cloned());
                    let peer = match existing {
                        Some(p) => p,
                        None => {
                            let student = *from_user;
                            let on_event: Rc<dyn Fn(PeerEvent)> = Rc::new(move |e| {
                                if let PeerEvent::RemoteStream(stream) = e {
                                    STATE.with(|s| s.borrow_mut().streams.insert(student, stream));
                                    streams_changed.update(|n| *n += 1);
                                }
                            });
                            let to = *from;
                            let send_room = handler_room.clone();
                            let send: Rc<dyn Fn(Signal)> = Rc::new(move |signal| {
                                client::send(&ClientMsg::Signal { room: send_room.clone(), to, signal });
                            });
                            match Peer::new(&handler_room, true, send, on_event) {
                                Ok(p) => {
                                    STATE.with(|s| {
                                        let mut s = s.borrow_mut();
                                        s.students.insert(*from, student);
                                        s.peers.insert(*from, p.clone());
                                    });
                                    // A student opened in the modal before their (re)connection gets full resolution.
                                    if open.get_untracked() == Some(student) {
                                        client::send(&ClientMsg::Signal {
                                            room: handler_room.clone(),
                                            to,
                                            signal: Signal::PreferredLayer { high: true },
                                        });
                                    }
                                    p
                                }
                                Err(e) => {
                                    leptos::logging::error!("could not create a peer connection: {e:?}");
                                    return;
                                }
                            }
                        }
                    };
                    peer.handle(signal.clone());
                }
                ServerMsg::StudentStateChanged { test: t, student, state, since_ms } if *t == test => {
                    let (state, since) = (*state, *since_ms);
                    update(*student, &|c| {
                        c.state = state;
                        c.since_ms = Some(since);
                    });
                    if matches!(state, StudentState::Disconnected | StudentState::Submitted) {
                        streams_changed.update(|n| *n += 1);
                    }
                }
                ServerMsg::FlagRaised { test: t, flag } if *t == test => {
                    let flag = flag.clone();
                    update(flag.student, &|c| {
                        c.flag_count += 1;
                        c.latest_flag = Some(flag.clone());
                    });
                }
                _ => {}
            }
        });
        let leave_room = send_wrapper::SendWrapper::new(room.clone());
        on_cleanup(move || {
            client::leave(&leave_room);
            let peers: Vec<PeerId> = STATE.with(|s| s.borrow().peers.keys().copied().collect());
            for p in peers {
                close_peer(p);
            }
        });
        client::join(room);
    }
}
