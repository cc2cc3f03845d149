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
    seed_products(pool).await?;
    seed_quiz(pool).await
}

/// The demo seller's catalog: (name, description, price as typed, stock).
pub const DEMO_PRODUCTS: &[(&str, &str, &str, &str)] = &[
    ("Vintage film camera", "35 mm rangefinder, tested with a roll of film. Comes with a leather case.", "89.00", "3"),
    ("Ceramic pour-over set", "Hand-glazed dripper and two cups.", "34.50", "12"),
    ("Wool beanie", "Merino, one size, in charcoal.", "19.99", "25"),
    ("Desk lamp", "Warm LED, dimmable, USB-C powered.", "42.00", "8"),
];

/// Gives the demo `seller` the demo products when they have none. Idempotent.
async fn seed_products(pool: &PgPool) -> Result<(), super::StartError> {
    use crate::commerce::catalog::{queries as catalog, service, ProductDraft};
    let Some(seller) = queries::user_by_username(pool, "seller").await? else { return Ok(()) };
    if catalog::count_of_seller(pool, seller.id).await? > 0 {
        return Ok(());
    }
    for (name, description, price, stock) in DEMO_PRODUCTS {
        let draft = ProductDraft {
            name: (*name).into(),
            description: (*description).into(),
            price: (*price).into(),
            stock: (*stock).into(),
            image: String::new(),
        };
        service::create_for(pool, &seller, &draft.validate()?).await?;
    }
    Ok(())
}

/// Title of the demo test owned by `teacher`.
pub const DEMO_QUIZ_TITLE: &str = "Demo quiz";

/// The demo test's questions.
pub const DEMO_QUIZ_QUESTIONS: &[&str] = &[
    "In one sentence: what does WebRTC's ICE do?",
    "Name two things a browser needs before it can show a remote video.",
    "Why might a proctored student's connection show as reconnecting?",
];

/// Gives the demo `teacher` the "Demo quiz" (open from an hour ago for 30 days, no duration, three
/// questions) with `student1`–`student3` enrolled. Idempotent: an existing quiz is kept, and its window is
/// moved on by 30 days when it has less than a day left.
async fn seed_quiz(pool: &PgPool) -> Result<(), super::StartError> {
    use crate::proctor::{queries as proctor_queries, service as proctor, TestRole};
    use time::{Duration, OffsetDateTime};
    let Some(teacher) = queries::user_by_username(pool, "teacher").await? else { return Ok(()) };
    let now = OffsetDateTime::now_utc();
    let test = match proctor_queries::test_by_owner_and_title(pool, teacher.id, DEMO_QUIZ_TITLE).await? {
        Some((test, ends_at)) => {
            if ends_at < now + Duration::days(1) {
                proctor_queries::set_ends_at(pool, test, now + Duration::days(30)).await?;
            }
            test
        }
        None => {
            let quiz = proctor::NewTest {
                title: DEMO_QUIZ_TITLE.into(),
                instructions: "Keep your camera on and this tab in front. Answers save as you type; submit when \
                               you are done."
                    .into(),
                starts_at: now - Duration::hours(1),
                ends_at: now + Duration::days(30),
                duration_minutes: None,
                questions: DEMO_QUIZ_QUESTIONS.iter().map(|q| (*q).to_string()).collect(),
            };
            proctor::insert_test(pool, teacher.id, &quiz).await?
        }
    };
    for username in ["student1", "student2", "student3"] {
        if let Some(student) = queries::user_by_username(pool, username).await? {
            if proctor_queries::member_role(pool, test, student.id).await?.is_none() {
                proctor::enroll(pool, test, student.id, TestRole::Student).await?;
            }
        }
    }
    Ok(())
}

/// Prints the demo logins to standard output.
pub fn print_logins(base_url: &str) {
    println!("\nDemo accounts (password for all: {DEMO_PASSWORD}) at {base_url}/login");
    for (username, display_name, role) in DEMO_ACCOUNTS {
        println!("  {role:<8} {username:<9} ({display_name})");
    }
    println!();
}
