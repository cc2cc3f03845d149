//! Server-side rules of proctoring: who may do what in a test (named checks, default deny: outsiders get
//! `NotFound`, members without the role `Forbidden`), creating tests, attempts and answers, flags, the
//! student grid, the view audit, attention pings, and the `/ws` side: who joins a `test:<id>` room in which
//! role, and the student states pushed to the test's invigilators (live, reconnecting, disconnected after
//! [`DISCONNECTED_AFTER`], submitted).
//!
//! Durable state is in PostgreSQL (`migrations/0006_proctoring.sql`); when a student's connection went away
//! lives only in [`ProctorState`] (ephemeral, like the hub).

use crate::auth::backend::{require_user, User};
use crate::error::AppError;
use crate::ids::{FlagId, QuestionId, TestId, UserId, ViewId};
use crate::proctor::{
    queries, Attempt, AuditRow, FlagKind, FlagView, Member, StudentCard, StudentState, TestDetail, TestRole,
    TestSummary, TestWindow,
};
use crate::server::state::AppState;
use crate::signaling::protocol::{ErrorCode, MemberRole, RoomId, ServerMsg};
use leptos::prelude::expect_context;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a student whose last connection left the test's room shows as reconnecting before the grid
/// says "disconnected" (since the moment they left).
pub const DISCONNECTED_AFTER: Duration = Duration::from_secs(3);
/// Longest test title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest instructions, in characters.
pub const MAX_INSTRUCTIONS_CHARS: usize = 5000;
/// Most questions in one test.
pub const MAX_QUESTIONS: usize = 50;
/// Longest question, in characters.
pub const MAX_PROMPT_CHARS: usize = 2000;
/// Longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 20_000;
/// Longest attention message, in characters.
pub const MAX_ATTENTION_CHARS: usize = 200;
/// Longest duration, in minutes.
pub const MAX_DURATION_MINUTES: i32 = 600;

/// Where a student's connection is, as last seen by this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Presence {
    /// `Live`, `Reconnecting` or `Disconnected`.
    state: StudentState,
    since: OffsetDateTime,
}

/// Per (test, student): where their connection is, and the pending "disconnected" timer.
type PresenceMap = HashMap<(TestId, UserId), (Presence, Option<tokio::task::AbortHandle>)>;

/// Ephemeral proctoring state: when each student's connection came or went, and the pending
/// "reconnecting → disconnected" timers (cancelled when the student is back).
#[derive(Default)]
pub struct ProctorState {
    presence: Mutex<PresenceMap>,
}

impl ProctorState {
    fn lock(&self) -> std::sync::MutexGuard<'_, PresenceMap> {
        self.presence.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The student is in the room: cancels a pending timer; returns since when they are live.
    fn joined(&self, test: TestId, student: UserId, now: OffsetDateTime) -> OffsetDateTime {
        let mut map = self.lock();
        let entry = map.entry((test, student)).or_insert((Presence { state: StudentState::Live, since: now }, None));
        if let Some(timer) = entry.1.take() {
            timer.abort();
        }
        if entry.0.state != StudentState::Live {
            entry.0 = Presence { state: StudentState::Live, since: now };
        }
        entry.0.since
    }

    /// The student's last connection left: reconnecting since `now`, with `timer` to make it disconnected.
    fn left(&self, test: TestId, student: UserId, now: OffsetDateTime, timer: tokio::task::AbortHandle) {
        let previous = self
            .lock()
            .insert((test, student), (Presence { state: StudentState::Reconnecting, since: now }, Some(timer)));
        if let Some((_, Some(old))) = previous {
            old.abort();
        }
    }

    /// Turns "reconnecting since `since`" into "disconnected since `since`"; `false` if the student came back
    /// (or left again) meanwhile.
    fn disconnect(&self, test: TestId, student: UserId, since: OffsetDateTime) -> bool {
        let mut map = self.lock();
        match map.get_mut(&(test, student)) {
            Some((p, timer)) if p.state == StudentState::Reconnecting && p.since == since => {
                p.state = StudentState::Disconnected;
                *timer = None;
                true
            }
            _ => false,
        }
    }

    /// Forgets a student (their attempt is over).
    fn forget(&self, test: TestId, student: UserId) {
        if let Some((_, Some(timer))) = self.lock().remove(&(test, student)) {
            timer.abort();
        }
    }

    fn get(&self, test: TestId, student: UserId) -> Option<Presence> {
        self.lock().get(&(test, student)).map(|(p, _)| *p)
    }
}

/// Milliseconds since the Unix epoch.
fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The server's clock, truncated to PostgreSQL's precision (microseconds) so stored times read back equal.
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

