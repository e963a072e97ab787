//! Interoperability with OpenSSH: `ssh-add` and `ssh-keygen -Y` against the whelk agent on a
//! UNIX socket, and whelk's agent client against OpenSSH's `ssh-agent`. These tests fail
//! (never skip) when the OpenSSH tools are missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use whelk_agent::proto::Constraint;
use whelk_agent::unix::{ServerHandle, UnixClient, UnixServer};
use whelk_agent::{AddIdentity, Agent, Error};
use whelk_keys::cert::Certificate;
use whelk_keys::{HashAlg, PrivateKey, PublicKey, SigAlg, VerifyPolicy};
use whelk_test::openssh::{self, ChildGuard, Output};

const TIMEOUT: Duration = Duration::from_secs(30);

fn tool(name: &str) -> PathBuf {
    openssh::find(name).unwrap_or_else(|e| panic!("OpenSSH tool {name} is required: {e}"))
}

/// Runs an OpenSSH tool with `SSH_AUTH_SOCK` set to `sock`.
fn run_with(sock: &Path, name: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(tool(name));
    cmd.args(args)
        .env("SSH_AUTH_SOCK", sock)
        .env_remove("SSH_AGENT_PID")
        .env_remove("DISPLAY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    openssh::run(cmd, TIMEOUT).unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        out.stderr_str(),
        out.stdout_str()
    );
    out.stdout_str()
}

/// `ssh-keygen -t <ty> -f dir/<name> -N '' -C <name>`.
fn keygen(dir: &Path, name: &str, ty: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new(tool("ssh-keygen"));
    cmd.args(ty)
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&path);
    ok(&openssh::run(cmd, TIMEOUT).unwrap(), "ssh-keygen");
    path
}

fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn public_of(path: &Path) -> PublicKey {
    let text = std::fs::read_to_string(pub_path(path)).unwrap();
    PublicKey::from_openssh(text.trim()).unwrap().0
}

fn private_of(path: &Path) -> PrivateKey {
    PrivateKey::from_openssh(&std::fs::read_to_string(path).unwrap(), None).unwrap()
}

struct WhelkAgent {
    // Dropped first: stops the server before the directory goes.
    _handle: ServerHandle,
    _dir: tempfile::TempDir,
    sock: PathBuf,
    confirm_answer: Arc<AtomicBool>,
    confirm_asked: Arc<AtomicUsize>,
}

