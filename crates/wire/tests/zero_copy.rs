//! Large payloads are views of the packet buffer, never copies: the decoded `Bytes` point
//! into the input's allocation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use whelk_wire::frame::{Alignment, Deframer, PacketLimits, encode_packet};
use whelk_wire::msg::{
    AuthMethod, ChannelData, ChannelExtendedData, ExtendedDataType, Message, MessageBody,
    UserauthRequest,
};

const LEN: usize = 32 * 1024;

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i % 253).unwrap() ^ salt)
        .collect()
}

/// The address range of `buf`'s bytes.
fn span(buf: &[u8]) -> Range<usize> {
    let start = buf.as_ptr().addr();
    start..start + buf.len()
}

/// `inner` lies within `outer` (and is not empty, so the check means something).
fn assert_inside(inner: &[u8], outer: &Range<usize>, what: &str) {
    assert!(!inner.is_empty(), "{what} is empty");
    let s = span(inner);
    assert!(
        s.start >= outer.start && s.end <= outer.end,
        "{what} at {s:x?} is not inside the input at {outer:x?}: it was copied"
    );
}

fn channel_data_payload(data: &[u8]) -> Bytes {
    let mut p = BytesMut::new();
    p.put_u8(94);
    p.put_u32(7);
    p.put_u32(u32::try_from(data.len()).unwrap());
    p.put_slice(data);
    p.freeze()
}

#[test]
fn channel_data_is_a_view_of_the_payload() {
    let data = pattern(LEN, 0);
    let payload = channel_data_payload(&data);
    let input = span(&payload);
    let Message::ChannelData(d) = Message::decode(&payload).unwrap() else {
        panic!()
    };
    assert_eq!(&d.data[..], &data[..]);
    assert_inside(&d.data, &input, "CHANNEL_DATA data");
    // Exactly after the 9-byte header.
    assert_eq!(d.data.as_ptr(), payload[9..].as_ptr());
    // The typed decoder does the same.
    let d = ChannelData::decode(&payload).unwrap();
    assert_eq!(d.data.as_ptr(), payload[9..].as_ptr());
}

#[test]
fn channel_data_through_the_deframer_is_a_view_of_the_read_buffer() {
    let data = pattern(LEN, 1);
    let msg: Message = ChannelData {
        recipient: 1,
        data: Bytes::from(data.clone()),
    }
    .into();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut buf = BytesMut::with_capacity(LEN + 64);
    encode_packet(&mut buf, &msg, Alignment::PLAINTEXT, &mut rng).unwrap();
    // Everything the deframer hands out must come from this allocation.
    let input = span(&buf);
    let mut d = Deframer::new(PacketLimits::default());
    let packet = d.next_packet(&mut buf).unwrap().unwrap();
    assert_inside(&packet.payload, &input, "packet payload");
    let Message::ChannelData(cd) = Message::decode(&packet.payload).unwrap() else {
        panic!()
    };
    assert_eq!(&cd.data[..], &data[..]);
    assert_inside(&cd.data, &input, "CHANNEL_DATA data");
    assert_eq!(cd.data.as_ptr(), packet.payload[9..].as_ptr());
}

#[test]
fn several_packets_in_one_read_buffer_share_it() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut buf = BytesMut::new();
    let msgs: Vec<Message> = (0..4u8)
        .map(|i| {
            ChannelData {
                recipient: u32::from(i),
                data: Bytes::from(pattern(LEN / 4, i)),
            }
            .into()
        })
        .collect();
    for m in &msgs {
        encode_packet(&mut buf, m, Alignment::PLAINTEXT, &mut rng).unwrap();
    }
    let input = span(&buf);
    let mut d = Deframer::new(PacketLimits::default());
    for m in &msgs {
        let p = d.next_packet(&mut buf).unwrap().unwrap();
        let decoded = Message::decode(&p.payload).unwrap();
        assert_eq!(&decoded, m);
        let Message::ChannelData(cd) = decoded else {
            panic!()
        };
        assert_inside(&cd.data, &input, "CHANNEL_DATA data");
    }
    assert!(buf.is_empty());
}

