//! Accounts and sessions: sign up, log in, log out, the current user. Passwords are argon2id hashes
//! (`password-auth`); sessions live in PostgreSQL (`tower-sessions`, `axum-login`); log-in is rate limited
//! per client IP (`governor`).

#[cfg(feature = "ssr")]
pub mod backend;
pub mod components;
#[cfg(feature = "ssr")]
pub mod queries;

use crate::error::AppError;
use crate::ids::UserId;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A signed-in user as the browser sees it (no secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: UserId,
    /// Lowercase login name, unique.
    pub username: String,
    /// Name shown to others (plain text; render as text).
    pub display_name: String,
}

/// Sign-up input after normalization (username trimmed and lowercased, display name trimmed).
#[derive(Clone, Debug, garde::Validate)]
pub struct SignupInput {
    #[garde(custom(check_username))]
    pub username: String,
    #[garde(custom(check_display_name))]
    pub display_name: String,
    #[garde(custom(check_password))]
    pub password: String,
}

impl SignupInput {
    /// Normalizes raw form values: trims the names and lowercases the username. The password is kept as typed.
    pub fn new(username: &str, display_name: &str, password: String) -> Self {
        Self { username: username.trim().to_lowercase(), display_name: display_name.trim().to_string(), password }
    }
}

/// Usernames: 3–32 characters, lowercase letters, digits or `_`.
pub fn check_username(value: &str, _: &()) -> garde::Result {
    let ok_chars = value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if value.is_empty() {
        Err(garde::Error::new("Choose a username."))
    } else if !(3..=32).contains(&value.len()) || !ok_chars {
        Err(garde::Error::new("Username must be 3–32 characters: letters, digits or _."))
    } else {
        Ok(())
    }
}

/// Display names: 1–64 characters, no control characters.
pub fn check_display_name(value: &str, _: &()) -> garde::Result {
    let len = value.chars().count();
    if len == 0 {
        Err(garde::Error::new("Enter the name others will see."))
    } else if len > 64 {
        Err(garde::Error::new("Display name must be at most 64 characters."))
    } else if value.chars().any(char::is_control) {
        Err(garde::Error::new("Display name cannot contain control characters."))
    } else {
        Ok(())
    }
}

/// Passwords: 8–128 characters.
pub fn check_password(value: &str, _: &()) -> garde::Result {
    let len = value.chars().count();
    if len < 8 {
        Err(garde::Error::new("Password must be at least 8 characters."))
    } else if len > 128 {
        Err(garde::Error::new("Password must be at most 128 characters."))
    } else {
        Ok(())
    }
}

/// Creates an account and signs it in.
///
/// Errors: `AppError::Validation` for a bad field (`username`, `display_name`, `password`);
/// `AppError::Conflict` (field `username`) if the username is taken.
#[server(prefix = "/api", endpoint = "signup")]
pub async fn signup(username: String, display_name: String, password: String) -> Result<UserView, AppError> {
    crate::error::with_status(backend::signup(SignupInput::new(&username, &display_name, password)).await)
}

/// Signs in with username and password.
///
/// Errors: `AppError::InvalidCredentials` on a wrong username or password; `AppError::RateLimited` after
/// `--login-attempts-per-minute` attempts from one IP address within a minute.
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<UserView, AppError> {
    crate::error::with_status(backend::login(username, password).await)
}

/// Signs out (deletes the session). Signing out when not signed in is not an error.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    crate::error::with_status(backend::logout().await)
}

/// The signed-in user, or `None`.
#[server(prefix = "/api", endpoint = "me")]
pub async fn current_user() -> Result<Option<UserView>, AppError> {
    crate::error::with_status(backend::current_user().await.map(|u| u.map(|u| u.view())))
}
