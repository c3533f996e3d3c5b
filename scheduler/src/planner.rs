//! The defense-day planner: places projects' defenses into panels' slots with no hard
//! constraint broken, then prefers soft goals.
//!
//! Hard constraints (never broken; [`check`] verifies them independently):
//! - a panel holds one defense per slot, and each project is placed at most once;
//! - no expert of the panel has a conflict of interest with the project (same
//!   organisation, or declared);
//! - an expert sitting on several panels is never in two at once, and an applicant
//!   with several projects never defends two at once;
//! - every expert of the panel and the applicant are available for the slot;
//! - the panel's size is within the programme's limits.
//!
//! Soft goals, in order: field match between the panel's experts and the project;
//! compact panel days (earliest free slot, so experts have fewer idle gaps); the
//! applicant's preferred slots.
//!
//! Method: most-constrained project first, best-scoring feasible (panel, slot); then one
//! round of repair, where an unplaced project may take a slot whose current project can
//! move elsewhere. Slot sets are 128-bit masks, so a day has at most 128 slots.
//! Time is slots here; the caller maps slot `i` to `day_start + i × slot length`.

use std::collections::HashMap;

/// Most slots in one planned day.
pub const MAX_SLOTS: usize = 128;

/// One expert, by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpertSpec {
    /// Organisation key (same key = same organisation).
    pub organisation: u32,
    /// Expertise fields.
    pub fields: Vec<String>,
    /// Slots in which the expert is available (bit `i` = slot `i`).
    pub available: u128,
}

/// One panel: its experts (indices into `experts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelSpec {
    /// Experts on the panel.
    pub experts: Vec<usize>,
}

/// One project to defend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSpec {
    /// Applicant key (same key = same person).
    pub applicant: u32,
    /// The applying organisation's key.
    pub organisation: u32,
    pub field: String,
    /// Experts who declared a conflict with this project (indices).
    pub declared_conflicts: Vec<usize>,
    /// Slots the applicant can attend.
    pub available: u128,
    /// Slots the applicant prefers (a subset of `available`, may be empty).
    pub preferred: u128,
}

/// A day to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    /// Slots in the day (≤ [`MAX_SLOTS`]).
    pub slots: usize,
    pub experts: Vec<ExpertSpec>,
    pub panels: Vec<PanelSpec>,
    pub projects: Vec<ProjectSpec>,
    /// Allowed panel sizes (inclusive).
    pub panel_size: (usize, usize),
}

/// Where a project goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Project index.
    pub project: usize,
    /// Panel index.
    pub panel: usize,
    /// Slot index.
    pub slot: usize,
}

/// Why a project could not be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unplaced {
    /// Every panel has an expert with a conflict of interest (or a size outside limits).
    NoEligiblePanel,
    /// The applicant is available in no slot where an eligible panel is complete.
    NobodyAvailable,
    /// Eligible panels and times exist, but all are taken or would double-book someone.
    NoFreeSlot,
}

impl std::fmt::Display for Unplaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unplaced::NoEligiblePanel => {
                "every panel has an expert with a conflict of interest, or a size outside the programme's limits"
            }
            Unplaced::NobodyAvailable => {
                "the applicant and a complete eligible panel are never available at the same time"
            }
            Unplaced::NoFreeSlot => {
                "every possible slot is taken or would double-book an expert or the applicant"
            }
        })
    }
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Placed defenses.
    pub placements: Vec<Placement>,
    /// Projects left out, with the reason.
    pub unplaced: Vec<(usize, Unplaced)>,
}

/// Why the input cannot be planned at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Too many slots.
    #[error("a day has at most {MAX_SLOTS} slots, got {0}")]
    TooManySlots(usize),
    /// A panel names an expert that does not exist.
    #[error("panel {0} names an unknown expert")]
    UnknownExpert(usize),
}

fn slot_mask(slots: usize) -> u128 {
    if slots >= 128 {
        u128::MAX
    } else {
        (1u128 << slots) - 1
    }
}

fn conflicted(input: &PlanInput, project: &ProjectSpec, expert: usize) -> bool {
    input.experts[expert].organisation == project.organisation
        || project.declared_conflicts.contains(&expert)
}

struct State {
    panel_busy: Vec<u128>,
    expert_busy: Vec<u128>,
    applicant_busy: HashMap<u32, u128>,
    at: HashMap<(usize, usize), usize>,
    placed: Vec<Option<(usize, usize)>>,
}

