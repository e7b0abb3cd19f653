//! Replays every committed seed (`corpus/<target>/`) and crash input (`artifacts/<target>/`)
//! of every fuzz target on stable Rust, so CI covers what fuzzing found without nightly.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::{Path, PathBuf},
};

use dice_mcp_fuzz::TARGETS;

fn fuzz_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files in `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (name, _) in TARGETS {
        let seeds = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(!seeds.is_empty(), "fuzz/corpus/{name}/ holds no seeds");
    }
}

#[test]
fn every_fuzz_binary_is_a_replayed_target() {
    let mut binaries: Vec<String> = inputs(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    binaries.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    replayed.sort();
    assert_eq!(binaries, replayed);
}

#[test]
fn every_seed_and_crash_input_replays_cleanly() {
    for (name, target) in TARGETS {
        for kind in ["corpus", "artifacts"] {
            for path in inputs(&fuzz_dir().join(kind).join(name)) {
                let data = fs::read(&path).unwrap();
                // Printed first, so a failure names its input (the harness shows it).
                eprintln!("replaying {}", path.display());
                target(&data);
            }
        }
    }
}
