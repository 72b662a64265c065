//! The Trellis wire format. One frame carries the tuples one node sends
//! another in one tick:
//!
//! ```text
//! "TRLS" | version (1 byte) | flags (1 byte) | CRC32C of the rest (4 bytes, LE)
//!        | body (postcard: sender, messages) | [HMAC-SHA256 tag, 32 bytes]
//! ```
//!
//! The CRC catches corruption; the tag (present when the cluster has a key)
//! proves the frame came from a member of this cluster. Values are encoded
//! flat (a list is a length followed by its elements) and rebuilt with an
//! explicit stack, so no frame, however crafted, can recurse deeply.

use std::borrow::Cow;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use trellis_value::{Id, Value};

pub const MAGIC: &[u8; 4] = b"TRLS";
pub const VERSION: u8 = 1;
const HEADER: usize = 10;
const TAG: usize = 32;
const FLAG_TAGGED: u8 = 1;
/// Frames above this size are refused, whatever the transport.
pub const MAX_FRAME: usize = 4 << 20;
/// Lists nest at most this deep on the wire.
pub const MAX_DEPTH: usize = 32;

/// One tuple on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct WireMessage {
    pub relation: Arc<str>,
    pub tuple: Arc<[Value]>,
    pub delete: bool,
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub sender: Arc<str>,
    pub messages: Vec<WireMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {0} bytes is shorter than a header")]
    TooShort(usize),
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not a Trellis frame (bad magic)")]
    BadMagic,
    #[error("unsupported wire version {0} (this node speaks {VERSION})")]
    BadVersion(u8),
    #[error("checksum mismatch: the frame was corrupted")]
    BadChecksum,
    #[error("frame has no authentication tag, and this cluster requires one")]
    MissingTag,
    #[error("authentication tag is invalid: wrong cluster key or tampered frame")]
    BadTag,
    #[error("frame is authenticated, but this node has no cluster key")]
    UnexpectedTag,
    #[error("malformed frame body: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("malformed value: {0}")]
    BadValue(&'static str),
}

/// A cluster key for HMAC-SHA256 frame tags.
#[derive(Clone)]
pub struct ClusterKey(Vec<u8>);

