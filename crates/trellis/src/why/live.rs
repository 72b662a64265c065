//! `trellis why ADDR 'pattern'`: ask a running node why (docs/provenance.md,
//! "Asking a live node").
//!
//! A node that traces anything runs the why rules
//! (examples/provenance/why.olg, added by `trellis run`), which walk its
//! `ruleExec` and `tupleTable` and follow references to other nodes. This
//! command is a small node of its own on 127.0.0.1, on the cluster's
//! transport and key: it sends `whyFind` for the pattern's relation, picks
//! the candidates the pattern matches, sends a `whyQuery` for each, and
//! gathers the `whyTuple`/`whyRule` steps that arrive from every node the
//! walk visits, until none has come for `--quiet` seconds. The steps become
//! a log in memory, which the same walk and printers as a simulation's
//! log turn into the tree.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use trellis_engine::{Node, NodeConfig, Output, RecordKind, Tuple};
use trellis_net::{ClusterKey, Driver, NetConfig, Observer, WallClock};
use trellis_syntax::{ParseOptions, Pattern};
use trellis_value::Value;

use super::load::{Log, NamedCause};
use crate::cli::LiveWhyArgs;
use crate::common::read_key;

/// The asking node's program: it forwards its questions to the node
/// asked, and watches the answers arrive.
const ASKER: &str = r#"
external(askFind). external(askWhy).
a1 whyFind(@A, Q, Rel, Me) :- askFind(@Me, A, Q, Rel).
a2 whyQuery(@A, Q, T, Me) :- askWhy(@Me, A, Q, T).
watchmod(whyCandidate, "c").
watchmod(whyTuple, "c").
watchmod(whyRule, "c").
"#;

/// The most tuples one question explains.
const MAX_ROOTS: usize = 64;

