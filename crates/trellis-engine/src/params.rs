//! Node parameters: the per-node values a program reads as `NODEID`,
//! `LANDMARK` and the like (`LOCALADDRESS` is the node's address, always).
//! One policy for every driver, so `trellis run`, `trellis cluster` and
//! `trellis sim` give a node the same values: by default `NODEID` is the
//! SHA-1 of the node's address and `LANDMARK` the first node's address (a
//! lone node is its own first node).

use std::collections::BTreeMap;

use trellis_value::{Id, Value};

/// How one parameter gets its value on each node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSource {
    /// The SHA-1 of the node's address, as an ID.
    Sha1,
    /// 160 random bits ([`Id::random`]) from the driver's generator.
    Random,
    /// The first node's address.
    First,
    /// The node's own address.
    Address,
    /// The node's index (0, 1, ...), an integer.
    Index,
}

impl ParamSource {
    /// Every source, by the name scenarios write (`NODEID = "sha1"`).
    pub const ALL: [ParamSource; 5] = [
        ParamSource::Sha1,
        ParamSource::Random,
        ParamSource::First,
        ParamSource::Address,
        ParamSource::Index,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ParamSource::Sha1 => "sha1",
            ParamSource::Random => "random",
            ParamSource::First => "first",
            ParamSource::Address => "address",
            ParamSource::Index => "index",
        }
    }

    pub fn parse(name: &str) -> Option<ParamSource> {
        ParamSource::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// This parameter's value at `node`; only [`ParamSource::Random`] draws
    /// from `rng`.
    pub fn value<R: rand::Rng + ?Sized>(self, node: &Placement<'_>, rng: &mut R) -> Value {
        match self {
            ParamSource::Sha1 => Value::Id(trellis_value::sha1_id(node.address)),
            ParamSource::Random => Value::Id(Id::random(rng)),
            ParamSource::First => Value::str(node.first),
            ParamSource::Address => Value::str(node.address),
            ParamSource::Index => Value::Int(node.index as i64),
        }
    }
}

/// Where a node stands among the nodes of its run.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    pub address: &'a str,
    /// Its position, from 0.
    pub index: usize,
    /// The first node's address.
    pub first: &'a str,
}

impl<'a> Placement<'a> {
    /// A node that runs alone: index 0, its own first node.
    pub fn alone(address: &'a str) -> Placement<'a> {
        Placement {
            address,
            index: 0,
            first: address,
        }
    }
}

/// Which parameters a run gives its nodes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeParams {
    sources: BTreeMap<String, ParamSource>,
}

impl Default for NodeParams {
    fn default() -> NodeParams {
        NodeParams::standard()
    }
}

impl NodeParams {
    /// The parameters every driver provides unless told otherwise:
    /// `NODEID` (the node's ring identifier) is [`ParamSource::Sha1`],
    /// `LANDMARK` (the node to join through) is [`ParamSource::First`].
    pub fn standard() -> NodeParams {
        NodeParams {
            sources: BTreeMap::from([
                ("LANDMARK".to_string(), ParamSource::First),
                ("NODEID".to_string(), ParamSource::Sha1),
            ]),
        }
    }

    /// Give `name` its value from `source` (replacing any earlier source).
    pub fn set(&mut self, name: impl Into<String>, source: ParamSource) {
        self.sources.insert(name.into(), source);
    }

    /// Give `name` no value.
    pub fn remove(&mut self, name: &str) {
        self.sources.remove(name);
    }

    pub fn get(&self, name: &str) -> Option<ParamSource> {
        self.sources.get(name).copied()
    }

    /// The parameters' names, in order: what the parser should treat as
    /// node parameters (`ParseOptions::node_params`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }

    /// The values at `node` of the parameters `wanted` keeps (say, those
    /// the program uses), in name order; random ones are drawn from `rng`
    /// in that order, so a run's generator gives the same IDs every time.
    pub fn values<R: rand::Rng + ?Sized>(
        &self,
        wanted: impl Fn(&str) -> bool,
        node: &Placement<'_>,
        rng: &mut R,
    ) -> BTreeMap<String, Value> {
        self.sources
            .iter()
            .filter(|(name, _)| wanted(name))
            .map(|(name, source)| (name.clone(), source.value(node, rng)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn standard_params_and_sources() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let params = NodeParams::standard();
        assert_eq!(params.names().collect::<Vec<_>>(), ["LANDMARK", "NODEID"]);
        let alone = params.values(|_| true, &Placement::alone("a:1"), &mut rng);
        assert_eq!(alone["LANDMARK"], Value::str("a:1"));
        assert_eq!(alone["NODEID"], Value::Id(trellis_value::sha1_id("a:1")));
        let node = Placement {
            address: "b:2",
            index: 3,
            first: "a:1",
        };
        let values = params.values(|n| n == "LANDMARK", &node, &mut rng);
        assert_eq!(values.len(), 1);
        assert_eq!(values["LANDMARK"], Value::str("a:1"));
        assert_eq!(ParamSource::Index.value(&node, &mut rng), Value::Int(3));
        assert_eq!(
            ParamSource::Address.value(&node, &mut rng),
            Value::str("b:2")
        );
        let mut copy = rng.clone();
        assert_eq!(
            ParamSource::Random.value(&node, &mut rng),
            Value::Id(Id::random(&mut copy))
        );
        for s in ParamSource::ALL {
            assert_eq!(ParamSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(ParamSource::parse("sha256"), None);
    }
}
