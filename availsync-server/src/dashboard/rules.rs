//! The Rules page (SPEC §11): what claiming a resource also claims, how
//! many runs may hold it at once, its mode and its longest lease. Each rule
//! is listed with its resource's dependency closure, walked as a start
//! walks it; create, edit and delete go through the API's own validation
//! and store calls, and a refusal is shown next to the field it concerns.

use availsync_types::{
    CreateRuleRequest, ErrorCode, MAX_CAPACITY, MAX_RULE_TTL_SECONDS, MIN_RULE_TTL_SECONDS, Mode,
    ResourceKey, Rule, Timestamp, UpdateRuleRequest,
};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Signed;
use super::form::{self, Form, FormError};
use super::layout::{self, DashboardError, badge, heading, notice, when};
use crate::domain::rules::{Closure, Governs};
use crate::domain::validate;
use crate::http::{ApiError, AppState};
use crate::store::{RuleId, SessionContext};

/// The workspace's rules, by resource.
async fn all_rules(state: &AppState, session: &SessionContext) -> Result<Vec<Rule>, ApiError> {
    Ok(state.store().list_rules(&session.workspace_id()).await?)
}

async fn find_rule(
    state: &AppState,
    session: &SessionContext,
    rule_id: &str,
) -> Result<(Rule, Vec<Rule>), DashboardError> {
    let rules = all_rules(state, session).await?;
    let rule = rules
        .iter()
        .find(|r| r.rule_id == rule_id)
        .cloned()
        .ok_or_else(|| {
            DashboardError::page(
                StatusCode::NOT_FOUND,
                "Not found",
                "No such rule in this workspace.",
            )
        })?;
    Ok((rule, rules))
}

/// What claiming `resource` also claims under `rules`: the same walk a
/// start makes through the rules ([`Closure`]), fed from the list already
/// read instead of the store.
fn also_claims(rules: &[Governs], resource: &str) -> Vec<ResourceKey> {
    let Ok(resource) = ResourceKey::parse(resource) else {
        return Vec::new();
    };
    let mut walk = Closure::new(std::slice::from_ref(&resource));
    while !walk.is_done() {
        let found = rules
            .iter()
            .filter(|g| walk.frontier().contains(&g.resource))
            .cloned()
            .collect();
        walk.learn(found);
    }
    walk.into_reached()
        .into_iter()
        .skip(1)
        .map(|g| g.resource)
        .collect()
}

fn mode_cell(mode: Option<Mode>) -> Markup {
    html! {
        @match mode {
            Some(Mode::Observe) => (badge("watch", "observe")),
            Some(Mode::Enforce) => (badge("plain", "enforce")),
            None => span.muted { "agent's mode" },
        }
    }
}

fn resource_list(label: &str, resources: &[impl AsRef<str>]) -> Markup {
    html! {
        ul.resource-list aria-label=(label) {
            @for resource in resources { li { code { (resource.as_ref()) } } }
        }
    }
}

