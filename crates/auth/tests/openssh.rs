//! Interop with real OpenSSH in both directions, with the whelk transport driven over
//! std::net by a small loop (as in whelk-transport's own interop tests).
//!
//! - `ssh` -> whelk server ([`ServerAuth`]): publickey with Ed25519, ECDSA P-256,
//!   RSA (rsa-sha2-256 and rsa-sha2-512), a user certificate made by `ssh-keygen -s`,
//!   password through `sshpass`, keyboard-interactive through `sshpass`, and the
//!   `AuthenticationMethods publickey,password` chain.
//! - whelk client ([`ClientAuth`]) -> `sshd`: publickey with the same key types and RSA
//!   signature algorithms (hostbound, as sshd announces it), a certificate trusted through
//!   `TrustedUserCAKeys`, a `publickey,publickey` chain (partial success), and a wrong
//!   password ending in a clean `NoMoreMethods`.
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
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand_core::SeedableRng;
use whelk_auth::*;
use whelk_keys::cert::Certificate;
use whelk_keys::{PrivateKey, PublicKey};
use whelk_test::openssh::{ChildGuard, Ssh, Sshd, find};
use whelk_transport::{Connection, Event, HostKeyDecision};
use whelk_wire::msg::{Context, Message};
use zeroize::Zeroizing;

fn have(tool: &str) -> bool {
    find(tool).is_ok()
}

fn trng(seed: u64) -> Box<chacha20::ChaCha20Rng> {
    Box::new(chacha20::ChaCha20Rng::seed_from_u64(seed))
}

/// `ssh-keygen -t TYPE` into `dir/name`; returns the private key path.
fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
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

fn public_line(private: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", private.display())).unwrap()
}

fn load(private: &Path) -> PrivateKey {
    PrivateKey::from_openssh(&std::fs::read_to_string(private).unwrap(), None).unwrap()
}

/// Signs `user_key.pub` with `ca` for principal `principal` (`ssh-keygen -s`).
fn sign_cert(ca: &Path, user_key: &Path, principal: &str) -> PathBuf {
    let st = Command::new(find("ssh-keygen").unwrap())
        .args(["-q", "-s"])
        .arg(ca)
        .args(["-I", "whelk-test", "-n", principal, "-V", "-5m:+1h"])
        .arg(format!("{}.pub", user_key.display()))
        .status()
        .unwrap();
    assert!(st.success());
    PathBuf::from(format!("{}-cert.pub", user_key.display()))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One step of I/O: writes what the transport has, reads what arrived (20 ms timeout) and
/// feeds it. Returns false when the peer closed.
fn pump_io(conn: &mut Connection, s: &mut TcpStream, buf: &mut [u8]) -> bool {
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

fn send(conn: &mut Connection, m: &Message) {
    conn.send_payload(m.to_bytes().unwrap()).unwrap();
}

/// Serves one connection: transport + [`ServerAuth`], until authentication succeeds or the
/// connection ends. Returns the outcome.
fn serve(
    listener: &TcpListener,
    config: ServerConfig,
    mut decide: impl FnMut(&AuthRequest) -> Decision,
) -> Option<Authenticated> {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s.set_nodelay(true).unwrap();
    let host = common::ed25519(200);
    let host_blob = Bytes::copy_from_slice(host.public_key().blob());
    let tcfg = whelk_transport::ServerConfig::new(vec![host]);
    let mut conn = Connection::server(tcfg, trng(1), Instant::now()).unwrap();
    let mut auth: Option<ServerAuth> = None;
    let mut session_id = None;
    let mut config = Some(config);
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if !pump_io(&mut conn, &mut s, &mut buf) {
            break;
        }
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::KexDone(info) if info.initial => session_id = Some(info.session_id),
                Event::ServiceRequested(_) => {
                    auth = Some(ServerAuth::new(
                        config.take().unwrap(),
                        session_id.clone().unwrap(),
                        host_blob.clone(),
                        Instant::now(),
                    ));
                }
                Event::Payload(p) => {
                    let a = auth.as_mut().unwrap();
                    let ctx = Context {
                        kex: None,
                        auth: a.context(),
                    };
                    let m = Message::decode_with(&p, ctx).unwrap();
                    if a.is_authenticated() {
                        // The session layer's business: we are done.
                        return a.outcome().cloned();
                    }
                    let _ = a.handle_message(Instant::now(), m);
                }
                Event::Disconnected { .. } => return auth.and_then(|a| a.outcome().cloned()),
                _ => {}
            }
        }
        if let Some(a) = auth.as_mut() {
            while let Some(ev) = a.poll_event() {
                if let ServerEvent::Request(r) = ev {
                    let d = decide(&r);
                    let _ = a.respond(Instant::now(), r, d);
                }
            }
            let _ = a.handle_timeout(Instant::now());
            while let Some(m) = a.poll_transmit(Instant::now()) {
                send(&mut conn, &m);
            }
            if a.is_authenticated() {
                conn.authenticated();
            }
        }
    }
    auth.and_then(|a| a.outcome().cloned())
}

