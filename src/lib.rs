//! OnAir: live shopping, exam proctoring and video rooms on one WebRTC core (Leptos SSR + hydrate).
//!
//! The same crate compiles twice: with `ssr` into the server binary (axum, sqlx, the signaling hub) and
//! with `hydrate` into the browser's WASM. See `../README.md` and `docs/` for the layout and protocol.

#![recursion_limit = "256"]

pub mod app;
pub mod auth;
pub mod chat;
pub mod commerce;
pub mod connectivity;
pub mod error;
pub mod ids;
pub mod live;
pub mod proctor;
pub mod rooms;
pub mod rtc;
pub mod signaling;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod sfu;

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
