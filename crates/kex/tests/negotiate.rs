//! Algorithm negotiation (RFC 4253 §7.1): per-category choice, markers, guessed packets, no
//! common algorithm, and whelk's defaults against captured OpenSSH 9.2p1 KEXINITs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use whelk_kex::{Category, Error, Role, default_method_names, negotiate};
use whelk_wire::msg::{DisconnectReason, KexInit, MessageBody};
use whelk_wire::names::{EXT_INFO_C, EXT_INFO_S, KEX_STRICT_C_V00, KEX_STRICT_S_V00};
use whelk_wire::types::NameList;

fn nl(s: &str) -> NameList {
    NameList::parse(s).unwrap()
}

fn kexinit(kex: &str, hostkey: &str, cipher: &str, mac: &str, comp: &str) -> KexInit {
    KexInit {
        cookie: [0; 16],
        kex_algorithms: nl(kex),
        server_host_key_algorithms: nl(hostkey),
        encryption_client_to_server: nl(cipher),
        encryption_server_to_client: nl(cipher),
        mac_client_to_server: nl(mac),
        mac_server_to_client: nl(mac),
        compression_client_to_server: nl(comp),
        compression_server_to_client: nl(comp),
        languages_client_to_server: NameList::empty(),
        languages_server_to_client: NameList::empty(),
        first_kex_packet_follows: false,
    }
}

/// whelk's default lists as a client (or server, with the other markers).
fn whelk_default(role: Role) -> KexInit {
    let mut kex: Vec<&str> = default_method_names().collect();
    match role {
        Role::Client => kex.extend([EXT_INFO_C, KEX_STRICT_C_V00]),
        Role::Server => kex.extend([EXT_INFO_S, KEX_STRICT_S_V00]),
    }
    let ciphers: Vec<&str> = whelk_cipher::registry::default_ciphers()
        .map(|c| c.name)
        .collect();
    let macs: Vec<&str> = whelk_cipher::registry::default_macs()
        .map(|m| m.name)
        .collect();
    let comps: Vec<&str> = whelk_cipher::registry::default_compressions()
        .map(|c| c.name)
        .collect();
    kexinit(
        &kex.join(","),
        "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256",
        &ciphers.join(","),
        &macs.join(","),
        &comps.join(","),
    )
}

