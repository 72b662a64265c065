//! Reading frames: check the envelope, then build each tuple straight from
//! the bytes (no intermediate values), with serde seeds over postcard.

use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;

use hmac::Mac;
use rustc_hash::FxBuildHasher;
use serde::de::{self, DeserializeSeed, EnumAccess, SeqAccess, VariantAccess, Visitor};
use trellis_value::{Id, Value};

use crate::cost::{self, ARC_HEADER, DecodeLimits};
use crate::{
    CRC, ClusterKey, Envelope, FLAG_TAGGED, Frame, HEAD_DELETE, HEAD_DERIVATION, HEAD_NAMED,
    HEADER, MAGIC, MAX_DEPTH, MAX_FRAME, REFERENCE_BYTES, Session, TAG, VERSION, WireError,
    WireMessage, tag,
};

/// Strings up to this long are shared.
const SHARED_STR: usize = 64;
/// Distinct strings a [`SharedStrings`] holds unless told otherwise.
const SHARED_STRS: usize = 1024;

/// Short strings already decoded, shared with the values decoded after
/// them: within a frame, and across frames where a receiver keeps one (an
/// address that arrives in every frame is then one allocation, and equal
/// to the receiver's own copy by pointer, the cheapest comparison a join
/// makes). Bounded: emptied when full, so a sender of ever new strings
/// costs allocations, never memory.
#[derive(Debug)]
pub struct SharedStrings {
    set: HashSet<Arc<str>, FxBuildHasher>,
    limit: usize,
}

impl Default for SharedStrings {
    fn default() -> SharedStrings {
        SharedStrings::new(SHARED_STRS)
    }
}

impl SharedStrings {
    /// A cache of at most `limit` strings.
    pub fn new(limit: usize) -> SharedStrings {
        SharedStrings {
            set: HashSet::default(),
            limit: limit.max(1),
        }
    }

    /// Make `s` the shared copy of its text (a receiver's own address, say).
    pub fn adopt(&mut self, s: Arc<str>) {
        if s.len() <= SHARED_STR {
            self.make_room();
            self.set.replace(s);
        }
    }

    /// The shared copy of `s`, made if there is none.
    fn get(&mut self, s: &str) -> Arc<str> {
        if s.len() > SHARED_STR {
            return Arc::from(s);
        }
        if let Some(shared) = self.set.get(s) {
            return shared.clone();
        }
        self.make_room();
        let shared: Arc<str> = Arc::from(s);
        self.set.insert(shared.clone());
        shared
    }

    fn make_room(&mut self) {
        if self.set.len() >= self.limit {
            self.set.clear();
        }
    }
}
/// Tuple fields, from the first, that remember their last string.
const REMEMBERED_FIELDS: usize = 8;

/// Decode and check one frame.
pub fn decode(bytes: &[u8], key: Option<&ClusterKey>) -> Result<Frame, WireError> {
    // A guess: most tuples take a few dozen bytes.
    let mut messages = Vec::with_capacity((bytes.len() / 32).min(4096));
    let Envelope { sender, session } = decode_into(bytes, key, &mut messages)?;
    Ok(Frame {
        sender,
        session,
        messages,
    })
}

/// Decode and check one frame into `messages`, which must be empty (a
/// receiver reuses one vector, and its capacity, frame after frame).
/// Returns the sender and the session. A frame is taken whole or not at
/// all: after an error `messages` is empty.
pub fn decode_into(
    bytes: &[u8],
    key: Option<&ClusterKey>,
    messages: &mut Vec<WireMessage>,
) -> Result<Envelope, WireError> {
    decode_shared(bytes, key, messages, &mut SharedStrings::default())
}

/// [`decode_into`], sharing short strings through `strings`, which the
/// receiver keeps from frame to frame.
pub fn decode_shared(
    bytes: &[u8],
    key: Option<&ClusterKey>,
    messages: &mut Vec<WireMessage>,
    strings: &mut SharedStrings,
) -> Result<Envelope, WireError> {
    decode_limited(bytes, key, messages, strings, &DecodeLimits::default()).map(|d| d.envelope)
}

