//! Interop with real OpenSSH (9.2 here) in both directions, over every pairing the two
//! implementations have in common: the algorithms `ssh -Q kex|cipher|mac|HostKeyAlgorithms`
//! lists that whelk's registries also hold (`none`, certificates and `sk-*` excluded). With
//! OpenSSH 9.2 that is 14 key exchange methods, 10 ciphers (3 of them AEAD), 13 MACs (9
//! HMACs and the 4 UMACs, `umac-{64,128}[-etm]@openssh.com`) and 7 host key algorithms
//! (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `-nistp384`, `-nistp521`, `rsa-sha2-512`,
//! `rsa-sha2-256` and the SHA-1 `ssh-rsa`, which both still implement but use only when asked
//! to). Each direction covers:
//!
//! - every cipher x MAC pair: 7 non-AEAD ciphers x 13 MACs, plus the 3 AEAD ciphers once each
//!   (they ignore the MAC): 94 pairs;
//! - every key exchange x host key algorithm pair: 14 x 7 = 98 pairs for `ssh` -> whelk;
//!   14 x 6 = 84 for whelk -> `sshd`, as whelk's transport client refuses SHA-1 `ssh-rsa`
//!   host key signatures (its default verification policy; the test checks that refusal
//!   against `sshd`).
//!
//! Row `i` of a direction takes its `(i mod 84)`-th (whelk -> `sshd`) or `i`-th (`ssh` ->
//! whelk) kex/host key pair and its `(i mod 94)`-th cipher/MAC pair, so every pair of both
//! kinds is used at least once (not the full 4-way product): 94 connections whelk -> `sshd`,
//! 98 `ssh` -> whelk. Rows run on a few threads, each on its own connection.
//!
//! - whelk client -> `sshd`: one `sshd` for all rows, offering every algorithm above, with
//!   the fixture's Ed25519, ECDSA P-256 and RSA host keys plus P-384 and P-521 keys made here
//!   with `ssh-keygen`; each connection's client configuration lists exactly one algorithm per
//!   category. The client must see KEXDONE with exactly those (cipher and MAC in both
//!   directions), strict KEX, `server-sig-algs`, the `ssh-userauth` service and a
//!   USERAUTH_FAILURE for method `none` (the USERAUTH_REQUEST payload is sent through
//!   `send_payload`).
//! - `ssh -vvv` -> whelk server (a small loop over std::net driving the sans-IO transport,
//!   offering every algorithm above with Ed25519, ECDSA P-256/384/521 and RSA keys): each
//!   `ssh` run names one algorithm per category with `-o`, and its `-vvv` log must show kex
//!   completing with exactly them (`kex: algorithm:`, `host key algorithm:`,
//!   `server->client cipher: X MAC: Y` and `client->server ...`, MAC `<implicit>` for AEAD);
//!   the server then accepts `none` authentication, re-keys (OpenSSH accepts a re-exchange
//!   only after authentication) with its answer to the session CHANNEL_OPEN queued
//!   meanwhile, and refuses the channel.
//!
//! A missing `ssh`, `sshd` or `ssh-keygen` fails the tests (they do not skip).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use whelk_test::openssh::{HostKeyType, Ssh, Sshd};
use whelk_transport::{ClientConfig, Connection, Event, HostKeyDecision, ServerConfig};

/// Host key algorithms both sides implement (no certificates, no security keys). Both
/// servers hold Ed25519, ECDSA P-256/384/521 and RSA keys.
const HOST_KEY_ALGORITHMS: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// Rows run on this many threads per test.
const THREADS: usize = 3;

/// Locates an OpenSSH tool; a missing one fails the test with an install hint.
fn tool(name: &str) -> PathBuf {
    whelk_test::openssh::find(name).unwrap_or_else(|e| panic!("OpenSSH is required: {e}"))
}