impl State {
    fn free(&self, input: &PlanInput, project: usize, panel: usize, panel_available: u128) -> u128 {
        let p = &input.projects[project];
        let mut free = panel_available & p.available & !self.panel_busy[panel];
        free &= !self.applicant_busy.get(&p.applicant).copied().unwrap_or(0);
        for &e in &input.panels[panel].experts {
            free &= !self.expert_busy[e];
        }
        free
    }

    fn place(&mut self, input: &PlanInput, project: usize, panel: usize, slot: usize) {
        let bit = 1u128 << slot;
        self.panel_busy[panel] |= bit;
        for &e in &input.panels[panel].experts {
            self.expert_busy[e] |= bit;
        }
        *self
            .applicant_busy
            .entry(input.projects[project].applicant)
            .or_default() |= bit;
        self.at.insert((panel, slot), project);
        self.placed[project] = Some((panel, slot));
    }

    fn unplace(&mut self, input: &PlanInput, project: usize) {
        let Some((panel, slot)) = self.placed[project].take() else {
            return;
        };
        let bit = !(1u128 << slot);
        self.panel_busy[panel] &= bit;
        for &e in &input.panels[panel].experts {
            self.expert_busy[e] &= bit;
        }
        if let Some(a) = self
            .applicant_busy
            .get_mut(&input.projects[project].applicant)
        {
            *a &= bit;
        }
        self.at.remove(&(panel, slot));
    }
}

/// Plans a day.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    if input.slots > MAX_SLOTS {
        return Err(PlanError::TooManySlots(input.slots));
    }
    for (i, panel) in input.panels.iter().enumerate() {
        if panel.experts.iter().any(|&e| e >= input.experts.len()) {
            return Err(PlanError::UnknownExpert(i));
        }
    }
    let day = slot_mask(input.slots);
    // When the whole panel can sit.
    let panel_available: Vec<u128> = input
        .panels
        .iter()
        .map(|p| {
            p.experts
                .iter()
                .fold(day, |m, &e| m & input.experts[e].available)
        })
        .collect();
    let size_ok =
        |p: &PanelSpec| (input.panel_size.0..=input.panel_size.1).contains(&p.experts.len());
    // Eligible panels per project, with their field-match score.
    let eligible: Vec<Vec<(usize, usize)>> = input
        .projects
        .iter()
        .map(|project| {
            input
                .panels
                .iter()
                .enumerate()
                .filter(|(_, panel)| size_ok(panel))
                .filter(|(_, panel)| !panel.experts.iter().any(|&e| conflicted(input, project, e)))
                .map(|(i, panel)| {
                    let matches = panel
                        .experts
                        .iter()
                        .filter(|&&e| input.experts[e].fields.contains(&project.field))
                        .count();
                    (i, matches)
                })
                .collect()
        })
        .collect();

    let mut state = State {
        panel_busy: vec![0; input.panels.len()],
        expert_busy: vec![0; input.experts.len()],
        applicant_busy: HashMap::new(),
        at: HashMap::new(),
        placed: vec![None; input.projects.len()],
    };

    // Most constrained first: fewest (panel, slot) options before anything is placed.
    let mut order: Vec<usize> = (0..input.projects.len()).collect();
    let options: Vec<u32> = (0..input.projects.len())
        .map(|j| {
            eligible[j]
                .iter()
                .map(|&(p, _)| (panel_available[p] & input.projects[j].available).count_ones())
                .sum()
        })
        .collect();
    order.sort_by_key(|&j| (options[j], j));

    for &j in &order {
        if let Some((panel, slot)) = best_spot(input, &state, j, &eligible[j], &panel_available) {
            state.place(input, j, panel, slot);
        }
    }

    // Repair: an unplaced project may take a slot whose occupant can move elsewhere.
    for &j in &order {
        if state.placed[j].is_some() {
            continue;
        }
        'search: for &(panel, _) in &eligible[j] {
            let mut candidates = panel_available[panel] & input.projects[j].available;
            while candidates != 0 {
                let slot = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let Some(&occupant) = state.at.get(&(panel, slot)) else {
                    continue;
                };
                state.unplace(input, occupant);
                let fits =
                    state.free(input, j, panel, panel_available[panel]) & (1u128 << slot) != 0;
                if fits {
                    state.place(input, j, panel, slot);
                    if let Some((p2, s2)) = best_spot(
                        input,
                        &state,
                        occupant,
                        &eligible[occupant],
                        &panel_available,
                    ) {
                        state.place(input, occupant, p2, s2);
                        break 'search;
                    }
                    state.unplace(input, j);
                }
                state.place(input, occupant, panel, slot);
            }
        }
    }

    let mut result = Plan::default();
    for (j, placed) in state.placed.iter().enumerate() {
        match *placed {
            Some((panel, slot)) => result.placements.push(Placement {
                project: j,
                panel,
                slot,
            }),
            None => {
                let reason = if eligible[j].is_empty() {
                    Unplaced::NoEligiblePanel
                } else if eligible[j]
                    .iter()
                    .all(|&(p, _)| panel_available[p] & input.projects[j].available == 0)
                {
                    Unplaced::NobodyAvailable
                } else {
                    Unplaced::NoFreeSlot
                };
                result.unplaced.push((j, reason));
            }
        }
    }
    Ok(result)
}

