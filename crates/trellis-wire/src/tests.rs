use super::*;
use trellis_value::Id;

/// A sender's signing with `key`, stream 0, epochs from 100.
fn signing(key: &ClusterKey) -> Signing {
    Signing {
        key: key.clone(),
        stream: 0,
        first_epoch: 100,
    }
}

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
            derivation: None,
        },
        WireMessage {
            relation: "gone".into(),
            tuple: vec![Value::str("a")].into(),
            delete: true,
            derivation: None,
        },
        WireMessage {
            relation: "gone".into(),
            tuple: vec![Value::str("b")].into(),
            delete: false,
            derivation: None,
        },
    ]
}

#[test]
fn a_derivation_reference_takes_six_bytes_and_round_trips() {
    let plain_message = sample().remove(2);
    let mut m = WireMessage {
        derivation: NonZeroU64::new(0xbeef_0000_1234),
        ..plain_message.clone()
    };
    let plain = encode("s", "d", &[plain_message], None);
    let traced = encode("s", "d", std::slice::from_ref(&m), None);
    assert_eq!(traced.len(), plain.len() + REFERENCE_BYTES);
    assert_eq!(decode(&traced, None).unwrap().messages, [m.clone()]);
    // The highest 48-bit ID, and a frame cut inside its reference.
    m.derivation = NonZeroU64::new((1 << 48) - 1);
    let traced = encode("s", "d", std::slice::from_ref(&m), None);
    assert_eq!(decode(&traced, None).unwrap().messages, [m]);
    let crc = crc32c::crc32c(&traced[HEADER..traced.len() - 3]);
    let mut cut = traced[..traced.len() - 3].to_vec();
    cut[CRC].copy_from_slice(&crc.to_le_bytes());
    assert!(decode(&cut, None).is_err());
}

/// Every frame an encoder with `limit` makes of `messages`, and the
/// messages it refused.
fn cut(
    messages: &[WireMessage],
    key: Option<&ClusterKey>,
    limit: usize,
) -> (Vec<EncodedFrame>, Vec<(usize, Oversize)>) {
    let (frames, refused, _) = cut_sized(messages, key, limit);
    (frames, refused)
}

/// [`cut`], with the size the encoder reported for each message taken.
fn cut_sized(
    messages: &[WireMessage],
    key: Option<&ClusterKey>,
    limit: usize,
) -> (Vec<EncodedFrame>, Vec<(usize, Oversize)>, Vec<usize>) {
    let mut encoder = Encoder::new("me:1", key.map(signing), limit);
    encoder.address(&Arc::from("to:1"));
    let mut frames = Vec::new();
    let mut refused = Vec::new();
    let mut sizes = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match encoder.push(&m.relation, &m.tuple, m.delete, &mut frames) {
            Ok(bytes) => sizes.push(bytes),
            Err(o) => refused.push((i, o)),
        }
    }
    encoder.finish(&mut frames);
    (frames, refused, sizes)
}

#[test]
fn round_trip_plain_and_keyed() {
    let key = ClusterKey::new(b"secret".to_vec());
    let signed = signing(&key);
    for (k, s) in [(None, None), (Some(&key), Some(&signed))] {
        let bytes = encode("127.0.0.1:9", "to:1", &sample(), s);
        let frame = decode(&bytes, k).unwrap();
        assert_eq!(&*frame.sender, "127.0.0.1:9");
        assert_eq!(frame.messages, sample());
        let empty = decode(&encode("127.0.0.1:9", "to:1", &[], s), k).unwrap();
        assert!(empty.messages.is_empty());
    }
}

#[test]
fn a_run_names_its_relation_once() {
    let one = |n: usize| {
        let messages: Vec<WireMessage> = (0..n)
            .map(|i| WireMessage {
                relation: "a_long_relation_name".into(),
                tuple: vec![Value::Int(i as i64)].into(),
                delete: false,
                derivation: None,
            })
            .collect();
        encode("s", "to:1", &messages, None).len()
    };
    // Each further tuple costs its head, its length, a tag and a byte.
    assert_eq!(one(11) - one(10), 4);
    // Decoded, the run shares one name.
    let frame = decode(&encode("s", "to:1", &sample(), None), None).unwrap();
    assert!(Arc::ptr_eq(
        &frame.messages[1].relation,
        &frame.messages[2].relation
    ));
}

