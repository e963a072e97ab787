//! Replays the fuzz corpus in `testdata/fuzz/<target>/` through the bodies of the fuzz targets
//! (`whelk_wire::fuzzing`), so stable `cargo test` covers every seed and every regression input
//! the fuzzer found. See `docs/fuzzing.md`.
//!
//! The hand-written seeds come from [`seeds`]; `WHELK_WRITE_SEEDS=1 cargo test -p whelk-wire
//! --test fuzz_corpus` (re)writes them into `testdata/fuzz/`. Without the variable the
//! generator test only runs them through the oracles and checks the expected outcomes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use rand_core::{TryCryptoRng, TryRng};
use whelk_wire::Error;
use whelk_wire::frame::{Alignment, Deframer, PacketLimits, encode_packet};
use whelk_wire::fuzzing;
use whelk_wire::msg::{
    AuthMethod, ChannelClose, ChannelData, ChannelEof, ChannelExtendedData, ChannelFailure,
    ChannelOpen, ChannelOpenConfirmation, ChannelOpenFailure, ChannelOpenFailureReason,
    ChannelOpenKind, ChannelRequest, ChannelRequestKind, ChannelSuccess, ChannelWindowAdjust,
    DebugMessage, Disconnect, DisconnectReason, ExtInfo, ExtendedDataType, GlobalRequest,
    GlobalRequestKind, Ignore, KexDhGexGroup, KexDhGexInit, KexDhGexReply, KexDhGexRequest,
    KexDhGexRequestOld, KexEcdhInit, KexEcdhReply, KexInit, KexdhInit, KexdhReply, Message,
    NewCompress, NewKeys, Ping, Pong, Prompt, RawTail, RequestFailure, RequestSuccess,
    ServiceAccept, ServiceRequest, Unimplemented, UserauthBanner, UserauthFailure,
    UserauthInfoRequest, UserauthInfoResponse, UserauthPasswdChangereq, UserauthPkOk,
    UserauthRequest, UserauthSuccess,
};
use whelk_wire::types::{MpInt, NameList, Text};
use whelk_wire::version::{PreambleLimits, Role, VersionReader, VersionStatus};

/// The body of a fuzz target.
type Oracle = fn(&[u8]);

/// The fuzz targets and the function each one's body calls.
const TARGETS: &[(&str, Oracle)] = &[
    ("wire_message", fuzzing::message),
    ("wire_deframe", fuzzing::deframe),
    ("wire_version", fuzzing::version),
];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz")
}

/// Every file of `testdata/fuzz/<target>/`, sorted by name.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_root().join(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()));
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "corpus directory {} is empty",
        dir.display()
    );
    files
}

fn replay(target: &str) -> usize {
    let (_, run) = TARGETS.iter().find(|(t, _)| *t == target).unwrap();
    let files = corpus(target);
    for (path, data) in &files {
        let result = std::panic::catch_unwind(|| run(data));
        assert!(
            result.is_ok(),
            "{target}: {} ({} bytes) fails its oracle; reproduce with \
             `cargo fuzz run {target} {}` from fuzz/",
            path.display(),
            data.len(),
            path.display()
        );
    }
    files.len()
}

#[test]
fn replay_wire_message() {
    let n = replay("wire_message");
    eprintln!("wire_message: {n} inputs replayed");
}

#[test]
fn replay_wire_deframe() {
    let n = replay("wire_deframe");
    eprintln!("wire_deframe: {n} inputs replayed");
}

#[test]
fn replay_wire_version() {
    let n = replay("wire_version");
    eprintln!("wire_version: {n} inputs replayed");
}

/// Every `wire_*` directory under `testdata/fuzz/` is a target replayed here (so a new wire
/// target cannot be added without a replay), and every target has one. Other crates' targets
/// keep their corpora beside these and replay them in their own tests.
#[test]
fn every_wire_corpus_directory_is_a_target() {
    for entry in fs::read_dir(corpus_root()).expect("testdata/fuzz exists") {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if entry.path().is_dir() && name.starts_with("wire_") {
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "testdata/fuzz/{name} has no replay in crates/wire/tests/fuzz_corpus.rs"
            );
        }
    }
    for (target, _) in TARGETS {
        assert!(!corpus(target).is_empty());
    }
}

// ----- The seed generator -----

/// One hand-written corpus entry.
struct Seed {
    target: &'static str,
    name: String,
    data: Vec<u8>,
}

fn t(s: &'static str) -> Text {
    Text::from(s)
}

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

fn names(s: &str) -> NameList {
    NameList::parse(s).unwrap()
}

