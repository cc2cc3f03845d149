//! The HTML shell and the route table.

use crate::auth::components::{AuthContext, LoginPage, SignupPage};
use crate::commerce::catalog::components::MyProductsPage;
use crate::commerce::components::MyOrdersPage;
use crate::connectivity::components::ConnectivityPage;
use crate::live::components::{GoLivePage, LiveListingsPage, StreamPage};
use crate::proctor::components::{AuditPage, InvigilatePage, NewTestPage, TakeTestPage, TestPage, TestsPage};
use crate::rooms::components::{MatchPage, RoomPage, RoomsPage};
use crate::ui::{HomePage, NavBar, NotFound};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="description" content="Live shopping, exam proctoring and video rooms in the browser."/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: navigation bar and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    AuthContext::provide();
    // Tells end-to-end tests (and anything else that cares) that the page is interactive.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/onair.css"/>
        <Title formatter=|title: String| if title.is_empty() { "OnAir".to_string() } else { format!("{title} · OnAir") }/>
        <Router>
            <NavBar/>
            <main class="page">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/signup") view=SignupPage/>
                    <Route path=path!("/live") view=LiveListingsPage/>
                    <Route path=path!("/live/new") view=GoLivePage/>
                    <Route path=path!("/live/:id") view=StreamPage/>
                    <Route path=path!("/sell/products") view=MyProductsPage/>
                    <Route path=path!("/orders") view=MyOrdersPage/>
                    <Route path=path!("/tests") view=TestsPage/>
                    <Route path=path!("/tests/new") view=NewTestPage/>
                    <Route path=path!("/tests/:id") view=TestPage/>
                    <Route path=path!("/tests/:id/take") view=TakeTestPage/>
                    <Route path=path!("/tests/:id/invigilate") view=InvigilatePage/>
                    <Route path=path!("/tests/:id/report") view=AuditPage/>
                    <Route path=path!("/rooms") view=RoomsPage/>
                    <Route path=path!("/rooms/:slug") view=RoomPage/>
                    <Route path=path!("/match") view=MatchPage/>
                    <Route path=path!("/connectivity") view=ConnectivityPage/>
                </Routes>
            </main>
        </Router>
    }
}
