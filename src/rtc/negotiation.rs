//! Perfect negotiation, candidate queueing and ICE restart as a pure state machine (no web-sys, all targets).
//!
//! This module owns the *decisions* of offer/answer signaling for one peer connection; the browser driver
//! ([`super::peer`], WASM only) owns the *effects*. It follows the W3C webrtc-pc "perfect negotiation" example
//! (the "Perfect Negotiation Example" of W3C webrtc-pc) on top of JSEP (RFC 8829): both sides may offer at any
//! time; on an offer collision ("glare") the *impolite* side ignores the incoming offer and the *polite* side
//! rolls its own offer back and answers. Remote trickle-ICE candidates (RFC 8838) that arrive before any
//! remote description are queued and added, in arrival order, right after the remote description is set.
//! ICE restart (RFC 8445 §2.4) is done by the impolite (offering, publishing) side with
//! `RTCPeerConnection.restartIce()`; the polite (receive-only) side asks for it with [`Signal::RestartIce`].
//!
//! # Driving it
//! Feed an [`Input`] to [`Negotiator::handle`] and execute the returned [`Action`]s in order. Most actions
//! are fire-and-forget; a *description action* ([`Action::SetLocalDescription`], [`Action::Rollback`],
//! [`Action::SetRemoteDescription`]) is always the last of its list, and once its promise settles the driver
//! feeds exactly one completion ([`Input::LocalDescriptionSet`], [`Input::RolledBack`],
//! [`Input::RemoteDescriptionSet`], or [`Input::OperationFailed`]) and executes what that returns, and so on.
//! Inputs fed while a description action is outstanding are deferred inside the negotiator and replayed, in
//! order, after its completion, so signals are processed strictly in arrival order even if the driver
//! forgets to serialize them.

use crate::signaling::protocol::Signal;
use std::collections::VecDeque;

/// The type of an SDP description in an offer/answer exchange (RFC 8829; `RTCSdpType` without
/// `pranswer`, which this application never uses, and `rollback`, which is [`Action::Rollback`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpKind {
    /// `"offer"`.
    Offer,
    /// `"answer"`.
    Answer,
}

/// The negotiator's view of `RTCPeerConnection.signalingState` (RFC 8829, W3C webrtc-pc `RTCSignalingState`), updated
/// from the completions the driver reports. The `*-pranswer` states are never entered; `closed` is the
/// driver's business.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignalingState {
    /// No offer/answer exchange in progress (`"stable"`).
    #[default]
    Stable,
    /// Our offer is the local description, waiting for an answer (`"have-local-offer"`).
    HaveLocalOffer,
    /// The remote offer is set, our answer is not yet (`"have-remote-offer"`).
    HaveRemoteOffer,
}

/// One remote ICE candidate in the shape of W3C `RTCIceCandidateInit` (RFC 8839 `candidate-attribute`
/// without the `a=` prefix, e.g. `"candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The `candidate:` attribute value.
    pub candidate: String,
    /// Media stream id (`a=mid`) the candidate belongs to.
    pub sdp_mid: Option<String>,
    /// Zero-based index of the m= section the candidate belongs to.
    pub sdp_m_line_index: Option<u16>,
    /// ICE ufrag of the generation that gathered it; lets the receiver drop candidates of an old generation
    /// after an ICE restart.
    pub username_fragment: Option<String>,
}

impl From<Candidate> for Signal {
    fn from(c: Candidate) -> Signal {
        Signal::Candidate {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_m_line_index: c.sdp_m_line_index,
            username_fragment: c.username_fragment,
        }
    }
}

/// Something that happened: a browser event, a remote signal, a request, or the completion of a
/// description action. See the module docs for the order in which the driver feeds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// `RTCPeerConnection`'s `negotiationneeded` event fired (tracks added, ICE restart requested).
    /// Acted on only in `stable` with no offer being made; otherwise dropped, because the browser fires the
    /// event again when it returns to `stable` and negotiation is still needed (webrtc-pc, "update the negotiation-needed flag").
    NegotiationNeeded,
    /// A signal relayed from the remote peer, in the order it arrived.
    Remote(Signal),
    /// Completion of [`Action::SetLocalDescription`]: the implicit description the browser created and set
    /// (`pc.localDescription.type` and `.sdp`).
    LocalDescriptionSet {
        /// Offer when it was created in `stable`, answer in `have-remote-offer`.
        kind: SdpKind,
        /// The SDP text to send to the remote peer.
        sdp: String,
    },
    /// Completion of [`Action::SetRemoteDescription`].
    RemoteDescriptionSet,
    /// Completion of [`Action::Rollback`].
    RolledBack,
    /// The outstanding description action's promise rejected (the DOMException's name and message, for
    /// logs). The signaling state is left as it was before that action, as the browser leaves it.
    OperationFailed(String),
    /// The connection failed (`connectionState == "failed"`). Starts a failure episode; only the first
    /// `IceFailed` of an episode triggers an automatic ICE restart.
    IceFailed,
    /// The connection reached `connectionState == "connected"`; ends a failure episode.
    Connected,
    /// The application asks for an ICE restart (e.g. the person pressed *Retry*): always acted on, in the
    /// peer's role (see [`Negotiator::new`]).
    RestartIceRequested,
}

