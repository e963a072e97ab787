//! Client configuration: every option, every `Host`/`Match` form, `Include`, first value
//! wins, errors with file and line. No file system except the tempdir `Include` test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::time::Duration;

use whelk_config::client::{
    AddressFamily, CanonicalizeHostname, ForwardAgent, JumpHost, LogLevel, ProxyJump,
    PubkeyAuthentication, RequestTty, StrictHostKeyChecking,
};
use whelk_config::io::StdFiles;
use whelk_config::{
    AlgorithmList, ClientConfig, Error, ErrorKind, ForwardListen, ForwardTarget, MatchContext,
    MemoryFiles, NoFiles, parse_client, resolve_client,
};

fn ctx(host: &str) -> MatchContext<'static> {
    MatchContext::new(host, "alice")
}

fn parse(text: &str) -> ClientConfig {
    parse_client(text, "cfg", &NoFiles, &mut ctx("host")).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_for(text: &str, host: &str) -> ClientConfig {
    parse_client(text, "cfg", &NoFiles, &mut ctx(host)).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> Error {
    parse_client(text, "cfg", &NoFiles, &mut ctx("host")).expect_err(text)
}

fn secs(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

// ----- options -----

#[test]
fn every_option_parses() {
    let c = parse(
        "AddressFamily inet6\n\
         BatchMode yes\n\
         BindAddress 192.0.2.1\n\
         BindInterface eth0\n\
         CanonicalDomains a.example b.example\n\
         CanonicalizeFallbackLocal no\n\
         CanonicalizeHostname always\n\
         CanonicalizeMaxDots 2\n\
         CanonicalizePermittedCNAMEs *.a.example:*.b.example\n\
         CASignatureAlgorithms -ssh-rsa\n\
         CertificateFile ~/.ssh/id-cert.pub\n\
         CheckHostIP yes\n\
         Ciphers aes128-ctr,aes256-ctr\n\
         Compression yes\n\
         ConnectionAttempts 3\n\
         ConnectTimeout 1m\n\
         DynamicForward 1080\n\
         ExitOnForwardFailure yes\n\
         ForwardAgent /run/agent.sock\n\
         GlobalKnownHostsFile /etc/kh1 /etc/kh2\n\
         HashKnownHosts yes\n\
         HostbasedAcceptedAlgorithms +ssh-rsa\n\
         HostKeyAlgorithms ^ssh-ed25519\n\
         HostKeyAlias alias\n\
         Hostname real.example\n\
         IdentitiesOnly yes\n\
         IdentityAgent $SSH_AUTH_SOCK\n\
         IdentityFile ~/.ssh/id_ed25519\n\
         KbdInteractiveAuthentication no\n\
         KexAlgorithms curve25519-sha256\n\
         LocalForward 8080 localhost:80\n\
         LogLevel DEBUG3\n\
         MACs hmac-sha2-256\n\
         NumberOfPasswordPrompts 2\n\
         PasswordAuthentication no\n\
         Port 2222\n\
         PreferredAuthentications publickey,keyboard-interactive\n\
         ProxyCommand ssh -W %h:%p gw # not a comment\n\
         PubkeyAcceptedAlgorithms +ssh-rsa\n\
         PubkeyAuthentication host-bound\n\
         RekeyLimit 2m512k 1w2d3h\n\
         RemoteCommand tmux new -A -s main\n\
         RemoteForward 9090 localhost:90\n\
         RequestTTY force\n\
         SendEnv LANG LC_*\n\
         ServerAliveCountMax 4\n\
         ServerAliveInterval 15\n\
         SetEnv A=1 B=\"two words\"\n\
         StrictHostKeyChecking accept-new\n\
         TCPKeepAlive no\n\
         User bob\n\
         UserKnownHostsFile ~/.ssh/kh /dev/null\n",
    );
    assert_eq!(c.address_family, Some(AddressFamily::Inet6));
    assert_eq!(c.batch_mode, Some(true));
    assert_eq!(c.bind_address, s("192.0.2.1"));
    assert_eq!(c.bind_interface, s("eth0"));
    assert_eq!(
        c.canonical_domains,
        Some(strings(&["a.example", "b.example"]))
    );
    assert_eq!(c.canonicalize_fallback_local, Some(false));
    assert_eq!(c.canonicalize_hostname, Some(CanonicalizeHostname::Always));
    assert_eq!(c.canonicalize_max_dots, Some(2));
    assert_eq!(
        c.canonicalize_permitted_cnames,
        Some(strings(&["*.a.example:*.b.example"]))
    );
    assert_eq!(
        c.ca_signature_algorithms,
        Some(AlgorithmList::Remove(strings(&["ssh-rsa"])))
    );
    assert_eq!(c.certificate_files, strings(&["~/.ssh/id-cert.pub"]));
    assert_eq!(c.check_host_ip, Some(true));
    assert_eq!(
        c.ciphers,
        Some(AlgorithmList::Replace(strings(&[
            "aes128-ctr",
            "aes256-ctr"
        ])))
    );
    assert_eq!(c.compression, Some(true));
    assert_eq!(c.connection_attempts, Some(3));
    assert_eq!(c.connect_timeout, secs(60));
    assert_eq!(
        c.dynamic_forwards[0].listen,
        ForwardListen::Tcp {
            bind: None,
            port: 1080
        }
    );
    assert_eq!(c.exit_on_forward_failure, Some(true));
    assert_eq!(
        c.forward_agent,
        Some(ForwardAgent::Socket("/run/agent.sock".into()))
    );
    assert_eq!(
        c.global_known_hosts_files,
        Some(strings(&["/etc/kh1", "/etc/kh2"]))
    );
    assert_eq!(c.hash_known_hosts, Some(true));
    assert_eq!(
        c.hostbased_accepted_algorithms,
        Some(AlgorithmList::Append(strings(&["ssh-rsa"])))
    );
    assert_eq!(
        c.host_key_algorithms,
        Some(AlgorithmList::Prepend(strings(&["ssh-ed25519"])))
    );
    assert_eq!(c.host_key_alias, s("alias"));
    assert_eq!(c.hostname, s("real.example"));
    assert_eq!(c.identities_only, Some(true));
    assert_eq!(c.identity_agent, s("$SSH_AUTH_SOCK"));
    assert_eq!(c.identity_files, strings(&["~/.ssh/id_ed25519"]));
    assert_eq!(c.kbd_interactive_authentication, Some(false));
    assert_eq!(
        c.kex_algorithms,
        Some(AlgorithmList::Replace(strings(&["curve25519-sha256"])))
    );
    assert_eq!(
        c.local_forwards[0].target,
        Some(ForwardTarget::Tcp {
            host: "localhost".into(),
            port: 80
        })
    );
    assert_eq!(c.log_level, Some(LogLevel::Debug3));
    assert_eq!(
        c.macs,
        Some(AlgorithmList::Replace(strings(&["hmac-sha2-256"])))
    );
    assert_eq!(c.number_of_password_prompts, Some(2));
    assert_eq!(c.password_authentication, Some(false));
    assert_eq!(c.port, Some(2222));
    assert_eq!(
        c.preferred_authentications,
        Some(strings(&["publickey", "keyboard-interactive"]))
    );
    assert_eq!(c.proxy_command, s("ssh -W %h:%p gw # not a comment"));
    assert_eq!(
        c.pubkey_accepted_algorithms,
        Some(AlgorithmList::Append(strings(&["ssh-rsa"])))
    );
    assert_eq!(
        c.pubkey_authentication,
        Some(PubkeyAuthentication::HostBound)
    );
    assert_eq!(c.rekey_limit, Some(2 * 1_048_576 + 512 * 1024));
    assert_eq!(c.rekey_interval, secs(604_800 + 2 * 86_400 + 3 * 3600));
    assert_eq!(c.remote_command, s("tmux new -A -s main"));
    assert_eq!(c.remote_forwards.len(), 1);
    assert_eq!(c.request_tty, Some(RequestTty::Force));
    assert_eq!(c.send_env, strings(&["LANG", "LC_*"]));
    assert_eq!(c.server_alive_count_max, Some(4));
    assert_eq!(c.server_alive_interval, secs(15));
    assert_eq!(
        c.set_env,
        Some(vec![
            ("A".into(), "1".into()),
            ("B".into(), "two words".into())
        ])
    );
    assert_eq!(
        c.strict_host_key_checking,
        Some(StrictHostKeyChecking::AcceptNew)
    );
    assert_eq!(c.tcp_keep_alive, Some(false));
    assert_eq!(c.user, s("bob"));
    assert_eq!(
        c.user_known_hosts_files,
        Some(strings(&["~/.ssh/kh", "/dev/null"]))
    );
}

#[test]
fn enumerated_values_and_aliases() {
    let flag = |v: &str| parse(&format!("BatchMode {v}")).batch_mode;
    assert_eq!(flag("yes"), Some(true));
    assert_eq!(flag("TRUE"), Some(true));
    assert_eq!(flag("No"), Some(false));
    assert_eq!(flag("false"), Some(false));
    let shkc = |v: &str| parse(&format!("StrictHostKeyChecking {v}")).strict_host_key_checking;
    assert_eq!(shkc("yes"), Some(StrictHostKeyChecking::Yes));
    assert_eq!(shkc("true"), Some(StrictHostKeyChecking::Yes));
    assert_eq!(shkc("no"), Some(StrictHostKeyChecking::No));
    assert_eq!(shkc("off"), Some(StrictHostKeyChecking::No));
    assert_eq!(shkc("ask"), Some(StrictHostKeyChecking::Ask));
    let tty = |v: &str| parse(&format!("RequestTTY {v}")).request_tty;
    assert_eq!(tty("auto"), Some(RequestTty::Auto));
    assert_eq!(tty("no"), Some(RequestTty::No));
    assert_eq!(tty("yes"), Some(RequestTty::Yes));
    let ll = |v: &str| parse(&format!("LogLevel {v}")).log_level;
    assert_eq!(ll("quiet"), Some(LogLevel::Quiet));
    assert_eq!(ll("DEBUG"), Some(LogLevel::Debug1));
    assert_eq!(ll("verbose"), Some(LogLevel::Verbose));
    assert_eq!(
        parse("AddressFamily any").address_family,
        Some(AddressFamily::Any)
    );
    assert_eq!(
        parse("AddressFamily inet").address_family,
        Some(AddressFamily::Inet)
    );
    assert_eq!(
        parse("ForwardAgent yes").forward_agent,
        Some(ForwardAgent::Yes)
    );
    assert_eq!(
        parse("ForwardAgent no").forward_agent,
        Some(ForwardAgent::No)
    );
    assert_eq!(
        parse("PubkeyAuthentication unbound").pubkey_authentication,
        Some(PubkeyAuthentication::Unbound)
    );
    assert_eq!(
        parse("PubkeyAuthentication no").pubkey_authentication,
        Some(PubkeyAuthentication::No)
    );
    assert_eq!(
        parse("ChallengeResponseAuthentication no").kbd_interactive_authentication,
        Some(false)
    );
    assert_eq!(
        parse("PubkeyAcceptedKeyTypes ssh-ed25519").pubkey_accepted_algorithms,
        Some(AlgorithmList::Replace(strings(&["ssh-ed25519"])))
    );
    assert_eq!(
        parse("HostbasedKeyTypes ssh-ed25519").hostbased_accepted_algorithms,
        Some(AlgorithmList::Replace(strings(&["ssh-ed25519"])))
    );
    assert_eq!(parse("RekeyLimit default none").rekey_limit, Some(0));
    assert_eq!(parse("RekeyLimit default none").rekey_interval, None);
    assert_eq!(parse("RekeyLimit 1G").rekey_interval, None);
    assert_eq!(parse("ConnectTimeout 0").connect_timeout, secs(0));
    assert_eq!(
        parse("ServerAliveInterval 1w2d3h").server_alive_interval,
        secs(788_400)
    );
    assert_eq!(
        parse("ServerAliveInterval 90").server_alive_interval,
        secs(90)
    );
}

#[test]
fn proxy_jump_forms_and_exclusivity() {
    let j = parse("ProxyJump alice@hop1:2200,ssh://bob@[2001:db8::1]:22,hop3");
    assert_eq!(
        j.proxy_jump,
        Some(ProxyJump::Hosts(vec![
            JumpHost {
                user: s("alice"),
                host: "hop1".into(),
                port: Some(2200)
            },
            JumpHost {
                user: s("bob"),
                host: "2001:db8::1".into(),
                port: Some(22)
            },
            JumpHost {
                user: None,
                host: "hop3".into(),
                port: None
            },
        ]))
    );
    assert_eq!(
        j.proxy_jump.unwrap().to_string(),
        "alice@hop1:2200,bob@[2001:db8::1]:22,hop3"
    );
    assert_eq!(parse("ProxyJump none").proxy_jump, Some(ProxyJump::None));
    // Whichever comes first wins; the other is ignored.
    let a = parse("ProxyJump hop\nProxyCommand nc %h %p");
    assert!(a.proxy_jump.is_some() && a.proxy_command.is_none());
    let b = parse("ProxyCommand nc %h %p\nProxyJump hop");
    assert!(b.proxy_jump.is_none() && b.proxy_command.is_some());
    for bad in [
        "ProxyJump a@",
        "ProxyJump h:0",
        "ProxyJump h:x",
        "ProxyJump ssh://h/path",
    ] {
        assert!(matches!(err(bad).kind, ErrorKind::BadValue { .. }), "{bad}");
    }
}

#[test]
fn accumulating_options() {
    let c = parse(
        "IdentityFile a\nIdentityFile b\nIdentityFile a\n\
         CertificateFile c\nCertificateFile c\n\
         LocalForward 1 h:1\nLocalForward 1 h:1\nLocalForward 2 h:2\n\
         SendEnv A B C_*\nSendEnv -C_*\nSendEnv -A D\n\
         SetEnv X=1\nSetEnv Y=2\n",
    );
    assert_eq!(c.identity_files, strings(&["a", "b"]));
    assert_eq!(c.certificate_files, strings(&["c"]));
    assert_eq!(c.local_forwards.len(), 2);
    assert_eq!(c.send_env, strings(&["B", "D"]));
    assert_eq!(c.set_env, Some(vec![("X".into(), "1".into())]));
    let many: String = (0..101).map(|i| format!("IdentityFile id{i}\n")).collect();
    let e = err(&many);
    assert_eq!(e.line(), 101);
}

#[test]
fn first_value_wins_for_every_single_valued_option() {
    for (first, second) in [
        ("Port 1", "Port 2"),
        ("User a", "User b"),
        ("Hostname a", "Hostname b"),
        ("ConnectTimeout 1", "ConnectTimeout 2"),
        ("Ciphers aes128-ctr", "Ciphers aes256-ctr"),
        ("StrictHostKeyChecking yes", "StrictHostKeyChecking no"),
        ("ServerAliveInterval 1", "ServerAliveInterval 2"),
        ("UserKnownHostsFile /a", "UserKnownHostsFile /b"),
        ("RemoteCommand a", "RemoteCommand b"),
        ("IdentityAgent /a", "IdentityAgent /b"),
        ("RekeyLimit 1G 1h", "RekeyLimit 2G 2h"),
    ] {
        let once = parse(first);
        let both = parse(&format!("{first}\n{second}"));
        assert_eq!(once, both, "{first} then {second}");
        assert_ne!(parse(second), both, "{second} must differ");
    }
}

#[test]
fn unknown_options_are_ignored() {
    let c = parse("ControlMaster auto\nForwardX11 yes\nNoSuchOption whatever\nPort 7\n");
    assert_eq!(c.port, Some(7));
}

#[test]
fn line_syntax() {
    let c = parse(
        "  # comment\n\nPORT=1\n\tUser\t=\t\"a b\"\nIdentityFile 'x y'\nIdentityFile x\\ z\n\
         IdentityFile \"q\\\"uote\"\nHostKeyAlias alias # trailing comment\r\n",
    );
    assert_eq!(c.port, Some(1));
    assert_eq!(c.user, s("a b"));
    assert_eq!(c.identity_files, strings(&["x y", "x z", "q\"uote"]));
    assert_eq!(c.host_key_alias, s("alias"));
}

// ----- Host -----

#[test]
fn host_patterns() {
    let text = "Host web? !web9 *.example.com\n  Port 1\nHost db,cache\n  Port 2\n\
                Host Upper\n  Port 3\nHost !skip *\n  Port 4\n";
    let port = |h: &str| parse_for(text, h).port;
    assert_eq!(port("web1"), Some(1));
    assert_eq!(port("web9"), Some(4), "negated pattern cancels the block");
    assert_eq!(port("web10"), Some(4), "? is exactly one character");
    assert_eq!(port("a.example.com"), Some(1));
    assert_eq!(port("db"), Some(4), "a comma is literal in Host");
    assert_eq!(port("db,cache"), Some(2));
    assert_eq!(port("upper"), Some(4), "Host is case-sensitive");
    assert_eq!(port("Upper"), Some(3));
    assert_eq!(port("skip"), None);
    let e = err("Host \"\"\n");
    assert!(matches!(e.kind, ErrorKind::EmptyArgument { .. }));
}

#[test]
fn host_sees_the_command_line_host_not_hostname() {
    let c = parse_for("Host a\n  Hostname b\nHost b\n  Port 2\n", "a");
    assert_eq!(c.port, None);
    assert_eq!(c.effective_hostname("a").unwrap(), "b");
}

#[test]
fn hostname_expansion() {
    let c = parse_for("Hostname %h.Example.COM\n", "Web");
    assert_eq!(c.effective_hostname("Web").unwrap(), "web.example.com");
    assert_eq!(
        parse("Hostname 100%%").effective_hostname("x").unwrap(),
        "100%"
    );
    assert!(matches!(
        err("Hostname %u").kind,
        ErrorKind::BadValue { .. }
    ));
}

// ----- Match -----

fn with_ctx(text: &str, ctx: &mut MatchContext<'_>) -> ClientConfig {
    parse_client(text, "cfg", &NoFiles, ctx).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn match_all_and_negation() {
    assert_eq!(parse("Match all\nPort 1").port, Some(1));
    assert_eq!(parse("Match !all\nPort 1").port, None);
    assert_eq!(parse("Match canonical all\nPort 1").port, None);
    assert_eq!(parse("Match all # comment\nPort 1").port, Some(1));
    // OpenSSH 9.2 quirk (checked with ssh -G): `all` may follow one other criterion.
    assert_eq!(parse_for("Match host h all\nPort 1", "h").port, Some(1));
    assert_eq!(parse_for("Match host x all\nPort 1", "h").port, None);
    for bad in [
        "Match all host x",
        "Match host x user y all",
        "Match canonical final all",
    ] {
        assert!(matches!(err(bad).kind, ErrorKind::BadMatch(_)), "{bad}");
    }
}

#[test]
fn match_host_sees_hostname_so_far() {
    let text = "Match host h.example\n  Port 1\nMatch all\n  Hostname h.example\n\
                Match host h.example\n  User u\n";
    let c = parse_for(text, "h");
    assert_eq!(c.port, None);
    assert_eq!(c.user, s("u"));
    // Case-insensitive, comma lists, negation inside the list.
    let c = parse_for(
        "Match host *.EXAMPLE,!bad.example\n  Port 2\n",
        "Good.example",
    );
    assert_eq!(c.port, Some(2));
    let c = parse_for(
        "Match host *.EXAMPLE,!bad.example\n  Port 2\n",
        "bad.example",
    );
    assert_eq!(c.port, None);
    let c = parse_for("Match !host bad.example\n  Port 3\n", "good.example");
    assert_eq!(c.port, Some(3));
}

#[test]
fn match_originalhost() {
    let mut c = ctx("canonical.example");
    c.original_host = "Short".into();
    assert_eq!(
        with_ctx("Match originalhost short\n  Port 1\n", &mut c).port,
        Some(1)
    );
    assert_eq!(
        with_ctx("Match originalhost canonical.example\n  Port 1\n", &mut c).port,
        None
    );
}

#[test]
fn match_user_sees_user_so_far_and_the_command_line() {
    let text = "Match user alice\n  Port 1\nUser bob\nMatch user bob\n  Compression yes\n";
    let c = parse(text);
    assert_eq!(c.port, Some(1), "the local user is the default remote user");
    assert_eq!(c.compression, Some(true));
    let mut cl = ctx("h");
    cl.user = Some("carol".into());
    let c = with_ctx("Match user carol\n  Port 5\nUser bob\n", &mut cl);
    assert_eq!(c.port, Some(5));
    assert_eq!(c.user, s("carol"), "the command line wins");
    // Case-sensitive.
    assert_eq!(parse("Match user ALICE\n  Port 1\n").port, None);
}

#[test]
fn match_localuser() {
    assert_eq!(parse("Match localuser al*\n  Port 1\n").port, Some(1));
    assert_eq!(parse("Match localuser bob,carol\n  Port 1\n").port, None);
    assert_eq!(parse("Match !localuser root\n  Port 1\n").port, Some(1));
}

#[test]
fn match_canonical_and_final() {
    let text =
        "Match canonical\n  Port 1\nMatch final\n  User f\nMatch !final\n  Compression yes\n";
    let c = parse(text);
    assert_eq!(
        (c.port, c.user.as_deref(), c.compression),
        (None, None, Some(true))
    );
    assert!(c.final_pass_requested);
    let mut fc = ctx("host");
    fc.final_pass = true;
    let c = with_ctx(text, &mut fc);
    assert_eq!(
        (c.port, c.user.as_deref(), c.compression),
        (Some(1), Some("f"), None)
    );
    let mut cc = ctx("host");
    cc.canonical = true;
    assert_eq!(with_ctx(text, &mut cc).port, Some(1));
    assert!(!parse("Match canonical\n").final_pass_requested);
}

#[test]
fn resolve_runs_the_final_pass_like_ssh() {
    let text = "Match final\n  Port 2801\n  LocalForward 1001 a:1\n\
                Host fin\n  User first\n  LocalForward 1002 b:2\n\
                Match final originalhost fin\n  User second\n  ServerAliveInterval 81\n";
    let c = resolve_client(text, "cfg", &NoFiles, &mut ctx("fin")).unwrap();
    assert_eq!(c.port, Some(2801));
    assert_eq!(c.user, s("first"));
    assert_eq!(c.server_alive_interval, secs(81));
    let f: Vec<String> = c.local_forwards.iter().map(ToString::to_string).collect();
    assert_eq!(f, ["1002 [b]:2", "1001 [a]:1"]);
    // Without Match final, one pass.
    let c = resolve_client(
        "Match canonical\n  Port 1\n",
        "cfg",
        &NoFiles,
        &mut ctx("x"),
    )
    .unwrap();
    assert_eq!(c.port, None);
}

#[test]
fn match_exec_runs_the_callback_with_tokens() {
    let seen = RefCell::new(Vec::new());
    let mut c = MatchContext::new("web", "alice").with_exec(|cmd| {
        seen.borrow_mut().push(cmd.to_owned());
        cmd.contains("yes")
    });
    c.local_host = "laptop.local".into();
    c.home_dir = "/home/alice".into();
    c.uid = 501;
    let text = "Hostname %h.example\nPort 2022\nUser bob\n\
                Match exec \"yes %h %p %r %u %n %L %l %d %k %%\"\n  Compression yes\n\
                Match exec no\n  BatchMode yes\n\
                Match !exec no\n  TCPKeepAlive no\n\
                Match host nomatch exec \"yes but skipped\"\n  CheckHostIP yes\n\
                Match exec %C\n  HashKnownHosts yes\n";
    let cfg = with_ctx(text, &mut c);
    assert_eq!(cfg.compression, Some(true));
    assert_eq!(cfg.batch_mode, None);
    assert_eq!(cfg.tcp_keep_alive, Some(false));
    assert_eq!(cfg.check_host_ip, None);
    let hash = whelk_config::tokens::connection_hash("laptop.local", "web.example", 2022, "bob");
    assert_eq!(
        *seen.borrow(),
        [
            "yes web.example 2022 bob alice web laptop laptop.local /home/alice web %".to_owned(),
            "no".to_owned(),
            "no".to_owned(),
            hash,
        ]
    );
    // Without a runner, exec is false.
    assert_eq!(parse("Match exec true\n  Port 1\n").port, None);
    assert_eq!(parse("Match !exec true\n  Port 1\n").port, Some(1));
}

#[test]
fn match_errors() {
    for bad in [
        "Match",
        "Match host",
        "Match user # comment",
        "Match nosuch x",
        "Match exec",
        "Match \"\"",
        "Match exec %z",
    ] {
        let e = err(&format!("Port 1\n{bad}\n"));
        assert_eq!(e.line(), 2, "{bad}: {e}");
        assert_eq!(e.file(), "cfg");
    }
    let e = err("Match nosuch x\n");
    assert!(e.to_string().contains("cfg line 1"), "{e}");
}

#[test]
fn match_criteria_are_anded_and_case_insensitive() {
    assert_eq!(
        parse_for("Match HOST h USER alice\n  Port 1\n", "h").port,
        Some(1)
    );
    assert_eq!(
        parse_for("Match host h user bob\n  Port 1\n", "h").port,
        None
    );
}

// ----- tokens -----

#[test]
fn token_context_from_config() {
    let mut c = ctx("web");
    c.local_host = "box.lan".into();
    let cfg = with_ctx("Hostname %h.example\nUser bob\nPort 2200\n", &mut c);
    let t = cfg.token_context(&c).unwrap();
    assert_eq!(
        whelk_config::expand("%r@%h:%p from %u@%L (%n) in %d uid %i", &t).unwrap(),
        "bob@web.example:2200 from alice@box (web) in /home/alice uid 1000"
    );
}

// ----- Include -----

fn files() -> MemoryFiles {
    MemoryFiles::new()
        .include_dir("/home/alice/.ssh")
        .home_dir("/home/alice")
        .with("/home/alice/.ssh/conf.d/20-b.conf", "Port 20\nUser b\n")
        .with(
            "/home/alice/.ssh/conf.d/10-a.conf",
            "Host other\n  Port 10\nHost *\n  Compression yes\n",
        )
        .with("/home/alice/.ssh/conf.d/notes.txt", "Port 99\n")
        .with("/home/alice/extra.conf", "BatchMode yes\n")
        .with("/etc/ssh/bad.conf", "Port 1\n\nPort nope\n")
        .with("/loop.conf", "Include /loop.conf\n")
}

fn parse_files(text: &str, host: &str) -> Result<ClientConfig, Error> {
    parse_client(text, "main", &files(), &mut ctx(host))
}

#[test]
fn include_globs_in_order_relative_and_tilde() {
    let c = parse_files("Include conf.d/*.conf ~/extra.conf\nPort 1\n", "h").unwrap();
    // 10-a.conf first: its `Host other` does not apply, its `Host *` does.
    assert_eq!(c.port, Some(20));
    assert_eq!(c.user, s("b"));
    assert_eq!(c.compression, Some(true));
    assert_eq!(c.batch_mode, Some(true));
    let c = parse_files("Include conf.d/*.conf\n", "other").unwrap();
    assert_eq!(c.port, Some(10));
}

#[test]
fn include_restores_the_block_state() {
    // 10-a.conf ends inside `Host *`; after the Include we are back in `Host h`.
    let c = parse_files("Host h\n  Include conf.d/10-a.conf\n  User after\n", "h").unwrap();
    assert_eq!(c.user, s("after"));
    let c = parse_files(
        "Host nomatch\n  Include conf.d/10-a.conf\n  User after\n",
        "h",
    )
    .unwrap();
    assert_eq!(c.user, None);
}

#[test]
fn include_in_an_inactive_block_never_matches() {
    let c = parse_files(
        "Host nomatch\n  Include conf.d/*.conf\nHost *\n  Port 5\n",
        "h",
    )
    .unwrap();
    assert_eq!(c.port, Some(5));
    assert_eq!(
        c.compression, None,
        "Host * inside the include must not apply"
    );
}

#[test]
fn include_of_nothing_is_fine() {
    let c = parse_files("Include conf.d/*.nothing /nonexistent\nPort 3\n", "h").unwrap();
    assert_eq!(c.port, Some(3));
}

#[test]
fn errors_in_included_files_name_that_file_and_line() {
    let e = parse_files("Port 2\nInclude /etc/ssh/bad.conf\n", "h").unwrap_err();
    assert_eq!((e.file(), e.line()), ("/etc/ssh/bad.conf", 3));
    assert!(matches!(e.kind, ErrorKind::BadValue { .. }));
}

#[test]
fn include_recursion_is_bounded() {
    let e = parse_files("Include /loop.conf\n", "h").unwrap_err();
    assert_eq!((e.file(), e.line()), ("/loop.conf", 1));
    assert!(matches!(e.kind, ErrorKind::IncludeDepth { max: 16 }));
}

#[test]
fn include_read_errors() {
    struct Broken;
    impl whelk_config::FileSource for Broken {
        fn include_dir(&self) -> Option<&str> {
            None
        }
        fn home_dir(&self) -> Option<&str> {
            None
        }
        fn glob(&self, p: &str) -> Result<Vec<String>, String> {
            if p.contains("globfail") {
                Err("permission denied".into())
            } else {
                Ok(vec![p.to_owned()])
            }
        }
        fn read(&self, _: &str) -> Result<Option<String>, String> {
            Err("I/O error".into())
        }
    }
    let e = parse_client("\nInclude /x.conf\n", "main", &Broken, &mut ctx("h")).unwrap_err();
    assert_eq!((e.file(), e.line()), ("/x.conf", 0));
    match e.kind {
        ErrorKind::Read { included_from, .. } => {
            assert_eq!(included_from.unwrap().to_string(), "main line 2");
        }
        other => panic!("{other:?}"),
    }
    let e = parse_client("Include /globfail\n", "main", &Broken, &mut ctx("h")).unwrap_err();
    assert_eq!((e.file(), e.line()), ("main", 1));
    assert!(matches!(e.kind, ErrorKind::IncludeGlob { .. }));
}

#[test]
fn include_through_the_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("conf.d/sub")).unwrap();
    std::fs::write(dir.path().join("conf.d/b.conf"), "User fromb\n").unwrap();
    std::fs::write(dir.path().join("conf.d/a.conf"), "Port 11\n").unwrap();
    std::fs::write(dir.path().join("conf.d/.hidden.conf"), "Port 99\n").unwrap();
    std::fs::write(dir.path().join("conf.d/sub/c.conf"), "Compression yes\n").unwrap();
    std::fs::write(dir.path().join("home.conf"), "BatchMode yes\n").unwrap();
    let files = StdFiles::new(Some(root.clone()), Some(root.clone()));
    let text = "Include conf.d/*.conf conf.d/*/[a-c].conf ~/home.conf missing.conf\nPort 1\n";
    let c = parse_client(text, "main", &files, &mut ctx("h")).unwrap();
    assert_eq!(c.port, Some(11));
    assert_eq!(c.user, s("fromb"));
    assert_eq!(c.compression, Some(true));
    assert_eq!(c.batch_mode, Some(true));
    use whelk_config::FileSource as _;
    assert_eq!(
        files.glob(&format!("{root}/conf.d/*.conf")).unwrap(),
        [
            format!("{root}/conf.d/a.conf"),
            format!("{root}/conf.d/b.conf")
        ]
    );
    std::fs::write(dir.path().join("bad.conf"), "Port 1\nPort 0\n").unwrap();
    let e = parse_client("Include bad.conf\n", "main", &files, &mut ctx("h")).unwrap_err();
    assert_eq!(
        (e.file(), e.line()),
        (format!("{root}/bad.conf").as_str(), 2)
    );
    // Not UTF-8: an error naming the file.
    std::fs::write(dir.path().join("latin1.conf"), b"User caf\xe9\n").unwrap();
    let e = parse_client("Include latin1.conf\n", "main", &files, &mut ctx("h")).unwrap_err();
    assert_eq!(e.file(), format!("{root}/latin1.conf"));
}

// ----- errors -----

#[test]
fn bad_values_name_file_and_line() {
    for (text, line) in [
        ("Port 70000", 1),
        ("\n\nConnectTimeout soon", 3),
        ("Host *\n  Compression maybe", 2),
        ("User", 1),
        ("User a b", 1),
        ("User \"a", 1),
        ("LocalForward 1", 1),
        ("DynamicForward 1 2", 1),
        ("RemoteForward a:b:c:d:e", 1),
        ("Ciphers +", 1),
        ("RekeyLimit 15", 1),
        ("RekeyLimit 1G soon", 1),
        ("ServerAliveCountMax -1", 1),
        ("ServerAliveCountMax 3000000000", 1),
        ("SetEnv A", 1),
        ("SendEnv A=1", 1),
        ("IdentityAgent $1BAD", 1),
        ("CanonicalizePermittedCNAMEs nocolon", 1),
        ("PreferredAuthentications a,,b", 1),
        ("Include", 1),
    ] {
        let e = err(text);
        assert_eq!((e.file(), e.line()), ("cfg", line), "{text:?}: {e}");
        assert!(
            e.to_string().starts_with(&format!("cfg line {line}: ")),
            "{e}"
        );
    }
}

#[test]
fn include_fan_out_is_bounded() {
    // Each level includes the file twice: 2^16 reads without a budget.
    let files = MemoryFiles::new().with("/x.conf", "Include /x.conf /x.conf\nPort 1\n");
    let e = parse_client("Include /x.conf\n", "main", &files, &mut ctx("h")).unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::TooManyIncludes { .. } | ErrorKind::IncludeDepth { .. }
        ),
        "{e}"
    );
    // Wide but shallow: 1100 distinct files through one glob.
    let mut files = MemoryFiles::new();
    for i in 0..1100 {
        files.insert(format!("/d/{i:04}.conf"), "Compression yes\n");
    }
    let e = parse_client("Include /d/*.conf\n", "main", &files, &mut ctx("h")).unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::TooManyIncludes { max: 1024 }),
        "{e}"
    );
    assert_eq!((e.file(), e.line()), ("main", 1));
}

#[test]
fn x11_forwarding_options() {
    let c = parse(
        "ForwardX11 yes\nForwardX11Trusted yes\nForwardX11Timeout 5m\n\
         XAuthLocation /opt/X11/bin/xauth\nForwardX11 no\n",
    );
    assert_eq!(c.forward_x11, Some(true));
    assert_eq!(c.forward_x11_trusted, Some(true));
    assert_eq!(c.forward_x11_timeout, secs(300));
    assert_eq!(c.xauth_location.as_deref(), Some("/opt/X11/bin/xauth"));
    assert_eq!(parse("").forward_x11, None);
    err("ForwardX11 maybe");
}
