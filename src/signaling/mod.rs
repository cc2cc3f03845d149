//! Signaling: the shared `/ws` protocol (both targets), and on the server the hub and the WebSocket route.

pub mod protocol;

#[cfg(feature = "hydrate")]
pub mod client;
#[cfg(feature = "ssr")]
pub mod hub;
#[cfg(feature = "ssr")]
pub mod schema;
#[cfg(feature = "ssr")]
pub mod ws;