fn capture(name: &str) -> KexInit {
    let raw = std::fs::read(format!(
        "{}/../../testdata/openssh/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let eol = raw.windows(2).position(|w| w == b"\r\n").unwrap();
    let packet = &raw[eol + 2..];
    let len = u32::from_be_bytes(packet[..4].try_into().unwrap()) as usize;
    let pad = packet[4] as usize;
    let payload = Bytes::copy_from_slice(&packet[5..4 + len - pad]);
    KexInit::decode(&payload).unwrap()
}

#[test]
fn first_client_algorithm_the_server_has_per_category() {
    let c = kexinit(
        "curve25519-sha256,ecdh-sha2-nistp256",
        "ssh-ed25519,rsa-sha2-512",
        "aes256-ctr,aes128-ctr",
        "hmac-sha2-512,hmac-sha2-256",
        "zlib@openssh.com,none",
    );
    let s = kexinit(
        "ecdh-sha2-nistp256,curve25519-sha256",
        "rsa-sha2-512,ssh-ed25519",
        "aes128-ctr,aes256-ctr",
        "hmac-sha2-256,hmac-sha2-512",
        "none,zlib@openssh.com",
    );
    let n = negotiate(&c, &s).unwrap();
    assert_eq!(n.kex.name, "curve25519-sha256");
    assert_eq!(n.host_key_algorithm, "ssh-ed25519");
    assert_eq!(n.cipher_client_to_server, "aes256-ctr");
    assert_eq!(n.mac_client_to_server.as_deref(), Some("hmac-sha2-512"));
    assert_eq!(n.compression_client_to_server, "zlib@openssh.com");
    assert_eq!(n.language_client_to_server, None);
    assert!(!n.client_ext_info && !n.server_ext_info && !n.strict_kex());
}

#[test]
fn directions_are_negotiated_separately() {
    let mut c = kexinit(
        "curve25519-sha256",
        "ssh-ed25519",
        "aes256-ctr",
        "hmac-sha2-256",
        "none",
    );
    c.encryption_server_to_client = nl("aes128-ctr,aes256-ctr");
    c.mac_server_to_client = nl("hmac-sha2-512,hmac-sha2-256");
    let mut s = c.clone();
    s.encryption_server_to_client = nl("aes256-ctr,aes128-ctr");
    let n = negotiate(&c, &s).unwrap();
    assert_eq!(n.cipher_client_to_server, "aes256-ctr");
    assert_eq!(n.cipher_server_to_client, "aes128-ctr");
    assert_eq!(n.mac_server_to_client.as_deref(), Some("hmac-sha2-512"));
}

#[test]
fn aead_ciphers_do_not_negotiate_macs() {
    let c = kexinit(
        "curve25519-sha256",
        "ssh-ed25519",
        "chacha20-poly1305@openssh.com",
        "hmac-sha2-256",
        "none",
    );
    let s = kexinit(
        "curve25519-sha256",
        "ssh-ed25519",
        "chacha20-poly1305@openssh.com",
        "hmac-sha1",
        "none",
    );
    let n = negotiate(&c, &s).unwrap();
    assert_eq!(n.mac_client_to_server, None);
    assert_eq!(n.mac_server_to_client, None);
}

#[test]
fn markers_are_not_methods_but_are_reported() {
    // Both lists share only markers and one real method listed after them.
    let c = kexinit(
        "ext-info-c,kex-strict-c-v00@openssh.com,ecdh-sha2-nistp384",
        "ssh-ed25519",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    let s = kexinit(
        "ext-info-c,kex-strict-c-v00@openssh.com,ext-info-s,kex-strict-s-v00@openssh.com,ecdh-sha2-nistp384",
        "ssh-ed25519",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    let n = negotiate(&c, &s).unwrap();
    assert_eq!(n.kex.name, "ecdh-sha2-nistp384");
    assert!(n.client_ext_info && n.server_ext_info);
    assert!(n.client_strict_kex && n.server_strict_kex && n.strict_kex());
    // Markers alone are no common method.
    let mut c2 = c.clone();
    c2.kex_algorithms = nl("ext-info-c,kex-strict-c-v00@openssh.com");
    assert_eq!(
        negotiate(&c2, &s).unwrap_err(),
        Error::NoCommonAlgorithm(Category::Kex)
    );
    // Only the client marker counts for the client and the server marker for the server.
    let mut s2 = s.clone();
    s2.kex_algorithms = nl("ecdh-sha2-nistp384,ext-info-c,kex-strict-c-v00@openssh.com");
    let n = negotiate(&c, &s2).unwrap();
    assert!(n.client_ext_info && !n.server_ext_info && !n.strict_kex());
}

#[test]
fn catalog_k06_no_common_algorithm_names_the_category() {
    let base = kexinit(
        "curve25519-sha256",
        "ssh-ed25519",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    type Change = Box<dyn Fn(&mut KexInit)>;
    let cases: Vec<(Change, Category)> = vec![
        (
            Box::new(|k| k.kex_algorithms = nl("foo@bar")),
            Category::Kex,
        ),
        (
            Box::new(|k| k.kex_algorithms = NameList::empty()),
            Category::Kex,
        ),
        (
            Box::new(|k| k.server_host_key_algorithms = nl("ssh-rsa")),
            Category::HostKey,
        ),
        (
            Box::new(|k| k.encryption_client_to_server = nl("aes256-ctr")),
            Category::CipherClientToServer,
        ),
        (
            Box::new(|k| k.encryption_server_to_client = nl("aes256-ctr")),
            Category::CipherServerToClient,
        ),
        (
            Box::new(|k| k.mac_client_to_server = nl("hmac-sha1")),
            Category::MacClientToServer,
        ),
        (
            Box::new(|k| k.mac_server_to_client = nl("hmac-sha1")),
            Category::MacServerToClient,
        ),
        (
            Box::new(|k| k.compression_client_to_server = nl("zlib")),
            Category::CompressionClientToServer,
        ),
        (
            Box::new(|k| k.compression_server_to_client = nl("zlib")),
            Category::CompressionServerToClient,
        ),
    ];
    for (change, cat) in cases {
        let mut s = base.clone();
        change(&mut s);
        let e = negotiate(&base, &s).unwrap_err();
        assert_eq!(e, Error::NoCommonAlgorithm(cat));
        assert!(e.to_string().contains(cat.name()), "{e}");
        assert_eq!(e.disconnect_reason(), DisconnectReason::KEY_EXCHANGE_FAILED);
    }
}

#[test]
fn host_key_must_be_signature_capable() {
    // A common host key name whelk cannot sign or verify with is skipped.
    let c = kexinit(
        "curve25519-sha256",
        "x509v3-sign-rsa,ssh-ed25519",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    let s = kexinit(
        "curve25519-sha256",
        "ssh-ed25519,x509v3-sign-rsa",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    assert_eq!(negotiate(&c, &s).unwrap().host_key_algorithm, "ssh-ed25519");
    // Certificate algorithms count.
    let c = kexinit(
        "curve25519-sha256",
        "ssh-ed25519-cert-v01@openssh.com,ssh-ed25519",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    let s = kexinit(
        "curve25519-sha256",
        "ssh-ed25519,ssh-ed25519-cert-v01@openssh.com",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    assert_eq!(
        negotiate(&c, &s).unwrap().host_key_algorithm,
        "ssh-ed25519-cert-v01@openssh.com"
    );
}

#[test]
fn an_unimplemented_common_method_is_an_error_not_skipped() {
    let c = kexinit(
        "gss-foo,curve25519-sha256",
        "ssh-ed25519",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    let s = c.clone();
    assert_eq!(
        negotiate(&c, &s).unwrap_err(),
        Error::UnsupportedMethod("gss-foo".into())
    );
}

#[test]
fn catalog_k08_first_kex_packet_follows() {
    let c = kexinit(
        "curve25519-sha256,ecdh-sha2-nistp256,ext-info-c",
        "ssh-ed25519,rsa-sha2-512",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    // Same first kex and host key: the guess is right.
    let mut s = kexinit(
        "curve25519-sha256,ext-info-s",
        "ssh-ed25519",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    let mut cg = c.clone();
    cg.first_kex_packet_follows = true;
    let n = negotiate(&cg, &s).unwrap();
    assert!(!n.discard_client_guess && !n.discard_peer_guess(Role::Server));
    // Different first kex method: the client's guessed packet is discarded by the server.
    s.kex_algorithms = nl("ecdh-sha2-nistp256,curve25519-sha256");
    let n = negotiate(&cg, &s).unwrap();
    assert_eq!(n.kex.name, "curve25519-sha256");
    assert!(n.discard_client_guess && n.discard_peer_guess(Role::Server));
    assert!(!n.discard_server_guess && !n.discard_peer_guess(Role::Client));
    // Different first host key algorithm: also wrong.
    s.kex_algorithms = nl("curve25519-sha256");
    s.server_host_key_algorithms = nl("rsa-sha2-512,ssh-ed25519");
    assert!(negotiate(&cg, &s).unwrap().discard_client_guess);
    // An unknown first algorithm from a guessing server.
    let mut sg = kexinit(
        "unknown@x,curve25519-sha256",
        "ssh-ed25519",
        "aes128-ctr",
        "hmac-sha2-256",
        "none",
    );
    sg.first_kex_packet_follows = true;
    let n = negotiate(&c, &sg).unwrap();
    assert_eq!(n.kex.name, "curve25519-sha256");
    assert!(n.discard_server_guess && n.discard_peer_guess(Role::Client));
    // Without the flag nothing is discarded even if the guess would be wrong.
    sg.first_kex_packet_follows = false;
    assert!(!negotiate(&c, &sg).unwrap().discard_server_guess);
}

#[test]
fn whelk_client_against_captured_sshd_9_2() {
    let client = whelk_default(Role::Client);
    let n = negotiate(&client, &capture("sshd-default")).unwrap();
    // 9.2 has no mlkem768x25519-sha256; it lists sntrup761x25519-sha512 first.
    assert_eq!(n.kex.name, "sntrup761x25519-sha512");
    assert_eq!(n.host_key_algorithm, "ssh-ed25519");
    assert_eq!(n.cipher_client_to_server, "chacha20-poly1305@openssh.com");
    assert_eq!(n.mac_client_to_server, None);
    assert_eq!(n.compression_client_to_server, "none");
    // sshd only advertises ext-info-s from OpenSSH 9.6 on.
    assert!(n.client_ext_info && !n.server_ext_info, "{n:?}");
    assert!(n.strict_kex(), "Debian's 9.2p1 has the strict-kex backport");

    let n = negotiate(&client, &capture("sshd-kex-curve25519")).unwrap();
    assert_eq!(n.kex.name, "curve25519-sha256");

    let n = negotiate(&client, &capture("sshd-ciphers")).unwrap();
    // OpenSSH's (and whelk's) order puts aes128-ctr before the GCM ciphers.
    assert_eq!(n.cipher_client_to_server, "aes128-ctr");

    let n = negotiate(&client, &capture("sshd-macs-etm")).unwrap();
    assert_eq!(n.cipher_client_to_server, "chacha20-poly1305@openssh.com");
    let mut no_aead = client.clone();
    no_aead.encryption_client_to_server = nl("aes128-ctr");
    no_aead.encryption_server_to_client = nl("aes128-ctr");
    let n = negotiate(&no_aead, &capture("sshd-macs-etm")).unwrap();
    assert_eq!(
        n.mac_client_to_server.as_deref(),
        Some("hmac-sha2-256-etm@openssh.com")
    );

    let n = negotiate(&client, &capture("sshd-hostkeyalgs")).unwrap();
    assert_eq!(n.host_key_algorithm, "ssh-ed25519");
    let n = negotiate(&client, &capture("sshd-hostkeys-all")).unwrap();
    assert_eq!(n.host_key_algorithm, "ssh-ed25519");
}

#[test]
fn captured_ssh_9_2_client_against_whelk_server() {
    let server = whelk_default(Role::Server);
    let n = negotiate(&capture("ssh-default"), &server).unwrap();
    assert_eq!(n.kex.name, "sntrup761x25519-sha512");
    assert!(n.client_ext_info && n.client_strict_kex && n.strict_kex());
    assert!(!n.discard_client_guess);

    let n = negotiate(&capture("ssh-restricted"), &server).unwrap();
    assert_eq!(n.kex.name, "curve25519-sha256");
    assert_eq!(n.cipher_client_to_server, "chacha20-poly1305@openssh.com");
    assert_eq!(n.mac_client_to_server, None);
    // The client prefers zlib@openssh.com when compression is on; whelk offers it.
    assert_eq!(n.compression_client_to_server, "zlib@openssh.com");
}
