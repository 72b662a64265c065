//! Reading DIR/provenance.jsonl (written by `crate::provenance`) into
//! memory, indexed for the walk: a node's derivations of a tuple, and a
//! node's rule derivations by their ID.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as J;
use trellis_value::{Id, Value};

use trellis_engine::provenance::tuple_id;

use crate::provenance::LOG_FILE;

/// A node, by its position in [`Log::nodes`].
pub type NodeIx = u32;
/// A relation's or rule's name, by its position in [`Log::names`] (a log
/// has millions of lines and a few dozen names).
pub type NameIx = u32;

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub node: NodeIx,
    /// Seconds.
    pub time: f64,
    pub tick: u64,
    pub relation: NameIx,
    pub tuple: Vec<Value>,
    pub id: u64,
    pub cause: Cause,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    Rule {
        rule: NameIx,
        exec: u64,
        inputs: Vec<u64>,
        sent: bool,
    },
    Fact,
    Injected,
    Timer,
    Received {
        from: Option<NodeIx>,
        exec: Option<u64>,
    },
}

/// A [`Cause`] with names rather than indexes, for [`Log::add`].
#[derive(Debug, Clone, PartialEq)]
pub enum NamedCause<'a> {
    Rule {
        rule: &'a str,
        exec: u64,
        inputs: Vec<u64>,
        sent: bool,
    },
    Fact,
    Injected,
    Timer,
    Received {
        from: Option<&'a str>,
        exec: Option<u64>,
    },
}

/// The whole log, in the order things happened.
#[derive(Debug, Default)]
pub struct Log {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    pub nodes: Vec<String>,
    node_ix: HashMap<String, NodeIx>,
    pub names: Vec<String>,
    name_ix: HashMap<String, NameIx>,
    /// (node, tuple) -> entries where the tuple came to be on the node
    /// (sends away excluded: the tuple is not on the sender), ascending.
    by_tuple: HashMap<(NodeIx, u64), Vec<u32>>,
    /// (node, derivation) -> entries of that rule derivation, ascending.
    by_exec: HashMap<(NodeIx, u64), Vec<u32>>,
    /// tuple -> its first entry, on any node.
    first: HashMap<u64, u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error(
        "{0} does not exist: simulate with `trellis sim PROGRAM --provenance --out DIR` (or a \
         `trace(rel).` statement in the program) to write it"
    )]
    NoLog(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a derivation: {source}")]
    Syntax {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{path}:{line}: {problem}")]
    Bad {
        path: PathBuf,
        line: usize,
        problem: LineError,
    },
}

/// What is wrong with a line that is JSON of the right shape.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("`{0}` is not an ID (16 hex digits)")]
    NotAnId(String),
    #[error("{0} is out of range for a 64-bit integer")]
    OutOfRange(serde_json::Number),
    #[error("an object where a value was expected")]
    Object,
}

/// A line as written.
#[derive(Deserialize)]
struct Line {
    node: String,
    time: f64,
    tick: u64,
    relation: String,
    tuple: Vec<J>,
    id: String,
    cause: LineCause,
}

#[derive(Deserialize)]
#[serde(tag = "how", rename_all = "lowercase")]
enum LineCause {
    Rule {
        rule: String,
        exec: String,
        inputs: Vec<String>,
        sent: bool,
    },
    Fact,
    Inject,
    Timer,
    Recv {
        from: Option<String>,
        exec: Option<String>,
    },
}

/// Ambiguous fields a tuple may have for every reading to be tried: each
/// doubles the readings.
const MAX_AMBIGUOUS: usize = 12;