impl Input {
    fn is_completion(&self) -> bool {
        matches!(
            self,
            Input::LocalDescriptionSet { .. }
                | Input::RemoteDescriptionSet
                | Input::RolledBack
                | Input::OperationFailed(_)
        )
    }
}

/// Something for the driver to do, in list order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this signal to the remote peer (fire-and-forget).
    Send(Signal),
    /// Call `pc.restartIce()` (W3C webrtc-pc; RFC 8445 §2.4): the browser marks the ICE credentials for
    /// renewal and fires `negotiationneeded`, which leads to an offer with a new ufrag/pwd.
    RestartIce,
    /// Await `pc.addIceCandidate(candidate)`; `None` is end-of-candidates (`addIceCandidate({candidate:""})`,
    /// RFC 8838). No completion is fed back. When `may_fail` is true the candidate arrived while an
    /// offer was being ignored (glare, impolite side) and a rejection is expected: drop it silently, as the
    /// W3C example does; otherwise log the rejection.
    AddIceCandidate {
        /// The candidate, or `None` for end-of-candidates.
        candidate: Option<Candidate>,
        /// Whether a rejection is expected and must not be reported.
        may_fail: bool,
    },
    /// Await `pc.setLocalDescription()` with no argument (the implicit description: an offer in `stable`, an
    /// answer in `have-remote-offer`), then feed [`Input::LocalDescriptionSet`] with `pc.localDescription`,
    /// or [`Input::OperationFailed`].
    SetLocalDescription,
    /// Await `pc.setLocalDescription({type: "rollback"})` (JSEP rollback, RFC 8829), then feed
    /// [`Input::RolledBack`] or [`Input::OperationFailed`].
    Rollback,
    /// Await `pc.setRemoteDescription({type, sdp})`, then feed [`Input::RemoteDescriptionSet`] or
    /// [`Input::OperationFailed`].
    SetRemoteDescription {
        /// Offer or answer.
        kind: SdpKind,
        /// The remote SDP, verbatim.
        sdp: String,
    },
}

impl Action {
    /// Whether the driver must feed a completion input after executing this action.
    pub fn needs_completion(&self) -> bool {
        matches!(self, Action::SetLocalDescription | Action::Rollback | Action::SetRemoteDescription { .. })
    }
}

/// The description action whose completion is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Local,
    Rollback,
    Remote(SdpKind),
}

/// Perfect-negotiation state of one peer connection (one per remote peer). Cheap, synchronous, no I/O.
#[derive(Debug)]
pub struct Negotiator {
    polite: bool,
    signaling: SignalingState,
    /// W3C example's `makingOffer`: our implicit `setLocalDescription()` in `stable` is in flight.
    making_offer: bool,
    /// W3C example's `ignoreOffer`: the last remote description was an offer we ignored (impolite, glare).
    ignore_offer: bool,
    pending: Option<Pending>,
    /// The remote offer to apply once the rollback of our own offer completes (polite side, glare).
    offer_after_rollback: Option<String>,
    has_remote_description: bool,
    /// Remote candidates received before any remote description: (candidate, may_fail), arrival order.
    queued_candidates: Vec<(Option<Candidate>, bool)>,
    /// Inputs received while a description action was outstanding, arrival order.
    deferred: VecDeque<Input>,
    /// An automatic ICE restart was already attempted in the current failure episode.
    restarted_this_episode: bool,
}

impl Negotiator {
    /// A negotiator in `stable` with nothing set. `polite`: true for the side that yields on glare and asks
    /// the other side to restart ICE (the receive-only viewer); false for the side that wins glare and
    /// restarts ICE itself (the publisher). In a mesh call the two ends must pick opposite roles, e.g. by
    /// comparing peer ids.
    pub fn new(polite: bool) -> Self {
        Negotiator {
            polite,
            signaling: SignalingState::Stable,
            making_offer: false,
            ignore_offer: false,
            pending: None,
            offer_after_rollback: None,
            has_remote_description: false,
            queued_candidates: Vec::new(),
            deferred: VecDeque::new(),
            restarted_this_episode: false,
        }
    }

    /// Whether this side is the polite one (see [`Negotiator::new`]).
    pub fn is_polite(&self) -> bool {
        self.polite
    }

    /// The signaling state as of the last completion fed back.
    pub fn signaling_state(&self) -> SignalingState {
        self.signaling
    }

