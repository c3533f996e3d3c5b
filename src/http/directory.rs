//! The booking world's directory, for administrators: organisations, people,
//! programmes, projects, rooms, panels and declared conflicts of interest.
//! `GET` lists, `POST` creates; input is parsed into domain types here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use scheduler::Role;
use scheduler::domain::PersonName;
use scheduler::model::{
    ConflictTarget, NewPerson, NewProject, Organisation, Panel, Person, Programme, Project, Room,
    parse_project_code,
};
use serde::Deserialize;
use uuid::Uuid;

use super::admin_auth::Admin;
use super::error::{ApiError, ApiJson};
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/organisations",
            get(list_organisations).post(create_organisation),
        )
        .route("/api/v1/people", get(list_people).post(create_person))
        .route(
            "/api/v1/programmes",
            get(list_programmes).post(create_programme),
        )
        .route("/api/v1/projects", get(list_projects).post(create_project))
        .route("/api/v1/rooms", get(list_rooms).post(create_room))
        .route("/api/v1/panels", get(list_panels).post(create_panel))
        .route("/api/v1/conflicts", post(declare_conflict))
        .route("/api/v1/people/{id}/windows", post(add_window))
}

fn name_field(field: &'static str, raw: &str, max: usize) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            field,
            format!("must be 1–{max} characters without control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

async fn list_organisations(
    _: Admin,
    State(s): State<AppState>,
) -> Result<Json<Vec<Organisation>>, ApiError> {
    Ok(Json(s.store.organisations().await?))
}

async fn create_organisation(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<(StatusCode, Json<Organisation>), ApiError> {
    let name = name_field("name", &body.name, 200)?;
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_organisation(&name).await?),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PersonBody {
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    organisation_id: Option<Uuid>,
    roles: Vec<String>,
    #[serde(default)]
    fields: Vec<String>,
    /// IANA time zone; Asia/Shanghai when absent.
    #[serde(default)]
    time_zone: Option<String>,
}

async fn list_people(_: Admin, State(s): State<AppState>) -> Result<Json<Vec<Person>>, ApiError> {
    Ok(Json(s.store.people().await?))
}

async fn create_person(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<PersonBody>,
) -> Result<(StatusCode, Json<Person>), ApiError> {
    let email = match body.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(scheduler::domain::parse_email("email", raw)?),
    };
    let roles = body
        .roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()?;
    if roles.is_empty() {
        return Err(ApiError::invalid("roles", "at least one role"));
    }
    let fields = body
        .fields
        .iter()
        .map(|f| name_field("fields", f, 50))
        .collect::<Result<Vec<_>, _>>()?;
    let person = s
        .store
        .create_person(&NewPerson {
            name: PersonName::parse(&body.name)?,
            email,
            organisation: body.organisation_id,
            roles,
            fields,
            time_zone: scheduler::domain::parse_time_zone(body.time_zone.as_deref())?,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(person)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProgrammeBody {
    name: String,
    min_panel_size: i64,
    max_panel_size: i64,
}

async fn list_programmes(
    _: Admin,
    State(s): State<AppState>,
) -> Result<Json<Vec<Programme>>, ApiError> {
    Ok(Json(s.store.programmes().await?))
}

async fn create_programme(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<ProgrammeBody>,
) -> Result<(StatusCode, Json<Programme>), ApiError> {
    let name = name_field("name", &body.name, 200)?;
    if !(1..=50).contains(&body.min_panel_size)
        || body.max_panel_size < body.min_panel_size
        || body.max_panel_size > 50
    {
        return Err(ApiError::invalid(
            "minPanelSize",
            "panel sizes must satisfy 1 ≤ min ≤ max ≤ 50",
        ));
    }
    let programme = s
        .store
        .create_programme(&name, body.min_panel_size, body.max_panel_size)
        .await?;
    Ok((StatusCode::CREATED, Json(programme)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProjectBody {
    code: String,
    title: String,
    programme_id: Uuid,
    applicant_id: Uuid,
    organisation_id: Uuid,
    #[serde(default)]
    field: String,
}

async fn list_projects(
    _: Admin,
    State(s): State<AppState>,
) -> Result<Json<Vec<Project>>, ApiError> {
    Ok(Json(s.store.projects().await?))
}

async fn create_project(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<ProjectBody>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let project = s
        .store
        .create_project(&NewProject {
            code: parse_project_code(&body.code)?,
            title: name_field("title", &body.title, 300)?,
            programme: body.programme_id,
            applicant: body.applicant_id,
            organisation: body.organisation_id,
            field: body.field.trim().to_owned(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

async fn list_rooms(_: Admin, State(s): State<AppState>) -> Result<Json<Vec<Room>>, ApiError> {
    Ok(Json(s.store.rooms().await?))
}

async fn create_room(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    let name = name_field("name", &body.name, 100)?;
    let id = s.store.create_room(&name).await?;
    Ok((StatusCode::CREATED, Json(Room { id, name })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PanelBody {
    name: String,
    #[serde(default)]
    chair_id: Option<Uuid>,
    member_ids: Vec<Uuid>,
}

async fn list_panels(_: Admin, State(s): State<AppState>) -> Result<Json<Vec<Panel>>, ApiError> {
    Ok(Json(s.store.panels().await?))
}

async fn create_panel(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<PanelBody>,
) -> Result<(StatusCode, Json<Panel>), ApiError> {
    let name = name_field("name", &body.name, 100)?;
    let mut members = body.member_ids.clone();
    members.sort();
    members.dedup();
    if members.is_empty() || members.len() > 50 {
        return Err(ApiError::invalid(
            "memberIds",
            "a panel has 1 to 50 experts",
        ));
    }
    if body.chair_id.is_some_and(|c| !members.contains(&c)) {
        return Err(ApiError::invalid(
            "chairId",
            "the chair must be one of the members",
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_panel(&name, body.chair_id, &members).await?),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConflictBody {
    expert_id: Uuid,
    #[serde(default)]
    project_id: Option<Uuid>,
    #[serde(default)]
    organisation_id: Option<Uuid>,
    #[serde(default)]
    reason: String,
}

async fn declare_conflict(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<ConflictBody>,
) -> Result<StatusCode, ApiError> {
    let target = match (body.project_id, body.organisation_id) {
        (Some(p), None) => ConflictTarget::Project(p),
        (None, Some(o)) => ConflictTarget::Organisation(o),
        _ => {
            return Err(ApiError::invalid(
                "projectId",
                "give exactly one of projectId and organisationId",
            ));
        }
    };
    let reason = body.reason.trim();
    if reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "at most 500 characters"));
    }
    s.store
        .declare_conflict(body.expert_id, target, reason)
        .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WindowBody {
    kind: scheduler::model::WindowKind,
    start: String,
    end: String,
}

/// Records when a person cannot attend (or, for applicants, would prefer to).
async fn add_window(
    _: Admin,
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<Uuid>,
    ApiJson(body): ApiJson<WindowBody>,
) -> Result<StatusCode, ApiError> {
    let starts_at = scheduler::domain::parse_utc_time("start", &body.start)?;
    let ends_at = scheduler::domain::parse_utc_time("end", &body.end)?;
    if ends_at <= starts_at || ends_at - starts_at > chrono::Duration::days(366) {
        return Err(ApiError::invalid(
            "end",
            "must be after start, within a year",
        ));
    }
    s.store
        .add_window(&scheduler::model::AvailabilityWindow {
            person_id: id,
            kind: body.kind,
            starts_at,
            ends_at,
        })
        .await?;
    Ok(StatusCode::CREATED)
}
