//! `whelk keygen`: generate and inspect keys, sign and show certificates, SSHSIG signatures,
//! with `ssh-keygen`'s flags.
//!
//! | mode | flags |
//! |------|-------|
//! | generate (default) | `-t ed25519\|ecdsa\|rsa [-b bits] [-f file] [-N pass] [-C comment] [-a rounds] [-m PEM\|PKCS8] [-q]` |
//! | public key of a private key | `-y [-f file] [-P pass]` |
//! | fingerprint | `-l [-v] [-E sha256\|md5] [-f file]` (keys, certificates, authorized_keys, known_hosts) |
//! | change passphrase | `-p [-f file] [-P old] [-N new] [-a rounds]` |
//! | sign certificates | `-s ca_key -I key_id [-h] [-n principals] [-V validity] [-z serial] [-O option] pubkey...` |
//! | show a certificate | `-L [-f file]` |
//! | export a public key | `-e [-m RFC4716\|PKCS8\|PEM] [-f file]` |
//! | import a public key | `-i [-m RFC4716\|PKCS8\|PEM] [-f file]` |
//! | known_hosts | `-F host`, `-R host`, `-H` (with `-f file`, default `~/.ssh/known_hosts`) |
//! | SSHSIG | `-Y sign -f key -n namespace [file...]`, `-Y verify -f allowed_signers -I identity -n namespace -s sig`, `-Y check-novalidate -n namespace -s sig`, `-Y find-principals -f allowed_signers -s sig` |
//!
//! Differences from `ssh-keygen`: without `-f`, key generation writes the default file
//! (`~/.ssh/id_<type>`) without asking for a name; times in certificates are shown in UTC.
//! Fatal errors exit with 255, usage errors with 1, as `ssh-keygen` does.

mod cert;
mod convert;
mod hosts;
mod sig;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use whelk_keys::cert::Certificate;
use whelk_keys::{Curve, HashAlg, KeyGen, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::common::{self, tty};

/// Command-line arguments of `whelk keygen`.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct Args {
    /// Key type to generate: ed25519 (default), ecdsa or rsa.
    #[arg(short = 't', value_name = "type")]
    key_type: Option<String>,
    /// Key size: 256, 384 or 521 for ecdsa; 2048..8192 for rsa (default 3072).
    #[arg(short = 'b', value_name = "bits")]
    bits: Option<u32>,
    /// Key file (default `~/.ssh/id_<type>`); allowed_signers for -Y verify/find-principals.
    #[arg(
        short = 'f',
        value_name = "file",
        help = "Key file (default ~/.ssh/id_<type>); allowed_signers for -Y verify/find-principals"
    )]
    file: Option<PathBuf>,
    /// New passphrase ("" for none).
    #[arg(short = 'N', value_name = "new_passphrase", allow_hyphen_values = true)]
    new_passphrase: Option<String>,
    /// Old passphrase (to read an encrypted key).
    #[arg(short = 'P', value_name = "passphrase", allow_hyphen_values = true)]
    passphrase: Option<String>,
    /// Comment of a new key (default user@host).
    #[arg(short = 'C', value_name = "comment", allow_hyphen_values = true)]
    comment: Option<String>,
    /// Quiet.
    #[arg(short = 'q')]
    quiet: bool,
    /// Print the public key of a private key file.
    #[arg(short = 'y')]
    print_public: bool,
    /// Show the fingerprint of a key file (public, private, certificate, authorized_keys).
    #[arg(short = 'l')]
    fingerprint: bool,
    /// Fingerprint hash: sha256 (default) or md5.
    #[arg(short = 'E', value_name = "hash", default_value = "sha256")]
    hash: String,
    /// Verbose: with -l, also draw the key's random art.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Change the passphrase of a private key file.
    #[arg(short = 'p')]
    change_passphrase: bool,
    /// Sign the public keys given as arguments with this CA key (with -Y verify: the
    /// signature file).
    #[arg(short = 's', value_name = "ca_key|signature_file")]
    sign_with: Option<String>,
    /// Key identifier of a certificate (with -Y verify: the signer's identity).
    #[arg(short = 'I', value_name = "identity")]
    identity: Option<String>,
    /// Principals of a certificate, comma-separated (with -Y: the namespace).
    #[arg(short = 'n', value_name = "principals|namespace")]
    principals: Option<String>,
    /// Validity of a certificate: `[from]:to` with `YYYYMMDD[HHMM[SS]]`, `+/-interval`,
    /// `always`, `forever`.
    #[arg(
        short = 'V',
        value_name = "validity",
        allow_hyphen_values = true,
        help = "Validity of a certificate: [from]:to with YYYYMMDD[HHMM[SS]], +/-interval, always, forever"
    )]
    validity: Option<String>,
    /// Make a host certificate (default: user certificate).
    #[arg(short = 'h')]
    host_cert: bool,
    /// Serial number of a certificate.
    #[arg(short = 'z', value_name = "serial")]
    serial: Option<u64>,
    /// Certificate option (clear, force-command=, source-address=, verify-required,
    /// no-*/permit-*, extension:name[=value], critical:name[=value]); for -Y: hashalg=.
    #[arg(short = 'O', value_name = "option")]
    options: Vec<String>,
    /// Show the contents of a certificate.
    #[arg(short = 'L')]
    show_cert: bool,
    /// Export the public key (-m RFC4716, the default, PKCS8 or PEM).
    #[arg(short = 'e')]
    export: bool,
    /// Import a public key (-m RFC4716, the default, PKCS8 or PEM) and print it in
    /// OpenSSH's format.
    #[arg(short = 'i')]
    import: bool,
    /// Find a host in a known_hosts file (-f, default ~/.ssh/known_hosts).
    #[arg(short = 'F', value_name = "hostname")]
    find_host: Option<String>,
    /// Remove a host's keys from a known_hosts file (the old file is kept as FILE.old).
    #[arg(short = 'R', value_name = "hostname")]
    remove_host: Option<String>,
    /// Hash the host names of a known_hosts file (the old file is kept as FILE.old).
    #[arg(short = 'H')]
    hash_hosts: bool,
    /// Key format: PEM or PKCS8 for new private keys, RFC4716/PKCS8/PEM for -e.
    #[arg(short = 'm', value_name = "format")]
    format: Option<String>,
    /// bcrypt-pbkdf rounds for encrypted keys (default 16).
    #[arg(short = 'a', value_name = "rounds")]
    rounds: Option<u32>,
    /// SSHSIG operation: sign, verify, check-novalidate, find-principals.
    #[arg(short = 'Y', value_name = "operation")]
    sig_op: Option<String>,
    /// Print help.
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Public keys to certify (-s), files to sign (-Y sign).
    #[arg(value_name = "file")]
    files: Vec<PathBuf>,
}

