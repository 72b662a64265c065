use super::*;
use trellis_value::Id;

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
        WireMessage {
            relation: "gone".into(),
            tuple: vec![Value::str("b")].into(),
            delete: false,
        },
    ]
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
    let mut encoder = Encoder::new("me:1", key.cloned(), limit);
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
    for k in [None, Some(&key)] {
        let bytes = encode("127.0.0.1:9", &sample(), k);
        let frame = decode(&bytes, k).unwrap();
        assert_eq!(&*frame.sender, "127.0.0.1:9");
        assert_eq!(frame.messages, sample());
        let empty = decode(&encode("127.0.0.1:9", &[], k), k).unwrap();
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
            })
            .collect();
        encode("s", &messages, None).len()
    };
    // Each further tuple costs its head, its length, a tag and a byte.
    assert_eq!(one(11) - one(10), 4);
    // Decoded, the run shares one name.
    let frame = decode(&encode("s", &sample(), None), None).unwrap();
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
        })
        .collect();
    let frame = decode(&encode("10.0.0.1:7", &messages, None), None).unwrap();
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
        })
        .collect();
    let frame = decode(&encode("a:1", &messages, None), None).unwrap();
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
        })
        .collect();
    let mut bytes = encode("a:1", &messages, None);
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
        let mut sizes = sizes.into_iter();
        // What a frame takes besides its messages: header, sender, tag.
        let overhead = 10 + 1 + "me:1".len() + if k.is_some() { 32 } else { 0 };
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
            assert!(pair[0].bytes.len() > 1_000 - 60);
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
    let plain = encode("a", &sample(), None);
    let keyed = encode("a", &sample(), Some(&key));
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
    let plain = encode("a", &sample(), None);
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
    };
    let bytes = encode("a", &[m], None);
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
        let mut framed = encode("a", &sample(), None);
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
    let good = encode("a", &sample(), None);
    assert_eq!(&*decode_into(&good, None, &mut messages).unwrap(), "a");
    assert_eq!(messages, sample());
    // A frame whose last message is cut short leaves nothing behind.
    messages.clear();
    let cut = resealed(good[..good.len() - 1].to_vec());
    assert!(decode_into(&cut, None, &mut messages).is_err());
    assert!(messages.is_empty());
}
