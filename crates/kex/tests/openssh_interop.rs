//! Key exchange against a real OpenSSH sshd (whelk-test's harness), one connection per
//! method sshd knows: our client's signature check over `H` only passes if our `H` equals
//! sshd's, and after NEWKEYS sshd's encrypted SSH_MSG_SERVICE_ACCEPT only opens if our `K`
//! and key derivation match too. Skipped (with a note) when sshd is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use whelk_kex::{
    ClientKex, ClientStep, ExchangeContext, GexRequest, KeySizes, method_by_name, negotiate,
};
use whelk_kex::{KeySigner, ServerKex, ServerStep};
use whelk_test::openssh::{HostKeyType, Ssh, Sshd};
use whelk_wire::frame::{Alignment, encode_packet, finish_packet, start_packet};
use whelk_wire::msg::{Context, KexInit, Message, NewKeys, ServiceRequest};
use whelk_wire::types::NameList;
use whelk_wire::version::Role;

const METHODS: &[&str] = &[
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group1-sha1",
    "diffie-hellman-group-exchange-sha1",
];

/// Ciphers rotated over the methods, so key derivation is checked for AEAD ciphers (64-byte
/// chacha20-poly1305 key, 12-byte GCM IV) and for CTR with a MAC.
const CIPHERS: [&str; 3] = [
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
];

/// Reads one unencrypted packet's payload.
fn read_plain(s: &mut TcpStream) -> Bytes {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap();
    let mut rest = vec![0u8; len];
    s.read_exact(&mut rest).unwrap();
    let pad = usize::from(rest[0]);
    Bytes::copy_from_slice(&rest[1..len - pad])
}

fn send_plain(s: &mut TcpStream, m: &Message, rng: &mut ChaCha20Rng) {
    let mut out = BytesMut::new();
    encode_packet(&mut out, m, Alignment::PLAINTEXT, rng).unwrap();
    s.write_all(&out).unwrap();
}