fn window(now: OffsetDateTime, starts_at: OffsetDateTime, ends_at: OffsetDateTime) -> TestWindow {
    if now < starts_at {
        TestWindow::Upcoming
    } else if now < ends_at {
        TestWindow::Open
    } else {
        TestWindow::Closed
    }
}

fn role_str(role: TestRole) -> &'static str {
    match role {
        TestRole::Invigilator => "invigilator",
        TestRole::Student => "student",
    }
}

fn parse_role(s: &str) -> Option<TestRole> {
    match s {
        "invigilator" => Some(TestRole::Invigilator),
        "student" => Some(TestRole::Student),
        _ => None,
    }
}

/// A role read from the database (the column's CHECK allows only the two).
fn stored_role(s: &str) -> Result<TestRole, AppError> {
    parse_role(s).ok_or_else(|| AppError::internal(format!("unknown test role {s:?} in test_members")))
}

fn kind_str(kind: FlagKind) -> &'static str {
    match kind {
        FlagKind::TabHidden => "tab_hidden",
        FlagKind::WindowBlur => "window_blur",
        FlagKind::FullscreenExit => "fullscreen_exit",
        FlagKind::CameraStopped => "camera_stopped",
    }
}

fn parse_kind(s: &str) -> Result<FlagKind, AppError> {
    Ok(match s {
        "tab_hidden" => FlagKind::TabHidden,
        "window_blur" => FlagKind::WindowBlur,
        "fullscreen_exit" => FlagKind::FullscreenExit,
        "camera_stopped" => FlagKind::CameraStopped,
        other => return Err(AppError::internal(format!("unknown flag kind {other:?} in flags"))),
    })
}

fn flag_view(row: queries::FlagRow) -> Result<FlagView, AppError> {
    Ok(FlagView {
        id: row.id,
        student: row.student_id,
        kind: parse_kind(&row.kind)?,
        during_reconnect: row.during_reconnect,
        raised_at_ms: millis(row.raised_at),
    })
}

fn conflict(message: &str) -> AppError {
    AppError::Conflict { field: "test".into(), message: message.into() }
}

/// Why an attempt does not take answers or flags at `now`: never started, submitted, or out of time.
fn closed_attempt(attempt: Option<&queries::AttemptRow>, now: OffsetDateTime) -> Option<AppError> {
    match attempt {
        None => Some(conflict("Start the test first.")),
        Some(a) if a.submitted_at.is_some() => Some(conflict("You have already submitted this test.")),
        Some(a) if a.deadline <= now => Some(conflict("Time is up for this test.")),
        Some(_) => None,
    }
}

fn push_state(state: &AppState, test: TestId, student: UserId, s: StudentState, since: OffsetDateTime) {
    let msg = ServerMsg::StudentStateChanged { test, student, state: s, since_ms: millis(since) };
    state.hub.send_to_role(&RoomId::Test(test), MemberRole::Viewer, &msg);
}

// ---------------------------------------------------------------------------------------------------------
// Permission checks (default deny).

/// Checks that `user` is a member of `test` in any role and returns the test with their role.
/// Errors: `NotFound` for non-members and unknown tests alike (a test's existence is not revealed).
pub async fn require_member(state: &AppState, user: &User, test: TestId) -> Result<queries::TestRow, AppError> {
    queries::test_for_member(&state.pool, test, user.id)
        .await?
        .ok_or_else(|| AppError::NotFound("No such test.".into()))
}

/// Checks that `user` invigilates `test` (its creator or a co-invigilator). Errors: `NotFound` (not a
/// member), `Forbidden` (a student of the test).
pub async fn require_invigilator(state: &AppState, user: &User, test: TestId) -> Result<queries::TestRow, AppError> {
    let row = require_member(state, user, test).await?;
    if stored_role(&row.role)? != TestRole::Invigilator {
        return Err(AppError::Forbidden("Only the test's invigilators can do this.".into()));
    }
    Ok(row)
}

/// Checks that `user` is enrolled in `test` as a student. Errors: `NotFound` (not a member), `Forbidden`
/// (an invigilator of the test).
pub async fn require_student(state: &AppState, user: &User, test: TestId) -> Result<queries::TestRow, AppError> {
    let row = require_member(state, user, test).await?;
    if stored_role(&row.role)? != TestRole::Student {
        return Err(AppError::Forbidden("Only the test's students can do this.".into()));
    }
    Ok(row)
}

