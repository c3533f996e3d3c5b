//! Planner benchmark (a report, not a test). Run:
//!   cargo run --release -p scheduler --example planner_bench
//! Two seeded instances: 200 defenses with 100 experts (14 panels of 7) on an 80-slot
//! day, and 2,000 defenses with 700 experts (100 panels of 7) on a 40-slot day. 10% of
//! experts have a random unavailable block, applicants come from 60 organisations,
//! experts from 80 (some share, so conflicts of interest occur), and 5% of projects
//! declare a conflict with a random expert. Runs alternate between the instances; the
//! median of 7 runs each is printed with placed/total and the reasons for the rest.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scheduler::planner::{self, ExpertSpec, PanelSpec, PlanInput, ProjectSpec, Unplaced};

const FIELDS: [&str; 6] = ["粮食", "果蔬", "畜牧", "水产", "林业", "农机"];

fn instance(
    seed: u64,
    defenses: usize,
    experts: usize,
    panel_count: usize,
    slots: usize,
) -> PlanInput {
    let mut rng = StdRng::seed_from_u64(seed);
    let day = if slots >= 128 {
        u128::MAX
    } else {
        (1u128 << slots) - 1
    };
    let experts: Vec<ExpertSpec> = (0..experts)
        .map(|_| {
            let available = if rng.random_bool(0.1) {
                let from = rng.random_range(0..slots);
                let len = rng.random_range(1..=slots / 4 + 1);
                let block = (((1u128 << len.min(127)) - 1) << from) & day;
                day & !block
            } else {
                day
            };
            ExpertSpec {
                organisation: rng.random_range(0..80),
                fields: vec![FIELDS[rng.random_range(0..FIELDS.len())].to_owned()],
                available,
            }
        })
        .collect();
    let panels: Vec<PanelSpec> = (0..panel_count)
        .map(|p| PanelSpec {
            experts: (0..7)
                .map(|k| p * 7 + k)
                .filter(|&e| e < experts.len())
                .collect(),
        })
        .collect();
    let projects = (0..defenses)
        .map(|i| ProjectSpec {
            applicant: i as u32,
            organisation: rng.random_range(0..60),
            field: FIELDS[rng.random_range(0..FIELDS.len())].to_owned(),
            declared_conflicts: if rng.random_bool(0.05) {
                vec![rng.random_range(0..experts.len())]
            } else {
                vec![]
            },
            available: day,
            preferred: 0,
        })
        .collect();
    PlanInput {
        slots,
        experts,
        panels,
        projects,
        panel_size: (3, 9),
    }
}

fn main() {
    let cases = [
        (
            "200 defenses × 100 experts × 80 slots",
            instance(7, 200, 100, 14, 80),
            100.0,
        ),
        (
            "2,000 defenses × 700 experts × 40 slots",
            instance(11, 2000, 700, 100, 40),
            2000.0,
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut results = Vec::new();
    for round in 0..7 {
        // Alternate the order each round so neither instance always runs warm.
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for i in order {
            let started = Instant::now();
            let plan = planner::plan(&cases[i].1).expect("valid instance");
            times[i].push(started.elapsed().as_secs_f64() * 1000.0);
            if round == 0 {
                results.push((i, plan));
            }
        }
    }
    results.sort_by_key(|(i, _)| *i);
    println!(
        "| instance | placed / total | unplaceable (conflict of interest everywhere) | other unplaced | median ms | goal ms | violations |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, plan) in results {
        let (name, input, goal) = &cases[i];
        let mut t = times[i].clone();
        t.sort_by(|a, b| a.total_cmp(b));
        let no_panel = plan
            .unplaced
            .iter()
            .filter(|(_, r)| *r == Unplaced::NoEligiblePanel)
            .count();
        let violations = planner::check(input, &plan).len();
        println!(
            "| {name} | {} / {} | {no_panel} | {} | {:.2} | {goal:.0} | {violations} |",
            plan.placements.len(),
            input.projects.len(),
            plan.unplaced.len() - no_panel,
            t[t.len() / 2],
        );
    }
}
