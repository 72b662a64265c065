//! Writing frames: messages are serialized straight into the frame they go
//! in, and a frame is cut when the next message would take it past the
//! transport's limit.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use hmac::Mac;
use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeTuple, Serializer};
use trellis_value::Value;

use crate::cost::{self, DecodeLimits};
use crate::{
    CRC, FLAG_TAGGED, HEAD_DELETE, HEAD_DERIVATION, HEAD_NAMED, MAGIC, REFERENCE_BYTES, Signing,
    TAG, VERSION, WireMessage, tag,
};

/// A finished frame and how many messages it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedFrame {
    pub bytes: Vec<u8>,
    pub messages: usize,
}

/// A message that does not fit in a frame of the encoder's limit even
/// alone: the size that frame would have had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversize {
    pub bytes: usize,
}

/// Builds the frames one sender sends, one destination at a time
/// ([`Encoder::address`]).
pub struct Encoder {
    sender: String,
    signing: Option<Signing>,
    /// Where the next frames go.
    destination: Option<Arc<str>>,
    /// Signed frames: per destination, its stream's epoch and next
    /// sequence number.
    streams: HashMap<Arc<str>, (u64, u64)>,
    /// The epoch the next new stream takes.
    next_epoch: u64,
    limit: usize,
    /// What a receiver may decode of one frame: frames are cut there too.
    decode: DecodeLimits,
    /// The frame being filled; empty between frames.
    buf: Vec<u8>,
    count: u32,
    /// The frame's decoded size so far, by [`cost::message_cost`].
    decoded: usize,
    /// The relation of the frame's last message.
    run: Option<Arc<str>>,
    /// The largest frame so far: a good first capacity for the next.
    capacity: usize,
    /// Buffers of sent frames, for the next frames.
    spare: Vec<Vec<u8>>,
}

/// Sent frames' buffers kept for reuse.
const SPARE_BUFFERS: usize = 8;
/// Destinations whose stream a signing encoder remembers; when it must
/// forget them, each starts a new stream (a new epoch) at its next frame,
/// which its receiver takes as the sender starting afresh.
const STREAMS: usize = 65_536;

impl Encoder {
    /// `limit`: the largest frame, tag included, in bytes. Frames are also
    /// cut within a receiver's default [`DecodeLimits`]. With `signing`,
    /// frames are authenticated and carry their session.
    pub fn new(sender: &str, signing: Option<Signing>, limit: usize) -> Encoder {
        Encoder {
            sender: sender.to_string(),
            next_epoch: signing.as_ref().map_or(0, |s| s.first_epoch),
            signing,
            destination: None,
            streams: HashMap::new(),
            limit,
            decode: DecodeLimits::default(),
            buf: Vec::new(),
            count: 0,
            decoded: 0,
            run: None,
            capacity: 1024,
            spare: Vec::new(),
        }
    }

