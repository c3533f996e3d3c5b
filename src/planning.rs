//! Planning a defense day, as a service (`http::planning` is its HTTP edge): the
//! request parsed into a [`DaySpec`], what it needs loaded from the store, turned into
//! the planner's input ([`scheduler::planner`], pure), and with `book` the panels
//! formed from a pool, the day record and one booking per placement persisted (each
//! booking still checked by the database, so a clash with an existing booking is
//! reported, never written), with their invitations.
//!
//! People's unavailable windows exclude slots; applicants' preferred windows are
//! preferred. Instead of stored panels a pool of experts can be given, from which
//! panels are formed for the day (`planner::form_panels`).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use scheduler::domain::{
    Agenda, DomainError, NewParticipant, NewSession, PersonName, SessionKind, Title,
    parse_time_zone,
};
use scheduler::model::{ConflictTarget, NotificationKind, Panel, Person, WindowKind};
use scheduler::planner::{self, ExpertSpec, PanelSpec, Plan, PlanInput, ProjectSpec};
use scheduler::{Role, StoreError};
use uuid::Uuid;

use crate::state::AppState;

/// Why a day could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// The request breaks a rule (field and reason).
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> PlanningError {
    PlanningError::Invalid(DomainError::Invalid {
        field,
        reason: reason.into(),
    })
}

/// The minutes of a defense's parts, as asked for.
#[derive(Debug, Clone, Copy)]
pub struct AgendaMinutes {
    pub presentation: i64,
    /// Questions and answers.
    pub qa: i64,
    pub deliberation: i64,
    /// Between two defenses.
    pub buffer: i64,
}

/// Experts to form panels from, instead of stored panels.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    /// The experts.
    pub expert_ids: Vec<Uuid>,
    /// How many panels.
    pub panel_count: usize,
    /// Experts per panel.
    pub panel_size: usize,
}

/// A day's planning request as it arrives (strings for the date and time).
#[derive(Debug, Clone)]
pub struct DayRequest {
    /// `YYYY-MM-DD` in `time_zone`.
    pub date: String,
    /// IANA name; the default zone when `None`.
    pub time_zone: Option<String>,
    /// Local start of the first slot, `HH:MM`.
    pub day_start: String,
    /// The parts' minutes.
    pub agenda: AgendaMinutes,
    /// Slots per panel.
    pub slots: usize,
    /// Stored panels to plan with.
    pub panel_ids: Vec<Uuid>,
    /// Or a pool to form panels from.
    pub pool: Option<PoolSpec>,
    /// The projects to place.
    pub project_ids: Vec<Uuid>,
    /// Book the placements.
    pub book: bool,
    /// The secretary's name on booked sessions.
    pub host_name: Option<String>,
}

/// A validated day: every rule about the request itself checked.
#[derive(Debug, Clone)]
pub struct DaySpec {
    time_zone: Tz,
    date: NaiveDate,
    start_time: NaiveTime,
    day_start: DateTime<Utc>,
    agenda: Agenda,
    buffer_minutes: i64,
    slots: usize,
    panel_ids: Vec<Uuid>,
    pool: Option<PoolSpec>,
    project_ids: Vec<Uuid>,
    book: bool,
    host: Option<PersonName>,
}