impl ClusterKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> ClusterKey {
        ClusterKey(bytes.into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

#[derive(Serialize, Deserialize)]
enum Flat<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(#[serde(borrow)] Cow<'a, str>),
    Id([u8; 20]),
    List(u32),
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    relation: Cow<'a, str>,
    delete: bool,
    #[serde(borrow)]
    fields: Vec<Flat<'a>>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    sender: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<Message<'a>>,
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<Flat<'a>>) {
    out.push(match v {
        Value::Null => Flat::Null,
        Value::Bool(b) => Flat::Bool(*b),
        Value::Int(i) => Flat::Int(*i),
        Value::Float(f) => Flat::Float(*f),
        Value::Str(s) => Flat::Str(Cow::Borrowed(s)),
        Value::Id(id) => Flat::Id(id.0.to_be_bytes::<20>()),
        Value::List(items) => {
            out.push(Flat::List(items.len() as u32));
            for item in items.iter() {
                flatten(item, out);
            }
            return;
        }
    });
}

/// A value that is not a list.
fn scalar(f: &Flat) -> Value {
    match f {
        Flat::Null => Value::Null,
        Flat::Bool(b) => Value::Bool(*b),
        Flat::Int(i) => Value::Int(*i),
        Flat::Float(x) => Value::Float(*x),
        Flat::Str(s) => Value::Str(Arc::from(&**s)),
        Flat::Id(bytes) => Value::Id(Id::from_be_bytes(*bytes)),
        Flat::List(_) => unreachable!("lists are rebuilt by `unflatten`"),
    }
}

/// A tuple from its flat fields: built in place when it holds no list (the
/// common case), else rebuilt with an explicit stack.
fn tuple(fields: &[Flat]) -> Result<Arc<[Value]>, WireError> {
    if fields.iter().any(|f| matches!(f, Flat::List(_))) {
        return Ok(unflatten(fields)?.into());
    }
    Ok(fields.iter().map(scalar).collect())
}

/// Rebuild the top-level values from flat fields, iteratively.
fn unflatten(fields: &[Flat]) -> Result<Vec<Value>, WireError> {
    // Each open list: its expected length and the values so far.
    let mut stack: Vec<(usize, Vec<Value>)> = vec![(usize::MAX, Vec::new())];
    for f in fields {
        let v = match f {
            Flat::List(n) => {
                if stack.len() > MAX_DEPTH {
                    return Err(WireError::BadValue("lists nested too deeply"));
                }
                if *n as usize > fields.len() {
                    return Err(WireError::BadValue("list longer than the frame"));
                }
                stack.push((*n as usize, Vec::with_capacity(*n as usize)));
                if *n > 0 {
                    continue;
                }
                let (_, items) = stack.pop().expect("just pushed");
                Value::List(items.into())
            }
            scalar_field => scalar(scalar_field),
        };
        let mut v = v;
        loop {
            let top = stack.last_mut().expect("the root is never popped");
            top.1.push(v);
            if top.1.len() < top.0 || stack.len() == 1 {
                break;
            }
            let (_, items) = stack.pop().expect("not the root");
            v = Value::List(items.into());
        }
    }
    if stack.len() != 1 {
        return Err(WireError::BadValue("list cut short"));
    }
    Ok(stack.pop().expect("the root").1)
}

/// The body of one message, as [`Message`] would serialize, from borrowed
/// fields (`fields` is scratch space, reused across messages).
#[derive(Serialize)]
struct MessageOut<'a> {
    relation: &'a str,
    delete: bool,
    fields: &'a [Flat<'a>],
}

fn write_message<'a>(m: &'a WireMessage, fields: &mut Vec<Flat<'a>>, out: Vec<u8>) -> Vec<u8> {
    fields.clear();
    for v in m.tuple.iter() {
        flatten(v, fields);
    }
    let message = MessageOut {
        relation: &m.relation,
        delete: m.delete,
        fields,
    };
    postcard::to_extend(&message, out).expect("encoding into a Vec cannot fail")
}

