//! Pages of live shopping: the listings (`/live`), Go Live (`/live/new`), and a stream's page
//! (`/live/:id`: the seller's control room or the shopper's player).

mod go_live;
mod listings;
mod stream_page;

pub use go_live::GoLivePage;
pub use listings::LiveListingsPage;
pub use stream_page::StreamPage;