/// A frame's envelope and what its messages cost decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub envelope: Envelope,
    /// By [`cost::message_cost`], the sender's name included.
    pub decoded_bytes: usize,
}

/// [`decode_shared`] within `limits`: a frame with more messages, or more
/// decoded bytes, is refused as soon as it passes them (and nothing of it
/// is kept).
pub fn decode_limited(
    bytes: &[u8],
    key: Option<&ClusterKey>,
    messages: &mut Vec<WireMessage>,
    strings: &mut SharedStrings,
    limits: &DecodeLimits,
) -> Result<Decoded, WireError> {
    debug_assert!(messages.is_empty());
    let decoded = decode_messages(bytes, key, messages, strings, limits);
    if decoded.is_err() {
        messages.clear();
    }
    decoded
}

fn decode_messages(
    bytes: &[u8],
    key: Option<&ClusterKey>,
    messages: &mut Vec<WireMessage>,
    strings: &mut SharedStrings,
    limits: &DecodeLimits,
) -> Result<Decoded, WireError> {
    if bytes.len() > MAX_FRAME {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit: MAX_FRAME,
        });
    }
    if bytes.len() < HEADER {
        return Err(WireError::TooShort(bytes.len()));
    }
    if &bytes[..4] != MAGIC {
        return Err(WireError::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(WireError::BadVersion(bytes[4]));
    }
    let crc = u32::from_le_bytes(bytes[CRC].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[CRC.end..]) != crc {
        return Err(WireError::BadChecksum);
    }
    let tagged = bytes[5] & FLAG_TAGGED != 0;
    let signed = match (key, tagged) {
        (Some(_), false) => return Err(WireError::MissingTag),
        (None, true) => return Err(WireError::UnexpectedTag),
        (None, false) => bytes,
        (Some(key), true) => {
            if bytes.len() < HEADER + TAG {
                return Err(WireError::TooShort(bytes.len()));
            }
            let (signed, tag) = bytes.split_at(bytes.len() - TAG);
            let mut mac = key.mac();
            // The tag was computed with the checksum field zeroed.
            mac.update(&signed[..CRC.start]);
            mac.update(&[0; 4]);
            mac.update(&signed[CRC.end..]);
            mac.verify_slice(tag).map_err(|_| WireError::BadTag)?;
            signed
        }
    };
    let mut cx = Context {
        strings: std::mem::take(strings),
        last: Default::default(),
        values: Vec::new(),
        problem: None,
        limits: *limits,
        cost: 0,
    };
    let decoded = decode_body(signed, tagged, &mut cx, messages);
    *strings = cx.strings;
    Ok(Decoded {
        envelope: decoded?,
        decoded_bytes: cx.cost,
    })
}

/// The sender, the session (in a tagged frame) and the messages, after
/// the envelope was checked.
fn decode_body<'de>(
    signed: &'de [u8],
    tagged: bool,
    cx: &mut Context<'de>,
    messages: &mut Vec<WireMessage>,
) -> Result<Envelope, WireError> {
    let body = &signed[HEADER..];
    let mut de = postcard::Deserializer::from_bytes(body);
    let sender = StrSeed {
        cx: &mut *cx,
        field: None,
    }
    .deserialize(&mut de)
    .map_err(|e| cx.error(e))?;
    let session = if tagged {
        let destination = StrSeed {
            cx: &mut *cx,
            field: None,
        }
        .deserialize(&mut de)
        .map_err(|e| cx.error(e))?;
        let (stream, epoch, sequence) =
            <(u8, u64, u64) as serde::Deserialize>::deserialize(&mut de)?;
        Some(Session {
            destination,
            stream,
            epoch,
            sequence,
        })
    } else {
        None
    };
    let mut rest = de.finalize()?;
    let mut relation: Option<Arc<str>> = None;
    while !rest.is_empty() {
        if messages.len() >= cx.limits.messages {
            return Err(WireError::TooManyMessages {
                limit: cx.limits.messages,
            });
        }
        let mut de = postcard::Deserializer::from_bytes(rest);
        let m = MessageSeed {
            cx: &mut *cx,
            relation: &mut relation,
        }
        .deserialize(&mut de)
        .map_err(|e| cx.error(e))?;
        messages.push(m);
        rest = de.finalize()?;
    }
    Ok(Envelope { sender, session })
}

