//! Sign-up and log-in pages, the account menu, and the `AuthContext` that knows who is signed in.

use crate::auth::{current_user, Login, Logout, Signup, UserView};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

/// Who is signed in, for every component. Provided once by `App`.
#[derive(Clone, Copy)]
pub struct AuthContext {
    /// The signed-in user (`Ok(None)` when signed out); refetched after every log-in, sign-up and log-out.
    pub user: Resource<Result<Option<UserView>, AppError>>,
    changed: RwSignal<u32>,
}

impl AuthContext {
    /// Creates the context and provides it to the component tree.
    pub fn provide() -> Self {
        let changed = RwSignal::new(0u32);
        let user = Resource::new(move || changed.get(), |_| current_user());
        let ctx = Self { user, changed };
        provide_context(ctx);
        ctx
    }

    /// Tells the app that the session changed (signed in or out), so `user` is fetched again.
    pub fn session_changed(&self) {
        self.changed.update(|n| *n += 1);
    }
}

/// The `AuthContext` provided by `App`.
pub fn use_auth() -> AuthContext {
    expect_context()
}

/// Where to go after logging in: the `next` query parameter if it is a local path, else `/`.
fn next_path() -> impl Fn() -> String + Copy {
    let query = use_query_map();
    move || {
        query
            .with_untracked(|q| q.get("next"))
            .filter(|p| p.starts_with('/') && !p.starts_with("//"))
            .unwrap_or_else(|| "/".to_string())
    }
}

fn error_alert(error: impl Fn() -> Option<AppError> + Send + Sync + 'static) -> impl IntoView {
    move || error().map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
}

/// `/login`: username and password; on success goes to `next` or `/`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let login = ServerAction::<Login>::new();
    let navigate = use_navigate();
    let next = next_path();
    Effect::new(move |_| {
        if let Some(Ok(_)) = login.value().get() {
            auth.session_changed();
            navigate(&next(), Default::default());
        }
    });
    let pending = login.pending();

    view! {
        <Title text="Log in"/>
        <section class="card narrow">
            <h1>"Log in"</h1>
            <ActionForm action=login attr:class="form">
                <label>
                    "Username"
                    <input name="username" autocomplete="username" required maxlength="32" autocapitalize="none"/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required maxlength="128"/>
                </label>
                {error_alert(move || login.value().get().and_then(Result::err))}
                <button type="submit" class="btn" disabled=move || pending.get()>"Log in"</button>
            </ActionForm>
            <p class="muted">"New here? " <A href="/signup">"Create an account"</A></p>
        </section>
    }
}

/// `/signup`: username, display name, password; on success the new user is signed in and goes to `/`.
#[component]
pub fn SignupPage() -> impl IntoView {
    let auth = use_auth();
    let signup = ServerAction::<Signup>::new();
    let navigate = use_navigate();
    let next = next_path();
    Effect::new(move |_| {
        if let Some(Ok(_)) = signup.value().get() {
            auth.session_changed();
            navigate(&next(), Default::default());
        }
    });
    let pending = signup.pending();

    view! {
        <Title text="Sign up"/>
        <section class="card narrow">
            <h1>"Create your account"</h1>
            <ActionForm action=signup attr:class="form">
                <label>
                    "Username"
                    <input name="username" autocomplete="username" required minlength="3" maxlength="32"
                        pattern="[A-Za-z0-9_]{3,32}" autocapitalize="none"
                        title="3–32 characters: letters, digits or _"/>
                    <small class="hint">"3–32 characters: letters, digits or _. You log in with it."</small>
                </label>
                <label>
                    "Display name"
                    <input name="display_name" autocomplete="nickname" required maxlength="64"/>
                    <small class="hint">"What others see, up to 64 characters."</small>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="new-password" required minlength="8" maxlength="128"/>
                    <small class="hint">"At least 8 characters."</small>
                </label>
                {error_alert(move || signup.value().get().and_then(Result::err))}
                <button type="submit" class="btn" disabled=move || pending.get()>"Sign up"</button>
            </ActionForm>
            <p class="muted">"Already have an account? " <A href="/login">"Log in"</A></p>
        </section>
    }
}

/// The account part of the navigation bar: the display name and Log out, or Log in and Sign up.
#[component]
pub fn AccountMenu() -> impl IntoView {
    let auth = use_auth();
    let logout = ServerAction::<Logout>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            auth.session_changed();
            navigate("/", Default::default());
        }
    });

    view! {
        <div class="account">
            <Transition fallback=|| ()>
                {move || {
                    auth.user.get().map(|user| match user.ok().flatten() {
                        Some(user) => view! {
                            <span class="account-name" data-testid="account-name" title=user.username.clone()>
                                {user.display_name}
                            </span>
                            <ActionForm action=logout attr:class="inline-form">
                                <button type="submit" class="btn btn-ghost">"Log out"</button>
                            </ActionForm>
                        }
                        .into_any(),
                        None => view! {
                            <A href="/login" attr:class="btn btn-ghost">"Log in"</A>
                            <A href="/signup" attr:class="btn">"Sign up"</A>
                        }
                        .into_any(),
                    })
                }}
            </Transition>
        </div>
    }
}