#[derive(Debug, thiserror::Error)]
enum LiveError {
    #[error("{0}")]
    Key(String),
    #[error("cannot find a free port on 127.0.0.1: {0}")]
    Port(std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Net(#[from] trellis_net::NetError),
}

/// Answers, by what they are about.
#[derive(Default)]
struct Answers {
    candidates: Vec<(u64, Vec<Value>)>,
    /// (node, tuple ID) -> each way it came to be there.
    tuples: HashMap<(String, u64), Vec<TupleStep>>,
    /// (node, derivation ID) -> the rule firing.
    rules: HashMap<(String, u64), RuleStep>,
}

struct TupleStep {
    relation: String,
    fields: Vec<Value>,
    how: String,
    source: Option<String>,
    exec: u64,
    time: f64,
}

struct RuleStep {
    rule: String,
    inputs: Vec<u64>,
    time: f64,
}

/// Sends what arrives to the question's loop.
struct Forward(mpsc::UnboundedSender<(String, Tuple)>);

impl Observer for Forward {
    fn output(&mut self, node: &Node, out: &Output) {
        for r in out.records.iter().filter(|r| r.kind == RecordKind::Recv) {
            let name = node.plan().relation(r.relation).name.clone();
            let _ = self.0.send((name, r.tuple.clone()));
        }
    }
}

pub fn ask(address: &str, pattern: &Pattern, args: &LiveWhyArgs) -> Result<Log, ExitCode> {
    asked(address, pattern, args).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn asked(address: &str, pattern: &Pattern, args: &LiveWhyArgs) -> Result<Log, LiveError> {
    let key: Option<ClusterKey> = match &args.cluster_key {
        Some(path) => Some(read_key(path).map_err(LiveError::Key)?),
        None => None,
    };
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_err(LiveError::Port)?
        .port();
    let me = format!("127.0.0.1:{port}");
    let bind: SocketAddr = me.parse().expect("a literal address");
    let plan = Arc::new(
        trellis_plan::load_str("<trellis why>", ASKER, &ParseOptions::default())
            .expect("the asker's program compiles")
            .plan,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    runtime.block_on(async {
        let clock = WallClock::start();
        let config = NetConfig::new(me.clone(), bind, args.transport.net(), key);
        let driver = Driver::bind(config, &plan, clock).await?;
        let injector = driver.injector();
        let mut node =
            Node::new(plan.clone(), NodeConfig::new(me.clone(), 0)).expect("no parameters");
        node.start(clock.now());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut forward = Forward(tx);
        let stop = async {
            let _ = stop_rx.await;
        };
        let quiet = Duration::from_secs_f64(args.quiet);
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.timeout);
        // Query IDs of their own: the why rules visit a tuple once per query.
        let first_query = (clock.now() as i64 & i64::MAX) & !0xffff;
        let question = async {
            let mut answers = Answers::default();
            let s = Value::str;
            let find = vec![
                s(&me),
                s(address),
                Value::Int(first_query),
                s(&pattern.relation),
            ];
            injector.inject("askFind", Tuple::from(find));
            gather(&mut rx, &mut answers, quiet, deadline).await;
            let chosen: Vec<u64> = answers
                .candidates
                .iter()
                .filter(|(_, t)| pattern.matches(&pattern.relation, t))
                .map(|(id, _)| *id)
                .collect::<HashSet<_>>()
                .into_iter()
                .take(MAX_ROOTS)
                .collect();
            for (q, id) in chosen.iter().enumerate() {
                let query = Value::Int(first_query + q as i64 + 1);
                let why = vec![s(&me), s(address), query, id_value(*id)];
                injector.inject("askWhy", Tuple::from(why));
            }
            if !chosen.is_empty() {
                gather(&mut rx, &mut answers, quiet, deadline).await;
            }
            let _ = stop_tx.send(());
            (answers, chosen)
        };
        let (_, (answers, chosen)) =
            tokio::join!(driver.run(&mut node, stop, &mut forward), question);
        Ok(log_of(address, &answers, &chosen))
    })
}

/// Take answers until none has come for `quiet`, or `deadline`.
async fn gather(
    rx: &mut mpsc::UnboundedReceiver<(String, Tuple)>,
    answers: &mut Answers,
    quiet: Duration,
    deadline: tokio::time::Instant,
) {
    loop {
        let wait = quiet.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some((relation, tuple))) => answers.take(&relation, &tuple),
            Ok(None) | Err(_) => return,
        }
    }
}

fn id_value(id: u64) -> Value {
    Value::Int(id as i64)
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => Some(*i as u64),
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

fn seconds(v: &Value) -> f64 {
    match v {
        Value::Float(x) => *x,
        Value::Int(i) => *i as f64,
        _ => 0.0,
    }
}

/// A `Tuple` column: the relation's name, then the fields.
fn split_tuple(v: &Value) -> Option<(String, Vec<Value>)> {
    let Value::List(items) = v else { return None };
    let (name, fields) = items.split_first()?;
    Some((text_of(name)?, fields.to_vec()))
}

impl Answers {
    /// One answer; a malformed one (not the why rules' shape) is ignored.
    fn take(&mut self, relation: &str, t: &[Value]) {
        match (relation, t) {
            ("whyCandidate", [_, _, id, tuple]) => {
                if let (Some(id), Some((_, fields))) = (id_of(id), split_tuple(tuple)) {
                    self.candidates.push((id, fields));
                }
            }
            ("whyTuple", [_, _, node, id, tuple, how, source, exec, time]) => {
                let (Some(node), Some(id), Some((relation, fields)), Some(how), Some(exec)) = (
                    text_of(node),
                    id_of(id),
                    split_tuple(tuple),
                    text_of(how),
                    id_of(exec),
                ) else {
                    return;
                };
                let steps = self.tuples.entry((node, id)).or_default();
                steps.push(TupleStep {
                    relation,
                    fields,
                    how,
                    source: text_of(source),
                    exec,
                    time: seconds(time),
                });
            }
            ("whyRule", [_, _, node, exec, rule, Value::List(inputs), time]) => {
                let (Some(node), Some(exec), Some(rule)) =
                    (text_of(node), id_of(exec), text_of(rule))
                else {
                    return;
                };
                let inputs = inputs.iter().filter_map(id_of).collect();
                let step = RuleStep {
                    rule,
                    inputs,
                    time: seconds(time),
                };
                self.rules.insert((node, exec), step);
            }
            _ => {}
        }
    }
}

/// The answers as a log: each step after its causes (a depth-first walk
/// from the tuples asked about, each (node, tuple) once).
fn log_of(address: &str, answers: &Answers, roots: &[u64]) -> Log {
    let mut log = Log::answers(PathBuf::from(address));
    let mut done = HashSet::new();
    for &id in roots {
        add(&mut log, answers, address, id, &mut done);
    }
    log
}

fn add(log: &mut Log, answers: &Answers, node: &str, id: u64, done: &mut HashSet<(String, u64)>) {
    if !done.insert((node.to_string(), id)) {
        return;
    }
    let Some(steps) = answers.tuples.get(&(node.to_string(), id)) else {
        return;
    };
    for step in steps {
        let rule_at = |at: &str| answers.rules.get(&(at.to_string(), step.exec));
        let fields = step.fields.clone();
        let relation = step.relation.as_str();
        match step.how.as_str() {
            "rule" => {
                let Some(r) = rule_at(node) else { continue };
                add_firing(log, answers, node, step, r, id, false, done);
            }
            "recv" => {
                let source = step.source.as_deref();
                if let Some(from) = source
                    && let Some(r) = rule_at(from)
                {
                    add_firing(log, answers, from, step, r, id, true, done);
                }
                let exec = (step.exec != 0).then_some(step.exec);
                let cause = NamedCause::Received { from: source, exec };
                log.add(node, step.time, relation, fields, id, cause);
            }
            how => {
                let cause = match how {
                    "fact" => NamedCause::Fact,
                    "inject" => NamedCause::Injected,
                    _ => NamedCause::Timer,
                };
                log.add(node, step.time, relation, fields, id, cause);
            }
        }
    }
}

/// The rule firing `r` on `node` that made `step`'s tuple, after its
/// inputs (so that a walk finds them before it).
#[allow(clippy::too_many_arguments)] // the walk's state, passed down
fn add_firing(
    log: &mut Log,
    answers: &Answers,
    node: &str,
    step: &TupleStep,
    r: &RuleStep,
    id: u64,
    sent: bool,
    done: &mut HashSet<(String, u64)>,
) {
    for &input in &r.inputs {
        add(log, answers, node, input, done);
    }
    let cause = NamedCause::Rule {
        rule: &r.rule,
        exec: step.exec,
        inputs: r.inputs.clone(),
        sent,
    };
    log.add(node, r.time, &step.relation, step.fields.clone(), id, cause);
}