/// The best feasible (panel, slot) for a project, by field match, then earliest slot
/// (compact days), then the applicant's preference.
fn best_spot(
    input: &PlanInput,
    state: &State,
    project: usize,
    eligible: &[(usize, usize)],
    panel_available: &[u128],
) -> Option<(usize, usize)> {
    let preferred = input.projects[project].preferred;
    let mut best: Option<((usize, i64, u8), usize, usize)> = None;
    for &(panel, matches) in eligible {
        let free = state.free(input, project, panel, panel_available[panel]);
        if free == 0 {
            continue;
        }
        // Earliest free slot keeps the panel's day compact; a preferred slot may win
        // over it when one is free.
        let earliest = free.trailing_zeros() as usize;
        let preferred_free = free & preferred;
        let (slot, liked) = if preferred_free != 0 {
            (preferred_free.trailing_zeros() as usize, 1u8)
        } else {
            (earliest, 0u8)
        };
        let score = (matches, -(slot as i64), liked);
        if best.is_none_or(|(s, _, _)| score > s) {
            best = Some((score, panel, slot));
        }
    }
    best.map(|(_, panel, slot)| (panel, slot))
}

/// Forms `count` panels of `size` experts from a pool, for days without fixed panels.
///
/// Each panel is built around the most common remaining field (so projects of that
/// field find a matching panel), preferring experts of organisations not yet on the
/// panel: a panel drawn from few organisations is more often blocked by conflicts of
/// interest. No expert sits on two panels. Returns fewer panels when the pool runs out.
pub fn form_panels(
    experts: &[ExpertSpec],
    pool: &[usize],
    size: usize,
    count: usize,
) -> Vec<PanelSpec> {
    let mut left: Vec<usize> = pool
        .iter()
        .copied()
        .filter(|&e| e < experts.len())
        .collect();
    left.sort();
    left.dedup();
    let mut panels = Vec::new();
    while panels.len() < count && size > 0 && left.len() >= size {
        let mut by_field: HashMap<&str, usize> = HashMap::new();
        for &e in &left {
            for f in &experts[e].fields {
                *by_field.entry(f.as_str()).or_default() += 1;
            }
        }
        let mut fields: Vec<(&str, usize)> = by_field.into_iter().collect();
        fields.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let field = fields.first().map(|(f, _)| (*f).to_owned());
        let mut members: Vec<usize> = Vec::with_capacity(size);
        let mut orgs: Vec<u32> = Vec::new();
        // Pass 1: field match and a new organisation; pass 2: new organisation; pass 3: anyone.
        for pass in 0..3 {
            for &e in &left {
                if members.len() == size {
                    break;
                }
                if members.contains(&e) {
                    continue;
                }
                let fits_field = field.as_ref().is_none_or(|f| experts[e].fields.contains(f));
                let new_org = !orgs.contains(&experts[e].organisation);
                let take = match pass {
                    0 => fits_field && new_org,
                    1 => new_org,
                    _ => true,
                };
                if take {
                    members.push(e);
                    orgs.push(experts[e].organisation);
                }
            }
        }
        left.retain(|e| !members.contains(e));
        members.sort();
        panels.push(PanelSpec { experts: members });
    }
    panels
}

/// A broken hard constraint, found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two projects in one panel slot.
    PanelDoubleBooked(usize, usize),
    /// A project placed twice.
    ProjectTwice(usize),
    /// An expert in two places at once.
    ExpertDoubleBooked(usize, usize),
    /// An applicant in two places at once.
    ApplicantDoubleBooked(u32, usize),
    /// An expert judging a project they conflict with.
    ConflictOfInterest(usize, usize),
    /// Someone unavailable at the slot.
    Unavailable(usize),
    /// A panel of the wrong size used.
    PanelSize(usize),
    /// A placement outside the day or naming unknown panels/projects.
    OutOfRange(usize),
}