impl DaySpec {
    /// Parses and checks a request (nothing is read from the store).
    pub fn parse(req: DayRequest) -> Result<Self, PlanningError> {
        let time_zone = parse_time_zone(req.time_zone.as_deref())?;
        let date = NaiveDate::parse_from_str(req.date.trim(), "%Y-%m-%d")
            .map_err(|_| invalid("date", "must be YYYY-MM-DD"))?;
        let start_time = NaiveTime::parse_from_str(req.day_start.trim(), "%H:%M")
            .map_err(|_| invalid("dayStart", "must be HH:MM"))?;
        let day_start = time_zone
            .from_local_datetime(&date.and_time(start_time))
            .single()
            .ok_or_else(|| {
                invalid(
                    "dayStart",
                    "does not exist or is ambiguous in this time zone",
                )
            })?
            .with_timezone(&Utc);
        let a = req.agenda;
        let parts = [a.presentation, a.qa, a.deliberation, a.buffer];
        if parts.iter().any(|m| !(0..=240).contains(m)) || a.presentation == 0 {
            return Err(invalid(
                "agenda",
                "each part is 0–240 minutes, the presentation at least 1",
            ));
        }
        let agenda = Agenda::parse(a.presentation, a.qa, a.deliberation)?;
        if req.slots == 0 || req.slots > planner::MAX_SLOTS {
            return Err(invalid(
                "slots",
                format!("1 to {} slots", planner::MAX_SLOTS),
            ));
        }
        if req.pool.is_some() && !req.panel_ids.is_empty() {
            return Err(invalid("pool", "give either panelIds or a pool, not both"));
        }
        if let Some(pool) = &req.pool
            && (pool.panel_size == 0
                || pool.panel_size > 50
                || pool.panel_count == 0
                || pool.panel_count > 500)
        {
            return Err(invalid("pool", "1–500 panels of 1–50 experts"));
        }
        let host = req
            .host_name
            .as_deref()
            .map(PersonName::parse)
            .transpose()?;
        Ok(Self {
            time_zone,
            date,
            start_time,
            day_start,
            agenda,
            buffer_minutes: a.buffer,
            slots: req.slots,
            panel_ids: req.panel_ids,
            pool: req.pool,
            project_ids: req.project_ids,
            book: req.book,
            host,
        })
    }

    fn session_minutes(&self) -> i64 {
        self.agenda.total_minutes()
    }

    fn slot_start(&self, slot: usize) -> DateTime<Utc> {
        self.day_start
            + Duration::minutes((self.session_minutes() + self.buffer_minutes) * slot as i64)
    }

    /// Every slot of the day, as a bit mask.
    fn whole_day(&self) -> u128 {
        if self.slots >= 128 {
            u128::MAX
        } else {
            (1u128 << self.slots) - 1
        }
    }
}

/// A panel formed from the pool.
#[derive(Debug, Clone)]
pub struct FormedPanel {
    /// Its id (stored when booked).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its experts.
    pub members: Vec<Uuid>,
}

/// One placed defense (booked or refused when booking).
#[derive(Debug, Clone)]
pub struct PlacedDefense {
    /// The project.
    pub project_id: Uuid,
    /// Its code.
    pub code: String,
    /// The panel.
    pub panel_id: Uuid,
    /// The slot.
    pub slot: usize,
    /// When.
    pub starts_at: DateTime<Utc>,
    /// Until.
    pub ends_at: DateTime<Utc>,
    /// The booked session.
    pub session_id: Option<Uuid>,
    /// Why the database refused the booking.
    pub refused: Option<String>,
}

/// A project the planner could not place, and why.
#[derive(Debug, Clone)]
pub struct UnplacedDefense {
    /// The project.
    pub project_id: Uuid,
    /// Its code.
    pub code: String,
    /// Why.
    pub reason: String,
}

/// The planned (and perhaps booked) day.
#[derive(Debug, Clone)]
pub struct DayPlan {
    /// The day's record, when booked.
    pub defense_day_id: Option<Uuid>,
    /// Panels formed from the pool.
    pub formed_panels: Vec<FormedPanel>,
    /// Placed defenses.
    pub placed: Vec<PlacedDefense>,
    /// Projects not placed.
    pub unplaced: Vec<UnplacedDefense>,
}

/// What the plan is made from, read from the store.
struct Loaded {
    people: HashMap<Uuid, Person>,
    panels: Vec<Panel>,
    projects: Vec<scheduler::model::Project>,
    programmes: Vec<scheduler::model::Programme>,
    conflicts: Vec<(Uuid, ConflictTarget)>,
    windows: Vec<scheduler::model::AvailabilityWindow>,
}

