//! `whelk keygen -Y`: SSHSIG signatures (`sign`, `verify`, `check-novalidate`,
//! `find-principals`), as `ssh-keygen -Y` does them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use whelk_keys::sshsig::{AllowedSigners, SshSig, SshSigHash};
use whelk_keys::{HashAlg, VerifyPolicy};

use super::{Args, Fail, Result, load_private, read_text};
use crate::common;

fn read_stdin() -> Result<Vec<u8>> {
    let mut msg = Vec::new();
    std::io::stdin()
        .read_to_end(&mut msg)
        .map_err(|e| Fail::new(format!("reading stdin: {e}")))?;
    Ok(msg)
}

fn namespace(args: &Args) -> Result<&str> {
    args.principals
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Fail::usage("Too few arguments for sign: missing namespace (-n)"))
}

fn hash(args: &Args) -> Result<SshSigHash> {
    for o in &args.options {
        if let Some(h) = o.strip_prefix("hashalg=") {
            return match h {
                "sha256" => Ok(SshSigHash::Sha256),
                "sha512" => Ok(SshSigHash::Sha512),
                _ => Err(Fail::usage(format!("Invalid hash algorithm \"{h}\""))),
            };
        }
    }
    Ok(SshSigHash::Sha512)
}

fn load_sig(args: &Args) -> Result<SshSig> {
    let path = args
        .sign_with
        .as_deref()
        .ok_or_else(|| Fail::usage("Missing signature file (-s)"))?;
    let text = read_text(Path::new(path))?;
    SshSig::from_armored(&text)
        .map_err(|e| Fail::new(format!("Couldn't parse signature {path}: {e}")))
}

fn allowed(args: &Args) -> Result<AllowedSigners> {
    let path = args
        .file
        .as_deref()
        .ok_or_else(|| Fail::usage("Missing allowed signers file (-f)"))?;
    Ok(AllowedSigners::parse(&read_text(path)?))
}

/// Runs one `-Y` operation.
pub(super) fn run(args: &Args, op: &str) -> Result<()> {
    match op {
        "sign" => sign(args),
        "verify" => verify(args),
        "check-novalidate" => check_novalidate(args),
        "find-principals" => find_principals(args),
        other => Err(Fail::usage(format!(
            "Unsupported operation for -Y: \"{other}\""
        ))),
    }
}

fn sign(args: &Args) -> Result<()> {
    let ns = namespace(args)?;
    let key_path = args
        .file
        .as_deref()
        .ok_or_else(|| Fail::usage("Too few arguments for sign: missing key (-f)"))?;
    let key = load_private(key_path, args.passphrase.as_deref())?;
    let h = hash(args)?;
    let mut rng = common::rng().map_err(|e| Fail::new(e.to_string()))?;
    let sign_one = |msg: &[u8], rng: &mut chacha20::ChaCha20Rng| {
        SshSig::sign(&key, ns, h, msg, rng)
            .map(|s| s.to_armored())
            .map_err(|e| Fail::new(format!("Signing failed: {e}")))
    };
    if args.files.is_empty() || args.files.iter().all(|f| f.as_os_str() == "-") {
        let armored = sign_one(&read_stdin()?, &mut rng)?;
        let mut out = std::io::stdout().lock();
        out.write_all(armored.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Fail::new(e.to_string()))?;
        return Ok(());
    }
    for f in &args.files {
        let msg = std::fs::read(f).map_err(|e| Fail::new(format!("{}: {e}", f.display())))?;
        let armored = sign_one(&msg, &mut rng)?;
        let out = PathBuf::from(format!("{}.sig", f.display()));
        common::write_file(&out, armored.as_bytes(), 0o644)
            .map_err(|e| Fail::new(format!("{}: {e}", out.display())))?;
        if !args.quiet {
            eprintln!("Write signature to {}", out.display());
        }
    }
    Ok(())
}

fn signer_desc(sig: &SshSig) -> String {
    let k = sig.signer().public_key();
    format!(
        "{} key {}",
        k.key_type().short_name(),
        k.fingerprint(HashAlg::Sha256)
    )
}

fn verify(args: &Args) -> Result<()> {
    let ns = namespace(args)?;
    let identity = args
        .identity
        .as_deref()
        .ok_or_else(|| Fail::usage("Missing principal ID (-I)"))?;
    let signers = allowed(args)?;
    let sig = load_sig(args)?;
    let msg = read_stdin()?;
    match signers.verify(
        identity,
        ns,
        &msg,
        &sig,
        common::now(),
        &VerifyPolicy::default(),
    ) {
        Ok(_) => {
            println!(
                "Good \"{ns}\" signature for {identity} with {}",
                signer_desc(&sig)
            );
            Ok(())
        }
        Err(e) => Err(Fail::new(format!("Could not verify signature: {e}"))),
    }
}

fn check_novalidate(args: &Args) -> Result<()> {
    let ns = namespace(args)?;
    let sig = load_sig(args)?;
    let msg = read_stdin()?;
    sig.verify(ns, &msg, &VerifyPolicy::default())
        .map_err(|e| Fail::new(format!("Signature verification failed: {e}")))?;
    println!("Good \"{ns}\" signature with {}", signer_desc(&sig));
    Ok(())
}

fn find_principals(args: &Args) -> Result<()> {
    let signers = allowed(args)?;
    let sig = load_sig(args)?;
    let found = signers.find_principals(&sig, common::now(), &VerifyPolicy::default());
    if found.is_empty() {
        return Err(Fail::new("No principal matched."));
    }
    for p in found {
        println!("{p}");
    }
    Ok(())
}
