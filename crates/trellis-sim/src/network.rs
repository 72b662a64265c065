//! The modelled network (Lampson's channels made configurable): per-frame
//! latency from a distribution or an RTT matrix, loss, duplication, per-link
//! overrides, and partitions. Reordering is a consequence of latency.

use std::collections::BTreeMap;
use std::path::Path;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal};
use trellis_engine::Time;

use crate::scenario::{self, Latency};

/// The least one-way latency: a frame never arrives in the instant it left.
pub const MIN_LATENCY: Time = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("cannot read latency matrix {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("latency matrix {path}, line {line}: {problem}")]
    Matrix {
        path: String,
        line: usize,
        problem: String,
    },
    #[error("invalid latency distribution: {0}")]
    Distribution(String),
}

#[derive(Debug, Clone)]
enum Dist {
    Constant(f64),
    Uniform(f64, f64),
    Normal(Normal<f64>),
    Exponential(Exp<f64>),
    /// One-way latencies in ms, from an RTT matrix.
    Matrix(std::sync::Arc<Vec<Vec<f64>>>),
}

impl Dist {
    fn new(l: &Latency) -> Result<Dist, NetworkError> {
        let bad = |m: String| NetworkError::Distribution(m);
        // Every parameter is finite and non-negative (a standard deviation
        // included), whoever built the latency.
        let ok = |v: &f64| v.is_finite() && *v >= 0.0;
        Ok(match l {
            Latency::Normal { mean_ms, stddev_ms } if !ok(mean_ms) || !ok(stddev_ms) => {
                return Err(bad(format!(
                    "normal latency needs finite mean_ms and stddev_ms >= 0, \
                     not mean_ms = {mean_ms}, stddev_ms = {stddev_ms}"
                )));
            }
            Latency::Constant { ms } if ok(ms) => Dist::Constant(*ms),
            Latency::Uniform { min_ms, max_ms } if ok(min_ms) && ok(max_ms) && min_ms <= max_ms => {
                Dist::Uniform(*min_ms, *max_ms)
            }
            Latency::Normal { mean_ms, stddev_ms } => Dist::Normal(
                Normal::new(*mean_ms, *stddev_ms).map_err(|e| bad(format!("normal: {e}")))?,
            ),
            Latency::Exponential { mean_ms } if ok(mean_ms) && *mean_ms > 0.0 => Dist::Exponential(
                Exp::new(1.0 / mean_ms).map_err(|e| bad(format!("exponential: {e}")))?,
            ),
            Latency::Matrix { file } => Dist::Matrix(std::sync::Arc::new(load_matrix(file)?)),
            other => return Err(bad(format!("{other:?} has out-of-range parameters"))),
        })
    }

    fn sample_ms(&self, from: usize, to: usize, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Dist::Constant(ms) => *ms,
            Dist::Uniform(lo, hi) => {
                if lo == hi {
                    *lo
                } else {
                    rng.random_range(*lo..*hi)
                }
            }
            Dist::Normal(d) => d.sample(rng),
            Dist::Exponential(d) => d.sample(rng),
            Dist::Matrix(m) => {
                let row = &m[from % m.len()];
                row[to % row.len()] / 2.0
            }
        }
    }
}

fn load_matrix(path: &Path) -> Result<Vec<Vec<f64>>, NetworkError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| NetworkError::Read {
        path: name.clone(),
        source,
    })?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let row = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<f64>().ok().filter(|v| *v >= 0.0 && v.is_finite()))
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| NetworkError::Matrix {
                path: name.clone(),
                line: i + 1,
                problem: "expected non-negative numbers (RTTs in ms)".into(),
            })?;
        rows.push(row);
    }
    let n = rows.len();
    if n == 0 || rows.iter().any(|r| r.len() != n) {
        return Err(NetworkError::Matrix {
            path: name,
            line: 0,
            problem: format!("expected a square matrix; found {n} rows of varying length"),
        });
    }
    Ok(rows)
}

#[derive(Debug, Clone)]
struct LinkModel {
    latency: Dist,
    loss: f64,
    duplicate: f64,
}

#[derive(Debug, Clone)]
struct Partition {
    /// Group number per node (`None`: not in any group, never cut).
    group: Vec<Option<usize>>,
    oneway: bool,
}

/// What the network does with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Arrives after these delays (two when duplicated).
    Deliver(Time, Option<Time>),
    Lost,
    Cut,
}