/// Plans the day and, with `book`, books it.
pub async fn plan_day(state: &AppState, spec: DaySpec) -> Result<DayPlan, PlanningError> {
    let loaded = load(state, &spec).await?;
    let mut planning = Planning::new(&spec, &loaded)?;
    let plan = planner::plan(&planning.input).map_err(|e| invalid("slots", e.to_string()))?;
    debug_assert!(planner::check(&planning.input, &plan).is_empty());
    let defense_day = match spec.book {
        true => Some(record_day(state, &spec, &mut planning).await?),
        false => None,
    };
    let placed = place(state, &spec, &loaded, &planning, &plan, defense_day).await?;
    let unplaced = plan
        .unplaced
        .iter()
        .map(|(j, reason)| UnplacedDefense {
            project_id: loaded.projects[*j].id,
            code: loaded.projects[*j].code.clone(),
            reason: reason.to_string(),
        })
        .collect();
    Ok(DayPlan {
        defense_day_id: defense_day,
        formed_panels: planning.formed,
        placed,
        unplaced,
    })
}

async fn load(state: &AppState, spec: &DaySpec) -> Result<Loaded, PlanningError> {
    let people: HashMap<Uuid, Person> = state
        .store
        .people()
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let all_panels = state.store.panels().await?;
    let all_projects = state.store.projects().await?;
    let panels = spec
        .panel_ids
        .iter()
        .map(|id| {
            all_panels
                .iter()
                .find(|p| p.id == *id)
                .cloned()
                .ok_or_else(|| invalid("panelIds", format!("unknown panel {id}")))
        })
        .collect::<Result<_, _>>()?;
    let projects = spec
        .project_ids
        .iter()
        .map(|id| {
            all_projects
                .iter()
                .find(|p| p.id == *id)
                .cloned()
                .ok_or_else(|| invalid("projectIds", format!("unknown project {id}")))
        })
        .collect::<Result<_, _>>()?;
    if let Some(pool) = &spec.pool
        && let Some(unknown) = pool.expert_ids.iter().find(|id| !people.contains_key(*id))
    {
        return Err(invalid("pool", format!("unknown expert {unknown}")));
    }
    let windows = state
        .store
        .windows(spec.day_start, spec.slot_start(spec.slots))
        .await?;
    Ok(Loaded {
        people,
        panels,
        projects,
        programmes: state.store.programmes().await?,
        conflicts: state.store.conflicts().await?,
        windows,
    })
}

/// The planner's input, the panels it plans with (stored, then formed), and the
/// experts behind its indices.
struct Planning {
    input: PlanInput,
    panels: Vec<Panel>,
    formed: Vec<FormedPanel>,
}

impl Planning {
    /// Builds the planner's input: experts by index, organisations and applicants as
    /// small keys, availability and preference as slot masks, the programmes'
    /// strictest panel-size limits, and panels formed from the pool.
    fn new(spec: &DaySpec, loaded: &Loaded) -> Result<Self, PlanningError> {
        let mut panels = loaded.panels.clone();
        let mut expert_ids: Vec<Uuid> = panels
            .iter()
            .flat_map(|p| p.members.iter().copied())
            .chain(spec.pool.iter().flat_map(|p| p.expert_ids.iter().copied()))
            .collect();
        expert_ids.sort();
        expert_ids.dedup();
        let expert_index: HashMap<Uuid, usize> = expert_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        let mut orgs = OrgKeys::default();
        let day = spec.whole_day();
        let mask = |person: Uuid, kind: WindowKind| slot_mask(spec, &loaded.windows, person, kind);
        let experts: Vec<ExpertSpec> = expert_ids
            .iter()
            .map(|id| {
                let person = loaded.people.get(id);
                ExpertSpec {
                    organisation: orgs.key(person.and_then(|p| p.organisation_id)),
                    fields: person.map(|p| p.fields.clone()).unwrap_or_default(),
                    available: day & !mask(*id, WindowKind::Unavailable),
                }
            })
            .collect();
        let projects = project_specs(spec, loaded, &expert_index, &mut orgs);
        let limits = panel_size_limits(loaded);
        let formed = match &spec.pool {
            Some(pool) => form_from_pool(pool, &experts, &expert_ids, &expert_index),
            None => Vec::new(),
        };
        panels.extend(formed.iter().map(|f| Panel {
            id: f.id,
            name: f.name.clone(),
            chair_id: f.members.first().copied(),
            members: f.members.clone(),
        }));
        let input = PlanInput {
            slots: spec.slots,
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
            projects,
            panel_size: limits,
        };
        Ok(Self {
            input,
            panels,
            formed,
        })
    }
}