/// Runs `ssh` (optionally under `sshpass -p PW`) against a whelk server on a thread.
fn ssh_against_whelk(
    ssh: impl FnOnce(std::net::SocketAddr) -> Ssh,
    sshpass: Option<&str>,
    config: ServerConfig,
    decide: impl FnMut(&AuthRequest) -> Decision + Send + 'static,
) -> (Option<Authenticated>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || serve(&listener, config, decide));
    let ssh = ssh(addr).arg("-v").remote_command("true");
    let mut cmd = match sshpass {
        Some(pw) => {
            let mut c = Command::new(find("sshpass").unwrap());
            c.arg("-p")
                .arg(pw)
                .arg(find("ssh").unwrap())
                .args(ssh.args());
            c
        }
        None => ssh.command().unwrap(),
    };
    let mut child = ChildGuard::spawn(&mut cmd).unwrap();
    let outcome = server.join().unwrap();
    child.kill();
    (outcome, child.stderr_str())
}

fn pubkey_policy(line: String) -> impl FnMut(&AuthRequest) -> Decision + Send + 'static {
    let policy = AuthorizedKeysPolicy::new(&line);
    move |r| policy.decide(r, unix_now())
}

#[test]
fn ssh_publickey_against_whelk_server() {
    if !have("ssh") || !have("ssh-keygen") {
        panic!(
            "OpenSSH not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], Option<&str>, &str); 4] = [
        ("id_ed25519", &["-t", "ed25519"], None, "ssh-ed25519"),
        (
            "id_ecdsa",
            &["-t", "ecdsa", "-b", "256"],
            None,
            "ecdsa-sha2-nistp256",
        ),
        (
            "id_rsa256",
            &["-t", "rsa", "-b", "2048"],
            Some("rsa-sha2-256"),
            "rsa-sha2-256",
        ),
        (
            "id_rsa512",
            &["-t", "rsa", "-b", "2048"],
            Some("rsa-sha2-512"),
            "rsa-sha2-512",
        ),
    ];
    for (name, args, accepted, expect_alg) in cases {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let key = keygen(dir.path(), name, args);
        let line = public_line(&key);
        let (outcome, log) = ssh_against_whelk(
            |addr| {
                let mut s = Ssh::new(addr).user("alice").identity(&key);
                if let Some(a) = accepted {
                    s = s.option("PubkeyAcceptedAlgorithms", a);
                }
                s
            },
            None,
            ServerConfig::default(),
            {
                let seen = seen.clone();
                let mut decide = pubkey_policy(line);
                move |r| {
                    if let RequestKind::PublicKey {
                        algorithm,
                        signed: true,
                        ..
                    } = &r.kind
                    {
                        seen.lock().unwrap().push(algorithm.name().to_string());
                    }
                    decide(r)
                }
            },
        );
        let outcome = outcome.unwrap_or_else(|| panic!("{name}: not authenticated\n{log}"));
        // The signature the server verified used exactly this algorithm.
        assert_eq!(*seen.lock().unwrap(), [expect_alg], "{name}\n{log}");
        assert_eq!(outcome.user, "alice");
        assert_eq!(outcome.methods, [Method::PublicKey]);
        assert_eq!(outcome.keys, [load(&key).public_key().clone()]);
        assert!(log.contains("Authenticated to"), "{name}\n{log}");
        eprintln!("ssh -> whelk: publickey {expect_alg} ok");
    }
}

#[test]
fn ssh_certificate_against_whelk_server() {
    if !have("ssh") || !have("ssh-keygen") {
        panic!(
            "OpenSSH not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = keygen(dir.path(), "ca", &["-t", "ed25519"]);
    let key = keygen(dir.path(), "id_user", &["-t", "ecdsa", "-b", "256"]);
    let cert = sign_cert(&ca, &key, "alice");
    let ca_pub: PublicKey = public_line(&ca).trim().parse().unwrap();
    let policy = AuthorizedKeysPolicy::new("").with_trusted_ca(ca_pub);
    let (outcome, log) = ssh_against_whelk(
        |addr| {
            Ssh::new(addr)
                .user("alice")
                .identity(&key)
                .option("CertificateFile", cert.display().to_string())
        },
        None,
        ServerConfig::default(),
        move |r| policy.decide(r, unix_now()),
    );
    let outcome = outcome.unwrap_or_else(|| panic!("not authenticated\n{log}"));
    let granted = outcome.grants[0].certificate.as_ref().unwrap();
    assert_eq!(granted.key_id(), "whelk-test");
    assert_eq!(granted.principals(), ["alice"]);

    // An RSA user key certified by an RSA CA (ssh picks rsa-sha2-512-cert-v01 from
    // server-sig-algs).
    let rsa_ca = keygen(dir.path(), "rsa_ca", &["-t", "rsa", "-b", "2048"]);
    let rsa_key = keygen(dir.path(), "id_rsa_user", &["-t", "rsa", "-b", "2048"]);
    let rsa_cert = sign_cert(&rsa_ca, &rsa_key, "bob");
    let ca_pub: PublicKey = public_line(&rsa_ca).trim().parse().unwrap();
    let policy = AuthorizedKeysPolicy::new("").with_trusted_ca(ca_pub);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    let (outcome, log) = ssh_against_whelk(
        |addr| {
            Ssh::new(addr)
                .user("bob")
                .identity(&rsa_key)
                .option("CertificateFile", rsa_cert.display().to_string())
        },
        None,
        ServerConfig::default(),
        move |r| {
            if let RequestKind::PublicKey {
                algorithm,
                signed: true,
                key,
                ..
            } = &r.kind
            {
                assert!(key.certificate().is_some());
                seen2.lock().unwrap().push(algorithm.name().to_string());
            }
            policy.decide(r, unix_now())
        },
    );
    assert!(outcome.is_some(), "rsa cert: not authenticated\n{log}");
    assert_eq!(*seen.lock().unwrap(), ["rsa-sha2-512"]);
}

#[test]
fn ssh_password_and_kbd_int_via_sshpass() {
    if !have("ssh") || !have("sshpass") {
        panic!(
            "ssh or sshpass not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    // password
    let (outcome, log) = ssh_against_whelk(
        |addr| {
            Ssh::new(addr)
                .user("alice")
                .option("BatchMode", "no")
                .option("PreferredAuthentications", "password")
                .option("PubkeyAuthentication", "no")
        },
        Some("hunter2"),
        ServerConfig::default(),
        |r| match &r.kind {
            RequestKind::Password { password, .. } if secret_eq(password, b"hunter2") => {
                Decision::Accept(Grant::default())
            }
            _ => Decision::Reject,
        },
    );
    let outcome = outcome.unwrap_or_else(|| panic!("password: not authenticated\n{log}"));
    assert_eq!(outcome.methods, [Method::Password]);
    eprintln!("ssh -> whelk: password via sshpass ok");

    // keyboard-interactive
    let (outcome, log) = ssh_against_whelk(
        |addr| {
            Ssh::new(addr)
                .user("alice")
                .option("BatchMode", "no")
                .option("PreferredAuthentications", "keyboard-interactive")
                .option("PubkeyAuthentication", "no")
        },
        Some("hunter2"),
        ServerConfig::default(),
        |r| match &r.kind {
            RequestKind::KeyboardInteractive { .. } => Decision::Prompts(Prompts {
                prompts: vec![("Password: ".into(), false)],
                ..Prompts::default()
            }),
            RequestKind::KeyboardInteractiveResponse { responses }
                if responses.len() == 1 && secret_eq(&responses[0], b"hunter2") =>
            {
                Decision::Accept(Grant::default())
            }
            _ => Decision::Reject,
        },
    );
    let outcome = outcome.unwrap_or_else(|| panic!("kbd-int: not authenticated\n{log}"));
    assert_eq!(outcome.methods, [Method::KeyboardInteractive]);
    eprintln!("ssh -> whelk: keyboard-interactive via sshpass ok");
}

#[test]
fn ssh_chain_publickey_then_password() {
    if !have("ssh") || !have("sshpass") || !have("ssh-keygen") {
        panic!(
            "OpenSSH or sshpass not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "id_ed25519", &["-t", "ed25519"]);
    let policy = AuthorizedKeysPolicy::new(&public_line(&key));
    let (outcome, log) = ssh_against_whelk(
        |addr| {
            Ssh::new(addr)
                .user("alice")
                .identity(&key)
                .option("BatchMode", "no")
                .option("PreferredAuthentications", "publickey,password")
        },
        Some("pw"),
        ServerConfig {
            required: vec![vec![Method::PublicKey, Method::Password]],
            ..ServerConfig::default()
        },
        move |r| match &r.kind {
            RequestKind::Password { password, .. } if secret_eq(password, b"pw") => {
                Decision::Accept(Grant::default())
            }
            _ => policy.decide(r, unix_now()),
        },
    );
    let outcome = outcome.unwrap_or_else(|| panic!("not authenticated\n{log}"));
    assert_eq!(outcome.methods, [Method::PublicKey, Method::Password]);
    assert!(
        log.contains("Authenticated using \"publickey\" with partial success"),
        "{log}"
    );
}

/// Drives the whelk client (transport + [`ClientAuth`]) against `addr` until it
/// authenticates or fails.
fn whelk_client(
    addr: std::net::SocketAddr,
    config: ClientConfig,
    setup: impl FnOnce(&mut ClientAuth),
    mut answer: impl FnMut(&PromptKind) -> Answer,
) -> (Result<Vec<Method>>, Vec<Message>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut conn = Connection::client(
        whelk_transport::ClientConfig::default(),
        trng(2),
        Instant::now(),
    )
    .unwrap();
    let mut host_key = None;
    let mut session_id = None;
    let mut ext = None;
    let mut auth: Option<ClientAuth> = None;
    let mut setup = Some(setup);
    let mut config = Some(config);
    let mut sent = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let alive = pump_io(&mut conn, &mut s, &mut buf);
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::HostKey(check) => {
                    host_key = Some(check.host_key.clone());
                    conn.respond(check, HostKeyDecision::Accept).unwrap();
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
                    ClientEvent::Authenticated { methods } => return (Ok(methods), sent),
                    _ => {}
                }
            }
            while let Some(m) = a.poll_transmit() {
                if !matches!(m, Message::Disconnect(_)) {
                    send(&mut conn, &m);
                }
                sent.push(m);
            }
            if let Some(e) = a.error() {
                return (Err(e.clone()), sent);
            }
        }
        if !alive {
            break;
        }
    }
    panic!("whelk client: no outcome (sent {sent:?})");
}

fn signed_algorithms(sent: &[Message]) -> Vec<String> {
    sent.iter()
        .filter_map(|m| match m {
            Message::UserauthRequest(r) => match &r.method {
                whelk_wire::msg::AuthMethod::PublicKey {
                    algorithm,
                    signature: Some(_),
                    ..
                }
                | whelk_wire::msg::AuthMethod::PublicKeyHostbound {
                    algorithm,
                    signature: Some(_),
                    ..
                } => Some(algorithm.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn root_config() -> ClientConfig {
    ClientConfig {
        user: "root".into(),
        methods: vec![Method::PublicKey],
        ..ClientConfig::default()
    }
}

#[test]
fn whelk_client_publickey_against_sshd() {
    if !have("sshd") || !have("ssh-keygen") {
        panic!(
            "sshd not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = [
        ("id_ed25519", &["-t", "ed25519"][..], "ssh-ed25519", None),
        (
            "id_ecdsa",
            &["-t", "ecdsa", "-b", "256"][..],
            "ecdsa-sha2-nistp256",
            None,
        ),
        (
            "id_rsa",
            &["-t", "rsa", "-b", "2048"][..],
            "rsa-sha2-512",
            None,
        ),
        (
            "id_rsa256",
            &["-t", "rsa", "-b", "2048"][..],
            "rsa-sha2-256",
            Some("rsa-sha2-256"),
        ),
    ];
    for (name, args, expect, only) in keys {
        let key = keygen(dir.path(), name, args);
        let mut b = Sshd::builder().authorized_key(public_line(&key).trim());
        if let Some(alg) = only {
            // sshd 9.2 still lists both RSA algorithms in server-sig-algs; the client is
            // told the narrower list below, and sshd refuses anything else.
            b = b.option("PubkeyAcceptedAlgorithms", alg);
        }
        let sshd = b.start().unwrap();
        let private = load(&key);
        let (r, sent) = whelk_client(
            sshd.addr(),
            root_config(),
            |a| {
                if let Some(alg) = only {
                    a.set_server_sig_algs(Some(whelk_wire::types::NameList::parse(alg).unwrap()));
                }
                a.add_identity(Box::new(KeySigner::new(private, common::rng(3))));
            },
            |_| Answer::Cancel,
        );
        assert_eq!(
            r,
            Ok(vec![Method::PublicKey]),
            "{name}\n{}",
            sshd.stderr_log()
        );
        assert_eq!(signed_algorithms(&sent), [expect]);
        // sshd 8.9+ announces publickey-hostbound@openssh.com: the request is bound.
        assert!(sent.iter().any(|m| matches!(m, Message::UserauthRequest(r)
            if matches!(r.method, whelk_wire::msg::AuthMethod::PublicKeyHostbound { .. }))));
        // sshd's log arrives through a reader thread: give it a moment.
        let logged = (0..100).any(|_| {
            let found = sshd.stderr_log().contains("Accepted publickey for root");
            if !found {
                std::thread::sleep(Duration::from_millis(20));
            }
            found
        });
        assert!(logged, "{}", sshd.stderr_log());
        eprintln!("whelk -> sshd: publickey {expect} (hostbound) ok");
    }
}

#[test]
fn whelk_client_certificate_and_chain_against_sshd() {
    if !have("sshd") || !have("ssh-keygen") {
        panic!(
            "sshd not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = keygen(dir.path(), "ca", &["-t", "ed25519"]);
    let key = keygen(dir.path(), "id_user", &["-t", "ed25519"]);
    let cert_path = sign_cert(&ca, &key, "root");
    let sshd = Sshd::builder()
        .config_line(format!("TrustedUserCAKeys {}.pub", ca.display()))
        .start()
        .unwrap();
    let (cert, _) =
        Certificate::from_openssh(std::fs::read_to_string(&cert_path).unwrap().trim()).unwrap();
    let private = load(&key);
    let (r, sent) = whelk_client(
        sshd.addr(),
        root_config(),
        |a| {
            a.add_identity(Box::new(KeySigner::with_certificate(
                private,
                cert,
                common::rng(4),
            )));
        },
        |_| Answer::Cancel,
    );
    assert_eq!(r, Ok(vec![Method::PublicKey]), "{}", sshd.stderr_log());
    assert_eq!(
        signed_algorithms(&sent),
        ["ssh-ed25519-cert-v01@openssh.com"]
    );
    eprintln!("whelk -> sshd: user certificate ok");

    // AuthenticationMethods publickey,publickey: two keys, partial success in between.
    let k1 = keygen(dir.path(), "id_one", &["-t", "ed25519"]);
    let k2 = keygen(dir.path(), "id_two", &["-t", "ecdsa", "-b", "256"]);
    let sshd = Sshd::builder()
        .authorized_key(public_line(&k1).trim())
        .authorized_key(public_line(&k2).trim())
        .option("AuthenticationMethods", "publickey,publickey")
        .start()
        .unwrap();
    let (p1, p2) = (load(&k1), load(&k2));
    let (r, sent) = whelk_client(
        sshd.addr(),
        root_config(),
        |a| {
            a.add_identity(Box::new(KeySigner::new(p1, common::rng(5))));
            a.add_identity(Box::new(KeySigner::new(p2, common::rng(6))));
        },
        |_| Answer::Cancel,
    );
    assert_eq!(
        r,
        Ok(vec![Method::PublicKey, Method::PublicKey]),
        "{}",
        sshd.stderr_log()
    );
    assert_eq!(signed_algorithms(&sent).len(), 2);
    eprintln!("whelk -> sshd: publickey,publickey chain ok");
}

#[test]
fn whelk_client_wrong_password_gives_up_cleanly_against_sshd() {
    if !have("sshd") {
        panic!(
            "sshd not installed: this interop test needs OpenSSH (apt-get install openssh-client openssh-server sshpass)"
        );
    }
    let sshd = Sshd::builder()
        .option("AuthenticationMethods", "password")
        .start()
        .unwrap();
    let mut prompts = 0;
    let (r, sent) = whelk_client(
        sshd.addr(),
        ClientConfig {
            user: "whelk-no-such-user".into(),
            methods: vec![Method::PublicKey, Method::Password],
            password_attempts: 2,
            ..ClientConfig::default()
        },
        |_| {},
        |k| {
            assert_eq!(*k, PromptKind::Password);
            prompts += 1;
            Answer::Password(Zeroizing::new("definitely wrong".into()))
        },
    );
    assert!(matches!(r, Err(Error::NoMoreMethods { .. })), "{r:?}");
    assert_eq!(prompts, 2);
    assert!(matches!(sent.last(), Some(Message::Disconnect(_))));
    eprintln!(
        "whelk -> sshd: wrong password x2, gave up with {:?}",
        r.unwrap_err()
    );
}