/// Checks that `student` (named by an invigilator) is enrolled in `test` as a student. Errors: `NotFound`.
pub async fn require_enrolled(state: &AppState, test: TestId, student: UserId) -> Result<(), AppError> {
    match queries::member_role(&state.pool, test, student).await?.as_deref() {
        Some("student") => Ok(()),
        _ => Err(AppError::NotFound("No such student in this test.".into())),
    }
}

/// Checks that `view` is one of `user`'s own views; returns its test. Errors: `NotFound` (unknown, or
/// someone else's: not revealed).
pub async fn require_own_view(state: &AppState, user: &User, view: ViewId) -> Result<TestId, AppError> {
    match queries::view_ref(&state.pool, view).await? {
        Some(v) if v.invigilator_id == user.id => Ok(v.test_id),
        _ => Err(AppError::NotFound("No such view.".into())),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Creating tests and members.

/// A validated new test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTest {
    pub title: String,
    pub instructions: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    pub duration_minutes: Option<i32>,
    /// 1–50 prompts in order.
    pub questions: Vec<String>,
}

/// Parses an HTML `datetime-local` value (`YYYY-MM-DDTHH:MM`, optionally `:SS` and fractions) as UTC.
fn parse_datetime_local(s: &str) -> Option<OffsetDateTime> {
    use time::macros::format_description;
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let fraction = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
    [minutes, seconds, fraction].iter().find_map(|f| time::PrimitiveDateTime::parse(s, f).ok()).map(|t| t.assume_utc())
}

/// Validates the create-test form at `now`; errors name the field (`title`, `instructions`, `starts_at`,
/// `ends_at`, `duration_minutes`, `questions`).
///
/// Times are `datetime-local` values in UTC; an empty start is `now`, an empty end is start + duration (or
/// start + 1 hour without a duration). The end must be after the start and in the future.
pub fn validate_new_test(
    now: OffsetDateTime,
    title: &str,
    instructions: &str,
    starts_at: &str,
    ends_at: &str,
    duration_minutes: &str,
    questions: &str,
) -> Result<NewTest, AppError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(AppError::invalid("title", "Enter a title."));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::invalid("title", format!("The title can be at most {MAX_TITLE_CHARS} characters.")));
    }
    let instructions = instructions.trim();
    if instructions.chars().count() > MAX_INSTRUCTIONS_CHARS {
        return Err(AppError::invalid(
            "instructions",
            format!("The instructions can be at most {MAX_INSTRUCTIONS_CHARS} characters."),
        ));
    }
    let duration_minutes = match duration_minutes.trim() {
        "" => None,
        d => match d.parse::<i32>() {
            Ok(m) if (1..=MAX_DURATION_MINUTES).contains(&m) => Some(m),
            _ => {
                return Err(AppError::invalid(
                    "duration_minutes",
                    format!("The duration is a whole number of minutes from 1 to {MAX_DURATION_MINUTES}, or empty."),
                ))
            }
        },
    };
    let start = match starts_at.trim() {
        "" => now,
        s => parse_datetime_local(s).ok_or_else(|| {
            AppError::invalid("starts_at", "Enter the start as a date and time, e.g. 2030-01-31T14:00.")
        })?,
    };
    let end = match ends_at.trim() {
        "" => start + time::Duration::minutes(duration_minutes.unwrap_or(60).into()),
        s => parse_datetime_local(s)
            .ok_or_else(|| AppError::invalid("ends_at", "Enter the end as a date and time, e.g. 2030-01-31T15:00."))?,
    };
    if end <= start {
        return Err(AppError::invalid("ends_at", "The end must be after the start."));
    }
    if end <= now {
        return Err(AppError::invalid("ends_at", "The end is in the past."));
    }
    let prompts: Vec<String> = questions.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if prompts.is_empty() {
        return Err(AppError::invalid("questions", "Enter at least one question, one per line."));
    }
    if prompts.len() > MAX_QUESTIONS {
        return Err(AppError::invalid("questions", format!("A test can have at most {MAX_QUESTIONS} questions.")));
    }
    if let Some(n) = prompts.iter().position(|p| p.chars().count() > MAX_PROMPT_CHARS) {
        return Err(AppError::invalid(
            "questions",
            format!("Question {} is longer than {MAX_PROMPT_CHARS} characters.", n + 1),
        ));
    }
    Ok(NewTest {
        title: title.into(),
        instructions: instructions.into(),
        starts_at: start,
        ends_at: end,
        duration_minutes,
        questions: prompts,
    })
}

