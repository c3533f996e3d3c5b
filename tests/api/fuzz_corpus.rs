//! Every input stored under `fuzz/corpus/<target>/` (seeds, what AFL++ kept as new
//! coverage, and every crash it ever found, minimised) replayed through the same
//! function the fuzzer runs. A crash found once stays a test forever.

use std::path::PathBuf;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("signaling", viva::fuzzing::signaling),
    ("token", viva::fuzzing::token),
    ("whip_offer", viva::fuzzing::whip_offer),
    ("stun", media::fuzzing::stun),
    ("rtp", media::fuzzing::rtp),
    ("rtcp", media::fuzzing::rtcp),
    ("sdp", media::fuzzing::sdp),
    ("tcp_frames", media::fuzzing::tcp_frames),
    ("csv_import", scheduler::fuzzing::csv_import),
    ("ics", scheduler::fuzzing::ics),
];

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = crate::helpers::repo_root().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_stored_fuzzing_input_runs_clean_through_its_target() {
    for (target, run) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target} has no inputs");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", file.display());
        }
    }
}

#[test]
fn every_fuzz_target_has_a_binary_and_a_corpus() {
    let root = crate::helpers::repo_root().join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for (target, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml lacks {target}"
        );
        assert!(root.join("corpus").join(target).is_dir());
    }
}