/// What decoding one frame shares between values.
struct Context<'de> {
    /// Short strings seen, in this frame or before (the receiver's, lent
    /// for the frame).
    strings: SharedStrings,
    /// Per tuple field, the last string decoded there. A run of messages
    /// of one relation often repeats a field (an address, a payload): the
    /// repeat is then shared after one comparison of its bytes, however
    /// long, and is known to be UTF-8.
    last: [Option<(&'de [u8], Arc<str>)>; REMEMBERED_FIELDS],
    /// Values of the tuples and lists being built, innermost last.
    values: Vec<Value>,
    /// Why a value was refused (postcard's errors carry no text).
    problem: Option<Refusal>,
    limits: DecodeLimits,
    /// Decoded bytes so far, by [`cost::message_cost`].
    cost: usize,
}

/// Why decoding stopped inside a value.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Value(&'static str),
    OverLimit,
}

impl<'de> Context<'de> {
    fn refuse<E: de::Error>(&mut self, why: &'static str) -> E {
        self.problem = Some(Refusal::Value(why));
        E::custom(why)
    }

    /// Count `bytes` more of decoded memory; an error past the limit.
    fn charge<E: de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        self.cost += bytes;
        if self.cost > self.limits.decoded_bytes {
            self.problem = Some(Refusal::OverLimit);
            return Err(E::custom("decoded size over the limit"));
        }
        Ok(())
    }

    fn error(&mut self, e: postcard::Error) -> WireError {
        match self.problem.take() {
            Some(Refusal::Value(why)) => WireError::BadValue(why),
            Some(Refusal::OverLimit) => WireError::TooLargeDecoded {
                limit: self.limits.decoded_bytes,
            },
            None => WireError::Malformed(e),
        }
    }

    /// The string with these bytes, found at tuple field `field` (`None`:
    /// not a tuple's field).
    fn string<E: de::Error>(
        &mut self,
        bytes: &'de [u8],
        field: Option<usize>,
    ) -> Result<Arc<str>, E> {
        let slot = field.filter(|&f| f < REMEMBERED_FIELDS);
        if let Some(f) = slot
            && let Some((last, s)) = &self.last[f]
            && *last == bytes
        {
            return Ok(s.clone());
        }
        let Ok(s) = std::str::from_utf8(bytes) else {
            return Err(self.refuse("a string is not UTF-8"));
        };
        let shared = self.strings.get(s);
        if let Some(f) = slot {
            self.last[f] = Some((bytes, shared.clone()));
        }
        Ok(shared)
    }
}

