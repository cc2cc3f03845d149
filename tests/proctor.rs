//! Proctoring against a real PostgreSQL and a real server: who may do what in a test (students are refused
//! the grid, other students' streams and signals; outsiders everything), answers that persist, the student
//! states and flags pushed to invigilators, attention pings, and the view audit.

mod common;

use common::*;
use onair::ids::{QuestionId, TestId, UserId, ViewId};
use onair::proctor::{Attempt, AuditRow, FlagKind, FlagView, StudentCard, StudentState, TestDetail, TestSummary};
use onair::signaling::protocol::{ClientMsg, ErrorCode, MemberRole, RoomId, ServerMsg, Signal};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// A test with a teacher (its creator), a co-invigilator, two students and an outsider, all signed in.
struct Scene {
    server: TestServer,
    test: TestId,
    questions: Vec<QuestionId>,
    teacher: Browser,
    co: Browser,
    s1: Browser,
    s2: Browser,
    outsider: Browser,
    teacher_id: UserId,
    co_id: UserId,
    s1_id: UserId,
    s2_id: UserId,
}

impl Scene {
    fn room(&self) -> RoomId {
        RoomId::Test(self.test)
    }
    fn id(&self) -> String {
        self.test.to_string()
    }
}

async fn create_test(b: &Browser, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![
        ("title", "Algebra quiz"),
        ("instructions", "No notes."),
        ("starts_at", ""),
        ("ends_at", ""),
        ("duration_minutes", ""),
        ("questions", "What is 2 + 2?\nName a prime number."),
    ];
    for (k, v) in fields {
        form.iter_mut().find(|(f, _)| f == k).expect("known field").1 = v;
    }
    b.call("create_test", &form).await
}

async fn add_member(b: &Browser, test: TestId, username: &str, role: &str) -> reqwest::Response {
    b.call("add_member", &[("test", &test.to_string()), ("username", username), ("role", role)]).await
}