/// A fatal error: the message (printed after `whelk keygen: ` unless it is already
/// formatted like `ssh-keygen`'s) and the exit status.
#[derive(Debug)]
pub(crate) struct Fail {
    msg: String,
    code: u8,
}

impl Fail {
    fn new(msg: impl Into<String>) -> Self {
        Self {
            msg: msg.into(),
            code: 255,
        }
    }

    fn usage(msg: impl Into<String>) -> Self {
        Self {
            msg: msg.into(),
            code: 1,
        }
    }
}

type Result<T, E = Fail> = std::result::Result<T, E>;

/// Runs `whelk keygen`.
pub(crate) fn main(args: Args) -> ExitCode {
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.msg.is_empty() {
                eprintln!("{}", f.msg);
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(args: &Args) -> Result<()> {
    if let Some(op) = &args.sig_op {
        return sig::run(args, op);
    }
    if args.sign_with.is_some() {
        return cert::sign(args);
    }
    if args.show_cert {
        return cert::show(args);
    }
    if args.print_public {
        return print_public(args);
    }
    if args.fingerprint {
        return fingerprint(args);
    }
    if args.change_passphrase {
        return change_passphrase(args);
    }
    if args.export {
        return convert::export(args);
    }
    if args.import {
        return convert::import(args);
    }
    if let Some(h) = &args.find_host {
        return hosts::find(args, h);
    }
    if let Some(h) = &args.remove_host {
        return hosts::remove(args, h);
    }
    if args.hash_hosts {
        return hosts::hash(args);
    }
    generate(args)
}

fn hash_alg(args: &Args) -> Result<HashAlg> {
    match args.hash.to_ascii_lowercase().as_str() {
        "sha256" => Ok(HashAlg::Sha256),
        "md5" => Ok(HashAlg::Md5),
        other => Err(Fail::usage(format!("Invalid hash algorithm \"{other}\""))),
    }
}

/// The file to work on: `-f`, else asked for on the terminal (default `~/.ssh/id_ed25519`).
fn file_arg(args: &Args, what: &str) -> Result<PathBuf> {
    if let Some(f) = &args.file {
        return Ok(f.clone());
    }
    let default = common::home().join(".ssh").join("id_ed25519");
    let answer = tty::ask(&format!(
        "Enter file in which {what} ({}): ",
        default.display()
    ))
    .map_err(|e| Fail::new(format!("whelk keygen: no -f and no terminal to ask: {e}")))?;
    Ok(if answer.is_empty() {
        default
    } else {
        common::expand_tilde(&answer)
    })
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Fail::new(format!("{}: {e}", path.display())))
}

/// Whether a private key file is encrypted (OpenSSH or PEM).
fn is_encrypted(text: &str) -> bool {
    if text
        .trim_start()
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
    {
        whelk_keys::openssh::is_encrypted(text).unwrap_or(false)
    } else {
        text.contains("ENCRYPTED")
    }
}

/// Loads a private key, using `-P` or asking for the passphrase if it is encrypted.
pub(crate) fn load_private(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey> {
    let text = read_text(path)?;
    let load_err = |e: whelk_keys::Error| {
        Fail::new(format!(
            "Load key \"{}\": {}",
            path.display(),
            if e == whelk_keys::Error::WrongPassphrase {
                "incorrect passphrase supplied to decrypt private key".to_string()
            } else {
                e.to_string()
            }
        ))
    };
    if !is_encrypted(&text) {
        return PrivateKey::from_any(&text, None).map_err(load_err);
    }
    let pass: Zeroizing<String> = match passphrase {
        Some(p) => Zeroizing::new(p.to_string()),
        None => tty::read_secret(
            &format!("Enter passphrase for \"{}\": ", path.display()),
            true,
        )
        .map_err(|e| Fail::new(format!("whelk keygen: reading passphrase: {e}")))?,
    };
    PrivateKey::from_any(&text, Some(pass.as_bytes())).map_err(load_err)
}

/// `ssh-keygen -y`.
fn print_public(args: &Args) -> Result<()> {
    let path = file_arg(args, "the key is")?;
    let key = load_private(&path, args.passphrase.as_deref())?;
    println!("{}", key.public_key().to_openssh(key.comment()).trim_end());
    Ok(())
}

/// One key found in a file, for `-l`.
struct Listed {
    key: PublicKey,
    comment: String,
    cert: bool,
}

/// Every public key in `text`: one key in any format, or lines of keys, certificates,
/// authorized_keys or known_hosts entries.
fn keys_in(text: &str) -> Vec<Listed> {
    let t = text.trim_start();
    if t.starts_with("---- BEGIN SSH2 PUBLIC KEY") || t.starts_with("-----BEGIN PUBLIC KEY") {
        return PublicKey::from_any(t)
            .map(|(key, comment)| Listed {
                key,
                comment,
                cert: false,
            })
            .into_iter()
            .collect();
    }
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Ok((key, comment)) = PublicKey::from_openssh(line) {
            out.push(Listed {
                key,
                comment,
                cert: false,
            });
        } else if let Ok((c, comment)) = Certificate::from_openssh(line) {
            out.push(Listed {
                key: c.public_key().clone(),
                comment,
                cert: true,
            });
        } else if let Some(k) = whelk_keys::authorized_keys::AuthorizedKeys::parse(line)
            .keys()
            .first()
        {
            out.push(Listed {
                key: k.key.clone(),
                comment: k.comment.clone(),
                cert: false,
            });
        } else if let Some(e) = whelk_keys::known_hosts::KnownHosts::parse(line)
            .entries()
            .first()
        {
            let comment = match &e.hosts {
                whelk_keys::known_hosts::HostPatterns::Plain(p) => p.clone(),
                whelk_keys::known_hosts::HostPatterns::Hashed { .. } => line
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            };
            out.push(Listed {
                key: e.key.clone(),
                comment,
                cert: false,
            });
        }
    }
    out
}

/// `ssh-keygen -l [-v] [-E hash]`.
fn fingerprint(args: &Args) -> Result<()> {
    let hash = hash_alg(args)?;
    let path = file_arg(args, "the key is")?;
    let text = read_text(&path)?;
    let listed = if text.contains("PRIVATE KEY-----") {
        // Prefer the .pub next to it (it has the comment), as ssh-keygen does.
        let pub_path = PathBuf::from(format!("{}.pub", path.display()));
        match std::fs::read_to_string(&pub_path).ok().map(|t| keys_in(&t)) {
            Some(v) if !v.is_empty() => v,
            _ => {
                let key = if text.contains("OPENSSH PRIVATE KEY") {
                    whelk_keys::openssh::public_key(&text).map(|k| (k, String::new()))
                } else {
                    PrivateKey::from_any(&text, args.passphrase.as_deref().map(str::as_bytes))
                        .map(|k| (k.public_key().clone(), k.comment().to_string()))
                };
                let (key, comment) =
                    key.map_err(|_| Fail::new(format!("{} is not a key file.", path.display())))?;
                vec![Listed {
                    key,
                    comment,
                    cert: false,
                }]
            }
        }
    } else {
        keys_in(&text)
    };
    if listed.is_empty() {
        return Err(Fail::new(format!(
            "{} is not a public key file.",
            path.display()
        )));
    }
    for l in listed {
        let comment = if l.comment.is_empty() {
            "no comment"
        } else {
            l.comment.as_str()
        };
        let short = l.key.key_type().short_name();
        let suffix = if l.cert { "-CERT" } else { "" };
        println!(
            "{} {} {comment} ({short}{suffix})",
            l.key.bits(),
            l.key.fingerprint(hash)
        );
        if args.verbose > 0 {
            println!("{}", l.key.randomart(hash).trim_end());
        }
    }
    Ok(())
}

/// The kind of key `-t`/`-b` ask for.
fn key_spec(args: &Args) -> Result<KeyGen> {
    let t = args
        .key_type
        .as_deref()
        .unwrap_or("ed25519")
        .to_ascii_lowercase();
    match t.as_str() {
        "ed25519" | "ssh-ed25519" => Ok(KeyGen::Ed25519),
        "ecdsa" | "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let bits = args.bits.unwrap_or(match t.as_str() {
                "ecdsa-sha2-nistp384" => 384,
                "ecdsa-sha2-nistp521" => 521,
                _ => 256,
            });
            let curve = match bits {
                256 => Curve::NistP256,
                384 => Curve::NistP384,
                521 => Curve::NistP521,
                _ => {
                    return Err(Fail::new(
                        "Invalid ECDSA key length: valid lengths are 256, 384 or 521 bits",
                    ));
                }
            };
            Ok(KeyGen::Ecdsa(curve))
        }
        "rsa" | "ssh-rsa" => {
            let bits = args.bits.unwrap_or(KeyGen::RSA_DEFAULT_BITS);
            if !(KeyGen::RSA_MIN_BITS..=KeyGen::RSA_MAX_BITS).contains(&bits) {
                return Err(Fail::new(format!(
                    "Invalid RSA key length: whelk generates {}..{} bits",
                    KeyGen::RSA_MIN_BITS,
                    KeyGen::RSA_MAX_BITS
                )));
            }
            Ok(KeyGen::Rsa { bits })
        }
        other => Err(Fail::usage(format!(
            "unknown key type {other} (ed25519, ecdsa or rsa)"
        ))),
    }
}

