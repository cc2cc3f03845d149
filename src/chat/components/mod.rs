//! Views of the chat: [`ChatPanel`], embedded in a stream's watch page and its seller's control room.

mod panel;

pub use panel::ChatPanel;