fn mpint(be: &[u8]) -> MpInt {
    MpInt::from_unsigned_be(be)
}

fn kexinit() -> KexInit {
    KexInit {
        cookie: *b"0123456789abcdef",
        kex_algorithms: names(
            "mlkem768x25519-sha256,curve25519-sha256,ecdh-sha2-nistp256,\
             diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,\
             ext-info-c,kex-strict-c-v00@openssh.com",
        ),
        server_host_key_algorithms: names("ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512"),
        encryption_client_to_server: names("chacha20-poly1305@openssh.com,aes128-gcm@openssh.com"),
        encryption_server_to_client: names("chacha20-poly1305@openssh.com,aes256-ctr"),
        mac_client_to_server: names("hmac-sha2-256-etm@openssh.com,hmac-sha2-256"),
        mac_server_to_client: names("hmac-sha2-256-etm@openssh.com"),
        compression_client_to_server: names("none,zlib@openssh.com"),
        compression_server_to_client: names("none"),
        languages_client_to_server: NameList::empty(),
        languages_server_to_client: NameList::empty(),
        first_kex_packet_follows: false,
    }
}

/// A well-formed instance of every message type (and every method, request and channel
/// kind), named by purpose.
fn messages() -> Vec<(&'static str, Message)> {
    let key = b(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20abcdefghijklmnopqrstuvwxyz012345");
    let sig = b(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x04sig!");
    let p = mpint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc5]);
    let ai = |method| {
        Message::from(UserauthRequest {
            user: t("alice"),
            service: t("ssh-connection"),
            method,
        })
    };
    let gr = |want_reply, kind| Message::from(GlobalRequest { want_reply, kind });
    let open = |kind| {
        Message::from(ChannelOpen {
            sender: 0,
            initial_window: 2 * 1024 * 1024,
            max_packet: 32 * 1024,
            kind,
        })
    };
    let creq = |want_reply, kind| {
        Message::from(ChannelRequest {
            recipient: 1,
            want_reply,
            kind,
        })
    };
    use ChannelOpenKind as O;
    use ChannelRequestKind as R;
    use GlobalRequestKind as G;
    vec![
        (
            "disconnect",
            Disconnect {
                reason: DisconnectReason::PROTOCOL_ERROR,
                description: t("bad packet"),
                language: t(""),
            }
            .into(),
        ),
        (
            "ignore",
            Ignore {
                data: b(b"padding"),
            }
            .into(),
        ),
        ("unimplemented", Unimplemented { sequence: 7 }.into()),
        (
            "debug",
            DebugMessage {
                always_display: true,
                message: t("hello"),
                language: t("en"),
            }
            .into(),
        ),
        (
            "service-request",
            ServiceRequest {
                service: t("ssh-userauth"),
            }
            .into(),
        ),
        (
            "service-accept",
            ServiceAccept {
                service: t("ssh-userauth"),
            }
            .into(),
        ),
        (
            "ext-info",
            ExtInfo {
                extensions: vec![
                    (t("server-sig-algs"), b(b"ssh-ed25519,rsa-sha2-256")),
                    (t("ping@openssh.com"), b(b"0")),
                    (t("publickey-hostbound@openssh.com"), b(b"0")),
                ],
            }
            .into(),
        ),
        ("newcompress", NewCompress {}.into()),
        ("kexinit", kexinit().into()),
        ("newkeys", NewKeys {}.into()),
        ("kexdh-init", KexdhInit { e: p.clone() }.into()),
        (
            "kexdh-reply",
            KexdhReply {
                host_key: key.clone(),
                f: mpint(&[0x12, 0x34]),
                signature: sig.clone(),
            }
            .into(),
        ),
        (
            "kex-ecdh-init",
            KexEcdhInit {
                client_public: Bytes::from(vec![9u8; 32]),
            }
            .into(),
        ),
        (
            "kex-ecdh-reply",
            KexEcdhReply {
                host_key: key.clone(),
                server_public: Bytes::from(vec![7u8; 32]),
                signature: sig.clone(),
            }
            .into(),
        ),
        ("gex-request-old", KexDhGexRequestOld { n: 2048 }.into()),
        (
            "gex-request",
            KexDhGexRequest {
                min: 2048,
                n: 3072,
                max: 8192,
            }
            .into(),
        ),
        (
            "gex-group",
            KexDhGexGroup {
                p: p.clone(),
                g: mpint(&[2]),
            }
            .into(),
        ),
        (
            "gex-init",
            KexDhGexInit {
                e: mpint(&[0x80, 1]),
            }
            .into(),
        ),
        (
            "gex-reply",
            KexDhGexReply {
                host_key: key.clone(),
                f: mpint(&[0x7f]),
                signature: sig.clone(),
            }
            .into(),
        ),
        ("auth-none", ai(AuthMethod::None)),
        (
            "auth-password",
            ai(AuthMethod::Password {
                password: b(b"hunter2"),
                new_password: None,
            }),
        ),
        (
            "auth-password-change",
            ai(AuthMethod::Password {
                password: b(b"hunter2"),
                new_password: Some(b(b"correct horse")),
            }),
        ),
        (
            "auth-publickey-query",
            ai(AuthMethod::PublicKey {
                algorithm: t("ssh-ed25519"),
                public_key: key.clone(),
                signature: None,
            }),
        ),
        (
            "auth-publickey-signed",
            ai(AuthMethod::PublicKey {
                algorithm: t("ssh-ed25519"),
                public_key: key.clone(),
                signature: Some(sig.clone()),
            }),
        ),
        (
            "auth-publickey-hostbound",
            ai(AuthMethod::PublicKeyHostbound {
                algorithm: t("ssh-ed25519"),
                public_key: key.clone(),
                host_key: key.clone(),
                signature: Some(sig.clone()),
            }),
        ),
        (
            "auth-keyboard-interactive",
            ai(AuthMethod::KeyboardInteractive {
                language: t(""),
                submethods: t("pam"),
            }),
        ),
        (
            "auth-hostbased",
            ai(AuthMethod::HostBased {
                algorithm: t("ssh-ed25519"),
                public_key: key.clone(),
                client_host: t("client.example."),
                client_user: t("alice"),
                signature: sig.clone(),
            }),
        ),
        (
            "auth-gssapi",
            ai(AuthMethod::Other {
                method: t("gssapi-with-mic"),
                data: b(
                    b"\x00\x00\x00\x01\x00\x00\x00\x0b\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02",
                ),
            }),
        ),
        (
            "auth-failure",
            UserauthFailure {
                methods: names("publickey,password,keyboard-interactive"),
                partial_success: false,
            }
            .into(),
        ),
        ("auth-success", UserauthSuccess {}.into()),
        (
            "auth-banner",
            UserauthBanner {
                message: t("Authorized use only\r\n"),
                language: t(""),
            }
            .into(),
        ),
        (
            "auth-pk-ok",
            UserauthPkOk {
                algorithm: t("ssh-ed25519"),
                public_key: key.clone(),
            }
            .into(),
        ),
        (
            "auth-passwd-changereq",
            UserauthPasswdChangereq {
                prompt: t("Password expired"),
                language: t(""),
            }
            .into(),
        ),
        (
            "auth-info-request",
            UserauthInfoRequest {
                name: t("PAM"),
                instruction: t(""),
                language: t(""),
                prompts: vec![
                    Prompt {
                        prompt: t("Password: "),
                        echo: false,
                    },
                    Prompt {
                        prompt: t("Code: "),
                        echo: true,
                    },
                ],
            }
            .into(),
        ),
        (
            "auth-info-response",
            UserauthInfoResponse {
                responses: vec![b(b"hunter2"), b(b"123456")],
            }
            .into(),
        ),
        (
            "global-tcpip-forward",
            gr(
                true,
                G::TcpipForward {
                    address: t("localhost"),
                    port: 0,
                },
            ),
        ),
        (
            "global-cancel-tcpip-forward",
            gr(
                true,
                G::CancelTcpipForward {
                    address: t("0.0.0.0"),
                    port: 8080,
                },
            ),
        ),
        (
            "global-streamlocal-forward",
            gr(
                true,
                G::StreamlocalForward {
                    socket_path: t("/tmp/sock"),
                },
            ),
        ),
        (
            "global-cancel-streamlocal-forward",
            gr(
                false,
                G::CancelStreamlocalForward {
                    socket_path: t("/tmp/sock"),
                },
            ),
        ),
        ("global-keepalive", gr(true, G::Keepalive)),
        ("global-no-more-sessions", gr(false, G::NoMoreSessions)),
        (
            "global-hostkeys",
            gr(
                false,
                G::HostKeys {
                    keys: vec![key.clone(), key.clone()],
                },
            ),
        ),
        (
            "global-hostkeys-prove",
            gr(
                true,
                G::HostKeysProve {
                    keys: vec![key.clone()],
                },
            ),
        ),
        (
            "global-other",
            gr(
                true,
                G::Other {
                    name: t("example@whelk"),
                    data: b(b"\x01\x02\x03"),
                },
            ),
        ),
        (
            "request-success-port",
            RequestSuccess {
                data: RawTail(b(b"\x00\x00\x1f\x90")),
            }
            .into(),
        ),
        (
            "request-success-empty",
            RequestSuccess {
                data: RawTail::default(),
            }
            .into(),
        ),
        ("request-failure", RequestFailure {}.into()),
        ("open-session", open(O::Session)),
        (
            "open-x11",
            open(O::X11 {
                originator_address: t("127.0.0.1"),
                originator_port: 6010,
            }),
        ),
        (
            "open-forwarded-tcpip",
            open(O::ForwardedTcpip {
                connected_address: t("0.0.0.0"),
                connected_port: 8080,
                originator_address: t("192.0.2.1"),
                originator_port: 40000,
            }),
        ),
        (
            "open-direct-tcpip",
            open(O::DirectTcpip {
                host: t("example.org"),
                port: 443,
                originator_address: t("127.0.0.1"),
                originator_port: 50000,
            }),
        ),
        (
            "open-direct-streamlocal",
            open(O::DirectStreamlocal {
                socket_path: t("/run/app.sock"),
                reserved: t(""),
                reserved_port: 0,
            }),
        ),
        (
            "open-forwarded-streamlocal",
            open(O::ForwardedStreamlocal {
                socket_path: t("/run/app.sock"),
                reserved: t(""),
            }),
        ),
        ("open-auth-agent", open(O::AuthAgent)),
        (
            "open-tun",
            open(O::Tun {
                mode: 1,
                remote_unit: 0x7fff_ffff,
            }),
        ),
        (
            "open-other",
            open(O::Other {
                channel_type: t("example@whelk"),
                data: b(b"xyz"),
            }),
        ),
        (
            "open-confirmation",
            ChannelOpenConfirmation {
                recipient: 0,
                sender: 5,
                initial_window: 2 * 1024 * 1024,
                max_packet: 32 * 1024,
                data: RawTail::default(),
            }
            .into(),
        ),
        (
            "open-failure",
            ChannelOpenFailure {
                recipient: 0,
                reason: ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                description: t("no"),
                language: t(""),
            }
            .into(),
        ),
        (
            "window-adjust",
            ChannelWindowAdjust {
                recipient: 5,
                bytes_to_add: 0xffff_ffff,
            }
            .into(),
        ),
        (
            "channel-data",
            ChannelData {
                recipient: 5,
                data: b(b"ls -l\n"),
            }
            .into(),
        ),
        (
            "channel-extended-data",
            ChannelExtendedData {
                recipient: 5,
                data_type: ExtendedDataType::STDERR,
                data: b(b"error\n"),
            }
            .into(),
        ),
        ("channel-eof", ChannelEof { recipient: 5 }.into()),
        ("channel-close", ChannelClose { recipient: 5 }.into()),
        (
            "req-pty",
            creq(
                true,
                R::PtyReq {
                    term: t("xterm-256color"),
                    columns: 80,
                    rows: 24,
                    width_px: 640,
                    height_px: 480,
                    modes: b(b"\x35\x00\x00\x00\x01\x00"),
                },
            ),
        ),
        (
            "req-x11",
            creq(
                true,
                R::X11Req {
                    single_connection: false,
                    auth_protocol: t("MIT-MAGIC-COOKIE-1"),
                    auth_cookie: t("0123456789abcdef0123456789abcdef"),
                    screen: 0,
                },
            ),
        ),
        (
            "req-env",
            creq(
                false,
                R::Env {
                    name: t("LANG"),
                    value: t("C.UTF-8"),
                },
            ),
        ),
        ("req-shell", creq(true, R::Shell)),
        (
            "req-exec",
            creq(
                true,
                R::Exec {
                    command: b(b"uname -a"),
                },
            ),
        ),
        (
            "req-subsystem",
            creq(true, R::Subsystem { name: t("sftp") }),
        ),
        (
            "req-window-change",
            creq(
                false,
                R::WindowChange {
                    columns: 120,
                    rows: 40,
                    width_px: 0,
                    height_px: 0,
                },
            ),
        ),
        (
            "req-xon-xoff",
            creq(
                false,
                R::XonXoff {
                    client_can_do: true,
                },
            ),
        ),
        ("req-signal", creq(false, R::Signal { name: t("TERM") })),
        ("req-exit-status", creq(false, R::ExitStatus { status: 1 })),
        (
            "req-exit-signal",
            creq(
                false,
                R::ExitSignal {
                    signal: t("KILL"),
                    core_dumped: true,
                    message: t("killed"),
                    language: t(""),
                },
            ),
        ),
        ("req-break", creq(true, R::Break { length_ms: 500 })),
        ("req-auth-agent", creq(true, R::AuthAgentReq)),
        ("req-eow", creq(false, R::EndOfWrite)),
        ("req-keepalive", creq(true, R::Keepalive)),
        (
            "req-other",
            creq(
                true,
                R::Other {
                    request: t("example@whelk"),
                    data: b(b"\x00"),
                },
            ),
        ),
        ("channel-success", ChannelSuccess { recipient: 5 }.into()),
        ("channel-failure", ChannelFailure { recipient: 5 }.into()),
        ("ping", Ping { data: b(b"ping") }.into()),
        ("pong", Pong { data: b(b"ping") }.into()),
        (
            "unknown-200",
            Message::Unknown {
                number: 200,
                payload: b(b"\x01\x02"),
            },
        ),
        (
            "unknown-gss-hostkey",
            Message::Unknown {
                number: 33,
                payload: b(b"\x00\x00\x00\x00"),
            },
        ),
    ]
}

