//! Proctoring: tests with questions and members (invigilators and students), taking a test while the
//! camera streams to the test's invigilators, the student grid, flags, attention pings, and the audit of
//! who watched whom. Roles come from a test's membership only.

pub mod components;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod service;

use crate::error::AppError;
use crate::ids::{FlagId, QuestionId, TestId, UserId, ViewId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A member's role in one test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestRole {
    /// The creator and co-invigilators: see the grid, streams, flags and audit.
    Invigilator,
    /// Enrolled users who take the test.
    Student,
}

/// Where a test is in time, from the server's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestWindow {
    Upcoming,
    Open,
    Closed,
}

/// A test in the `/tests` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSummary {
    pub id: TestId,
    pub title: String,
    pub role: TestRole,
    pub window: TestWindow,
    /// Milliseconds since the Unix epoch (UTC).
    pub starts_at_ms: i64,
    /// Milliseconds since the Unix epoch (UTC).
    pub ends_at_ms: i64,
}

/// One question of a test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: QuestionId,
    /// 1-based order.
    pub position: i16,
    /// Plain text.
    pub prompt: String,
}

/// A test as its members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestDetail {
    pub id: TestId,
    pub title: String,
    pub instructions: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// Time a student has from starting, if the test has a duration; otherwise until `ends_at`.
    pub duration_minutes: Option<i32>,
    pub window: TestWindow,
    pub questions: Vec<Question>,
    /// The caller's role.
    pub role: TestRole,
}

/// A member of a test (for invigilators).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: UserId,
    pub username: String,
    pub name: String,
    pub role: TestRole,
}

/// A student's attempt: when it started, its deadline, and the saved answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub started_at_ms: i64,
    /// When answers stop being accepted: start + duration, capped at the test's end.
    pub deadline_ms: i64,
    pub submitted_at_ms: Option<i64>,
    /// Saved answer text per question (questions without an answer are absent).
    pub answers: Vec<(QuestionId, String)>,
}

/// A student's state on the invigilators' grid.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentState {
    NotStarted,
    /// Connected and in the test's room (streaming, or about to).
    Live,
    /// The connection dropped moments ago.
    Reconnecting,
    /// Gone since `since_ms`.
    Disconnected,
    Submitted,
}

/// What a student's page reports.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// The tab was hidden (switched away).
    TabHidden,
    /// The window lost focus.
    WindowBlur,
    /// Full screen was left.
    FullscreenExit,
    /// The camera track ended or was turned off.
    CameraStopped,
}

impl FlagKind {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::TabHidden => "Switched tabs",
            Self::WindowBlur => "Left the window",
            Self::FullscreenExit => "Left full screen",
            Self::CameraStopped => "Camera stopped",
        }
    }
}

/// A flag as invigilators see it.
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagView {
    pub id: FlagId,
    pub student: UserId,
    pub kind: FlagKind,
    /// Raised while the student's connection was reconnecting: likely the network, not behaviour.
    pub during_reconnect: bool,
    /// Milliseconds since the Unix epoch (UTC), as recorded by the server.
    pub raised_at_ms: i64,
}

/// One card of the student grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentCard {
    pub student: UserId,
    pub name: String,
    pub state: StudentState,
    /// When the state began (e.g. "disconnected since"), ms since the Unix epoch.
    pub since_ms: Option<i64>,
    pub flag_count: u32,
    pub latest_flag: Option<FlagView>,
}

/// One row of the audit report: which invigilator watched which student, from when to when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: ViewId,
    pub invigilator_name: String,
    pub student_name: String,
    pub started_at_ms: i64,
    /// `None` while still watching.
    pub ended_at_ms: Option<i64>,
}

#[cfg(feature = "ssr")]
fn status<T>(r: Result<T, AppError>) -> Result<T, AppError> {
    crate::error::with_status(r)
}

/// Creates a test owned by the caller, who becomes its first invigilator.
///
/// `starts_at`/`ends_at`: `YYYY-MM-DDTHH:MM` (an HTML `datetime-local` value) in UTC, or empty for "now" /
/// "start + duration" (or start + 1 hour without a duration); `duration_minutes`: empty or 1–600; `questions`:
/// one per line, 1–50 non-empty lines, each ≤ 2000 characters. Errors: `Unauthorized`, `Validation`.
#[server(prefix = "/api", endpoint = "create_test")]
pub async fn create_test(
    title: String,
    instructions: String,
    starts_at: String,
    ends_at: String,
    duration_minutes: String,
    questions: String,
) -> Result<TestId, AppError> {
    status(service::create_test(title, instructions, starts_at, ends_at, duration_minutes, questions).await)
}

