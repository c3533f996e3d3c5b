//! `POST /api/v1/plan`: the HTTP edge of [`crate::planning`]: plans a defense day from
//! stored panels (or a pool of experts) and projects, and with `"book": true` books
//! every placement.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admin_auth::Admin;
use super::error::{ApiError, ApiJson};
use crate::planning::{AgendaMinutes, DayPlan, DayRequest, DaySpec, PoolSpec};
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/plan", post(plan_day))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Agenda {
    presentation_minutes: i64,
    qa_minutes: i64,
    deliberation_minutes: i64,
    #[serde(default)]
    buffer_minutes: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlanRequest {
    /// The day, `YYYY-MM-DD`, in `timeZone`.
    date: String,
    #[serde(default)]
    time_zone: Option<String>,
    /// Local start of the first slot, `HH:MM`.
    day_start: String,
    agenda: Agenda,
    /// Slots per panel.
    slots: usize,
    #[serde(default)]
    panel_ids: Vec<Uuid>,
    /// Form panels from these experts instead of using stored panels.
    #[serde(default)]
    pool: Option<Pool>,
    project_ids: Vec<Uuid>,
    #[serde(default)]
    book: bool,
    /// The secretary's name on booked sessions.
    #[serde(default)]
    host_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Pool {
    expert_ids: Vec<Uuid>,
    panel_count: usize,
    panel_size: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FormedPanel {
    id: Uuid,
    name: String,
    members: Vec<Uuid>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlacedDefense {
    project_id: Uuid,
    code: String,
    panel_id: Uuid,
    slot: usize,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnplacedDefense {
    project_id: Uuid,
    code: String,
    reason: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanResponse {
    /// The defense day record, when the plan was booked.
    #[serde(skip_serializing_if = "Option::is_none")]
    defense_day_id: Option<Uuid>,
    /// Panels formed from the pool (empty when stored panels were used).
    formed_panels: Vec<FormedPanel>,
    placed: Vec<PlacedDefense>,
    unplaced: Vec<UnplacedDefense>,
}

impl From<PlanRequest> for DayRequest {
    fn from(req: PlanRequest) -> Self {
        let a = req.agenda;
        DayRequest {
            date: req.date,
            time_zone: req.time_zone,
            day_start: req.day_start,
            agenda: AgendaMinutes {
                presentation: a.presentation_minutes,
                qa: a.qa_minutes,
                deliberation: a.deliberation_minutes,
                buffer: a.buffer_minutes,
            },
            slots: req.slots,
            panel_ids: req.panel_ids,
            pool: req.pool.map(|p| PoolSpec {
                expert_ids: p.expert_ids,
                panel_count: p.panel_count,
                panel_size: p.panel_size,
            }),
            project_ids: req.project_ids,
            book: req.book,
            host_name: req.host_name,
        }
    }
}

impl From<DayPlan> for PlanResponse {
    fn from(plan: DayPlan) -> Self {
        PlanResponse {
            defense_day_id: plan.defense_day_id,
            formed_panels: plan
                .formed_panels
                .into_iter()
                .map(|p| FormedPanel {
                    id: p.id,
                    name: p.name,
                    members: p.members,
                })
                .collect(),
            placed: plan
                .placed
                .into_iter()
                .map(|p| PlacedDefense {
                    project_id: p.project_id,
                    code: p.code,
                    panel_id: p.panel_id,
                    slot: p.slot,
                    starts_at: p.starts_at,
                    ends_at: p.ends_at,
                    session_id: p.session_id,
                    refused: p.refused,
                })
                .collect(),
            unplaced: plan
                .unplaced
                .into_iter()
                .map(|u| UnplacedDefense {
                    project_id: u.project_id,
                    code: u.code,
                    reason: u.reason,
                })
                .collect(),
        }
    }
}

async fn plan_day(
    admin: Admin,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PlanRequest>,
) -> Result<Json<PlanResponse>, ApiError> {
    let book = req.book;
    let spec = DaySpec::parse(req.into())?;
    let plan = crate::planning::plan_day(&state, spec).await?;
    tracing::info!(by = %admin.user_id, placed = plan.placed.len(), book, "defense day planned");
    Ok(Json(plan.into()))
}