impl Log {
    /// Load DIR/provenance.jsonl.
    pub fn load(dir: &Path) -> Result<Log, LoadError> {
        if !dir.is_dir() {
            return Err(LoadError::NotADirectory(dir.to_path_buf()));
        }
        let path = dir.join(LOG_FILE);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LoadError::NoLog(path));
            }
            Err(source) => return Err(LoadError::Read { path, source }),
        };
        let mut log = Log {
            path: path.clone(),
            ..Log::default()
        };
        for (i, text) in std::io::BufReader::new(file).lines().enumerate() {
            let text = text.map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })?;
            let line = serde_json::from_str::<Line>(&text).map_err(|source| LoadError::Syntax {
                path: path.clone(),
                line: i + 1,
                source,
            })?;
            let entry = log.entry(line).map_err(|problem| LoadError::Bad {
                path: path.clone(),
                line: i + 1,
                problem,
            })?;
            log.push(entry);
        }
        Ok(log)
    }

    /// An empty log, to be filled with [`Log::add`] (the answers of a live
    /// node, labelled `label`).
    pub fn answers(label: PathBuf) -> Log {
        Log {
            path: label,
            ..Log::default()
        }
    }

    /// Add a step. A walk reads a step's causes only from steps added
    /// before it: add a rule's inputs, and a received tuple's sending
    /// derivation, first.
    pub fn add(
        &mut self,
        node: &str,
        time: f64,
        relation: &str,
        tuple: Vec<Value>,
        id: u64,
        cause: NamedCause<'_>,
    ) {
        let cause = match cause {
            NamedCause::Rule {
                rule,
                exec,
                inputs,
                sent,
            } => Cause::Rule {
                rule: self.name(rule.to_string()),
                exec,
                inputs,
                sent,
            },
            NamedCause::Fact => Cause::Fact,
            NamedCause::Injected => Cause::Injected,
            NamedCause::Timer => Cause::Timer,
            NamedCause::Received { from, exec } => Cause::Received {
                from: from.map(|f| self.node(f.to_string())),
                exec,
            },
        };
        let entry = Entry {
            node: self.node(node.to_string()),
            time,
            tick: 0,
            relation: self.name(relation.to_string()),
            tuple,
            id,
            cause,
        };
        self.push(entry);
    }

    fn node(&mut self, name: String) -> NodeIx {
        intern(&mut self.nodes, &mut self.node_ix, name)
    }

    fn name(&mut self, name: String) -> NameIx {
        intern(&mut self.names, &mut self.name_ix, name)
    }

    /// A relation's or rule's name.
    pub fn name_of(&self, ix: NameIx) -> &str {
        &self.names[ix as usize]
    }

    fn entry(&mut self, line: Line) -> Result<Entry, LineError> {
        let id = parse_hex(&line.id)?;
        let cause = match line.cause {
            LineCause::Rule {
                rule,
                exec,
                inputs,
                sent,
            } => Cause::Rule {
                rule: self.name(rule),
                exec: parse_hex(&exec)?,
                inputs: inputs
                    .iter()
                    .map(|i| parse_hex(i))
                    .collect::<Result<_, _>>()?,
                sent,
            },
            LineCause::Fact => Cause::Fact,
            LineCause::Inject => Cause::Injected,
            LineCause::Timer => Cause::Timer,
            LineCause::Recv { from, exec } => Cause::Received {
                from: from.map(|f| self.node(f)),
                exec: exec.as_deref().map(parse_hex).transpose()?,
            },
        };
        let tuple = decode_tuple(&line.relation, &line.tuple, id)?;
        Ok(Entry {
            node: self.node(line.node),
            time: line.time,
            tick: line.tick,
            relation: self.name(line.relation),
            tuple,
            id,
            cause,
        })
    }

    fn push(&mut self, entry: Entry) {
        let at = self.entries.len() as u32;
        match &entry.cause {
            Cause::Rule {
                exec, sent: true, ..
            } => self
                .by_exec
                .entry((entry.node, *exec))
                .or_default()
                .push(at),
            Cause::Rule { exec, .. } => {
                self.by_exec
                    .entry((entry.node, *exec))
                    .or_default()
                    .push(at);
                self.by_tuple
                    .entry((entry.node, entry.id))
                    .or_default()
                    .push(at);
            }
            _ => self
                .by_tuple
                .entry((entry.node, entry.id))
                .or_default()
                .push(at),
        }
        self.first.entry(entry.id).or_insert(at);
        self.entries.push(entry);
    }

    /// The latest entry before `before` where tuple `id` came to be on
    /// `node`.
    pub fn tuple_before(&self, node: NodeIx, id: u64, before: usize) -> Option<usize> {
        latest_before(self.by_tuple.get(&(node, id))?, before)
    }

    /// The latest entry before `before` of rule derivation `exec` on
    /// `node`.
    pub fn exec_before(&self, node: NodeIx, exec: u64, before: usize) -> Option<usize> {
        latest_before(self.by_exec.get(&(node, exec))?, before)
    }

    /// Any entry of tuple `id`, on any node: what it was, when the walk
    /// finds no record where it looked.
    pub fn any_of(&self, id: u64) -> Option<usize> {
        self.first.get(&id).map(|&at| at as usize)
    }
}

fn intern(names: &mut Vec<String>, index: &mut HashMap<String, u32>, name: String) -> u32 {
    if let Some(&ix) = index.get(&name) {
        return ix;
    }
    let ix = names.len() as u32;
    names.push(name.clone());
    index.insert(name, ix);
    ix
}

