//! Helpers shared by the OpenSSH interop tests (`openssh.rs`, `openssh_client.rs`):
//! `ssh-keygen` wrappers, a std::net I/O pump for the whelk transport, and the whelk client
//! driver (transport + [`ClientAuth`]) with the host key decision passed in.
// Only the OpenSSH test crates use these; the other crates that include `common`
// (`catalog.rs`, `methods.rs`, `fuzz_corpus.rs`) would warn about every item otherwise.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand_core::SeedableRng;
use whelk_auth::*;
use whelk_keys::PrivateKey;
use whelk_test::openssh::find;
use whelk_transport::{Connection, Event, HostKeyCheck, HostKeyDecision};
use whelk_wire::msg::{Context, Message};

/// A seeded RNG for the transport.
pub fn trng(seed: u64) -> Box<chacha20::ChaCha20Rng> {
    Box::new(chacha20::ChaCha20Rng::seed_from_u64(seed))
}

/// Seconds since the Unix epoch, by the system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `ssh-keygen ARGS -q -N '' -C NAME -f dir/NAME`; returns the private key path.
pub fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let st = Command::new(find("ssh-keygen").unwrap())
        .args(args)
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    path
}

/// The public key line (`PRIVATE.pub`), trimmed.
pub fn public_line(private: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", private.display()))
        .unwrap()
        .trim()
        .to_string()
}

/// Loads an unencrypted OpenSSH private key file.
pub fn load(private: &Path) -> PrivateKey {
    PrivateKey::from_openssh(&std::fs::read_to_string(private).unwrap(), None).unwrap()
}

/// One step of I/O: writes what the transport has, reads what arrived (20 ms timeout) and
/// feeds it. Returns false when the peer closed or the transport failed.
pub fn pump_io(conn: &mut Connection, s: &mut TcpStream, buf: &mut [u8]) -> bool {
    let mut out = BytesMut::new();
    if conn.poll_transmit(Instant::now(), &mut out) > 0 && s.write_all(&out).is_err() {
        return false;
    }
    if let Some(t) = conn.poll_timeout()
        && t <= Instant::now()
    {
        conn.handle_timeout(Instant::now());
    }
    match s.read(buf) {
        Ok(0) => false,
        Ok(n) => {
            let mut data = &buf[..n];
            while !data.is_empty() {
                match conn.handle_input(Instant::now(), data) {
                    Ok(used) => data = &data[used..],
                    Err(_) => return false,
                }
            }
            true
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => true,
        Err(_) => false,
    }
}

/// Host key decision that accepts any key.
pub fn accept_any(_: &HostKeyCheck) -> HostKeyDecision {
    HostKeyDecision::Accept
}

/// What one whelk client connection came to.
#[derive(Debug)]
pub struct Outcome {
    /// The host key algorithm and the decision taken, if the transport asked.
    pub host_key: Option<(String, HostKeyDecision)>,
    /// The authentication result, if authentication ran to an end.
    pub auth: Option<Result<Vec<Method>>>,
    /// Every message [`ClientAuth`] transmitted (a `Disconnect` is recorded, not sent).
    pub sent: Vec<Message>,
}

/// Drives the whelk client (transport + [`ClientAuth`]) against `addr` until it
/// authenticates, fails, or the connection ends. `host` decides the transport's host key
/// check; `answer` answers credential requests. Panics after 30 s without an outcome.
pub fn whelk_client(
    addr: std::net::SocketAddr,
    tcfg: whelk_transport::ClientConfig,
    mut host: impl FnMut(&HostKeyCheck) -> HostKeyDecision,
    config: ClientConfig,
    setup: impl FnOnce(&mut ClientAuth),
    mut answer: impl FnMut(&PromptKind) -> Answer,
) -> Outcome {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut conn = Connection::client(tcfg, trng(2), Instant::now()).unwrap();
    let mut outcome = Outcome {
        host_key: None,
        auth: None,
        sent: Vec::new(),
    };
    let mut host_key = None;
    let mut session_id = None;
    let mut ext = None;
    let mut auth: Option<ClientAuth> = None;
    let mut setup = Some(setup);
    let mut config = Some(config);
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let alive = pump_io(&mut conn, &mut s, &mut buf);
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::HostKey(check) => {
                    let d = host(&check);
                    outcome.host_key = Some((check.algorithm.clone(), d));
                    host_key = Some(check.host_key.clone());
                    let r = conn.respond(check, d);
                    match d {
                        HostKeyDecision::Accept => r.unwrap(),
                        // The transport reports the rejection and disconnects.
                        HostKeyDecision::Reject => {
                            assert!(r.is_err(), "{r:?}");
                        }
                    }
                }
                Event::KexDone(info) if info.initial => {
                    session_id = Some(info.session_id);
                    conn.request_service("ssh-userauth").unwrap();
                }
                Event::ExtInfo(e) => ext = Some(e),
                Event::ServiceAccepted(_) => {
                    let mut a = ClientAuth::new(
                        config.take().unwrap(),
                        session_id.clone().unwrap(),
                        host_key.clone(),
                    );
                    if let Some(e) = &ext {
                        a.handle_ext_info(e);
                    }
                    (setup.take().unwrap())(&mut a);
                    a.start().unwrap();
                    auth = Some(a);
                }
                Event::Payload(p) => {
                    let a = auth.as_mut().unwrap();
                    let ctx = Context {
                        kex: None,
                        auth: a.context(),
                    };
                    let m = Message::decode_with(&p, ctx).unwrap();
                    let _ = a.handle_message(m);
                }
                _ => {}
            }
        }
        if let Some(a) = auth.as_mut() {
            while let Some(ev) = a.poll_event() {
                match ev {
                    ClientEvent::Credentials(r) => {
                        let ans = answer(&r.kind);
                        let _ = a.respond(r, ans);
                    }
                    ClientEvent::Authenticated { methods } => {
                        outcome.auth = Some(Ok(methods));
                        return outcome;
                    }
                    _ => {}
                }
            }
            while let Some(m) = a.poll_transmit() {
                if !matches!(m, Message::Disconnect(_)) {
                    conn.send_payload(m.to_bytes().unwrap()).unwrap();
                }
                outcome.sent.push(m);
            }
            if let Some(e) = a.error() {
                outcome.auth = Some(Err(e.clone()));
                return outcome;
            }
        }
        if !alive {
            return outcome;
        }
    }
    panic!("whelk client: no outcome after 30 s ({outcome:?})");
}
