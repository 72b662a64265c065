//! The fuzz tests' proptest configuration, shared by path (`#[path]`) by
//! the crates that fuzz: `cases` cases from a fixed seed, so a plain `cargo
//! test` is deterministic, unless `PROPTEST_CASES` and `PROPTEST_RNG_SEED`
//! ask otherwise (`scripts/fuzz` sets both for a long run). No failure file
//! is written: a failure is reported with its shrunk input instead.

use proptest::test_runner::{Config, RngSeed};

pub fn fuzz_config(cases: u32) -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(1);
    }
    config
}