async fn ok<T: serde::de::DeserializeOwned>(res: reqwest::Response) -> T {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn scene_with(pool: PgPool, fields: &[(&str, &str)]) -> Scene {
    let server = TestServer::start(pool).await;
    let teacher = Browser::new(&server);
    let teacher_id = teacher.signup("tess", "Tess Teacher").await.id;
    let co = Browser::new(&server);
    let co_id = co.signup("cody", "Cody Co").await.id;
    let s1 = Browser::new(&server);
    let s1_id = s1.signup("stu1", "Stu One").await.id;
    let s2 = Browser::new(&server);
    let s2_id = s2.signup("stu2", "Stu Two").await.id;
    let outsider = Browser::new(&server);
    outsider.signup("olga", "Olga Outsider").await;

    let test: TestId = ok(create_test(&teacher, fields).await).await;
    for (username, role) in [("stu1", "student"), ("stu2", "student"), ("cody", "invigilator")] {
        let _: serde_json::Value = ok(add_member(&teacher, test, username, role).await).await;
    }
    let detail: TestDetail = ok(teacher.call("test", &[("test", &test.to_string())]).await).await;
    let questions = detail.questions.iter().map(|q| q.id).collect();
    Scene { server, test, questions, teacher, co, s1, s2, outsider, teacher_id, co_id, s1_id, s2_id }
}

async fn scene(pool: PgPool) -> Scene {
    scene_with(pool, &[]).await
}

async fn start_attempt(b: &Browser, test: TestId) -> reqwest::Response {
    b.call("start_attempt", &[("test", &test.to_string())]).await
}

async fn save(b: &Browser, test: TestId, question: QuestionId, text: &str) -> reqwest::Response {
    b.call("save_answer", &[("test", &test.to_string()), ("question", &question.to_string()), ("text", text)]).await
}

async fn grid(b: &Browser, test: TestId) -> Vec<StudentCard> {
    ok(b.call("student_grid", &[("test", &test.to_string())]).await).await
}

/// Sends a ping and returns every message that arrives before its pong (nothing else is in flight).
async fn drain(client: &mut Client) -> Vec<ServerMsg> {
    client.send(&ClientMsg::Ping { nonce: 77 }).await;
    let mut before = Vec::new();
    loop {
        match client.recv().await {
            ServerMsg::Pong { nonce: 77 } => return before,
            other => before.push(other),
        }
    }
}

/// Connects and joins `room`; returns the client and the peers listed in `joined`.
async fn join(server: &TestServer, b: &Browser, room: &RoomId) -> (Client, Vec<onair::signaling::protocol::PeerInfo>) {
    let mut c = Client::connect(server, b).await;
    c.send(&ClientMsg::Join { room: room.clone() }).await;
    match c.recv().await {
        ServerMsg::Joined { peers, .. } => (c, peers),
        other => panic!("expected joined, got {other:?}"),
    }
}

async fn join_refused(server: &TestServer, b: &Browser, room: &RoomId) -> ErrorCode {
    let mut c = Client::connect(server, b).await;
    c.send(&ClientMsg::Join { room: room.clone() }).await;
    match c.recv().await {
        ServerMsg::Error { code, .. } => code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[sqlx::test]
async fn create_test_validates_each_field_and_lists_tests_in_both_roles(pool: PgPool) {
    let s = scene(pool).await;
    let long_title = "t".repeat(201);
    for (field, value) in [
        ("title", ""),
        ("title", long_title.as_str()),
        ("starts_at", "next tuesday"),
        ("ends_at", "2001-01-01T10:00"),
        ("duration_minutes", "601"),
        ("questions", "\n \n"),
    ] {
        let res = create_test(&s.teacher, &[(field, value)]).await;
        assert_eq!(res.status(), 422, "{field}={value:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["detail"]["field"], field, "{body}");
    }
    // Signed out: refused.
    assert_eq!(create_test(&Browser::new(&s.server), &[]).await.status(), 401);

    // Times are UTC `datetime-local` values; a duration sets the default end.
    let later: TestId =
        ok(create_test(&s.teacher, &[("starts_at", "2090-05-01T09:00"), ("duration_minutes", "45")]).await).await;
    let detail: TestDetail = ok(s.teacher.call("test", &[("test", &later.to_string())]).await).await;
    assert_eq!(detail.starts_at_ms, 3_797_312_400_000);
    assert_eq!(detail.ends_at_ms - detail.starts_at_ms, 45 * 60_000);
    assert_eq!(detail.questions.len(), 2);
    assert_eq!(detail.questions[1].position, 2);
    assert_eq!(detail.questions[1].prompt, "Name a prime number.");

    let mine: Vec<TestSummary> = ok(s.teacher.call("my_tests", &[]).await).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].id, s.test, "the open test comes before the upcoming one");
    let theirs: Vec<TestSummary> = ok(s.s1.call("my_tests", &[]).await).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].role, onair::proctor::TestRole::Student);
    let co: Vec<TestSummary> = ok(s.co.call("my_tests", &[]).await).await;
    assert_eq!(co[0].role, onair::proctor::TestRole::Invigilator);
    assert!(ok::<Vec<TestSummary>>(s.outsider.call("my_tests", &[]).await).await.is_empty());

    // Members: an unknown username is not found; the creator cannot be made a student.
    assert_eq!(add_member(&s.teacher, s.test, "nobody_here", "student").await.status(), 404);
    assert_eq!(add_member(&s.teacher, s.test, "tess", "student").await.status(), 409);
    let members: Vec<serde_json::Value> = ok(s.co.call("test_members", &[("test", &s.id())]).await).await;
    assert_eq!(members.len(), 4);
}

#[sqlx::test]
async fn a_student_is_refused_the_grid_and_every_invigilator_action(pool: PgPool) {
    let s = scene(pool).await;
    let test = s.id();
    let other = s.s2_id.to_string();
    for (endpoint, form) in [
        ("student_grid", vec![("test", test.as_str())]),
        ("test_members", vec![("test", test.as_str())]),
        ("test_audit", vec![("test", test.as_str())]),
        ("student_flags", vec![("test", test.as_str()), ("student", other.as_str())]),
        ("start_view", vec![("test", test.as_str()), ("student", other.as_str())]),
        ("attention", vec![("test", test.as_str()), ("student", other.as_str()), ("text", "hi")]),
        ("add_member", vec![("test", test.as_str()), ("username", "olga"), ("role", "student")]),
    ] {
        assert_eq!(s.s1.call(endpoint, &form).await.status(), 403, "{endpoint}");
    }
    // An invigilator does not take the test.
    assert_eq!(start_attempt(&s.teacher, s.test).await.status(), 403);
    // But a student does see the test itself.
    let detail: TestDetail = ok(s.s1.call("test", &[("test", &test)]).await).await;
    assert_eq!(detail.role, onair::proctor::TestRole::Student);
}

