//! Proctoring pages: the tests list, creating a test, a test's page (members, links), taking a test
//! (`take`), the invigilators' student grid (`grid`), and the audit report.

mod grid;
mod take;

pub use grid::InvigilatePage;
pub use take::TakeTestPage;

use crate::error::AppError;
use crate::ids::TestId;
use crate::proctor::{get_test, my_tests, test_audit, test_members, AddMember, CreateTest, TestRole, TestWindow};
use crate::ui::clock::format_elapsed;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

/// The `:id` route parameter as a test id.
pub(crate) fn use_test_id() -> Memo<Option<TestId>> {
    let params = use_params_map();
    Memo::new(move |_| params.with(|p| p.get("id")).and_then(|s| s.parse().ok()))
}

/// A local date and time for people, from milliseconds since the Unix epoch (UTC shown as UTC).
pub(crate) fn format_time(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

fn window_label(w: TestWindow) -> &'static str {
    match w {
        TestWindow::Upcoming => "Upcoming",
        TestWindow::Open => "Open now",
        TestWindow::Closed => "Closed",
    }
}

/// Shown when a test cannot be loaded: not signed in, not a member (404), or an error.
pub(crate) fn test_error(e: AppError) -> AnyView {
    match e {
        AppError::Unauthorized => view! {
            <section class="card narrow"><h1>"Log in first"</h1>
            <A href="/login" attr:class="btn">"Log in"</A></section>
        }
        .into_any(),
        AppError::NotFound(_) => view! {
            <section class="card narrow" data-testid="test-missing"><h1>"Test not found"</h1>
            <p>"There is no test here, or you are not one of its members."</p>
            <A href="/tests" attr:class="btn">"Your tests"</A></section>
        }
        .into_any(),
        AppError::Forbidden(msg) => view! {
            <section class="card narrow" data-testid="test-forbidden"><h1>"Not for you"</h1><p>{msg}</p>
            <A href="/tests" attr:class="btn">"Your tests"</A></section>
        }
        .into_any(),
        e => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
    }
}

