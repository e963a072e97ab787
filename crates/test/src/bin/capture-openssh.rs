//! Captures golden vectors from the OpenSSH installed on this machine: the identification
//! line and first binary packet (KEXINIT) that `sshd` and `ssh` send, with their default
//! settings and with `-o` variations.
//!
//! ```text
//! cargo run -p whelk-test --bin capture-openssh [-- OUT_DIR]
//! ```
//!
//! `OUT_DIR` defaults to `testdata/openssh/` at the workspace root. For each capture NAME it
//! writes `NAME.bin` (the exact bytes off the wire: the identification line with its CR LF,
//! then the packet) and `NAME.txt` (how it was captured and what it decodes to). See
//! `testdata/openssh/README.md`.

use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use whelk_test::hello::{self, Hello, OUR_IDENTIFICATION};
use whelk_test::openssh::{self, HostKeyType, Sshd};
use whelk_test::{Error, Result};
use whelk_wire::version::Role;

/// One `sshd` capture.
struct ServerCase {
    name: &'static str,
    about: &'static str,
    host_keys: &'static [HostKeyType],
    options: &'static [(&'static str, &'static str)],
}

/// One `ssh` client capture.
struct ClientCase {
    name: &'static str,
    about: &'static str,
    options: &'static [(&'static str, &'static str)],
}

const SERVER_CASES: &[ServerCase] = &[
    ServerCase {
        name: "sshd-default",
        about: "sshd with its default algorithms and one Ed25519 host key",
        host_keys: &[HostKeyType::Ed25519],
        options: &[],
    },
    ServerCase {
        name: "sshd-kex-curve25519",
        about: "sshd restricted to one key exchange method",
        host_keys: &[HostKeyType::Ed25519],
        options: &[("KexAlgorithms", "curve25519-sha256")],
    },
    ServerCase {
        name: "sshd-ciphers",
        about: "sshd restricted to a CTR and a GCM cipher",
        host_keys: &[HostKeyType::Ed25519],
        options: &[("Ciphers", "aes128-ctr,aes256-gcm@openssh.com")],
    },
    ServerCase {
        name: "sshd-macs-etm",
        about: "sshd restricted to one encrypt-then-MAC MAC",
        host_keys: &[HostKeyType::Ed25519],
        options: &[("MACs", "hmac-sha2-256-etm@openssh.com")],
    },
    ServerCase {
        name: "sshd-hostkeys-all",
        about: "sshd with Ed25519, ECDSA P-256 and RSA host keys, default algorithms",
        host_keys: &[
            HostKeyType::Ed25519,
            HostKeyType::EcdsaP256,
            HostKeyType::Rsa,
        ],
        options: &[],
    },
    ServerCase {
        name: "sshd-hostkeyalgs",
        about: "sshd with Ed25519 and RSA host keys, HostKeyAlgorithms restricted and reordered",
        host_keys: &[HostKeyType::Ed25519, HostKeyType::Rsa],
        options: &[("HostKeyAlgorithms", "rsa-sha2-256,ssh-ed25519")],
    },
    ServerCase {
        name: "sshd-compression-no",
        about: "sshd with compression disabled",
        host_keys: &[HostKeyType::Ed25519],
        options: &[("Compression", "no")],
    },
];

const CLIENT_CASES: &[ClientCase] = &[
    ClientCase {
        name: "ssh-default",
        about: "the ssh client with its default algorithms (no config file, no known hosts)",
        options: &[],
    },
    ClientCase {
        name: "ssh-restricted",
        about: "the ssh client restricted to one kex method, cipher and MAC, compression on",
        options: &[
            ("KexAlgorithms", "curve25519-sha256"),
            ("Ciphers", "chacha20-poly1305@openssh.com"),
            ("MACs", "hmac-sha2-512"),
            ("Compression", "yes"),
        ],
    },
];

/// The `sshd -T` / `ssh -G` keywords recorded in the notes.
const KEYWORDS: &[&str] = &[
    "kexalgorithms",
    "hostkeyalgorithms",
    "ciphers",
    "macs",
    "compression",
];

fn default_out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/openssh")
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Replaces the temporary directory and port, which change on every run.
fn scrub(text: &str, dir: &Path, port: u16) -> String {
    text.replace(&dir.display().to_string(), "$DIR")
        .replace(&format!(" {port}"), " $PORT")
        .replace(&format!(":{port}"), ":$PORT")
}

fn describe_hello(notes: &mut String, hello: &Hello) -> Result<()> {
    let k = hello.kexinit()?;
    let _ = writeln!(
        notes,
        "peer identification: {}",
        String::from_utf8_lossy(hello.version.line())
    );
    let _ = writeln!(
        notes,
        "bytes: {} (identification {} + packet {}; payload {}, padding {})",
        hello.raw.len(),
        hello.identification_bytes().len(),
        hello.packet_bytes().len(),
        hello.payload.len(),
        hello.padding_len
    );
    let _ = writeln!(notes, "\ndecoded KEXINIT:");
    let lists = [
        ("kex_algorithms", &k.kex_algorithms),
        ("server_host_key_algorithms", &k.server_host_key_algorithms),
        (
            "encryption_client_to_server",
            &k.encryption_client_to_server,
        ),
        (
            "encryption_server_to_client",
            &k.encryption_server_to_client,
        ),
        ("mac_client_to_server", &k.mac_client_to_server),
        ("mac_server_to_client", &k.mac_server_to_client),
        (
            "compression_client_to_server",
            &k.compression_client_to_server,
        ),
        (
            "compression_server_to_client",
            &k.compression_server_to_client,
        ),
        ("languages_client_to_server", &k.languages_client_to_server),
        ("languages_server_to_client", &k.languages_server_to_client),
    ];
    for (name, list) in lists {
        let _ = writeln!(notes, "  {name}: {}", list.as_str());
    }
    let _ = writeln!(
        notes,
        "  first_kex_packet_follows: {}",
        k.first_kex_packet_follows
    );
    Ok(())
}

