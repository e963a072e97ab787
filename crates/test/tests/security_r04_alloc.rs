//! R04 (declared-length allocation): with the counting allocator, decoding never allocates
//! more than twice the input plus a small constant, for every seed of the fuzz corpora of
//! the decoders that take bytes from a peer (testdata/fuzz/: `wire_message`,
//! `keys_public_blob`, `keys_certificate`, `keys_sshsig`, `agent_message`,
//! `sftp_server_input`, `sftp_client_input`) and for hand-made inputs whose declared
//! lengths and counts are huge (0xFFFFFFFF, or just under a decoder's own cap) with nothing
//! behind them. Authentication requests are wire messages (covered by the first).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use whelk_test::alloc::{Counting, measure};
use whelk_test::hostile::Enc;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allowed peak: 2 × input + this.
const SLACK: usize = 2048;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fuzz")
        .join(target);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_file() {
            out.push(std::fs::read(p).unwrap());
        }
    }
    assert!(!out.is_empty(), "empty corpus {}", dir.display());
    out
}

/// Allowed peak for messages carrying a private key (the agent's ADD_IDENTITY), over twice
/// the input. Checking an RSA key does bignum arithmetic whose scratch space is set by the
/// key material actually present, not by any declared length (a 227-byte seed peaks at
/// 2841 bytes).
const KEY_SLACK: usize = 4096;

fn check(what: &str, input: &[u8], f: impl FnOnce()) -> usize {
    check_with(SLACK, what, input, f)
}

fn check_with(slack: usize, what: &str, input: &[u8], f: impl FnOnce()) -> usize {
    let ((), stats) = measure(f);
    assert!(
        stats.peak <= 2 * input.len() + slack,
        "{what}: {} input bytes, {stats:?}",
        input.len()
    );
    stats.peak
}

/// Decodes `data` (first byte: context selector) with the payload copied into `Bytes`
/// before the measurement starts.
fn decode_message(what: &str, data: &[u8]) -> usize {
    let Some((&sel, payload)) = data.split_first() else {
        return 0;
    };
    let payload = bytes::Bytes::copy_from_slice(payload);
    check(what, data, || {
        let _ = whelk_wire::msg::Message::decode_with(&payload, whelk_wire::fuzzing::context(sel));
    })
}

#[test]
fn r04_wire_messages_allocate_at_most_twice_their_size() {
    assert!(whelk_test::alloc::installed());
    let seeds = corpus("wire_message");
    let mut worst = 0;
    for s in &seeds {
        worst = worst.max(decode_message("wire_message seed", s));
    }
    // Declared counts and lengths with nothing behind them, in every context.
    let huge = 0xffff_ffffu32;
    let hostile: Vec<Vec<u8>> = vec![
        Enc::msg(7).u32(huge).done().to_vec(), // EXT_INFO count
        Enc::msg(60)
            .string(b"")
            .string(b"")
            .u32(huge)
            .done()
            .to_vec(), // INFO_REQUEST prompts
        Enc::msg(61).u32(huge).done().to_vec(), // INFO_RESPONSE count
        Enc::msg(20).raw(&[0; 16]).u32(huge).done().to_vec(), // KEXINIT name-list
        Enc::msg(2).u32(huge).done().to_vec(), // IGNORE string
        Enc::msg(94).u32(0).u32(huge).done().to_vec(), // CHANNEL_DATA
        Enc::msg(50).u32(huge).done().to_vec(), // USERAUTH_REQUEST user
        Enc::msg(30).u32(huge).done().to_vec(), // KEX_ECDH_INIT / KEXDH
    ];
    for h in &hostile {
        for sel in 0..16u8 {
            let mut input = vec![sel];
            input.extend_from_slice(h);
            worst = worst.max(decode_message("hand-made", &input));
        }
    }
    println!(
        "{} seeds + {} hand-made inputs, worst peak {worst} bytes",
        seeds.len(),
        hostile.len() * 16
    );
}