fn one_method(sshd: &Sshd, method: &str, host_key_alg: &str, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut s = TcpStream::connect(sshd.addr()).unwrap();
    let hello = whelk_test::hello::exchange(&mut s, Role::Client, Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let theirs = hello.kexinit().unwrap();
    let nl = |v: &str| NameList::parse(v).unwrap();
    let ours = KexInit {
        cookie: [7; 16],
        kex_algorithms: nl(method),
        server_host_key_algorithms: nl(host_key_alg),
        encryption_client_to_server: nl(CIPHERS[usize::try_from(seed).unwrap() % 3]),
        encryption_server_to_client: nl(CIPHERS[usize::try_from(seed + 1).unwrap() % 3]),
        mac_client_to_server: nl("hmac-sha2-256"),
        mac_server_to_client: nl("hmac-sha2-512"),
        compression_client_to_server: nl("none"),
        compression_server_to_client: nl("none"),
        languages_client_to_server: NameList::empty(),
        languages_server_to_client: NameList::empty(),
        first_kex_packet_follows: false,
    };
    let ours_msg = Message::KexInit(ours.clone());
    let n = negotiate(&ours, &theirs).unwrap();
    assert_eq!(n.kex.name, method);
    let ident = hello.identification_bytes();
    let ctx = ExchangeContext {
        client_version: Bytes::from_static(whelk_test::hello::OUR_IDENTIFICATION.as_bytes()),
        server_version: Bytes::copy_from_slice(ident.strip_suffix(b"\r\n").unwrap_or(ident)),
        client_kexinit: ours_msg.to_bytes().unwrap(),
        server_kexinit: hello.payload.clone(),
        session_id: None,
    };
    let (mut c_seq, mut s_seq) = (0u32, 1u32);
    send_plain(&mut s, &ours_msg, &mut rng);
    c_seq += 1;
    let mut client =
        ClientKex::new(&n, ctx).with_gex_request(GexRequest::new(2048, 2048, 8192).unwrap());
    let first = client.start(&mut rng).unwrap();
    send_plain(&mut s, &first, &mut rng);
    c_seq += 1;
    let dctx = Context {
        kex: Some(n.kex.family),
        auth: None,
    };
    let out = loop {
        let payload = read_plain(&mut s);
        s_seq += 1;
        let msg = Message::decode_with(&payload, dctx).unwrap();
        match client
            .handle(&msg, &mut rng)
            .unwrap_or_else(|e| panic!("{method}: {e}\nsshd log:\n{}", sshd.stderr_log()))
        {
            ClientStep::Send(m) => {
                send_plain(&mut s, &m, &mut rng);
                c_seq += 1;
            }
            ClientStep::Done(out) => break out,
            _ => unreachable!(),
        }
    };
    // NEWKEYS both ways.
    send_plain(&mut s, &Message::NewKeys(NewKeys {}), &mut rng);
    c_seq += 1;
    let nk = read_plain(&mut s);
    s_seq += 1;
    assert_eq!(nk.as_ref(), &[21], "{method}: expected NEWKEYS");

    let keys = out
        .derive_keys(&KeySizes::for_negotiated(&n).unwrap())
        .unwrap();
    let mut sealer = whelk_cipher::registry::sealer(
        &n.cipher_client_to_server,
        n.mac_client_to_server.as_deref(),
        &keys.client_to_server.as_cipher_keys(),
    )
    .unwrap();
    let mut opener = whelk_cipher::registry::opener(
        &n.cipher_server_to_client,
        n.mac_server_to_client.as_deref(),
        &keys.server_to_client.as_cipher_keys(),
    )
    .unwrap();
    let req = Message::ServiceRequest(ServiceRequest {
        service: "ssh-userauth".into(),
    });
    let mut buf = BytesMut::new();
    let start = start_packet(&mut buf);
    req.encode(&mut buf).unwrap();
    let range = finish_packet(&mut buf, start, sealer.alignment(), &mut rng).unwrap();
    sealer.seal(c_seq, &mut buf, range).unwrap();
    s.write_all(&buf).unwrap();

    let mut first = vec![0u8; opener.length_bytes()];
    s.read_exact(&mut first).unwrap();
    let len = usize::try_from(opener.open_length(s_seq, &first).unwrap()).unwrap();
    let mut packet = first;
    packet.resize(4 + len + opener.trailer_len(), 0);
    let have = opener.length_bytes();
    s.read_exact(&mut packet[have..]).unwrap();
    let payload = opener
        .open(s_seq, &mut packet)
        .unwrap_or_else(|e| panic!("{method}: cannot open sshd's first encrypted packet: {e}"));
    let msg = Message::decode(&Bytes::copy_from_slice(&packet[payload])).unwrap();
    assert!(
        matches!(&msg, Message::ServiceAccept(a) if a.service == "ssh-userauth"),
        "{method}: {msg:?}"
    );
}

#[test]
fn every_method_against_sshd() {
    if whelk_test::openssh::find("sshd").is_err() {
        panic!(
            "sshd not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    let sshd = Sshd::builder()
        .host_key(HostKeyType::Ed25519)
        .host_key(HostKeyType::EcdsaP256)
        .option("KexAlgorithms", METHODS.join(","))
        .start()
        .unwrap();
    for (i, method) in METHODS.iter().enumerate() {
        let host_key_alg = if i % 2 == 0 {
            "ssh-ed25519"
        } else {
            "ecdsa-sha2-nistp256"
        };
        assert!(method_by_name(method).is_some());
        one_method(&sshd, method, host_key_alg, u64::try_from(i).unwrap());
        eprintln!("{method} with {host_key_alg}: H, K and derived keys match sshd");
    }
}

/// Our server against the `ssh` client for one method: ssh only sends NEWKEYS after our
/// signature over `H` verified, and its first encrypted packet must open with our keys.
fn one_method_as_server(method: &str, key: &whelk_keys::PrivateKey, host_key_alg: &str, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut child = Ssh::new(addr)
        .option("KexAlgorithms", method)
        .option("HostKeyAlgorithms", host_key_alg)
        .option("Ciphers", CIPHERS[usize::try_from(seed).unwrap() % 3])
        .option("MACs", "hmac-sha2-256-etm@openssh.com")
        .remote_command("true")
        .spawn()
        .unwrap();
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let our_version = "SSH-2.0-whelk_kex_test";
    s.write_all(format!("{our_version}\r\n").as_bytes())
        .unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        line.extend_from_slice(&b);
    }
    let client_version = Bytes::copy_from_slice(&line[..line.len() - 2]);
    let client_kexinit = read_plain(&mut s);
    let Message::KexInit(theirs) = Message::decode(&client_kexinit).unwrap() else {
        panic!("expected the client's KEXINIT")
    };
    let nl = |v: &str| NameList::parse(v).unwrap();
    let all: Vec<&str> = whelk_kex::METHODS.iter().map(|m| m.name).collect();
    let ours = KexInit {
        cookie: [9; 16],
        kex_algorithms: nl(&all.join(",")),
        server_host_key_algorithms: nl(host_key_alg),
        encryption_client_to_server: nl(&CIPHERS.join(",")),
        encryption_server_to_client: nl(&CIPHERS.join(",")),
        mac_client_to_server: nl("hmac-sha2-256-etm@openssh.com"),
        mac_server_to_client: nl("hmac-sha2-256-etm@openssh.com"),
        compression_client_to_server: nl("none"),
        compression_server_to_client: nl("none"),
        languages_client_to_server: NameList::empty(),
        languages_server_to_client: NameList::empty(),
        first_kex_packet_follows: false,
    };
    let ours_msg = Message::KexInit(ours.clone());
    send_plain(&mut s, &ours_msg, &mut rng);
    let n = negotiate(&theirs, &ours).unwrap();
    assert_eq!(n.kex.name, method);
    let ctx = ExchangeContext {
        client_version,
        server_version: Bytes::from_static(our_version.as_bytes()),
        client_kexinit,
        server_kexinit: ours_msg.to_bytes().unwrap(),
        session_id: None,
    };
    let dctx = Context {
        kex: Some(n.kex.family),
        auth: None,
    };
    let mut sign_rng = ChaCha20Rng::seed_from_u64(seed + 1000);
    let mut signer = KeySigner::new(key, &n.host_key_algorithm, &mut sign_rng).unwrap();
    let mut server = ServerKex::new(&n, ctx);
    let mut c_seq = 1u32;
    let out = loop {
        let payload = read_plain(&mut s);
        c_seq += 1;
        let msg = Message::decode_with(&payload, dctx).unwrap();
        match server.handle(&msg, &mut rng, &mut signer).unwrap() {
            ServerStep::Send(m) => send_plain(&mut s, &m, &mut rng),
            ServerStep::Done { reply, output } => {
                send_plain(&mut s, &reply, &mut rng);
                break output;
            }
            _ => unreachable!(),
        }
    };
    send_plain(&mut s, &Message::NewKeys(NewKeys {}), &mut rng);
    let nk = read_plain(&mut s);
    c_seq += 1;
    assert_eq!(
        nk.as_ref(),
        &[21],
        "{method}: ssh did not accept our exchange: {}",
        child.stderr_str()
    );
    let keys = out
        .derive_keys(&KeySizes::for_negotiated(&n).unwrap())
        .unwrap();
    let mut opener = whelk_cipher::registry::opener(
        &n.cipher_client_to_server,
        n.mac_client_to_server.as_deref(),
        &keys.client_to_server.as_cipher_keys(),
    )
    .unwrap();
    let mut first = vec![0u8; opener.length_bytes()];
    s.read_exact(&mut first).unwrap();
    let len = usize::try_from(opener.open_length(c_seq, &first).unwrap()).unwrap();
    let mut packet = first;
    packet.resize(4 + len + opener.trailer_len(), 0);
    let have = opener.length_bytes();
    s.read_exact(&mut packet[have..]).unwrap();
    let payload = opener
        .open(c_seq, &mut packet)
        .unwrap_or_else(|e| panic!("{method}: cannot open ssh's first encrypted packet: {e}"));
    let msg = Message::decode(&Bytes::copy_from_slice(&packet[payload])).unwrap();
    assert!(
        matches!(&msg, Message::ServiceRequest(r) if r.service == "ssh-userauth"),
        "{method}: {msg:?}"
    );
    drop(s);
    child.kill();
}

#[test]
fn every_method_with_the_ssh_client() {
    if whelk_test::openssh::find("ssh").is_err() {
        panic!(
            "ssh not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    let ed = whelk_keys::PrivateKey::ed25519_from_seed(&[5; 32]);
    let ec = whelk_keys::PrivateKey::generate(
        whelk_keys::KeyGen::Ecdsa(whelk_keys::Curve::NistP384),
        &mut ChaCha20Rng::seed_from_u64(5),
    )
    .unwrap();
    for (i, method) in METHODS.iter().enumerate() {
        let (key, alg) = if i % 2 == 0 {
            (&ed, "ssh-ed25519")
        } else {
            (&ec, "ecdsa-sha2-nistp384")
        };
        one_method_as_server(method, key, alg, u64::try_from(i).unwrap());
        eprintln!("{method} with {alg}: ssh accepted our H and signature; keys match");
    }
}