#[test]
fn repeated_strings_are_shared_when_decoded() {
    let messages: Vec<WireMessage> = (0..3)
        .map(|i| WireMessage {
            relation: "r".into(),
            tuple: vec![Value::str("10.0.0.1:7"), Value::Int(i)].into(),
            delete: false,
            derivation: None,
        })
        .collect();
    let frame = decode(&encode("10.0.0.1:7", "to:1", &messages, None), None).unwrap();
    let Value::Str(first) = &frame.messages[0].tuple[0] else {
        panic!("a string")
    };
    let Value::Str(third) = &frame.messages[2].tuple[0] else {
        panic!("a string")
    };
    assert!(Arc::ptr_eq(first, third));
    assert!(Arc::ptr_eq(first, &frame.sender));
}

#[test]
fn a_field_repeating_its_last_string_shares_it_however_long() {
    let long = "x".repeat(1_000);
    let messages: Vec<WireMessage> = [&long, &long, "short", &long]
        .iter()
        .map(|s| WireMessage {
            relation: "r".into(),
            tuple: vec![Value::str("a:1"), Value::str(s)].into(),
            delete: false,
            derivation: None,
        })
        .collect();
    let frame = decode(&encode("a:1", "to:1", &messages, None), None).unwrap();
    let field = |i: usize| match &frame.messages[i].tuple[1] {
        Value::Str(s) => s.clone(),
        _ => panic!("a string"),
    };
    assert!(Arc::ptr_eq(&field(0), &field(1)));
    assert_eq!(&*field(2), "short");
    // Only the last string of a field is remembered.
    assert!(!Arc::ptr_eq(&field(0), &field(3)));
    assert_eq!(field(3), field(0));
}

#[test]
fn a_string_that_is_not_utf8_is_refused() {
    // The second message's field differs from the first's remembered one
    // only in a byte made invalid UTF-8.
    let messages: Vec<WireMessage> = ["abc", "abd"]
        .iter()
        .map(|s| WireMessage {
            relation: "r".into(),
            tuple: vec![Value::str(s)].into(),
            delete: false,
            derivation: None,
        })
        .collect();
    let mut bytes = encode("a:1", "to:1", &messages, None);
    let last = bytes.len() - 1;
    assert_eq!(bytes[last], b'd');
    bytes[last] = 0xff;
    assert_eq!(
        decode(&resealed(bytes), None),
        Err(WireError::BadValue("a string is not UTF-8"))
    );
}

#[test]
fn frames_are_cut_at_the_limit_and_sizes_match() {
    let key = ClusterKey::new(b"secret".to_vec());
    let many: Vec<WireMessage> = (0..300).flat_map(|_| sample()).collect();
    for k in [None, Some(&key)] {
        let (frames, refused, sizes) = cut_sized(&many, k, 1_000);
        assert!(refused.is_empty());
        assert!(frames.len() > 10);
        let mut decoded = Vec::new();
        // A message that opens a frame names its relation: one more byte
        // than its size after the name's length and text.
        let largest = sizes.iter().max().copied().unwrap_or(0) + 1 + "succ".len();
        let mut sizes = sizes.into_iter();
        // What a frame takes besides its messages: header, sender, and
        // signed, the session (destination, stream, epoch 100, a sequence
        // number under 128) and the tag.
        let session = 1 + "to:1".len() + 1 + 1 + 1;
        let overhead = 10 + 1 + "me:1".len() + if k.is_some() { session + 32 } else { 0 };
        for f in &frames {
            assert!(f.bytes.len() <= 1_000, "{} bytes", f.bytes.len());
            let frame = decode(&f.bytes, k).unwrap();
            assert_eq!(frame.messages.len(), f.messages);
            // The sizes the encoder reported add up to the frame.
            let size = overhead + sizes.by_ref().take(f.messages).sum::<usize>();
            assert_eq!(size, f.bytes.len());
            decoded.extend(frame.messages);
        }
        assert_eq!(decoded, many);
        // Full frames: the next message would not have fit.
        for pair in frames.windows(2) {
            assert!(pair[0].bytes.len() + largest > 1_000);
        }
    }
}

#[test]
fn a_message_too_large_alone_is_refused_and_the_rest_go() {
    let mut messages = sample();
    messages.insert(
        1,
        WireMessage {
            relation: "big".into(),
            tuple: vec![Value::str(&"x".repeat(2_000))].into(),
            delete: false,
            derivation: None,
        },
    );
    let (frames, refused) = cut(&messages, None, 1_000);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, 1);
    assert!(refused[0].1.bytes > 2_000);
    let got: Vec<WireMessage> = frames
        .iter()
        .flat_map(|f| decode(&f.bytes, None).unwrap().messages)
        .collect();
    assert_eq!(got, sample());
}