#[sqlx::test]
async fn a_non_member_is_refused_everything(pool: PgPool) {
    let s = scene(pool).await;
    let test = s.id();
    let student = s.s1_id.to_string();
    let question = s.questions[0].to_string();
    let unknown = TestId(uuid::Uuid::now_v7()).to_string();
    for t in [test.as_str(), unknown.as_str()] {
        for (endpoint, form) in [
            ("test", vec![("test", t)]),
            ("student_grid", vec![("test", t)]),
            ("test_members", vec![("test", t)]),
            ("test_audit", vec![("test", t)]),
            ("start_attempt", vec![("test", t)]),
            ("submit_attempt", vec![("test", t)]),
            ("save_answer", vec![("test", t), ("question", question.as_str()), ("text", "x")]),
            ("report_flag", vec![("test", t), ("kind", "tab_hidden"), ("during_reconnect", "false")]),
            ("student_flags", vec![("test", t), ("student", student.as_str())]),
            ("start_view", vec![("test", t), ("student", student.as_str())]),
            ("attention", vec![("test", t), ("student", student.as_str()), ("text", "hi")]),
            ("add_member", vec![("test", t), ("username", "olga"), ("role", "invigilator")]),
        ] {
            // 404 both for the real test and for one that does not exist: existence is not revealed.
            assert_eq!(s.outsider.call(endpoint, &form).await.status(), 404, "{endpoint} {t}");
        }
    }
    assert_eq!(Browser::new(&s.server).call("test", &[("test", &test)]).await.status(), 401);
    assert_eq!(join_refused(&s.server, &s.outsider, &s.room()).await, ErrorCode::Forbidden);

    // Someone else's view cannot be ended (nor discovered).
    let view: ViewId = ok(s.teacher.call("start_view", &[("test", &test), ("student", &student)]).await).await;
    assert_eq!(s.outsider.call("end_view", &[("view", &view.to_string())]).await.status(), 404);
    assert_eq!(s.co.call("end_view", &[("view", &view.to_string())]).await.status(), 404);
}