    /// Whether a description action is outstanding (its completion not yet fed).
    pub fn is_busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Processes one input and returns the actions to execute, in order (possibly none). Never panics:
    /// inputs that make no sense in the current state (an answer outside `have-local-offer`, a completion
    /// that matches no outstanding action) are ignored.
    #[must_use = "the actions must be executed"]
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        if input.is_completion() {
            self.complete(input, &mut out);
        } else if self.pending.is_some() {
            self.deferred.push_back(input);
            return out;
        } else {
            self.start(input, &mut out);
        }
        while self.pending.is_none() {
            let Some(next) = self.deferred.pop_front() else { break };
            self.start(next, &mut out);
        }
        out
    }

    /// An input that is not a completion, with no description action outstanding.
    fn start(&mut self, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::NegotiationNeeded => {
                if self.signaling == SignalingState::Stable && !self.making_offer {
                    self.making_offer = true;
                    self.pending = Some(Pending::Local);
                    out.push(Action::SetLocalDescription);
                }
            }
            Input::Remote(Signal::Offer { sdp }) => {
                let collision = self.making_offer || self.signaling != SignalingState::Stable;
                self.ignore_offer = !self.polite && collision;
                if self.ignore_offer {
                    return;
                }
                if self.signaling == SignalingState::HaveLocalOffer {
                    self.offer_after_rollback = Some(sdp);
                    self.pending = Some(Pending::Rollback);
                    out.push(Action::Rollback);
                } else {
                    self.pending = Some(Pending::Remote(SdpKind::Offer));
                    out.push(Action::SetRemoteDescription { kind: SdpKind::Offer, sdp });
                }
            }
            Input::Remote(Signal::Answer { sdp }) => {
                // An answer is only valid for our outstanding offer; anything else (a duplicate, or one that
                // crossed a rollback) would make setRemoteDescription reject, so it is dropped here.
                if self.signaling == SignalingState::HaveLocalOffer {
                    self.ignore_offer = false;
                    self.pending = Some(Pending::Remote(SdpKind::Answer));
                    out.push(Action::SetRemoteDescription { kind: SdpKind::Answer, sdp });
                }
            }
            Input::Remote(Signal::Candidate { candidate, sdp_mid, sdp_m_line_index, username_fragment }) => {
                let candidate = Candidate { candidate, sdp_mid, sdp_m_line_index, username_fragment };
                self.add_candidate(Some(candidate), out);
            }
            Input::Remote(Signal::EndOfCandidates) => self.add_candidate(None, out),
            Input::Remote(Signal::RestartIce) => out.push(Action::RestartIce),
            // Not part of negotiation: the driver applies it to the video sender (see `peer::Peer::handle`).
            Input::Remote(Signal::PreferredLayer { .. }) => {}
            Input::IceFailed => {
                if !self.restarted_this_episode {
                    self.restarted_this_episode = true;
                    self.restart(out);
                }
            }
            Input::Connected => self.restarted_this_episode = false,
            Input::RestartIceRequested => self.restart(out),
            // Completions are routed to `complete` by `handle`.
            Input::LocalDescriptionSet { .. }
            | Input::RemoteDescriptionSet
            | Input::RolledBack
            | Input::OperationFailed(_) => {}
        }
    }

    fn add_candidate(&mut self, candidate: Option<Candidate>, out: &mut Vec<Action>) {
        let may_fail = self.ignore_offer;
        if self.has_remote_description {
            out.push(Action::AddIceCandidate { candidate, may_fail });
        } else {
            self.queued_candidates.push((candidate, may_fail));
        }
    }

    fn restart(&mut self, out: &mut Vec<Action>) {
        if self.polite {
            out.push(Action::Send(Signal::RestartIce));
        } else {
            out.push(Action::RestartIce);
        }
    }

    fn complete(&mut self, input: Input, out: &mut Vec<Action>) {
        match (self.pending, input) {
            (Some(Pending::Local), Input::LocalDescriptionSet { kind, sdp }) => {
                self.pending = None;
                self.making_offer = false;
                match kind {
                    SdpKind::Offer => {
                        self.signaling = SignalingState::HaveLocalOffer;
                        out.push(Action::Send(Signal::Offer { sdp }));
                    }
                    SdpKind::Answer => {
                        self.signaling = SignalingState::Stable;
                        out.push(Action::Send(Signal::Answer { sdp }));
                    }
                }
            }
            (Some(Pending::Rollback), Input::RolledBack) => {
                self.pending = None;
                self.signaling = SignalingState::Stable;
                if let Some(sdp) = self.offer_after_rollback.take() {
                    self.pending = Some(Pending::Remote(SdpKind::Offer));
                    out.push(Action::SetRemoteDescription { kind: SdpKind::Offer, sdp });
                }
            }
            (Some(Pending::Remote(kind)), Input::RemoteDescriptionSet) => {
                self.pending = None;
                self.has_remote_description = true;
                for (candidate, may_fail) in self.queued_candidates.drain(..) {
                    out.push(Action::AddIceCandidate { candidate, may_fail });
                }
                match kind {
                    SdpKind::Offer => {
                        self.signaling = SignalingState::HaveRemoteOffer;
                        self.pending = Some(Pending::Local);
                        out.push(Action::SetLocalDescription);
                    }
                    SdpKind::Answer => self.signaling = SignalingState::Stable,
                }
            }
            (Some(_), Input::OperationFailed(_)) => {
                // The browser leaves the signaling state unchanged when a description operation fails.
                self.pending = None;
                self.making_offer = false;
                self.offer_after_rollback = None;
            }
            // No outstanding action, or a completion of another kind: a driver bug; ignore it.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! Two negotiators driven against `FakePc`, a test double of `RTCPeerConnection`'s JSEP signaling-state
    //! machine (offer/answer/rollback rules, negotiation-needed, ICE ufrag generations and trickle
    //! candidates). The real browser is exercised by the Playwright tests.

    use super::*;

    #[derive(Debug)]
    enum Event {
        NegotiationNeeded,
        IceCandidate(Option<Candidate>),
    }

    fn ufrag_of(sdp: &str) -> &str {
        sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).expect("sdp has a ufrag")
    }

    fn tracks_of(sdp: &str) -> u32 {
        sdp.lines().find_map(|l| l.strip_prefix("a=x-tracks:")).expect("sdp has tracks").parse().unwrap()
    }

    /// JSEP signaling-state rules of `RTCPeerConnection`, without media.
    struct FakePc {
        name: &'static str,
        state: SignalingState,
        /// Local ICE generation (the ufrag is `<name><generation>`).
        generation: u32,
        gathered_generation: Option<u32>,
        restart_ice_flag: bool,
        tracks: u32,
        offered_tracks: u32,
        negotiated_tracks: u32,
        remote_sdp: Option<String>,
        last_answered_remote_ufrag: Option<String>,
        negotiation_needed_queued: bool,
        events: VecDeque<Event>,
        added: Vec<Option<Candidate>>,
        rollbacks: u32,
        /// Every operation, in order, for ordering assertions.
        log: Vec<String>,
    }

    impl FakePc {
        fn new(name: &'static str) -> Self {
            FakePc {
                name,
                state: SignalingState::Stable,
                generation: 1,
                gathered_generation: None,
                restart_ice_flag: false,
                tracks: 0,
                offered_tracks: 0,
                negotiated_tracks: 0,
                remote_sdp: None,
                last_answered_remote_ufrag: None,
                negotiation_needed_queued: false,
                events: VecDeque::new(),
                added: Vec::new(),
                rollbacks: 0,
                log: Vec::new(),
            }
        }

        fn ufrag(&self) -> String {
            format!("{}{}", self.name, self.generation)
        }

        fn sdp(&self, kind: &str) -> String {
            format!("v=0\r\na=x-type:{kind}\r\na=ice-ufrag:{}\r\na=x-tracks:{}\r\n", self.ufrag(), self.tracks)
        }

        fn needs_negotiation(&self) -> bool {
            self.state == SignalingState::Stable && (self.tracks > self.negotiated_tracks || self.restart_ice_flag)
        }

        /// webrtc-pc "update the negotiation-needed flag": queue the event when it becomes needed in stable.
        fn update_negotiation_needed(&mut self) {
            if self.needs_negotiation() && !self.negotiation_needed_queued {
                self.negotiation_needed_queued = true;
                self.events.push_back(Event::NegotiationNeeded);
            }
        }

        fn gather(&mut self) {
            if self.gathered_generation != Some(self.generation) {
                self.gathered_generation = Some(self.generation);
                let ufrag = self.ufrag();
                self.events.push_back(Event::IceCandidate(Some(Candidate {
                    candidate: format!(
                        "candidate:{} 1 udp 2122260223 192.0.2.1 {} typ host",
                        self.name,
                        50000 + self.generation
                    ),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                    username_fragment: Some(ufrag),
                })));
                self.events.push_back(Event::IceCandidate(None));
            }
        }

        fn add_track(&mut self) {
            self.tracks += 1;
            self.update_negotiation_needed();
        }

        fn restart_ice(&mut self) {
            self.log.push("restartIce".into());
            self.restart_ice_flag = true;
            self.update_negotiation_needed();
        }

        /// `setLocalDescription()` with the implicit description.
        fn set_local_description(&mut self) -> Result<(SdpKind, String), String> {
            self.log.push("setLocalDescription".into());
            match self.state {
                SignalingState::Stable => {
                    if self.restart_ice_flag {
                        self.restart_ice_flag = false;
                        self.generation += 1;
                    }
                    self.offered_tracks = self.tracks;
                    self.state = SignalingState::HaveLocalOffer;
                    let sdp = self.sdp("offer");
                    self.gather();
                    Ok((SdpKind::Offer, sdp))
                }
                SignalingState::HaveRemoteOffer => {
                    // RFC 8445 §2.4 / RFC 8839: an offer with new credentials is an ICE restart, and
                    // the answer must carry new credentials too.
                    let remote_ufrag = ufrag_of(self.remote_sdp.as_deref().unwrap()).to_string();
                    if self.last_answered_remote_ufrag.as_ref().is_some_and(|u| *u != remote_ufrag) {
                        self.generation += 1;
                    }
                    self.last_answered_remote_ufrag = Some(remote_ufrag);
                    self.state = SignalingState::Stable;
                    let sdp = self.sdp("answer");
                    self.gather();
                    self.update_negotiation_needed();
                    Ok((SdpKind::Answer, sdp))
                }
                SignalingState::HaveLocalOffer => Err("InvalidStateError: already have a local offer".into()),
            }
        }

        fn rollback(&mut self) -> Result<(), String> {
            self.log.push("rollback".into());
            if self.state != SignalingState::HaveLocalOffer {
                return Err("InvalidStateError: nothing to roll back".into());
            }
            self.state = SignalingState::Stable;
            self.rollbacks += 1;
            if self.remote_sdp.is_none() {
                // Rolling back the very first offer discards the ICE transport it created; the next
                // description gathers again with new credentials.
                self.generation += 1;
            }
            self.update_negotiation_needed();
            Ok(())
        }

        fn set_remote_description(&mut self, kind: SdpKind, sdp: &str) -> Result<(), String> {
            self.log.push(format!("setRemoteDescription({kind:?})"));
            match (kind, self.state) {
                // Implicit rollback is deliberately not modelled: the negotiator must roll back explicitly.
                (SdpKind::Offer, SignalingState::Stable | SignalingState::HaveRemoteOffer) => {
                    self.state = SignalingState::HaveRemoteOffer;
                    self.remote_sdp = Some(sdp.to_string());
                    Ok(())
                }
                (SdpKind::Answer, SignalingState::HaveLocalOffer) => {
                    self.state = SignalingState::Stable;
                    self.negotiated_tracks = self.offered_tracks;
                    self.remote_sdp = Some(sdp.to_string());
                    self.update_negotiation_needed();
                    Ok(())
                }
                _ => Err(format!("InvalidStateError: cannot set remote {kind:?} in {:?}", self.state)),
            }
        }

        fn add_ice_candidate(&mut self, candidate: Option<Candidate>) -> Result<(), String> {
            self.log.push(format!(
                "addIceCandidate({})",
                candidate.as_ref().map_or("end".to_string(), |c| c.candidate.clone())
            ));
            let Some(remote) = &self.remote_sdp else {
                return Err("InvalidStateError: no remote description".into());
            };
            if let Some(Candidate { username_fragment: Some(u), .. }) = &candidate {
                if u != ufrag_of(remote) {
                    return Err(format!("OperationError: unknown ufrag {u}"));
                }
            }
            self.added.push(candidate);
            Ok(())
        }
    }

    struct Side {
        neg: Negotiator,
        pc: FakePc,
        outbox: VecDeque<Signal>,
        sent: Vec<Signal>,
        actions: Vec<Action>,
        unexpected_errors: Vec<String>,
    }

    impl Side {
        fn new(name: &'static str, polite: bool) -> Self {
            Side {
                neg: Negotiator::new(polite),
                pc: FakePc::new(name),
                outbox: VecDeque::new(),
                sent: Vec::new(),
                actions: Vec::new(),
                unexpected_errors: Vec::new(),
            }
        }

        fn send(&mut self, signal: Signal) {
            self.sent.push(signal.clone());
            self.outbox.push_back(signal);
        }

        /// What `peer.rs` does: run the actions, feeding completions back, until none is outstanding.
        fn feed(&mut self, input: Input) {
            let mut todo: VecDeque<Action> = self.neg.handle(input).into();
            while let Some(action) = todo.pop_front() {
                self.actions.push(action.clone());
                let completion = match action {
                    Action::Send(signal) => {
                        self.send(signal);
                        None
                    }
                    Action::RestartIce => {
                        self.pc.restart_ice();
                        None
                    }
                    Action::AddIceCandidate { candidate, may_fail } => {
                        if let Err(e) = self.pc.add_ice_candidate(candidate) {
                            if !may_fail {
                                self.unexpected_errors.push(e);
                            }
                        }
                        None
                    }
                    Action::SetLocalDescription => Some(match self.pc.set_local_description() {
                        Ok((kind, sdp)) => Input::LocalDescriptionSet { kind, sdp },
                        Err(e) => Input::OperationFailed(e),
                    }),
                    Action::Rollback => Some(match self.pc.rollback() {
                        Ok(()) => Input::RolledBack,
                        Err(e) => Input::OperationFailed(e),
                    }),
                    Action::SetRemoteDescription { kind, sdp } => {
                        Some(match self.pc.set_remote_description(kind, &sdp) {
                            Ok(()) => Input::RemoteDescriptionSet,
                            Err(e) => Input::OperationFailed(e),
                        })
                    }
                };
                if let Some(completion) = completion {
                    assert!(todo.is_empty(), "a description action must be the last of its list");
                    if let Input::OperationFailed(e) = &completion {
                        self.unexpected_errors.push(e.clone());
                    }
                    todo.extend(self.neg.handle(completion));
                }
            }
        }

        /// Fires queued browser events: `negotiationneeded` (re-checked at fire time, as the browser does)
        /// and `icecandidate` (sent straight to the remote, as `peer.rs` does). Returns whether any fired.
        fn fire_events(&mut self) -> bool {
            let mut fired = false;
            while let Some(event) = self.pc.events.pop_front() {
                fired = true;
                match event {
                    Event::NegotiationNeeded => {
                        self.pc.negotiation_needed_queued = false;
                        if self.pc.needs_negotiation() {
                            self.feed(Input::NegotiationNeeded);
                        }
                    }
                    Event::IceCandidate(Some(c)) => self.send(c.into()),
                    Event::IceCandidate(None) => self.send(Signal::EndOfCandidates),
                }
            }
            fired
        }

        fn offers_sent(&self) -> usize {
            self.sent.iter().filter(|s| matches!(s, Signal::Offer { .. })).count()
        }

        fn answers_sent(&self) -> usize {
            self.sent.iter().filter(|s| matches!(s, Signal::Answer { .. })).count()
        }

        fn assert_settled(&self) {
            assert_eq!(self.pc.state, SignalingState::Stable, "{} browser state", self.pc.name);
            assert_eq!(self.neg.signaling_state(), SignalingState::Stable, "{} negotiator state", self.pc.name);
            assert!(!self.neg.is_busy(), "{} still busy", self.pc.name);
            assert!(self.unexpected_errors.is_empty(), "{}: {:?}", self.pc.name, self.unexpected_errors);
            assert_eq!(self.pc.negotiated_tracks, self.pc.tracks, "{} tracks negotiated", self.pc.name);
        }
    }

    /// `a` is the impolite publisher, `b` the polite viewer; the signaling channel is ordered per direction.
    struct World {
        a: Side,
        b: Side,
    }

    impl World {
        fn new() -> Self {
            World { a: Side::new("a", false), b: Side::new("b", true) }
        }

        /// Delivers one message each way per round, firing browser events in between, until quiet.
        /// Panics if it does not settle (deadlock-free: it either goes quiet or loops forever).
        fn run(&mut self) {
            for _ in 0..200 {
                let mut progress = self.a.fire_events() | self.b.fire_events();
                if let Some(signal) = self.a.outbox.pop_front() {
                    self.b.feed(Input::Remote(signal));
                    progress = true;
                }
                if let Some(signal) = self.b.outbox.pop_front() {
                    self.a.feed(Input::Remote(signal));
                    progress = true;
                }
                if !progress {
                    return;
                }
            }
            panic!("negotiation did not settle (livelock)");
        }

        fn connect(&mut self) {
            self.a.pc.add_track();
            self.a.pc.add_track();
            self.run();
            self.a.assert_settled();
            self.b.assert_settled();
        }
    }

    fn positions(log: &[String], prefix: &str) -> Vec<usize> {
        log.iter().enumerate().filter(|(_, l)| l.starts_with(prefix)).map(|(i, _)| i).collect()
    }

    #[test]
    fn plain_offer_answer_ends_stable_with_candidates_exchanged() {
        let mut w = World::new();
        w.connect();
        assert_eq!((w.a.offers_sent(), w.b.answers_sent()), (1, 1));
        assert_eq!((w.b.offers_sent(), w.a.answers_sent()), (0, 0));
        // Each side added the other's candidate and its end-of-candidates.
        assert_eq!(w.b.pc.added.len(), 2);
        assert_eq!(w.b.pc.added[0].as_ref().unwrap().username_fragment.as_deref(), Some("a1"));
        assert_eq!(w.b.pc.added[1], None);
        assert_eq!(w.a.pc.added.len(), 2);
        assert_eq!(w.a.pc.added[0].as_ref().unwrap().username_fragment.as_deref(), Some("b1"));
        assert_eq!(tracks_of(w.b.pc.remote_sdp.as_deref().unwrap()), 2);
        assert_eq!(w.a.pc.rollbacks + w.b.pc.rollbacks, 0);
    }

    #[test]
    fn early_candidates_are_queued_and_added_in_order_after_the_remote_description() {
        let mut w = World::new();
        w.a.pc.add_track();
        w.a.fire_events();
        // The offer, then two trickled signals. Deliver the candidates first (out of order).
        let mut out: Vec<Signal> = w.a.outbox.drain(..).collect();
        assert!(matches!(out[0], Signal::Offer { .. }), "{out:?}");
        let offer = out.remove(0);
        let extra = Candidate {
            candidate: "candidate:2 1 udp 1686052607 198.51.100.7 40000 typ srflx".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        };
        out.insert(1, extra.clone().into());
        let expected: Vec<Option<Candidate>> = out
            .iter()
            .map(|s| match s.clone() {
                Signal::Candidate { candidate, sdp_mid, sdp_m_line_index, username_fragment } => {
                    Some(Candidate { candidate, sdp_mid, sdp_m_line_index, username_fragment })
                }
                Signal::EndOfCandidates => None,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(expected.len(), 3);
        for signal in out {
            w.b.feed(Input::Remote(signal));
        }
        assert!(w.b.actions.is_empty(), "nothing may be added before the remote description: {:?}", w.b.actions);
        assert!(w.b.pc.log.is_empty());

        w.b.feed(Input::Remote(offer));
        assert_eq!(w.b.pc.added, expected, "queued candidates added in arrival order");
        let log = &w.b.pc.log;
        let srd = positions(log, "setRemoteDescription")[0];
        let adds = positions(log, "addIceCandidate");
        let sld = positions(log, "setLocalDescription")[0];
        assert_eq!(adds.len(), 3);
        assert!(adds.iter().all(|&i| srd < i && i < sld), "{log:?}");

        // Candidates after the remote description go straight through.
        w.run();
        w.a.assert_settled();
        w.b.assert_settled();
        assert_eq!(w.a.pc.added.len(), 2);
    }

    #[test]
    fn glare_polite_side_rolls_back_and_answers_then_both_settle() {
        let mut w = World::new();
        // Both need negotiation at the same moment; both offers are sent before either arrives.
        w.a.pc.add_track();
        w.b.pc.add_track();
        w.a.fire_events();
        w.b.fire_events();
        assert_eq!(w.a.pc.state, SignalingState::HaveLocalOffer);
        assert_eq!(w.b.pc.state, SignalingState::HaveLocalOffer);

        w.run();
        w.a.assert_settled();
        w.b.assert_settled();

        // The polite side rolled back once and answered; the impolite side ignored the crossing offer.
        assert_eq!(w.b.pc.rollbacks, 1);
        assert_eq!(w.a.pc.rollbacks, 0);
        let a_log = &w.a.pc.log;
        let b_log = &w.b.pc.log;
        assert_eq!(
            b_log[..4],
            ["setLocalDescription", "rollback", "setRemoteDescription(Offer)", "setLocalDescription"]
        );
        assert_eq!(a_log[1], "setRemoteDescription(Answer)", "impolite ignored the offer: {a_log:?}");
        // Afterwards the polite side's own track was negotiated with a fresh offer that the impolite side answered.
        assert_eq!(w.b.offers_sent(), 2);
        assert_eq!(w.a.answers_sent(), 1);
        assert_eq!(w.a.offers_sent(), 1);
        assert_eq!(w.b.answers_sent(), 1);
        // The candidates of the rolled-back offer (ufrag b1) reached the impolite side while it ignored that
        // offer: they were queued with `may_fail` and their rejection stayed quiet (`assert_settled` checks
        // that no unexpected error occurred); the answer's own candidates (ufrag b2) were added.
        let ufrags: Vec<_> = w.a.pc.added.iter().flatten().filter_map(|c| c.username_fragment.clone()).collect();
        assert_eq!(ufrags, ["b2"]);
        assert!(w.a.actions.contains(&Action::AddIceCandidate {
            candidate: Some(Candidate {
                candidate: "candidate:b 1 udp 2122260223 192.0.2.1 50001 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: Some("b1".into()),
            }),
            may_fail: true,
        }));
    }

    #[test]
    fn glare_in_renegotiation_also_settles() {
        let mut w = World::new();
        w.connect();
        w.b.pc.add_track();
        w.run();
        w.a.assert_settled();
        w.b.assert_settled();
        // Now both add a track at once.
        w.a.pc.add_track();
        w.b.pc.add_track();
        w.a.fire_events();
        w.b.fire_events();
        w.run();
        w.a.assert_settled();
        w.b.assert_settled();
        assert_eq!(w.b.pc.rollbacks, 1);
        assert_eq!(w.a.pc.rollbacks, 0);
    }

    #[test]
    fn ice_failure_on_the_publisher_restarts_ice_once_per_episode() {
        let mut w = World::new();
        w.connect();
        w.a.feed(Input::Connected);
        w.b.feed(Input::Connected);

        w.a.feed(Input::IceFailed);
        assert_eq!(w.a.actions.last(), Some(&Action::RestartIce));
        w.run();
        w.a.assert_settled();
        w.b.assert_settled();
        assert_eq!(w.a.offers_sent(), 2);
        assert_eq!(ufrag_of(w.b.pc.remote_sdp.as_deref().unwrap()), "a2", "restart offer has new credentials");
        assert_eq!(ufrag_of(w.a.pc.remote_sdp.as_deref().unwrap()), "b2", "restart answer has new credentials");
        assert!(w.b.pc.added.iter().flatten().any(|c| c.username_fragment.as_deref() == Some("a2")));
        assert!(w.a.pc.added.iter().flatten().any(|c| c.username_fragment.as_deref() == Some("b2")));

        // Still failed: no second automatic restart in the same episode ...
        let before = w.a.actions.len();
        w.a.feed(Input::IceFailed);
        assert_eq!(w.a.actions.len(), before);
        // ... but a manual retry always restarts, and a new episode restarts automatically again.
        w.a.feed(Input::RestartIceRequested);
        assert_eq!(w.a.actions.last(), Some(&Action::RestartIce));
        w.run();
        w.a.feed(Input::Connected);
        w.a.feed(Input::IceFailed);
        assert_eq!(w.a.actions.last(), Some(&Action::RestartIce));
        w.run();
        w.a.assert_settled();
        w.b.assert_settled();
        assert_eq!(w.a.offers_sent(), 4);
        assert_eq!(ufrag_of(w.b.pc.remote_sdp.as_deref().unwrap()), "a4");
    }

    #[test]
    fn ice_failure_on_the_receive_only_viewer_asks_the_publisher_to_restart() {
        let mut w = World::new();
        w.connect();
        w.b.feed(Input::IceFailed);
        assert_eq!(w.b.sent.last(), Some(&Signal::RestartIce));
        assert!(!w.b.actions.contains(&Action::RestartIce), "the viewer does not restart ICE itself");
        w.run();
        w.a.assert_settled();
        w.b.assert_settled();
        assert_eq!(w.a.offers_sent(), 2, "the publisher sent a restart offer");
        assert_eq!(w.b.offers_sent(), 0);
        assert_eq!(ufrag_of(w.b.pc.remote_sdp.as_deref().unwrap()), "a2");
        // One request per failure episode.
        let sent = w.b.sent.len();
        w.b.feed(Input::IceFailed);
        assert_eq!(w.b.sent.len(), sent);
        // Manual retry on the viewer side also goes through the publisher.
        w.b.feed(Input::RestartIceRequested);
        assert_eq!(w.b.sent.last(), Some(&Signal::RestartIce));
        w.run();
        w.a.assert_settled();
        w.b.assert_settled();
        assert_eq!(ufrag_of(w.b.pc.remote_sdp.as_deref().unwrap()), "a3");
    }

    #[test]
    fn answers_in_the_wrong_state_are_ignored() {
        let mut w = World::new();
        // Stable, nothing set yet.
        w.a.feed(Input::Remote(Signal::Answer { sdp: "v=0\r\n".into() }));
        assert!(w.a.actions.is_empty());
        assert_eq!(w.a.neg.signaling_state(), SignalingState::Stable);

        w.connect();
        // A duplicate of the answer that was already applied.
        let answer = w.b.sent.iter().find(|s| matches!(s, Signal::Answer { .. })).unwrap().clone();
        let before = w.a.actions.len();
        w.a.feed(Input::Remote(answer.clone()));
        assert_eq!(w.a.actions.len(), before);
        // An answer while we are the answerer (have-remote-offer): fed directly to a busy-free negotiator.
        let mut n = Negotiator::new(true);
        assert_eq!(n.handle(Input::Remote(Signal::Offer { sdp: "o".into() })).len(), 1);
        assert_eq!(n.handle(Input::RemoteDescriptionSet), vec![Action::SetLocalDescription]);
        assert!(n.handle(Input::Remote(answer)).is_empty(), "deferred while busy");
        let out = n.handle(Input::LocalDescriptionSet { kind: SdpKind::Answer, sdp: "a".into() });
        assert_eq!(out, vec![Action::Send(Signal::Answer { sdp: "a".into() })], "stray answer dropped");
        w.a.assert_settled();
    }

    #[test]
    fn inputs_while_busy_are_deferred_and_replayed_in_order() {
        for polite in [false, true] {
            let mut n = Negotiator::new(polite);
            assert_eq!(n.handle(Input::NegotiationNeeded), vec![Action::SetLocalDescription]);
            assert!(n.is_busy());
            // The remote's offer crosses ours while setLocalDescription is in flight.
            assert!(n.handle(Input::Remote(Signal::Offer { sdp: "remote".into() })).is_empty());
            let out = n.handle(Input::LocalDescriptionSet { kind: SdpKind::Offer, sdp: "local".into() });
            let send = Action::Send(Signal::Offer { sdp: "local".into() });
            if polite {
                assert_eq!(out, vec![send, Action::Rollback]);
                assert_eq!(
                    n.handle(Input::RolledBack),
                    vec![Action::SetRemoteDescription { kind: SdpKind::Offer, sdp: "remote".into() }]
                );
                assert_eq!(n.signaling_state(), SignalingState::Stable);
            } else {
                assert_eq!(out, vec![send], "impolite ignores the colliding offer");
                assert_eq!(n.signaling_state(), SignalingState::HaveLocalOffer);
                assert!(!n.is_busy());
            }
        }
    }

    #[test]
    fn failures_and_mismatched_completions_never_wedge_the_negotiator() {
        let mut n = Negotiator::new(false);
        // Completions with nothing outstanding are ignored.
        assert!(n.handle(Input::RemoteDescriptionSet).is_empty());
        assert!(n.handle(Input::RolledBack).is_empty());
        assert!(n.handle(Input::OperationFailed("x".into())).is_empty());
        // A failed offer leaves stable and lets the next negotiationneeded try again.
        assert_eq!(n.handle(Input::NegotiationNeeded), vec![Action::SetLocalDescription]);
        assert!(n.handle(Input::NegotiationNeeded).is_empty(), "deferred while busy");
        assert!(n.handle(Input::RolledBack).is_empty(), "mismatched completion ignored");
        assert!(n.is_busy());
        // The failure ends the operation; the deferred negotiationneeded is replayed.
        assert_eq!(n.handle(Input::OperationFailed("OperationError".into())), vec![Action::SetLocalDescription]);
        assert_eq!(n.signaling_state(), SignalingState::Stable);
        // A failed remote answer leaves have-local-offer; candidates are still queued (no remote description).
        let out = n.handle(Input::LocalDescriptionSet { kind: SdpKind::Offer, sdp: "o".into() });
        assert_eq!(out, vec![Action::Send(Signal::Offer { sdp: "o".into() })]);
        assert_eq!(n.handle(Input::Remote(Signal::Answer { sdp: "bad".into() })).len(), 1);
        assert!(n.handle(Input::OperationFailed("InvalidAccessError".into())).is_empty());
        assert_eq!(n.signaling_state(), SignalingState::HaveLocalOffer);
        assert!(n.handle(Input::Remote(Signal::EndOfCandidates)).is_empty());
        let out = n.handle(Input::Remote(Signal::Answer { sdp: "good".into() }));
        assert_eq!(out, vec![Action::SetRemoteDescription { kind: SdpKind::Answer, sdp: "good".into() }]);
        assert_eq!(
            n.handle(Input::RemoteDescriptionSet),
            vec![Action::AddIceCandidate { candidate: None, may_fail: false }]
        );
        assert_eq!(n.signaling_state(), SignalingState::Stable);
    }

    #[test]
    fn remote_restart_request_restarts_ice_in_either_role() {
        for polite in [false, true] {
            let mut n = Negotiator::new(polite);
            assert_eq!(n.handle(Input::Remote(Signal::RestartIce)), vec![Action::RestartIce]);
        }
    }
}
