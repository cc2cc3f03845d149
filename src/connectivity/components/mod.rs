//! `/connectivity`: the connection test page. Nothing runs until "Start test" is clicked (so the camera
//! prompt never comes as a surprise); then the checks run one after another — camera and microphone,
//! the signaling WebSocket, STUN/TURN — each row showing its status and what to do, under an overall
//! verdict and a "Run again" button.

#[cfg(feature = "hydrate")]
mod probe;

use crate::auth::components::use_auth;
use crate::connectivity::{verdict, waiting, websocket_finding, Finding, Status, WsOutcome};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// `/connectivity`.
#[component]
pub fn ConnectivityPage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text="Connection test"/>
        <div class="page-head"><h1>"Connection test"</h1></div>
        <p class="lead connectivity-intro">
            "Checks whether calls and live streams can work from this device and network: your camera and "
            "microphone, the connection to the OnAir server, and the routes video can take between browsers."
        </p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                auth.user.get().map(|u| {
                    let signed_in = matches!(u, Ok(Some(_)));
                    view! { <ConnectivityTest signed_in/> }
                })
            }}
        </Transition>
    }
}

/// The verdict, the button and the rows; `signed_in` decides whether the WebSocket check can run.
#[component]
fn ConnectivityTest(signed_in: bool) -> impl IntoView {
    let started = RwSignal::new(false);
    let running = RwSignal::new(false);
    // A signed-out visitor sees the log-in prompt on the WebSocket row at once, not only after a run.
    let ws_initial = move || if signed_in { waiting::websocket() } else { websocket_finding(&WsOutcome::SignedOut) };
    let camera = RwSignal::new(waiting::camera());
    let ws = RwSignal::new(ws_initial());
    let direct = RwSignal::new(waiting::direct());
    let stun = RwSignal::new(waiting::stun());
    let turn = RwSignal::new(waiting::turn());
    let video = NodeRef::<leptos::html::Video>::new();

    let overall = Memo::new(move |_| {
        let rows = [camera.get(), ws.get(), direct.get(), stun.get(), turn.get()];
        verdict(&rows.iter().collect::<Vec<_>>(), started.get())
    });

    #[cfg(feature = "hydrate")]
    let start = {
        use crate::connectivity::{ice_findings, IceFindings, ICE_TIMEOUT_SECS, WS_TIMEOUT_SECS};
        use crate::rtc::media;
        use leptos::task::spawn_local;

        // The preview's stream, stopped on "Run again" and when the page goes away.
        let stream = StoredValue::new_local(None::<web_sys::MediaStream>);
        on_cleanup(move || {
            if let Some(s) = stream.try_update_value(Option::take).flatten() {
                media::stop(&s);
            }
        });
        move || {
            if running.get_untracked() {
                return;
            }
            running.set(true);
            started.set(true);
            if let Some(s) = stream.try_update_value(Option::take).flatten() {
                media::stop(&s);
            }
            camera.set(Finding::new(Status::Running, "Starting your camera and microphone…"));
            ws.set(ws_initial());
            direct.set(waiting::direct());
            stun.set(waiting::stun());
            turn.set(waiting::turn());
            spawn_local(async move {
                // 1. Camera and microphone.
                let found = match probe::camera().await {
                    Ok((s, finding)) => {
                        if let Some(el) = video.try_get_untracked().flatten() {
                            media::attach(&el, &s);
                        }
                        if let Some(Some(s)) = stream.try_set_value(Some(s)) {
                            // The page was left while the browser asked: turn the camera off again.
                            media::stop(&s);
                            return;
                        }
                        finding
                    }
                    Err(finding) => finding,
                };
                if camera.try_set(found).is_some() {
                    return;
                }
                // 2. The signaling WebSocket.
                if signed_in {
                    ws.set(Finding::new(Status::Running, "Connecting to the server…"));
                    let outcome = probe::websocket(WS_TIMEOUT_SECS * 1000).await;
                    if ws.try_set(websocket_finding(&outcome)).is_some() {
                        return;
                    }
                }
                // 3. STUN/TURN, with the servers calls use.
                for row in [direct, stun, turn] {
                    row.set(Finding::new(Status::Running, "Gathering network routes…"));
                }
                let findings = match crate::live::ice_servers().await {
                    Err(e) => Err(format!(
                        "Could not ask the server which STUN/TURN servers to use ({e}). Run the test again."
                    )),
                    Ok(servers) => match probe::ice(&servers, ICE_TIMEOUT_SECS * 1000).await {
                        Ok(outcome) => Ok(ice_findings(&servers, &outcome, signed_in)),
                        Err(e) => {
                            Err(format!("The browser could not start a WebRTC connection ({e}). Try another browser."))
                        }
                    },
                };
                let IceFindings { direct: d, stun: s, turn: t } = findings.unwrap_or_else(|message| IceFindings {
                    direct: Finding::failed(message.clone()),
                    stun: Finding::failed(message.clone()),
                    turn: Finding::failed(message),
                });
                direct.try_set(d);
                stun.try_set(s);
                turn.try_set(t);
                running.try_set(false);
            });
        }
    };
    #[cfg(not(feature = "hydrate"))]
    let start = || {};

    view! {
        <section class="card verdict" data-testid="verdict" data-status=move || overall.get().status.key()>
            <StatusBadge status=Signal::derive(move || overall.get().status)/>
            <p class="verdict-message" role="status">{move || overall.get().message}</p>
            <button type="button" class="btn" disabled=move || running.get() on:click=move |_| start()>
                {move || if started.get() { "Run again" } else { "Start test" }}
            </button>
        </section>
        <ol class="checks">
            <CheckRow title="Camera and microphone" id="camera" finding=camera>
                <video node_ref=video class="check-preview" autoplay=true muted=true playsinline=true
                    aria-label="Your camera preview" data-testid="camera-preview"
                    hidden=move || camera.with(|f| f.status != Status::Ok && f.status != Status::Warning)></video>
            </CheckRow>
            <CheckRow title="Connection to the server (WebSocket)" id="websocket" finding=ws/>
            <CheckRow title="Direct connections" id="direct" finding=direct/>
            <CheckRow title="Public address (STUN)" id="stun" finding=stun/>
            <CheckRow title="Relay (TURN)" id="turn" finding=turn/>
        </ol>
    }
}

