//! Property tests of the planner: whatever the instance, the plan breaks no hard
//! constraint (checked by the independent `planner::check`), every project is either
//! placed or listed with a reason, and nothing is invented.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use scheduler::planner::{self, ExpertSpec, PanelSpec, PlanInput, ProjectSpec};

const FIELDS: [&str; 3] = ["农业", "林业", "水产"];

fn instance() -> impl Strategy<Value = PlanInput> {
    (1usize..=12, 3usize..=15, 1usize..=5, 0usize..=25).prop_flat_map(
        |(slots, experts, panels, projects)| {
            let day = if slots >= 128 {
                u128::MAX
            } else {
                (1u128 << slots) - 1
            };
            let expert = (0u32..4, 0usize..3, any::<u128>(), any::<bool>()).prop_map(
                move |(org, field, avail, always)| ExpertSpec {
                    organisation: org,
                    fields: vec![FIELDS[field].to_owned()],
                    available: if always { day } else { avail & day },
                },
            );
            let panel = proptest::collection::vec(0..experts, 2..=5).prop_map(|mut e| {
                e.sort();
                e.dedup();
                PanelSpec { experts: e }
            });
            let project = (
                0u32..8,
                0u32..4,
                0usize..3,
                proptest::collection::vec(0..experts, 0..3),
                any::<u128>(),
                any::<u128>(),
                any::<bool>(),
            )
                .prop_map(
                    move |(applicant, org, field, conflicts, avail, pref, always)| {
                        let available = if always { day } else { avail & day };
                        ProjectSpec {
                            applicant,
                            organisation: org,
                            field: FIELDS[field].to_owned(),
                            declared_conflicts: conflicts,
                            available,
                            preferred: pref & available,
                        }
                    },
                );
            (
                proptest::collection::vec(expert, experts),
                proptest::collection::vec(panel, panels),
                proptest::collection::vec(project, projects),
                2usize..=4,
            )
                .prop_map(move |(experts, panels, projects, min)| PlanInput {
                    slots,
                    experts,
                    panels,
                    projects,
                    panel_size: (min, 5),
                })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_generated_instance_yields_a_violating_schedule(input in instance()) {
        let plan = planner::plan(&input).unwrap();
        let violations = planner::check(&input, &plan);
        prop_assert!(violations.is_empty(), "violations: {violations:?}");
        // Every project is accounted for exactly once.
        let mut accounted: Vec<usize> = plan.placements.iter().map(|p| p.project)
            .chain(plan.unplaced.iter().map(|(j, _)| *j)).collect();
        accounted.sort();
        prop_assert_eq!(accounted, (0..input.projects.len()).collect::<Vec<_>>());
    }

    #[test]
    fn a_lone_project_is_placed_whenever_any_spot_is_feasible(input in instance()) {
        // With a single project nothing competes, so "unplaced" must mean "impossible".
        for j in 0..input.projects.len().min(3) {
            let mut one = input.clone();
            one.projects = vec![input.projects[j].clone()];
            let plan = planner::plan(&one).unwrap();
            let feasible = one.panels.iter().any(|panel| {
                let project = &one.projects[0];
                (one.panel_size.0..=one.panel_size.1).contains(&panel.experts.len())
                    && panel.experts.iter().all(|&e| one.experts[e].organisation != project.organisation
                        && !project.declared_conflicts.contains(&e))
                    && panel.experts.iter().fold(project.available, |m, &e| m & one.experts[e].available) != 0
            });
            prop_assert_eq!(plan.placements.len() == 1, feasible, "plan {:?}", plan);
        }
    }
}
