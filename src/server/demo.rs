//! Demo data for `make run`: accounts for every role, created once and left alone afterwards.

use crate::auth::backend::create_user;
use crate::auth::{queries, SignupInput};
use sqlx::PgPool;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "demo-password";

/// Demo accounts: (username, display name, role as described in the README).
pub const DEMO_ACCOUNTS: &[(&str, &str, &str)] = &[
    ("seller", "Sam Seller", "seller"),
    ("shopper1", "Ada Shopper", "shopper"),
    ("shopper2", "Ben Shopper", "shopper"),
    ("teacher", "Tess Teacher", "teacher"),
    ("student1", "Stu One", "student"),
    ("student2", "Stu Two", "student"),
    ("student3", "Stu Three", "student"),
];

/// Creates the demo accounts that are missing. Idempotent.
pub async fn seed(pool: &PgPool) -> Result<(), super::StartError> {
    for (username, display_name, _) in DEMO_ACCOUNTS {
        if queries::username_exists(pool, username).await? {
            continue;
        }
        create_user(pool, SignupInput::new(username, display_name, DEMO_PASSWORD.into()))
            .await
            .map_err(|e| format!("could not create demo account {username}: {e}"))?;
    }
    Ok(())
}

/// Prints the demo logins to standard output.
pub fn print_logins(addr: std::net::SocketAddr) {
    println!("\nDemo accounts (password for all: {DEMO_PASSWORD}) at http://{addr}/login");
    for (username, display_name, role) in DEMO_ACCOUNTS {
        println!("  {role:<8} {username:<9} ({display_name})");
    }
    println!();
}
