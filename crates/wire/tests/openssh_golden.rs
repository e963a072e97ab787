//! Golden vectors captured from real OpenSSH 9.2p1 (`testdata/openssh/`, see its README):
//! each file is the peer's identification line and its first binary packet, exactly as they
//! came off the wire. They are parsed here with the crate's own [`VersionReader`], [`Deframer`]
//! and [`Message::decode`], and every algorithm list is checked exactly. No OpenSSH is
//! needed to run these.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::{Bytes, BytesMut};
use whelk_wire::frame::{Deframer, PacketLimits};
use whelk_wire::msg::{KexInit, Message, MessageBody};
use whelk_wire::version::{PreambleLimits, Role, Version, VersionReader, VersionStatus};

macro_rules! golden {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/openssh/",
            $name,
            ".bin"
        ))
    };
}

const SSHD_DEFAULT: &[u8] = golden!("sshd-default");
const SSHD_KEX_CURVE25519: &[u8] = golden!("sshd-kex-curve25519");
const SSHD_CIPHERS: &[u8] = golden!("sshd-ciphers");
const SSHD_MACS_ETM: &[u8] = golden!("sshd-macs-etm");
const SSHD_HOSTKEYS_ALL: &[u8] = golden!("sshd-hostkeys-all");
const SSHD_HOSTKEYALGS: &[u8] = golden!("sshd-hostkeyalgs");
const SSHD_COMPRESSION_NO: &[u8] = golden!("sshd-compression-no");
const SSH_DEFAULT: &[u8] = golden!("ssh-default");
const SSH_RESTRICTED: &[u8] = golden!("ssh-restricted");

const SERVER_CAPTURES: &[(&str, &[u8])] = &[
    ("sshd-default", SSHD_DEFAULT),
    ("sshd-kex-curve25519", SSHD_KEX_CURVE25519),
    ("sshd-ciphers", SSHD_CIPHERS),
    ("sshd-macs-etm", SSHD_MACS_ETM),
    ("sshd-hostkeys-all", SSHD_HOSTKEYS_ALL),
    ("sshd-hostkeyalgs", SSHD_HOSTKEYALGS),
    ("sshd-compression-no", SSHD_COMPRESSION_NO),
];

const CLIENT_CAPTURES: &[(&str, &[u8])] = &[
    ("ssh-default", SSH_DEFAULT),
    ("ssh-restricted", SSH_RESTRICTED),
];

const VERSION_LINE: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10";

/// OpenSSH 9.2p1's default `KexAlgorithms` (Debian 12), as `sshd -T` and `ssh -G` print it.
const DEFAULT_KEX: &[&str] = &[
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
];

const DEFAULT_CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
];

const DEFAULT_MACS: &[&str] = &[
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
];

/// The client's default `HostKeyAlgorithms` with no known host keys.
const CLIENT_DEFAULT_HOSTKEY_ALGS: &[&str] = &[
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
];

const SERVER_KEX_MARKERS: &[&str] = &["kex-strict-s-v00@openssh.com"];
const CLIENT_KEX_MARKERS: &[&str] = &["ext-info-c", "kex-strict-c-v00@openssh.com"];

/// A capture parsed the way a transport would: version exchange, then one packet.
struct Capture {
    version: Version,
    version_len: usize,
    payload: Bytes,
    padding_len: u8,
    kexinit: KexInit,
}