fn rules_table(rules: &[Rule], now: Timestamp) -> Markup {
    let governs: Vec<Governs> = rules.iter().map(Governs::of).collect();
    html! {
        @if rules.is_empty() {
            div.empty {
                p { strong { "No rules yet." } }
                p { "Without a rule a resource admits one claim at a time, claims nothing else, and runs in each agent's own mode." }
            }
        } @else {
            div.table-wrap {
                table.rules {
                    caption.sr-only { "Rules of this workspace" }
                    thead { tr {
                        th scope="col" { "Resource" }
                        th scope="col" { "Depends on" }
                        th scope="col" { "Claiming it also claims" }
                        th.num scope="col" { "Capacity" }
                        th scope="col" { "Mode" }
                        th.num scope="col" { "Max ttl" }
                        th scope="col" { "Note" }
                        th scope="col" { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for rule in rules {
                            @let closure = also_claims(&governs, &rule.resource);
                            tr data-rule-id=(rule.rule_id) data-resource=(rule.resource) {
                                th scope="row" {
                                    code.resource { (rule.resource) }
                                    br;
                                    span.small.muted { "changed " (when(rule.updated_at, now)) }
                                }
                                td.depends-on {
                                    @if rule.depends_on.is_empty() { span.muted { "—" } }
                                    @else { (resource_list("Depends on", &rule.depends_on)) }
                                }
                                td.closure {
                                    @if closure.is_empty() { span.muted { "nothing else" } }
                                    @else { (resource_list("Also claimed", &closure)) }
                                }
                                td.num { (rule.capacity) }
                                td { (mode_cell(rule.mode)) }
                                td.num {
                                    @match rule.max_ttl_seconds {
                                        Some(seconds) => { (seconds) " s" },
                                        None => span.muted { "—" },
                                    }
                                }
                                td.purpose { @if let Some(note) = &rule.note { (note) } }
                                td.actions {
                                    a.btn.btn-small href={ "/rules/" (rule.rule_id) "/edit" } {
                                        "Edit" span.sr-only { " the rule for " (rule.resource) }
                                    }
                                    a.btn.btn-small.btn-danger-quiet href={ "/rules/" (rule.rule_id) "/delete" } {
                                        "Delete" span.sr-only { " the rule for " (rule.resource) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The rule form's fields, as typed (kept as text so that a refused form
/// comes back exactly as it was sent).
#[derive(Debug, Default, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    depends_on: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    max_ttl_seconds: String,
    #[serde(default)]
    note: String,
}

impl RuleForm {
    /// A new rule's form: the defaults.
    fn blank() -> Self {
        Self {
            capacity: "1".into(),
            ..Self::default()
        }
    }

    /// The form of an existing rule.
    fn of(rule: &Rule) -> Self {
        Self {
            resource: rule.resource.clone(),
            depends_on: rule.depends_on.join("\n"),
            capacity: rule.capacity.to_string(),
            mode: rule.mode.map(|m| m.as_str().to_owned()).unwrap_or_default(),
            max_ttl_seconds: rule
                .max_ttl_seconds
                .map(|s| s.to_string())
                .unwrap_or_default(),
            note: rule.note.clone().unwrap_or_default(),
        }
    }

    /// `depends_on` as a list: one resource per line or comma.
    fn depends_on(&self) -> Vec<String> {
        self.depends_on
            .split([',', '\n', '\r'])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn mode(&self) -> Result<Option<Mode>, ApiError> {
        match self.mode.trim() {
            "" => Ok(None),
            "enforce" => Ok(Some(Mode::Enforce)),
            "observe" => Ok(Some(Mode::Observe)),
            other => Err(ApiError::invalid(
                "mode",
                format!("'{other}' is not a mode; choose observe, enforce or the agent's mode"),
            )),
        }
    }

    fn note(&self) -> Option<String> {
        (!self.note.trim().is_empty()).then(|| self.note.clone())
    }

    /// The rule's settings as the API takes them; the ranges are checked
    /// by the API's own validation, only "is it a number" here.
    fn create_request(&self) -> Result<CreateRuleRequest, ApiError> {
        Ok(CreateRuleRequest {
            resource: self.resource.trim().to_owned(),
            depends_on: Some(self.depends_on()),
            capacity: number("capacity", &self.capacity)?,
            mode: self.mode()?,
            max_ttl_seconds: number("max_ttl_seconds", &self.max_ttl_seconds)?,
            note: self.note(),
        })
    }

    /// Every field of the form replaces the rule's (a cleared field clears
    /// it); the resource never changes.
    fn update_request(&self) -> Result<UpdateRuleRequest, ApiError> {
        let settings = self.create_request()?;
        Ok(UpdateRuleRequest {
            resource: None,
            depends_on: settings.depends_on,
            capacity: Some(settings.capacity.unwrap_or(1)),
            mode: Some(settings.mode),
            max_ttl_seconds: Some(settings.max_ttl_seconds),
            note: Some(settings.note),
        })
    }
}

/// An optional whole number; a number too large for `u32` stays out of
/// range so that the API's check names the range.
fn number(field: &str, text: &str) -> Result<Option<u32>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>()
        .map(|n| Some(u32::try_from(n).unwrap_or(u32::MAX)))
        .map_err(|_| ApiError::invalid(field, format!("{field} must be a whole number")))
}

/// A refused form: its status and what it says (the API's field and
/// message, naming the `depends_on` entry at fault), or the error page
/// when the server itself failed.
fn refused(e: ApiError, form: &RuleForm) -> Result<(StatusCode, FormError), DashboardError> {
    if e.code().status() >= 500 {
        return Err(e.into());
    }
    let status = StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut error = FormError::from(&e);
    if e.code() == ErrorCode::RuleExists {
        error.message = format!(
            "{} already has a rule: edit that one in the list below instead.",
            form.resource.trim()
        );
    }
    let entry = e
        .field()
        .and_then(|f| f.strip_prefix("depends_on["))
        .and_then(|rest| rest.trim_end_matches(']').parse::<usize>().ok())
        .and_then(|index| form.depends_on().into_iter().nth(index));
    if let Some(entry) = entry {
        error.message = format!("“{entry}”: {}", error.message);
    }
    Ok((status, error))
}

/// Where the form posts, and how it reads.
#[derive(Debug, Clone, Copy)]
enum Purpose<'a> {
    Create,
    Edit(&'a Rule),
}

fn rule_form(purpose: Purpose<'_>, values: &RuleForm, error: Option<&FormError>) -> Markup {
    let (action, button) = match purpose {
        Purpose::Create => ("/rules".to_owned(), "Create rule"),
        Purpose::Edit(rule) => (format!("/rules/{}/edit", rule.rule_id), "Save rule"),
    };
    let editing = matches!(purpose, Purpose::Edit(_));
    let resource_hint = if editing {
        "A rule's resource never changes: delete the rule and create one for the other resource."
    } else {
        "Any resource key, e.g. project:homepage, pool:gpu or repo:acme/web."
    };
    let capacity_hint =
        format!("How many runs may hold it at once, 1 to {MAX_CAPACITY} (4 for a pool of 4 GPUs).");
    let ttl_hint = format!(
        "Seconds, {MIN_RULE_TTL_SECONDS} to {MAX_RULE_TTL_SECONDS}: a longer lease asked for is cut to this. Empty: no cap."
    );
    html! {
        @if let Some(e) = error {
            (notice("error", html! {
                "The rule was not saved. "
                @match &e.field {
                    Some(field) => a href={ "#f-" (field) } { (e.message) },
                    None => (e.message),
                }
            }))
        }
        form.rule-form method="post" action=(action) novalidate {
            (form::labelled("resource", "Resource", Some(resource_hint), error, |c| html! {
                input #(c.id) name="resource" type="text" required maxlength="300"
                    autocomplete="off" spellcheck="false" placeholder="project:homepage"
                    value=(values.resource) readonly[editing]
                    aria-invalid=[c.invalid] aria-describedby=[c.described_by.as_deref()];
            }))
            (form::labelled("depends_on", "Depends on", Some(
                "One resource per line, or separated by commas. Claiming this resource also claims \
                 these (and what they depend on) in the same grant."), error, |c| html! {
                textarea #(c.id) name="depends_on" rows="3" spellcheck="false" autocomplete="off"
                    placeholder="project:catalog\ndb:main"
                    aria-invalid=[c.invalid] aria-describedby=[c.described_by.as_deref()] {
                    (values.depends_on)
                }
            }))
            div.field-row {
                (form::labelled("capacity", "Capacity", Some(&capacity_hint), error, |c| html! {
                    input #(c.id) name="capacity" type="number" inputmode="numeric" min="1"
                        max=(MAX_CAPACITY) step="1" required value=(values.capacity)
                        aria-invalid=[c.invalid] aria-describedby=[c.described_by.as_deref()];
                }))
                (form::labelled("max_ttl_seconds", "Max ttl", Some(&ttl_hint), error, |c| html! {
                    input #(c.id) name="max_ttl_seconds" type="number" inputmode="numeric"
                        min=(MIN_RULE_TTL_SECONDS) max=(MAX_RULE_TTL_SECONDS) step="1"
                        value=(values.max_ttl_seconds)
                        aria-invalid=[c.invalid] aria-describedby=[c.described_by.as_deref()];
                }))
            }
            (form::labelled("mode", "Mode", Some(
                "Observe: every run on this resource is an observe run, whatever its agent's mode \
                 (roll out enforcement one resource at a time)."), error, |c| html! {
                select #(c.id) name="mode"
                    aria-invalid=[c.invalid] aria-describedby=[c.described_by.as_deref()] {
                    option value="" selected[values.mode.is_empty()] { "The agent's mode (default)" }
                    option value="observe" selected[values.mode == "observe"] { "observe — every run here observes" }
                    option value="enforce" selected[values.mode == "enforce"] { "enforce — the agent's mode decides" }
                }
            }))
            (form::labelled("note", "Note", Some("Why the rule exists (optional)."), error, |c| html! {
                textarea #(c.id) name="note" rows="2" maxlength="500"
                    aria-invalid=[c.invalid] aria-describedby=[c.described_by.as_deref()] {
                    (values.note)
                }
            }))
            div.actions-row {
                button.btn.btn-primary type="submit" { (button) }
                @if editing { a.btn.btn-quiet href="/rules" { "Cancel" } }
            }
        }
    }
}

async fn render(
    state: &AppState,
    session: &SessionContext,
    flash: Option<Markup>,
    values: &RuleForm,
    error: Option<&FormError>,
) -> Result<Markup, ApiError> {
    let rules = all_rules(state, session).await?;
    let body = html! {
        (heading("Rules", "What humans declare about resources: what claiming one also claims, how many runs may hold it at once, its mode and its longest lease. Every start respects them from the next decision; agents can read them."))
        @if let Some(flash) = flash { (flash) }
        div.grid-2 {
            section.card aria-labelledby="create-title" {
                h2 #create-title { "Create a rule" }
                (rule_form(Purpose::Create, values, error))
            }
            section.card aria-labelledby="how-title" {
                h2 #how-title { "How rules apply" }
                ul.plain-list {
                    li { strong { "Depends on" } " — if the homepage needs the catalog, a run on "
                        code { "project:homepage" } " holds " code { "project:catalog" }
                        " too, and a run on the catalog is skipped meanwhile. Cycles are refused." }
                    li { strong { "Capacity" } " — up to N runs at once (a semaphore); the next is told "
                        code { "capacity_full" } "." }
                    li { strong { "Mode" } " — observe on one resource while the rest enforce." }
                    li { strong { "Max ttl" } " — caps every lease on the resource." }
                }
                p.muted.small { "Agents read them with " code { "GET /v1/rules" } "; every change is in the " a href="/audit" { "audit log" } "." }
            }
        }
        section aria-labelledby="list-title" {
            h2 #list-title { "All rules" }
            (rules_table(&rules, Timestamp::now()))
        }
    };
    Ok(layout::page(session, "/rules", "Rules", body))
}

/// `?saved=` / `?deleted=`: what the last form did (after its redirect).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    saved: Option<String>,
    deleted: Option<String>,
}

/// `GET /rules`.
pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<PageQuery>,
) -> Result<Response, DashboardError> {
    let flash = match (query.saved, query.deleted) {
        (Some(id), _) => all_rules(&state, &session)
            .await?
            .into_iter()
            .find(|r| r.rule_id == id)
            .map(|rule| {
                notice(
                    "success",
                    html! { "The rule for " code { (rule.resource) } " is saved; the next start on it goes by it." },
                )
            }),
        (None, Some(resource)) => ResourceKey::parse(&resource).ok().map(|resource| {
            notice(
                "success",
                html! { "The rule for " code { (resource) } " was deleted; runs on it go by the defaults." },
            )
        }),
        _ => None,
    };
    let page = render(&state, &session, flash, &RuleForm::blank(), None).await?;
    Ok(layout::html(page))
}

/// `POST /rules`: the API's create; a refusal shows the form again.
pub async fn create(
    State(state): State<AppState>,
    Signed(session): Signed,
    Form(values): Form<RuleForm>,
) -> Result<Response, DashboardError> {
    match save_new(&state, &session, &values).await {
        Ok(rule) => Ok(saved(&rule)),
        Err(e) => {
            let (status, error) = refused(e, &values)?;
            let page = render(&state, &session, None, &values, Some(&error)).await?;
            Ok((status, layout::html(page)).into_response())
        }
    }
}

/// The same checks and store call as `POST /v1/rules`.
async fn save_new(
    state: &AppState,
    session: &SessionContext,
    values: &RuleForm,
) -> Result<Rule, ApiError> {
    let request = values.create_request()?;
    let resource = validate::any_resource("resource", &request.resource)?;
    let settings = validate::rule_settings(&request)?;
    Ok(state
        .store()
        .create_rule(session, resource, settings)
        .await?)
}

/// The same checks and store call as `PATCH /v1/rules/{rule_id}`.
async fn save_change(
    state: &AppState,
    session: &SessionContext,
    rule_id: &str,
    values: &RuleForm,
) -> Result<Rule, ApiError> {
    let change = validate::rule_change(&values.update_request()?)?;
    Ok(state
        .store()
        .update_rule(session, &RuleId::new(rule_id), change)
        .await?)
}

/// Back to the list, which says what was saved.
fn saved(rule: &Rule) -> Response {
    Redirect::to(&format!("/rules?saved={}", rule.rule_id)).into_response()
}

fn edit_body(
    session: &SessionContext,
    rule: &Rule,
    rules: &[Rule],
    values: &RuleForm,
    error: Option<&FormError>,
) -> Markup {
    let title = format!("Edit the rule for {}", rule.resource);
    let governs: Vec<Governs> = rules.iter().map(Governs::of).collect();
    let closure = also_claims(&governs, &rule.resource);
    let body = html! {
        (heading(&title, ""))
        section.card.rule-edit aria-label=(title) {
            div.current-closure {
                @if closure.is_empty() {
                    p.muted { "Claiming " code { (rule.resource) } " now claims nothing else." }
                } @else {
                    p.muted { "Claiming " code { (rule.resource) } " now also claims:" }
                    (resource_list("Also claimed now", &closure))
                }
            }
            (rule_form(Purpose::Edit(rule), values, error))
        }
    };
    layout::page(session, "/rules", &title, body)
}

/// `GET /rules/{rule_id}/edit`: the form, filled in.
pub async fn edit_page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(rule_id): Path<String>,
) -> Result<Response, DashboardError> {
    let (rule, rules) = find_rule(&state, &session, &rule_id).await?;
    Ok(layout::html(edit_body(
        &session,
        &rule,
        &rules,
        &RuleForm::of(&rule),
        None,
    )))
}

/// `POST /rules/{rule_id}/edit`: the API's change; a refusal shows the form
/// again.
pub async fn update(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(rule_id): Path<String>,
    Form(mut values): Form<RuleForm>,
) -> Result<Response, DashboardError> {
    let (rule, rules) = find_rule(&state, &session, &rule_id).await?;
    // The field is read-only; whatever was sent, the resource stays.
    values.resource = rule.resource.clone();
    match save_change(&state, &session, &rule.rule_id, &values).await {
        Ok(rule) => Ok(saved(&rule)),
        Err(e) => {
            let (status, error) = refused(e, &values)?;
            let page = edit_body(&session, &rule, &rules, &values, Some(&error));
            Ok((status, layout::html(page)).into_response())
        }
    }
}

/// `GET /rules/{rule_id}/delete`: asks first, saying what changes.
pub async fn confirm_delete(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(rule_id): Path<String>,
) -> Result<Response, DashboardError> {
    let (rule, rules) = find_rule(&state, &session, &rule_id).await?;
    let governs: Vec<Governs> = rules.iter().map(Governs::of).collect();
    let closure = also_claims(&governs, &rule.resource);
    let title = format!("Delete the rule for {}?", rule.resource);
    let body = html! {
        div.card.narrow {
            h1 { (title) }
            p { "From the next start, runs on " code { (rule.resource) } " go by the defaults: one claim at a time, the agent's own mode, no cap on the lease." }
            @if !closure.is_empty() {
                p { "Claiming it will no longer also claim:" }
                (resource_list("No longer claimed with it", &closure))
            }
            p.muted { "Claims held now keep what they were granted. The deletion is in the audit log." }
            form.actions-row method="post" action={ "/rules/" (rule.rule_id) "/delete" } {
                button.btn.btn-danger type="submit" { "Delete rule" }
                a.btn.btn-quiet href="/rules" { "Cancel" }
            }
        }
    };
    Ok(layout::html(layout::page(&session, "/rules", &title, body)))
}

/// `POST /rules/{rule_id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(rule_id): Path<String>,
) -> Result<Response, DashboardError> {
    let (rule, _) = find_rule(&state, &session, &rule_id).await?;
    state
        .store()
        .delete_rule(&session, &RuleId::new(rule.rule_id.as_str()))
        .await
        .map_err(ApiError::from)?;
    let to = layout::url_with("/rules", &[("deleted", &rule.resource)]);
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn governs(resource: &str, depends_on: &[&str]) -> Governs {
        let key = |text: &str| ResourceKey::parse(text).unwrap();
        Governs {
            depends_on: depends_on.iter().map(|d| key(d)).collect(),
            ..Governs::default_for(key(resource))
        }
    }

    #[test]
    fn the_closure_is_what_a_start_would_claim() {
        let rules = [
            governs("project:homepage", &["project:catalog", "db:main"]),
            governs("project:catalog", &["db:main", "pool:images"]),
            governs("pool:images", &[]),
        ];
        let names = |resource| -> Vec<String> {
            also_claims(&rules, resource)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            names("project:homepage"),
            ["project:catalog", "db:main", "pool:images"]
        );
        assert_eq!(names("project:catalog"), ["db:main", "pool:images"]);
        assert!(names("pool:images").is_empty());
        assert!(names("not a key").is_empty());
    }

    #[test]
    fn the_form_reads_lists_numbers_and_modes() {
        let form = RuleForm {
            resource: " project:homepage ".into(),
            depends_on: "project:catalog, db:main\r\n\npool:gpu,".into(),
            capacity: "99999999999".into(),
            mode: "observe".into(),
            max_ttl_seconds: String::new(),
            note: "  ".into(),
        };
        let request = form.create_request().unwrap();
        assert_eq!(request.resource, "project:homepage");
        assert_eq!(
            request.depends_on.unwrap(),
            ["project:catalog", "db:main", "pool:gpu"]
        );
        assert_eq!(request.capacity, Some(u32::MAX), "left for the range check");
        assert_eq!(request.mode, Some(Mode::Observe));
        assert_eq!((request.max_ttl_seconds, request.note), (None, None));
        let bad = RuleForm {
            capacity: "four".into(),
            ..RuleForm::blank()
        };
        let error = bad.create_request().unwrap_err();
        assert_eq!(error.field(), Some("capacity"));
        let cleared = RuleForm::blank().update_request().unwrap();
        assert_eq!(
            (cleared.mode, cleared.max_ttl_seconds, cleared.note),
            (Some(None), Some(None), Some(None))
        );
    }
}