/// Stores `test` owned by `owner`, who becomes its first invigilator (one transaction).
pub async fn insert_test(pool: &PgPool, owner: UserId, test: &NewTest) -> Result<TestId, AppError> {
    let id = TestId::new();
    let question_ids: Vec<uuid::Uuid> = test.questions.iter().map(|_| QuestionId::new().0).collect();
    let mut tx = pool.begin().await?;
    queries::insert_test(
        &mut *tx,
        id,
        owner,
        &test.title,
        &test.instructions,
        test.starts_at,
        test.ends_at,
        test.duration_minutes,
    )
    .await?;
    queries::insert_questions(&mut *tx, id, &question_ids, &test.questions).await?;
    queries::upsert_member(&mut *tx, id, owner, role_str(TestRole::Invigilator)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Adds `user` to `test` as `role`, or changes their role (no permission check: callers check).
pub async fn enroll(pool: &PgPool, test: TestId, user: UserId, role: TestRole) -> Result<(), AppError> {
    queries::upsert_member(pool, test, user, role_str(role)).await?;
    Ok(())
}

/// Body of `create_test`: any signed-in user may create a test and becomes its invigilator.
pub async fn create_test(
    title: String,
    instructions: String,
    starts_at: String,
    ends_at: String,
    duration_minutes: String,
    questions: String,
) -> Result<TestId, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let new = validate_new_test(now(), &title, &instructions, &starts_at, &ends_at, &duration_minutes, &questions)?;
    let id = insert_test(&state.pool, user.id, &new).await?;
    tracing::info!(test = %id, owner = %user.id, "test created");
    Ok(id)
}

/// Body of `add_member` (invigilators only). The test's creator stays an invigilator.
pub async fn add_member(test: TestId, username: String, role: TestRole) -> Result<Member, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let row = require_invigilator(&state, &user, test).await?;
    let username = username.trim().to_lowercase();
    if username.is_empty() {
        return Err(AppError::invalid("username", "Enter a username."));
    }
    let target = crate::auth::queries::user_by_username(&state.pool, &username)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("There is no account with the username {username:?}.")))?;
    if target.id == row.owner_id && role != TestRole::Invigilator {
        return Err(AppError::Conflict {
            field: "username".into(),
            message: "The test's creator is always one of its invigilators.".into(),
        });
    }
    enroll(&state.pool, test, target.id, role).await?;
    tracing::info!(%test, member = %target.id, ?role, by = %user.id, "test member added");
    Ok(Member { user: target.id, username: target.username, name: target.display_name, role })
}

// ---------------------------------------------------------------------------------------------------------
// Reading tests.

/// Body of `my_tests`: the caller's tests in both roles, those not over yet first.
pub async fn my_tests() -> Result<Vec<TestSummary>, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let now = now();
    queries::tests_of_user(&state.pool, user.id, now)
        .await?
        .into_iter()
        .map(|r| {
            Ok(TestSummary {
                id: r.id,
                title: r.title,
                role: stored_role(&r.role)?,
                window: window(now, r.starts_at, r.ends_at),
                starts_at_ms: millis(r.starts_at),
                ends_at_ms: millis(r.ends_at),
            })
        })
        .collect()
}

/// Body of `get_test` (members only).
pub async fn get_test(test: TestId) -> Result<TestDetail, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let row = require_member(&state, &user, test).await?;
    let questions = queries::questions(&state.pool, test).await?;
    Ok(TestDetail {
        id: row.id,
        role: stored_role(&row.role)?,
        window: window(now(), row.starts_at, row.ends_at),
        title: row.title,
        instructions: row.instructions,
        starts_at_ms: millis(row.starts_at),
        ends_at_ms: millis(row.ends_at),
        duration_minutes: row.duration_minutes,
        questions,
    })
}

/// Body of `test_members` (invigilators only).
pub async fn test_members(test: TestId) -> Result<Vec<Member>, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_invigilator(&state, &user, test).await?;
    queries::members(&state.pool, test)
        .await?
        .into_iter()
        .map(|m| Ok(Member { user: m.user_id, username: m.username, name: m.name, role: stored_role(&m.role)? }))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Taking a test.

async fn attempt_view(
    state: &AppState,
    test: TestId,
    student: UserId,
    a: queries::AttemptRow,
) -> Result<Attempt, AppError> {
    Ok(Attempt {
        started_at_ms: millis(a.started_at),
        deadline_ms: millis(a.deadline),
        submitted_at_ms: a.submitted_at.map(millis),
        answers: queries::answers(&state.pool, test, student).await?,
    })
}

