//! `whelk keygen -s` (sign certificates) and `-L` (show a certificate).

use std::path::PathBuf;

use whelk_keys::authorized_keys::{format_timespec, parse_timespec};
use whelk_keys::cert::{CertBuilder, CertType, Certificate};
use whelk_keys::{KeyType, PublicKey, SigAlg, VerifyPolicy};

use super::{Args, Fail, Result, file_arg, load_private, read_text};
use crate::common;

/// `u64::MAX`: a certificate valid "forever".
const FOREVER: u64 = u64::MAX;

/// One end of a validity interval: `always`/`forever`, `+`/`-` an interval relative to
/// `now`, or an absolute `YYYYMMDD[HHMM[SS]][Z]` (UTC).
fn parse_time_point(s: &str, now: u64, end: bool) -> Result<u64> {
    let bad = || Fail::new(format!("Invalid certificate time {s}"));
    match s {
        "always" if !end => return Ok(0),
        "forever" if end => return Ok(FOREVER),
        _ => {}
    }
    if let Some(rest) = s.strip_prefix('+') {
        let d = whelk_config::parse_time(rest).map_err(|_| bad())?;
        return Ok(now.saturating_add(d.as_secs()));
    }
    if let Some(rest) = s.strip_prefix('-') {
        let d = whelk_config::parse_time(rest).map_err(|_| bad())?;
        return Ok(now.saturating_sub(d.as_secs()));
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_err(|_| bad());
    }
    parse_timespec(s).map_err(|_| bad())
}

/// `-V`: `from:to`, or a single `to` (from now, or from always with `forever`).
pub(super) fn parse_validity(spec: Option<&str>, now: u64) -> Result<(u64, u64)> {
    let Some(spec) = spec else {
        return Ok((0, FOREVER));
    };
    let (from, to) = match spec.split_once(':') {
        Some((f, t)) => (
            parse_time_point(f, now, false)?,
            parse_time_point(t, now, true)?,
        ),
        None if spec == "forever" || spec == "always" => (0, FOREVER),
        None => (now, parse_time_point(spec, now, true)?),
    };
    if to <= from {
        return Err(Fail::new(format!(
            "Empty certificate validity interval {spec}"
        )));
    }
    Ok((from, to))
}

