//! The browser half of the connection test (hydrate only): starts the camera, opens a one-shot `/ws`
//! connection, and gathers ICE candidates on a throw-away `RTCPeerConnection`. Each probe only records what
//! the browser reports; [`crate::connectivity`] turns that into words.

use crate::connectivity::{camera_finding, parse_candidate, Finding, Gathered, IceError, IceOutcome, WsOutcome};
use crate::rtc::{media, IceServer};
use crate::signaling::protocol::{ClientMsg, ServerMsg};
use crate::ui::clock::{deferred, resolve_after};
use js_sys::Reflect;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CloseEvent, MediaStream, MediaStreamTrack, MessageEvent, RtcPeerConnection, RtcPeerConnectionIceEvent,
    RtcSessionDescriptionInit, WebSocket,
};

/// `performance.now()` in milliseconds (0 when unavailable).
fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
}

/// A string field of a JS object (for event attributes web-sys 0.3.107 does not bind).
fn string_field(object: &JsValue, key: &str) -> Option<String> {
    Reflect::get(object, &JsValue::from_str(key)).ok().and_then(|v| v.as_string()).filter(|s| !s.is_empty())
}

/// Captures the default camera and microphone (prompting for permission) and names the devices. When
/// one of them is missing, captures the other alone, so the row can say which one is missing.
///
/// # Errors
/// A failed [`Finding`] with `rtc::media::MediaError`'s message (denied, not found, in use, ...), the same
/// words as on Go Live and the room pre-join screen.
pub async fn camera() -> Result<(MediaStream, Finding), Finding> {
    let stream = match media::capture(None, None).await {
        Ok(stream) => stream,
        Err(media::MediaError::NoDevice) => {
            // Only a camera (or only a microphone)? Then say which one is missing.
            let video = media::capture_track("video", None).await;
            let audio = media::capture_track("audio", None).await;
            let stream = MediaStream::new().map_err(|_| Finding::failed(media::MediaError::NoDevice.to_string()))?;
            for track in [&video, &audio].into_iter().flatten() {
                stream.add_track(track);
            }
            if video.is_err() && audio.is_err() {
                return Err(Finding::failed(media::MediaError::NoDevice.to_string()));
            }
            stream
        }
        Err(e) => return Err(Finding::failed(e.to_string())),
    };
    let label = |tracks: js_sys::Array| tracks.get(0).dyn_into::<MediaStreamTrack>().ok().map(|t| t.label());
    let video = label(stream.get_video_tracks());
    let audio = label(stream.get_audio_tracks());
    let finding = camera_finding(video.as_deref(), audio.as_deref());
    Ok((stream, finding))
}

/// Opens `/ws`, waits for `welcome`, sends one `ping` and times the `pong` (at most `timeout_ms` in all),
/// then closes the socket.
///
/// A direct `WebSocket` rather than the shared `signaling::client`: that client reconnects forever with
/// backoff (a refusal shows only as "reconnecting"), is shared by every component of the page and keeps its
/// socket open, while this check needs one fresh connection whose close code and timing it can report,
/// closed when done. It uses the client's URL, so both reach the same endpoint.
pub async fn websocket(timeout_ms: u32) -> WsOutcome {
    let ws = match WebSocket::new(&crate::signaling::client::ws_url()) {
        Ok(ws) => ws,
        Err(e) => return WsOutcome::Unavailable(crate::rtc::peer::describe(&e)),
    };
    let (promise, resolve) = deferred();
    let result: Rc<RefCell<Option<WsOutcome>>> = Rc::new(RefCell::new(None));
    let finish = {
        let result = result.clone();
        let resolve = resolve.clone();
        Rc::new(move |outcome: WsOutcome| {
            let mut slot = result.borrow_mut();
            if slot.is_none() {
                *slot = Some(outcome);
                let _ = resolve.call0(&JsValue::NULL);
            }
        })
    };
    // When the ping went out (`None` until `welcome`), and its nonce.
    let ping_sent: Rc<Cell<Option<f64>>> = Rc::new(Cell::new(None));
    let nonce = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;

    let on_message = {
        let (ws, finish, ping_sent) = (ws.clone(), finish.clone(), ping_sent.clone());
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else { return };
            match serde_json::from_str::<ServerMsg>(&text) {
                Ok(ServerMsg::Welcome { .. }) if ping_sent.get().is_none() => {
                    ping_sent.set(Some(now_ms()));
                    if let Ok(ping) = serde_json::to_string(&ClientMsg::Ping { nonce }) {
                        let _ = ws.send_with_str(&ping);
                    }
                }
                Ok(ServerMsg::Pong { nonce: n }) if n == nonce => {
                    if let Some(sent) = ping_sent.get() {
                        finish(WsOutcome::Connected { round_trip_ms: now_ms() - sent });
                    }
                }
                _ => {}
            }
        })
    };
    let on_close = {
        let (finish, ping_sent) = (finish.clone(), ping_sent.clone());
        Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            finish(WsOutcome::Closed { code: e.code(), reason: e.reason(), welcomed: ping_sent.get().is_some() });
        })
    };
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    // The timer only resolves the promise (no Rust closure to keep alive); no result by then is a timeout.
    resolve_after(&resolve, timeout_ms);

    let _ = JsFuture::from(promise).await;
    ws.set_onmessage(None);
    ws.set_onclose(None);
    let _ = ws.close_with_code(1000);
    let outcome = result.borrow_mut().take();
    outcome.unwrap_or_else(|| if ping_sent.get().is_some() { WsOutcome::NoPong } else { WsOutcome::TimedOut })
}