#[sqlx::test]
async fn students_stream_only_to_invigilators_and_never_reach_each_other(pool: PgPool) {
    let s = scene(pool).await;
    let room = s.room();
    // Without a started attempt a student cannot join (in any role).
    assert_eq!(join_refused(&s.server, &s.s1, &room).await, ErrorCode::Forbidden);

    let (mut teacher, peers) = join(&s.server, &s.teacher, &room).await;
    assert!(peers.is_empty());
    for b in [&s.s1, &s.s2] {
        let _: Attempt = ok(start_attempt(b, s.test).await).await;
    }
    let (mut s1, peers) = join(&s.server, &s.s1, &room).await;
    assert_eq!(peers.len(), 1);
    assert_eq!((peers[0].peer, peers[0].role), (teacher.peer, MemberRole::Viewer));
    // The server, not the client, decided s1's role: a publisher, as the invigilator sees.
    match recv_until(&mut teacher, |m| matches!(m, ServerMsg::PeerJoined { .. })).await {
        ServerMsg::PeerJoined { peer, .. } => assert_eq!((peer.peer, peer.role), (s1.peer, MemberRole::Publisher)),
        _ => unreachable!(),
    }
    let (mut s2, peers) = join(&s.server, &s.s2, &room).await;
    assert_eq!(peers.iter().map(|p| p.peer).collect::<Vec<_>>(), vec![teacher.peer], "s2 must not see s1");
    // s1 did not learn of s2.
    assert!(!drain(&mut s1).await.iter().any(|m| matches!(m, ServerMsg::PeerJoined { .. })));

    // Student to student: refused, whatever the signal.
    for signal in [Signal::Offer { sdp: "v=0".into() }, Signal::Answer { sdp: "v=0".into() }, Signal::EndOfCandidates] {
        s1.send(&ClientMsg::Signal { room: room.clone(), to: s2.peer, signal }).await;
        let err = recv_until(&mut s1, |m| matches!(m, ServerMsg::Error { .. })).await;
        assert!(matches!(err, ServerMsg::Error { code: ErrorCode::Forbidden, .. }), "{err:?}");
    }
    assert!(drain(&mut s2).await.iter().all(|m| !matches!(m, ServerMsg::Signal { .. })));

    // Nor may a student ask the invigilator for media (students are send-only).
    s1.send(&ClientMsg::Signal { room: room.clone(), to: teacher.peer, signal: Signal::PreferredLayer { high: true } })
        .await;
    let err = recv_until(&mut s1, |m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(matches!(err, ServerMsg::Error { code: ErrorCode::Forbidden, .. }), "{err:?}");

    // What is allowed: the student offers its camera to the invigilator, who answers and asks for the high layer.
    s1.send(&ClientMsg::Signal { room: room.clone(), to: teacher.peer, signal: Signal::Offer { sdp: "o".into() } })
        .await;
    let got = recv_until(&mut teacher, |m| matches!(m, ServerMsg::Signal { .. })).await;
    assert!(matches!(got, ServerMsg::Signal { from, from_user, .. } if from == s1.peer && from_user == s.s1_id));
    teacher
        .send(&ClientMsg::Signal { room: room.clone(), to: s1.peer, signal: Signal::PreferredLayer { high: true } })
        .await;
    let got = recv_until(&mut s1, |m| matches!(m, ServerMsg::Signal { .. })).await;
    assert!(matches!(got, ServerMsg::Signal { signal: Signal::PreferredLayer { high: true }, .. }));
    // Invigilators do not offer to students.
    teacher
        .send(&ClientMsg::Signal { room: room.clone(), to: s1.peer, signal: Signal::Offer { sdp: "o".into() } })
        .await;
    let err = recv_until(&mut teacher, |m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(matches!(err, ServerMsg::Error { code: ErrorCode::Forbidden, .. }), "{err:?}");
    drop(s2);
}

#[sqlx::test]
async fn answers_persist_and_nothing_is_saved_after_submission(pool: PgPool) {
    let s = scene(pool).await;
    let (q1, q2) = (s.questions[0], s.questions[1]);
    // Not started yet.
    assert_eq!(save(&s.s1, s.test, q1, "early").await.status(), 409);

    let attempt: Attempt = ok(start_attempt(&s.s1, s.test).await).await;
    assert!(attempt.answers.is_empty());
    assert!(attempt.deadline_ms > attempt.started_at_ms);
    assert_eq!(save(&s.s1, s.test, q2, "2 is prime").await.status(), 200);
    assert_eq!(save(&s.s1, s.test, q1, "5").await.status(), 200);
    assert_eq!(save(&s.s1, s.test, q1, "4").await.status(), 200);
    // A question of another test, and an answer that is too long.
    assert_eq!(save(&s.s1, s.test, QuestionId(uuid::Uuid::now_v7()), "x").await.status(), 404);
    assert_eq!(save(&s.s1, s.test, q1, &"x".repeat(20_001)).await.status(), 422);

    // Starting again (a reload) resumes the same attempt with the saved answers.
    let again: Attempt = ok(start_attempt(&s.s1, s.test).await).await;
    assert_eq!(again.started_at_ms, attempt.started_at_ms);
    assert_eq!(again.answers, vec![(q1, "4".to_string()), (q2, "2 is prime".to_string())]);
    // The other student's answers are their own.
    let other: Attempt = ok(start_attempt(&s.s2, s.test).await).await;
    assert!(other.answers.is_empty());

    let submitted: Attempt = ok(s.s1.call("submit_attempt", &[("test", &s.id())]).await).await;
    assert!(submitted.submitted_at_ms.is_some());
    assert_eq!(submitted.answers.len(), 2);
    assert_eq!(save(&s.s1, s.test, q1, "changed my mind").await.status(), 409);
    assert_eq!(start_attempt(&s.s1, s.test).await.status(), 409);
    // Submitting is idempotent; the answers did not change.
    let twice: Attempt = ok(s.s1.call("submit_attempt", &[("test", &s.id())]).await).await;
    assert_eq!(twice, submitted);
    // A submitted student no longer streams.
    assert_eq!(join_refused(&s.server, &s.s1, &s.room()).await, ErrorCode::Forbidden);
    let test = s.id();
    let flag = [("test", test.as_str()), ("kind", "tab_hidden"), ("during_reconnect", "false")];
    assert_eq!(s.s1.call("report_flag", &flag).await.status(), 409);
}

#[sqlx::test]
async fn attempts_keep_to_the_window_and_the_duration(pool: PgPool) {
    let s = scene_with(pool.clone(), &[("starts_at", "2090-05-01T09:00"), ("duration_minutes", "30")]).await;
    // Not open yet.
    assert_eq!(start_attempt(&s.s1, s.test).await.status(), 409);

    // Open it now for two hours: the deadline is start + 30 minutes.
    sqlx::query(
        "UPDATE tests SET starts_at = now() - interval '1 minute', ends_at = now() + interval '2 hours' WHERE id = $1",
    )
    .bind(s.test.0)
    .execute(&pool)
    .await
    .unwrap();
    let attempt: Attempt = ok(start_attempt(&s.s1, s.test).await).await;
    assert_eq!(attempt.deadline_ms - attempt.started_at_ms, 30 * 60_000);

    // Out of time: answers are refused.
    sqlx::query("UPDATE attempts SET deadline = now() - interval '1 second', started_at = now() - interval '31 minutes' WHERE test_id = $1")
        .bind(s.test.0)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(save(&s.s1, s.test, s.questions[0], "late").await.status(), 409);
    let cards = grid(&s.teacher, s.test).await;
    assert_eq!(cards.iter().find(|c| c.student == s.s1_id).unwrap().state, StudentState::Submitted);

    // Over: no new attempt.
    sqlx::query(
        "UPDATE tests SET starts_at = now() - interval '3 hours', ends_at = now() - interval '1 hour' WHERE id = $1",
    )
    .bind(s.test.0)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(start_attempt(&s.s2, s.test).await.status(), 409);
}

#[sqlx::test]
async fn the_grid_follows_a_students_connection(pool: PgPool) {
    let s = scene(pool).await;
    let room = s.room();
    let (mut teacher, _) = join(&s.server, &s.teacher, &room).await;

    let cards = grid(&s.teacher, s.test).await;
    assert_eq!(
        cards.iter().map(|c| (c.name.as_str(), c.state)).collect::<Vec<_>>(),
        vec![("Stu One", StudentState::NotStarted), ("Stu Two", StudentState::NotStarted)]
    );

    let _: Attempt = ok(start_attempt(&s.s1, s.test).await).await;
    let (s1, _) = join(&s.server, &s.s1, &room).await;
    let live = recv_until(&mut teacher, |m| matches!(m, ServerMsg::StudentStateChanged { .. })).await;
    assert!(
        matches!(live, ServerMsg::StudentStateChanged { student, state: StudentState::Live, .. } if student == s.s1_id),
        "{live:?}"
    );
    let card = grid(&s.teacher, s.test).await.into_iter().find(|c| c.student == s.s1_id).unwrap();
    assert_eq!(card.state, StudentState::Live);
    assert!(card.since_ms.is_some());

    // The student closes the page: reconnecting at once, disconnected within 5 s.
    let closed_at = Instant::now();
    drop(s1);
    let msg = recv_until(&mut teacher, |m| matches!(m, ServerMsg::StudentStateChanged { .. })).await;
    assert!(matches!(msg, ServerMsg::StudentStateChanged { state: StudentState::Reconnecting, .. }), "{msg:?}");
    let msg = recv_until(&mut teacher, |m| matches!(m, ServerMsg::StudentStateChanged { .. })).await;
    let ServerMsg::StudentStateChanged { state, since_ms, .. } = msg else { unreachable!() };
    assert_eq!(state, StudentState::Disconnected);
    assert!(closed_at.elapsed() < Duration::from_secs(5), "took {:?}", closed_at.elapsed());
    let card = grid(&s.teacher, s.test).await.into_iter().find(|c| c.student == s.s1_id).unwrap();
    assert_eq!((card.state, card.since_ms), (StudentState::Disconnected, Some(since_ms)));

    // Back within the grace time: live again, and no "disconnected" follows.
    let (s1, _) = join(&s.server, &s.s1, &room).await;
    recv_until(&mut teacher, |m| matches!(m, ServerMsg::StudentStateChanged { state: StudentState::Live, .. })).await;
    drop(s1);
    recv_until(&mut teacher, |m| matches!(m, ServerMsg::StudentStateChanged { state: StudentState::Reconnecting, .. }))
        .await;
    let (_s1, _) = join(&s.server, &s.s1, &room).await;
    recv_until(&mut teacher, |m| matches!(m, ServerMsg::StudentStateChanged { state: StudentState::Live, .. })).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let later = drain(&mut teacher).await;
    assert!(!later.iter().any(|m| matches!(m, ServerMsg::StudentStateChanged { .. })), "{later:?}");
    assert_eq!(grid(&s.teacher, s.test).await[0].state, StudentState::Live);

    // Submitting shows as submitted.
    let _: Attempt = ok(s.s1.call("submit_attempt", &[("test", &s.id())]).await).await;
    recv_until(&mut teacher, |m| matches!(m, ServerMsg::StudentStateChanged { state: StudentState::Submitted, .. }))
        .await;
    assert_eq!(grid(&s.teacher, s.test).await[0].state, StudentState::Submitted);
}

#[sqlx::test]
async fn flags_reach_the_invigilators_only(pool: PgPool) {
    let s = scene(pool).await;
    let room = s.room();
    let (mut teacher, _) = join(&s.server, &s.teacher, &room).await;
    let (mut co, _) = join(&s.server, &s.co, &room).await;
    for b in [&s.s1, &s.s2] {
        let _: Attempt = ok(start_attempt(b, s.test).await).await;
    }
    let (_s1, _) = join(&s.server, &s.s1, &room).await;
    let (mut s2, _) = join(&s.server, &s.s2, &room).await;

    let flag: FlagView =
        ok(s.s1.call("report_flag", &[("test", &s.id()), ("kind", "tab_hidden"), ("during_reconnect", "false")]).await)
            .await;
    assert_eq!((flag.student, flag.kind, flag.during_reconnect), (s.s1_id, FlagKind::TabHidden, false));
    for inv in [&mut teacher, &mut co] {
        let got = recv_until(inv, |m| matches!(m, ServerMsg::FlagRaised { .. })).await;
        assert_eq!(got, ServerMsg::FlagRaised { test: s.test, flag: flag.clone() });
    }
    let reconnecting: FlagView = ok(s
        .s1
        .call("report_flag", &[("test", &s.id()), ("kind", "camera_stopped"), ("during_reconnect", "true")])
        .await)
    .await;
    assert!(reconnecting.during_reconnect);
    // The other student hears nothing of it.
    assert!(!drain(&mut s2).await.iter().any(|m| matches!(m, ServerMsg::FlagRaised { .. })));

    let card = grid(&s.teacher, s.test).await.into_iter().find(|c| c.student == s.s1_id).unwrap();
    assert_eq!(card.flag_count, 2);
    assert_eq!(card.latest_flag, Some(reconnecting.clone()));
    let other = grid(&s.teacher, s.test).await.into_iter().find(|c| c.student == s.s2_id).unwrap();
    assert_eq!((other.flag_count, other.latest_flag), (0, None));
    let list: Vec<FlagView> =
        ok(s.co.call("student_flags", &[("test", &s.id()), ("student", &s.s1_id.to_string())]).await).await;
    assert_eq!(list, vec![reconnecting, flag]);
    // An invigilator cannot raise flags; a flag for a non-student is not found.
    let (test, co) = (s.id(), s.co_id.to_string());
    let flag = [("test", test.as_str()), ("kind", "tab_hidden"), ("during_reconnect", "false")];
    assert_eq!(s.teacher.call("report_flag", &flag).await.status(), 403);
    assert_eq!(s.teacher.call("student_flags", &[("test", &test), ("student", &co)]).await.status(), 404);
}

#[sqlx::test]
async fn attention_reaches_only_the_addressed_student(pool: PgPool) {
    let s = scene(pool).await;
    let room = s.room();
    let (mut teacher, _) = join(&s.server, &s.teacher, &room).await;
    for b in [&s.s1, &s.s2] {
        let _: Attempt = ok(start_attempt(b, s.test).await).await;
    }
    let (mut s1, _) = join(&s.server, &s.s1, &room).await;
    let (mut s2, _) = join(&s.server, &s.s2, &room).await;
    let attention = |student: UserId, text: String| {
        let test = s.id();
        let teacher = &s.teacher;
        async move {
            teacher.call("attention", &[("test", &test), ("student", &student.to_string()), ("text", &text)]).await
        }
    };

    assert_eq!(attention(s.s1_id, "  Eyes on your own screen, please.  ".into()).await.status(), 200);
    let got = recv_until(&mut s1, |m| matches!(m, ServerMsg::Attention { .. })).await;
    assert_eq!(
        got,
        ServerMsg::Attention {
            test: s.test,
            from: "Tess Teacher".into(),
            text: "Eyes on your own screen, please.".into()
        }
    );
    assert!(!drain(&mut s2).await.iter().any(|m| matches!(m, ServerMsg::Attention { .. })));
    assert!(!drain(&mut teacher).await.iter().any(|m| matches!(m, ServerMsg::Attention { .. })));

    assert_eq!(attention(s.s1_id, "   ".into()).await.status(), 422);
    assert_eq!(attention(s.s1_id, "x".repeat(201)).await.status(), 422);
    // Not a student of this test (the co-invigilator), or not connected: refused.
    assert_eq!(attention(s.co_id, "hi".into()).await.status(), 404);
    drop(s2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attention(s.s2_id, "hi".into()).await.status(), 409);
}

#[sqlx::test]
async fn views_are_audited_and_end_when_the_invigilator_leaves(pool: PgPool) {
    let s = scene(pool).await;
    let (test, student) = (s.id(), s.s1_id.to_string());
    // Only enrolled students can be watched.
    for other in [s.teacher_id, UserId(uuid::Uuid::now_v7())] {
        let res = s.teacher.call("start_view", &[("test", &test), ("student", &other.to_string())]).await;
        assert_eq!(res.status(), 404);
    }

    let (co_ws, _) = join(&s.server, &s.co, &s.room()).await;
    let v1: ViewId = ok(s.teacher.call("start_view", &[("test", &test), ("student", &student)]).await).await;
    let v2: ViewId = ok(s.co.call("start_view", &[("test", &test), ("student", &student)]).await).await;
    let audit: Vec<AuditRow> = ok(s.teacher.call("test_audit", &[("test", &test)]).await).await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].id, v2, "newest first");
    assert_eq!((audit[0].invigilator_name.as_str(), audit[0].student_name.as_str()), ("Cody Co", "Stu One"));
    assert_eq!(audit[1].invigilator_name, "Tess Teacher");
    assert!(audit.iter().all(|r| r.ended_at_ms.is_none()));

    // Ending is idempotent and keeps the first end.
    assert_eq!(s.teacher.call("end_view", &[("view", &v1.to_string())]).await.status(), 200);
    let first: Vec<AuditRow> = ok(s.teacher.call("test_audit", &[("test", &test)]).await).await;
    assert_eq!(s.teacher.call("end_view", &[("view", &v1.to_string())]).await.status(), 200);
    let second: Vec<AuditRow> = ok(s.teacher.call("test_audit", &[("test", &test)]).await).await;
    assert!(first[1].ended_at_ms.is_some());
    assert_eq!(first[1].ended_at_ms, second[1].ended_at_ms);

    // The co-invigilator's page closes: their open view ends.
    drop(co_ws);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let audit: Vec<AuditRow> = ok(s.co.call("test_audit", &[("test", &test)]).await).await;
        if audit[0].ended_at_ms.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the view did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test]
async fn the_demo_quiz_is_seeded_once_with_three_students(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    onair::server::demo::seed(&pool).await.unwrap();
    onair::server::demo::seed(&pool).await.unwrap();
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tests WHERE title = 'Demo quiz'").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 1);

    let teacher = Browser::new(&server);
    let res = teacher.call("login", &[("username", "teacher"), ("password", onair::server::demo::DEMO_PASSWORD)]).await;
    assert_eq!(res.status(), 200);
    let tests: Vec<TestSummary> = ok(teacher.call("my_tests", &[]).await).await;
    assert_eq!(tests.len(), 1);
    assert_eq!((tests[0].title.as_str(), tests[0].window), ("Demo quiz", onair::proctor::TestWindow::Open));
    let cards = grid(&teacher, tests[0].id).await;
    assert_eq!(cards.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["Stu One", "Stu Three", "Stu Two"]);
    let detail: TestDetail = ok(teacher.call("test", &[("test", &tests[0].id.to_string())]).await).await;
    assert_eq!((detail.questions.len(), detail.duration_minutes), (3, None));
}