#[test]
fn r04_public_key_blobs_allocate_at_most_twice_their_size() {
    let seeds = corpus("keys_public_blob");
    let mut worst = 0;
    for s in &seeds {
        worst = worst.max(check("keys_public_blob seed", s, || {
            let _ = whelk_keys::PublicKey::from_blob(s);
        }));
    }
    for name in [
        &b"ssh-rsa"[..],
        b"ssh-ed25519",
        b"ecdsa-sha2-nistp256",
        b"ssh-ed25519-cert-v01@openssh.com",
    ] {
        let blob = Enc::default().string(name).u32(0xffff_ffff).done();
        worst = worst.max(check("hand-made blob", &blob, || {
            let _ = whelk_keys::PublicKey::from_blob(&blob);
        }));
    }
    println!("{} seeds, worst peak {worst} bytes", seeds.len());
}

#[test]
fn r04_certificates_and_signatures_allocate_at_most_twice_their_size() {
    let mut worst = 0;
    let certs = corpus("keys_certificate");
    for s in &certs {
        worst = worst.max(check("keys_certificate seed", s, || {
            let _ = whelk_keys::cert::Certificate::from_blob(s);
        }));
    }
    let sigs = corpus("keys_sshsig");
    for s in &sigs {
        worst = worst.max(check("keys_sshsig seed", s, || {
            let _ = whelk_keys::sshsig::SshSig::from_blob(s);
        }));
    }
    // A certificate whose nonce, key and principals declare 4 GiB.
    let cert = Enc::default()
        .string(b"ssh-ed25519-cert-v01@openssh.com")
        .u32(0xffff_ffff)
        .done();
    let principals = Enc::default()
        .string(b"ssh-ed25519-cert-v01@openssh.com")
        .string(&[0; 32])
        .string(&[0; 32])
        .raw(&[0; 8])
        .u32(1)
        .string(b"id")
        .u32(0xffff_ffff)
        .done();
    let sshsig = Enc::default().raw(b"SSHSIG").u32(1).u32(0xffff_ffff).done();
    for (what, blob) in [("cert", &cert), ("principals", &principals)] {
        worst = worst.max(check(what, blob, || {
            let _ = whelk_keys::cert::Certificate::from_blob(blob);
        }));
    }
    worst = worst.max(check("sshsig", &sshsig, || {
        let _ = whelk_keys::sshsig::SshSig::from_blob(&sshsig);
    }));
    println!(
        "{} certificate + {} signature seeds, worst peak {worst} bytes",
        certs.len(),
        sigs.len()
    );
}

#[test]
fn r04_agent_messages_allocate_at_most_twice_their_size() {
    use whelk_agent::proto::{MAX_IDENTITIES, Request, Response, code};
    let decode = |what: &str, data: &[u8]| {
        let msg = bytes::Bytes::copy_from_slice(data);
        let add = [code::ADD_IDENTITY, code::ADD_ID_CONSTRAINED];
        let slack = if data.first().is_some_and(|c| add.contains(c)) {
            KEY_SLACK
        } else {
            SLACK
        };
        check_with(slack, what, data, || {
            let _ = Request::decode(&msg);
            let _ = Response::decode(&msg);
        })
    };
    let seeds = corpus("agent_message");
    let mut worst = 0;
    for s in &seeds {
        worst = worst.max(decode("agent_message seed", s));
    }
    let cap = u32::try_from(MAX_IDENTITIES).unwrap();
    let huge = 0xffff_ffffu32;
    let hostile: Vec<bytes::Bytes> = vec![
        Enc::msg(code::IDENTITIES_ANSWER).u32(huge).done(),
        Enc::msg(code::IDENTITIES_ANSWER).u32(cap).done(),
        Enc::msg(code::ADD_IDENTITY).u32(huge).done(),
        Enc::msg(code::ADD_ID_CONSTRAINED)
            .string(b"ssh-ed25519")
            .string(&[0; 32])
            .string(&[0; 64])
            .string(b"")
            .u8(constraint_extension())
            .u32(huge)
            .done(),
        Enc::msg(code::SIGN_REQUEST).u32(huge).done(),
        Enc::msg(code::SIGN_RESPONSE).u32(huge).done(),
        Enc::msg(code::EXTENSION).u32(huge).done(),
        Enc::msg(code::EXTENSION)
            .string(b"session-bind@openssh.com")
            .u32(huge)
            .done(),
        Enc::msg(code::SUCCESS).u32(huge).done(), // query@openssh.com's answer
    ];
    for h in &hostile {
        worst = worst.max(decode("hand-made", h));
        let _ = whelk_agent::proto::decode_query_reply(h);
    }
    println!(
        "{} seeds + {} hand-made messages, worst peak {worst} bytes",
        seeds.len(),
        hostile.len()
    );
}