#[test]
fn rejects_bad_frames() {
    let key = ClusterKey::new(b"secret".to_vec());
    let other = ClusterKey::new(b"other".to_vec());
    let plain = encode("a", "to:1", &sample(), None);
    let keyed = encode("a", "to:1", &sample(), Some(&signing(&key)));
    assert_eq!(decode(&plain[..5], None), Err(WireError::TooShort(5)));
    assert_eq!(decode(b"XXXXXXXXXXXXXXXX", None), Err(WireError::BadMagic));
    let mut flipped = plain.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(decode(&flipped, None), Err(WireError::BadChecksum));
    assert_eq!(decode(&plain, Some(&key)), Err(WireError::MissingTag));
    assert_eq!(decode(&keyed, None), Err(WireError::UnexpectedTag));
    assert_eq!(decode(&keyed, Some(&other)), Err(WireError::BadTag));
    let mut version = plain.clone();
    version[4] = 1;
    assert_eq!(decode(&version, None), Err(WireError::BadVersion(1)));
}

/// `frame` with its checksum made right again.
fn resealed(mut frame: Vec<u8>) -> Vec<u8> {
    let crc = crc32c::crc32c(&frame[CRC.end..]);
    frame[CRC].copy_from_slice(&crc.to_le_bytes());
    frame
}

#[test]
fn a_message_cut_short_is_refused() {
    let plain = encode("a", "to:1", &sample(), None);
    assert!(matches!(
        decode(&resealed(plain[..plain.len() - 1].to_vec()), None),
        Err(WireError::Malformed(_))
    ));
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
        derivation: None,
    };
    let bytes = encode("a", "to:1", &[m], None);
    assert_eq!(
        decode(&bytes, None),
        Err(WireError::BadValue("lists nested too deeply"))
    );
}

#[path = "../../../tests/support/fuzz_config.rs"]
mod fuzz_config;

proptest::proptest! {
    #![proptest_config(fuzz_config::fuzz_config(2000))]
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let _ = decode(&bytes, None);
        // Past the checksum, as a sender with a bug (not a network) would.
        let mut framed = encode("a", "to:1", &sample(), None);
        framed.truncate(HEADER);
        framed.extend_from_slice(&bytes);
        let _ = decode(&resealed(framed), None);
    }
}

#[test]
fn a_recycled_buffer_makes_the_same_frames() {
    let mut encoder = Encoder::new("me:1", None, 1_000);
    let mut frames = Vec::new();
    for m in &sample() {
        encoder
            .push(&m.relation, &m.tuple, m.delete, &mut frames)
            .unwrap();
    }
    encoder.finish(&mut frames);
    let first = frames.pop().unwrap();
    let expected = first.bytes.clone();
    // A buffer holding another frame's bytes is cleared before reuse.
    encoder.recycle(first.bytes);
    for m in &sample() {
        encoder
            .push(&m.relation, &m.tuple, m.delete, &mut frames)
            .unwrap();
    }
    encoder.finish(&mut frames);
    assert_eq!(frames.pop().unwrap().bytes, expected);
}

#[test]
fn decoding_into_a_vector_is_all_or_nothing() {
    let mut messages = Vec::new();
    let good = encode("a", "to:1", &sample(), None);
    assert_eq!(
        &*decode_into(&good, None, &mut messages).unwrap().sender,
        "a"
    );
    assert_eq!(messages, sample());
    // A frame whose last message is cut short leaves nothing behind.
    messages.clear();
    let cut = resealed(good[..good.len() - 1].to_vec());
    assert!(decode_into(&cut, None, &mut messages).is_err());
    assert!(messages.is_empty());
}

fn empty_messages(n: usize) -> Vec<WireMessage> {
    let m = WireMessage {
        relation: "e".into(),
        tuple: Vec::new().into(),
        delete: false,
        derivation: None,
    };
    vec![m; n]
}

/// The issue's amplification: 2 bytes on the wire per empty message, over
/// 50 decoded. The decoder stops at the limit instead of decoding it all.
#[test]
fn a_frame_of_too_many_messages_is_refused_whole() {
    let frame = encode("a", "b", &empty_messages(MAX_MESSAGES + 1), None);
    let mut messages = Vec::new();
    let mut strings = SharedStrings::default();
    let limits = DecodeLimits::default();
    let err = decode_limited(&frame, None, &mut messages, &mut strings, &limits).unwrap_err();
    assert_eq!(
        err,
        WireError::TooManyMessages {
            limit: MAX_MESSAGES
        }
    );
    assert!(messages.is_empty());
    let frame = encode("a", "b", &empty_messages(MAX_MESSAGES), None);
    let ok = decode_limited(&frame, None, &mut messages, &mut strings, &limits).unwrap();
    assert_eq!(messages.len(), MAX_MESSAGES);
    assert!(ok.decoded_bytes > 50 * MAX_MESSAGES);
}

