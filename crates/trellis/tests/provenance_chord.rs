//! The seed's demo (docs/provenance.md, "Failed lookups on Chord"): Chord
//! under churn with provenance, and examples/provenance/oscillation.olg
//! over the run's history. The query finds exactly the lookups the
//! simulator counted as incomplete, and among them those whose path went
//! through a node whose best successor had oscillated.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use support::{example, run_trellis, simulate_traced, text};

fn simulate(dir: &Path) {
    simulate_traced("chord.olg", "provenance/chord-churn.toml", dir);
}

/// The query's rows of `relation`, by their fields.
fn rows(lines: &[Value], relation: &str) -> Vec<Vec<Value>> {
    lines
        .iter()
        .filter(|l| l["relation"] == relation)
        .map(|l| l["tuple"].as_array().expect("fields").clone())
        .collect()
}

#[test]
fn the_query_finds_the_failed_lookups_and_the_oscillations_in_their_path() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path());
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("summary.json")).expect("a summary"),
    )
    .expect("JSON");
    let lookup = &summary["measures"][0];
    assert_eq!(lookup["name"], "lookup");
    let incomplete: BTreeSet<i64> = lookup["incomplete_keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_i64().expect("request IDs are integers"))
        .collect();
    assert_eq!(
        incomplete.len() as u64,
        lookup["incomplete"].as_u64().unwrap()
    );
    assert!(
        incomplete.len() > 10,
        "churn fails some lookups: {incomplete:?}"
    );

    let query = example("provenance/oscillation.olg");
    let out = run_trellis(&[
        "why",
        dir.path().to_str().unwrap(),
        "--program",
        &query,
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let failed: BTreeSet<i64> = rows(&lines, "failed")
        .iter()
        .map(|f| f[1].as_i64().expect("an ID"))
        .collect();
    assert_eq!(
        failed, incomplete,
        "the query's failed lookups are the simulator's"
    );

    let oscillating = rows(&lines, "failedOscillating");
    assert!(
        !oscillating.is_empty(),
        "some failed lookup crossed an oscillation"
    );
    for row in &oscillating {
        assert!(failed.contains(&row[1].as_i64().unwrap()), "{row:?}");
    }
    // Every oscillation is one the history shows: B, then another, then B.
    assert!(!rows(&lines, "oscillated").is_empty());
}