/// Gathers ICE candidates with `servers` on a throw-away `RTCPeerConnection` (a data channel so that
/// gathering starts; `createOffer` + `setLocalDescription`) until gathering completes or `timeout_ms`
/// passes; records candidates with the server URL that produced them and `icecandidateerror` events.
///
/// # Errors
/// The browser's exception text when the connection cannot be made (e.g. a malformed ICE server URL) or
/// the offer fails.
pub async fn ice(servers: &[IceServer], timeout_ms: u32) -> Result<IceOutcome, String> {
    let describe = |e: JsValue| crate::rtc::peer::describe(&e);
    let pc = RtcPeerConnection::new_with_configuration(&crate::rtc::peer::configuration(servers)).map_err(describe)?;
    let outcome = Rc::new(RefCell::new(IceOutcome::default()));
    let (promise, resolve) = deferred();

    let on_candidate = {
        let (outcome, resolve) = (outcome.clone(), resolve.clone());
        Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(move |e: RtcPeerConnectionIceEvent| match e.candidate() {
            Some(c) => {
                if let Some(candidate) = parse_candidate(&c.candidate()) {
                    // `RTCPeerConnectionIceEvent.url` (the STUN/TURN server it came from), or the newer
                    // `RTCIceCandidate.url`.
                    let url = string_field(&e, "url").or_else(|| string_field(&c, "url"));
                    outcome.borrow_mut().candidates.push(Gathered { candidate, url });
                }
            }
            // The null candidate: gathering is complete.
            None => {
                outcome.borrow_mut().completed = true;
                let _ = resolve.call0(&JsValue::NULL);
            }
        })
    };
    let on_error = {
        let outcome = outcome.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            let code = Reflect::get(&e, &JsValue::from_str("errorCode")).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
            outcome.borrow_mut().errors.push(IceError {
                code: code.clamp(0.0, u16::MAX as f64) as u16,
                text: string_field(&e, "errorText").unwrap_or_default(),
                url: string_field(&e, "url").unwrap_or_default(),
            });
        })
    };
    pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
    let _ = pc.add_event_listener_with_callback("icecandidateerror", on_error.as_ref().unchecked_ref());

    let started = async {
        let _channel = pc.create_data_channel("connectivity-test");
        let offer = JsFuture::from(pc.create_offer()).await.map_err(describe)?;
        let offer: RtcSessionDescriptionInit = offer.unchecked_into();
        JsFuture::from(pc.set_local_description(&offer)).await.map_err(describe)?;
        Ok::<(), String>(())
    }
    .await;
    if started.is_ok() {
        resolve_after(&resolve, timeout_ms);
        let _ = JsFuture::from(promise).await;
    }
    pc.set_onicecandidate(None);
    let _ = pc.remove_event_listener_with_callback("icecandidateerror", on_error.as_ref().unchecked_ref());
    pc.close();
    started?;
    let result = outcome.borrow().clone();
    Ok(result)
}
