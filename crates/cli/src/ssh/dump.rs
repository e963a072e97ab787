//! `ssh -G`: the resolved configuration, one `keyword value` line per option with
//! lowercase keywords as OpenSSH prints it. Algorithm lists are the ones whelk would
//! offer (defaults with `+`/`-`/`^` applied, known host key algorithms first); options
//! whelk-config knows but never set are printed with OpenSSH's defaults.

use std::fmt::Write as _;

use whelk_config::client::{
    AddressFamily, ForwardAgent, LogLevel, ProxyJump, PubkeyAuthentication, RequestTty,
    StrictHostKeyChecking,
};

use super::Fail;
use super::options::{self, Resolved};

fn yn(b: Option<bool>, default: bool) -> &'static str {
    if b.unwrap_or(default) { "yes" } else { "no" }
}

/// The text `ssh -G` prints for `r`.
pub(super) fn render(r: &Resolved) -> Result<String, Fail> {
    let c = &r.cfg;
    let mut ssh = whelk::ClientConfig::new(&r.user);
    options::algorithms(r, &mut ssh)?;
    let algs = &ssh.transport.algorithms;
    let mut out = String::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(out, "{k} {v}");
    };
    line("host", &r.original_host);
    line("user", &r.user);
    line("hostname", &r.host);
    line("port", &r.port.to_string());
    line(
        "addressfamily",
        match c.address_family {
            Some(AddressFamily::Inet) => "inet",
            Some(AddressFamily::Inet6) => "inet6",
            _ => "any",
        },
    );
    line("batchmode", yn(c.batch_mode, false));
    line("compression", yn(c.compression, false));
    line("exitonforwardfailure", yn(c.exit_on_forward_failure, false));
    line("hashknownhosts", yn(c.hash_known_hosts, false));
    line("identitiesonly", yn(c.identities_only, false));
    line(
        "kbdinteractiveauthentication",
        yn(c.kbd_interactive_authentication, true),
    );
    line(
        "passwordauthentication",
        yn(c.password_authentication, true),
    );
    line(
        "pubkeyauthentication",
        match c.pubkey_authentication {
            Some(PubkeyAuthentication::No) => "false",
            Some(PubkeyAuthentication::Unbound) => "unbound",
            Some(PubkeyAuthentication::HostBound) => "host-bound",
            _ => "true",
        },
    );
    line(
        "requesttty",
        match c.request_tty {
            Some(RequestTty::No) => "false",
            Some(RequestTty::Yes) => "true",
            Some(RequestTty::Force) => "force",
            _ => "auto",
        },
    );
    line(
        "stricthostkeychecking",
        match options::strict(r) {
            StrictHostKeyChecking::Yes => "true",
            StrictHostKeyChecking::No => "false",
            StrictHostKeyChecking::AcceptNew => "accept-new",
            StrictHostKeyChecking::Ask => "ask",
        },
    );
    line("tcpkeepalive", yn(c.tcp_keep_alive, true));
    line(
        "connectionattempts",
        &c.connection_attempts.unwrap_or(1).to_string(),
    );
    line(
        "numberofpasswordprompts",
        &c.number_of_password_prompts.unwrap_or(3).to_string(),
    );
    line(
        "serveralivecountmax",
        &c.server_alive_count_max.unwrap_or(3).to_string(),
    );
    line(
        "serveraliveinterval",
        &c.effective_server_alive_interval().as_secs().to_string(),
    );
    line("ciphers", &algs.ciphers.join(","));
    line("hostkeyalgorithms", &algs.host_key.join(","));
    line("kexalgorithms", &algs.kex.join(","));
    line(
        "loglevel",
        match c.log_level {
            Some(LogLevel::Quiet) => "QUIET",
            Some(LogLevel::Fatal) => "FATAL",
            Some(LogLevel::Error) => "ERROR",
            Some(LogLevel::Verbose) => "VERBOSE",
            Some(LogLevel::Debug1) => "DEBUG1",
            Some(LogLevel::Debug2) => "DEBUG2",
            Some(LogLevel::Debug3) => "DEBUG3",
            _ => "INFO",
        },
    );
    line("macs", &algs.macs.join(","));
    if let Some(p) = &c.preferred_authentications {
        line("preferredauthentications", &p.join(","));
    }
    if c.identity_files.is_empty() {
        for n in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            line("identityfile", &format!("~/.ssh/{n}"));
        }
    } else {
        for f in &c.identity_files {
            line("identityfile", f);
        }
    }
    for f in &c.certificate_files {
        line("certificatefile", f);
    }
    let (user, global) = options::known_hosts_files(r);
    let join = |v: Vec<std::path::PathBuf>| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    line("globalknownhostsfile", &join(global));
    line("userknownhostsfile", &join(user));
    line(
        "forwardagent",
        match &c.forward_agent {
            Some(ForwardAgent::Yes) => "yes",
            Some(ForwardAgent::Socket(s)) => s,
            _ => "no",
        },
    );
    line("forwardx11", yn(c.forward_x11, false));
    line("forwardx11trusted", yn(c.forward_x11_trusted, false));
    line(
        "forwardx11timeout",
        &c.forward_x11_timeout
            .map_or(1200, |t| t.as_secs())
            .to_string(),
    );
    line(
        "xauthlocation",
        c.xauth_location.as_deref().unwrap_or("/usr/bin/xauth"),
    );
    if let Some(t) = c.connect_timeout {
        line("connecttimeout", &t.as_secs().to_string());
    }
    if let Some(a) = &c.identity_agent {
        line("identityagent", a);
    }
    if let Some(a) = &c.host_key_alias {
        line("hostkeyalias", a);
    }
    if let Some(b) = &c.bind_address {
        line("bindaddress", b);
    }
    match &c.proxy_jump {
        Some(j @ ProxyJump::Hosts(_)) => line("proxyjump", &j.to_string()),
        _ => {
            if let Some(p) = &c.proxy_command {
                line("proxycommand", p);
            }
        }
    }
    if let Some(rc) = &c.remote_command {
        line("remotecommand", rc);
    }
    for f in &c.local_forwards {
        line("localforward", &f.to_string());
    }
    for f in &c.remote_forwards {
        line("remoteforward", &f.to_string());
    }
    for f in &c.dynamic_forwards {
        line("dynamicforward", &f.to_string());
    }
    for e in &c.send_env {
        line("sendenv", e);
    }
    if let Some(v) = &c.set_env {
        let s: Vec<String> = v.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line("setenv", &s.join(" "));
    }
    line(
        "rekeylimit",
        &format!(
            "{} {}",
            c.rekey_limit.unwrap_or(0),
            c.rekey_interval.map_or(0, |d| d.as_secs())
        ),
    );
    Ok(out)
}
