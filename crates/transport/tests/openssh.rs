//! Interop with real OpenSSH (9.2 here) in both directions, rotating through every key
//! exchange, cipher, MAC and host key algorithm both implement (each value appears at least
//! once; not the full cross product).
//!
//! - whelk client -> `sshd`: through kex, the `ssh-userauth` service and a USERAUTH_FAILURE
//!   for method `none` (the USERAUTH_REQUEST payload is sent through `send_payload`).
//! - `ssh -vvv` -> whelk server (a small loop over std::net driving the sans-IO transport):
//!   the `-vvv` log must show kex completing with exactly the requested algorithms; the
//!   server then accepts `none` authentication, re-keys (OpenSSH accepts a re-exchange only
//!   after authentication) with its answer to the session CHANNEL_OPEN queued meanwhile, and
//!   refuses the channel.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use whelk_test::openssh::{HostKeyType, Ssh, Sshd};
use whelk_transport::{ClientConfig, Connection, Event, HostKeyDecision, ServerConfig};

fn ssh_q(what: &str) -> Vec<String> {
    let out = Command::new(whelk_test::openssh::find("ssh").unwrap())
        .args(["-Q", what])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The algorithms both sides implement, in whelk's registry order.
fn common_algorithms() -> (Vec<String>, Vec<String>, Vec<String>) {
    let kex = ssh_q("kex");
    let ciphers = ssh_q("cipher");
    let macs = ssh_q("mac");
    let k = whelk_kex::METHODS
        .iter()
        .map(|m| m.name.to_string())
        .filter(|n| kex.contains(n))
        .collect();
    let c = whelk_cipher::registry::CIPHERS
        .iter()
        .map(|c| c.name.to_string())
        .filter(|n| ciphers.contains(n) && n != "none")
        .collect();
    let m = whelk_cipher::registry::MACS
        .iter()
        .map(|m| m.name.to_string())
        .filter(|n| macs.contains(n) && n != "none")
        .collect();
    (k, c, m)
}

/// Combinations such that every value of every list appears at least once. A MAC only
/// counts with a non-AEAD cipher, so MACs rotate over the non-AEAD rows only.
fn rotation(
    kex: &[String],
    ciphers: &[String],
    macs: &[String],
    hosts: &[&str],
) -> Vec<[String; 4]> {
    let is_aead = |c: &str| whelk_cipher::registry::cipher_by_name(c).unwrap().is_aead();
    let non_aead: Vec<&String> = ciphers.iter().filter(|c| !is_aead(c)).collect();
    let aead_count = ciphers.len() - non_aead.len();
    let n = kex
        .len()
        .max(ciphers.len())
        .max(macs.len() + aead_count)
        .max(hosts.len());
    let mut j = 0;
    let rows: Vec<[String; 4]> = (0..n)
        .map(|i| {
            let cipher = if i < ciphers.len() {
                ciphers[i].clone()
            } else {
                non_aead[i % non_aead.len()].clone()
            };
            let mac = if is_aead(&cipher) {
                macs[0].clone()
            } else {
                j += 1;
                macs[(j - 1) % macs.len()].clone()
            };
            [
                kex[i % kex.len()].clone(),
                cipher,
                mac,
                hosts[i % hosts.len()].to_string(),
            ]
        })
        .collect();
    // Every value of every category appears (MACs with a cipher that uses them).
    for k in kex {
        assert!(rows.iter().any(|r| &r[0] == k), "{k}");
    }
    for c in ciphers {
        assert!(rows.iter().any(|r| &r[1] == c), "{c}");
    }
    for m in macs {
        assert!(rows.iter().any(|r| &r[2] == m && !is_aead(&r[1])), "{m}");
    }
    for h in hosts {
        assert!(rows.iter().any(|r| r[3] == *h), "{h}");
    }
    rows
}

/// Drives `conn` over `s` until `done` says so (or the peer closes). `on_event` sees every
/// event.
fn drive<F>(conn: &mut Connection, s: &mut TcpStream, timeout: Duration, mut on_event: F)
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
                return;
            }
        }
        if let Some(t) = conn.poll_timeout()
            && t <= now
        {
            conn.handle_timeout(now);
        }
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let mut data = &buf[..n];
                while !data.is_empty() {
                    match conn.handle_input(Instant::now(), data) {
                        Ok(used) => {
                            data = &data[used..];
                            while let Some(ev) = conn.poll_event() {
                                if on_event(conn, ev) {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            out.clear();
                            let _ = conn.poll_transmit(Instant::now(), &mut out);
                            let _ = s.write_all(&out);
                            panic!("transport error: {e}");
                        }
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
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
    if whelk_test::openssh::find("sshd").is_err() {
        eprintln!("sshd not installed: skipping");
        return;
    }
    let (kex, ciphers, macs) = common_algorithms();
    let hosts = [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "rsa-sha2-512",
        "rsa-sha2-256",
    ];
    let sshd = Sshd::builder()
        .host_key(HostKeyType::Ed25519)
        .host_key(HostKeyType::EcdsaP256)
        .host_key(HostKeyType::Rsa)
        .option("KexAlgorithms", kex.join(","))
        .option("Ciphers", ciphers.join(","))
        .option("MACs", macs.join(","))
        .option("HostKeyAlgorithms", hosts.join(","))
        .start()
        .unwrap();
    let rows = rotation(&kex, &ciphers, &macs, &hosts);
    for (i, [k, c, m, h]) in rows.iter().enumerate() {
        let mut cfg = ClientConfig::default();
        cfg.config.algorithms.kex = vec![k.clone()];
        cfg.config.algorithms.ciphers = vec![c.clone()];
        cfg.config.algorithms.macs = vec![m.clone()];
        cfg.config.algorithms.host_key = vec![h.clone()];
        let mut conn = Connection::client(cfg, rng(100 + i as u64), Instant::now()).unwrap();
        let mut s = TcpStream::connect(sshd.addr()).unwrap();
        let mut failure = None;
        let mut strict = false;
        drive(&mut conn, &mut s, Duration::from_secs(60), |conn, ev| {
            match ev {
                Event::HostKey(check) => conn.respond(check, HostKeyDecision::Accept).unwrap(),
                Event::KexDone(info) => {
                    strict = info.strict;
                    assert_eq!(info.negotiated.kex.name, k);
                    assert_eq!(&info.negotiated.host_key_algorithm, h);
                    assert_eq!(&info.negotiated.cipher_server_to_client, c);
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
        eprintln!("whelk -> sshd: {k} {c} {m} {h}: USERAUTH_FAILURE({methods})");
    }
}

#[test]
fn openssh_client_against_whelk_server() {
    if whelk_test::openssh::find("ssh").is_err() {
        eprintln!("ssh not installed: skipping");
        return;
    }
    let (kex, ciphers, macs) = common_algorithms();
    let hosts = [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "rsa-sha2-512",
        "rsa-sha2-256",
    ];
    let keys = all_host_keys();
    let rows = rotation(&kex, &ciphers, &macs, &hosts);
    for (i, [k, c, m, h]) in rows.iter().enumerate() {
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
        cfg.config.algorithms.host_key = hosts.iter().map(|s| s.to_string()).collect();
        let mut conn = Connection::server(cfg, rng(200 + i as u64), Instant::now()).unwrap();
        let mut requests = 0;
        let mut rekeyed = false;
        drive(&mut conn, &mut s, Duration::from_secs(60), |conn, ev| {
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
        let want = [
            format!("debug1: kex: algorithm: {k}"),
            format!("debug1: kex: host key algorithm: {h}"),
            format!("debug1: kex: server->client cipher: {c} MAC: "),
            format!("debug1: kex: client->server cipher: {c} MAC: "),
        ];
        for w in &want {
            assert!(
                log.contains(w.as_str()),
                "{k} {c} {m} {h}: missing {w:?}\n{log}"
            );
        }
        let aead = whelk_cipher::registry::cipher_by_name(c).unwrap().is_aead();
        let mac_part = if aead {
            "<implicit>".to_string()
        } else {
            m.clone()
        };
        assert!(
            log.contains(&format!("cipher: {c} MAC: {mac_part} compression: none")),
            "{log}"
        );
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
            "ssh -> whelk: {k} {c} {m} {h}: kex, `none` auth accepted, rekey, channel refused \
             ({requests} auth request)"
        );
    }
}
