//! Terrapin (CVE-2023-48795, catalog K01, K02, E01, A03, M09) in memory: whelk's client and
//! server in a `Pair` whose tamper hook is the man in the middle. It sees the plaintext
//! packets before NEWKEYS and the encrypted ones only as bytes (the first encrypted packet
//! is the rest of the batch that carried NEWKEYS, as a TCP segment would show it).
//!
//! Attacks, each with chacha20-poly1305 and with aes128-cbc + hmac-sha2-256-etm, with strict
//! kex on or off on each side:
//!
//! - prefix truncation: IGNORE inserted before the server's NEWKEYS, the server's first
//!   encrypted packet (EXT_INFO) deleted;
//! - rogue EXT_INFO: a plaintext EXT_INFO inserted before the server's NEWKEYS, the real one
//!   deleted;
//! - rogue session: a plaintext USERAUTH_REQUEST for the attacker inserted before the
//!   client's NEWKEYS, the client's first encrypted packet deleted.
//!
//! Outcomes (docs/security.md): with strict kex on both sides every attack is a disconnect
//! (PROTOCOL_ERROR). Without it (either side off), the rogue EXT_INFO and the rogue
//! USERAUTH_REQUEST are still disconnects (whelk accepts neither before NEWKEYS), while the
//! prefix truncation succeeds: the client authenticates without ever seeing the server's
//! EXT_INFO. That loses only extension negotiation: whelk's client keeps rsa-sha2 without
//! `server-sig-algs` (M09) and the test checks the session works with the defaults.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use common::*;
use whelk::AlgorithmsExt;
use whelk_test::hostile::{Enc, plain_packet, plain_packets};
use whelk_test::pair::Side;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    PrefixTruncation,
    RogueExtInfo,
    RogueUserauth,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    ChaCha,
    CbcEtm,
}

/// The man in the middle of one direction.
#[derive(Default)]
struct Mitm {
    /// Bytes of the identification line still to skip.
    version_done: bool,
    /// NEWKEYS went by: the next batch with bytes is the first encrypted one.
    after_newkeys: bool,
    deleted: bool,
}

struct Result_ {
    log: Vec<String>,
    client_ext_info: bool,
    client_authenticated: bool,
    server_authenticated: bool,
    closed: bool,
    server_user: Option<String>,
}

fn run(attack: Attack, mode: Mode, client_strict: bool, server_strict: bool) -> Result_ {
    let now = Instant::now();
    let mut sc = server_config();
    let mut cc = client_config();
    cc.auth.methods = vec![whelk::Method::Password];
    for a in [sc.algorithms(), cc.algorithms()] {
        match mode {
            Mode::ChaCha => {
                a.set_ciphers("chacha20-poly1305@openssh.com").unwrap();
            }
            Mode::CbcEtm => {
                a.set_ciphers("aes128-cbc").unwrap();
                a.set_macs("hmac-sha2-256-etm@openssh.com").unwrap();
            }
        }
    }
    sc.transport.strict_kex = server_strict;
    cc.transport.strict_kex = client_strict;
    let log: Log = Log::default();
    let mut p = pair(victim_client(cc, 1, now), victim_server(sc, 2, now), now, 3);
    p.set_responder(Side::Client, victim_responder(log.clone()));
    p.set_responder(Side::Server, victim_responder(log.clone()));
    let target = match attack {
        Attack::RogueUserauth => Side::Client,
        _ => Side::Server,
    };
    let mut mitm = Mitm::default();
    let insert = match attack {
        Attack::PrefixTruncation => Enc::msg(2).string(b"").done(),
        Attack::RogueExtInfo => Enc::msg(7)
            .u32(1)
            .string(b"server-sig-algs")
            .string(b"ssh-rsa")
            .done(),
        Attack::RogueUserauth => Enc::msg(50)
            .string(b"attacker")
            .string(b"ssh-connection")
            .string(b"password")
            .bool(false)
            .string(b"attacker")
            .done(),
    };
    let mlog = log.clone();
    p.set_tamper(Box::new(move |side, _offset, bytes| {
        if side != target || bytes.is_empty() {
            return;
        }
        let mut at = 0;
        if !mitm.version_done {
            let Some(lf) = bytes.iter().position(|&b| b == b'\n') else {
                return;
            };
            mitm.version_done = true;
            at = lf + 1;
        }
        if mitm.after_newkeys {
            if !mitm.deleted {
                mitm.deleted = true;
                mlog.borrow_mut()
                    .push(format!("mitm:deleted {} bytes", bytes.len()));
                bytes.clear();
            }
            return;
        }
        let (packets, _) = plain_packets(&bytes[at..]);
        if let Some(nk) = packets.iter().find(|p| p.payload.first() == Some(&21)) {
            let pos = at + nk.start;
            let end = at + nk.end;
            let rest = bytes.split_off(end);
            let tail = bytes.split_off(pos);
            bytes.extend_from_slice(&plain_packet(&insert));
            bytes.extend_from_slice(&tail);
            mitm.after_newkeys = true;
            mlog.borrow_mut().push("mitm:inserted".to_owned());
            if !rest.is_empty() {
                mitm.deleted = true;
                mlog.borrow_mut()
                    .push(format!("mitm:deleted {} bytes", rest.len()));
            }
        }
    }));
    let _ = p.drive_bounded(50_000, |_| {
        let l = log.borrow();
        let auth = l
            .iter()
            .filter(|e| e.as_str() == "app:Authenticated")
            .count();
        auth == 2 || l.iter().any(|e| e.starts_with("disc:"))
    });
    let _ = p.drive_quiet(10_000);
    let l = log.borrow().clone();
    Result_ {
        client_ext_info: p
            .client
            .whelk_ref()
            .unwrap()
            .transport()
            .peer_extensions()
            .is_some(),
        client_authenticated: p.client.whelk_ref().unwrap().is_authenticated(),
        server_authenticated: p.server.whelk_ref().unwrap().is_authenticated(),
        closed: p.client.whelk_ref().unwrap().is_closed()
            || p.server.whelk_ref().unwrap().is_closed(),
        server_user: None,
        log: l,
    }
}