fn latest_before(entries: &[u32], before: usize) -> Option<usize> {
    let n = entries.partition_point(|&e| (e as usize) < before);
    n.checked_sub(1).map(|i| entries[i] as usize)
}

fn parse_hex(text: &str) -> Result<u64, LineError> {
    let not_an_id = || LineError::NotAnId(text.to_string());
    if text.len() != 16 {
        return Err(not_an_id());
    }
    u64::from_str_radix(text, 16).map_err(|_| not_an_id())
}

/// The values of a tuple as `--json` prints them. JSON has no IDs or
/// non-finite numbers, so a string such as `"0x1fI"` or `"inf"` could be
/// either; the reading whose content hash is the line's `id` is the one
/// the engine derived. (When none is, say a NaN whose bits JSON lost, the
/// likely reading stands: the walk goes by IDs, not values.)
fn decode_tuple(relation: &str, fields: &[J], id: u64) -> Result<Vec<Value>, LineError> {
    let mut ambiguous = 0;
    for f in fields {
        count_ambiguous(f, &mut ambiguous);
    }
    let read = |readings: u32| {
        let mut bit = 0;
        fields
            .iter()
            .map(|f| decode(f, readings, &mut bit))
            .collect::<Result<Vec<_>, _>>()
    };
    let likely = read(0)?;
    if ambiguous > MAX_AMBIGUOUS || tuple_id(relation, &likely) == id {
        return Ok(likely);
    }
    for readings in 1u32..1 << ambiguous {
        let tuple = read(readings)?;
        if tuple_id(relation, &tuple) == id {
            return Ok(tuple);
        }
    }
    Ok(likely)
}

/// The other reading of a string, when it has one.
fn other_reading(s: &str) -> Option<Value> {
    match s {
        "inf" => Some(Value::Float(f64::INFINITY)),
        "-inf" => Some(Value::Float(f64::NEG_INFINITY)),
        "nan" => Some(Value::Float(f64::NAN)),
        _ => {
            let digits = s.strip_prefix("0x")?.strip_suffix('I')?;
            Id::parse_hex(digits).map(Value::Id)
        }
    }
}

fn count_ambiguous(f: &J, n: &mut usize) {
    match f {
        J::String(s) if other_reading(s).is_some() => *n += 1,
        J::Array(items) => items.iter().for_each(|i| count_ambiguous(i, n)),
        _ => {}
    }
}

/// `readings` has a bit per ambiguous string, in order: 0 reads it as
/// the ID or float it looks like (what it nearly always is), 1 as the
/// string.
fn decode(f: &J, readings: u32, bit: &mut usize) -> Result<Value, LineError> {
    Ok(match f {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(x)) if n.is_f64() => Value::Float(x),
            _ => return Err(LineError::OutOfRange(n.clone())),
        },
        J::String(s) => match other_reading(s) {
            Some(other) => {
                let as_string = readings >> *bit & 1 == 1;
                *bit += 1;
                if as_string { Value::str(s) } else { other }
            }
            None => Value::str(s),
        },
        J::Array(items) => Value::List(
            items
                .iter()
                .map(|i| decode(i, readings, bit))
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        J::Object(_) => return Err(LineError::Object),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written_even_when_a_string_looks_like_an_id() {
        let tuple = vec![
            Value::str("n1:9000"),
            Value::Id(Id::from_u64(31)),
            Value::str("0x1fI"),
            Value::Int(3),
            Value::Float(3.0),
            Value::Float(f64::INFINITY),
            Value::str("inf"),
            Value::List(vec![Value::Null, Value::Bool(true), Value::str("0x2I")].into()),
        ];
        let json: Vec<J> = tuple.iter().map(crate::output::value_json).collect();
        let id = tuple_id("r", &tuple);
        assert_eq!(decode_tuple("r", &json, id).expect("values"), tuple);
        let likely = decode_tuple("r", &json, id ^ 1).expect("values");
        assert_eq!(
            likely[2],
            Value::Id(Id::from_u64(31)),
            "no reading hashes to a wrong id"
        );
    }

    #[test]
    fn latest_before_is_strict() {
        let at = [2, 5, 9];
        assert_eq!(latest_before(&at, 2), None);
        assert_eq!(latest_before(&at, 3), Some(2));
        assert_eq!(latest_before(&at, 9), Some(5));
        assert_eq!(latest_before(&at, 100), Some(9));
    }
}