    /// Give back a sent frame's buffer: the next frame is written into it
    /// (a busy sender then allocates no frame buffers at all).
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && buf.capacity() <= 2 * self.capacity.min(self.limit) {
            buf.clear();
            self.spare.push(buf);
        }
    }

    fn tag_len(&self) -> usize {
        if self.signing.is_some() { TAG } else { 0 }
    }

    /// The frames that follow are for `destination` (the frame being
    /// filled must have been finished).
    pub fn address(&mut self, destination: &Arc<str>) {
        debug_assert!(
            self.buf.is_empty(),
            "a frame for the last destination is open"
        );
        self.destination = Some(destination.clone());
    }

    fn begin(&mut self) {
        self.buf = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity.min(self.limit)));
        self.buf.extend_from_slice(MAGIC);
        self.buf.push(VERSION);
        self.buf.push(if self.signing.is_some() {
            FLAG_TAGGED
        } else {
            0
        });
        self.buf.extend_from_slice(&[0; 4]); // the checksum, at the end
        append(&mut self.buf, self.sender.as_str());
        if let Some(signing) = &self.signing {
            let destination = self
                .destination
                .as_ref()
                .expect("a signed frame's destination is set first");
            if !self.streams.contains_key(destination) && self.streams.len() >= STREAMS {
                self.streams.clear();
            }
            let (epoch, next) = self.streams.entry(destination.clone()).or_insert_with(|| {
                self.next_epoch += 1;
                (self.next_epoch - 1, 0)
            });
            let sequence = *next;
            *next += 1;
            append(
                &mut self.buf,
                &(&**destination, signing.stream, *epoch, sequence),
            );
        }
        self.count = 0;
        self.decoded = cost::string_cost(&self.sender);
        self.run = None;
    }

    /// Add one message; a frame it fills is finished into `done` first.
    /// Returns the bytes the message takes in its frame.
    pub fn push(
        &mut self,
        relation: &Arc<str>,
        tuple: &[Value],
        delete: bool,
        done: &mut Vec<EncodedFrame>,
    ) -> Result<usize, Oversize> {
        self.push_traced(relation, tuple, delete, None, done)
    }

    /// [`Encoder::push`], with the sender's derivation of the tuple.
    pub fn push_traced(
        &mut self,
        relation: &Arc<str>,
        tuple: &[Value],
        delete: bool,
        derivation: Option<u64>,
        done: &mut Vec<EncodedFrame>,
    ) -> Result<usize, Oversize> {
        let m = Message {
            tuple,
            delete,
            derivation,
        };
        if self.buf.is_empty() {
            self.begin();
        }
        if let Some(bytes) = self.try_write(relation, &m) {
            return Ok(bytes);
        }
        if self.count == 0 {
            return Err(self.oversize(relation, &m));
        }
        self.finish(done);
        self.begin();
        self.try_write(relation, &m)
            .ok_or_else(|| self.oversize(relation, &m))
    }

    /// Write the message if the frame still fits the limits with it; the
    /// bytes it took.
    fn try_write(&mut self, relation: &Arc<str>, m: &Message) -> Option<usize> {
        let mark = self.buf.len();
        // Callers share one name per relation: compare pointers first
        // (`Arc`'s `==` compares bytes).
        let named = !self
            .run
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, relation) || r == relation);
        let decoded = cost::message_cost(named.then_some(&**relation), m.tuple);
        if self.count as usize >= self.decode.messages
            || self.decoded + decoded > self.decode.decoded_bytes
        {
            return None;
        }
        write_message(&mut self.buf, named.then_some(relation), m);
        if self.buf.len() + self.tag_len() > self.limit {
            self.buf.truncate(mark);
            return None;
        }
        if named {
            self.run = Some(relation.clone());
        }
        self.count += 1;
        self.decoded += decoded;
        Some(self.buf.len() - mark)
    }

    /// The size of a frame holding only this message (which did not fit).
    fn oversize(&mut self, relation: &str, m: &Message) -> Oversize {
        let mark = self.buf.len();
        write_message(&mut self.buf, Some(relation), m);
        let bytes = self.buf.len() + self.tag_len();
        self.buf.truncate(mark);
        Oversize { bytes }
    }

    /// Finish the frame being filled, if it holds any message.
    pub fn finish(&mut self, done: &mut Vec<EncodedFrame>) {
        if self.count > 0 {
            done.push(self.seal());
        }
        self.buf.clear();
    }

    /// Tag and checksum: the frame is complete.
    fn seal(&mut self) -> EncodedFrame {
        let mut bytes = std::mem::take(&mut self.buf);
        if let Some(signing) = &self.signing {
            // Computed with the checksum field zeroed (it still is).
            let mut mac = signing.key.mac();
            mac.update(&bytes);
            bytes.extend_from_slice(&mac.finalize().into_bytes());
        }
        let crc = crc32c::crc32c(&bytes[CRC.end..]);
        bytes[CRC].copy_from_slice(&crc.to_le_bytes());
        self.capacity = self.capacity.max(bytes.len());
        EncodedFrame {
            bytes,
            messages: std::mem::replace(&mut self.count, 0) as usize,
        }
    }
}