/// Small keys for organisations, as the planner takes them: one key per organisation;
/// an unknown organisation gets a key of its own, so it never matches another.
#[derive(Default)]
struct OrgKeys(HashMap<Uuid, u32>);

impl OrgKeys {
    fn key(&mut self, id: Option<Uuid>) -> u32 {
        match id {
            None => u32::MAX - self.0.len() as u32,
            Some(id) => {
                let next = self.0.len() as u32;
                *self.0.entry(id).or_insert(next)
            }
        }
    }
}

/// The projects as the planner takes them: applicant and organisation keys, field,
/// declared conflicts (by expert index), and the applicant's slots.
fn project_specs(
    spec: &DaySpec,
    loaded: &Loaded,
    expert_index: &HashMap<Uuid, usize>,
    orgs: &mut OrgKeys,
) -> Vec<ProjectSpec> {
    let day = spec.whole_day();
    let mask = |person: Uuid, kind: WindowKind| slot_mask(spec, &loaded.windows, person, kind);
    let mut applicant_keys: HashMap<Uuid, u32> = HashMap::new();
    loaded
        .projects
        .iter()
        .map(|p| {
            let next = applicant_keys.len() as u32;
            let applicant = *applicant_keys.entry(p.applicant_id).or_insert(next);
            let unavailable = mask(p.applicant_id, WindowKind::Unavailable);
            ProjectSpec {
                applicant,
                organisation: orgs.key(Some(p.organisation_id)),
                field: p.field.clone(),
                declared_conflicts: loaded
                    .conflicts
                    .iter()
                    .filter(|(_, target)| match target {
                        ConflictTarget::Project(id) => *id == p.id,
                        ConflictTarget::Organisation(id) => *id == p.organisation_id,
                    })
                    .filter_map(|(expert, _)| expert_index.get(expert).copied())
                    .collect(),
                available: day & !unavailable,
                preferred: day & !unavailable & mask(p.applicant_id, WindowKind::Preferred),
            }
        })
        .collect()
}

/// The strictest panel-size limits among the projects' programmes.
fn panel_size_limits(loaded: &Loaded) -> (usize, usize) {
    loaded
        .projects
        .iter()
        .filter_map(|p| loaded.programmes.iter().find(|g| g.id == p.programme_id))
        .fold((1usize, usize::MAX), |(lo, hi), g| {
            (
                lo.max(g.min_panel_size as usize),
                hi.min(g.max_panel_size as usize),
            )
        })
}

/// Panels formed for the day from a pool of experts (`planner::form_panels`), named in
/// both languages; stored only when the day is booked.
fn form_from_pool(
    pool: &PoolSpec,
    experts: &[ExpertSpec],
    expert_ids: &[Uuid],
    expert_index: &HashMap<Uuid, usize>,
) -> Vec<FormedPanel> {
    let pool_indices: Vec<usize> = pool
        .expert_ids
        .iter()
        .filter_map(|id| expert_index.get(id).copied())
        .collect();
    planner::form_panels(experts, &pool_indices, pool.panel_size, pool.panel_count)
        .into_iter()
        .enumerate()
        .map(|(i, spec)| FormedPanel {
            id: Uuid::new_v4(),
            name: format!("自动组 {} Panel {}", i + 1, i + 1),
            members: spec.experts.iter().map(|&e| expert_ids[e]).collect(),
        })
        .collect()
}

/// The slots that a person's windows of `kind` touch.
fn slot_mask(
    spec: &DaySpec,
    windows: &[scheduler::model::AvailabilityWindow],
    person: Uuid,
    kind: WindowKind,
) -> u128 {
    let mut mask = 0u128;
    for w in windows
        .iter()
        .filter(|w| w.person_id == person && w.kind == kind)
    {
        for slot in 0..spec.slots {
            let from = spec.slot_start(slot);
            let to = from + Duration::minutes(spec.session_minutes());
            if w.starts_at < to && from < w.ends_at {
                mask |= 1u128 << slot;
            }
        }
    }
    mask
}