/// The validity as `ssh-keygen` prints it (`forever`, `from X to Y`, `after X`, `before Y`).
fn format_validity(from: u64, to: u64) -> String {
    match (from, to) {
        (0, FOREVER) => "forever".into(),
        (0, t) => format!("before {}", iso(t)),
        (f, FOREVER) => format!("after {}", iso(f)),
        (f, t) => format!("from {} to {}", iso(f), iso(t)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC.
fn iso(t: u64) -> String {
    let s = format_timespec(t);
    let g = |a: usize, b: usize| s.get(a..b).unwrap_or("00");
    format!(
        "{}-{}-{}T{}:{}:{}",
        g(0, 4),
        g(4, 6),
        g(6, 8),
        g(8, 10),
        g(10, 12),
        g(12, 14)
    )
}

/// Certificate options being assembled from `-O` flags.
struct CertOptions {
    critical: Vec<(String, String)>,
    extensions: Vec<(String, String)>,
}

impl CertOptions {
    fn new(host: bool) -> Self {
        Self {
            critical: Vec::new(),
            extensions: if host {
                Vec::new()
            } else {
                whelk_keys::cert::DEFAULT_USER_EXTENSIONS
                    .iter()
                    .map(|e| ((*e).to_string(), String::new()))
                    .collect()
            },
        }
    }

    fn set(list: &mut Vec<(String, String)>, name: &str, value: &str) {
        list.retain(|(n, _)| n != name);
        list.push((name.to_string(), value.to_string()));
    }

    /// Applies one `-O` option.
    fn apply(&mut self, opt: &str, host: bool) -> Result<()> {
        let (name, value) = opt.split_once('=').unwrap_or((opt, ""));
        let lower = name.to_ascii_lowercase();
        let ext_name = |s: &str| {
            if s == "permit-x11-forwarding" {
                "permit-X11-forwarding".to_string()
            } else {
                s.to_string()
            }
        };
        if host && lower != "clear" && !lower.starts_with("extension:") {
            return Err(Fail::new(format!(
                "Option \"{opt}\" is only for user certificates"
            )));
        }
        match lower.as_str() {
            "clear" => {
                self.critical.clear();
                self.extensions.clear();
            }
            "force-command" | "source-address" => Self::set(&mut self.critical, &lower, value),
            "verify-required" => Self::set(&mut self.critical, &lower, ""),
            "no-x11-forwarding"
            | "no-agent-forwarding"
            | "no-port-forwarding"
            | "no-pty"
            | "no-user-rc" => {
                let ext = ext_name(&format!("permit-{}", lower.trim_start_matches("no-")));
                self.extensions.retain(|(n, _)| *n != ext);
            }
            "permit-x11-forwarding"
            | "permit-agent-forwarding"
            | "permit-port-forwarding"
            | "permit-pty"
            | "permit-user-rc"
            | "no-touch-required" => {
                Self::set(&mut self.extensions, &ext_name(&lower), "");
            }
            _ => {
                if let Some(ext) = opt.strip_prefix("extension:") {
                    let (n, v) = ext.split_once('=').unwrap_or((ext, ""));
                    Self::set(&mut self.extensions, n, v);
                } else if let Some(crit) = opt.strip_prefix("critical:") {
                    let (n, v) = crit.split_once('=').unwrap_or((crit, ""));
                    Self::set(&mut self.critical, n, v);
                } else {
                    return Err(Fail::usage(format!(
                        "Unsupported certificate option \"{opt}\""
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The signature algorithm `ssh-keygen` uses with a CA key.
fn ca_alg(kt: KeyType, default: SigAlg) -> SigAlg {
    if kt == KeyType::Rsa {
        SigAlg::RsaSha2_512
    } else {
        default
    }
}

/// `ssh-keygen -s ca -I id [-h] [-n principals] [-V validity] [-z serial] [-O opt] key.pub...`
pub(super) fn sign(args: &Args) -> Result<()> {
    let Some(ca_path) = &args.sign_with else {
        return Err(Fail::usage("-s needs a CA key"));
    };
    let Some(id) = &args.identity else {
        return Err(Fail::usage("Must specify key id (-I) when certifying"));
    };
    if args.files.is_empty() {
        return Err(Fail::usage(
            "Too few arguments: give the public keys to certify",
        ));
    }
    let ca = load_private(&common::expand_tilde(ca_path), args.passphrase.as_deref())?;
    let now = common::now();
    let (from, to) = parse_validity(args.validity.as_deref(), now)?;
    let cert_type = if args.host_cert {
        CertType::Host
    } else {
        CertType::User
    };
    let principals: Vec<String> = args
        .principals
        .as_deref()
        .map(|p| p.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let mut opts = CertOptions::new(args.host_cert);
    for o in &args.options {
        opts.apply(o, args.host_cert)?;
    }
    let mut rng = common::rng().map_err(|e| Fail::new(e.to_string()))?;
    let serial = args.serial.unwrap_or(0);
    for path in &args.files {
        let text = read_text(path)?;
        let (key, comment) = PublicKey::from_any(&text)
            .map_err(|e| Fail::new(format!("load pubkey \"{}\": {e}", path.display())))?;
        let mut b = CertBuilder::new(key, cert_type, from, to)
            .serial(serial)
            .key_id(id.clone())
            .clear_extensions();
        for p in &principals {
            b = b.principal(p.clone());
        }
        for (n, v) in &opts.critical {
            b = b.critical_option(n.clone(), v.clone());
        }
        for (n, v) in &opts.extensions {
            b = b.extension(n.clone(), v.clone());
        }
        let alg = ca_alg(ca.key_type(), ca.default_signature_algorithm());
        let cert = b
            .sign(&ca, alg, &mut rng)
            .map_err(|e| Fail::new(format!("Couldn't certify key {}: {e}", path.display())))?;
        let name = path.display().to_string();
        let base = name.strip_suffix(".pub").unwrap_or(&name);
        let out = PathBuf::from(format!("{base}-cert.pub"));
        let line = format!("{}\n", cert.to_openssh(&comment).trim_end());
        common::write_file(&out, line.as_bytes(), 0o644).map_err(|e| {
            Fail::new(format!(
                "Could not write certificate {}: {e}",
                out.display()
            ))
        })?;
        if !args.quiet {
            let who = if principals.is_empty() {
                "for any principal".to_string()
            } else {
                format!("for {}", principals.join(","))
            };
            eprintln!(
                "Signed {} key {}: id \"{id}\" serial {serial} {who} valid {}",
                if args.host_cert { "host" } else { "user" },
                out.display(),
                format_validity(from, to)
            );
        }
    }
    Ok(())
}

/// Prints `name value` option lists the way `ssh-keygen -L` does.
fn print_options(opts: &[(String, String)], critical: bool) {
    for (name, value) in opts {
        if value.is_empty() {
            println!("                {name}");
        } else if critical {
            println!("                {name} {value}");
        } else {
            println!(
                "                {name} UNKNOWN OPTION (len {})",
                value.len()
            );
        }
    }
}

/// `ssh-keygen -L -f cert`.
pub(super) fn show(args: &Args) -> Result<()> {
    let path = file_arg(args, "the certificate is")?;
    let text = read_text(&path)?;
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or_default();
    let (cert, _) = Certificate::from_openssh(line)
        .map_err(|e| Fail::new(format!("{} is not a certificate: {e}", path.display())))?;
    let hash = super::hash_alg(args)?;
    let kt = cert.key_type();
    let short = kt.short_name();
    let ca = cert.signature_key();
    let sig_alg = cert
        .verify_signature(&VerifyPolicy::allowing_sha1())
        .map(|a| a.name().to_string())
        .unwrap_or_else(|_| "INVALID SIGNATURE".into());
    println!("{}:", path.display());
    println!(
        "        Type: {} {} certificate",
        kt.cert_name(),
        match cert.cert_type() {
            CertType::User => "user",
            CertType::Host => "host",
        }
    );
    println!(
        "        Public key: {short}-CERT {}",
        cert.public_key().fingerprint(hash)
    );
    println!(
        "        Signing CA: {} {} (using {sig_alg})",
        ca.key_type().short_name(),
        ca.fingerprint(hash)
    );
    println!("        Key ID: \"{}\"", cert.key_id());
    println!("        Serial: {}", cert.serial());
    println!(
        "        Valid: {}",
        format_validity(cert.valid_after(), cert.valid_before())
    );
    if cert.principals().is_empty() {
        println!("        Principals: (none)");
    } else {
        println!("        Principals: ");
        for p in cert.principals() {
            println!("                {p}");
        }
    }
    if cert.critical_options().is_empty() {
        println!("        Critical Options: (none)");
    } else {
        println!("        Critical Options: ");
        print_options(cert.critical_options(), true);
    }
    if cert.extensions().is_empty() {
        println!("        Extensions: (none)");
    } else {
        println!("        Extensions: ");
        print_options(cert.extensions(), false);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_forms() {
        let now = 1_000_000;
        assert_eq!(parse_validity(None, now).unwrap(), (0, FOREVER));
        assert_eq!(
            parse_validity(Some("+1d"), now).unwrap(),
            (now, now + 86400)
        );
        assert_eq!(
            parse_validity(Some("-1h:+1w"), now).unwrap(),
            (now - 3600, now + 604_800)
        );
        assert_eq!(
            parse_validity(Some("always:forever"), now).unwrap(),
            (0, FOREVER)
        );
        assert_eq!(
            parse_validity(Some("20200101:20300101"), now).unwrap(),
            (1_577_836_800, 1_893_456_000)
        );
        assert!(parse_validity(Some("+1d:-1d"), now).is_err());
        assert_eq!(format_validity(0, FOREVER), "forever");
        assert_eq!(
            format_validity(1_577_836_800, 1_893_456_000),
            "from 2020-01-01T00:00:00 to 2030-01-01T00:00:00"
        );
    }
}