/// `/tests`: the caller's tests, as invigilator and as student.
#[component]
pub fn TestsPage() -> impl IntoView {
    let tests = Resource::new(|| (), |_| my_tests());
    view! {
        <Title text="Tests"/>
        <div class="page-head">
            <h1>"Tests"</h1>
            <A href="/tests/new" attr:class="btn">"New test"</A>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tests.await {
                    Err(e) => test_error(e),
                    Ok(list) if list.is_empty() => view! {
                        <section class="card empty"><h2>"No tests yet"</h2>
                        <p class="muted">"Create a test to invigilate it, or ask a teacher to enroll you."</p></section>
                    }.into_any(),
                    Ok(list) => {
                        let (inv, stu): (Vec<_>, Vec<_>) = list.into_iter().partition(|t| t.role == TestRole::Invigilator);
                        let section = |title: &'static str, items: Vec<crate::proctor::TestSummary>| {
                            (!items.is_empty()).then(|| view! {
                                <section class="card">
                                    <h2>{title}</h2>
                                    <ul class="test-list">
                                        {items.into_iter().map(|t| view! {
                                            <li data-testid="test-item">
                                                <A href=format!("/tests/{}", t.id)>{t.title}</A>
                                                <span class="muted">" · " {window_label(t.window)} " · " {format_time(t.starts_at_ms)} " – " {format_time(t.ends_at_ms)}</span>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                </section>
                            })
                        };
                        view! { <div class="stack">{section("You invigilate", inv)}{section("You take", stu)}</div> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// `/tests/new`: title, instructions, window or duration, questions.
#[component]
pub fn NewTestPage() -> impl IntoView {
    let create = ServerAction::<CreateTest>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/tests/{id}"), Default::default());
        }
    });
    view! {
        <Title text="New test"/>
        <section class="card narrow wide-form">
            <h1>"New test"</h1>
            <ActionForm action=create attr:class="form">
                <label>"Title" <input name="title" required maxlength="200"/></label>
                <label>"Instructions" <textarea name="instructions" rows="3" maxlength="5000"></textarea></label>
                <div class="form-row">
                    <label>"Starts (UTC)" <input type="datetime-local" name="starts_at"/>
                        <small class="hint">"Empty: now."</small></label>
                    <label>"Ends (UTC)" <input type="datetime-local" name="ends_at"/>
                        <small class="hint">"Empty: start + duration, or 1 hour."</small></label>
                    <label>"Duration (minutes)" <input type="number" name="duration_minutes" min="1" max="600"/>
                        <small class="hint">"Time per student; empty: until the end."</small></label>
                </div>
                <label>"Questions" <textarea name="questions" rows="6" required
                    placeholder="One question per line"></textarea></label>
                {move || create.value().get().and_then(Result::err).map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
                <button type="submit" class="btn" disabled=move || create.pending().get()>"Create test"</button>
            </ActionForm>
        </section>
    }
}

/// `/tests/:id`: details; invigilators manage members and open the grid and report; students start.
#[component]
pub fn TestPage() -> impl IntoView {
    let id = use_test_id();
    let detail = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_test(id).await,
                None => Err(AppError::NotFound("No such test.".into())),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => test_error(e),
                    Ok(t) => {
                        let is_inv = t.role == TestRole::Invigilator;
                        let id = t.id;
                        view! {
                            <Title text=t.title.clone()/>
                            <div class="page-head">
                                <h1>{t.title.clone()}</h1>
                                <span class="status">{window_label(t.window)}</span>
                            </div>
                            <section class="card stack">
                                <p class="muted">{format_time(t.starts_at_ms)} " – " {format_time(t.ends_at_ms)}
                                    {t.duration_minutes.map(|d| format!(" · {d} minutes per student"))}
                                    " · " {t.questions.len()} " questions"</p>
                                <p class="description">{t.instructions.clone()}</p>
                                {if is_inv {
                                    view! {
                                        <div class="hero-actions">
                                            <A href=format!("/tests/{id}/invigilate") attr:class="btn">"Open the student grid"</A>
                                            <A href=format!("/tests/{id}/report") attr:class="btn btn-ghost">"Audit report"</A>
                                        </div>
                                    }.into_any()
                                } else {
                                    view! {
                                        <div class="hero-actions">
                                            <A href=format!("/tests/{id}/take") attr:class="btn">"Take the test"</A>
                                        </div>
                                    }.into_any()
                                }}
                            </section>
                            {is_inv.then(|| view! { <Members test=id/> })}
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Members(test: TestId) -> impl IntoView {
    let add = ServerAction::<AddMember>::new();
    let members = Resource::new(move || (test, add.version().get()), |(t, _)| test_members(t));
    view! {
        <section class="card stack" aria-label="Members">
            <h2>"Members"</h2>
            <ActionForm action=add attr:class="form form-inline">
                <input type="hidden" name="test" value=test.to_string()/>
                <label>"Username" <input name="username" required maxlength="32" autocapitalize="none"/></label>
                <label>"Role"
                    <select name="role">
                        <option value="student">"Student"</option>
                        <option value="invigilator">"Co-invigilator"</option>
                    </select>
                </label>
                <button type="submit" class="btn">"Add"</button>
            </ActionForm>
            {move || add.value().get().map(|r| match r {
                Ok(m) => view! { <p class="confirmation" role="status">"Added " {m.name} "."</p> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = members.await.unwrap_or_default();
                    view! {
                        <ul class="member-list" data-testid="members">
                            {list.into_iter().map(|m| view! {
                                <li data-testid="member">{m.name} <span class="muted">" @" {m.username} " · "
                                    {if m.role == TestRole::Invigilator { "invigilator" } else { "student" }}</span></li>
                            }).collect_view()}
                        </ul>
                    }
                })}
            </Transition>
        </section>
    }
}

/// `/tests/:id/report`: who watched whom, from when to when.
#[component]
pub fn AuditPage() -> impl IntoView {
    let id = use_test_id();
    let rows = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => test_audit(id).await,
                None => Err(AppError::NotFound("No such test.".into())),
            }
        },
    );
    view! {
        <Title text="Audit report"/>
        <div class="page-head"><h1>"Audit report"</h1></div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Err(e) => test_error(e),
                    Ok(list) if list.is_empty() => view! { <p class="muted">"Nobody has watched a student yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="card audit" data-testid="audit">
                            <thead><tr><th>"Invigilator"</th><th>"Student"</th><th>"From"</th><th>"For"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|r| view! {
                                    <tr data-testid="audit-row">
                                        <td>{r.invigilator_name}</td>
                                        <td>{r.student_name}</td>
                                        <td>{format_time(r.started_at_ms)}</td>
                                        <td>{match r.ended_at_ms {
                                            Some(end) => format_elapsed(end - r.started_at_ms),
                                            None => "still watching".to_string(),
                                        }}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
