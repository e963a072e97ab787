//! whelk-config against real OpenSSH 9.2: every file in `testdata/config/client/` is
//! resolved by `ssh -G` and by whelk for each `# case:` line, and every file in
//! `testdata/config/server/` by `sshd -T` (with and without `-C`); the values of the options
//! both support must agree. These tests fail (they never skip) when `ssh`/`sshd` are missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use whelk_config::client::{
    AddressFamily, CanonicalizeHostname, ForwardAgent, LogLevel, ProxyJump, PubkeyAuthentication,
    RequestTty, StrictHostKeyChecking,
};
use whelk_config::io::StdFiles;
use whelk_config::server::{AllowTcpForwarding, AuthenticationMethods, PermitRootLogin};
use whelk_config::{
    AlgorithmList, ClientConfig, MatchContext, MemoryFiles, ServerConfig, ServerMatchContext,
    parse_client, parse_server, resolve_client,
};
use whelk_test::openssh::{self, EffectiveConfig};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/config")
}

/// Runs a tool; it must succeed.
fn run_ok(mut cmd: Command) -> String {
    let what = format!("{cmd:?}");
    cmd.env("LC_ALL", "C");
    let out = openssh::run(cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", out.failure(&what));
    out.stdout_str()
}

fn ssh() -> PathBuf {
    openssh::find("ssh").unwrap_or_else(|e| panic!("{e}"))
}

fn sshd() -> PathBuf {
    openssh::find("sshd").unwrap_or_else(|e| panic!("{e}"))
}

fn ssh_g(file: &Path, args: &[String], host: &str) -> EffectiveConfig {
    let mut cmd = Command::new(ssh());
    cmd.arg("-G").arg("-F").arg(file).args(args).arg(host);
    EffectiveConfig::parse(&run_ok(cmd))
}

/// The local facts ssh uses for tokens: user, host name, home directory, uid.
struct Local {
    user: String,
    host: String,
    home: String,
    uid: u32,
}

fn local() -> Local {
    let g = ssh_g(
        Path::new("/dev/null"),
        &["-o".into(), "RemoteCommand=%u %l %d %i".into()],
        "x",
    );
    let rc = g.get("remotecommand").unwrap().to_owned();
    let parts: Vec<&str> = rc.split(' ').collect();
    Local {
        user: parts[0].into(),
        host: parts[1].into(),
        home: parts[2].into(),
        uid: parts[3].parse().unwrap(),
    }
}

/// `ssh -Q <query>`, one name per line.
fn query(q: &str) -> Vec<String> {
    let mut cmd = Command::new(ssh());
    cmd.arg("-Q").arg(q);
    run_ok(cmd).lines().map(str::to_owned).collect()
}

struct Algorithms {
    /// (keyword, defaults, supported)
    lists: Vec<(&'static str, Vec<String>, Vec<String>)>,
}

impl Algorithms {
    fn new(defaults: &EffectiveConfig) -> Self {
        let sig = query("key-sig");
        let plain: Vec<String> = sig
            .iter()
            .filter(|s| !s.contains("-cert-"))
            .cloned()
            .collect();
        let lists = [
            ("ciphers", query("cipher")),
            ("macs", query("mac")),
            ("kexalgorithms", query("kex")),
            ("hostkeyalgorithms", query("HostKeyAlgorithms")),
            (
                "pubkeyacceptedalgorithms",
                query("PubkeyAcceptedAlgorithms"),
            ),
            ("casignaturealgorithms", plain),
        ]
        .into_iter()
        .map(|(k, all)| (k, defaults.list(k), all))
        .collect();
        Self { lists }
    }

    fn resolve(&self, keyword: &str, list: Option<&AlgorithmList>) -> String {
        let (_, def, all) = self.lists.iter().find(|(k, _, _)| *k == keyword).unwrap();
        match list {
            None => def.join(","),
            Some(l) => {
                let d: Vec<&str> = def.iter().map(String::as_str).collect();
                let a: Vec<&str> = all.iter().map(String::as_str).collect();
                l.resolve(&d, &a).unwrap().join(",")
            }
        }
    }
}

fn yn(v: Option<bool>, default: bool) -> String {
    if v.unwrap_or(default) { "yes" } else { "no" }.into()
}

fn secs(d: Option<Duration>) -> String {
    d.map_or(0, |d| d.as_secs()).to_string()
}

/// What whelk resolves, spelled as `ssh -G` prints it; `None` where the comparison does not
/// apply (ssh prints defaults whelk does not model).
fn client_view(
    c: &ClientConfig,
    ctx: &MatchContext<'_>,
    algs: &Algorithms,
) -> Vec<(&'static str, Option<Vec<String>>)> {
    let one = |s: String| Some(vec![s]);
    let list = |v: &[String]| Some(v.to_vec());
    let shkc = match c.strict_host_key_checking {
        None | Some(StrictHostKeyChecking::Ask) => "ask",
        Some(StrictHostKeyChecking::Yes) => "true",
        Some(StrictHostKeyChecking::No) => "false",
        Some(StrictHostKeyChecking::AcceptNew) => "accept-new",
    };
    let tty = match c.request_tty {
        None | Some(RequestTty::Auto) => "auto",
        Some(RequestTty::Yes) => "true",
        Some(RequestTty::No) => "false",
        Some(RequestTty::Force) => "force",
    };
    let pka = match c.pubkey_authentication {
        None | Some(PubkeyAuthentication::Yes) => "true",
        Some(PubkeyAuthentication::No) => "false",
        Some(PubkeyAuthentication::Unbound) => "unbound",
        Some(PubkeyAuthentication::HostBound) => "host-bound",
    };
    let canon = match c.canonicalize_hostname {
        None | Some(CanonicalizeHostname::No) => "false",
        Some(CanonicalizeHostname::Yes) => "true",
        Some(CanonicalizeHostname::Always) => "always",
    };
    let af = match c.address_family {
        None | Some(AddressFamily::Any) => "any",
        Some(AddressFamily::Inet) => "inet",
        Some(AddressFamily::Inet6) => "inet6",
    };
    let ll = match c.log_level.unwrap_or(LogLevel::Info) {
        LogLevel::Quiet => "QUIET",
        LogLevel::Fatal => "FATAL",
        LogLevel::Error => "ERROR",
        LogLevel::Info => "INFO",
        LogLevel::Verbose => "VERBOSE",
        LogLevel::Debug1 => "DEBUG1",
        LogLevel::Debug2 => "DEBUG2",
        LogLevel::Debug3 => "DEBUG3",
    };
    let fa = match &c.forward_agent {
        None | Some(ForwardAgent::No) => "no".to_owned(),
        Some(ForwardAgent::Yes) => "yes".to_owned(),
        Some(ForwardAgent::Socket(s)) => s.clone(),
    };
    let tokens = c.token_context(ctx).unwrap();
    let mut v = vec![
        ("hostname", one(c.effective_hostname(&ctx.host).unwrap())),
        ("port", one(c.effective_port().to_string())),
        ("user", one(c.effective_user(&ctx.local_user))),
        (
            "identityfile",
            (!c.identity_files.is_empty()).then(|| c.identity_files.clone()),
        ),
        ("certificatefile", list(&c.certificate_files)),
        (
            "connecttimeout",
            one(c
                .connect_timeout
                .map_or("none".into(), |d| d.as_secs().to_string())),
        ),
        (
            "serveraliveinterval",
            one(c.effective_server_alive_interval().as_secs().to_string()),
        ),
        (
            "serveralivecountmax",
            one(c.server_alive_count_max.unwrap_or(3).to_string()),
        ),
        ("stricthostkeychecking", one(shkc.into())),
        ("requesttty", one(tty.into())),
        ("pubkeyauthentication", one(pka.into())),
        ("canonicalizehostname", one(canon.into())),
        ("addressfamily", one(af.into())),
        ("loglevel", one(ll.into())),
        ("forwardagent", one(fa)),
        ("batchmode", one(yn(c.batch_mode, false))),
        ("compression", one(yn(c.compression, false))),
        ("identitiesonly", one(yn(c.identities_only, false))),
        ("tcpkeepalive", one(yn(c.tcp_keep_alive, true))),
        (
            "passwordauthentication",
            one(yn(c.password_authentication, true)),
        ),
        (
            "kbdinteractiveauthentication",
            one(yn(c.kbd_interactive_authentication, true)),
        ),
        ("checkhostip", one(yn(c.check_host_ip, false))),
        ("hashknownhosts", one(yn(c.hash_known_hosts, false))),
        (
            "exitonforwardfailure",
            one(yn(c.exit_on_forward_failure, false)),
        ),
        (
            "connectionattempts",
            one(c.connection_attempts.unwrap_or(1).to_string()),
        ),
        (
            "numberofpasswordprompts",
            one(c.number_of_password_prompts.unwrap_or(3).to_string()),
        ),
        (
            "canonicalizemaxdots",
            one(c.canonicalize_max_dots.unwrap_or(1).to_string()),
        ),
        (
            "rekeylimit",
            one(format!(
                "{} {}",
                c.rekey_limit.unwrap_or(0),
                secs(c.rekey_interval)
            )),
        ),
        (
            "localforward",
            Some(c.local_forwards.iter().map(ToString::to_string).collect()),
        ),
        (
            "remoteforward",
            Some(
                c.remote_forwards
                    .iter()
                    .map(|f| {
                        // ssh -G spells a remote dynamic forward with its internal target.
                        if f.is_dynamic() {
                            format!("{f} [socks]:0")
                        } else {
                            f.to_string()
                        }
                    })
                    .collect(),
            ),
        ),
        (
            "dynamicforward",
            Some(c.dynamic_forwards.iter().map(ToString::to_string).collect()),
        ),
        (
            "proxyjump",
            // ssh -G prints nothing for `ProxyJump none`.
            Some(
                c.proxy_jump
                    .iter()
                    .filter(|j| **j != ProxyJump::None)
                    .map(ToString::to_string)
                    .collect(),
            ),
        ),
        (
            "proxycommand",
            Some(c.proxy_command.iter().cloned().collect()),
        ),
        (
            "remotecommand",
            Some(
                c.remote_command
                    .iter()
                    .map(|r| whelk_config::expand(r, &tokens).unwrap())
                    .collect(),
            ),
        ),
        (
            "hostkeyalias",
            Some(c.host_key_alias.iter().cloned().collect()),
        ),
        ("sendenv", list(&c.send_env)),
        (
            "setenv",
            Some(
                c.set_env
                    .iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
        ),
        (
            "userknownhostsfile",
            c.user_known_hosts_files.as_ref().map(|v| vec![v.join(" ")]),
        ),
        (
            "globalknownhostsfile",
            c.global_known_hosts_files
                .as_ref()
                .map(|v| vec![v.join(" ")]),
        ),
        (
            "bindaddress",
            Some(c.bind_address.iter().cloned().collect()),
        ),
        (
            "preferredauthentications",
            Some(
                c.preferred_authentications
                    .iter()
                    .map(|v| v.join(","))
                    .collect(),
            ),
        ),
    ];
    for (k, l) in [
        ("ciphers", c.ciphers.as_ref()),
        ("macs", c.macs.as_ref()),
        ("kexalgorithms", c.kex_algorithms.as_ref()),
        ("hostkeyalgorithms", c.host_key_algorithms.as_ref()),
        (
            "pubkeyacceptedalgorithms",
            c.pubkey_accepted_algorithms.as_ref(),
        ),
        ("casignaturealgorithms", c.ca_signature_algorithms.as_ref()),
    ] {
        v.push((k, one(algs.resolve(k, l))));
    }
    v
}

/// ssh prints `DEBUG` for `DEBUG1` in some places; normalise. `EffectiveConfig` trims the
/// values it reads, so trim ours too.
fn normalise(key: &str, values: Vec<String>) -> Vec<String> {
    let values: Vec<String> = values.into_iter().map(|v| v.trim().to_owned()).collect();
    if key == "loglevel" {
        return values
            .into_iter()
            .map(|v| if v == "DEBUG" { "DEBUG1".into() } else { v })
            .collect();
    }
    values
}

/// A `# case:` line: host and command-line arguments.
fn cases(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("# case:"))
        .map(|rest| {
            let mut words = rest.split_whitespace().map(str::to_owned);
            let host = words.next().unwrap();
            (host, words.collect())
        })
        .collect()
}

fn context<'a>(host: &str, args: &[String], local: &Local) -> MatchContext<'a> {
    let mut ctx = MatchContext::new(host, local.user.clone());
    ctx.local_host.clone_from(&local.host);
    ctx.home_dir.clone_from(&local.home);
    ctx.uid = local.uid;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-p" => ctx.port = Some(it.next().unwrap().parse().unwrap()),
            "-l" => ctx.user = Some(it.next().unwrap().clone()),
            other => panic!("unsupported case argument {other}"),
        }
    }
    ctx.with_exec(|cmd| {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Compares whelk's view with ssh's for one case; returns how many values were compared.
fn compare_client(
    file: &Path,
    text: &str,
    host: &str,
    args: &[String],
    local: &Local,
    algs: &Algorithms,
) -> usize {
    let ours = {
        let mut ctx = context(host, args, local);
        let c = resolve_client(
            text,
            &file.display().to_string(),
            &StdFiles::user(),
            &mut ctx,
        )
        .unwrap_or_else(|e| panic!("whelk rejects {}: {e}", file.display()));
        client_view(&c, &ctx, algs)
    };
    let theirs = ssh_g(file, args, host);
    let mut compared = 0;
    let mut diffs = Vec::new();
    for (key, value) in ours {
        let Some(value) = value else { continue };
        let got: Vec<String> = theirs.get_all(key).into_iter().map(str::to_owned).collect();
        let (value, got) = (normalise(key, value), normalise(key, got));
        compared += 1;
        if value != got {
            diffs.push(format!("  {key}: whelk {value:?}, ssh {got:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} host {host} {args:?} differs from `ssh -G`:\n{}",
        file.display(),
        diffs.join("\n")
    );
    compared
}

fn conf_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(testdata().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn client_files_match_ssh_g() {
    let local = local();
    let algs = Algorithms::new(&ssh_g(Path::new("/dev/null"), &[], "x"));
    let mut total = 0;
    let mut n_cases = 0;
    for file in conf_files("client") {
        let text = fs::read_to_string(&file).unwrap();
        let cs = cases(&text);
        assert!(!cs.is_empty(), "{} has no # case: lines", file.display());
        for (host, args) in cs {
            total += compare_client(&file, &text, &host, &args, &local, &algs);
            n_cases += 1;
        }
    }
    eprintln!("ssh -G: {n_cases} cases, {total} values compared");
}

#[test]
fn client_include_globs_match_ssh_g() {
    let local = local();
    let algs = Algorithms::new(&ssh_g(Path::new("/dev/null"), &[], "x"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    fs::write(
        dir.path().join("conf.d/10-web.conf"),
        "Host web\n  Port 2401\n  User webuser\nMatch all\n  ServerAliveInterval 11\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("conf.d/20-all.conf"),
        "Port 2402\nConnectTimeout 12\n",
    )
    .unwrap();
    fs::write(dir.path().join("conf.d/ignored.txt"), "Port 1\n").unwrap();
    fs::write(
        dir.path().join("inactive.conf"),
        "Port 2403\nHost *\n  User fromInactive\n",
    )
    .unwrap();
    let main = format!(
        "Host db\n  Include {d}/inactive.conf\nHost *\nInclude {d}/conf.d/*.conf {d}/missing-*.conf\n\
         Host web\n  Hostname web.example\nHost *\n  User last\n"
    );
    let file = dir.path().join("config");
    fs::write(&file, &main).unwrap();
    let mut n = 0;
    for host in ["web", "db", "other"] {
        n += compare_client(&file, &main, host, &[], &local, &algs);
    }
    eprintln!("Include: {n} values compared");
}

/// Lines both ssh and whelk reject (ssh exits non-zero; whelk names the line).
#[test]
fn client_bad_values_rejected_like_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        "Port 0",
        "Port 65536",
        "Port x",
        "ConnectTimeout 5x",
        "ServerAliveInterval -1",
        "ServerAliveCountMax x",
        "StrictHostKeyChecking maybe",
        "BatchMode perhaps",
        "Compression maybe",
        "LocalForward 8080",
        "LocalForward 8080 host",
        "LocalForward x host:1",
        "DynamicForward 0",
        "RemoteForward 1:2:3:4:5",
        "RemoteForward 127.0.0.1 8080",
        "RemoteForward 8080 host",
        "AddressFamily inet7",
        "RequestTTY sometimes",
        "LogLevel LOUD",
        "RekeyLimit 1Q",
        "RekeyLimit 8",
        "IdentityFile \"unterminated",
        "Port 22 23",
        "SetEnv NOEQUALS",
        "SendEnv A=B",
        "Match",
        "Match nosuch x",
        "Match host",
        "Match all host x",
        "Match exec",
        "ProxyJump a@@:x",
        "Ciphers +",
        "Hostname %z",
        "User",
        "User \"\"",
    ];
    for line in bad {
        let text = format!("# comment\n\nHost *\n  {line}\n");
        let file = dir.path().join("bad.conf");
        fs::write(&file, &text).unwrap();
        let mut cmd = Command::new(ssh());
        cmd.arg("-G").arg("-F").arg(&file).arg("x");
        let out = openssh::run(cmd, Duration::from_secs(30)).unwrap();
        assert!(
            !out.status.success(),
            "ssh accepts {line:?}: the test case is wrong"
        );
        let mut ctx = MatchContext::new("x", "u");
        let err = parse_client(&text, "bad.conf", &MemoryFiles::new(), &mut ctx)
            .expect_err(&format!("whelk accepts {line:?}"));
        assert_eq!((err.file(), err.line()), ("bad.conf", 4), "{line:?}: {err}");
    }
}

// ----- sshd -T -----

fn sshd_t(file: &Path, spec: Option<&str>) -> EffectiveConfig {
    let mut cmd = Command::new(sshd());
    cmd.arg("-T").arg("-f").arg(file);
    if let Some(s) = spec {
        cmd.arg("-C").arg(s);
    }
    EffectiveConfig::parse(&run_ok(cmd))
}

fn conn(spec: &str) -> ServerMatchContext {
    ServerMatchContext::from_spec(spec).unwrap()
}

fn server_view(s: &ServerConfig, algs: &Algorithms) -> Vec<(&'static str, Vec<String>)> {
    let one = |v: String| vec![v];
    let or_none = |v: &Option<String>| one(v.clone().unwrap_or_else(|| "none".into()));
    let atf = match s.allow_tcp_forwarding {
        None | Some(AllowTcpForwarding::Yes) => "yes",
        Some(AllowTcpForwarding::No) => "no",
        Some(AllowTcpForwarding::Local) => "local",
        Some(AllowTcpForwarding::Remote) => "remote",
    };
    let prl = match s.permit_root_login {
        None | Some(PermitRootLogin::ProhibitPassword) => "without-password",
        Some(PermitRootLogin::Yes) => "yes",
        Some(PermitRootLogin::No) => "no",
        Some(PermitRootLogin::ForcedCommandsOnly) => "forced-commands-only",
    };
    let am = match &s.authentication_methods {
        None | Some(AuthenticationMethods::Any) => "any".to_owned(),
        Some(AuthenticationMethods::Lists(l)) => {
            l.iter().map(|m| m.join(",")).collect::<Vec<_>>().join(" ")
        }
    };
    let ll = match s.log_level.unwrap_or(LogLevel::Info) {
        LogLevel::Quiet => "QUIET",
        LogLevel::Fatal => "FATAL",
        LogLevel::Error => "ERROR",
        LogLevel::Info => "INFO",
        LogLevel::Verbose => "VERBOSE",
        LogLevel::Debug1 => "DEBUG1",
        LogLevel::Debug2 => "DEBUG2",
        LogLevel::Debug3 => "DEBUG3",
    };
    let mut v = vec![
        (
            "port",
            s.effective_ports()
                .iter()
                .map(ToString::to_string)
                .collect(),
        ),
        (
            "listenaddress",
            s.listen_pairs()
                .into_iter()
                .map(|(h, p)| {
                    if h.contains(':') {
                        format!("[{h}]:{p}")
                    } else {
                        format!("{h}:{p}")
                    }
                })
                .collect(),
        ),
        (
            "logingracetime",
            one(s.login_grace_time.map_or(120, |d| d.as_secs()).to_string()),
        ),
        (
            "maxauthtries",
            one(s.max_auth_tries.unwrap_or(6).to_string()),
        ),
        ("maxsessions", one(s.max_sessions.unwrap_or(10).to_string())),
        ("clientaliveinterval", one(secs(s.client_alive_interval))),
        (
            "clientalivecountmax",
            one(s.client_alive_count_max.unwrap_or(3).to_string()),
        ),
        (
            "passwordauthentication",
            one(yn(s.password_authentication, true)),
        ),
        (
            "pubkeyauthentication",
            one(yn(s.pubkey_authentication, true)),
        ),
        (
            "kbdinteractiveauthentication",
            one(yn(s.kbd_interactive_authentication, true)),
        ),
        ("permittty", one(yn(s.permit_tty, true))),
        (
            "allowagentforwarding",
            one(yn(s.allow_agent_forwarding, true)),
        ),
        ("x11forwarding", one(yn(s.x11_forwarding, false))),
        (
            "permitemptypasswords",
            one(yn(s.permit_empty_passwords, false)),
        ),
        ("allowtcpforwarding", one(atf.into())),
        ("permitrootlogin", one(prl.into())),
        ("authenticationmethods", one(am)),
        ("loglevel", one(ll.into())),
        ("banner", or_none(&s.banner)),
        ("trustedusercakeys", or_none(&s.trusted_user_ca_keys)),
        ("chrootdirectory", or_none(&s.chroot_directory)),
        ("forcecommand", or_none(&s.force_command)),
        (
            "authorizedkeysfile",
            one(s
                .authorized_keys_files
                .as_ref()
                .map_or(".ssh/authorized_keys .ssh/authorized_keys2".into(), |v| {
                    v.join(" ")
                })),
        ),
        (
            "maxstartups",
            one(s.max_startups.map_or("10:30:100".into(), |m| m.to_string())),
        ),
        (
            "permitopen",
            one(s.permit_open.as_ref().map_or("any".into(), |v| v.join(" "))),
        ),
        (
            "subsystem",
            s.subsystems
                .iter()
                .map(|x| format!("{} {}", x.name, x.command))
                .collect(),
        ),
        ("hostkey", s.host_keys.clone()),
        ("hostcertificate", s.host_certificates.clone()),
        ("acceptenv", s.accept_env.clone()),
        ("allowusers", s.allow_users.clone()),
        ("denyusers", s.deny_users.clone()),
        (
            "rekeylimit",
            one(format!(
                "{} {}",
                s.rekey_limit.unwrap_or(0),
                secs(s.rekey_interval)
            )),
        ),
    ];
    for (k, l) in [
        ("ciphers", s.ciphers.as_ref()),
        ("macs", s.macs.as_ref()),
        ("kexalgorithms", s.kex_algorithms.as_ref()),
        ("hostkeyalgorithms", s.host_key_algorithms.as_ref()),
        (
            "pubkeyacceptedalgorithms",
            s.pubkey_accepted_algorithms.as_ref(),
        ),
        ("casignaturealgorithms", s.ca_signature_algorithms.as_ref()),
    ] {
        v.push((k, one(algs.resolve(k, l))));
    }
    v
}

fn compare_server(file: &Path, text: &str, spec: Option<&str>, algs: &Algorithms) -> usize {
    let c = spec.map(conn);
    let ours = parse_server(
        text,
        &file.display().to_string(),
        &StdFiles::system(),
        c.as_ref(),
    )
    .unwrap_or_else(|e| panic!("whelk rejects {}: {e}", file.display()));
    let theirs = sshd_t(file, spec);
    let mut diffs = Vec::new();
    let mut n = 0;
    for (key, value) in server_view(&ours, algs) {
        let got: Vec<String> = theirs.get_all(key).into_iter().map(str::to_owned).collect();
        let (value, got) = (normalise(key, value), normalise(key, got));
        n += 1;
        if value != got {
            diffs.push(format!("  {key}: whelk {value:?}, sshd {got:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} with -C {spec:?} differs from `sshd -T`:\n{}",
        file.display(),
        diffs.join("\n")
    );
    n
}

#[test]
fn server_files_match_sshd_t() {
    openssh::ensure_privsep_dir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("host_ed25519");
    openssh::keygen(openssh::HostKeyType::Ed25519, &key).unwrap_or_else(|e| panic!("{e}"));
    let header = format!("HostKey {}\n", key.display());
    let minimal = dir.path().join("minimal.conf");
    fs::write(&minimal, &header).unwrap();
    let algs = Algorithms::new(&sshd_t(&minimal, None));
    let server_dir = testdata().join("server").canonicalize().unwrap();
    let mut n = 0;
    let mut runs = 0;
    for file in conf_files("server") {
        let raw = fs::read_to_string(&file).unwrap();
        let text = format!(
            "{header}{}",
            raw.replace("@DIR@", &server_dir.display().to_string())
        );
        let path = dir.path().join(file.file_name().unwrap());
        fs::write(&path, &text).unwrap();
        let specs: Vec<String> = raw
            .lines()
            .filter_map(|l| l.strip_prefix("# case:"))
            .map(|s| s.trim().to_owned())
            .collect();
        assert!(!specs.is_empty(), "{} has no # case: lines", file.display());
        if raw.lines().any(|l| l == "# plain") {
            n += compare_server(&path, &text, None, &algs);
            runs += 1;
        }
        for spec in &specs {
            n += compare_server(&path, &text, Some(spec), &algs);
            runs += 1;
        }
    }
    eprintln!("sshd -T: {runs} runs, {n} values compared");
}

/// Server lines both sshd and whelk reject.
#[test]
fn server_bad_values_rejected_like_sshd() {
    openssh::ensure_privsep_dir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("host_ed25519");
    openssh::keygen(openssh::HostKeyType::Ed25519, &key).unwrap_or_else(|e| panic!("{e}"));
    let bad = [
        "Port 0",
        "PasswordAuthentication true",
        "MaxAuthTries many",
        "LoginGraceTime 1y",
        "MaxStartups 10:30",
        "MaxStartups 30:10:20",
        "AllowTcpForwarding sometimes",
        "AuthenticationMethods publickey,magic",
        "ListenAddress 127.0.0.1:99999",
        "ListenAddress 127.0.0.1 vrf x",
        "PermitOpen localhost",
        "Match User",
        "Match Colour blue",
        "Match all User x",
        "Match LocalPort x",
        "Match Address 10.0.0.1/8",
        "Match User x\n  Port 2222",
        "Match User x\n  Subsystem sftp internal-sftp",
        "Match User x\n  HostKey /etc/ssh/other",
        "Subsystem sftp",
        "Subsystem sftp a\nSubsystem sftp b",
        "RekeyLimit 1G sometimes",
        "Banner",
    ];
    for line in bad {
        let text = format!("HostKey {}\n# x\n{line}\n", key.display());
        let file = dir.path().join("bad.conf");
        fs::write(&file, &text).unwrap();
        let mut cmd = Command::new(sshd());
        cmd.arg("-T").arg("-f").arg(&file);
        let out = openssh::run(cmd, Duration::from_secs(30)).unwrap();
        assert!(
            !out.status.success(),
            "sshd accepts {line:?}: the test case is wrong"
        );
        let err = parse_server(&text, "bad.conf", &MemoryFiles::new(), None)
            .expect_err(&format!("whelk accepts {line:?}"));
        let want = 3 + line.matches('\n').count();
        assert_eq!(
            (err.file(), err.line()),
            ("bad.conf", want),
            "{line:?}: {err}"
        );
    }
}

/// Lines both ssh and whelk accept.
#[test]
fn client_edge_values_accepted_like_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let good = [
        "Port 65535",
        "ConnectTimeout 0",
        "ServerAliveInterval 1w",
        "RekeyLimit 0",
        "RekeyLimit 16",
        "RekeyLimit 1G none",
        "ServerAliveCountMax 0",
        "LocalForward 1 [::1]:2",
        "LocalForward [::1]:1 /tmp/x.sock",
        "RemoteForward 0 localhost:22",
        "RemoteForward 1080 \"\"",
        "DynamicForward [::1]:1080",
        "DynamicForward *:1080",
        "ProxyJump ssh://u@h:22",
        "ProxyJump u@[::1]:22,h2",
        "IdentityFile none",
        "SetEnv A=",
        "SendEnv *",
        "Match exec \"true\"",
        "Match !canonical",
        "Match final",
        "Match originalhost x,!y",
        "Match host x all",
        "ForwardAgent $SSH_AUTH_SOCK",
        "IdentityAgent none",
        "IdentityAgent SSH_AUTH_SOCK",
        "PubkeyAuthentication host-bound",
        "CanonicalDomains example.com example.org",
        "StrictHostKeyChecking off",
        "RequestTTY force",
        "Ciphers aes128-ctr,",
        "KexAlgorithms -ecdh-*",
        "HostKeyAlgorithms ^ssh-ed25519",
        "LogLevel debug",
        "Compression no",
        "UnknownButIgnoredByWhelk x",
        "\"Port 22",
        "PreferredAuthentications publickey",
    ];
    let mut rejected_by_ssh = Vec::new();
    for line in good {
        let text = format!("Host *\n  {line}\n");
        let file = dir.path().join("good.conf");
        fs::write(&file, &text).unwrap();
        let mut cmd = Command::new(ssh());
        cmd.arg("-G").arg("-F").arg(&file).arg("x");
        let out = openssh::run(cmd, Duration::from_secs(30)).unwrap();
        if !out.status.success() {
            rejected_by_ssh.push(line);
            continue;
        }
        let mut ctx = MatchContext::new("x", "u");
        if let Err(e) = parse_client(&text, "good.conf", &MemoryFiles::new(), &mut ctx) {
            panic!("ssh accepts {line:?}, whelk rejects it: {e}");
        }
    }
    assert!(
        rejected_by_ssh.is_empty() || rejected_by_ssh == ["UnknownButIgnoredByWhelk x"],
        "ssh rejects {rejected_by_ssh:?}: the test case is wrong"
    );
}

/// Server lines both sshd and whelk accept.
#[test]
fn server_edge_values_accepted_like_sshd() {
    openssh::ensure_privsep_dir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("host_ed25519");
    openssh::keygen(openssh::HostKeyType::Ed25519, &key).unwrap_or_else(|e| panic!("{e}"));
    let good = [
        "MaxStartups 10",
        "MaxStartups 1:100:1",
        "RekeyLimit default none",
        "RekeyLimit 16 0",
        "AuthenticationMethods any",
        "AuthenticationMethods publickey,publickey password",
        "PermitOpen any",
        "PermitOpen none",
        "PermitOpen *:*",
        "PermitOpen [::1]:22 h:*",
        "ListenAddress [::]:2222",
        "ListenAddress ::",
        "ListenAddress localhost",
        "AuthorizedKeysFile none",
        "Banner none",
        "LoginGraceTime 0",
        "ClientAliveInterval 1w2d",
        "Subsystem sftp internal-sftp -u 022",
        "AcceptEnv *",
        "PasswordAuthentication YES",
        "Match Address 10.0.0.0/8,!10.1.0.0/16",
        "Match LocalPort 22",
        "Match User a,b Host * Address * LocalAddress * LocalPort 22",
        "Match Group x,!y",
        "Match all # comment",
        "Match User x\n  PasswordAuthentication no\n  MaxAuthTries 1",
        "Match User x\n  Include /nonexistent/*.conf",
        "Port 1\nPort 1",
    ];
    let spec = "user=a,host=h,addr=10.0.0.1,laddr=127.0.0.1,lport=22";
    for line in good {
        let text = format!("HostKey {}\n{line}\n", key.display());
        let file = dir.path().join("good.conf");
        fs::write(&file, &text).unwrap();
        let mut cmd = Command::new(sshd());
        cmd.arg("-T").arg("-f").arg(&file).arg("-C").arg(spec);
        let out = openssh::run(cmd, Duration::from_secs(30)).unwrap();
        assert!(
            out.status.success(),
            "sshd rejects {line:?}: the test case is wrong\n{}",
            out.stderr_str()
        );
        if let Err(e) = parse_server(&text, "good.conf", &MemoryFiles::new(), Some(&conn(spec))) {
            panic!("sshd accepts {line:?}, whelk rejects it: {e}");
        }
    }
}
