//! Server configuration: every option, every `Match` criterion, overlay semantics, options
//! not allowed in `Match`, `Include`, errors with file and line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use whelk_config::server::{
    AllowTcpForwarding, AuthenticationMethods, ListenAddress, MaxStartups, PermitRootLogin,
    Subsystem,
};
use whelk_config::{
    AlgorithmList, Error, ErrorKind, MemoryFiles, NoFiles, ServerConfig, ServerMatchContext,
    parse_server,
};

fn parse(text: &str) -> ServerConfig {
    parse_server(text, "sshd_config", &NoFiles, None).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_conn(text: &str, c: &ServerMatchContext) -> ServerConfig {
    parse_server(text, "sshd_config", &NoFiles, Some(c)).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> Error {
    parse_server(text, "sshd_config", &NoFiles, None).expect_err(text)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn conn() -> ServerMatchContext {
    ServerMatchContext {
        user: Some("alice".into()),
        groups: vec!["staff".into(), "wheel".into()],
        host: Some("client.example.com".into()),
        address: Some("10.1.2.3".into()),
        local_address: Some("192.0.2.1".into()),
        local_port: Some(22),
        rdomain: Some("rd0".into()),
    }
}

#[test]
fn every_option_parses() {
    let c = parse(
        "AcceptEnv LANG LC_*\nAcceptEnv TZ\n\
         AllowAgentForwarding no\n\
         AllowTcpForwarding remote\n\
         AllowUsers alice bob@10.0.0.*\n\
         AuthenticationMethods publickey,password keyboard-interactive:pam\n\
         AuthorizedKeysFile .ssh/authorized_keys %h/.ssh/more\n\
         Banner /etc/issue.net\n\
         CASignatureAlgorithms ssh-ed25519\n\
         ChrootDirectory /srv/%u\n\
         Ciphers -3des-cbc\n\
         ClientAliveCountMax 2\n\
         ClientAliveInterval 5m\n\
         DenyUsers root\n\
         ForceCommand internal-sftp -d /upload\n\
         HostCertificate /etc/ssh/host-cert.pub\n\
         HostKey /etc/ssh/ssh_host_ed25519_key\n\
         HostKey /etc/ssh/ssh_host_rsa_key\n\
         HostKeyAlgorithms ^ssh-ed25519\n\
         KbdInteractiveAuthentication no\n\
         KexAlgorithms +diffie-hellman-group14-sha1\n\
         ListenAddress 0.0.0.0\n\
         ListenAddress [::1]:2222\n\
         ListenAddress 192.0.2.1:22 rdomain rd0\n\
         ListenAddress fe80::1\n\
         LoginGraceTime 30\n\
         LogLevel ERROR\n\
         MACs hmac-sha2-512\n\
         MaxAuthTries 4\n\
         MaxSessions 1\n\
         MaxStartups 3:50:9\n\
         PasswordAuthentication no\n\
         PermitEmptyPasswords no\n\
         PermitOpen host:22 [::1]:* *:80\n\
         PermitRootLogin prohibit-password\n\
         PermitTTY no\n\
         Port 22\nPort 2222\n\
         PubkeyAcceptedAlgorithms -ssh-rsa\n\
         PubkeyAuthentication yes\n\
         RekeyLimit 1G 1h\n\
         Subsystem sftp /usr/lib/openssh/sftp-server -f AUTHPRIV -l INFO\n\
         TrustedUserCAKeys /etc/ssh/ca.pub\n\
         X11Forwarding yes\n",
    );
    assert_eq!(c.accept_env, strings(&["LANG", "LC_*", "TZ"]));
    assert_eq!(c.allow_agent_forwarding, Some(false));
    assert_eq!(c.allow_tcp_forwarding, Some(AllowTcpForwarding::Remote));
    assert_eq!(c.allow_users, strings(&["alice", "bob@10.0.0.*"]));
    assert_eq!(
        c.authentication_methods,
        Some(AuthenticationMethods::Lists(vec![
            strings(&["publickey", "password"]),
            strings(&["keyboard-interactive:pam"]),
        ]))
    );
    assert_eq!(
        c.authorized_keys_files,
        Some(strings(&[".ssh/authorized_keys", "%h/.ssh/more"]))
    );
    assert_eq!(c.banner.as_deref(), Some("/etc/issue.net"));
    assert_eq!(
        c.ca_signature_algorithms,
        Some(AlgorithmList::Replace(strings(&["ssh-ed25519"])))
    );
    assert_eq!(c.chroot_directory.as_deref(), Some("/srv/%u"));
    assert_eq!(
        c.ciphers,
        Some(AlgorithmList::Remove(strings(&["3des-cbc"])))
    );
    assert_eq!(c.client_alive_count_max, Some(2));
    assert_eq!(c.client_alive_interval, Some(Duration::from_secs(300)));
    assert_eq!(c.deny_users, strings(&["root"]));
    assert_eq!(c.force_command.as_deref(), Some("internal-sftp -d /upload"));
    assert_eq!(c.host_certificates, strings(&["/etc/ssh/host-cert.pub"]));
    assert_eq!(
        c.host_keys,
        strings(&["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"])
    );
    assert_eq!(
        c.host_key_algorithms,
        Some(AlgorithmList::Prepend(strings(&["ssh-ed25519"])))
    );
    assert_eq!(c.kbd_interactive_authentication, Some(false));
    assert_eq!(
        c.kex_algorithms,
        Some(AlgorithmList::Append(strings(&[
            "diffie-hellman-group14-sha1"
        ])))
    );
    let la = |host: &str, port: Option<u16>, rdomain: Option<&str>| ListenAddress {
        host: host.into(),
        port,
        rdomain: rdomain.map(Into::into),
    };
    assert_eq!(
        c.listen_addresses,
        [
            la("0.0.0.0", None, None),
            la("::1", Some(2222), None),
            la("192.0.2.1", Some(22), Some("rd0")),
            la("fe80::1", None, None),
        ]
    );
    assert_eq!(c.login_grace_time, Some(Duration::from_secs(30)));
    assert_eq!(c.log_level, Some(whelk_config::client::LogLevel::Error));
    assert_eq!(
        c.macs,
        Some(AlgorithmList::Replace(strings(&["hmac-sha2-512"])))
    );
    assert_eq!(c.max_auth_tries, Some(4));
    assert_eq!(c.max_sessions, Some(1));
    assert_eq!(
        c.max_startups,
        Some(MaxStartups {
            start: 3,
            rate: 50,
            full: 9
        })
    );
    assert_eq!(c.password_authentication, Some(false));
    assert_eq!(c.permit_empty_passwords, Some(false));
    assert_eq!(
        c.permit_open,
        Some(strings(&["host:22", "[::1]:*", "*:80"]))
    );
    assert_eq!(c.permit_root_login, Some(PermitRootLogin::ProhibitPassword));
    assert_eq!(c.permit_tty, Some(false));
    assert_eq!(c.ports, [22, 2222]);
    assert_eq!(
        c.pubkey_accepted_algorithms,
        Some(AlgorithmList::Remove(strings(&["ssh-rsa"])))
    );
    assert_eq!(c.pubkey_authentication, Some(true));
    assert_eq!(c.rekey_limit, Some(1 << 30));
    assert_eq!(c.rekey_interval, Some(Duration::from_secs(3600)));
    assert_eq!(
        c.subsystems,
        [Subsystem {
            name: "sftp".into(),
            command: "/usr/lib/openssh/sftp-server -f AUTHPRIV -l INFO".into()
        }]
    );
    assert_eq!(c.trusted_user_ca_keys.as_deref(), Some("/etc/ssh/ca.pub"));
    assert_eq!(c.x11_forwarding, Some(true));
    assert_eq!(
        c.listen_pairs(),
        [
            ("0.0.0.0".to_owned(), 22),
            ("0.0.0.0".to_owned(), 2222),
            ("::1".to_owned(), 2222),
            ("192.0.2.1".to_owned(), 22),
            ("fe80::1".to_owned(), 22),
            ("fe80::1".to_owned(), 2222),
        ]
    );
}

#[test]
fn defaults_and_single_forms() {
    let c = parse("MaxStartups 7\nAuthenticationMethods any\nPermitOpen none\n");
    assert_eq!(
        c.max_startups,
        Some(MaxStartups {
            start: 7,
            rate: 30,
            full: 7
        })
    );
    assert_eq!(c.authentication_methods, Some(AuthenticationMethods::Any));
    assert_eq!(c.permit_open, Some(strings(&["none"])));
    assert_eq!(c.effective_ports(), [22]);
    assert_eq!(
        c.listen_pairs(),
        [("::".to_owned(), 22), ("0.0.0.0".to_owned(), 22)]
    );
    assert_eq!(
        parse("AllowTcpForwarding all").allow_tcp_forwarding,
        Some(AllowTcpForwarding::Yes)
    );
    assert_eq!(
        parse("PermitRootLogin without-password").permit_root_login,
        Some(PermitRootLogin::ProhibitPassword)
    );
    assert_eq!(
        parse("ChallengeResponseAuthentication no").kbd_interactive_authentication,
        Some(false)
    );
}

#[test]
fn first_value_wins_and_lists_accumulate() {
    let c = parse(
        "PasswordAuthentication no\nPasswordAuthentication yes\n\
         MaxAuthTries 2\nMaxAuthTries 9\n\
         AuthorizedKeysFile a b\nAuthorizedKeysFile c\n\
         Port 1\nPort 2\nHostKey k1\nHostKey k2\nAllowUsers a\nAllowUsers b\n",
    );
    assert_eq!(c.password_authentication, Some(false));
    assert_eq!(c.max_auth_tries, Some(2));
    assert_eq!(c.authorized_keys_files, Some(strings(&["a", "b"])));
    assert_eq!(c.ports, [1, 2]);
    assert_eq!(c.host_keys, strings(&["k1", "k2"]));
    assert_eq!(c.allow_users, strings(&["a", "b"]));
}

#[test]
fn server_flags_are_only_yes_and_no() {
    assert!(matches!(
        err("PasswordAuthentication true").kind,
        ErrorKind::BadValue { .. }
    ));
    assert_eq!(
        parse("PasswordAuthentication YES").password_authentication,
        Some(true)
    );
}

#[test]
fn unknown_options_are_ignored() {
    let c = parse("UsePAM yes\nPrintMotd no\nNoSuchThing 1 2 3\nPort 2200\n");
    assert_eq!(c.ports, [2200]);
    // Even inside a Match block.
    let c = parse_conn(
        "Match User alice\n  NoSuchThing x\n  MaxSessions 2\n",
        &conn(),
    );
    assert_eq!(c.max_sessions, Some(2));
}

// ----- Match -----

fn matched(criteria: &str, c: &ServerMatchContext) -> bool {
    let text = format!("MaxAuthTries 3\nMatch {criteria}\n  MaxAuthTries 7\n");
    parse_conn(&text, c).max_auth_tries == Some(7)
}

#[test]
fn match_user() {
    let c = conn();
    assert!(matched("User alice", &c));
    assert!(matched("User bob,ali*", &c));
    assert!(!matched("User *,!alice", &c));
    assert!(!matched("User Alice", &c));
    assert!(!matched("User bob", &c));
}

#[test]
fn match_group() {
    let c = conn();
    assert!(matched("Group wheel", &c));
    assert!(matched("Group adm,st*", &c));
    assert!(!matched("Group adm", &c));
    assert!(!matched("Group *,!wheel", &c));
}

#[test]
fn match_host() {
    let c = conn();
    assert!(matched("Host *.example.com", &c));
    assert!(matched("Host CLIENT.example.COM", &c));
    assert!(!matched("Host *.example.org", &c));
    assert!(!matched("Host *,!client.*", &c));
}

#[test]
fn match_address_and_local_address() {
    let c = conn();
    assert!(matched("Address 10.0.0.0/8", &c));
    assert!(matched("Address 192.168.0.0/16,10.1.2.3", &c));
    assert!(matched("Address 10.1.*", &c));
    assert!(!matched("Address 10.0.0.0/8,!10.1.0.0/16", &c));
    assert!(!matched("Address 2001:db8::/32", &c));
    assert!(matched("LocalAddress 192.0.2.0/24", &c));
    assert!(!matched("LocalAddress 127.0.0.1", &c));
    let mut v6 = conn();
    v6.address = Some("2001:db8::5".into());
    assert!(matched("Address 2001:db8::/32", &v6));
}

#[test]
fn match_local_port_and_rdomain() {
    let c = conn();
    assert!(matched("LocalPort 22", &c));
    assert!(!matched("LocalPort 2222", &c));
    assert!(matched("RDomain rd*", &c));
    assert!(!matched("RDomain other", &c));
}

#[test]
fn match_criteria_are_anded() {
    let c = conn();
    assert!(matched("User alice Address 10.0.0.0/8 LocalPort 22", &c));
    assert!(!matched("User alice Address 10.0.0.0/8 LocalPort 23", &c));
    assert!(
        matched("user alice host *.com", &c),
        "attribute names are case-insensitive"
    );
}

#[test]
fn missing_connection_fields_do_not_match() {
    let empty = ServerMatchContext::default();
    for crit in [
        "User *",
        "Group *",
        "Host *",
        "Address *",
        "LocalAddress *",
        "LocalPort 22",
        "RDomain *",
    ] {
        assert!(!matched(crit, &empty), "{crit}");
    }
    assert!(matched("All", &empty));
}

#[test]
fn match_blocks_override_global_values_first_match_wins() {
    let text = "MaxAuthTries 3\nPasswordAuthentication no\nBanner /global\n\
                Match User alice\n  MaxAuthTries 5\n  PasswordAuthentication yes\n\
                Match Address 10.0.0.0/8\n  MaxAuthTries 6\n  Banner none\n\
                Match User bob\n  MaxAuthTries 7\n";
    let c = parse_conn(text, &conn());
    assert_eq!(c.max_auth_tries, Some(5));
    assert_eq!(c.password_authentication, Some(true));
    assert_eq!(c.banner.as_deref(), Some("none"));
    // Without a connection, only the global values.
    let g = parse(text);
    assert_eq!(g.max_auth_tries, Some(3));
    assert_eq!(g.password_authentication, Some(false));
    assert_eq!(g.banner.as_deref(), Some("/global"));
    // Global lines after a Match block do not exist: a Match lasts to the end of the file.
    let c = parse_conn("Match User nobody\nMaxSessions 4\n", &conn());
    assert_eq!(c.max_sessions, None);
}

#[test]
fn match_all_applies_globally_too() {
    let text = "Match All\n  MaxSessions 4\n";
    assert_eq!(parse(text).max_sessions, Some(4));
    assert_eq!(parse_conn(text, &conn()).max_sessions, Some(4));
    for bad in ["Match All User x", "Match User x All", "Match All extra"] {
        assert!(matches!(err(bad).kind, ErrorKind::BadMatch(_)), "{bad}");
    }
}

#[test]
fn options_not_allowed_in_match() {
    for kw in [
        "Port 2222",
        "ListenAddress 0.0.0.0",
        "HostKey /k",
        "HostCertificate /c",
        "Subsystem sftp internal-sftp",
        "Ciphers aes128-ctr",
        "MACs hmac-sha2-256",
        "KexAlgorithms curve25519-sha256",
        "HostKeyAlgorithms ssh-ed25519",
        "LoginGraceTime 1",
        "MaxStartups 1",
    ] {
        // Even in a block that does not match.
        let e = err(&format!("Port 22\nMatch User nobody\n  {kw}\n"));
        assert_eq!(e.line(), 3, "{kw}");
        assert!(
            matches!(e.kind, ErrorKind::NotAllowedInMatch { .. }),
            "{kw}"
        );
    }
}

#[test]
fn match_errors() {
    for bad in [
        "Match",
        "Match User",
        "Match Colour red",
        "Match LocalPort http",
        "Match Address 10.0.0.1/8",
        "Match Address 10.0.0.0/8,,x",
        "Match !User x",
    ] {
        let e = err(&format!("\n{bad}\n"));
        assert_eq!((e.file(), e.line()), ("sshd_config", 2), "{bad}: {e}");
    }
}

#[test]
fn include_at_top_level_and_in_match() {
    let files = MemoryFiles::new()
        .include_dir("/etc/ssh")
        .with(
            "/etc/ssh/sshd_config.d/10-a.conf",
            "MaxAuthTries 4\nMatch User alice\n  MaxSessions 8\n",
        )
        .with(
            "/etc/ssh/sshd_config.d/20-b.conf",
            "PasswordAuthentication no\n",
        )
        .with("/etc/ssh/match.conf", "ClientAliveInterval 44\n")
        .with("/etc/ssh/bad.conf", "MaxSessions lots\n");
    let text = "Include sshd_config.d/*.conf\nMaxAuthTries 2\nPasswordAuthentication yes\n\
                Match User alice\n  Include match.conf\n";
    let c = parse_server(text, "main", &files, Some(&conn())).unwrap();
    assert_eq!(c.max_auth_tries, Some(4));
    assert_eq!(
        c.password_authentication,
        Some(false),
        "the Match in 10-a.conf ended with it"
    );
    assert_eq!(c.max_sessions, Some(8));
    assert_eq!(c.client_alive_interval, Some(Duration::from_secs(44)));
    let g = parse_server(text, "main", &files, None).unwrap();
    assert_eq!(g.client_alive_interval, None);
    let e = parse_server("Include bad.conf\n", "main", &files, None).unwrap_err();
    assert_eq!((e.file(), e.line()), ("/etc/ssh/bad.conf", 1));
}

#[test]
fn bad_values_name_file_and_line() {
    for (text, line) in [
        ("Port 0", 1),
        ("Port 1\nPort 65536", 2),
        ("MaxStartups 10:30", 1),
        ("MaxStartups 20:30:10", 1),
        ("MaxStartups 10:0:20", 1),
        ("MaxStartups 10:101:20", 1),
        ("LoginGraceTime 5y", 1),
        ("ClientAliveCountMax -1", 1),
        ("AuthenticationMethods any publickey", 1),
        ("AuthenticationMethods magic", 1),
        ("ListenAddress [::1", 1),
        ("ListenAddress 1.2.3.4:0", 1),
        ("ListenAddress 1.2.3.4 rdomain", 1),
        ("ListenAddress 1.2.3.4 vrf x", 1),
        ("PermitOpen nohostport", 1),
        ("PermitOpen any none", 1),
        ("AcceptEnv A=B", 1),
        ("Subsystem sftp", 1),
        ("Subsystem sftp a\nSubsystem sftp b", 2),
        ("AllowTcpForwarding maybe", 1),
        ("PermitRootLogin perhaps", 1),
        ("RekeyLimit 1G never", 1),
        ("Banner", 1),
        ("Banner a b", 1),
        ("HostKey \"unterminated", 1),
    ] {
        let e = err(text);
        assert_eq!((e.file(), e.line()), ("sshd_config", line), "{text:?}: {e}");
    }
}

#[test]
fn connection_spec_like_sshd_c() {
    let c = ServerMatchContext::from_spec(
        "user=alice,host=client.example.com,addr=10.1.2.3,laddr=192.0.2.1,lport=22,rdomain=rd0",
    )
    .unwrap();
    assert_eq!(
        c,
        ServerMatchContext {
            groups: Vec::new(),
            ..conn()
        }
    );
    assert!(ServerMatchContext::from_spec("user").is_err());
    assert!(ServerMatchContext::from_spec("lport=0").is_err());
    assert!(ServerMatchContext::from_spec("colour=red").is_err());
    assert_eq!(
        ServerMatchContext::from_spec("").unwrap(),
        ServerMatchContext::default()
    );
}

#[test]
fn hostbased_options() {
    use whelk_config::server::IgnoreRhosts;
    let d = parse("");
    assert_eq!(
        (
            d.hostbased_authentication,
            d.ignore_rhosts,
            d.strict_modes,
            d.ignore_user_known_hosts
        ),
        (None, None, None, None)
    );
    let c = parse(
        "HostbasedAuthentication yes\nHostbasedUsesNameFromPacketOnly yes\n\
         IgnoreRhosts shosts-only\nIgnoreUserKnownHosts yes\nStrictModes no\n",
    );
    assert_eq!(c.hostbased_authentication, Some(true));
    assert_eq!(c.hostbased_uses_name_from_packet_only, Some(true));
    assert_eq!(c.ignore_rhosts, Some(IgnoreRhosts::ShostsOnly));
    assert_eq!(c.ignore_user_known_hosts, Some(true));
    assert_eq!(c.strict_modes, Some(false));
    assert_eq!(
        parse("IgnoreRhosts no").ignore_rhosts,
        Some(IgnoreRhosts::No)
    );
    assert_eq!(
        parse("HostbasedAcceptedKeyTypes -ssh-rsa*").hostbased_accepted_algorithms,
        Some(AlgorithmList::Remove(strings(&["ssh-rsa*"])))
    );
    assert_eq!(
        parse_conn(
            "Match User alice\n  HostbasedAcceptedAlgorithms ssh-ed25519\n",
            &conn()
        )
        .hostbased_accepted_algorithms,
        Some(AlgorithmList::Replace(strings(&["ssh-ed25519"])))
    );
    assert!(matches!(
        err("IgnoreRhosts maybe").kind,
        ErrorKind::BadValue { .. }
    ));
    // sshd allows these in Match blocks, not IgnoreUserKnownHosts or StrictModes.
    let m = parse_conn(
        "Match User alice\n  HostbasedAuthentication yes\n  IgnoreRhosts no\n",
        &conn(),
    );
    assert_eq!(m.hostbased_authentication, Some(true));
    assert_eq!(m.ignore_rhosts, Some(IgnoreRhosts::No));
    assert!(matches!(
        err("Match User alice\n  StrictModes no\n").kind,
        ErrorKind::NotAllowedInMatch { .. }
    ));
}