/// A new passphrase: `-N`, else asked twice on the terminal.
fn new_passphrase(args: &Args) -> Result<Zeroizing<String>> {
    if let Some(p) = &args.new_passphrase {
        return Ok(Zeroizing::new(p.clone()));
    }
    let err = |e: std::io::Error| Fail::new(format!("whelk keygen: reading passphrase: {e}"));
    let a = tty::read_secret("Enter passphrase (empty for no passphrase): ", true).map_err(err)?;
    let b = tty::read_secret("Enter same passphrase again: ", true).map_err(err)?;
    if *a != *b {
        return Err(Fail::new("Passphrases do not match.  Try again."));
    }
    Ok(a)
}

/// The private key file contents in the format `-m` asks for.
fn private_text(args: &Args, key: &PrivateKey, pass: &str) -> Result<Zeroizing<String>> {
    let mut rng = common::rng().map_err(|e| Fail::new(e.to_string()))?;
    let rounds = args
        .rounds
        .unwrap_or(whelk_keys::openssh::DEFAULT_KDF_ROUNDS);
    let format = args
        .format
        .as_deref()
        .unwrap_or("RFC4716")
        .to_ascii_uppercase();
    let r = match (format.as_str(), pass.is_empty()) {
        ("PEM", true) => key.to_traditional_pem(),
        ("PKCS8", true) => key.to_pkcs8_pem(),
        ("PEM" | "PKCS8", false) => key.to_pkcs8_encrypted_pem(
            pass.as_bytes(),
            whelk_keys::pem::DEFAULT_PBKDF2_ITERATIONS,
            &mut rng,
        ),
        (_, true) => key.to_openssh(),
        (_, false) => key.to_openssh_encrypted(pass.as_bytes(), rounds, &mut rng),
    };
    r.map_err(|e| Fail::new(format!("Saving key failed: {e}")))
}

