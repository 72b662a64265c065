//! Tuples on their way to other nodes, laid out in one buffer: a tick that
//! sends a thousand tuples allocates nothing per tuple, and a driver that
//! encodes them reads their fields in place.

use std::ops::Range;
use std::sync::Arc;

use trellis_plan::RelId;
use trellis_value::Value;

use crate::Tuple;
use crate::provenance::ExecId;

/// Sends, in the order the node derived them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sends {
    heads: Vec<Head>,
    /// Every send's fields, one after the other.
    fields: Vec<Value>,
    /// Per send, the derivation that made it (provenance; 0 for none):
    /// empty until a send has one, then as long as `heads`.
    derivations: Vec<ExecId>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Head {
    relation: RelId,
    delete: bool,
    /// Where its fields start in `fields`; they end where the next send's
    /// start.
    start: usize,
}

/// One tuple on its way to another node: the one its first field names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outgoing<'a> {
    pub relation: RelId,
    /// Its fields, the location first.
    pub fields: &'a [Value],
    /// A remote `delete`: remove the row with this key at the destination.
    pub delete: bool,
    /// The sender's derivation of it, when traced: the receiver's reference
    /// to its provenance.
    pub derivation: Option<ExecId>,
}

impl Outgoing<'_> {
    /// The address the tuple goes to: its location field (the engine sends
    /// only tuples whose location is a string).
    #[inline]
    pub fn destination(&self) -> &Arc<str> {
        match &self.fields[0] {
            Value::Str(s) => s,
            other => panic!("a send located at a {}", other.type_name()),
        }
    }

    /// The tuple, allocated on its own.
    pub fn tuple(&self) -> Tuple {
        Tuple::from(self.fields)
    }
}

impl Sends {
    #[inline]
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// The `i`th send.
    #[inline]
    pub fn get(&self, i: usize) -> Outgoing<'_> {
        let h = self.heads[i];
        Outgoing {
            relation: h.relation,
            fields: &self.fields[self.range(i)],
            delete: h.delete,
            derivation: self.derivations.get(i).copied().filter(|&d| d != 0),
        }
    }

    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Outgoing<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Add a send whose fields are taken from `fields` (left empty), made
    /// by `derivation` when traced.
    pub fn push(
        &mut self,
        relation: RelId,
        fields: &mut Vec<Value>,
        delete: bool,
        derivation: Option<ExecId>,
    ) {
        if derivation.is_some() || !self.derivations.is_empty() {
            self.derivations.resize(self.heads.len(), 0);
            self.derivations.push(derivation.unwrap_or(0));
        }
        self.heads.push(Head {
            relation,
            delete,
            start: self.fields.len(),
        });
        self.fields.append(fields);
    }

    /// Keep only the sends `keep` says yes to (given their indices in
    /// order), in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let (mut heads, mut fields) = (0, 0);
        for i in 0..self.len() {
            let range = self.range(i);
            if !keep(i) {
                continue;
            }
            self.heads[heads] = Head {
                start: fields,
                ..self.heads[i]
            };
            if !self.derivations.is_empty() {
                self.derivations[heads] = self.derivations[i];
            }
            heads += 1;
            // Each field moves down once; the dropped sends' fields end up
            // past `fields` and go with the truncation.
            for f in range {
                self.fields.swap(fields, f);
                fields += 1;
            }
        }
        self.heads.truncate(heads);
        self.fields.truncate(fields);
        self.derivations.truncate(heads);
    }

    /// Move all of `other`'s sends to the end of these.
    pub(crate) fn append(&mut self, other: &mut Sends) {
        if self.is_empty() {
            // The common case (a driver drains its output every step):
            // trade buffers rather than copy.
            std::mem::swap(self, other);
            return;
        }
        if !self.derivations.is_empty() || !other.derivations.is_empty() {
            self.derivations.resize(self.heads.len(), 0);
            other.derivations.resize(other.heads.len(), 0);
            self.derivations.append(&mut other.derivations);
        }
        let offset = self.fields.len();
        self.heads.extend(other.heads.drain(..).map(|h| Head {
            start: h.start + offset,
            ..h
        }));
        self.fields.append(&mut other.fields);
    }

    pub fn clear(&mut self) {
        self.heads.clear();
        self.fields.clear();
        self.derivations.clear();
    }

    /// Clear a buffer kept from tick to tick, giving back memory that a
    /// burst grew far beyond what this tick used.
    pub(crate) fn recycle(&mut self) {
        let (heads, fields) = (self.heads.len(), self.fields.len());
        self.clear();
        if self.heads.capacity() > 4 * heads.max(1024) {
            self.heads.shrink_to(2 * heads);
        }
        if self.fields.capacity() > 4 * fields.max(4096) {
            self.fields.shrink_to(2 * fields);
        }
    }

    #[inline]
    fn range(&self, i: usize) -> Range<usize> {
        let end = self
            .heads
            .get(i + 1)
            .map_or(self.fields.len(), |next| next.start);
        self.heads[i].start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(values: &[i64]) -> Vec<Value> {
        std::iter::once(Value::str("a:1"))
            .chain(values.iter().map(|&v| Value::Int(v)))
            .collect()
    }

    #[test]
    fn sends_keep_their_fields_apart_and_move_whole() {
        let mut sends = Sends::default();
        sends.push(RelId(0), &mut fields(&[1]), false, None);
        sends.push(RelId(1), &mut fields(&[2, 3]), true, Some(7));
        sends.push(RelId(0), &mut fields(&[]), false, None);
        assert_eq!(sends.len(), 3);
        assert_eq!(sends.get(1).fields, &fields(&[2, 3])[..]);
        assert!(sends.get(1).delete);
        assert_eq!(sends.get(0).derivation, None);
        assert_eq!(sends.get(1).derivation, Some(7));
        assert_eq!(sends.get(2).fields.len(), 1);
        assert_eq!(&**sends.get(2).destination(), "a:1");

        let all = |s: &Sends| -> Vec<(RelId, Vec<Value>)> {
            s.iter().map(|s| (s.relation, s.fields.to_vec())).collect()
        };
        let mut kept = sends.clone();
        kept.retain(|i| i != 0);
        assert_eq!(
            all(&kept),
            vec![(RelId(1), fields(&[2, 3])), (RelId(0), fields(&[]))]
        );
        assert_eq!(&*kept.get(0).tuple(), &fields(&[2, 3])[..]);
        assert_eq!(kept.get(0).derivation, Some(7));
        assert_eq!(kept.get(1).derivation, None);

        let mut out = Sends::default();
        out.append(&mut kept);
        assert!(kept.is_empty());
        out.append(&mut sends);
        assert!(sends.is_empty());
        assert_eq!(all(&out).len(), 5);
        assert_eq!(all(&out)[2], (RelId(0), fields(&[1])));
        assert_eq!(all(&out)[3], (RelId(1), fields(&[2, 3])));
        assert_eq!(out.get(1).derivation, None);
        assert_eq!(out.get(3).derivation, Some(7));
        out.recycle();
        assert!(out.is_empty());
    }
}
