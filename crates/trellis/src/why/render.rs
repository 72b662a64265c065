//! Derivation trees for people (an indented tree), for programs (JSON) and
//! as drawings (DOT, Mermaid: one cluster per node, messages between them).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::json;

use super::load::{Cause, Entry, Log, NodeIx};
use super::tree::{Next, NoSender, Vertex};
use crate::output::value_json;
use crate::provenance::hex;

/// `rel(@loc, field, ...)`, fields as a program writes them.
fn tuple_text(log: &Log, e: &Entry) -> String {
    let relation = log.name_of(e.relation);
    let fields: Vec<String> = e.tuple.iter().map(|v| v.literal()).collect();
    match fields.split_first() {
        Some((loc, rest)) if !rest.is_empty() => {
            format!("{relation}(@{loc}, {})", rest.join(", "))
        }
        Some((loc, _)) => format!("{relation}(@{loc})"),
        None => format!("{relation}()"),
    }
}

fn seconds(t: f64) -> String {
    format!("{t:.3}s")
}

/// How `e` came to be, in words: `rule l1 on n1:9000 at 1.250s`.
fn how_text(log: &Log, e: &Entry) -> String {
    let node = &log.nodes[e.node as usize];
    let at = seconds(e.time);
    match &e.cause {
        Cause::Rule {
            rule, sent: true, ..
        } => format!("rule {} on {node} at {at}, sent", log.name_of(*rule)),
        Cause::Rule { rule, .. } => format!("rule {} on {node} at {at}", log.name_of(*rule)),
        Cause::Fact => format!("fact on {node} at {at}"),
        Cause::Injected => format!("injected on {node} at {at}"),
        Cause::Timer => format!("timer on {node} at {at}"),
        Cause::Received { from, .. } => match from {
            Some(f) => format!("received on {node} at {at} from {}", log.nodes[*f as usize]),
            None => format!("received on {node} at {at}"),
        },
    }
}

fn no_sender_text(why: NoSender) -> &'static str {
    match why {
        NoSender::Unknown => "sender unknown",
        NoSender::NotTraced => "the sender did not trace it",
        NoSender::NoRecord => "no record of the sender's derivation",
    }
}

fn missing_text(log: &Log, node: NodeIx, before: f64, known: Option<usize>) -> String {
    match known {
        Some(_) => format!(
            "no record on {} before {}",
            log.nodes[node as usize],
            seconds(before)
        ),
        None => "not traced".to_string(),
    }
}

/// What a missing input was, when the log saw it anywhere.
fn missing_label(log: &Log, id: u64, known: Option<usize>) -> String {
    match known {
        Some(k) => tuple_text(log, &log.entries[k]),
        None => format!("tuple {}", hex(id)),
    }
}

// ---- text ----------------------------------------------------------------

/// The tree as indented lines, two spaces a level.
pub fn text(log: &Log, root: &Vertex) -> String {
    let mut out = String::new();
    text_vertex(log, root, 0, &mut out);
    out
}

fn text_vertex(log: &Log, v: &Vertex, level: usize, out: &mut String) {
    let indent = "  ".repeat(level);
    match v {
        Vertex::Missing {
            node,
            id,
            before,
            known,
        } => {
            let _ = writeln!(
                out,
                "{indent}{}  <- {}",
                missing_label(log, *id, *known),
                missing_text(log, *node, *before, *known)
            );
        }
        Vertex::Step { entry, next } => {
            let e = &log.entries[*entry];
            let mark = match next {
                Next::Repeat => "  (as above)".to_string(),
                Next::Cut => "  (not followed: --depth)".to_string(),
                Next::NoSender(why) => format!("  ({})", no_sender_text(*why)),
                Next::Base | Next::Inputs(_) | Next::Sender(_) => String::new(),
            };
            let _ = writeln!(
                out,
                "{indent}{}  <- {}{mark}",
                tuple_text(log, e),
                how_text(log, e)
            );
            match next {
                Next::Inputs(inputs) => {
                    for i in inputs {
                        text_vertex(log, i, level + 1, out);
                    }
                }
                Next::Sender(sent) => text_vertex(log, sent, level + 1, out),
                Next::Base | Next::NoSender(_) | Next::Repeat | Next::Cut => {}
            }
        }
    }
}