struct MessageSeed<'a, 'de> {
    cx: &'a mut Context<'de>,
    /// The previous message's relation.
    relation: &'a mut Option<Arc<str>>,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_, 'de> {
    type Value = WireMessage;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<WireMessage, D::Error> {
        d.deserialize_tuple(4, self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_, 'de> {
    type Value = WireMessage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireMessage, A::Error> {
        self.cx.charge(cost::MESSAGE)?;
        let head: u8 = seq
            .next_element()?
            .ok_or_else(|| self.cx.refuse("message cut short"))?;
        if head & !(HEAD_DELETE | HEAD_NAMED | HEAD_DERIVATION) != 0 {
            return Err(self.cx.refuse("unknown message flags"));
        }
        if head & HEAD_NAMED != 0 {
            let name: &'de str = seq
                .next_element()?
                .ok_or_else(|| self.cx.refuse("message cut short"))?;
            self.cx.charge(cost::string_cost(name))?;
            if self.relation.as_deref() != Some(name) {
                *self.relation = Some(Arc::from(name));
            }
        }
        let derivation = if head & HEAD_DERIVATION != 0 {
            let bytes: [u8; REFERENCE_BYTES] = seq
                .next_element()?
                .ok_or_else(|| self.cx.refuse("message cut short"))?;
            let mut id = [0; 8];
            id[..REFERENCE_BYTES].copy_from_slice(&bytes);
            let id = NonZeroU64::new(u64::from_le_bytes(id))
                .ok_or_else(|| self.cx.refuse("a derivation reference of 0"))?;
            Some(id)
        } else {
            None
        };
        let Some(relation) = self.relation.clone() else {
            return Err(self
                .cx
                .refuse("the frame's first message names no relation"));
        };
        let tuple = seq
            .next_element_seed(ValuesSeed {
                cx: &mut *self.cx,
                depth: 0,
            })?
            .ok_or_else(|| self.cx.refuse("message cut short"))?;
        Ok(WireMessage {
            relation,
            tuple,
            delete: head & HEAD_DELETE != 0,
            derivation,
        })
    }
}

/// A sequence of values: a tuple (depth 0) or a list's items.
struct ValuesSeed<'a, 'de> {
    cx: &'a mut Context<'de>,
    /// Lists around these values.
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_, 'de> {
    type Value = Arc<[Value]>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Arc<[Value]>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_, 'de> {
    type Value = Arc<[Value]>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence of values")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arc<[Value]>, A::Error> {
        // Built in `cx.values` (nested lists above their parent's items),
        // then moved into the sequence's one allocation.
        let cx = self.cx;
        let start = cx.values.len();
        // postcard gives no hint when the length exceeds the bytes left.
        let Some(n) = seq.size_hint() else {
            return Err(cx.refuse("sequence longer than the frame"));
        };
        for i in 0..n {
            let v = seq
                .next_element_seed(ValueSeed {
                    cx: &mut *cx,
                    depth: self.depth,
                    field: (self.depth == 0).then_some(i),
                })?
                .ok_or_else(|| cx.refuse("sequence cut short"))?;
            cx.values.push(v);
        }
        Ok(cx.values.drain(start..).collect())
    }
}

struct ValueSeed<'a, 'de> {
    cx: &'a mut Context<'de>,
    /// Lists around this value.
    depth: usize,
    /// Its position in a tuple, if it is a tuple's field.
    field: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, 'de> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_enum("Value", &[], self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, 'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        self.cx.charge(cost::VALUE)?;
        let (which, v): (u32, _) = data.variant()?;
        Ok(match which {
            tag::NULL => {
                v.unit_variant()?;
                Value::Null
            }
            tag::BOOL => Value::Bool(v.newtype_variant()?),
            tag::INT => Value::Int(v.newtype_variant()?),
            tag::FLOAT => Value::Float(v.newtype_variant()?),
            tag::STR => Value::Str(v.newtype_variant_seed(StrSeed {
                cx: self.cx,
                field: self.field,
            })?),
            tag::ID => Value::Id(v.newtype_variant_seed(IdSeed(self.cx))?),
            tag::LIST => {
                if self.depth >= MAX_DEPTH {
                    return Err(self.cx.refuse("lists nested too deeply"));
                }
                self.cx.charge(ARC_HEADER)?;
                Value::List(v.newtype_variant_seed(ValuesSeed {
                    cx: self.cx,
                    depth: self.depth + 1,
                })?)
            }
            _ => return Err(self.cx.refuse("unknown value tag")),
        })
    }
}

/// A string, read as its bytes (the same encoding in postcard) so that a
/// remembered one need not be checked for UTF-8 again.
struct StrSeed<'a, 'de> {
    cx: &'a mut Context<'de>,
    field: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for StrSeed<'_, 'de> {
    type Value = Arc<str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Arc<str>, D::Error> {
        d.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for StrSeed<'_, 'de> {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, bytes: &'de [u8]) -> Result<Arc<str>, E> {
        self.cx.charge(ARC_HEADER + bytes.len())?;
        self.cx.string(bytes, self.field)
    }
}

struct IdSeed<'a, 'de>(&'a mut Context<'de>);

impl<'de> DeserializeSeed<'de> for IdSeed<'_, 'de> {
    type Value = Id;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Id, D::Error> {
        d.deserialize_tuple(20, self)
    }
}

impl<'de> Visitor<'de> for IdSeed<'_, 'de> {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an ID")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Id, A::Error> {
        let mut bytes = [0u8; 20];
        for b in &mut bytes {
            *b = seq
                .next_element()?
                .ok_or_else(|| self.0.refuse("an ID cut short"))?;
        }
        Ok(Id::from_be_bytes(bytes))
    }
}
