//! `AppError`: the one error type of server functions and HTTP handlers, with an HTTP status per variant.
//!
//! Internal details (database errors, I/O) are logged on the server with `tracing` and replaced by a
//! generic message before anything reaches a browser.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// Everything a server function or handler can fail with. Serialized to JSON for the browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "detail", rename_all = "snake_case")]
pub enum AppError {
    /// A field failed validation (HTTP 422). `field` is the form field's name.
    #[error("{message}")]
    Validation { field: String, message: String },
    /// The value conflicts with existing data, e.g. a username that is taken (HTTP 409).
    #[error("{message}")]
    Conflict { field: String, message: String },
    /// The request is malformed (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// Username or password did not match (HTTP 401).
    #[error("Wrong username or password.")]
    InvalidCredentials,
    /// The caller is not signed in (HTTP 401).
    #[error("Please log in first.")]
    Unauthorized,
    /// The caller is signed in but may not do this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Too many attempts; `retry_after_secs` says when to try again (HTTP 429).
    #[error("Too many attempts. Please wait {retry_after_secs} s and try again.")]
    RateLimited { retry_after_secs: u64 },
    /// The browser could not reach the server or understand its answer (never sent by the server).
    #[error("Can't reach the server. Check your connection and try again.")]
    Network(String),
    /// Anything else; details are in the server log only (HTTP 500).
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
}

impl AppError {
    /// Validation error for one form field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), message: message.into() }
    }

    /// The form field this error belongs to, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Validation { field, .. } | Self::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }

    /// HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation { .. } => 422,
            Self::Conflict { .. } => 409,
            Self::BadRequest(_) => 400,
            Self::InvalidCredentials | Self::Unauthorized => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::RateLimited { .. } => 429,
            Self::Network(_) => 503,
            Self::Internal => 500,
        }
    }

    /// Logs `err` with its details and returns `AppError::Internal`, which shows none of them.
    #[cfg(feature = "ssr")]
    #[track_caller]
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(%err, %at, "internal error");
        Self::Internal
    }
}

impl From<garde::Report> for AppError {
    fn from(report: garde::Report) -> Self {
        match report.iter().next() {
            Some((path, err)) => {
                let field = path.to_string();
                let field = if field.is_empty() { "form".to_string() } else { field };
                Self::Validation { message: err.message().to_string(), field }
            }
            None => Self::BadRequest("Invalid input.".into()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    #[track_caller]
    fn from(err: sqlx::Error) -> Self {
        Self::internal(err)
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(e) | ServerFnErrorErr::Deserialization(e) => Self::Network(e),
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => {
                Self::BadRequest(format!("Invalid request: {e}"))
            }
            #[cfg(feature = "ssr")]
            other => Self::internal(other),
            #[cfg(not(feature = "ssr"))]
            _ => Self::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status =
            axum::http::StatusCode::from_u16(self.status()).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self)).into_response()
    }
}

/// Sets the HTTP status of the current server-function response to match `result`'s error, then
/// returns `result` unchanged. Call at the end of every server function.
#[cfg(feature = "ssr")]
pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            opts.set_status(
                axum::http::StatusCode::from_u16(e.status()).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
            );
        }
    }
    result
}