/// Encode one frame of any size for `destination` (the decoder still
/// refuses frames over [`crate::MAX_FRAME`] or its [`DecodeLimits`]);
/// signed, it is the first frame of its stream.
pub fn encode(
    sender: &str,
    destination: &str,
    messages: &[WireMessage],
    signing: Option<&Signing>,
) -> Vec<u8> {
    let mut encoder = Encoder::new(sender, signing.cloned(), usize::MAX);
    encoder.decode = DecodeLimits {
        messages: usize::MAX,
        decoded_bytes: usize::MAX,
    };
    let mut done = Vec::new();
    encoder.address(&Arc::from(destination));
    encoder.begin();
    for m in messages {
        encoder
            .push_traced(
                &m.relation,
                &m.tuple,
                m.delete,
                m.derivation.map(NonZeroU64::get),
                &mut done,
            )
            .expect("no limit");
    }
    encoder.seal().bytes
}

/// Append a tuple's values as a frame carries them (for hashing tuples in
/// a specified encoding).
pub fn encode_tuple(buf: &mut Vec<u8>, tuple: &[Value]) {
    append(buf, &Values(tuple));
}

/// postcard output appended to a `Vec` the caller keeps.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

fn append(buf: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    postcard::serialize_with_flavor(value, Append(buf)).expect("writing into a Vec cannot fail");
}

/// A message's content, but for its relation.
struct Message<'a> {
    tuple: &'a [Value],
    delete: bool,
    derivation: Option<u64>,
}

fn write_message(buf: &mut Vec<u8>, name: Option<&str>, m: &Message) {
    let head = if m.delete { HEAD_DELETE } else { 0 }
        | if name.is_some() { HEAD_NAMED } else { 0 }
        | if m.derivation.is_some() {
            HEAD_DERIVATION
        } else {
            0
        };
    let out = MessageOut {
        head,
        name,
        derivation: m.derivation,
        tuple: m.tuple,
    };
    append(buf, &out);
}

struct MessageOut<'a> {
    head: u8,
    name: Option<&'a str>,
    derivation: Option<u64>,
    tuple: &'a [Value],
}

impl Serialize for MessageOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A postcard tuple has no length: the head says what follows.
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(&self.head)?;
        if let Some(name) = self.name {
            t.serialize_element(name)?;
        }
        if let Some(d) = self.derivation {
            debug_assert!(d >> (8 * REFERENCE_BYTES) == 0, "a 48-bit reference");
            let bytes: [u8; REFERENCE_BYTES] = d.to_le_bytes()[..REFERENCE_BYTES]
                .try_into()
                .expect("the low bytes");
            t.serialize_element(&bytes)?;
        }
        t.serialize_element(&Values(self.tuple))?;
        t.end()
    }
}

struct Values<'a>(&'a [Value]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&WireValue(v))?;
        }
        seq.end()
    }
}

struct WireValue<'a>(&'a Value);

impl Serialize for WireValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const NAME: &str = "Value";
        match self.0 {
            Value::Null => s.serialize_unit_variant(NAME, tag::NULL, "Null"),
            Value::Bool(b) => s.serialize_newtype_variant(NAME, tag::BOOL, "Bool", b),
            Value::Int(i) => s.serialize_newtype_variant(NAME, tag::INT, "Int", i),
            Value::Float(x) => s.serialize_newtype_variant(NAME, tag::FLOAT, "Float", x),
            Value::Str(x) => s.serialize_newtype_variant(NAME, tag::STR, "Str", &**x),
            // 20 big-endian bytes, no length: postcard writes an array as
            // its elements.
            Value::Id(id) => {
                s.serialize_newtype_variant(NAME, tag::ID, "Id", &id.0.to_be_bytes::<20>())
            }
            Value::List(items) => {
                s.serialize_newtype_variant(NAME, tag::LIST, "List", &Values(items))
            }
        }
    }
}
