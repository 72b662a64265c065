//! What a frame costs a receiver once decoded, measured the same way by the
//! encoder (which cuts frames so a receiver's default bounds never refuse
//! them) and the decoder (which refuses a frame as soon as it passes them).
//! A frame of many small messages decodes to far more memory than it takes
//! on the wire (an empty message: 2 bytes in, over 50 out), so a receiver
//! bounds the decoded size, not only the bytes.

use trellis_value::Value;

use crate::WireMessage;

/// A frame holds at most this many messages (the encoder cuts there).
pub const MAX_MESSAGES: usize = 1 << 16;
/// A frame decodes to at most this many bytes, by [`message_cost`] (the
/// encoder cuts there).
pub const MAX_DECODED: usize = 16 << 20;

/// A decoded message: its slot in the frame's vector and its tuple's
/// allocation header.
pub(crate) const MESSAGE: usize = std::mem::size_of::<WireMessage>() + ARC_HEADER;
/// One value, wherever it sits (a tuple's or a list's slot).
pub(crate) const VALUE: usize = std::mem::size_of::<Value>();
/// A shared allocation's reference counts.
pub(crate) const ARC_HEADER: usize = 16;

/// How much memory a receiver may spend on one frame's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Messages in one frame.
    pub messages: usize,
    /// Decoded bytes of one frame, by [`message_cost`].
    pub decoded_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> DecodeLimits {
        DecodeLimits {
            messages: MAX_MESSAGES,
            decoded_bytes: MAX_DECODED,
        }
    }
}

/// The decoded bytes a message is charged: the message, each value, each
/// string's and list's allocation, and the relation's name when the
/// message carries it. An upper bound (short strings are shared when
/// decoded, but charged each time).
pub fn message_cost(named: Option<&str>, tuple: &[Value]) -> usize {
    MESSAGE + named.map_or(0, string_cost) + tuple.iter().map(value_cost).sum::<usize>()
}

pub(crate) fn string_cost(s: &str) -> usize {
    ARC_HEADER + s.len()
}

fn value_cost(v: &Value) -> usize {
    VALUE
        + match v {
            Value::Str(s) => string_cost(s),
            Value::List(items) => ARC_HEADER + items.iter().map(value_cost).sum::<usize>(),
            _ => 0,
        }
}
