//! The simulator benchmarks' Chord scenario, shared by `scale` and
//! `provenance`: N nodes joining one after another over the first half of
//! the run (through the first node), uniform 20-80 ms latency, seed 1, and
//! from half-time 10 lookups per second in all, measured from injection to
//! the answer.

use trellis_sim::Scenario;

pub fn scenario(nodes: usize, seconds: f64) -> Scenario {
    let toml = format!(
        r#"
[simulation]
nodes = {nodes}
duration = {seconds}
seed = 1
start_interval = {interval}
[network]
latency = {{ kind = "uniform", min_ms = 20, max_ms = 80 }}
[[workload]]
tuple = 'lookup(@ADDR, RANDID, ADDR, SEQ)'
rate = 10
start = {start}
[[measure]]
name = "lookup"
start = {{ relation = "lookup", key = 4, on = "inject" }}
end = {{ relation = "lookupResults", key = 5, on = "recv" }}
hops = {{ relation = "lookup", key = 4, on = "send" }}
"#,
        interval = (seconds / 2.0) / nodes as f64,
        start = seconds / 2.0,
    );
    toml::from_str(&toml).expect("a valid scenario")
}