#[test]
fn channel_extended_data_is_a_view() {
    let data = pattern(LEN, 2);
    let mut p = BytesMut::new();
    p.put_u8(95);
    p.put_u32(3);
    p.put_u32(1); // SSH_EXTENDED_DATA_STDERR
    p.put_u32(u32::try_from(data.len()).unwrap());
    p.put_slice(&data);
    let payload = p.freeze();
    let input = span(&payload);
    let Message::ChannelExtendedData(e) = Message::decode(&payload).unwrap() else {
        panic!()
    };
    assert_eq!(e.data_type, ExtendedDataType::STDERR);
    assert_eq!(&e.data[..], &data[..]);
    assert_inside(&e.data, &input, "CHANNEL_EXTENDED_DATA data");
    assert_eq!(e.data.as_ptr(), payload[13..].as_ptr());
    let e = ChannelExtendedData::decode(&payload).unwrap();
    assert_inside(&e.data, &input, "CHANNEL_EXTENDED_DATA data");
}

#[test]
fn publickey_blob_and_signature_are_views() {
    let blob = pattern(600, 3);
    let sig = pattern(300, 4);
    let msg = UserauthRequest {
        user: "alice".into(),
        service: "ssh-connection".into(),
        method: AuthMethod::PublicKey {
            algorithm: "rsa-sha2-512".into(),
            public_key: Bytes::from(blob.clone()),
            signature: Some(Bytes::from(sig.clone())),
        },
    };
    // Encode into one buffer, then read through the deframer as a peer would.
    let mut buf = BytesMut::new();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    encode_packet(
        &mut buf,
        &msg.clone().into(),
        Alignment::PLAINTEXT,
        &mut rng,
    )
    .unwrap();
    let input = span(&buf);
    let p = Deframer::new(PacketLimits::default())
        .next_packet(&mut buf)
        .unwrap()
        .unwrap();
    let Message::UserauthRequest(r) = Message::decode(&p.payload).unwrap() else {
        panic!()
    };
    assert_eq!(r, msg);
    let AuthMethod::PublicKey {
        algorithm,
        public_key,
        signature,
    } = &r.method
    else {
        panic!()
    };
    assert_inside(public_key, &input, "public key blob");
    assert_inside(signature.as_ref().unwrap(), &input, "signature");
    assert_inside(algorithm.as_bytes(), &input, "algorithm name");
    assert_inside(r.user.as_bytes(), &input, "user name");

    // And from a plain payload.
    let payload = msg.clone().into_payload();
    let range = span(&payload);
    let r = UserauthRequest::decode(&payload).unwrap();
    let AuthMethod::PublicKey {
        public_key,
        signature,
        ..
    } = &r.method
    else {
        panic!()
    };
    assert_inside(public_key, &range, "public key blob");
    assert_inside(signature.as_ref().unwrap(), &range, "signature");
}

#[test]
fn publickey_hostbound_blobs_are_views() {
    let msg = UserauthRequest {
        user: "u".into(),
        service: "ssh-connection".into(),
        method: AuthMethod::PublicKeyHostbound {
            algorithm: "ssh-ed25519".into(),
            public_key: Bytes::from(pattern(51, 5)),
            host_key: Bytes::from(pattern(51, 6)),
            signature: Some(Bytes::from(pattern(83, 7))),
        },
    };
    let payload = msg.into_payload();
    let range = span(&payload);
    let r = UserauthRequest::decode(&payload).unwrap();
    let AuthMethod::PublicKeyHostbound {
        public_key,
        host_key,
        signature,
        ..
    } = &r.method
    else {
        panic!()
    };
    assert_inside(public_key, &range, "public key blob");
    assert_inside(host_key, &range, "host key blob");
    assert_inside(signature.as_ref().unwrap(), &range, "signature");
}

/// The range check itself tells a view from a copy.
#[test]
fn a_copy_is_detected() {
    let payload = channel_data_payload(&pattern(LEN, 8));
    let input = span(&payload);
    let view = payload.slice(9..);
    assert_inside(&view, &input, "view");
    let copy = Bytes::copy_from_slice(&view);
    let result = std::panic::catch_unwind(|| assert_inside(&copy, &input, "copy"));
    assert!(result.is_err(), "a copy passed as a view");
}

/// Encodes a message body into a fresh payload buffer.
trait IntoPayload {
    fn into_payload(self) -> Bytes;
}

impl<T: MessageBody> IntoPayload for T {
    fn into_payload(self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.freeze()
    }
}