fn ssh_q(what: &str) -> Vec<String> {
    let out = Command::new(tool("ssh"))
        .args(["-Q", what])
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh -Q {what}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The algorithms both sides implement, in whelk's registry order: kex, ciphers, MACs and
/// host key algorithms.
fn common_algorithms() -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let kex = ssh_q("kex");
    let ciphers = ssh_q("cipher");
    let macs = ssh_q("mac");
    let host = ssh_q("HostKeyAlgorithms");
    let k: Vec<String> = whelk_kex::METHODS
        .iter()
        .map(|m| m.name.to_string())
        .filter(|n| kex.contains(n))
        .collect();
    let c: Vec<String> = whelk_cipher::registry::CIPHERS
        .iter()
        .map(|c| c.name.to_string())
        .filter(|n| ciphers.contains(n) && n != "none")
        .collect();
    let m: Vec<String> = whelk_cipher::registry::MACS
        .iter()
        .map(|m| m.name.to_string())
        .filter(|n| macs.contains(n) && n != "none")
        .collect();
    let h: Vec<String> = HOST_KEY_ALGORITHMS
        .iter()
        .map(|h| h.to_string())
        .filter(|h| host.contains(h) && whelk_keys::SigAlg::from_name(h).is_some())
        .collect();
    if openssh_version() == (9, 2) {
        // The counts the module documentation states.
        assert_eq!((k.len(), c.len(), m.len(), h.len()), (14, 10, 13, 7));
    }
    (k, c, m, h)
}

fn is_aead(cipher: &str) -> bool {
    whelk_cipher::registry::cipher_by_name(cipher)
        .unwrap()
        .is_aead()
}

/// One connection: kex, cipher, MAC (ignored with an AEAD cipher), host key algorithm.
type Row = [String; 4];

/// Rows covering every cipher x MAC pair (AEAD ciphers once, with the first MAC listed for
/// form's sake) and every kex x host key pair: row `i` takes kex/host pair `i` and
/// cipher/MAC pair `i`, the shorter list wrapping around.
fn plan(kex: &[String], ciphers: &[String], macs: &[String], hosts: &[String]) -> Vec<Row> {
    let mut cipher_mac: Vec<(&String, &String)> = Vec::new();
    for c in ciphers {
        if is_aead(c) {
            cipher_mac.push((c, &macs[0]));
        } else {
            cipher_mac.extend(macs.iter().map(|m| (c, m)));
        }
    }
    let kex_host: Vec<(&String, &String)> = kex
        .iter()
        .flat_map(|k| hosts.iter().map(move |h| (k, h)))
        .collect();
    let n = cipher_mac.len().max(kex_host.len());
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            let (k, h) = kex_host[i % kex_host.len()];
            let (c, m) = cipher_mac[i % cipher_mac.len()];
            [k.clone(), c.clone(), m.clone(), h.clone()]
        })
        .collect();
    for (c, m) in &cipher_mac {
        assert!(rows.iter().any(|r| &r[1] == *c && &r[2] == *m), "{c} {m}");
    }
    for (k, h) in &kex_host {
        assert!(rows.iter().any(|r| &r[0] == *k && &r[3] == *h), "{k} {h}");
    }
    rows
}