#[test]
fn a_frame_over_its_decoded_size_is_refused_and_the_cost_adds_up() {
    let frame = encode("a", "b", &sample(), None);
    let mut messages = Vec::new();
    let mut strings = SharedStrings::default();
    let unbounded = DecodeLimits {
        messages: usize::MAX,
        decoded_bytes: usize::MAX,
    };
    let d = decode_limited(&frame, None, &mut messages, &mut strings, &unbounded).unwrap();
    // The encoder's measure and the decoder's agree: the sender's name,
    // then each message, named when its relation changes.
    let expected = 16
        + 1
        + message_cost(Some("succ"), &sample()[0].tuple)
        + message_cost(Some("gone"), &sample()[1].tuple)
        + message_cost(None, &sample()[2].tuple);
    assert_eq!(d.decoded_bytes, expected);
    messages.clear();
    let tight = DecodeLimits {
        messages: usize::MAX,
        decoded_bytes: expected - 1,
    };
    let err = decode_limited(&frame, None, &mut messages, &mut strings, &tight).unwrap_err();
    assert_eq!(
        err,
        WireError::TooLargeDecoded {
            limit: expected - 1
        }
    );
    assert!(messages.is_empty());
}

/// Senders never make frames a receiver's default limits refuse.
#[test]
fn frames_are_cut_within_the_decode_limits() {
    let (frames, refused) = cut(&empty_messages(MAX_MESSAGES + 10), None, MAX_FRAME);
    assert!(refused.is_empty());
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].messages, MAX_MESSAGES);
    // Many nulls: a small frame on the wire, a large one decoded.
    let nulls = WireMessage {
        relation: "n".into(),
        tuple: vec![Value::Null; 1000].into(),
        delete: false,
        derivation: None,
    };
    let many = vec![nulls; 1000];
    let (frames, refused) = cut(&many, None, MAX_FRAME);
    assert!(refused.is_empty());
    assert!(frames.len() >= 2, "{} frames", frames.len());
    let mut total = 0;
    for f in &frames {
        let d = decode(&f.bytes, None).expect("within the default limits");
        total += d.messages.len();
    }
    assert_eq!(total, 1000);
}

#[test]
fn signed_frames_carry_their_session_under_the_tag() {
    let key = ClusterKey::new(b"secret".to_vec());
    let mut encoder = Encoder::new("me:1", Some(signing(&key)), 1_000);
    let mut frames = Vec::new();
    let m = &sample()[1];
    for to in ["a:1", "b:1", "a:1"] {
        encoder.address(&Arc::from(to));
        encoder
            .push(&m.relation, &m.tuple, m.delete, &mut frames)
            .expect("fits");
        encoder.finish(&mut frames);
    }
    let sessions: Vec<Session> = frames
        .iter()
        .map(|f| decode(&f.bytes, Some(&key)).unwrap().session.unwrap())
        .collect();
    let session = |to: &str, epoch, sequence| Session {
        destination: Arc::from(to),
        stream: 0,
        epoch,
        sequence,
    };
    // A stream per destination, each a new epoch, numbered from 0.
    assert_eq!(
        sessions,
        [
            session("a:1", 100, 0),
            session("b:1", 101, 0),
            session("a:1", 100, 1)
        ]
    );
    // Unsigned frames have none.
    let plain = encode("me:1", "a:1", &sample(), None);
    assert_eq!(decode(&plain, None).unwrap().session, None);
}

#[test]
fn a_frame_readdressed_or_renumbered_fails_its_tag() {
    let key = ClusterKey::new(b"secret".to_vec());
    let bytes = encode("me:1", "b:1", &sample(), Some(&signing(&key)));
    // The destination's text follows the header and the sender.
    let at = 10 + 1 + "me:1".len() + 1;
    assert_eq!(&bytes[at..at + 3], b"b:1");
    let mut readdressed = bytes.clone();
    readdressed[at] = b'c';
    assert_eq!(
        decode(&resealed(readdressed), Some(&key)),
        Err(WireError::BadTag)
    );
    // The sequence number is the last byte of the session.
    let mut renumbered = bytes.clone();
    renumbered[at + 3 + 1 + 1] ^= 1;
    assert_eq!(
        decode(&resealed(renumbered), Some(&key)),
        Err(WireError::BadTag)
    );
}