/// Body of `start_attempt` (students only): resumes an open attempt, or starts one inside the test's
/// window with deadline `min(now + duration, ends_at)`. Errors: `Conflict` when the test is not open yet or
/// is over, the attempt was submitted, or its time is up.
pub async fn start_attempt(test: TestId) -> Result<Attempt, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    let row = require_student(&state, &user, test).await?;
    let now = now();
    let existing = queries::attempt(&state.pool, test, user.id).await?;
    if existing.is_none() {
        match window(now, row.starts_at, row.ends_at) {
            TestWindow::Upcoming => return Err(conflict("This test has not opened yet.")),
            TestWindow::Closed => return Err(conflict("This test is over.")),
            TestWindow::Open => {}
        }
        let deadline = row
            .duration_minutes
            .map(|m| now + time::Duration::minutes(m.into()))
            .map_or(row.ends_at, |d| d.min(row.ends_at));
        queries::insert_attempt(&state.pool, test, user.id, now, deadline).await?;
        tracing::info!(%test, student = %user.id, "attempt started");
    }
    // Read back: another tab may have started it a moment earlier.
    let attempt = queries::attempt(&state.pool, test, user.id).await?;
    if let Some(err) = closed_attempt(attempt.as_ref(), now) {
        return Err(err);
    }
    let attempt = attempt.ok_or(AppError::Internal)?;
    attempt_view(&state, test, user.id, attempt).await
}

/// Body of `save_answer` (students only): upserts one answer of the caller's open attempt.
/// Errors: `Validation` (`text` too long), `Conflict` (not started, submitted, time up), `NotFound` (the
/// question is not in this test).
pub async fn save_answer(test: TestId, question: QuestionId, text: String) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_student(&state, &user, test).await?;
    if text.chars().count() > MAX_ANSWER_CHARS {
        return Err(AppError::invalid("text", "An answer can be at most 20 000 characters."));
    }
    let now = now();
    if queries::save_answer(&state.pool, test, user.id, question, &text, now).await? {
        return Ok(());
    }
    let attempt = queries::attempt(&state.pool, test, user.id).await?;
    Err(closed_attempt(attempt.as_ref(), now)
        .unwrap_or_else(|| AppError::NotFound("No such question in this test.".into())))
}

/// Body of `submit_attempt` (students only, idempotent): the first submission is stamped
/// `min(now, deadline)` and pushed to the invigilators as `submitted`. Errors: `Conflict` (not started).
pub async fn submit_attempt(test: TestId) -> Result<Attempt, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_student(&state, &user, test).await?;
    if let Some(at) = queries::submit_attempt(&state.pool, test, user.id, now()).await? {
        state.proctor.forget(test, user.id);
        push_state(&state, test, user.id, StudentState::Submitted, at);
        tracing::info!(%test, student = %user.id, "attempt submitted");
    }
    let attempt =
        queries::attempt(&state.pool, test, user.id).await?.ok_or_else(|| conflict("Start the test first."))?;
    attempt_view(&state, test, user.id, attempt).await
}

/// Body of `report_flag` (students only, open attempt): stores the flag at the server's time and pushes
/// `flag_raised` to the invigilators. `during_reconnect` is the page's own account.
pub async fn report_flag(test: TestId, kind: FlagKind, during_reconnect: bool) -> Result<FlagView, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_student(&state, &user, test).await?;
    let (id, now) = (FlagId::new(), now());
    if !queries::insert_flag(&state.pool, id, test, user.id, kind_str(kind), during_reconnect, now).await? {
        let attempt = queries::attempt(&state.pool, test, user.id).await?;
        return Err(closed_attempt(attempt.as_ref(), now).unwrap_or_else(|| conflict("Time is up for this test.")));
    }
    let flag = FlagView { id, student: user.id, kind, during_reconnect, raised_at_ms: millis(now) };
    state.hub.send_to_role(
        &RoomId::Test(test),
        MemberRole::Viewer,
        &ServerMsg::FlagRaised { test, flag: flag.clone() },
    );
    Ok(flag)
}

// ---------------------------------------------------------------------------------------------------------
// Invigilating.

/// A student's grid state from their attempt, whether they are in the room now, and what this process saw
/// of their connection. Submitted (or out of time) wins, then live, then reconnecting/disconnected; a
/// started attempt with nothing seen (e.g. after a server restart) is disconnected since an unknown time.
fn card_state(
    started: bool,
    deadline: Option<OffsetDateTime>,
    submitted_at: Option<OffsetDateTime>,
    in_room: bool,
    presence: Option<Presence>,
    now: OffsetDateTime,
) -> (StudentState, Option<OffsetDateTime>) {
    if !started {
        return (StudentState::NotStarted, None);
    }
    if let Some(at) = submitted_at {
        return (StudentState::Submitted, Some(at));
    }
    if let Some(deadline) = deadline.filter(|d| *d <= now) {
        return (StudentState::Submitted, Some(deadline));
    }
    if in_room {
        let since = presence.filter(|p| p.state == StudentState::Live).map(|p| p.since);
        return (StudentState::Live, since);
    }
    match presence {
        Some(p) if p.state != StudentState::Live => (p.state, Some(p.since)),
        _ => (StudentState::Disconnected, None),
    }
}

