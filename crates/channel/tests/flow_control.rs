//! Flow control: the sender never exceeds the peer's window or maximum packet size, the
//! window re-opens only as the application reads, slow readers bound memory, zero-copy reads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use bytes::Bytes;
use common::{Pair, Side, pattern, wire};
use whelk_channel::{
    ChannelConfig, Channels, Config, DEFAULT_MAX_PACKET, DEFAULT_WINDOW, Event, MAX_MAX_PACKET,
    Role,
};
use whelk_wire::msg::{ChannelData, ChannelOpenKind, Message, MessageBody};

#[test]
fn defaults_are_sized_for_throughput() {
    let c = ChannelConfig::default();
    assert!(c.window >= 2 * 1024 * 1024);
    assert_eq!(c.max_packet, 32 * 1024);
    assert_eq!(
        (DEFAULT_WINDOW, DEFAULT_MAX_PACKET),
        (c.window, c.max_packet)
    );
    let mut p = Pair::default();
    p.client
        .open(ChannelOpenKind::Session, ChannelConfig::default())
        .unwrap();
    match p.client.poll_transmit() {
        Some(Message::ChannelOpen(o)) => {
            assert_eq!(
                (o.initial_window, o.max_packet),
                (2 * 1024 * 1024, 32 * 1024)
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Moves messages from client to server, checking every data message against the limits
/// the server advertised; returns the data bytes moved.
fn pump_checked(p: &mut Pair, server_id: whelk_channel::ChannelId, max_packet: usize) -> usize {
    let mut moved = 0;
    while let Some(msg) = p.client.poll_transmit() {
        if let Message::ChannelData(d) = &msg {
            assert!(!d.data.is_empty());
            assert!(
                d.data.len() <= max_packet,
                "{} > {max_packet}",
                d.data.len()
            );
            assert!(
                d.data.len() <= p.server.local_window(server_id) as usize,
                "beyond the window"
            );
            moved += d.data.len();
        }
        p.server.handle_message(wire(&msg)).unwrap();
    }
    moved
}

#[test]
fn window_exhaustion_and_refill() {
    let window = 64 * 1024;
    let mut p = Pair::default();
    let (c, s) = p.open_with(
        Side::Client,
        ChannelOpenKind::Session,
        ChannelConfig::default(),
        ChannelConfig::default()
            .with_window(window)
            .with_max_packet(8192),
    );
    let total = pattern(1024 * 1024, 7);
    let mut written = 0;
    let mut received = Vec::new();
    let mut writable_events = 0;
    let mut rounds = 0;
    while received.len() < total.len() {
        rounds += 1;
        assert!(rounds < 10_000, "no progress");
        if written < total.len() {
            let n = p.client.write(c, &total[written..]).unwrap();
            written += n;
        }
        pump_checked(&mut p, s, 8192);
        assert!(p.server.buffered(s) <= window as usize);
        // Exhausted: nothing more can be written until the server reads.
        if p.client.peer_window(c) == 0 {
            assert_eq!(p.client.write(c, b"x").unwrap(), 0);
        }
        while let Some(b) = p.server.read(s, 5000) {
            received.extend_from_slice(&b);
        }
        p.transfer(Side::Server, usize::MAX);
        writable_events += p
            .events(Side::Client)
            .iter()
            .filter(|e| matches!(e, Event::Writable { id } if *id == c))
            .count();
    }
    assert_eq!(received, total);
    assert!(writable_events > 0, "blocked writers are woken");
}

#[test]
fn slow_reader_bounds_memory_and_slows_the_writer() {
    let window: u32 = 256 * 1024;
    let mut p = Pair::default();
    let (c, s) = p.open_with(
        Side::Client,
        ChannelOpenKind::Session,
        ChannelConfig::default().with_send_buffer(64 * 1024),
        ChannelConfig::default().with_window(window),
    );
    // The writer tries to push 16 MiB; the reader reads nothing.
    let chunk = pattern(1024 * 1024, 3);
    let mut accepted = 0;
    for _ in 0..16 {
        accepted += p.client.write(c, &chunk).unwrap();
        p.drive();
        assert!(
            p.client.queued(c) <= 64 * 1024,
            "send queue bounded by its cap"
        );
        assert!(
            p.server.buffered(s) <= window as usize,
            "receive buffer bounded"
        );
    }
    assert_eq!(accepted, window as usize, "writer blocked after one window");
    assert_eq!(p.server.buffered(s), window as usize);
    assert_eq!(p.client.write(c, &chunk).unwrap(), 0);
    // Reading less than half the window does not re-open it.
    let mut got = 0;
    while got < window as usize / 2 - 1024 {
        got += p.server.read(s, 1024).unwrap().len();
    }
    assert!(
        p.server.poll_transmit().is_none(),
        "no adjust before half is read"
    );
    // Crossing the half does.
    got += p.server.read(s, 2048).unwrap().len();
    match p.server.poll_transmit() {
        Some(Message::ChannelWindowAdjust(a)) => assert_eq!(a.bytes_to_add as usize, got),
        other => panic!("{other:?}"),
    }
    assert!(p.server.poll_transmit().is_none());
}

#[test]
fn data_is_cut_to_peer_max_packet_and_our_send_cap() {
    // The peer asks for 1 KiB packets.
    let mut p = Pair::default();
    let (c, s) = p.open_with(
        Side::Client,
        ChannelOpenKind::Session,
        ChannelConfig::default(),
        ChannelConfig::default().with_max_packet(1024),
    );
    assert_eq!(p.client.peer_max_packet(c), 1024);
    p.client.write(c, &pattern(10_000, 1)).unwrap();
    assert_eq!(pump_checked(&mut p, s, 1024), 10_000);

    // The peer allows huge packets: we still send at most max_send_packet (32 KiB).
    let mut q = Pair::default();
    let (c, s) = q.open_with(
        Side::Client,
        ChannelOpenKind::Session,
        ChannelConfig::default(),
        ChannelConfig::default().with_max_packet(MAX_MAX_PACKET),
    );
    assert_eq!(q.client.peer_max_packet(c), 32 * 1024);
    q.client.write(c, &pattern(200_000, 1)).unwrap();
    assert_eq!(pump_checked(&mut q, s, 32 * 1024), 200_000);
}

#[test]
fn max_packet_settings_are_clamped() {
    let mut ch = Channels::new(Role::Client, Config::default());
    ch.open(
        ChannelOpenKind::Session,
        ChannelConfig::default().with_max_packet(0).with_window(0),
    )
    .unwrap();
    match ch.poll_transmit() {
        Some(Message::ChannelOpen(o)) => {
            assert_eq!((o.initial_window, o.max_packet), (1, 1024));
        }
        other => panic!("{other:?}"),
    }
    ch.open(
        ChannelOpenKind::Session,
        ChannelConfig::default().with_max_packet(u32::MAX),
    )
    .unwrap();
    match ch.poll_transmit() {
        Some(Message::ChannelOpen(o)) => assert_eq!(o.max_packet, MAX_MAX_PACKET),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reads_are_zero_copy_slices_of_the_packet() {
    let mut p = Pair::default();
    let (_, s) = p.session();
    let recipient = s.number();
    let payload = {
        let mut v = Vec::new();
        ChannelData {
            recipient,
            data: Bytes::from_static(b"zero-copy payload"),
        }
        .encode(&mut v);
        Bytes::from(v)
    };
    let msg = Message::decode(&payload).unwrap();
    p.server.handle_message(msg).unwrap();
    let first = p.server.read(s, 4).unwrap();
    let rest = p.server.read(s, 1024).unwrap();
    assert_eq!(&first[..], b"zero");
    assert_eq!(&rest[..], b"-copy payload");
    // Both are views into the packet buffer, not copies.
    assert_eq!(first.as_ptr(), payload[9..].as_ptr());
    assert_eq!(rest.as_ptr(), payload[13..].as_ptr());
}

#[test]
fn writes_before_confirmation_wait_and_wake() {
    let mut p = Pair::default();
    let c = p
        .client
        .open(ChannelOpenKind::Session, ChannelConfig::default())
        .unwrap();
    assert_eq!(p.client.write(c, b"early").unwrap(), 0);
    p.drive();
    let Some(Event::OpenRequest(inc)) = p.server.poll_event() else {
        panic!()
    };
    p.server.accept(inc, ChannelConfig::default()).unwrap();
    p.drive();
    let evs = p.events(Side::Client);
    assert!(
        matches!(evs[..], [Event::OpenConfirmed { .. }, Event::Writable { id }] if id == c),
        "{evs:?}"
    );
    assert_eq!(p.client.write(c, b"early").unwrap(), 5);
}

#[test]
fn extended_data_shares_the_window_and_keeps_order() {
    use whelk_wire::msg::ExtendedDataType;
    let mut p = Pair::default();
    let (c, s) = p.open_with(
        Side::Client,
        ChannelOpenKind::Session,
        ChannelConfig::default().with_window(4096),
        ChannelConfig::default(),
    );
    assert_eq!(p.server.write(s, &[b'a'; 3000]).unwrap(), 3000);
    assert_eq!(
        p.server
            .write_extended(s, ExtendedDataType::STDERR, &[b'b'; 3000])
            .unwrap(),
        1096
    );
    assert_eq!(p.server.write(s, b"c").unwrap(), 0);
    let kinds: Vec<_> = std::iter::from_fn(|| p.server.poll_transmit())
        .map(|m| {
            let k = m.number().0;
            p.client.handle_message(wire(&m)).unwrap();
            k
        })
        .collect();
    assert_eq!(kinds, [94, 95], "data then extended data, in write order");
    assert_eq!(p.client.buffered(c), 4096);
    assert_eq!(p.read_all(Side::Client, c).len(), 3000);
    let (_, e) = p.client.read_extended(c, 10_000).unwrap();
    assert_eq!(e.len(), 1096);
    p.drive();
    let evs = p.events(Side::Server);
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Writable { id } if *id == s)),
        "{evs:?}"
    );
}

#[test]
fn channels_take_turns() {
    let mut p = Pair::default();
    let ids: Vec<_> = (0..3).map(|_| p.session()).collect();
    // Three channels with 64 KiB each (two 32 KiB packets), written in channel order.
    for (c, _) in &ids {
        assert_eq!(
            p.client.write(*c, &pattern(64 * 1024, 9)).unwrap(),
            64 * 1024
        );
    }
    let recipients: Vec<u32> = std::iter::from_fn(|| p.client.poll_transmit())
        .map(|m| match m {
            Message::ChannelData(d) => d.recipient,
            other => panic!("{other:?}"),
        })
        .collect();
    let order: Vec<u32> = ids.iter().map(|(_, s)| s.number()).collect();
    let expect: Vec<u32> = order.iter().chain(order.iter()).copied().collect();
    assert_eq!(
        recipients, expect,
        "round-robin, one packet per channel per turn"
    );
}