fn check(attack: Attack, mode: Mode, cs: bool, ss: bool) -> String {
    let r = run(attack, mode, cs, ss);
    assert!(
        r.log.iter().any(|e| e == "mitm:inserted"),
        "{attack:?} {mode:?}: the MITM never found NEWKEYS: {:?}",
        r.log
    );
    let strict = cs && ss;
    let disc = r.log.iter().find(|e| e.starts_with("disc:")).cloned();
    let line = format!(
        "{attack:?} {mode:?} client_strict={cs} server_strict={ss}: {} (log {:?})",
        match &disc {
            Some(d) => d.clone(),
            None => format!(
                "no disconnect; authenticated={}/{} ext_info={}",
                r.client_authenticated, r.server_authenticated, r.client_ext_info
            ),
        },
        r.log
    );
    println!("{line}");
    let fatal = strict || attack != Attack::PrefixTruncation;
    if fatal {
        let d = disc.unwrap_or_else(|| panic!("attack not detected: {line}"));
        assert!(
            d.starts_with("disc:PROTOCOL_ERROR") || d.starts_with("disc:MAC_ERROR"),
            "{line}"
        );
        assert!(
            !r.client_authenticated || !r.server_authenticated || r.closed,
            "{line}"
        );
    } else if matches!(mode, Mode::ChaCha) {
        // Documented: prefix truncation without strict kex deletes EXT_INFO unnoticed with
        // chacha20-poly1305 (the sequence numbers realign, every tag verifies).
        assert!(disc.is_none(), "{line}");
        assert!(r.client_authenticated && r.server_authenticated, "{line}");
        assert!(!r.client_ext_info, "EXT_INFO should be gone: {line}");
    } else {
        // With CBC + EtM the deleted packet's last block was the next packet's IV: the next
        // packet's first block decrypts to garbage. Either the connection breaks
        // (PROTOCOL_ERROR, what this seed shows) or, rarely, the garbage parses; if it
        // does, EXT_INFO is gone as with ChaCha20-Poly1305, and never replaced.
        if disc.is_none() {
            assert!(!r.client_ext_info, "{line}");
        }
    }
    assert!(!r.log.iter().any(|e| e.contains("attacker")), "{line}");
    let _ = r.server_user;
    line
}

fn all(attack: Attack) {
    let mut lines = Vec::new();
    for mode in [Mode::ChaCha, Mode::CbcEtm] {
        for (cs, ss) in [(true, true), (true, false), (false, true), (false, false)] {
            lines.push(check(attack, mode, cs, ss));
        }
    }
    assert_eq!(lines.len(), 8);
}

#[test]
fn k02_terrapin_prefix_truncation_ignore_and_deleted_ext_info() {
    all(Attack::PrefixTruncation);
}

#[test]
fn e01_terrapin_rogue_ext_info_before_newkeys() {
    all(Attack::RogueExtInfo);
}

#[test]
fn a03_terrapin_rogue_userauth_request_before_newkeys() {
    all(Attack::RogueUserauth);
}

#[test]
fn k01_strict_kex_ignore_before_kexinit_is_fatal() {
    // K01 against both roles: an IGNORE as the first packet, then KEXINIT.
    for target in [Side::Client, Side::Server] {
        let now = Instant::now();
        let log: Log = Log::default();
        let mut p = pair(
            victim_client(client_config(), 1, now),
            victim_server(server_config(), 2, now),
            now,
            3,
        );
        p.set_responder(Side::Client, victim_responder(log.clone()));
        p.set_responder(Side::Server, victim_responder(log.clone()));
        let done = Rc::new(RefCell::new(false));
        let d2 = done.clone();
        p.set_tamper(Box::new(move |side, _, bytes| {
            if side != target || *d2.borrow() {
                return;
            }
            if let Some(lf) = bytes.iter().position(|&b| b == b'\n') {
                let tail = bytes.split_off(lf + 1);
                bytes.extend_from_slice(&plain_packet(&[2, 0, 0, 0, 0]));
                bytes.extend_from_slice(&tail);
                *d2.borrow_mut() = true;
            }
        }));
        let _ = p.drive_bounded(10_000, |_| {
            log.borrow().iter().any(|e| e.starts_with("disc:"))
        });
        let l = log.borrow();
        assert!(*done.borrow());
        assert!(
            l.iter().any(|e| e.starts_with("disc:PROTOCOL_ERROR")),
            "{target:?}: {l:?}"
        );
        assert!(!l.iter().any(|e| e.starts_with("app:")), "{l:?}");
    }
}