/// Default file name for a key type.
fn default_file(spec: KeyGen) -> PathBuf {
    let name = match spec {
        KeyGen::Ed25519 => "id_ed25519",
        KeyGen::Ecdsa(_) => "id_ecdsa",
        KeyGen::Rsa { .. } => "id_rsa",
    };
    common::home().join(".ssh").join(name)
}

/// `ssh-keygen [-t type] [-b bits] [-f file] [-N pass] [-C comment] [-q]`.
fn generate(args: &Args) -> Result<()> {
    let spec = key_spec(args)?;
    let path = args.file.clone().unwrap_or_else(|| default_file(spec));
    let type_name = match spec {
        KeyGen::Ed25519 => "ed25519",
        KeyGen::Ecdsa(_) => "ecdsa",
        KeyGen::Rsa { .. } => "rsa",
    };
    if !args.quiet {
        println!("Generating public/private {type_name} key pair.");
    }
    if path.exists() {
        let q = format!("{} already exists.\nOverwrite (y/n)? ", path.display());
        let yes = tty::ask(&q).is_ok_and(|a| a.starts_with(['y', 'Y']));
        if !yes {
            return Err(Fail::usage(""));
        }
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(dir)
            .map_err(|e| Fail::new(format!("mkdir {}: {e}", dir.display())))?;
        if !args.quiet {
            println!("Created directory '{}'.", dir.display());
        }
    }
    let pass = new_passphrase(args)?;
    let mut rng = common::rng().map_err(|e| Fail::new(e.to_string()))?;
    let mut key = PrivateKey::generate(spec, &mut rng).map_err(|e| Fail::new(format!("{e}")))?;
    let comment = args
        .comment
        .clone()
        .unwrap_or_else(|| format!("{}@{}", common::local_user(), common::local_host()));
    key.set_comment(comment.clone());
    let text = private_text(args, &key, &pass)?;
    common::write_file(&path, text.as_bytes(), 0o600)
        .map_err(|e| Fail::new(format!("Saving key \"{}\" failed: {e}", path.display())))?;
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    let line = format!("{}\n", key.public_key().to_openssh(&comment).trim_end());
    common::write_file(&pub_path, line.as_bytes(), 0o644).map_err(|e| {
        Fail::new(format!(
            "Unable to save public key to {}: {e}",
            pub_path.display()
        ))
    })?;
    if !args.quiet {
        let hash = hash_alg(args)?;
        println!("Your identification has been saved in {}", path.display());
        println!("Your public key has been saved in {}", pub_path.display());
        println!("The key fingerprint is:");
        println!("{} {comment}", key.fingerprint(hash));
        println!("The key's randomart image is:");
        println!("{}", key.public_key().randomart(hash).trim_end());
    }
    Ok(())
}