// ---- JSON ----------------------------------------------------------------

/// The tree as nested objects: a step's `inputs` (a rule) or `sender` (a
/// receipt) are vertices like it.
pub fn json(log: &Log, v: &Vertex) -> serde_json::Value {
    match v {
        Vertex::Missing {
            node,
            id,
            before,
            known,
        } => {
            let mut o = json!({
                "id": hex(*id),
                "node": log.nodes[*node as usize],
                "missing": missing_text(log, *node, *before, *known),
            });
            if let Some(k) = known {
                let e = &log.entries[*k];
                o["relation"] = json!(log.name_of(e.relation));
                o["tuple"] = e.tuple.iter().map(value_json).collect();
            }
            o
        }
        Vertex::Step { entry, next } => {
            let e = &log.entries[*entry];
            let how = match &e.cause {
                Cause::Rule { .. } => "rule",
                Cause::Fact => "fact",
                Cause::Injected => "inject",
                Cause::Timer => "timer",
                Cause::Received { .. } => "recv",
            };
            let mut o = json!({
                "line": entry + 1,
                "node": log.nodes[e.node as usize],
                "time": e.time,
                "tick": e.tick,
                "relation": log.name_of(e.relation),
                "tuple": e.tuple.iter().map(value_json).collect::<Vec<_>>(),
                "id": hex(e.id),
                "how": how,
            });
            match &e.cause {
                Cause::Rule { rule, sent, .. } => {
                    o["rule"] = json!(log.name_of(*rule));
                    o["sent"] = json!(sent);
                }
                Cause::Received { from, .. } => {
                    o["from"] = json!(from.map(|f| &log.nodes[f as usize]));
                }
                Cause::Fact | Cause::Injected | Cause::Timer => {}
            }
            match next {
                Next::Inputs(inputs) => {
                    o["inputs"] = inputs.iter().map(|i| json(log, i)).collect();
                }
                Next::Sender(sent) => o["sender"] = json(log, sent),
                Next::NoSender(why) => o["missing"] = json!(no_sender_text(*why)),
                Next::Repeat => o["repeat"] = json!(true),
                Next::Cut => o["cut"] = json!(true),
                Next::Base => {}
            }
            o
        }
    }
}

// ---- graphs --------------------------------------------------------------

/// The vertices and edges of every tree drawn, shared where trees meet.
#[derive(Default)]
pub struct Graph {
    /// Per node, its vertices: (id, label, kind).
    clusters: BTreeMap<NodeIx, BTreeMap<String, (String, Kind)>>,
    edges: BTreeSet<(String, String, bool)>,
    missing: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tuple,
    Rule,
    Missing,
}

impl Graph {
    /// Add one tree.
    pub fn add(&mut self, log: &Log, v: &Vertex) {
        self.vertex(log, v);
    }

    fn put(&mut self, node: NodeIx, id: String, label: String, kind: Kind) -> String {
        self.clusters
            .entry(node)
            .or_default()
            .insert(id.clone(), (label, kind));
        id
    }