#[derive(Debug, Clone)]
pub struct NetworkModel {
    default: LinkModel,
    links: BTreeMap<(usize, usize), LinkModel>,
    partitions: BTreeMap<String, Partition>,
    nodes: usize,
}

impl NetworkModel {
    pub fn new(n: &scenario::Network, nodes: usize) -> Result<NetworkModel, NetworkError> {
        let default = LinkModel {
            latency: Dist::new(&n.latency)?,
            loss: n.loss,
            duplicate: n.duplicate,
        };
        let mut links = BTreeMap::new();
        for l in &n.links {
            links.insert(
                (l.from, l.to),
                LinkModel {
                    latency: match &l.latency {
                        Some(lat) => Dist::new(lat)?,
                        None => default.latency.clone(),
                    },
                    loss: l.loss.unwrap_or(default.loss),
                    duplicate: l.duplicate.unwrap_or(default.duplicate),
                },
            );
        }
        Ok(NetworkModel {
            default,
            links,
            partitions: BTreeMap::new(),
            nodes,
        })
    }

    pub fn partition(&mut self, name: &str, groups: &[Vec<usize>], oneway: bool) {
        let mut group = vec![None; self.nodes];
        for (g, members) in groups.iter().enumerate() {
            for &m in members {
                group[m] = Some(g);
            }
        }
        self.partitions
            .insert(name.to_string(), Partition { group, oneway });
    }

    pub fn heal(&mut self, name: &str) -> bool {
        self.partitions.remove(name).is_some()
    }

    fn cut(&self, from: usize, to: usize) -> bool {
        self.partitions
            .values()
            .any(|p| match (p.group[from], p.group[to]) {
                (Some(a), Some(b)) if a != b => !p.oneway || a == 0,
                _ => false,
            })
    }

    /// Decide a frame's fate, drawing from the sender's random stream.
    pub fn fate(&self, from: usize, to: usize, rng: &mut ChaCha8Rng) -> Fate {
        if self.cut(from, to) {
            return Fate::Cut;
        }
        let link = self.links.get(&(from, to)).unwrap_or(&self.default);
        // Always draw the same number of values, so one frame's fate does
        // not shift the stream for the next.
        let lost = rng.random::<f64>() < link.loss;
        let dup = rng.random::<f64>() < link.duplicate;
        let delay = |rng: &mut ChaCha8Rng| {
            let ms = link.latency.sample_ms(from, to, rng);
            ((ms.max(0.0) * 1e6) as Time).max(MIN_LATENCY)
        };
        let first = delay(rng);
        let second = delay(rng);
        if lost {
            Fate::Lost
        } else {
            Fate::Deliver(first, dup.then_some(second))
        }
    }

    /// A frame on a reliable channel (`channel(name, tcp)`): never lost or
    /// duplicated, only cut by a partition; its delay before FIFO order is
    /// imposed by the caller.
    pub fn reliable_fate(&self, from: usize, to: usize, rng: &mut ChaCha8Rng) -> Fate {
        if self.cut(from, to) {
            return Fate::Cut;
        }
        let link = self.links.get(&(from, to)).unwrap_or(&self.default);
        let ms = link.latency.sample_ms(from, to, rng);
        Fate::Deliver(((ms.max(0.0) * 1e6) as Time).max(MIN_LATENCY), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The network model refuses non-finite or negative latency parameters
    /// itself, whoever built the scenario (not only `Scenario::validate`).
    #[test]
    fn latency_parameters_are_finite_and_non_negative() {
        let bad = [
            Latency::Constant { ms: f64::INFINITY },
            Latency::Constant { ms: f64::NAN },
            Latency::Uniform {
                min_ms: 1.0,
                max_ms: f64::INFINITY,
            },
            Latency::Normal {
                mean_ms: f64::NAN,
                stddev_ms: 1.0,
            },
            Latency::Normal {
                mean_ms: 50.0,
                stddev_ms: -1.0,
            },
            Latency::Exponential {
                mean_ms: f64::INFINITY,
            },
        ];
        for l in bad {
            assert!(Dist::new(&l).is_err(), "{l:?} accepted");
        }
        assert!(
            Dist::new(&Latency::Normal {
                mean_ms: 50.0,
                stddev_ms: 0.0
            })
            .is_ok()
        );
    }
}