/// Adds a user by username as `role` (invigilators only). Adding an existing member changes their role.
/// Errors: `Unauthorized`, `Forbidden`, `NotFound` (test or username), `Validation`.
#[server(prefix = "/api", endpoint = "add_member")]
pub async fn add_member(test: TestId, username: String, role: TestRole) -> Result<Member, AppError> {
    status(service::add_member(test, username, role).await)
}

/// The caller's tests in both roles, soonest first.
#[server(prefix = "/api", endpoint = "my_tests")]
pub async fn my_tests() -> Result<Vec<TestSummary>, AppError> {
    status(service::my_tests().await)
}

/// A test for one of its members. Errors: `Unauthorized`; `NotFound` for non-members (a test's existence is
/// not revealed to outsiders).
#[server(prefix = "/api", endpoint = "test")]
pub async fn get_test(test: TestId) -> Result<TestDetail, AppError> {
    status(service::get_test(test).await)
}

/// The test's members (invigilators only). Errors: `Unauthorized`, `NotFound`, `Forbidden`.
#[server(prefix = "/api", endpoint = "test_members")]
pub async fn test_members(test: TestId) -> Result<Vec<Member>, AppError> {
    status(service::test_members(test).await)
}

/// Starts (or resumes) the caller's attempt; students only, inside the test's window.
/// Errors: `Unauthorized`, `NotFound`, `Forbidden`, `Conflict` (not open yet / closed / already submitted).
#[server(prefix = "/api", endpoint = "start_attempt")]
pub async fn start_attempt(test: TestId) -> Result<Attempt, AppError> {
    status(service::start_attempt(test).await)
}

/// Saves one answer (≤ 20 000 characters) of the caller's open attempt, before its deadline.
#[server(prefix = "/api", endpoint = "save_answer")]
pub async fn save_answer(test: TestId, question: QuestionId, text: String) -> Result<(), AppError> {
    status(service::save_answer(test, question, text).await)
}

/// Submits the caller's attempt (idempotent). Invigilators see the student as submitted.
#[server(prefix = "/api", endpoint = "submit_attempt")]
pub async fn submit_attempt(test: TestId) -> Result<Attempt, AppError> {
    status(service::submit_attempt(test).await)
}

/// Records a flag for the caller's open attempt and pushes it to the invigilators.
#[server(prefix = "/api", endpoint = "report_flag")]
pub async fn report_flag(test: TestId, kind: FlagKind, during_reconnect: bool) -> Result<FlagView, AppError> {
    status(service::report_flag(test, kind, during_reconnect).await)
}

/// The student grid (invigilators only).
#[server(prefix = "/api", endpoint = "student_grid")]
pub async fn student_grid(test: TestId) -> Result<Vec<StudentCard>, AppError> {
    status(service::student_grid(test).await)
}

/// All flags of one student, newest first (invigilators only).
#[server(prefix = "/api", endpoint = "student_flags")]
pub async fn student_flags(test: TestId, student: UserId) -> Result<Vec<FlagView>, AppError> {
    status(service::student_flags(test, student).await)
}

/// Starts an audited view of a student's stream by the caller (an invigilator); returns its id.
#[server(prefix = "/api", endpoint = "start_view")]
pub async fn start_view(test: TestId, student: UserId) -> Result<ViewId, AppError> {
    status(service::start_view(test, student).await)
}

/// Ends the caller's view (idempotent).
#[server(prefix = "/api", endpoint = "end_view")]
pub async fn end_view(view: ViewId) -> Result<(), AppError> {
    status(service::end_view(view).await)
}

/// The audit report: every view of the test, newest first (invigilators only).
#[server(prefix = "/api", endpoint = "test_audit")]
pub async fn test_audit(test: TestId) -> Result<Vec<AuditRow>, AppError> {
    status(service::test_audit(test).await)
}

/// Sends a short message (1–200 characters) to one student of the test (invigilators only); it appears on
/// the student's page.
#[server(prefix = "/api", endpoint = "attention")]
pub async fn attention(test: TestId, student: UserId, text: String) -> Result<(), AppError> {
    status(service::attention(test, student, text).await)
}