/// A status pill ("OK", "Warning", ...), reusing the app's `.status` colours.
#[component]
fn StatusBadge(#[prop(into)] status: Signal<Status>) -> impl IntoView {
    let class = move || {
        let colour = match status.get() {
            Status::Waiting => "status-ended",
            Status::Running | Status::Warning => "status-connecting",
            Status::Ok => "status-connected",
            Status::Failed => "status-failed",
        };
        format!("status {colour}")
    };
    view! { <span class=class data-testid="status">{move || status.get().label()}</span> }
}

/// One check: badge, title, message, details, optional link, and `children` (the camera preview).
#[component]
fn CheckRow(
    title: &'static str,
    /// Suffix of `data-testid="check-<id>"`.
    id: &'static str,
    #[prop(into)] finding: Signal<Finding>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <li class="card check" data-testid=format!("check-{id}") data-status=move || finding.with(|f| f.status.key())>
            <div class="check-head">
                <StatusBadge status=Signal::derive(move || finding.with(|f| f.status))/>
                <h2>{title}</h2>
            </div>
            <p class="check-message">{move || finding.with(|f| f.message.clone())}</p>
            {move || {
                let details = finding.with(|f| f.details.clone());
                (!details.is_empty()).then(|| view! {
                    <ul class="check-details">
                        {details.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}
                    </ul>
                })
            }}
            {move || finding.with(|f| f.link).map(|link| view! {
                <A href=link.href attr:class="btn btn-ghost">{link.label}</A>
            })}
            {children.map(|c| c())}
        </li>
    }
}