/// Body of `student_grid` (invigilators only): one card per enrolled student, by name.
pub async fn student_grid(test: TestId) -> Result<Vec<StudentCard>, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_invigilator(&state, &user, test).await?;
    let rows = queries::grid(&state.pool, test).await?;
    let live = state.hub.users_with_role(&RoomId::Test(test), MemberRole::Publisher);
    let now = now();
    rows.into_iter()
        .map(|r| {
            let (s, since) = card_state(
                r.started_at.is_some(),
                r.deadline,
                r.submitted_at,
                live.contains(&r.student_id),
                state.proctor.get(test, r.student_id),
                now,
            );
            let latest_flag = match (r.flag_id, r.flag_kind, r.flag_during_reconnect, r.flag_raised_at) {
                (Some(id), Some(kind), Some(during_reconnect), Some(raised_at)) => Some(flag_view(queries::FlagRow {
                    id,
                    student_id: r.student_id,
                    kind,
                    during_reconnect,
                    raised_at,
                })?),
                _ => None,
            };
            Ok(StudentCard {
                student: r.student_id,
                name: r.name,
                state: s,
                since_ms: since.map(millis),
                flag_count: u32::try_from(r.flag_count).unwrap_or(u32::MAX),
                latest_flag,
            })
        })
        .collect()
}

/// Body of `student_flags` (invigilators only; the student must be enrolled).
pub async fn student_flags(test: TestId, student: UserId) -> Result<Vec<FlagView>, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_invigilator(&state, &user, test).await?;
    require_enrolled(&state, test, student).await?;
    queries::flags(&state.pool, test, student).await?.into_iter().map(flag_view).collect()
}

/// Body of `start_view` (invigilators only; the student must be enrolled): records an audited view.
pub async fn start_view(test: TestId, student: UserId) -> Result<ViewId, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_invigilator(&state, &user, test).await?;
    require_enrolled(&state, test, student).await?;
    let id = ViewId::new();
    queries::insert_view(&state.pool, id, test, user.id, student, now()).await?;
    tracing::info!(%test, %student, invigilator = %user.id, view = %id, "view started");
    Ok(id)
}

/// Body of `end_view` (the view's invigilator only; idempotent).
pub async fn end_view(view: ViewId) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_own_view(&state, &user, view).await?;
    queries::end_view(&state.pool, view, now()).await?;
    Ok(())
}

/// Body of `test_audit` (invigilators only): every view, newest first.
pub async fn test_audit(test: TestId) -> Result<Vec<AuditRow>, AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_invigilator(&state, &user, test).await?;
    Ok(queries::audit(&state.pool, test)
        .await?
        .into_iter()
        .map(|r| AuditRow {
            id: r.id,
            invigilator_name: r.invigilator_name,
            student_name: r.student_name,
            started_at_ms: millis(r.started_at),
            ended_at_ms: r.ended_at.map(millis),
        })
        .collect())
}

/// Body of `attention` (invigilators only): pushes `attention` to the student's connections in the test's
/// room, and nobody else's. Errors: `Validation` (`text` empty or over 200 characters), `NotFound` (not a
/// student of the test), `Conflict` (the student is not connected, so nobody would see it).
pub async fn attention(test: TestId, student: UserId, text: String) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let user = require_user().await?;
    require_invigilator(&state, &user, test).await?;
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid("text", "Enter a message."));
    }
    if text.chars().count() > MAX_ATTENTION_CHARS {
        return Err(AppError::invalid("text", format!("A message can be at most {MAX_ATTENTION_CHARS} characters.")));
    }
    require_enrolled(&state, test, student).await?;
    let room = RoomId::Test(test);
    if !state.hub.users_with_role(&room, MemberRole::Publisher).contains(&student) {
        return Err(AppError::Conflict {
            field: "text".into(),
            message: "This student is not connected right now; the message was not sent.".into(),
        });
    }
    let msg = ServerMsg::Attention { test, from: user.display_name.clone(), text: text.to_string() };
    state.hub.send_to_user(&room, student, &msg);
    tracing::info!(%test, %student, invigilator = %user.id, "attention sent");
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The `/ws` side (called by `signaling::ws`).