/// Checks a plan against every hard constraint, independently of the planner.
pub fn check(input: &PlanInput, plan: &Plan) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut seen_project = vec![false; input.projects.len()];
    let mut panel_slot: HashMap<(usize, usize), usize> = HashMap::new();
    let mut expert_slot: HashMap<(usize, usize), usize> = HashMap::new();
    let mut applicant_slot: HashMap<(u32, usize), usize> = HashMap::new();
    for p in &plan.placements {
        if p.project >= input.projects.len()
            || p.panel >= input.panels.len()
            || p.slot >= input.slots
        {
            violations.push(Violation::OutOfRange(p.project));
            continue;
        }
        let project = &input.projects[p.project];
        let panel = &input.panels[p.panel];
        if std::mem::replace(&mut seen_project[p.project], true) {
            violations.push(Violation::ProjectTwice(p.project));
        }
        if panel_slot.insert((p.panel, p.slot), p.project).is_some() {
            violations.push(Violation::PanelDoubleBooked(p.panel, p.slot));
        }
        if !(input.panel_size.0..=input.panel_size.1).contains(&panel.experts.len()) {
            violations.push(Violation::PanelSize(p.panel));
        }
        if project.available >> p.slot & 1 == 0 {
            violations.push(Violation::Unavailable(p.project));
        }
        if applicant_slot
            .insert((project.applicant, p.slot), p.project)
            .is_some()
        {
            violations.push(Violation::ApplicantDoubleBooked(project.applicant, p.slot));
        }
        for &e in &panel.experts {
            let expert = &input.experts[e];
            if expert.organisation == project.organisation
                || project.declared_conflicts.contains(&e)
            {
                violations.push(Violation::ConflictOfInterest(e, p.project));
            }
            if expert.available >> p.slot & 1 == 0 {
                violations.push(Violation::Unavailable(p.project));
            }
            if expert_slot.insert((e, p.slot), p.project).is_some() {
                violations.push(Violation::ExpertDoubleBooked(e, p.slot));
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expert(org: u32, field: &str) -> ExpertSpec {
        ExpertSpec {
            organisation: org,
            fields: vec![field.into()],
            available: u128::MAX,
        }
    }

    fn project(applicant: u32, org: u32, field: &str) -> ProjectSpec {
        ProjectSpec {
            applicant,
            organisation: org,
            field: field.into(),
            declared_conflicts: vec![],
            available: u128::MAX,
            preferred: 0,
        }
    }

    fn two_panels() -> PlanInput {
        PlanInput {
            slots: 4,
            experts: (0..6)
                .map(|i| expert(100 + i, if i < 3 { "农业" } else { "林业" }))
                .collect(),
            panels: vec![
                PanelSpec {
                    experts: vec![0, 1, 2],
                },
                PanelSpec {
                    experts: vec![3, 4, 5],
                },
            ],
            projects: vec![],
            panel_size: (3, 5),
        }
    }

    #[test]
    fn everything_placeable_is_placed_compactly_and_by_field() {
        let mut input = two_panels();
        input.projects = (0..8)
            .map(|i| project(i, 1, if i % 2 == 0 { "农业" } else { "林业" }))
            .collect();
        let plan = plan(&input).unwrap();
        assert!(check(&input, &plan).is_empty());
        assert_eq!(plan.placements.len(), 8);
        for p in &plan.placements {
            let expected_panel = if p.project % 2 == 0 { 0 } else { 1 };
            assert_eq!(p.panel, expected_panel, "field match decides the panel");
        }
    }

    #[test]
    fn conflicts_of_interest_steer_projects_to_other_panels_or_out() {
        let mut input = two_panels();
        // Expert 0 belongs to the applicant's organisation: panel 0 is out.
        input.experts[0].organisation = 7;
        input.projects = vec![project(1, 7, "农业")];
        let plan1 = plan(&input).unwrap();
        assert_eq!(plan1.placements[0].panel, 1);
        // A declared conflict on panel 1 too: nowhere to go.
        input.projects[0].declared_conflicts = vec![4];
        let plan2 = plan(&input).unwrap();
        assert_eq!(plan2.unplaced, vec![(0, Unplaced::NoEligiblePanel)]);
    }

    #[test]
    fn an_expert_on_two_panels_is_never_in_both_at_once() {
        let mut input = two_panels();
        input.panels[1].experts = vec![0, 4, 5];
        input.slots = 2;
        input.projects = (0..4).map(|i| project(i, 1, "农业")).collect();
        let plan = plan(&input).unwrap();
        assert!(check(&input, &plan).is_empty(), "{plan:?}");
        assert_eq!(
            plan.placements.len(),
            2,
            "expert 0 limits the day to two defenses"
        );
        assert!(
            plan.unplaced
                .iter()
                .all(|(_, r)| *r == Unplaced::NoFreeSlot)
        );
    }

    #[test]
    fn availability_and_preferences_are_respected() {
        let mut input = two_panels();
        input.experts[3].available = 0; // panel 1 cannot sit at all
        input.projects = vec![project(1, 1, "林业"), project(2, 1, "农业")];
        input.projects[0].available = 0b1000;
        input.projects[1].preferred = 0b0100;
        let plan = plan(&input).unwrap();
        assert!(check(&input, &plan).is_empty());
        let slot_of = |j| {
            plan.placements
                .iter()
                .find(|p| p.project == j)
                .map(|p| p.slot)
        };
        assert_eq!(slot_of(0), Some(3));
        assert_eq!(slot_of(1), Some(2), "preferred slot taken when free");
        input.projects[0].available = 0;
        let plan = super::plan(&input).unwrap();
        assert!(plan.unplaced.contains(&(0, Unplaced::NobodyAvailable)));
    }

    #[test]
    fn panels_of_the_wrong_size_are_never_used() {
        let mut input = two_panels();
        input.panel_size = (4, 9);
        input.projects = vec![project(1, 1, "农业")];
        let plan = plan(&input).unwrap();
        assert_eq!(plan.unplaced, vec![(0, Unplaced::NoEligiblePanel)]);
    }

    #[test]
    fn repair_moves_a_placed_defense_to_fit_a_constrained_one() {
        // One panel, two slots. Project A can go anywhere, project B only in slot 0.
        let mut input = two_panels();
        input.panels.truncate(1);
        input.slots = 2;
        input.projects = vec![project(1, 1, "农业"), project(2, 1, "农业")];
        input.projects[1].available = 0b01;
        let plan = plan(&input).unwrap();
        assert!(check(&input, &plan).is_empty());
        assert_eq!(plan.placements.len(), 2);
    }

    #[test]
    fn the_checker_catches_every_kind_of_violation() {
        let mut input = two_panels();
        input.projects = vec![project(1, 100, "农业"), project(1, 1, "农业")];
        let bad = Plan {
            placements: vec![
                Placement {
                    project: 0,
                    panel: 0,
                    slot: 0,
                },
                Placement {
                    project: 1,
                    panel: 0,
                    slot: 0,
                },
                Placement {
                    project: 1,
                    panel: 1,
                    slot: 9,
                },
            ],
            unplaced: vec![],
        };
        let v = check(&input, &bad);
        assert!(v.contains(&Violation::PanelDoubleBooked(0, 0)));
        assert!(v.contains(&Violation::ConflictOfInterest(0, 0)));
        assert!(v.contains(&Violation::ApplicantDoubleBooked(1, 0)));
        assert!(v.contains(&Violation::ExpertDoubleBooked(0, 0)));
        assert!(v.contains(&Violation::OutOfRange(1)));
    }

    #[test]
    fn panels_formed_from_a_pool_are_disjoint_field_grouped_and_diverse() {
        let experts: Vec<ExpertSpec> = (0..10)
            .map(|i| expert(i % 5, if i < 6 { "农业" } else { "林业" }))
            .collect();
        let pool: Vec<usize> = (0..10).collect();
        let panels = form_panels(&experts, &pool, 3, 5);
        assert_eq!(panels.len(), 3, "10 experts make three panels of 3");
        let mut seen = std::collections::HashSet::new();
        for p in &panels {
            assert_eq!(p.experts.len(), 3);
            assert!(
                p.experts.iter().all(|e| seen.insert(*e)),
                "an expert on two panels"
            );
            let orgs: std::collections::HashSet<u32> =
                p.experts.iter().map(|&e| experts[e].organisation).collect();
            assert_eq!(orgs.len(), 3, "organisations are spread: {p:?}");
        }
        assert!(
            panels[0]
                .experts
                .iter()
                .all(|&e| experts[e].fields[0] == "农业")
        );
        assert!(form_panels(&experts, &pool, 0, 3).is_empty());
    }

    #[test]
    fn oversized_days_and_unknown_experts_are_refused() {
        let mut input = two_panels();
        input.slots = 129;
        assert_eq!(plan(&input), Err(PlanError::TooManySlots(129)));
        input.slots = 4;
        input.panels[0].experts.push(99);
        assert_eq!(plan(&input), Err(PlanError::UnknownExpert(0)));
    }
}