/// Bytes of a hand-built payload with deliberate faults, the selector it is read under and
/// the error it must produce.
fn broken_messages() -> Vec<(&'static str, u8, Vec<u8>, Error)> {
    let mut kexinit_bytes = Message::from(kexinit()).to_bytes().unwrap().to_vec();
    let reserved_at = kexinit_bytes.len() - 1;
    let mut kexinit_reserved = kexinit_bytes.clone();
    kexinit_reserved[reserved_at] = 1;
    // The kex_algorithms list starts at offset 1 + 16 + 4; give it an empty name.
    kexinit_bytes[21] = b',';
    let what = "SSH_MSG_KEXINIT";
    vec![
        ("empty", 0, vec![], Error::EmptyPayload),
        ("number-0", 0, vec![0], Error::ReservedMessageNumber),
        (
            "kexinit-reserved",
            0,
            kexinit_reserved,
            Error::KexInitReserved(1),
        ),
        (
            "kexinit-empty-name",
            0,
            kexinit_bytes,
            Error::InvalidNameList {
                what,
                rule: whelk_wire::NameRule::Empty,
            },
        ),
        (
            "kexdh-init-noncanonical-mpint",
            0b01,
            b"\x1e\x00\x00\x00\x02\x00\x01".to_vec(),
            Error::NonCanonicalMpint {
                what: "SSH_MSG_KEXDH_INIT",
            },
        ),
        (
            "ext-info-huge-count",
            0,
            b"\x07\xff\xff\xff\xff\x00\x00\x00\x00".to_vec(),
            Error::CountTooLarge {
                what: "SSH_MSG_EXT_INFO",
                count: u32::MAX,
            },
        ),
        (
            "info-request-huge-count",
            0b1100,
            b"\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00".to_vec(),
            Error::CountTooLarge {
                what: "SSH_MSG_USERAUTH_INFO_REQUEST",
                count: 0x1000_0000,
            },
        ),
        (
            "channel-data-truncated",
            0,
            b"\x5e\x00\x00\x00\x05\x00\x00\x00\x64hello".to_vec(),
            Error::Truncated {
                what: "SSH_MSG_CHANNEL_DATA",
            },
        ),
        (
            "channel-eof-trailing",
            0,
            b"\x60\x00\x00\x00\x05\x00".to_vec(),
            Error::TrailingData {
                what: "SSH_MSG_CHANNEL_EOF",
                extra: 1,
            },
        ),
        (
            "string-length-wraps",
            0,
            b"\x02\xff\xff\xff\xfc".to_vec(),
            Error::Truncated {
                what: "SSH_MSG_IGNORE",
            },
        ),
    ]
}