    /// The vertex `v` is drawn as (its tuple), added with what it came from.
    fn vertex(&mut self, log: &Log, v: &Vertex) -> String {
        match v {
            Vertex::Missing {
                node,
                id,
                before,
                known,
            } => {
                self.missing += 1;
                let label = format!(
                    "{}\n{}",
                    missing_label(log, *id, *known),
                    missing_text(log, *node, *before, *known)
                );
                self.put(*node, format!("m{}", self.missing), label, Kind::Missing)
            }
            Vertex::Step { entry, next } => {
                let e = &log.entries[*entry];
                let id = format!("t{entry}");
                let mut how = match &e.cause {
                    Cause::Rule { sent: true, .. } => {
                        format!("derived at {}, sent", seconds(e.time))
                    }
                    Cause::Rule { .. } => format!("derived at {}", seconds(e.time)),
                    Cause::Fact => format!("fact at {}", seconds(e.time)),
                    Cause::Injected => format!("injected at {}", seconds(e.time)),
                    Cause::Timer => format!("timer at {}", seconds(e.time)),
                    Cause::Received { .. } => format!("received at {}", seconds(e.time)),
                };
                match next {
                    Next::Cut => how.push_str(" (not followed)"),
                    Next::NoSender(why) => {
                        let _ = write!(how, " ({})", no_sender_text(*why));
                    }
                    _ => {}
                }
                if *next == Next::Repeat {
                    return id;
                }
                self.put(
                    e.node,
                    id.clone(),
                    format!("{}\n{how}", tuple_text(log, e)),
                    Kind::Tuple,
                );
                match (next, &e.cause) {
                    (Next::Inputs(inputs), Cause::Rule { rule, .. }) => {
                        let firing = self.put(
                            e.node,
                            format!("r{entry}"),
                            log.name_of(*rule).to_string(),
                            Kind::Rule,
                        );
                        for i in inputs {
                            let input = self.vertex(log, i);
                            self.edges.insert((input, firing.clone(), false));
                        }
                        self.edges.insert((firing, id.clone(), false));
                    }
                    (Next::Sender(sent), _) => {
                        let from = self.vertex(log, sent);
                        self.edges.insert((from, id.clone(), true));
                    }
                    _ => {}
                }
                id
            }
        }
    }

    /// Graphviz: a cluster per node, dashed edges for messages.
    pub fn dot(&self, log: &Log) -> String {
        let quote = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let mut out = String::from(
            "digraph why {\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n",
        );
        for (node, vertices) in &self.clusters {
            let name = &log.nodes[*node as usize];
            let _ = writeln!(
                out,
                "  subgraph cluster_{node} {{\n    label=\"{}\";\n    style=rounded;",
                quote(name)
            );
            for (id, (label, kind)) in vertices {
                let shape = match kind {
                    Kind::Tuple => "shape=box",
                    Kind::Rule => "shape=ellipse, style=filled, fillcolor=\"#eeeeee\"",
                    Kind::Missing => "shape=box, style=dashed, color=gray",
                };
                let _ = writeln!(out, "    {id} [label=\"{}\", {shape}];", quote(label));
            }
            out.push_str("  }\n");
        }
        for (from, to, message) in &self.edges {
            let style = if *message {
                " [style=dashed, label=\"message\"]"
            } else {
                ""
            };
            let _ = writeln!(out, "  {from} -> {to}{style};");
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid: a subgraph per node, dotted edges for messages.
    pub fn mermaid(&self, log: &Log) -> String {
        let quote = |s: &str| s.replace('"', "#quot;").replace('\n', "<br/>");
        let mut out = String::from("flowchart LR\n");
        for (node, vertices) in &self.clusters {
            let name = &log.nodes[*node as usize];
            let _ = writeln!(out, "  subgraph node{node}[\"{}\"]", quote(name));
            for (id, (label, kind)) in vertices {
                let label = quote(label);
                let _ = match kind {
                    Kind::Tuple => writeln!(out, "    {id}[\"{label}\"]"),
                    Kind::Rule => writeln!(out, "    {id}([\"{label}\"])"),
                    Kind::Missing => writeln!(out, "    {id}{{{{\"{label}\"}}}}"),
                };
            }
            out.push_str("  end\n");
        }
        for (from, to, message) in &self.edges {
            let arrow = if *message { "-. message .->" } else { "-->" };
            let _ = writeln!(out, "  {from} {arrow} {to}");
        }
        out
    }
}