/// Role of `user` in room `test:<test>`: its invigilators join as `Viewer`, its students with a started
/// attempt that is neither submitted nor out of time as `Publisher`. Errors: `Forbidden` for everyone else
/// (non-members included, and on a database error).
pub async fn role_in_test_room(state: &AppState, user: &User, test: TestId) -> Result<MemberRole, ErrorCode> {
    let row = queries::room_access(&state.pool, test, user.id).await.map_err(|e| {
        tracing::error!(%e, %test, "loading test membership for join");
        ErrorCode::Forbidden
    })?;
    match row {
        Some(r) if r.role == "invigilator" => Ok(MemberRole::Viewer),
        Some(r) if r.role == "student" && r.submitted_at.is_none() && r.deadline.is_some_and(|d| d > now()) => {
            Ok(MemberRole::Publisher)
        }
        _ => Err(ErrorCode::Forbidden),
    }
}

/// Called after `user` joined `room` with `role`: a student in a test's room is live (pushed to the
/// invigilators, cancelling a pending "disconnected"). Other rooms are ignored.
pub async fn member_joined(state: &AppState, user: &User, room: &RoomId, role: MemberRole) {
    let RoomId::Test(test) = room else { return };
    if role == MemberRole::Publisher {
        let since = state.proctor.joined(*test, user.id, now());
        push_state(state, *test, user.id, StudentState::Live, since);
    }
}