/// Parses a capture; `we_are` is the role of the side that received it.
fn parse(name: &str, raw: &[u8], we_are: Role) -> Capture {
    let mut reader = VersionReader::new(we_are, PreambleLimits::default());
    let VersionStatus::Done { consumed, version } = reader.read(raw).unwrap() else {
        panic!("{name}: identification line incomplete");
    };
    let mut buf = BytesMut::from(&raw[consumed..]);
    let mut deframer = Deframer::new(PacketLimits::default());
    assert_eq!(deframer.bytes_needed(&buf).unwrap(), 0, "{name}");
    let packet = deframer
        .next_packet(&mut buf)
        .unwrap()
        .unwrap_or_else(|| panic!("{name}: packet incomplete"));
    assert!(
        buf.is_empty(),
        "{name}: {} bytes after the packet",
        buf.len()
    );
    let Message::KexInit(kexinit) = Message::decode(&packet.payload).unwrap() else {
        panic!("{name}: first packet is not KEXINIT");
    };
    Capture {
        version,
        version_len: consumed,
        payload: packet.payload,
        padding_len: packet.padding_len,
        kexinit,
    }
}

fn names(list: &whelk_wire::types::NameList) -> Vec<&str> {
    list.iter().collect()
}

fn with(base: &[&'static str], extra: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(extra).copied().collect()
}

/// Checks the lists that are the same in both directions and returns them once.
fn symmetric(c: &Capture) -> (Vec<&str>, Vec<&str>, Vec<&str>) {
    let k = &c.kexinit;
    assert_eq!(k.encryption_client_to_server, k.encryption_server_to_client);
    assert_eq!(k.mac_client_to_server, k.mac_server_to_client);
    assert_eq!(
        k.compression_client_to_server,
        k.compression_server_to_client
    );
    assert!(k.languages_client_to_server.is_empty());
    assert!(k.languages_server_to_client.is_empty());
    assert!(!k.first_kex_packet_follows);
    (
        names(&k.encryption_client_to_server),
        names(&k.mac_client_to_server),
        names(&k.compression_client_to_server),
    )
}

#[test]
fn every_capture_is_one_version_line_and_one_well_formed_packet() {
    for &(name, raw) in SERVER_CAPTURES {
        let c = parse(name, raw, Role::Client);
        check_framing(name, raw, &c);
    }
    for &(name, raw) in CLIENT_CAPTURES {
        let c = parse(name, raw, Role::Server);
        check_framing(name, raw, &c);
    }
}

fn check_framing(name: &str, raw: &[u8], c: &Capture) {
    // The identification line, CR LF, and nothing else before the packet.
    assert_eq!(c.version.line().as_ref(), VERSION_LINE, "{name}");
    assert_eq!(
        &raw[..c.version_len],
        [VERSION_LINE, b"\r\n"].concat(),
        "{name}"
    );
    assert_eq!(c.version.protocol(), "2.0");
    assert_eq!(c.version.software(), "OpenSSH_9.2p1");
    assert_eq!(c.version.comments(), Some(&b"Debian-2+deb12u10"[..]));
    // Unencrypted framing: 8-byte aligned, 4..=255 bytes of padding.
    let packet = &raw[c.version_len..];
    let packet_len = u32::from_be_bytes(packet[..4].try_into().unwrap()) as usize;
    assert_eq!(packet.len(), 4 + packet_len, "{name}");
    assert_eq!(packet.len() % 8, 0, "{name}");
    assert_eq!(usize::from(packet[4]), usize::from(c.padding_len));
    assert!(c.padding_len >= 4, "{name}");
    assert_eq!(&packet[5..5 + c.payload.len()], &c.payload[..], "{name}");
    assert_eq!(
        5 + c.payload.len() + usize::from(c.padding_len),
        packet.len()
    );
    // OpenSSH pads as little as possible: under 4 + one 8-byte block.
    assert!(c.padding_len < 12, "{name}: padding {}", c.padding_len);
    // Re-encoding the decoded KEXINIT gives back the payload byte for byte.
    let mut again = Vec::new();
    c.kexinit.encode(&mut again);
    assert_eq!(again, c.payload.as_ref(), "{name}");
    // Any truncation of the capture is "need more", never an error or a wrong parse.
    for cut in 0..raw.len() {
        let mut reader = VersionReader::new(Role::Client, PreambleLimits::default());
        match reader.read(&raw[..cut]).unwrap() {
            VersionStatus::Incomplete { consumed } => assert_eq!(consumed, 0),
            VersionStatus::Done { consumed, .. } => {
                assert_eq!(consumed, c.version_len);
                let mut buf = BytesMut::from(&raw[consumed..cut]);
                let mut d = Deframer::new(PacketLimits::default());
                assert!(d.next_packet(&mut buf).unwrap().is_none(), "{name} @ {cut}");
            }
        }
    }
}

#[test]
fn sshd_default() {
    let c = parse("sshd-default", SSHD_DEFAULT, Role::Client);
    let k = &c.kexinit;
    let kex = names(&k.kex_algorithms);
    assert_eq!(kex, with(DEFAULT_KEX, SERVER_KEX_MARKERS));
    for required in [
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "kex-strict-s-v00@openssh.com",
    ] {
        assert!(k.kex_algorithms.contains(required), "{required}");
    }
    // 9.2 servers do not send ext-info-s; 9.9's ML-KEM hybrid is not there yet.
    assert!(!k.kex_algorithms.contains("ext-info-s"));
    assert!(!k.kex_algorithms.contains("mlkem768x25519-sha256"));
    assert_eq!(names(&k.server_host_key_algorithms), ["ssh-ed25519"]);
    let (ciphers, macs, compression) = symmetric(&c);
    assert_eq!(ciphers, DEFAULT_CIPHERS);
    assert_eq!(macs, DEFAULT_MACS);
    assert_eq!(compression, ["none", "zlib@openssh.com"]);
}

#[test]
fn sshd_kex_algorithms_option() {
    let c = parse("sshd-kex-curve25519", SSHD_KEX_CURVE25519, Role::Client);
    assert_eq!(
        names(&c.kexinit.kex_algorithms),
        ["curve25519-sha256", "kex-strict-s-v00@openssh.com"]
    );
    assert_eq!(
        names(&c.kexinit.server_host_key_algorithms),
        ["ssh-ed25519"]
    );
    let (ciphers, macs, compression) = symmetric(&c);
    assert_eq!(ciphers, DEFAULT_CIPHERS);
    assert_eq!(macs, DEFAULT_MACS);
    assert_eq!(compression, ["none", "zlib@openssh.com"]);
}

#[test]
fn sshd_ciphers_option() {
    let c = parse("sshd-ciphers", SSHD_CIPHERS, Role::Client);
    assert_eq!(
        names(&c.kexinit.kex_algorithms),
        with(DEFAULT_KEX, SERVER_KEX_MARKERS)
    );
    let (ciphers, macs, _) = symmetric(&c);
    assert_eq!(ciphers, ["aes128-ctr", "aes256-gcm@openssh.com"]);
    assert_eq!(macs, DEFAULT_MACS);
}

#[test]
fn sshd_macs_option() {
    let c = parse("sshd-macs-etm", SSHD_MACS_ETM, Role::Client);
    let (ciphers, macs, _) = symmetric(&c);
    assert_eq!(ciphers, DEFAULT_CIPHERS);
    assert_eq!(macs, ["hmac-sha2-256-etm@openssh.com"]);
}

#[test]
fn sshd_host_key_algorithms_follow_the_keys_it_holds() {
    // One algorithm per key type (two for RSA), in HostKey order; no SHA-1 ssh-rsa.
    let c = parse("sshd-hostkeys-all", SSHD_HOSTKEYS_ALL, Role::Client);
    assert_eq!(
        names(&c.kexinit.server_host_key_algorithms),
        [
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
            "rsa-sha2-512",
            "rsa-sha2-256"
        ]
    );
    let (ciphers, macs, _) = symmetric(&c);
    assert_eq!(ciphers, DEFAULT_CIPHERS);
    assert_eq!(macs, DEFAULT_MACS);

    // HostKeyAlgorithms=rsa-sha2-256,ssh-ed25519 filters but does not reorder.
    let c = parse("sshd-hostkeyalgs", SSHD_HOSTKEYALGS, Role::Client);
    assert_eq!(
        names(&c.kexinit.server_host_key_algorithms),
        ["ssh-ed25519", "rsa-sha2-256"]
    );
}

#[test]
fn sshd_compression_option() {
    let c = parse("sshd-compression-no", SSHD_COMPRESSION_NO, Role::Client);
    let (_, _, compression) = symmetric(&c);
    assert_eq!(compression, ["none"]);
}

#[test]
fn ssh_client_default() {
    let c = parse("ssh-default", SSH_DEFAULT, Role::Server);
    let k = &c.kexinit;
    assert_eq!(
        names(&k.kex_algorithms),
        with(DEFAULT_KEX, CLIENT_KEX_MARKERS)
    );
    assert_eq!(
        names(&k.server_host_key_algorithms),
        CLIENT_DEFAULT_HOSTKEY_ALGS
    );
    let (ciphers, macs, compression) = symmetric(&c);
    assert_eq!(ciphers, DEFAULT_CIPHERS);
    assert_eq!(macs, DEFAULT_MACS);
    // Compression=no (the default) still offers zlib, after none.
    assert_eq!(compression, ["none", "zlib@openssh.com", "zlib"]);
}

#[test]
fn ssh_client_restricted() {
    let c = parse("ssh-restricted", SSH_RESTRICTED, Role::Server);
    let k = &c.kexinit;
    assert_eq!(
        names(&k.kex_algorithms),
        [
            "curve25519-sha256",
            "ext-info-c",
            "kex-strict-c-v00@openssh.com"
        ]
    );
    assert_eq!(
        names(&k.server_host_key_algorithms),
        CLIENT_DEFAULT_HOSTKEY_ALGS
    );
    let (ciphers, macs, compression) = symmetric(&c);
    assert_eq!(ciphers, ["chacha20-poly1305@openssh.com"]);
    assert_eq!(macs, ["hmac-sha2-512"]);
    assert_eq!(compression, ["zlib@openssh.com", "zlib", "none"]);
}

#[test]
fn a_server_capture_read_as_server_and_a_client_capture_read_as_client() {
    // Neither side sends preamble lines, so the role does not change the result.
    let a = parse("sshd-default", SSHD_DEFAULT, Role::Server);
    let b = parse("sshd-default", SSHD_DEFAULT, Role::Client);
    assert_eq!(a.kexinit, b.kexinit);
    let a = parse("ssh-default", SSH_DEFAULT, Role::Client);
    let b = parse("ssh-default", SSH_DEFAULT, Role::Server);
    assert_eq!(a.kexinit, b.kexinit);
}

#[test]
fn negotiation_between_the_default_client_and_server_lists() {
    // RFC 4253 §7.1: the first client algorithm the server also supports.
    let server = parse("sshd-default", SSHD_DEFAULT, Role::Client).kexinit;
    let client = parse("ssh-default", SSH_DEFAULT, Role::Server).kexinit;
    let pick = |c: &whelk_wire::types::NameList, s: &whelk_wire::types::NameList| {
        c.first_match(s).map(str::to_owned)
    };
    assert_eq!(
        pick(&client.kex_algorithms, &server.kex_algorithms).as_deref(),
        Some("sntrup761x25519-sha512")
    );
    assert_eq!(
        pick(
            &client.server_host_key_algorithms,
            &server.server_host_key_algorithms
        )
        .as_deref(),
        Some("ssh-ed25519")
    );
    assert_eq!(
        pick(
            &client.encryption_client_to_server,
            &server.encryption_client_to_server
        )
        .as_deref(),
        Some("chacha20-poly1305@openssh.com")
    );
    assert_eq!(
        pick(
            &client.compression_client_to_server,
            &server.compression_client_to_server
        )
        .as_deref(),
        Some("none")
    );
}