/// Padding for the framing seeds: a fixed pattern, so the seeds are reproducible.
struct Fixed;

impl TryRng for Fixed {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0x5a5a_5a5a)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0x5a5a_5a5a_5a5a_5a5a)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(0x5a);
        Ok(())
    }
}

impl TryCryptoRng for Fixed {}

fn frame(msgs: &[Message]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in msgs {
        encode_packet(&mut out, m, Alignment::PLAINTEXT, &mut Fixed).unwrap();
    }
    out.to_vec()
}

/// A packet with the given header bytes and payload, padded to `total` bytes in all.
fn raw_packet(header: &[u8], total: usize) -> Vec<u8> {
    let mut v = header.to_vec();
    v.resize(total.max(header.len()), 0x5a);
    v
}

/// Framing seeds, with the error each must stop at (catalog P01-P04), if any.
fn framing_seeds() -> Vec<(&'static str, Vec<u8>, Option<Error>)> {
    let kexinit = Message::from(kexinit());
    let data = Message::from(ChannelData {
        recipient: 0,
        data: Bytes::from(vec![b'x'; 1000]),
    });
    let ignore = Message::from(Ignore { data: b(b"") });
    let newkeys = Message::from(NewKeys {});
    let mut truncated = frame(std::slice::from_ref(&data));
    truncated.truncate(truncated.len() - 3);
    let mut valid_then_bad = frame(std::slice::from_ref(&ignore));
    valid_then_bad.extend_from_slice(b"\xff\xff\xff\xff\x00");
    let big = Message::from(Ignore {
        data: Bytes::from(vec![0u8; 40_000]),
    });
    vec![
        ("kexinit", frame(std::slice::from_ref(&kexinit)), None),
        (
            "kex-sequence",
            frame(&[
                kexinit.clone(),
                Message::from(KexEcdhInit {
                    client_public: Bytes::from(vec![9u8; 32]),
                }),
                newkeys.clone(),
            ]),
            None,
        ),
        (
            "ignore-newkeys-data",
            frame(&[ignore.clone(), newkeys, data.clone()]),
            None,
        ),
        ("truncated-packet", truncated, None),
        ("big-ignore-40000", frame(&[big]), None),
        (
            "p01-length-ffffffff",
            b"\xff\xff\xff\xff\x00".to_vec(),
            Some(Error::PacketTooLarge {
                len: u32::MAX,
                max: 64 * 1024,
            }),
        ),
        (
            "p01-length-256k-plus-1",
            b"\x00\x04\x00\x01".to_vec(),
            Some(Error::PacketTooLarge {
                len: 0x0004_0001,
                max: 64 * 1024,
            }),
        ),
        (
            "p01-after-valid-packet",
            valid_then_bad,
            Some(Error::PacketTooLarge {
                len: u32::MAX,
                max: 64 * 1024,
            }),
        ),
        (
            "p02-length-0",
            b"\x00\x00\x00\x00".to_vec(),
            Some(Error::PacketTooSmall { len: 0 }),
        ),
        (
            "p02-length-4",
            b"\x00\x00\x00\x04\x04\x15\x00\x00\x00".to_vec(),
            Some(Error::PacketTooSmall { len: 4 }),
        ),
        (
            "p03-padding-3",
            raw_packet(b"\x00\x00\x00\x0c\x03\x15", 16),
            Some(Error::BadPadding {
                padding: 3,
                len: 12,
            }),
        ),
        (
            "p03-padding-12",
            raw_packet(b"\x00\x00\x00\x0c\x0c\x15", 16),
            Some(Error::BadPadding {
                padding: 12,
                len: 12,
            }),
        ),
        (
            "p03-misaligned-13",
            raw_packet(b"\x00\x00\x00\x0d\x0a\x15", 17),
            Some(Error::PacketMisaligned { len: 13, block: 8 }),
        ),
        (
            "p04-message-0",
            raw_packet(b"\x00\x00\x00\x0c\x0a\x00", 16),
            None,
        ),
        (
            "p05-message-200",
            raw_packet(b"\x00\x00\x00\x0c\x0a\xc8", 16),
            None,
        ),
    ]
}