/// Booking makes the day a record, and panels formed from the pool real panels.
async fn record_day(
    state: &AppState,
    spec: &DaySpec,
    planning: &mut Planning,
) -> Result<Uuid, PlanningError> {
    let first_formed = planning.panels.len() - planning.formed.len();
    for (i, formed) in planning.formed.iter_mut().enumerate() {
        let stored = state
            .store
            .create_panel(
                &format!(
                    "{} · {} · {}",
                    formed.name,
                    spec.date,
                    &Uuid::new_v4().simple().to_string()[..6]
                ),
                formed.members.first().copied(),
                &formed.members,
            )
            .await?;
        formed.id = stored.id;
        formed.name = stored.name.clone();
        planning.panels[first_formed + i] = stored;
    }
    let day = scheduler::model::DefenseDay {
        id: Uuid::new_v4(),
        date: spec.date,
        time_zone: spec.time_zone.name().to_owned(),
        day_start: spec.start_time.format("%H:%M").to_string(),
        slots: spec.slots as i64,
        agenda: spec.agenda,
        buffer_minutes: spec.buffer_minutes,
    };
    state.store.create_defense_day(&day).await?;
    Ok(day.id)
}

/// Each placement, booked (and invited) when asked for.
async fn place(
    state: &AppState,
    spec: &DaySpec,
    loaded: &Loaded,
    planning: &Planning,
    plan: &Plan,
    defense_day: Option<Uuid>,
) -> Result<Vec<PlacedDefense>, PlanningError> {
    let mut placed = Vec::new();
    for p in &plan.placements {
        let project = &loaded.projects[p.project];
        let panel = &planning.panels[p.panel];
        let starts_at = spec.slot_start(p.slot);
        let mut entry = PlacedDefense {
            project_id: project.id,
            code: project.code.clone(),
            panel_id: panel.id,
            slot: p.slot,
            starts_at,
            ends_at: starts_at + Duration::minutes(spec.session_minutes()),
            session_id: None,
            refused: None,
        };
        if spec.book {
            let new = booking(spec, loaded, project, panel, starts_at, defense_day)?;
            match state.store.create_session(&new).await {
                Ok((session, participants)) => {
                    crate::notify::notify(state, &session, &participants, NotificationKind::Invite)
                        .await?;
                    entry.session_id = Some(session.id);
                }
                Err(StoreError::Booking(conflict)) => entry.refused = Some(conflict.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
        placed.push(entry);
    }
    Ok(placed)
}

/// The booking of one placed defense: the secretary (when named), the applicant and
/// the panel's experts.
fn booking(
    spec: &DaySpec,
    loaded: &Loaded,
    project: &scheduler::model::Project,
    panel: &Panel,
    starts_at: DateTime<Utc>,
    defense_day: Option<Uuid>,
) -> Result<NewSession, PlanningError> {
    let mut participants = Vec::new();
    if let Some(host) = &spec.host {
        participants.push(NewParticipant {
            name: host.clone(),
            role: Role::Host,
            person: None,
        });
    }
    let person = |id: Uuid, role: Role| -> Result<NewParticipant, PlanningError> {
        let name = loaded
            .people
            .get(&id)
            .map(|p| p.name.as_str())
            .unwrap_or("?");
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
    let title: String = format!("{} {} 答辩", project.code, project.title)
        .chars()
        .take(200)
        .collect();
    let mut new = NewSession::parse(
        Title::parse(&title)?,
        SessionKind::Defense,
        starts_at,
        spec.session_minutes(),
        spec.time_zone,
        participants,
    )?
    .with_booking(Some(project.id), None, spec.buffer_minutes)?
    .with_agenda(spec.agenda)?;
    new.panel = Some(panel.id);
    new.defense_day = defense_day;
    Ok(new)
}
