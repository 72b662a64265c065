//! Tuples on their way to other nodes, laid out in one buffer: a tick that
//! sends a thousand tuples allocates nothing per tuple, and a driver that
//! encodes them reads their fields in place.

use std::ops::Range;
use std::sync::Arc;

use trellis_plan::RelId;
use trellis_value::Value;

use crate::Tuple;

/// Sends, in the order the node derived them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sends {
    heads: Vec<Head>,
    /// Every send's fields, one after the other.
    fields: Vec<Value>,
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
        }
    }

    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Outgoing<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Add a send whose fields are taken from `fields` (left empty).
    pub fn push(&mut self, relation: RelId, fields: &mut Vec<Value>, delete: bool) {
        self.heads.push(Head {
            relation,
            delete,
            start: self.fields.len(),
        });
        self.fields.append(fields);
    }

    /// Move the `i`th of `other`'s sends to the end of these (it leaves
    /// nulls behind in `other`).
    pub(crate) fn take_from(&mut self, other: &mut Sends, i: usize) {
        let h = other.heads[i];
        let range = other.range(i);
        self.heads.push(Head {
            start: self.fields.len(),
            ..h
        });
        self.fields.extend(
            other.fields[range]
                .iter_mut()
                .map(|v| std::mem::replace(v, Value::Null)),
        );
    }

    pub fn clear(&mut self) {
        self.heads.clear();
        self.fields.clear();
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
        sends.push(RelId(0), &mut fields(&[1]), false);
        sends.push(RelId(1), &mut fields(&[2, 3]), true);
        sends.push(RelId(0), &mut fields(&[]), false);
        assert_eq!(sends.len(), 3);
        assert_eq!(sends.get(1).fields, &fields(&[2, 3])[..]);
        assert!(sends.get(1).delete);
        assert_eq!(sends.get(2).fields.len(), 1);
        assert_eq!(&**sends.get(2).destination(), "a:1");

        let mut out = Sends::default();
        out.take_from(&mut sends, 1);
        out.take_from(&mut sends, 0);
        let moved: Vec<(RelId, Vec<Value>)> = out
            .iter()
            .map(|s| (s.relation, s.fields.to_vec()))
            .collect();
        assert_eq!(
            moved,
            vec![(RelId(1), fields(&[2, 3])), (RelId(0), fields(&[1]))]
        );
        assert_eq!(&*out.get(0).tuple(), &fields(&[2, 3])[..]);
        sends.recycle();
        assert!(sends.is_empty());
    }
}
