//! Server side of accounts: the `axum-login` backend (credential check against argon2id hashes) and the
//! logic behind the auth server functions.

use crate::auth::{queries, SignupInput, UserView};
use crate::error::AppError;
use crate::ids::UserId;
use crate::server::state::AppState;
use axum_login::{AuthUser, AuthnBackend};
use garde::Validate;
use leptos::prelude::expect_context;
use sqlx::PgPool;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::LazyLock;

/// An account row. Holds the password hash, so it is never serialized or sent to a browser.
#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("username", &self.username).finish_non_exhaustive()
    }
}

impl User {
    /// What the browser may see of this account.
    pub fn view(&self) -> UserView {
        UserView { id: self.id, username: self.username.clone(), display_name: self.display_name.clone() }
    }
}

impl AuthUser for User {
    type Id = UserId;

    fn id(&self) -> UserId {
        self.id
    }

    /// Sessions are tied to the password hash: changing the password signs out every other session.
    fn session_auth_hash(&self) -> &[u8] {
        self.password_hash.as_bytes()
    }
}

/// Username and password as typed on the log-in form.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Why the auth backend failed (database or hashing task), never a wrong password.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// `axum-login` backend over the `users` table.
#[derive(Clone)]
pub struct Backend {
    pool: PgPool,
}

impl Backend {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A hash to verify against when the username does not exist, so both cases take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| password_auth::generate_hash("not a real password"));

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = BackendError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, BackendError> {
        let username = creds.username.trim().to_lowercase();
        let user = queries::user_by_username(&self.pool, &username).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
        let matches =
            tokio::task::spawn_blocking(move || password_auth::verify_password(creds.password, &hash).is_ok()).await?;
        Ok(user.filter(|_| matches))
    }

    async fn get_user(&self, id: &UserId) -> Result<Option<User>, BackendError> {
        Ok(queries::user_by_id(&self.pool, *id).await?)
    }
}

/// The `axum-login` session extractor for this backend.
pub type AuthSession = axum_login::AuthSession<Backend>;

/// Hashes `password` with argon2id (PHC string) on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || password_auth::generate_hash(password)).await.map_err(AppError::internal)
}

/// Creates an account row. Errors: `Validation` for bad input, `Conflict` if the username is taken.
pub async fn create_user(pool: &PgPool, input: SignupInput) -> Result<User, AppError> {
    input.validate()?;
    let user = User {
        id: UserId::new(),
        username: input.username,
        display_name: input.display_name,
        password_hash: hash_password(input.password).await?,
    };
    match queries::insert_user(pool, &user).await {
        Ok(()) => Ok(user),
        Err(e) if e.as_database_error().and_then(|d| d.constraint()) == Some("users_username_key") => {
            Err(AppError::Conflict {
                field: "username".into(),
                message: "That username is taken. Try another one.".into(),
            })
        }
        Err(e) => Err(AppError::internal(e)),
    }
}

/// Checks a username and password. Errors: `InvalidCredentials` when they do not match an account.
pub async fn verify_credentials(pool: &PgPool, username: &str, password: &str) -> Result<User, AppError> {
    Backend::new(pool.clone())
        .authenticate(Credentials { username: username.into(), password: password.into() })
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::InvalidCredentials)
}

async fn auth_session() -> Result<AuthSession, AppError> {
    leptos_axum::extract::<AuthSession>().await.map_err(AppError::internal)
}

async fn client_ip() -> IpAddr {
    leptos_axum::extract::<axum::extract::ConnectInfo<SocketAddr>>()
        .await
        .map(|ci| ci.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

async fn start_session(user: &User) -> Result<(), AppError> {
    auth_session().await?.login(user).await.map_err(AppError::internal)
}

/// Body of the `signup` server function: create the account and sign it in.
pub async fn signup(input: SignupInput) -> Result<UserView, AppError> {
    let state = expect_context::<AppState>();
    let user = create_user(&state.pool, input).await?;
    start_session(&user).await?;
    tracing::info!(user = %user.id, username = %user.username, "signed up");
    Ok(user.view())
}

/// Body of the `login` server function: rate limit by client IP, check the password, start a session.
pub async fn login(username: String, password: String) -> Result<UserView, AppError> {
    let state = expect_context::<AppState>();
    if username.trim().is_empty() {
        return Err(AppError::invalid("username", "Enter your username."));
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    if username.len() > 64 || password.chars().count() > 128 {
        return Err(AppError::InvalidCredentials);
    }
    let ip = client_ip().await;
    if let Err(not_until) = state.login_limiter.check_key(&ip) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        return Err(AppError::RateLimited { retry_after_secs: wait.as_secs().max(1) });
    }
    let user = verify_credentials(&state.pool, &username, &password).await?;
    start_session(&user).await?;
    tracing::info!(user = %user.id, "logged in");
    Ok(user.view())
}

/// Body of the `logout` server function.
pub async fn logout() -> Result<(), AppError> {
    auth_session().await?.logout().await.map_err(AppError::internal)?;
    Ok(())
}

/// The signed-in user of the current request, if any.
pub async fn current_user() -> Result<Option<User>, AppError> {
    Ok(auth_session().await?.user)
}

/// The signed-in user of the current request. Errors: `AppError::Unauthorized` when signed out.
pub async fn require_user() -> Result<User, AppError> {
    current_user().await?.ok_or(AppError::Unauthorized)
}