/// `SSH_AGENT_CONSTRAINT_EXTENSION`.
fn constraint_extension() -> u8 {
    whelk_agent::proto::constraint::EXTENSION
}

/// The packets of an SFTP byte stream (length-prefixed; a truncated tail is dropped).
fn sftp_packets(mut stream: &[u8]) -> Vec<bytes::Bytes> {
    let mut out = Vec::new();
    while let Some((len, rest)) = stream.split_first_chunk::<4>() {
        let len = usize::try_from(u32::from_be_bytes(*len)).unwrap();
        let Some(body) = rest.get(..len) else { break };
        out.push(bytes::Bytes::copy_from_slice(body));
        stream = &rest[len..];
    }
    out
}

#[test]
fn r04_sftp_packets_allocate_at_most_twice_their_size() {
    use whelk_sftp::codec::{Packet, packet_type};
    let decode = |what: &str, body: &bytes::Bytes| {
        check(what, body, || {
            let _ = Packet::decode(body);
        })
    };
    let mut worst = 0;
    let mut packets = 0;
    for (target, skip) in [("sftp_server_input", 1), ("sftp_client_input", 0)] {
        for s in corpus(target) {
            for p in sftp_packets(s.get(skip..).unwrap_or_default()) {
                worst = worst.max(decode(target, &p));
                packets += 1;
            }
        }
    }
    let huge = 0xffff_ffffu32;
    let attrs_ext = 0x8000_0000u32; // SSH_FILEXFER_ATTR_EXTENDED
    let hostile: Vec<bytes::Bytes> = vec![
        Enc::msg(packet_type::INIT).u32(3).u32(huge).done(),
        Enc::msg(packet_type::VERSION)
            .u32(3)
            .string(b"x")
            .u32(huge)
            .done(),
        Enc::msg(packet_type::NAME).u32(1).u32(huge).done(),
        Enc::msg(packet_type::NAME).u32(huge).done(),
        Enc::msg(packet_type::NAME)
            .u32(1)
            .u32(1)
            .string(b"a")
            .string(b"a")
            .u32(attrs_ext)
            .u32(huge)
            .done(),
        Enc::msg(packet_type::OPEN).u32(1).u32(huge).done(),
        Enc::msg(packet_type::WRITE)
            .u32(1)
            .string(b"h")
            .raw(&[0; 8])
            .u32(huge)
            .done(),
        Enc::msg(packet_type::DATA).u32(1).u32(huge).done(),
        Enc::msg(packet_type::SETSTAT)
            .u32(1)
            .string(b"p")
            .u32(attrs_ext)
            .u32(huge)
            .done(),
        Enc::msg(packet_type::EXTENDED).u32(1).u32(huge).done(),
        Enc::msg(packet_type::EXTENDED_REPLY)
            .u32(1)
            .u32(huge)
            .done(),
        Enc::msg(packet_type::STATUS).u32(1).u32(4).u32(huge).done(),
    ];
    for h in &hostile {
        worst = worst.max(decode("hand-made", h));
    }
    println!(
        "{packets} seed packets + {} hand-made, worst peak {worst} bytes",
        hostile.len()
    );
}
