//! Newtype ids shared by server and browser, so a user id never goes where a peer id should.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "ssr", derive(sqlx::Type))]
        #[cfg_attr(feature = "ssr", sqlx(transparent))]
        pub struct $name(pub uuid::Uuid);

        #[cfg(feature = "ssr")]
        impl $name {
            /// A new time-ordered id (UUIDv7, RFC 9562 §5.7); PostgreSQL 15 cannot make these itself.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        #[cfg(feature = "ssr")]
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A user account (`users.id`), a UUIDv7.
    UserId
);

uuid_id!(
    /// A live shopping stream (`streams.id`), a UUIDv7.
    StreamId
);

uuid_id!(
    /// A seller's product (`products.id`), a UUIDv7.
    ProductId
);

uuid_id!(
    /// An order (`orders.id`), a UUIDv7. People see the order's `number` instead.
    OrderId
);

uuid_id!(
    /// A chat message in a live stream (`chat_messages.id`), a UUIDv7.
    ChatMessageId
);

uuid_id!(
    /// A proctored test (`tests.id`), a UUIDv7.
    TestId
);

uuid_id!(
    /// A question of a test (`test_questions.id`), a UUIDv7.
    QuestionId
);

uuid_id!(
    /// A flag raised on a student's page during a test (`flags.id`), a UUIDv7.
    FlagId
);

uuid_id!(
    /// One invigilator's view of one student's stream (`view_audit.id`), a UUIDv7.
    ViewId
);

/// One WebSocket connection of the signaling hub: a user with two tabs open is two peers.
///
/// Assigned by the server when the socket opens (a counter, unique for the server process's lifetime)
/// and sent to the client in `ServerMsg::Welcome`. On the wire it is a JSON number.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer-{}", self.0)
    }
}