/// Version exchange seeds, with the outcome a client and a server must reach.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// The identification line, as read.
    Line(&'static [u8]),
    /// More input needed.
    Incomplete,
    /// Rejected.
    Err(Error),
}

fn version_seeds() -> Vec<(&'static str, Vec<u8>, Outcome, Outcome)> {
    use Outcome::{Err as E, Incomplete, Line};
    let packet = frame(&[Message::from(kexinit())]);
    let with_packet = |line: &[u8]| {
        let mut v = line.to_vec();
        v.extend_from_slice(&packet);
        v
    };
    let long_version = {
        let mut v = b"SSH-2.0-".to_vec();
        v.extend(std::iter::repeat_n(b'A', 300));
        v.extend_from_slice(b"\r\n");
        v
    };
    let long_preamble = {
        let mut v = std::iter::repeat_n(b'A', 9000).collect::<Vec<_>>();
        v.extend_from_slice(b"\r\nSSH-2.0-x\r\n");
        v
    };
    let many_lines = {
        let mut v = b"\n".repeat(1025);
        v.extend_from_slice(b"SSH-2.0-x\r\n");
        v
    };
    let preamble_total = {
        let line = [b"x".repeat(8000).as_slice(), b"\r\n"].concat();
        let mut v = line.repeat(9);
        v.extend_from_slice(b"SSH-2.0-x\r\n");
        v
    };
    let too_long = Error::VersionLineTooLong { max: 255 };
    vec![
        (
            "openssh",
            with_packet(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"),
            Line(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13"),
            Line(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13"),
        ),
        (
            "bare-lf",
            b"SSH-2.0-whelk_0.1\n".to_vec(),
            Line(b"SSH-2.0-whelk_0.1"),
            Line(b"SSH-2.0-whelk_0.1"),
        ),
        (
            "proto-1.99",
            b"SSH-1.99-Cisco-1.25\r\n".to_vec(),
            Line(b"SSH-1.99-Cisco-1.25"),
            Line(b"SSH-1.99-Cisco-1.25"),
        ),
        (
            "proto-1.5",
            b"SSH-1.5-HALLO\r\n".to_vec(),
            E(Error::UnsupportedProtocolVersion),
            E(Error::UnsupportedProtocolVersion),
        ),
        (
            "proto-3.0",
            b"SSH-3.0-x\r\n".to_vec(),
            E(Error::UnsupportedProtocolVersion),
            E(Error::UnsupportedProtocolVersion),
        ),
        (
            "preamble",
            with_packet(
                b"Welcome to example.org\r\nPlease behave.\r\nSSH-2.0-dropbear_2024.86\r\n",
            ),
            Line(b"SSH-2.0-dropbear_2024.86"),
            E(Error::UnexpectedPreamble),
        ),
        (
            "nul",
            b"SSH-2.0-Open\0SSH\r\n".to_vec(),
            E(Error::NulInVersion),
            E(Error::NulInVersion),
        ),
        (
            "nul-in-preamble",
            b"hello\0\r\nSSH-2.0-x\r\n".to_vec(),
            E(Error::NulInVersion),
            // A server stops at the first byte that cannot start `SSH-`.
            E(Error::UnexpectedPreamble),
        ),
        (
            "stray-cr",
            b"SSH-2.0-x\ry\r\n".to_vec(),
            E(Error::StrayCarriageReturn),
            E(Error::StrayCarriageReturn),
        ),
        (
            "double-cr",
            b"SSH-2.0-x\r\r\n".to_vec(),
            E(Error::StrayCarriageReturn),
            E(Error::StrayCarriageReturn),
        ),
        ("cr-at-end", b"SSH-2.0-x\r".to_vec(), Incomplete, Incomplete),
        (
            "no-line-end",
            b"SSH-2.0-OpenSSH_9.6".to_vec(),
            Incomplete,
            Incomplete,
        ),
        (
            "overlong-version-line",
            long_version,
            E(too_long.clone()),
            E(too_long),
        ),
        (
            "overlong-preamble-line",
            long_preamble,
            E(Error::PreambleLineTooLong { max: 8192 }),
            E(Error::UnexpectedPreamble),
        ),
        (
            "too-many-preamble-lines",
            many_lines,
            E(Error::TooManyPreambleLines { max: 1024 }),
            E(Error::UnexpectedPreamble),
        ),
        (
            "preamble-too-large",
            preamble_total,
            E(Error::PreambleTooLarge { max: 64 * 1024 }),
            E(Error::UnexpectedPreamble),
        ),
        (
            "comments-with-spaces",
            b"SSH-2.0-PuTTY_Release_0.81 some comment here\r\n".to_vec(),
            Line(b"SSH-2.0-PuTTY_Release_0.81 some comment here"),
            Line(b"SSH-2.0-PuTTY_Release_0.81 some comment here"),
        ),
        (
            "empty-software",
            b"SSH-2.0-\r\n".to_vec(),
            E(Error::MalformedVersion),
            E(Error::MalformedVersion),
        ),
        (
            "no-dash",
            b"SSH-2.0\r\n".to_vec(),
            E(Error::MalformedVersion),
            E(Error::MalformedVersion),
        ),
        (
            "tab-in-comment",
            b"SSH-2.0-x a\tb\r\n".to_vec(),
            E(Error::MalformedVersion),
            E(Error::MalformedVersion),
        ),
        (
            "ssh-prefix-in-preamble",
            b"SSHELL banner\r\nSSH-2.0-x\r\n".to_vec(),
            Line(b"SSH-2.0-x"),
            E(Error::UnexpectedPreamble),
        ),
    ]
}

fn read_version(role: Role, data: &[u8]) -> Outcome {
    let mut r = VersionReader::new(role, PreambleLimits::default());
    match r.read(data) {
        Ok(VersionStatus::Done { version, .. }) => {
            Outcome::Line(Vec::leak(version.line().to_vec()))
        }
        Ok(VersionStatus::Incomplete { .. }) => Outcome::Incomplete,
        Err(e) => Outcome::Err(e),
    }
}

/// Every hand-written seed, each checked against the outcome it was written for.
fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    for (i, (name, msg)) in messages().into_iter().enumerate() {
        let payload = msg.to_bytes().unwrap().to_vec();
        // The selector that gives the number its meaning, and a second one that cycles
        // through all 16 so every context appears in the corpus.
        let own = (0..16)
            .find(|&s| {
                Message::decode_with(&Bytes::from(payload.clone()), fuzzing::context(s)).as_ref()
                    == Ok(&msg)
            })
            .unwrap_or_else(|| panic!("no context decodes {name}"));
        let cycling = u8::try_from(i % 16).unwrap();
        let mut selectors = vec![own];
        let ctx_of = |s: u8| fuzzing::context(s);
        let payload_bytes = Bytes::from(payload.clone());
        if cycling != own
            && Message::decode_with(&payload_bytes, ctx_of(cycling)).as_ref() == Ok(&msg)
        {
            selectors.push(cycling);
        }
        for s in selectors {
            assert_eq!(
                Message::decode_with(&payload_bytes, ctx_of(s)).unwrap(),
                msg,
                "seed {name} under selector {s}"
            );
            let mut data = vec![s];
            data.extend_from_slice(&payload);
            out.push(Seed {
                target: "wire_message",
                name: format!("{name}-s{s:02}"),
                data,
            });
        }
        // Method-specific numbers without their context decode as Unknown.
        if own != 0 && !matches!(msg, Message::Unknown { .. }) {
            assert!(matches!(
                Message::decode(&payload_bytes).unwrap(),
                Message::Unknown { .. }
            ));
            let mut data = vec![0];
            data.extend_from_slice(&payload);
            out.push(Seed {
                target: "wire_message",
                name: format!("{name}-nocontext-s00"),
                data,
            });
        }
    }
    for (name, selector, payload, err) in broken_messages() {
        let got = Message::decode_with(&Bytes::from(payload.clone()), fuzzing::context(selector));
        assert_eq!(got, Err(err), "broken seed {name}");
        let mut data = vec![selector];
        data.extend_from_slice(&payload);
        out.push(Seed {
            target: "wire_message",
            name: format!("bad-{name}-s{selector:02}"),
            data,
        });
    }
    // A non-canonical boolean (2 for TRUE) decodes and re-encodes as 1.
    let mut bool2 = vec![0];
    bool2.extend_from_slice(b"\x04\x02\x00\x00\x00\x02hi\x00\x00\x00\x00");
    out.push(Seed {
        target: "wire_message",
        name: "debug-bool-2-s00".into(),
        data: bool2,
    });

    for (name, data, err) in framing_seeds() {
        let mut d = Deframer::new(PacketLimits::new(64 * 1024));
        let mut buf = BytesMut::from(&data[..]);
        let got = loop {
            match d.next_packet(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        assert_eq!(got, err, "framing seed {name}");
        out.push(Seed {
            target: "wire_deframe",
            name: name.to_string(),
            data,
        });
    }

    for (name, data, client, server) in version_seeds() {
        assert_eq!(read_version(Role::Client, &data), client, "{name} (client)");
        assert_eq!(read_version(Role::Server, &data), server, "{name} (server)");
        out.push(Seed {
            target: "wire_version",
            name: name.to_string(),
            data,
        });
    }
    out
}

/// Runs every hand-written seed through its target's oracle; with `WHELK_WRITE_SEEDS=1` also
/// writes them to `testdata/fuzz/<target>/<name>`.
#[test]
fn hand_written_seeds() {
    let seeds = seeds();
    let write = std::env::var_os("WHELK_WRITE_SEEDS").is_some_and(|v| v == "1");
    for seed in &seeds {
        let (_, run) = TARGETS.iter().find(|(t, _)| *t == seed.target).unwrap();
        run(&seed.data);
        if write {
            let dir = corpus_root().join(seed.target);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(&seed.name), &seed.data).unwrap();
        }
    }
    eprintln!(
        "{} hand-written seeds{}",
        seeds.len(),
        if write { " written" } else { "" }
    );
}
