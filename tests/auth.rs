//! Accounts against a real PostgreSQL (`#[sqlx::test]`) and, through HTTP, against a real server:
//! duplicate usernames, wrong passwords, hashes at rest, session cookies, CSRF and log-in rate limiting.

mod common;

use common::*;
use onair::auth::backend::{create_user, verify_credentials};
use onair::auth::SignupInput;
use onair::error::AppError;
use sqlx::PgPool;

fn input(username: &str, password: &str) -> SignupInput {
    SignupInput::new(username, "Some Name", password.into())
}

#[sqlx::test]
async fn a_duplicate_username_is_a_conflict_even_in_other_case(pool: PgPool) {
    create_user(&pool, input("grace", "password-1")).await.unwrap();
    let err = create_user(&pool, input("  GRACE ", "password-2")).await.unwrap_err();
    assert!(matches!(&err, AppError::Conflict { field, .. } if field == "username"), "{err:?}");
    assert!(err.to_string().contains("taken"));
}

#[sqlx::test]
async fn a_wrong_password_or_unknown_user_is_invalid_credentials(pool: PgPool) {
    create_user(&pool, input("heidi", "right password")).await.unwrap();
    assert_eq!(verify_credentials(&pool, "heidi", "wrong password").await.unwrap_err(), AppError::InvalidCredentials);
    assert_eq!(verify_credentials(&pool, "nobody", "right password").await.unwrap_err(), AppError::InvalidCredentials);
    let user = verify_credentials(&pool, "Heidi", "right password").await.unwrap();
    assert_eq!(user.username, "heidi");
}

#[sqlx::test]
async fn the_password_is_stored_only_as_an_argon2id_hash(pool: PgPool) {
    create_user(&pool, input("ivan", "plain text secret")).await.unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'ivan'").fetch_one(&pool).await.unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("plain text secret"));
    // No other column holds it either.
    let row_text: String = sqlx::query_scalar("SELECT row_to_json(u)::text FROM users u WHERE username = 'ivan'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!row_text.contains("plain text secret"));
}

#[sqlx::test]
async fn bad_sign_up_input_is_refused_with_a_field_and_changes_nothing(pool: PgPool) {
    let cases = [
        (SignupInput::new("ab", "Name", "long enough".into()), "username"),
        (SignupInput::new("has space", "Name", "long enough".into()), "username"),
        (SignupInput::new(&"x".repeat(33), "Name", "long enough".into()), "username"),
        (SignupInput::new("okname", "   ", "long enough".into()), "display_name"),
        (SignupInput::new("okname", &"n".repeat(65), "long enough".into()), "display_name"),
        (SignupInput::new("okname", "Name", "short".into()), "password"),
        (SignupInput::new("okname", "Name", "p".repeat(129)), "password"),
    ];
    for (input, field) in cases {
        let err = create_user(&pool, input).await.unwrap_err();
        assert_eq!(err.field(), Some(field), "{err:?}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn sign_up_log_out_log_in_over_http_with_a_secure_session_cookie(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let browser = Browser::new(&server);

    let res = browser
        .call("signup", &[("username", "judy"), ("display_name", "Judy J"), ("password", "correct horse")])
        .await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers().get("set-cookie").expect("session cookie").to_str().unwrap().to_string();
    assert!(cookie.starts_with("onair_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");

    let me: Option<UserJson> = browser.call("me", &[]).await.json().await.unwrap();
    assert_eq!(me.unwrap().display_name, "Judy J");

    assert_eq!(browser.call("logout", &[]).await.status(), 200);
    let me: Option<UserJson> = browser.call("me", &[]).await.json().await.unwrap();
    assert!(me.is_none());

    let res = browser.call("login", &[("username", "judy"), ("password", "wrong horse")]).await;
    assert_eq!(res.status(), 401);
    let err: AppError = res.json().await.unwrap();
    assert_eq!(err, AppError::InvalidCredentials);

    let res = browser.call("login", &[("username", "judy"), ("password", "correct horse")]).await;
    assert_eq!(res.status(), 200);
    let me: Option<UserJson> = browser.call("me", &[]).await.json().await.unwrap();
    assert_eq!(me.unwrap().username, "judy");
}

#[sqlx::test]
async fn a_taken_username_over_http_is_409_with_a_clear_message(pool: PgPool) {
    let server = TestServer::start(pool).await;
    Browser::new(&server).signup("mallory", "M").await;
    let res = Browser::new(&server)
        .call("signup", &[("username", "mallory"), ("display_name", "Other"), ("password", "long enough")])
        .await;
    assert_eq!(res.status(), 409);
    let err: AppError = res.json().await.unwrap();
    assert!(err.to_string().contains("taken"));
}

#[sqlx::test]
async fn a_cross_site_post_is_refused_by_the_csrf_guard(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let browser = Browser::new(&server);
    browser.signup("oscar", "Oscar").await;
    let res = browser
        .http
        .post(server.url("/api/logout"))
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Still signed in.
    let me: Option<UserJson> = browser.call("me", &[]).await.json().await.unwrap();
    assert!(me.is_some());
}

#[sqlx::test]
async fn log_in_is_rate_limited_per_client(pool: PgPool) {
    let server = TestServer::start_with(pool, |c| c.login_attempts_per_minute = 3).await;
    let browser = Browser::new(&server);
    for _ in 0..3 {
        let res = browser.call("login", &[("username", "nobody"), ("password", "whatever1")]).await;
        assert_eq!(res.status(), 401);
    }
    let res = browser.call("login", &[("username", "nobody"), ("password", "whatever1")]).await;
    assert_eq!(res.status(), 429);
    let err: AppError = res.json().await.unwrap();
    assert!(matches!(err, AppError::RateLimited { retry_after_secs } if retry_after_secs >= 1));
}

#[sqlx::test]
async fn health_and_readiness(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let http = reqwest::Client::new();
    assert_eq!(http.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(server.url("/readyz")).send().await.unwrap().status(), 200);
    let res = http.get(server.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Page not found"));
}