/// Messages encoded one after another, each remembered by where it ends,
/// so that a batch can be cut into frames without encoding anything twice.
#[derive(Debug, Default)]
pub struct EncodedMessages {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EncodedMessages {
    /// Encode `messages` (replacing what was here).
    pub fn encode(&mut self, messages: &[WireMessage]) {
        self.bytes.clear();
        self.ends.clear();
        let mut fields = Vec::new();
        for m in messages {
            self.bytes = write_message(m, &mut fields, std::mem::take(&mut self.bytes));
            self.ends.push(self.bytes.len());
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Where message `i`'s bytes start.
    #[inline]
    fn start(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.ends[i - 1] }
    }

    /// The bytes messages `range` take in a frame body.
    #[inline]
    pub fn body_len(&self, range: std::ops::Range<usize>) -> usize {
        if range.is_empty() {
            return 0;
        }
        self.ends[range.end - 1] - self.start(range.start)
    }

    /// The frame holding messages `range`.
    pub fn frame(
        &self,
        sender: &str,
        range: std::ops::Range<usize>,
        key: Option<&ClusterKey>,
    ) -> Vec<u8> {
        let body = if range.is_empty() {
            &[][..]
        } else {
            &self.bytes[self.start(range.start)..self.ends[range.end - 1]]
        };
        frame(sender, range.len(), body, key)
    }
}

/// A frame around `count` messages already encoded into `body`. (A body
/// is the sender and then the messages as a sequence: postcard writes the
/// sequence's length and then each message, so messages encoded one by
/// one concatenate into exactly the bytes of the whole body.)
fn frame(sender: &str, count: usize, body: &[u8], key: Option<&ClusterKey>) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame_overhead(sender, count, key.is_some()) + body.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(if key.is_some() { FLAG_TAGGED } else { 0 });
    out.extend_from_slice(&[0; 4]);
    let mut out =
        postcard::to_extend(&(sender, count as u64), out).expect("encoding into a Vec cannot fail");
    out.extend_from_slice(body);
    if let Some(key) = key {
        let mut mac = key.mac();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
    }
    let crc = crc32c::crc32c(&out[HEADER..]);
    out[6..10].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Encode one frame.
pub fn encode(sender: &str, messages: &[WireMessage], key: Option<&ClusterKey>) -> Vec<u8> {
    let mut encoded = EncodedMessages::default();
    encoded.encode(messages);
    encoded.frame(sender, 0..encoded.len(), key)
}

/// The encoded size of a frame, without keeping the bytes.
pub fn encoded_len(sender: &str, messages: &[WireMessage], key: Option<&ClusterKey>) -> usize {
    let mut sizer = Sizer::default();
    let body: usize = messages.iter().map(|m| sizer.message_len(m)).sum();
    frame_overhead(sender, messages.len(), key.is_some()) + body
}

/// The bytes of a LEB128 varint, as postcard writes lengths and counts.
#[inline]
fn varint_len(n: usize) -> usize {
    let bits = (usize::BITS - n.leading_zeros()) as usize;
    bits.div_ceil(7).max(1)
}

/// What a frame from `sender` holding `count` messages takes besides the
/// messages themselves: header, sender, count and tag.
#[inline]
pub fn frame_overhead(sender: &str, count: usize, tagged: bool) -> usize {
    HEADER
        + varint_len(sender.len())
        + sender.len()
        + varint_len(count)
        + if tagged { TAG } else { 0 }
}

/// Sizes of messages exactly as [`encode`] would write them, with one
/// reusable buffer (the simulator's bandwidth accounting).
#[derive(Debug, Default)]
pub struct Sizer {
    scratch: Vec<u8>,
}

impl Sizer {
    /// Bytes one message takes in a frame body.
    pub fn message_len(&mut self, m: &WireMessage) -> usize {
        self.scratch.clear();
        let out = write_message(m, &mut Vec::new(), std::mem::take(&mut self.scratch));
        let len = out.len();
        self.scratch = out;
        len
    }
}

/// Decode and check one frame.
pub fn decode(bytes: &[u8], key: Option<&ClusterKey>) -> Result<Frame, WireError> {
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
    let crc = u32::from_le_bytes(bytes[6..10].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[HEADER..]) != crc {
        return Err(WireError::BadChecksum);
    }
    let tagged = bytes[5] & FLAG_TAGGED != 0;
    let body = match (key, tagged) {
        (Some(_), false) => return Err(WireError::MissingTag),
        (None, true) => return Err(WireError::UnexpectedTag),
        (None, false) => &bytes[HEADER..],
        (Some(key), true) => {
            if bytes.len() < HEADER + TAG {
                return Err(WireError::TooShort(bytes.len()));
            }
            let (signed, tag) = bytes.split_at(bytes.len() - TAG);
            let mut mac = key.mac();
            // The tag was computed with the checksum field zeroed.
            mac.update(&signed[..6]);
            mac.update(&[0; 4]);
            mac.update(&signed[HEADER..]);
            mac.verify_slice(tag).map_err(|_| WireError::BadTag)?;
            &signed[HEADER..]
        }
    };
    let body: Body = postcard::from_bytes(body)?;
    // Consecutive messages mostly share a relation: share its name too.
    let mut last: Option<Arc<str>> = None;
    let messages = body
        .messages
        .iter()
        .map(|m| {
            let relation = match &last {
                Some(name) if **name == *m.relation => name.clone(),
                _ => last.insert(Arc::from(&*m.relation)).clone(),
            };
            Ok(WireMessage {
                relation,
                tuple: tuple(&m.fields)?,
                delete: m.delete,
            })
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    Ok(Frame {
        sender: Arc::from(&*body.sender),
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<WireMessage> {
        vec![
            WireMessage {
                relation: "succ".into(),
                tuple: vec![
                    Value::str("127.0.0.1:1"),
                    Value::Id(Id::MAX),
                    Value::Int(-5),
                    Value::Float(0.5),
                    Value::Null,
                    Value::Bool(true),
                    Value::List(
                        vec![Value::Int(1), Value::List(vec![].into()), Value::str("x")].into(),
                    ),
                ]
                .into(),
                delete: false,
            },
            WireMessage {
                relation: "gone".into(),
                tuple: vec![Value::str("a")].into(),
                delete: true,
            },
        ]
    }

    #[test]
    fn round_trip_plain_and_keyed() {
        let key = ClusterKey::new(b"secret".to_vec());
        for k in [None, Some(&key)] {
            let bytes = encode("127.0.0.1:9", &sample(), k);
            let frame = decode(&bytes, k).unwrap();
            assert_eq!(&*frame.sender, "127.0.0.1:9");
            assert_eq!(frame.messages, sample());
            assert_eq!(encoded_len("127.0.0.1:9", &sample(), k), bytes.len());
            assert_eq!(
                encoded_len("127.0.0.1:9", &[], k),
                encode("127.0.0.1:9", &[], k).len()
            );
        }
    }

    #[test]
    fn sizes_and_cuts_match_the_encoding() {
        // Counts and a sender long enough for multi-byte varints.
        let sender = "s".repeat(200);
        let many: Vec<WireMessage> = (0..300).flat_map(|_| sample()).collect();
        let bytes = encode(&sender, &many, None);
        assert_eq!(encoded_len(&sender, &many, None), bytes.len());
        assert_eq!(decode(&bytes, None).unwrap().messages, many);
        let mut encoded = EncodedMessages::default();
        encoded.encode(&many);
        let cut = encoded.frame(&sender, 10..250, None);
        assert_eq!(decode(&cut, None).unwrap().messages, many[10..250]);
        assert_eq!(
            cut.len(),
            frame_overhead(&sender, 240, false) + encoded.body_len(10..250)
        );
    }

    #[test]
    fn rejects_bad_frames() {
        let key = ClusterKey::new(b"secret".to_vec());
        let other = ClusterKey::new(b"other".to_vec());
        let plain = encode("a", &sample(), None);
        let keyed = encode("a", &sample(), Some(&key));
        assert_eq!(decode(&plain[..5], None), Err(WireError::TooShort(5)));
        assert_eq!(decode(b"XXXXXXXXXXXX", None), Err(WireError::BadMagic));
        let mut flipped = plain.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode(&flipped, None), Err(WireError::BadChecksum));
        assert_eq!(decode(&plain, Some(&key)), Err(WireError::MissingTag));
        assert_eq!(decode(&keyed, None), Err(WireError::UnexpectedTag));
        assert_eq!(decode(&keyed, Some(&other)), Err(WireError::BadTag));
        let mut version = plain.clone();
        version[4] = 9;
        assert_eq!(decode(&version, None), Err(WireError::BadVersion(9)));
    }

    #[test]
    fn deep_lists_are_refused_not_recursed() {
        let mut v = Value::Int(0);
        for _ in 0..(MAX_DEPTH + 5) {
            v = Value::List(vec![v].into());
        }
        let m = WireMessage {
            relation: "r".into(),
            tuple: vec![v].into(),
            delete: false,
        };
        let bytes = encode("a", &[m], None);
        assert!(matches!(decode(&bytes, None), Err(WireError::BadValue(_))));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode(&bytes, None);
            let mut framed = encode("a", &sample(), None);
            framed.truncate(HEADER);
            framed.extend_from_slice(&bytes);
            let crc = crc32c::crc32c(&framed[HEADER..]);
            framed[6..10].copy_from_slice(&crc.to_le_bytes());
            let _ = decode(&framed, None);
        }
    }
}