/// Runs `f(index, row)` for every row on [`THREADS`] threads; a panicking row fails the test
/// (the other threads stop taking new rows).
fn run_rows<F>(rows: &[Row], f: F)
where
    F: Fn(usize, &Row) + Sync,
{
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(row) = rows.get(i) else { return };
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            f(i, row);
                        }));
                        if let Err(e) = r {
                            eprintln!("row {i} failed: {row:?}");
                            failed.store(true, Ordering::Relaxed);
                            std::panic::resume_unwind(e);
                        }
                    }
                })
            })
            .collect();
        let mut first = None;
        for h in handles {
            if let Err(e) = h.join() {
                first.get_or_insert(e);
            }
        }
        if let Some(e) = first {
            std::panic::resume_unwind(e);
        }
    });
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p =
            std::env::temp_dir().join(format!("whelk-openssh-test-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An ECDSA host key of `bits` (384 or 521) made with `ssh-keygen` in `dir`, for sshd (the
/// fixture only makes P-256 ones).
fn ecdsa_host_key(dir: &Path, bits: u32) -> PathBuf {
    let path = dir.join(format!("host_ecdsa{bits}"));
    let out = Command::new(tool("ssh-keygen"))
        .args(["-q", "-t", "ecdsa", "-b", &bits.to_string(), "-N", "", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    path
}

/// `(major, minor)` of the local OpenSSH.
fn openssh_version() -> (u32, u32) {
    let v = whelk_test::openssh::ssh_version().unwrap();
    let num = v
        .strip_prefix("OpenSSH_")
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit() && c != '.').next())
        .unwrap_or_else(|| panic!("unexpected ssh -V: {v}"));
    let mut it = num.split('.').map(|x| x.parse::<u32>().unwrap());
    (it.next().unwrap(), it.next().unwrap_or(0))
}

/// Drives `conn` over `s` until `on_event` says it is done (or the peer closes). `on_event`
/// sees every event. A transport error (after its DISCONNECT is sent) is returned.
fn drive<F>(
    conn: &mut Connection,
    s: &mut TcpStream,
    timeout: Duration,
    mut on_event: F,
) -> Result<(), String>
where
    F: FnMut(&mut Connection, Event) -> bool,
{
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s.set_nodelay(true).unwrap();
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = BytesMut::new();
    loop {
        assert!(start.elapsed() < timeout, "timed out: {conn:?}");
        let now = Instant::now();
        out.clear();
        if conn.poll_transmit(now, &mut out) > 0 {
            s.write_all(&out).unwrap();
        }
        while let Some(ev) = conn.poll_event() {
            if on_event(conn, ev) {
                out.clear();
                if conn.poll_transmit(Instant::now(), &mut out) > 0 {
                    let _ = s.write_all(&out);
                }
                return Ok(());
            }
        }
        if let Some(t) = conn.poll_timeout()
            && t <= now
        {
            conn.handle_timeout(now);
        }
        match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                let mut data = &buf[..n];
                while !data.is_empty() {
                    match conn.handle_input(Instant::now(), data) {
                        Ok(used) => {
                            data = &data[used..];
                            while let Some(ev) = conn.poll_event() {
                                if on_event(conn, ev) {
                                    return Ok(());
                                }
                            }
                        }
                        Err(e) => {
                            out.clear();
                            let _ = conn.poll_transmit(Instant::now(), &mut out);
                            let _ = s.write_all(&out);
                            return Err(e.to_string());
                        }
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => panic!("{e}"),
        }
    }
}

fn userauth_none(user: &str) -> Bytes {
    let mut p = BytesMut::new();
    p.put_u8(50);
    for s in [user, "ssh-connection", "none"] {
        p.put_u32(u32::try_from(s.len()).unwrap());
        p.put_slice(s.as_bytes());
    }
    p.freeze()
}

#[test]
fn whelk_client_against_sshd() {
    tool("sshd");
    let (kex, ciphers, macs, all_hosts) = common_algorithms();
    // whelk's transport client verifies host key signatures under the default policy, which
    // refuses SHA-1 `ssh-rsa` (checked below): that pair is not in common in this direction.
    let hosts: Vec<String> = all_hosts.into_iter().filter(|h| h != "ssh-rsa").collect();
    let keys = TempDir::new();
    let p384 = ecdsa_host_key(&keys.0, 384);
    let p521 = ecdsa_host_key(&keys.0, 521);
    let mut builder = Sshd::builder()
        .host_key(HostKeyType::Ed25519)
        .host_key(HostKeyType::EcdsaP256)
        .host_key(HostKeyType::Rsa)
        .config_line(format!("HostKey {}", p384.display()))
        .config_line(format!("HostKey {}", p521.display()))
        .option("KexAlgorithms", kex.join(","))
        .option("Ciphers", ciphers.join(","))
        .option("MACs", macs.join(","))
        // `ssh-rsa` too, for the refusal check.
        .option("HostKeyAlgorithms", format!("{},ssh-rsa", hosts.join(",")))
        // Room for the rows running at once.
        .option("MaxStartups", "100");
    if openssh_version() >= (9, 8) {
        // Connections closed before authentication would be penalised.
        builder = builder.option("PerSourcePenalties", "no");
    }
    let sshd = builder.start().unwrap();
    let rows = plan(&kex, &ciphers, &macs, &hosts);
    run_rows(&rows, |i, [k, c, m, h]| {
        let aead = is_aead(c);
        let mut cfg = ClientConfig::default();
        cfg.config.algorithms.kex = vec![k.clone()];
        cfg.config.algorithms.ciphers = vec![c.clone()];
        cfg.config.algorithms.macs = vec![m.clone()];
        cfg.config.algorithms.host_key = vec![h.clone()];
        let mut conn = Connection::client(cfg, rng(1000 + i as u64), Instant::now()).unwrap();
        let mut s = TcpStream::connect(sshd.addr()).unwrap();
        let mut failure = None;
        let mut strict = false;
        let r = drive(&mut conn, &mut s, Duration::from_secs(60), |conn, ev| {
            match ev {
                Event::HostKey(check) => conn.respond(check, HostKeyDecision::Accept).unwrap(),
                Event::KexDone(info) => {
                    strict = info.strict;
                    let n = &info.negotiated;
                    assert_eq!(n.kex.name, k);
                    assert_eq!(&n.host_key_algorithm, h);
                    assert_eq!(&n.cipher_server_to_client, c);
                    assert_eq!(&n.cipher_client_to_server, c);
                    let mac = (!aead).then(|| m.clone());
                    assert_eq!(n.mac_server_to_client, mac);
                    assert_eq!(n.mac_client_to_server, mac);
                    conn.request_service("ssh-userauth").unwrap();
                }
                Event::ServiceAccepted(_) => conn.send_payload(userauth_none("whelk")).unwrap(),
                Event::Payload(p) if p[0] == 51 => {
                    failure = Some(p);
                    return true;
                }
                Event::Disconnected {
                    reason,
                    description,
                    ..
                } => {
                    panic!(
                        "{k} {c} {m} {h}: {reason:?} {description}\n{}",
                        sshd.stderr_log()
                    )
                }
                _ => {}
            }
            false
        });
        if let Err(e) = r {
            panic!("{k} {c} {m} {h}: {e}\n{}", sshd.stderr_log());
        }
        let failure = failure.unwrap_or_else(|| {
            panic!(
                "{k} {c} {m} {h}: no USERAUTH_FAILURE\n{}",
                sshd.stderr_log()
            )
        });
        // USERAUTH_FAILURE: name-list of methods that can continue, partial success false.
        let methods = String::from_utf8_lossy(&failure[5..failure.len() - 1]).into_owned();
        assert!(methods.contains("publickey"), "{methods}");
        assert!(strict, "sshd 9.2 supports strict KEX");
        assert!(
            conn.peer_extensions()
                .unwrap()
                .get("server-sig-algs")
                .is_some()
        );
        let m = if aead { "<implicit>" } else { m.as_str() };
        eprintln!("whelk -> sshd #{i}: {k} {c} {m} {h}: USERAUTH_FAILURE({methods})");
    });
    eprintln!("whelk -> sshd: {} connections", rows.len());

    // sshd does sign with `ssh-rsa` when asked; whelk's client refuses the SHA-1 signature.
    let mut cfg = ClientConfig::default();
    cfg.config.algorithms.host_key = vec!["ssh-rsa".to_string()];
    let mut conn = Connection::client(cfg, rng(999), Instant::now()).unwrap();
    let mut s = TcpStream::connect(sshd.addr()).unwrap();
    let r = drive(&mut conn, &mut s, Duration::from_secs(60), |conn, ev| {
        match ev {
            Event::HostKey(check) => conn.respond(check, HostKeyDecision::Accept).unwrap(),
            Event::KexDone(_) => panic!("ssh-rsa accepted"),
            _ => {}
        }
        false
    });
    let e = r.unwrap_err();
    assert!(e.contains("ssh-rsa (SHA-1) signatures are disabled"), "{e}");
    eprintln!("whelk -> sshd: ssh-rsa host key refused: {e}");
}

#[test]
fn openssh_client_against_whelk_server() {
    let (kex, ciphers, macs, hosts) = common_algorithms();
    let keys = all_host_keys();
    let rows = plan(&kex, &ciphers, &macs, &hosts);
    run_rows(&rows, |i, [k, c, m, h]| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut child = Ssh::new(addr)
            .arg("-vvv")
            .option("KexAlgorithms", k)
            .option("Ciphers", c)
            .option("MACs", m)
            .option("HostKeyAlgorithms", h)
            .remote_command("true")
            .spawn()
            .unwrap();
        let (mut s, _) = listener.accept().unwrap();
        let mut cfg = ServerConfig::new(keys.clone());
        cfg.config.algorithms.kex = kex.clone();
        cfg.config.algorithms.ciphers = ciphers.clone();
        cfg.config.algorithms.macs = macs.clone();
        cfg.config.algorithms.host_key = hosts.clone();
        let mut conn = Connection::server(cfg, rng(2000 + i as u64), Instant::now()).unwrap();
        let mut requests = 0;
        let mut rekeyed = false;
        let r = drive(&mut conn, &mut s, Duration::from_secs(60), |conn, ev| {
            match ev {
                Event::Payload(p) if p[0] == 50 => {
                    // Accept the first request (`none`): USERAUTH_SUCCESS.
                    requests += 1;
                    conn.send_payload(Bytes::from_static(b"\x34")).unwrap();
                    conn.authenticated();
                }
                Event::Payload(p) if p[0] == 90 => {
                    // CHANNEL_OPEN "session": first a re-exchange (OpenSSH accepts one only
                    // after authentication), with the answer queued meanwhile:
                    // CHANNEL_OPEN_FAILURE, administratively prohibited.
                    assert!(conn.rekey());
                    rekeyed = true;
                    let type_len = u32::from_be_bytes(p[1..5].try_into().unwrap()) as usize;
                    let sender = &p[5 + type_len..9 + type_len];
                    let mut f = BytesMut::new();
                    f.put_u8(92);
                    f.put_slice(sender);
                    f.put_u32(1);
                    f.put_u32(2);
                    f.put_slice(b"no");
                    f.put_u32(0);
                    conn.send_payload(f.freeze()).unwrap();
                }
                Event::Disconnected { .. } => return true,
                _ => {}
            }
            false
        });
        drop(s);
        child.wait_timeout(Duration::from_secs(20)).unwrap();
        let log = child.stderr_str();
        if let Err(e) = r {
            panic!("{k} {c} {m} {h}: {e}\n{log}");
        }
        let mac = if is_aead(c) { "<implicit>" } else { m.as_str() };
        let want = [
            format!("debug1: kex: algorithm: {k}"),
            format!("debug1: kex: host key algorithm: {h}"),
            format!("debug1: kex: server->client cipher: {c} MAC: {mac} compression: none"),
            format!("debug1: kex: client->server cipher: {c} MAC: {mac} compression: none"),
        ];
        for w in &want {
            // Whole lines (`MAC: hmac-sha1` must not match `MAC: hmac-sha1-96`).
            assert!(
                log.lines().any(|l| l.trim_end() == w),
                "{k} {c} {m} {h}: missing {w:?}\n{log}"
            );
        }
        assert!(log.contains("SSH2_MSG_SERVICE_ACCEPT received"), "{log}");
        assert!(log.contains("using \"none\""), "{log}");
        assert!(rekeyed, "{log}");
        assert_eq!(conn.kex_count(), 2, "{log}");
        assert_eq!(
            log.matches("SSH2_MSG_KEXINIT received").count(),
            2,
            "no rekey: {log}"
        );
        assert!(
            log.contains("open failed: administratively prohibited"),
            "{log}"
        );
        assert!(requests >= 1, "{log}");
        eprintln!(
            "ssh -> whelk #{i}: {k} {c} {mac} {h}: kex, `none` auth accepted, rekey, channel \
             refused ({requests} auth request)"
        );
    });
    eprintln!("ssh -> whelk: {} connections", rows.len());
}
