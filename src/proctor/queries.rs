//! SQL for proctored tests: tests and questions, memberships, attempts and answers, flags and the view
//! audit (compile-checked; offline data in `.sqlx/`). Times are passed in from the caller (one clock, the
//! application server's) rather than taken from the database's `now()`.

use crate::ids::{FlagId, QuestionId, TestId, UserId, ViewId};
use crate::proctor::Question;
use sqlx::PgExecutor;
use time::OffsetDateTime;

/// A test with the role of the user it was loaded for (`'invigilator'` or `'student'`).
pub struct TestRow {
    pub id: TestId,
    pub owner_id: UserId,
    pub title: String,
    pub instructions: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    pub duration_minutes: Option<i32>,
    pub role: String,
}

/// A test in a user's list, with that user's role.
pub struct TestListRow {
    pub id: TestId,
    pub title: String,
    pub role: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
}

/// A member with names.
pub struct MemberRow {
    pub user_id: UserId,
    pub username: String,
    pub name: String,
    pub role: String,
}

/// A user's membership and attempt, for joining the test's `/ws` room.
pub struct RoomAccessRow {
    pub role: String,
    pub deadline: Option<OffsetDateTime>,
    pub submitted_at: Option<OffsetDateTime>,
}

/// A student's attempt without its answers.
pub struct AttemptRow {
    pub started_at: OffsetDateTime,
    pub deadline: OffsetDateTime,
    pub submitted_at: Option<OffsetDateTime>,
}

/// A stored flag.
pub struct FlagRow {
    pub id: FlagId,
    pub student_id: UserId,
    pub kind: String,
    pub during_reconnect: bool,
    pub raised_at: OffsetDateTime,
}

/// One enrolled student with their attempt and flags, for the grid.
pub struct GridRow {
    pub student_id: UserId,
    pub name: String,
    pub started_at: Option<OffsetDateTime>,
    pub deadline: Option<OffsetDateTime>,
    pub submitted_at: Option<OffsetDateTime>,
    pub flag_count: i64,
    pub flag_id: Option<FlagId>,
    pub flag_kind: Option<String>,
    pub flag_during_reconnect: Option<bool>,
    pub flag_raised_at: Option<OffsetDateTime>,
}

/// One view of the audit with names.
pub struct AuditDbRow {
    pub id: ViewId,
    pub invigilator_name: String,
    pub student_name: String,
    pub started_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
}

/// The test of one view and the invigilator who watched.
pub struct ViewRef {
    pub test_id: TestId,
    pub invigilator_id: UserId,
}