fn start_whelk_agent() -> WhelkAgent {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let mut server = UnixServer::bind(&sock, Agent::new()).unwrap();
    let confirm_answer = Arc::new(AtomicBool::new(false));
    let confirm_asked = Arc::new(AtomicUsize::new(0));
    let (a, n) = (Arc::clone(&confirm_answer), Arc::clone(&confirm_asked));
    server.set_confirm(Arc::new(move |_| {
        n.fetch_add(1, Ordering::SeqCst);
        a.load(Ordering::SeqCst)
    }));
    let handle = server.spawn();
    WhelkAgent {
        _handle: handle,
        _dir: dir,
        sock,
        confirm_answer,
        confirm_asked,
    }
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < TIMEOUT,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An askpass script that prints `answer` (for `ssh-add -x`/`-X` without a terminal).
fn askpass(dir: &Path, answer: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("askpass-{answer}"));
    std::fs::write(&path, format!("#!/bin/sh\necho '{answer}'\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn ssh_add_against_the_whelk_agent() {
    let agent = start_whelk_agent();
    let keys = tempfile::tempdir().unwrap();
    let ed = keygen(keys.path(), "id_ed25519", &["-t", "ed25519"]);
    let ec = keygen(keys.path(), "id_ecdsa", &["-t", "ecdsa", "-b", "384"]);
    let rsa = keygen(keys.path(), "id_rsa", &["-t", "rsa", "-b", "2048"]);
    let sock = agent.sock.as_path();
    let add = |args: &[&str]| run_with(sock, "ssh-add", args, &[]);

    // Add and list (-l fingerprints, -L public keys).
    let out = add(&[
        ed.to_str().unwrap(),
        ec.to_str().unwrap(),
        rsa.to_str().unwrap(),
    ]);
    ok(&out, "ssh-add");
    let listing = ok(&add(&["-l"]), "ssh-add -l");
    assert_eq!(listing.lines().count(), 3, "{listing}");
    for (path, ty) in [(&ed, "(ED25519)"), (&ec, "(ECDSA)"), (&rsa, "(RSA)")] {
        let fp = public_of(path).fingerprint(HashAlg::Sha256).to_string();
        let line = listing
            .lines()
            .find(|l| l.contains(&fp))
            .unwrap_or_else(|| panic!("{fp} not in {listing}"));
        assert!(line.ends_with(ty), "{line}");
        assert!(
            line.contains(path.file_name().unwrap().to_str().unwrap()),
            "{line}"
        );
    }
    let long = ok(&add(&["-L"]), "ssh-add -L");
    for path in [&ed, &ec, &rsa] {
        let pubkey = std::fs::read_to_string(pub_path(path)).unwrap();
        assert!(
            long.lines().any(|l| l == pubkey.trim()),
            "{pubkey} not in {long}"
        );
    }

    // Delete one (-d, by its .pub).
    ok(&add(&["-d", ec.to_str().unwrap()]), "ssh-add -d");
    let listing = ok(&add(&["-l"]), "ssh-add -l");
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert!(!listing.contains(&public_of(&ec).fingerprint(HashAlg::Sha256).to_string()));

    // Lock (-x) and unlock (-X); the passphrase comes from an askpass script.
    let pass = askpass(keys.path(), "lock-secret");
    let wrong = askpass(keys.path(), "not-it");
    let with_pass = |p: &Path, flag: &str| {
        run_with(
            sock,
            "ssh-add",
            &[flag],
            &[
                ("SSH_ASKPASS", p.to_str().unwrap()),
                ("SSH_ASKPASS_REQUIRE", "force"),
            ],
        )
    };
    ok(&with_pass(&pass, "-x"), "ssh-add -x");
    let locked = add(&["-l"]);
    assert!(!locked.status.success());
    assert!(
        locked.stdout_str().contains("no identities"),
        "{}",
        locked.stdout_str()
    );
    assert!(
        !with_pass(&wrong, "-X").status.success(),
        "wrong passphrase unlocks"
    );
    // A failed unlock delays the next attempt by up to a second on the agent's clock.
    std::thread::sleep(Duration::from_millis(2100));
    ok(&with_pass(&pass, "-X"), "ssh-add -X");
    assert_eq!(ok(&add(&["-l"]), "ssh-add -l").lines().count(), 2);

    // Lifetime (-t): the key disappears once it has passed (4 s, so that a loaded machine
    // still lists it right after adding).
    ok(&add(&["-t", "4", ec.to_str().unwrap()]), "ssh-add -t");
    assert_eq!(ok(&add(&["-l"]), "ssh-add -l").lines().count(), 3);
    std::thread::sleep(Duration::from_millis(5600));
    let listing = ok(&add(&["-l"]), "ssh-add -l");
    assert_eq!(listing.lines().count(), 2, "{listing}");

    // Confirm (-c): added by ssh-add, every use asks the agent's confirm callback.
    ok(&add(&["-D"]), "ssh-add -D");
    ok(&add(&["-c", ed.to_str().unwrap()]), "ssh-add -c");
    let mut client = UnixClient::connect(sock).unwrap();
    let blob = public_of(&ed).blob().to_vec();
    assert!(matches!(
        client.sign(&blob, b"data", SigAlg::Ed25519),
        Err(Error::Refused)
    ));
    agent.confirm_answer.store(true, Ordering::SeqCst);
    let sig = client.sign(&blob, b"data", SigAlg::Ed25519).unwrap();
    public_of(&ed)
        .verify(SigAlg::Ed25519, b"data", &sig, &VerifyPolicy::default())
        .unwrap();
    assert_eq!(agent.confirm_asked.load(Ordering::SeqCst), 2);

    // Delete all (-D).
    ok(&add(&[rsa.to_str().unwrap()]), "ssh-add");
    ok(&add(&["-D"]), "ssh-add -D");
    let empty = add(&["-l"]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(empty.stdout_str().contains("no identities"));
    drop(agent);
}

#[test]
fn ssh_add_certificates_into_the_whelk_agent() {
    let agent = start_whelk_agent();
    let keys = tempfile::tempdir().unwrap();
    let ca = keygen(keys.path(), "ca", &["-t", "ed25519"]);
    for (name, ty, alg) in [
        ("id_ed25519", &["-t", "ed25519"][..], SigAlg::Ed25519),
        (
            "id_ecdsa",
            &["-t", "ecdsa", "-b", "521"][..],
            SigAlg::EcdsaNistP521,
        ),
        (
            "id_rsa",
            &["-t", "rsa", "-b", "2048"][..],
            SigAlg::RsaSha2_512,
        ),
    ] {
        let key = keygen(keys.path(), name, ty);
        let mut cmd = Command::new(tool("ssh-keygen"));
        cmd.args(["-q", "-s"])
            .arg(&ca)
            .args(["-I", name, "-n", "alice", "-V", "-5m:+1h"])
            .arg(pub_path(&key));
        ok(&openssh::run(cmd, TIMEOUT).unwrap(), "ssh-keygen -s");
        // ssh-add adds the key and, next to it, its certificate.
        let out = run_with(&agent.sock, "ssh-add", &[key.to_str().unwrap()], &[]);
        ok(&out, "ssh-add");
        assert!(
            out.stderr_str().contains("Certificate added"),
            "{}",
            out.stderr_str()
        );
        let cert_text =
            std::fs::read_to_string(keys.path().join(format!("{name}-cert.pub"))).unwrap();
        let (cert, _) = Certificate::from_openssh(cert_text.trim()).unwrap();

        let mut client = UnixClient::connect(&agent.sock).unwrap();
        let ids = client.identities().unwrap();
        assert!(ids.iter().any(|i| i.key_blob.as_ref() == cert.blob()));
        let sig = client
            .sign(cert.blob(), b"with a certificate", alg)
            .unwrap();
        cert.public_key()
            .verify(alg, b"with a certificate", &sig, &VerifyPolicy::default())
            .unwrap();
    }
    let long = run_with(&agent.sock, "ssh-add", &["-L"], &[]);
    assert_eq!(
        ok(&long, "ssh-add -L")
            .lines()
            .filter(|l| l.contains("-cert-v01@openssh.com"))
            .count(),
        3
    );
}

struct OpenSshAgent {
    _dir: tempfile::TempDir,
    sock: PathBuf,
    _child: ChildGuard,
}

fn start_openssh_agent() -> OpenSshAgent {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ssh-agent.sock");
    let mut cmd = Command::new(tool("ssh-agent"));
    cmd.arg("-D").arg("-a").arg(&sock);
    let child = ChildGuard::spawn(&mut cmd).unwrap();
    wait_for(&sock);
    OpenSshAgent {
        _dir: dir,
        sock,
        _child: child,
    }
}

#[test]
fn whelk_client_against_openssh_agent() {
    let agent = start_openssh_agent();
    let keys = tempfile::tempdir().unwrap();
    let paths = [
        keygen(keys.path(), "id_ed25519", &["-t", "ed25519"]),
        keygen(keys.path(), "id_ecdsa256", &["-t", "ecdsa", "-b", "256"]),
        keygen(keys.path(), "id_ecdsa384", &["-t", "ecdsa", "-b", "384"]),
        keygen(keys.path(), "id_ecdsa521", &["-t", "ecdsa", "-b", "521"]),
        keygen(keys.path(), "id_rsa", &["-t", "rsa", "-b", "2048"]),
    ];
    let args: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    ok(&run_with(&agent.sock, "ssh-add", &args, &[]), "ssh-add");

    let mut client = UnixClient::connect(&agent.sock).unwrap();
    let ids = client.identities().unwrap();
    assert_eq!(ids.len(), 5);
    let mut signed = 0;
    for path in &paths {
        let public = public_of(path);
        let id = ids
            .iter()
            .find(|i| i.key_blob.as_ref() == public.blob())
            .unwrap_or_else(|| panic!("{} not listed", path.display()));
        assert_eq!(
            id.comment_lossy(),
            path.file_name().unwrap().to_str().unwrap()
        );
        for &alg in public.key_type().signature_algorithms() {
            if alg.uses_sha1() {
                continue;
            }
            let data = format!("{alg} from ssh-agent");
            let sig = client.sign(&id.key_blob, data.as_bytes(), alg).unwrap();
            public
                .verify(alg, data.as_bytes(), &sig, &VerifyPolicy::default())
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            signed += 1;
        }
    }
    assert_eq!(
        signed, 6,
        "ed25519, three ECDSA curves, rsa-sha2-256 and rsa-sha2-512"
    );
}

#[test]
fn whelk_client_manages_openssh_agent() {
    let agent = start_openssh_agent();
    let keys = tempfile::tempdir().unwrap();
    let sock = agent.sock.as_path();
    let mut client = UnixClient::connect(sock).unwrap();

    // Add keys of every type through whelk's encoder; ssh-agent must accept them.
    let paths = [
        keygen(keys.path(), "id_ed25519", &["-t", "ed25519"]),
        keygen(keys.path(), "id_ecdsa", &["-t", "ecdsa", "-b", "256"]),
        keygen(keys.path(), "id_rsa", &["-t", "rsa", "-b", "3072"]),
    ];
    for p in &paths {
        let key = private_of(p);
        client
            .add(AddIdentity {
                key,
                certificate: None,
                comment: Bytes::from(format!(
                    "whelk:{}",
                    p.file_name().unwrap().to_str().unwrap()
                )),
                constraints: vec![Constraint::Lifetime(3600)],
            })
            .unwrap();
    }
    let listing = ok(&run_with(sock, "ssh-add", &["-l"], &[]), "ssh-add -l");
    for p in &paths {
        let fp = public_of(p).fingerprint(HashAlg::Sha256).to_string();
        let line = listing.lines().find(|l| l.contains(&fp)).unwrap();
        assert!(line.contains("whelk:id_"), "{line}");
    }
    // Signatures by the keys whelk added, verified by whelk.
    for p in &paths {
        let public = public_of(p);
        let alg = if public.key_type() == whelk_keys::KeyType::Rsa {
            SigAlg::RsaSha2_256
        } else {
            public.key_type().default_signature_algorithm()
        };
        let sig = client.sign(public.blob(), b"added by whelk", alg).unwrap();
        public
            .verify(alg, b"added by whelk", &sig, &VerifyPolicy::default())
            .unwrap();
    }

    // A certificate added through whelk's encoder (all three key types).
    let ca = private_of(&keygen(keys.path(), "ca", &["-t", "ed25519"]));
    let mut rng = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::from_seed([2; 32]);
    for p in &paths {
        let key = private_of(p);
        let cert = whelk_keys::cert::CertBuilder::new(
            key.public_key().clone(),
            whelk_keys::cert::CertType::User,
            0,
            u64::MAX,
        )
        .key_id("whelk-cert")
        .principal("alice")
        .sign(&ca, SigAlg::Ed25519, &mut rng)
        .unwrap();
        client
            .add(AddIdentity {
                key,
                certificate: Some(cert.clone()),
                comment: Bytes::from_static(b"whelk cert"),
                constraints: vec![],
            })
            .unwrap();
        let long = ok(&run_with(sock, "ssh-add", &["-L"], &[]), "ssh-add -L");
        assert!(
            long.contains(&cert.to_openssh("").trim().to_string()),
            "{long}"
        );
    }

    // Remove one, lock/unlock, remove all.
    client.remove(public_of(&paths[0]).blob()).unwrap();
    assert!(matches!(
        client.remove(public_of(&paths[0]).blob()),
        Err(Error::Refused)
    ));
    assert_eq!(client.identities().unwrap().len(), 5);
    client.lock(b"pw").unwrap();
    assert!(client.identities().unwrap().is_empty());
    assert!(client.unlock(b"nope").is_err());
    client.unlock(b"pw").unwrap();
    assert_eq!(client.identities().unwrap().len(), 5);
    client.remove_all().unwrap();
    assert!(client.identities().unwrap().is_empty());
    let empty = run_with(sock, "ssh-add", &["-l"], &[]);
    assert_eq!(empty.status.code(), Some(1));

    // OpenSSH 9.2's agent does not implement `query`: it answers failure.
    assert!(matches!(client.query_extensions(), Err(Error::Refused)));

    // session-bind with a valid host signature is accepted by ssh-agent.
    let host = private_of(&keygen(keys.path(), "host", &["-t", "ed25519"]));
    let sid = b"an exchange hash";
    let sig = host.sign(SigAlg::Ed25519, sid, &mut rng).unwrap();
    client
        .session_bind(&whelk_wire::msg::SessionBind {
            host_key: Bytes::copy_from_slice(host.public_key().blob()),
            session_id: Bytes::from_static(sid),
            signature: Bytes::from(sig),
            is_forwarding: false,
        })
        .unwrap();
}

#[test]
fn ssh_keygen_y_sign_with_a_key_in_the_whelk_agent() {
    let agent = start_whelk_agent();
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("message.txt");
    std::fs::write(&msg, b"signed through the whelk agent\n").unwrap();
    for (name, ty) in [
        ("id_ed25519", &["-t", "ed25519"][..]),
        ("id_ecdsa", &["-t", "ecdsa"][..]),
        ("id_rsa", &["-t", "rsa", "-b", "2048"][..]),
    ] {
        let key = keygen(dir.path(), name, ty);
        ok(
            &run_with(&agent.sock, "ssh-add", &[key.to_str().unwrap()], &[]),
            "ssh-add",
        );
        // Only the public key is given: ssh-keygen signs through the agent.
        let pubfile = pub_path(&key);
        let out = run_with(
            &agent.sock,
            "ssh-keygen",
            &[
                "-Y",
                "sign",
                "-n",
                "file",
                "-f",
                pubfile.to_str().unwrap(),
                msg.to_str().unwrap(),
            ],
            &[],
        );
        ok(&out, "ssh-keygen -Y sign");
        let sig = dir.path().join("message.txt.sig");
        let allowed = dir.path().join("allowed_signers");
        std::fs::write(
            &allowed,
            format!(
                "alice@example.com {}",
                std::fs::read_to_string(&pubfile).unwrap()
            ),
        )
        .unwrap();
        // openssh::run closes stdin; the message goes in through a shell redirect.
        let script = format!(
            "exec '{}' -Y verify -n file -I alice@example.com -f '{}' -s '{}' < '{}'",
            tool("ssh-keygen").display(),
            allowed.display(),
            sig.display(),
            msg.display()
        );
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c").arg(script);
        let out = openssh::run(sh, TIMEOUT).unwrap();
        let text = ok(&out, "ssh-keygen -Y verify");
        assert!(
            text.contains("Good \"file\" signature for alice@example.com"),
            "{text}"
        );
        std::fs::remove_file(&sig).unwrap();
    }
}

/// The example binary, built by `cargo test` next to the test executables.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("agent");
    assert!(bin.exists(), "{} not built", bin.display());
    bin
}

#[test]
fn example_agent_prints_the_environment_and_serves_ssh_add() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("example.sock");
    let mut cmd = Command::new(example_binary());
    cmd.arg("-D").arg("-a").arg(&sock).arg("-s");
    let mut child = ChildGuard::spawn(&mut cmd).unwrap();
    wait_for(&sock);
    let start = Instant::now();
    while !String::from_utf8_lossy(&child.stdout()).contains("echo Agent pid") {
        assert!(
            start.elapsed() < TIMEOUT,
            "no output: {}",
            child.stderr_str()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = String::from_utf8_lossy(&child.stdout()).into_owned();
    assert!(
        out.starts_with(&format!(
            "SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;\nSSH_AGENT_PID={}; export SSH_AGENT_PID;\n",
            sock.display(),
            child.id()
        )),
        "{out}"
    );
    let key = keygen(dir.path(), "id_ed25519", &["-t", "ed25519"]);
    ok(
        &run_with(&sock, "ssh-add", &[key.to_str().unwrap()], &[]),
        "ssh-add",
    );
    let listing = ok(&run_with(&sock, "ssh-add", &["-l"], &[]), "ssh-add -l");
    assert!(listing.contains(&public_of(&key).fingerprint(HashAlg::Sha256).to_string()));
    child.kill();
}

#[test]
fn example_agent_without_d_backgrounds_itself() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("bg.sock");
    let mut cmd = Command::new(example_binary());
    cmd.arg("-a").arg(&sock).arg("-c");
    let out = openssh::run(cmd, TIMEOUT).unwrap();
    let text = ok(&out, "agent");
    // C-shell syntax was asked for.
    assert!(
        text.starts_with(&format!("setenv SSH_AUTH_SOCK {};\n", sock.display())),
        "{text}"
    );
    let pid: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("setenv SSH_AGENT_PID "))
        .and_then(|p| p.trim_end_matches(';').parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text}"));
    // The background agent serves after the foreground process has exited.
    let empty = run_with(&sock, "ssh-add", &["-l"], &[]);
    assert_eq!(empty.status.code(), Some(1), "{}", empty.stderr_str());
    assert!(empty.stdout_str().contains("no identities"));
    // Stop the agent this test started, by its pid.
    let mut kill = Command::new("kill");
    kill.arg(pid.to_string());
    ok(&openssh::run(kill, TIMEOUT).unwrap(), "kill");
}

/// ECDSA keys whose private scalar is shorter than the field (OpenSSH sends it as a minimal
/// mpint: 31 bytes for these fixtures): `ssh-add` of the key, and of the key with a
/// certificate, into the whelk agent; the agent signs with them.
#[test]
fn ssh_add_ecdsa_keys_with_short_scalars() {
    use std::os::unix::fs::PermissionsExt;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/keys");
    let agent = start_whelk_agent();
    let keys = tempfile::tempdir().unwrap();
    let ca = keygen(keys.path(), "ca", &["-t", "ed25519"]);
    for (name, alg) in [
        ("id_ecdsa256_short", SigAlg::EcdsaNistP256),
        ("id_ecdsa384_short", SigAlg::EcdsaNistP384),
    ] {
        for with_cert in [false, true] {
            let key = keys.path().join(format!("{name}_{with_cert}"));
            std::fs::copy(fixtures.join(name), &key).unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::fs::copy(fixtures.join(format!("{name}.pub")), pub_path(&key)).unwrap();
            let public = public_of(&key);
            let blob = if with_cert {
                let mut cmd = Command::new(tool("ssh-keygen"));
                cmd.args(["-q", "-s"])
                    .arg(&ca)
                    .args(["-I", name, "-n", "alice", "-V", "-5m:+1h"])
                    .arg(pub_path(&key));
                ok(&openssh::run(cmd, TIMEOUT).unwrap(), "ssh-keygen -s");
                let cert_path = keys.path().join(format!("{name}_{with_cert}-cert.pub"));
                let cert_text = std::fs::read_to_string(cert_path).unwrap();
                let (cert, _) = Certificate::from_openssh(cert_text.trim()).unwrap();
                Bytes::copy_from_slice(cert.blob())
            } else {
                Bytes::copy_from_slice(public.blob())
            };
            let out = run_with(&agent.sock, "ssh-add", &[key.to_str().unwrap()], &[]);
            ok(&out, "ssh-add");
            if with_cert {
                assert!(
                    out.stderr_str().contains("Certificate added"),
                    "{}",
                    out.stderr_str()
                );
            }
            let mut client = UnixClient::connect(&agent.sock).unwrap();
            let ids = client.identities().unwrap();
            assert!(ids.iter().any(|i| i.key_blob == blob), "{name} {with_cert}");
            let sig = client.sign(&blob, b"short scalar", alg).unwrap();
            public
                .verify(alg, b"short scalar", &sig, &VerifyPolicy::default())
                .unwrap();
        }
    }
}