/// Called after `user` left `room` (or disconnected) with `role`. When a student's last connection leaves,
/// the invigilators get `reconnecting` at once and `disconnected` (since the moment they left) after
/// [`DISCONNECTED_AFTER`] unless the student is back; nothing is pushed once the attempt is over. When an
/// invigilator's last connection leaves, their open views end. Other rooms are ignored.
pub async fn member_left(state: &AppState, user: &User, room: &RoomId, role: MemberRole) {
    let RoomId::Test(test) = room else { return };
    let test = *test;
    match role {
        MemberRole::Publisher => {
            if state.hub.users_with_role(room, MemberRole::Publisher).contains(&user.id) {
                return; // another tab is still streaming
            }
            let now = now();
            match queries::attempt(&state.pool, test, user.id).await {
                Ok(Some(a)) if a.submitted_at.is_none() && a.deadline > now => {}
                Ok(_) => {
                    state.proctor.forget(test, user.id);
                    return;
                }
                Err(e) => tracing::error!(%e, %test, "loading attempt after a student left"),
            }
            if state.hub.users_with_role(room, MemberRole::Publisher).contains(&user.id) {
                return; // reconnected while the attempt was loading
            }
            let task_state = state.clone();
            let student = user.id;
            let timer = tokio::spawn(async move {
                tokio::time::sleep(DISCONNECTED_AFTER).await;
                let back =
                    task_state.hub.users_with_role(&RoomId::Test(test), MemberRole::Publisher).contains(&student);
                if !back && task_state.proctor.disconnect(test, student, now) {
                    push_state(&task_state, test, student, StudentState::Disconnected, now);
                }
            });
            state.proctor.left(test, student, now, timer.abort_handle());
            push_state(state, test, student, StudentState::Reconnecting, now);
        }
        MemberRole::Viewer => {
            if state.hub.users_with_role(room, MemberRole::Viewer).contains(&user.id) {
                return; // another tab is still watching
            }
            match queries::end_open_views(&state.pool, test, user.id, now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(%test, invigilator = %user.id, views = n, "views ended: invigilator left"),
                Err(e) => tracing::error!(%e, %test, "ending views of an invigilator who left"),
            }
        }
        MemberRole::Member => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-31 12:00 UTC);

    #[test]
    fn datetime_local_values_are_utc() {
        assert_eq!(parse_datetime_local("2030-01-31T14:05"), Some(datetime!(2030-01-31 14:05 UTC)));
        assert_eq!(parse_datetime_local("2030-01-31T14:05:30"), Some(datetime!(2030-01-31 14:05:30 UTC)));
        assert_eq!(parse_datetime_local("2030-01-31T14:05:30.250"), Some(datetime!(2030-01-31 14:05:30.25 UTC)));
        for bad in ["", "2030-01-31", "31/01/2030 14:05", "2030-02-30T10:00", "2030-01-31T25:00"] {
            assert_eq!(parse_datetime_local(bad), None, "{bad}");
        }
    }

    fn field(r: Result<NewTest, AppError>) -> String {
        r.unwrap_err().field().unwrap_or_default().to_string()
    }

    #[test]
    fn new_test_defaults_and_validation() {
        let t = validate_new_test(NOW, " Quiz ", "", "", "", "", "Q1\n\n  Q2  \n").unwrap();
        assert_eq!(t.title, "Quiz");
        assert_eq!((t.starts_at, t.ends_at, t.duration_minutes), (NOW, datetime!(2030-01-31 13:00 UTC), None));
        assert_eq!(t.questions, vec!["Q1", "Q2"]);

        let t = validate_new_test(NOW, "Quiz", "", "2030-02-01T09:00", "", "90", "Q").unwrap();
        assert_eq!((t.starts_at, t.ends_at), (datetime!(2030-02-01 09:00 UTC), datetime!(2030-02-01 10:30 UTC)));
        assert_eq!(t.duration_minutes, Some(90));

        let long_title = "t".repeat(201);
        let long_prompt = "q".repeat(2001);
        let many = "q\n".repeat(51);
        assert_eq!(field(validate_new_test(NOW, "", "", "", "", "", "Q")), "title");
        assert_eq!(field(validate_new_test(NOW, &long_title, "", "", "", "", "Q")), "title");
        assert_eq!(field(validate_new_test(NOW, "T", &"i".repeat(5001), "", "", "", "Q")), "instructions");
        assert_eq!(field(validate_new_test(NOW, "T", "", "tomorrow", "", "", "Q")), "starts_at");
        assert_eq!(field(validate_new_test(NOW, "T", "", "", "soon", "", "Q")), "ends_at");
        assert_eq!(field(validate_new_test(NOW, "T", "", "2030-02-01T09:00", "2030-02-01T09:00", "", "Q")), "ends_at");
        assert_eq!(field(validate_new_test(NOW, "T", "", "2029-01-01T09:00", "2029-01-01T10:00", "", "Q")), "ends_at");
        for d in ["0", "601", "1.5", "x"] {
            assert_eq!(field(validate_new_test(NOW, "T", "", "", "", d, "Q")), "duration_minutes", "{d}");
        }
        assert_eq!(field(validate_new_test(NOW, "T", "", "", "", "", " \n ")), "questions");
        assert_eq!(field(validate_new_test(NOW, "T", "", "", "", "", &many)), "questions");
        assert_eq!(field(validate_new_test(NOW, "T", "", "", "", "", &long_prompt)), "questions");
    }

    #[test]
    fn card_states() {
        let later = NOW + time::Duration::hours(1);
        let earlier = NOW - time::Duration::seconds(10);
        let gone = Some(Presence { state: StudentState::Disconnected, since: earlier });
        let live = Some(Presence { state: StudentState::Live, since: earlier });
        assert_eq!(card_state(false, None, None, false, None, NOW), (StudentState::NotStarted, None));
        assert_eq!(
            card_state(true, Some(later), Some(earlier), true, live, NOW),
            (StudentState::Submitted, Some(earlier))
        );
        assert_eq!(card_state(true, Some(earlier), None, true, live, NOW), (StudentState::Submitted, Some(earlier)));
        assert_eq!(card_state(true, Some(later), None, true, live, NOW), (StudentState::Live, Some(earlier)));
        assert_eq!(card_state(true, Some(later), None, true, gone, NOW), (StudentState::Live, None));
        assert_eq!(card_state(true, Some(later), None, false, gone, NOW), (StudentState::Disconnected, Some(earlier)));
        assert_eq!(card_state(true, Some(later), None, false, live, NOW), (StudentState::Disconnected, None));
        assert_eq!(card_state(true, Some(later), None, false, None, NOW), (StudentState::Disconnected, None));
    }

    #[tokio::test]
    async fn presence_timers_are_cancelled_when_the_student_is_back() {
        let p = ProctorState::default();
        let (test, student) = (TestId::new(), UserId::new());
        assert_eq!(p.joined(test, student, NOW), NOW);
        let timer = tokio::spawn(std::future::pending::<()>());
        p.left(test, student, NOW + time::Duration::seconds(1), timer.abort_handle());
        assert_eq!(p.get(test, student).map(|p| p.state), Some(StudentState::Reconnecting));
        let back = NOW + time::Duration::seconds(2);
        assert_eq!(p.joined(test, student, back), back);
        assert!(timer.await.unwrap_err().is_cancelled());
        // A stale timer (for the earlier departure) changes nothing.
        assert!(!p.disconnect(test, student, NOW + time::Duration::seconds(1)));
        assert_eq!(p.get(test, student).map(|p| p.state), Some(StudentState::Live));
    }
}