/// Inserts a test (no members yet).
#[allow(clippy::too_many_arguments)]
pub async fn insert_test(
    db: impl PgExecutor<'_>,
    id: TestId,
    owner: UserId,
    title: &str,
    instructions: &str,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    duration_minutes: Option<i32>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO tests (id, owner_id, title, instructions, starts_at, ends_at, duration_minutes)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id as TestId,
        owner as UserId,
        title,
        instructions,
        starts_at,
        ends_at,
        duration_minutes
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Inserts the questions of a test, numbered from 1 in the given order; `ids` and `prompts` have equal length.
pub async fn insert_questions(
    db: impl PgExecutor<'_>,
    test: TestId,
    ids: &[uuid::Uuid],
    prompts: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO test_questions (id, test_id, position, prompt)
         SELECT q.id, $1, q.position::smallint, q.prompt
         FROM UNNEST($2::uuid[], $3::text[]) WITH ORDINALITY AS q (id, prompt, position)",
        test as TestId,
        ids,
        prompts
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Adds `user` to `test` as `role` (`'invigilator'` or `'student'`), or changes their role.
pub async fn upsert_member(db: impl PgExecutor<'_>, test: TestId, user: UserId, role: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO test_members (test_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (test_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        test as TestId,
        user as UserId,
        role
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `test` with `user`'s role in it; `None` if the test does not exist or `user` is not a member.
pub async fn test_for_member(db: impl PgExecutor<'_>, test: TestId, user: UserId) -> sqlx::Result<Option<TestRow>> {
    sqlx::query_as!(
        TestRow,
        r#"SELECT t.id AS "id: TestId", t.owner_id AS "owner_id: UserId", t.title, t.instructions,
                  t.starts_at, t.ends_at, t.duration_minutes, m.role
           FROM tests t JOIN test_members m ON m.test_id = t.id AND m.user_id = $2
           WHERE t.id = $1"#,
        test as TestId,
        user as UserId
    )
    .fetch_optional(db)
    .await
}

/// `user`'s role in `test` (`'invigilator'` or `'student'`), if a member.
pub async fn member_role(db: impl PgExecutor<'_>, test: TestId, user: UserId) -> sqlx::Result<Option<String>> {
    let row = sqlx::query!(
        "SELECT role FROM test_members WHERE test_id = $1 AND user_id = $2",
        test as TestId,
        user as UserId
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| r.role))
}

/// The tests `user` is a member of: those not yet over first, each group by start time; at most 500.
pub async fn tests_of_user(
    db: impl PgExecutor<'_>,
    user: UserId,
    now: OffsetDateTime,
) -> sqlx::Result<Vec<TestListRow>> {
    sqlx::query_as!(
        TestListRow,
        r#"SELECT t.id AS "id: TestId", t.title, m.role, t.starts_at, t.ends_at
           FROM test_members m JOIN tests t ON t.id = m.test_id
           WHERE m.user_id = $1
           ORDER BY t.ends_at <= $2, t.starts_at, t.id
           LIMIT 500"#,
        user as UserId,
        now
    )
    .fetch_all(db)
    .await
}

/// The questions of `test` in order.
pub async fn questions(db: impl PgExecutor<'_>, test: TestId) -> sqlx::Result<Vec<Question>> {
    sqlx::query_as!(
        Question,
        r#"SELECT id AS "id: QuestionId", position, prompt FROM test_questions WHERE test_id = $1 ORDER BY position"#,
        test as TestId
    )
    .fetch_all(db)
    .await
}

/// The members of `test`: invigilators first, then by name.
pub async fn members(db: impl PgExecutor<'_>, test: TestId) -> sqlx::Result<Vec<MemberRow>> {
    sqlx::query_as!(
        MemberRow,
        r#"SELECT m.user_id AS "user_id: UserId", u.username, u.display_name AS name, m.role
           FROM test_members m JOIN users u ON u.id = m.user_id
           WHERE m.test_id = $1
           ORDER BY m.role = 'student', u.display_name, u.username"#,
        test as TestId
    )
    .fetch_all(db)
    .await
}

/// `user`'s role in `test` and their attempt, if any; `None` for non-members.
pub async fn room_access(db: impl PgExecutor<'_>, test: TestId, user: UserId) -> sqlx::Result<Option<RoomAccessRow>> {
    sqlx::query_as!(
        RoomAccessRow,
        r#"SELECT m.role, a.deadline AS "deadline?", a.submitted_at AS "submitted_at?"
           FROM test_members m
           LEFT JOIN attempts a ON a.test_id = m.test_id AND a.student_id = m.user_id
           WHERE m.test_id = $1 AND m.user_id = $2"#,
        test as TestId,
        user as UserId
    )
    .fetch_optional(db)
    .await
}

/// `student`'s attempt at `test`.
pub async fn attempt(db: impl PgExecutor<'_>, test: TestId, student: UserId) -> sqlx::Result<Option<AttemptRow>> {
    sqlx::query_as!(
        AttemptRow,
        "SELECT started_at, deadline, submitted_at FROM attempts WHERE test_id = $1 AND student_id = $2",
        test as TestId,
        student as UserId
    )
    .fetch_optional(db)
    .await
}

/// Starts `student`'s attempt unless one exists (then nothing changes).
pub async fn insert_attempt(
    db: impl PgExecutor<'_>,
    test: TestId,
    student: UserId,
    started_at: OffsetDateTime,
    deadline: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO attempts (test_id, student_id, started_at, deadline) VALUES ($1, $2, $3, $4)
         ON CONFLICT (test_id, student_id) DO NOTHING",
        test as TestId,
        student as UserId,
        started_at,
        deadline
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `student`'s saved answers at `test`, in question order.
pub async fn answers(
    db: impl PgExecutor<'_>,
    test: TestId,
    student: UserId,
) -> sqlx::Result<Vec<(QuestionId, String)>> {
    let rows = sqlx::query!(
        r#"SELECT a.question_id AS "question_id: QuestionId", a.text
           FROM answers a JOIN test_questions q ON q.id = a.question_id
           WHERE a.test_id = $1 AND a.student_id = $2
           ORDER BY q.position"#,
        test as TestId,
        student as UserId
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.question_id, r.text)).collect())
}

/// Saves (inserts or replaces) one answer if `student`'s attempt is open at `now` (started, not submitted,
/// before its deadline) and `question` belongs to `test`. The attempt row is locked, so a concurrent
/// submission either waits for this save or makes it fail. Returns `false` when nothing was saved.
pub async fn save_answer(
    db: impl PgExecutor<'_>,
    test: TestId,
    student: UserId,
    question: QuestionId,
    text: &str,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    let row = sqlx::query!(
        "INSERT INTO answers (test_id, student_id, question_id, text, updated_at)
         SELECT a.test_id, a.student_id, q.id, $4, $5
         FROM attempts a JOIN test_questions q ON q.test_id = a.test_id AND q.id = $3
         WHERE a.test_id = $1 AND a.student_id = $2 AND a.submitted_at IS NULL AND a.deadline > $5
         FOR UPDATE OF a
         ON CONFLICT (test_id, student_id, question_id) DO UPDATE SET text = EXCLUDED.text, updated_at = EXCLUDED.updated_at
         RETURNING question_id",
        test as TestId,
        student as UserId,
        question as QuestionId,
        text,
        now
    )
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

/// Marks `student`'s attempt submitted at `min(now, deadline)`. Returns that time if it was open (not yet
/// submitted), `None` otherwise.
pub async fn submit_attempt(
    db: impl PgExecutor<'_>,
    test: TestId,
    student: UserId,
    now: OffsetDateTime,
) -> sqlx::Result<Option<OffsetDateTime>> {
    let row = sqlx::query!(
        r#"UPDATE attempts SET submitted_at = LEAST($3, deadline)
           WHERE test_id = $1 AND student_id = $2 AND submitted_at IS NULL
           RETURNING submitted_at AS "submitted_at!""#,
        test as TestId,
        student as UserId,
        now
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| r.submitted_at))
}

/// Stores a flag if `student`'s attempt is open at `now`. Returns `false` when it is not (nothing stored).
pub async fn insert_flag(
    db: impl PgExecutor<'_>,
    id: FlagId,
    test: TestId,
    student: UserId,
    kind: &str,
    during_reconnect: bool,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    let row = sqlx::query!(
        "INSERT INTO flags (id, test_id, student_id, kind, during_reconnect, raised_at)
         SELECT $1, a.test_id, a.student_id, $4, $5, $6
         FROM attempts a
         WHERE a.test_id = $2 AND a.student_id = $3 AND a.submitted_at IS NULL AND a.deadline > $6
         RETURNING id",
        id as FlagId,
        test as TestId,
        student as UserId,
        kind,
        during_reconnect,
        now
    )
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

/// Every enrolled student of `test` by name, with their attempt, flag count and latest flag.
pub async fn grid(db: impl PgExecutor<'_>, test: TestId) -> sqlx::Result<Vec<GridRow>> {
    sqlx::query_as!(
        GridRow,
        r#"SELECT m.user_id AS "student_id: UserId", u.display_name AS name,
                  a.started_at AS "started_at?", a.deadline AS "deadline?", a.submitted_at AS "submitted_at?",
                  (SELECT count(*) FROM flags c WHERE c.test_id = m.test_id AND c.student_id = m.user_id) AS "flag_count!",
                  f.id AS "flag_id?: FlagId", f.kind AS "flag_kind?", f.during_reconnect AS "flag_during_reconnect?",
                  f.raised_at AS "flag_raised_at?"
           FROM test_members m
           JOIN users u ON u.id = m.user_id
           LEFT JOIN attempts a ON a.test_id = m.test_id AND a.student_id = m.user_id
           LEFT JOIN LATERAL (
               SELECT l.id, l.kind, l.during_reconnect, l.raised_at FROM flags l
               WHERE l.test_id = m.test_id AND l.student_id = m.user_id
               ORDER BY l.raised_at DESC, l.id DESC
               LIMIT 1
           ) f ON true
           WHERE m.test_id = $1 AND m.role = 'student'
           ORDER BY u.display_name, u.username"#,
        test as TestId
    )
    .fetch_all(db)
    .await
}

/// `student`'s flags at `test`, newest first (at most 1000).
pub async fn flags(db: impl PgExecutor<'_>, test: TestId, student: UserId) -> sqlx::Result<Vec<FlagRow>> {
    sqlx::query_as!(
        FlagRow,
        r#"SELECT id AS "id: FlagId", student_id AS "student_id: UserId", kind, during_reconnect, raised_at
           FROM flags WHERE test_id = $1 AND student_id = $2
           ORDER BY raised_at DESC, id DESC
           LIMIT 1000"#,
        test as TestId,
        student as UserId
    )
    .fetch_all(db)
    .await
}

/// Records the start of a view of `student` by `invigilator`.
pub async fn insert_view(
    db: impl PgExecutor<'_>,
    id: ViewId,
    test: TestId,
    invigilator: UserId,
    student: UserId,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO view_audit (id, test_id, invigilator_id, student_id, started_at) VALUES ($1, $2, $3, $4, $5)",
        id as ViewId,
        test as TestId,
        invigilator as UserId,
        student as UserId,
        now
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Which test a view belongs to and who is watching.
pub async fn view_ref(db: impl PgExecutor<'_>, view: ViewId) -> sqlx::Result<Option<ViewRef>> {
    sqlx::query_as!(
        ViewRef,
        r#"SELECT test_id AS "test_id: TestId", invigilator_id AS "invigilator_id: UserId" FROM view_audit WHERE id = $1"#,
        view as ViewId
    )
    .fetch_optional(db)
    .await
}

/// Ends a view at `now` unless it has ended already.
pub async fn end_view(db: impl PgExecutor<'_>, view: ViewId, now: OffsetDateTime) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE view_audit SET ended_at = GREATEST($2, started_at) WHERE id = $1 AND ended_at IS NULL",
        view as ViewId,
        now
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Ends every open view of `invigilator` in `test` at `now`; returns how many.
pub async fn end_open_views(
    db: impl PgExecutor<'_>,
    test: TestId,
    invigilator: UserId,
    now: OffsetDateTime,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE view_audit SET ended_at = GREATEST($3, started_at)
         WHERE test_id = $1 AND invigilator_id = $2 AND ended_at IS NULL",
        test as TestId,
        invigilator as UserId,
        now
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Every view of `test` with names, newest first (at most 5000).
pub async fn audit(db: impl PgExecutor<'_>, test: TestId) -> sqlx::Result<Vec<AuditDbRow>> {
    sqlx::query_as!(
        AuditDbRow,
        r#"SELECT v.id AS "id: ViewId", i.display_name AS invigilator_name, s.display_name AS student_name,
                  v.started_at, v.ended_at
           FROM view_audit v JOIN users i ON i.id = v.invigilator_id JOIN users s ON s.id = v.student_id
           WHERE v.test_id = $1
           ORDER BY v.started_at DESC, v.id DESC
           LIMIT 5000"#,
        test as TestId
    )
    .fetch_all(db)
    .await
}

/// The newest test of `owner` titled `title`, with its end (for the idempotent demo data).
pub async fn test_by_owner_and_title(
    db: impl PgExecutor<'_>,
    owner: UserId,
    title: &str,
) -> sqlx::Result<Option<(TestId, OffsetDateTime)>> {
    let row = sqlx::query!(
        r#"SELECT id AS "id: TestId", ends_at FROM tests WHERE owner_id = $1 AND title = $2
           ORDER BY created_at DESC LIMIT 1"#,
        owner as UserId,
        title
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, r.ends_at)))
}

/// Moves the end of `test` to `ends_at` (demo data whose window ran out).
pub async fn set_ends_at(db: impl PgExecutor<'_>, test: TestId, ends_at: OffsetDateTime) -> sqlx::Result<()> {
    sqlx::query!("UPDATE tests SET ends_at = $2 WHERE id = $1 AND starts_at < $2", test as TestId, ends_at)
        .execute(db)
        .await?;
    Ok(())
}
