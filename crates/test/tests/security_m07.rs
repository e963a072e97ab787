//! Catalog M07 (OpenSSH CVE-2016-0777, "roaming"): a server must not be able to make the
//! client send again data it already sent, or anything it did not mean to.
//!
//! whelk has no roaming, resumption or retransmission: the transport seals a payload into the
//! output buffer once and forgets it, and a channel's send buffer only holds what the window
//! has not let out yet. These tests check it from the wire: a hostile server has a whelk
//! client authenticated, a session channel open and a marker written and received, then
//! sends one message of every number 0..=255 (each in its own connection, minimal and well
//! formed, as in the state × message matrix); whatever the client does then, the marker
//! never appears in a packet again. A re-exchange started by the server and a window
//! adjustment on the open channel get the same check.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use whelk_test::hostile::{Enc, Hostile, Peer, PeerEvent, minimal_message};
use whelk_test::pair::Side;
use whelk_transport::Event as TEvent;

const MARKER: &[u8] = b"M07: data the client wrote once";

/// Packets the hostile server received that carry the marker.
fn with_marker(received: &[(u32, Bytes)]) -> Vec<(u32, u8)> {
    received
        .iter()
        .filter(|(_, p)| p.windows(MARKER.len()).any(|w| w == MARKER))
        .map(|(seq, p)| (*seq, p[0]))
        .collect()
}

/// Runs the scenario, calling `inject` on the hostile server once the marker arrived;
/// returns the packets that carried the marker and the message numbers the client sent
/// after the injection.
fn run(inject: impl FnOnce(&mut Hostile), seed: u64) -> (Vec<(u32, u8)>, Vec<u8>) {
    let now = Instant::now();
    let log = Log::default();
    let mut c = hostile_transport(true);
    c.ext_info = false;
    let h = Hostile::server(c, vec![host_key()], seed, now);
    let mut p = pair(
        victim_client_peer(now, seed),
        Peer::Hostile(Box::new(h)),
        now,
        seed,
    );
    p.set_responder(Side::Client, victim_responder(log));
    p.set_responder(
        Side::Server,
        Box::new(|peer, ev| {
            let h = peer.hostile().unwrap();
            match &ev {
                PeerEvent::Transport(TEvent::Payload(b)) if b.first() == Some(&50) => {
                    h.send(Bytes::from_static(&[52]));
                    h.conn.authenticated();
                }
                PeerEvent::Transport(TEvent::Payload(b)) if b.first() == Some(&90) => {
                    // CHANNEL_OPEN: string type, uint32 sender channel, window, max packet.
                    let type_len = u32::from_be_bytes(b[1..5].try_into().unwrap()) as usize;
                    let at = 5 + type_len;
                    let sender = u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
                    h.send(
                        Enc::msg(91)
                            .u32(sender)
                            .u32(0)
                            .u32(1 << 20)
                            .u32(32 * 1024)
                            .done(),
                    );
                }
                _ => {}
            }
            Some(ev)
        }),
    );
    p.drive_bounded(20_000, |p| victim_ref(p).is_authenticated())
        .unwrap();
    let victim = p.client.whelk().unwrap();
    let id = victim.open_session().unwrap();
    p.drive_quiet(20_000).unwrap();
    let written = p.client.whelk().unwrap().write(id, MARKER).unwrap();
    assert_eq!(written, MARKER.len());
    p.drive_quiet(20_000).unwrap();
    let received = hostile_ref(&p).received();
    let before = received.lock().unwrap().len();
    assert_eq!(
        with_marker(&received.lock().unwrap()).len(),
        1,
        "the marker arrives once"
    );
    inject(hostile(&mut p));
    settle(&mut p, 20_000);
    let all = received.lock().unwrap().clone();
    let after = all[before..].iter().filter_map(|(_, p)| p.first().copied());
    (with_marker(&all), after.collect())
}

#[test]
fn m07_no_server_message_makes_the_client_send_its_data_again() {
    let mut failures = Vec::new();
    for n in 0..=255u8 {
        let (marked, after) = run(|h| h.send(minimal_message(n, false)), u64::from(n));
        if marked.len() != 1 {
            failures.push(format!(
                "msg {n}: marker in {marked:?} (sent after: {after:?})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn m07_a_rekey_or_a_window_adjust_does_not_resend_either() {
    // A re-exchange started by the server: the client takes part (KEXINIT, its ECDH
    // message, NEWKEYS) and sends nothing else.
    let (marked, after) = run(|h| assert!(h.conn.rekey()), 300);
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(
        after,
        [20, 30, 21],
        "client messages after the server's KEXINIT"
    );
    // More window on the open channel (the server's channel 0): nothing is waiting, so
    // nothing is sent.
    let (marked, after) = run(
        |h| {
            for _ in 0..2 {
                h.send(Enc::msg(93).u32(0).u32(1 << 20).done());
            }
        },
        301,
    );
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(after, [], "client messages after two window adjusts");
}