/// `ssh-keygen -p [-P old] [-N new] [-f file]`.
fn change_passphrase(args: &Args) -> Result<()> {
    let path = file_arg(args, "the key is")?;
    let text = read_text(&path)?;
    let old = if is_encrypted(&text) {
        match &args.passphrase {
            Some(p) => Some(Zeroizing::new(p.clone())),
            None => Some(
                tty::read_secret("Enter old passphrase: ", true)
                    .map_err(|e| Fail::new(format!("whelk keygen: reading passphrase: {e}")))?,
            ),
        }
    } else {
        None
    };
    let key = PrivateKey::from_any(&text, old.as_ref().map(|p| p.as_bytes())).map_err(|e| {
        Fail::new(if old.is_some() {
            format!(
                "Failed to load key {}: incorrect passphrase supplied to decrypt private key",
                path.display()
            )
        } else {
            format!("Failed to load key {}: {e}", path.display())
        })
    })?;
    let pass = new_passphrase(args)?;
    let out = private_text(args, &key, &pass)?;
    common::write_file(&path, out.as_bytes(), 0o600)
        .map_err(|e| Fail::new(format!("Saving key \"{}\" failed: {e}", path.display())))?;
    if !args.quiet {
        println!("Your identification has been saved with the new passphrase.");
    }
    Ok(())
}
