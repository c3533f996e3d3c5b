//! `POST /api/v1/plan`: plans a defense day from stored panels and projects, and with
//! `"book": true` books every placement (each booking still checked by the database,
//! so a conflict with an existing booking is reported, never written).
//!
//! People's unavailable windows exclude slots; applicants' preferred windows are
//! preferred. Instead of stored panels a pool of experts can be given, from which
//! panels are formed for the day (`planner::form_panels`).

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use scheduler::Role;
use scheduler::domain::{
    NewParticipant, NewSession, PersonName, SessionKind, Title, parse_time_zone,
};
use scheduler::model::{ConflictTarget, NotificationKind};
use scheduler::planner::{self, ExpertSpec, PanelSpec, PlanInput, ProjectSpec};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admin_auth::Admin;
use super::error::{ApiError, ApiJson};
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

async fn plan_day(
    admin: Admin,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PlanRequest>,
) -> Result<Json<PlanResponse>, ApiError> {
    let tz = parse_time_zone(req.time_zone.as_deref())?;
    let date = NaiveDate::parse_from_str(req.date.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid("date", "must be YYYY-MM-DD"))?;
    let start_time = NaiveTime::parse_from_str(req.day_start.trim(), "%H:%M")
        .map_err(|_| ApiError::invalid("dayStart", "must be HH:MM"))?;
    let day_start = tz
        .from_local_datetime(&date.and_time(start_time))
        .single()
        .ok_or_else(|| {
            ApiError::invalid(
                "dayStart",
                "does not exist or is ambiguous in this time zone",
            )
        })?
        .with_timezone(&Utc);
    let a = &req.agenda;
    let parts = [
        a.presentation_minutes,
        a.qa_minutes,
        a.deliberation_minutes,
        a.buffer_minutes,
    ];
    if parts.iter().any(|m| !(0..=240).contains(m)) || a.presentation_minutes == 0 {
        return Err(ApiError::invalid(
            "agenda",
            "each part is 0–240 minutes, the presentation at least 1",
        ));
    }
    let agenda = scheduler::domain::Agenda::parse(
        a.presentation_minutes,
        a.qa_minutes,
        a.deliberation_minutes,
    )?;
    let session_minutes = agenda.total_minutes();
    let slot_minutes = session_minutes + a.buffer_minutes;
    if req.slots == 0 || req.slots > planner::MAX_SLOTS {
        return Err(ApiError::invalid(
            "slots",
            format!("1 to {} slots", planner::MAX_SLOTS),
        ));
    }

    let people: HashMap<Uuid, scheduler::model::Person> = state
        .store
        .people()
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let all_panels = state.store.panels().await?;
    let all_projects = state.store.projects().await?;
    let programmes = state.store.programmes().await?;
    let conflicts = state.store.conflicts().await?;
    let mut panels: Vec<_> = req
        .panel_ids
        .iter()
        .map(|id| {
            all_panels
                .iter()
                .find(|p| p.id == *id)
                .cloned()
                .ok_or_else(|| ApiError::invalid("panelIds", format!("unknown panel {id}")))
        })
        .collect::<Result<_, _>>()?;
    let projects: Vec<_> = req
        .project_ids
        .iter()
        .map(|id| {
            all_projects
                .iter()
                .find(|p| p.id == *id)
                .cloned()
                .ok_or_else(|| ApiError::invalid("projectIds", format!("unknown project {id}")))
        })
        .collect::<Result<_, _>>()?;

    // Keys: experts by index; organisations and applicants by small integers.
    if req.pool.is_some() && !panels.is_empty() {
        return Err(ApiError::invalid(
            "pool",
            "give either panelIds or a pool, not both",
        ));
    }
    let mut expert_ids: Vec<Uuid> = panels
        .iter()
        .flat_map(|p| p.members.iter().copied())
        .collect();
    if let Some(pool) = &req.pool {
        if pool.panel_size == 0
            || pool.panel_size > 50
            || pool.panel_count == 0
            || pool.panel_count > 500
        {
            return Err(ApiError::invalid("pool", "1–500 panels of 1–50 experts"));
        }
        if let Some(unknown) = pool.expert_ids.iter().find(|id| !people.contains_key(*id)) {
            return Err(ApiError::invalid(
                "pool",
                format!("unknown expert {unknown}"),
            ));
        }
        expert_ids.extend(pool.expert_ids.iter().copied());
    }
    expert_ids.sort();
    expert_ids.dedup();
    let expert_index: HashMap<Uuid, usize> = expert_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let mut org_keys: HashMap<Uuid, u32> = HashMap::new();
    let mut org_key = |id: Option<Uuid>| -> u32 {
        match id {
            // Unknown organisations never match each other.
            None => u32::MAX - org_keys.len() as u32,
            Some(id) => {
                let next = org_keys.len() as u32;
                *org_keys.entry(id).or_insert(next)
            }
        }
    };
    let day = if req.slots >= 128 {
        u128::MAX
    } else {
        (1u128 << req.slots) - 1
    };
    let slot_start = |slot: usize| day_start + Duration::minutes(slot_minutes * slot as i64);
    let day_end = slot_start(req.slots);
    let windows = state.store.windows(day_start, day_end).await?;
    // Slots that a person's windows of `kind` touch.
    let mask = |person: Uuid, kind: scheduler::model::WindowKind| -> u128 {
        let mut m = 0u128;
        for w in windows
            .iter()
            .filter(|w| w.person_id == person && w.kind == kind)
        {
            for slot in 0..req.slots {
                let from = slot_start(slot);
                let to = from + Duration::minutes(session_minutes);
                if w.starts_at < to && from < w.ends_at {
                    m |= 1u128 << slot;
                }
            }
        }
        m
    };
    use scheduler::model::WindowKind::{Preferred, Unavailable};
    let experts: Vec<ExpertSpec> = expert_ids
        .iter()
        .map(|id| {
            let person = people.get(id);
            ExpertSpec {
                organisation: org_key(person.and_then(|p| p.organisation_id)),
                fields: person.map(|p| p.fields.clone()).unwrap_or_default(),
                available: day & !mask(*id, Unavailable),
            }
        })
        .collect();
    let mut applicant_keys: HashMap<Uuid, u32> = HashMap::new();
    let project_specs: Vec<ProjectSpec> = projects
        .iter()
        .map(|p| {
            let next = applicant_keys.len() as u32;
            let applicant = *applicant_keys.entry(p.applicant_id).or_insert(next);
            ProjectSpec {
                applicant,
                organisation: org_key(Some(p.organisation_id)),
                field: p.field.clone(),
                declared_conflicts: conflicts
                    .iter()
                    .filter(|(_, target)| match target {
                        ConflictTarget::Project(id) => *id == p.id,
                        ConflictTarget::Organisation(id) => *id == p.organisation_id,
                    })
                    .filter_map(|(expert, _)| expert_index.get(expert).copied())
                    .collect(),
                available: day & !mask(p.applicant_id, Unavailable),
                preferred: day
                    & !mask(p.applicant_id, Unavailable)
                    & mask(p.applicant_id, Preferred),
            }
        })
        .collect();
    // The strictest panel-size limits among the projects' programmes.
    let limits = projects
        .iter()
        .filter_map(|p| programmes.iter().find(|g| g.id == p.programme_id))
        .fold((1usize, usize::MAX), |(lo, hi), g| {
            (
                lo.max(g.min_panel_size as usize),
                hi.min(g.max_panel_size as usize),
            )
        });
    let mut formed_panels = Vec::new();
    if let Some(pool) = &req.pool {
        let pool_indices: Vec<usize> = pool
            .expert_ids
            .iter()
            .filter_map(|id| expert_index.get(id).copied())
            .collect();
        let formed =
            planner::form_panels(&experts, &pool_indices, pool.panel_size, pool.panel_count);
        for (i, spec) in formed.into_iter().enumerate() {
            let members: Vec<Uuid> = spec.experts.iter().map(|&e| expert_ids[e]).collect();
            let panel = scheduler::model::Panel {
                id: Uuid::new_v4(),
                name: format!("自动组 {} Panel {}", i + 1, i + 1),
                chair_id: members.first().copied(),
                members: members.clone(),
            };
            formed_panels.push(FormedPanel {
                id: panel.id,
                name: panel.name.clone(),
                members,
            });
            panels.push(panel);
        }
    }
    let input = PlanInput {
        slots: req.slots,
        experts,
        panels: panels
            .iter()
            .map(|p| PanelSpec {
                experts: p
                    .members
                    .iter()
                    .filter_map(|m| expert_index.get(m).copied())
                    .collect(),
            })
            .collect(),
        projects: project_specs,
        panel_size: limits,
    };
    let plan = planner::plan(&input).map_err(|e| ApiError::invalid("slots", e.to_string()))?;
    debug_assert!(planner::check(&input, &plan).is_empty());

    // Booking makes the day a record, and panels formed from the pool real panels.
    let mut defense_day = None;
    if req.book {
        let first_formed = panels.len() - formed_panels.len();
        for (i, formed) in formed_panels.iter_mut().enumerate() {
            let stored = state
                .store
                .create_panel(
                    &format!(
                        "{} · {} · {}",
                        formed.name,
                        date,
                        &Uuid::new_v4().simple().to_string()[..6]
                    ),
                    formed.members.first().copied(),
                    &formed.members,
                )
                .await?;
            formed.id = stored.id;
            formed.name = stored.name.clone();
            panels[first_formed + i] = stored;
        }
        let day = scheduler::model::DefenseDay {
            id: Uuid::new_v4(),
            date,
            time_zone: tz.name().to_owned(),
            day_start: start_time.format("%H:%M").to_string(),
            slots: req.slots as i64,
            agenda,
            buffer_minutes: a.buffer_minutes,
        };
        state.store.create_defense_day(&day).await?;
        defense_day = Some(day.id);
    }
    let host = req
        .host_name
        .as_deref()
        .map(PersonName::parse)
        .transpose()?;
    let mut placed = Vec::new();
    for p in &plan.placements {
        let project = &projects[p.project];
        let panel = &panels[p.panel];
        let starts_at = slot_start(p.slot);
        let mut entry = PlacedDefense {
            project_id: project.id,
            code: project.code.clone(),
            panel_id: panel.id,
            slot: p.slot,
            starts_at,
            ends_at: starts_at + Duration::minutes(session_minutes),
            session_id: None,
            refused: None,
        };
        if req.book {
            let mut participants = Vec::new();
            if let Some(host) = &host {
                participants.push(NewParticipant {
                    name: host.clone(),
                    role: Role::Host,
                    person: None,
                });
            }
            let person = |id: Uuid, role: Role| -> Result<NewParticipant, ApiError> {
                let name = people.get(&id).map(|p| p.name.as_str()).unwrap_or("?");
                Ok(NewParticipant {
                    name: PersonName::parse(name)?,
                    role,
                    person: Some(id),
                })
            };
            participants.push(person(project.applicant_id, Role::Applicant)?);
            for member in &panel.members {
                participants.push(person(*member, Role::Expert)?);
            }
            let title = format!("{} {} 答辩", project.code, project.title);
            let title: String = title.chars().take(200).collect();
            let mut new = NewSession::parse(
                Title::parse(&title)?,
                SessionKind::Defense,
                starts_at,
                session_minutes,
                tz,
                participants,
            )?
            .with_booking(Some(project.id), None, a.buffer_minutes)?
            .with_agenda(agenda)?;
            new.panel = Some(panel.id);
            new.defense_day = defense_day;
            match state.store.create_session(&new).await {
                Ok((session, participants)) => {
                    crate::notify::notify(
                        &state,
                        &session,
                        &participants,
                        NotificationKind::Invite,
                    )
                    .await?;
                    entry.session_id = Some(session.id);
                }
                Err(scheduler::StoreError::Booking(conflict)) => {
                    entry.refused = Some(conflict.to_string())
                }
                Err(e) => return Err(e.into()),
            }
        }
        placed.push(entry);
    }
    let unplaced = plan
        .unplaced
        .iter()
        .map(|(j, reason)| UnplacedDefense {
            project_id: projects[*j].id,
            code: projects[*j].code.clone(),
            reason: reason.to_string(),
        })
        .collect();
    tracing::info!(by = %admin.user_id, placed = placed.len(), book = req.book, "defense day planned");
    Ok(Json(PlanResponse {
        defense_day_id: defense_day,
        formed_panels,
        placed,
        unplaced,
    }))
}