fn header(notes: &mut String, name: &str, about: &str, ssh_v: &str) {
    let _ = writeln!(notes, "# Golden capture `{name}`: {about}");
    let _ = writeln!(
        notes,
        "# Re-create with: cargo run -p whelk-test --bin capture-openssh"
    );
    let _ = writeln!(notes, "file: {name}.bin");
    let _ = writeln!(notes, "ssh -V: {ssh_v}");
    let _ = writeln!(
        notes,
        "captured: {} on {}",
        command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        command_output("uname", &["-srm"])
    );
    let _ = writeln!(
        notes,
        "we sent: {OUR_IDENTIFICATION}\\r\\n, then read the peer's identification and first packet"
    );
}

fn capture_server(case: &ServerCase, out: &Path, ssh_v: &str) -> Result<()> {
    let mut builder = Sshd::builder();
    for ty in case.host_keys {
        builder = builder.host_key(*ty);
    }
    for (k, v) in case.options {
        builder = builder.option(*k, *v);
    }
    let sshd = builder.start()?;
    let mut stream = TcpStream::connect(sshd.addr())
        .map_err(|e| Error::io(format!("connecting to {}", sshd.addr()), e))?;
    let hello = hello::exchange(&mut stream, Role::Client, hello::DEFAULT_TIMEOUT)?;
    drop(stream);
    let effective = sshd.effective_config()?;

    let (dir, port) = (sshd.dir(), sshd.port());
    let mut notes = String::new();
    header(&mut notes, case.name, case.about, ssh_v);
    let _ = writeln!(notes, "peer: sshd (we are the client, plain TcpStream)");
    let _ = writeln!(notes, "command: {}", scrub(sshd.command_line(), dir, port));
    let opts: Vec<String> = case
        .options
        .iter()
        .map(|(k, v)| format!("-o {k}={v}"))
        .collect();
    let _ = writeln!(notes, "options: {}", opts.join(" "));
    let keys: Vec<&str> = case.host_keys.iter().map(|t| t.name()).collect();
    let _ = writeln!(
        notes,
        "host keys (generated by ssh-keygen): {}",
        keys.join(", ")
    );
    describe_hello(&mut notes, &hello)?;
    let _ = writeln!(notes, "\nsshd -T (same config, port and options):");
    for kw in KEYWORDS {
        let _ = writeln!(notes, "  {kw} {}", effective.get(kw).unwrap_or("(absent)"));
    }
    let config = std::fs::read_to_string(sshd.config_path()).map_err(|source| Error::File {
        path: sshd.config_path().to_owned(),
        source,
    })?;
    let _ = writeln!(notes, "\nsshd_config:");
    for line in scrub(&config, dir, port).lines() {
        let _ = writeln!(notes, "  {line}");
    }
    write(out, case.name, &hello, &notes)
}

fn capture_client(case: &ClientCase, out: &Path, ssh_v: &str) -> Result<()> {
    let options = case.options;
    let (hello, ssh) = openssh::client_hello(
        |mut ssh| {
            for (k, v) in options {
                ssh = ssh.option(*k, *v);
            }
            ssh.user("whelk")
        },
        hello::DEFAULT_TIMEOUT,
    )?;
    let effective = ssh.effective_config()?;
    let port = effective
        .get("port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let mut notes = String::new();
    header(&mut notes, case.name, case.about, ssh_v);
    let _ = writeln!(
        notes,
        "peer: ssh (we are the server, a std TcpListener on 127.0.0.1)"
    );
    let _ = writeln!(
        notes,
        "command: {}",
        scrub(&ssh.command_line()?, Path::new("/nonexistent"), port)
    );
    let opts: Vec<String> = case
        .options
        .iter()
        .map(|(k, v)| format!("-o {k}={v}"))
        .collect();
    let _ = writeln!(notes, "options: {}", opts.join(" "));
    describe_hello(&mut notes, &hello)?;
    let _ = writeln!(notes, "\nssh -G (same arguments):");
    for kw in KEYWORDS {
        let _ = writeln!(notes, "  {kw} {}", effective.get(kw).unwrap_or("(absent)"));
    }
    write(out, case.name, &hello, &notes)
}

fn write(out: &Path, name: &str, hello: &Hello, notes: &str) -> Result<()> {
    let bin = out.join(format!("{name}.bin"));
    std::fs::write(&bin, &hello.raw).map_err(|source| Error::File { path: bin, source })?;
    let txt = out.join(format!("{name}.txt"));
    std::fs::write(&txt, notes).map_err(|source| Error::File { path: txt, source })?;
    println!("{name}: {} bytes", hello.raw.len());
    Ok(())
}

fn main_inner() -> Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(default_out_dir, PathBuf::from);
    std::fs::create_dir_all(&out).map_err(|source| Error::File {
        path: out.clone(),
        source,
    })?;
    let ssh_v = openssh::ssh_version()?;
    println!("{ssh_v}; writing to {}", out.display());
    for case in SERVER_CASES {
        capture_server(case, &out, &ssh_v)?;
    }
    for case in CLIENT_CASES {
        capture_client(case, &out, &ssh_v)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match main_inner() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capture-openssh: {e}");
            ExitCode::FAILURE
        }
    }
}
