//! Group exchange pieces: the OpenSSH `moduli` parser, the server's group choice, the
//! built-in groups.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::rng;
use whelk_kex::{DhGroup, Error, GexGroups, GexRequest, Group};

fn moduli() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/kex/moduli"
    ))
    .unwrap()
}

#[test]
fn parses_the_moduli_fixture_and_skips_like_openssh() {
    let g = GexGroups::from_moduli(&moduli()).unwrap();
    // Two 2048-bit, one 3072, one 4096; the composite, type-0 and zero-tries lines skipped.
    let bits: Vec<u32> = g.groups().iter().map(DhGroup::bits).collect();
    assert_eq!(bits, [2048, 2048, 3072, 4096]);
    assert_eq!(g.groups()[0].g(), &[2]);
    assert_eq!(g.groups()[1].g(), &[5]);
}

#[test]
fn parses_the_system_moduli_file_if_present() {
    if let Ok(text) = std::fs::read_to_string("/etc/ssh/moduli") {
        let g = GexGroups::from_moduli(&text).unwrap();
        assert!(g.groups().iter().all(|g| g.bits() >= 2048));
        assert!(g.groups().len() > 100);
    }
}

#[test]
fn malformed_moduli_lines_name_the_line() {
    let good = moduli()
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap()
        .to_string();
    let f: Vec<&str> = good.split_whitespace().collect();
    let with = |i: usize, v: &str| {
        let mut g = f.clone();
        g[i] = v;
        format!("# comment\n{}\n", g.join(" "))
    };
    let cases = [
        ("six fields", format!("\n{}\n", f[..6].join(" "))),
        ("bad time", with(0, "2022x")),
        ("bad type", with(1, "-1")),
        ("size mismatch", with(4, "2048")),
        ("size huge", with(4, "99999999")),
        ("bad generator", with(5, "xyz")),
        ("bad modulus", with(6, "E98Fz")),
        (
            "even modulus",
            with(6, &format!("{}E", &f[6][..f[6].len() - 1])),
        ),
        ("generator one", with(5, "1")),
    ];
    for (what, text) in cases {
        match GexGroups::from_moduli(&text) {
            Err(Error::Moduli { line: 2, .. }) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(matches!(
        GexGroups::from_moduli("# nothing\n\n"),
        Err(Error::Moduli { line: 0, .. })
    ));
}

#[test]
fn server_choice_follows_openssh_choose_dh() {
    let g = GexGroups::from_moduli(&moduli()).unwrap();
    let pick = |min, n, max| {
        g.choose(&GexRequest { min, n, max }, &mut rng(1))
            .map(|g| g.bits())
    };
    // The smallest group at least n bits...
    assert_eq!(pick(2048, 2048, 8192).unwrap(), 2048);
    assert_eq!(pick(2048, 2500, 8192).unwrap(), 3072);
    assert_eq!(pick(2048, 3072, 8192).unwrap(), 3072);
    assert_eq!(pick(2048, 4000, 8192).unwrap(), 4096);
    // ...else the largest one below n.
    assert_eq!(pick(2048, 8192, 8192).unwrap(), 4096);
    // Nothing in the file fits: the built-in 8192-bit group does.
    assert_eq!(pick(6000, 8192, 8192).unwrap(), 8192);
    // Nothing fits at all.
    assert!(pick(5000, 5000, 6000).is_err());
    // Random choice among equal sizes covers both 2048-bit groups.
    let gens: std::collections::BTreeSet<Vec<u8>> = (0..32)
        .map(|s| {
            g.choose(
                &GexRequest {
                    min: 2048,
                    n: 2048,
                    max: 2048,
                },
                &mut rng(s),
            )
            .unwrap()
            .g()
            .to_vec()
        })
        .collect();
    assert_eq!(gens.len(), 2);
}

#[test]
fn builtin_groups_match_the_rfcs() {
    // RFC 3526 / RFC 2409: every prime starts with 64 one bits and pi's digits, and ends
    // with 64 one bits.
    for g in [
        Group::Oakley1024,
        Group::Modp2048,
        Group::Modp4096,
        Group::Modp8192,
    ] {
        let p = g.prime();
        assert_eq!(p.len() * 8, g.bits() as usize);
        assert_eq!(&p[..8], &[0xff; 8]);
        assert_eq!(&p[8..16], &hex::decode("C90FDAA22168C234").unwrap()[..]);
        assert_eq!(&p[p.len() - 8..], &[0xff; 8]);
        assert_eq!(g.dh_group().bits(), g.bits());
    }
    let tail = |g: Group, hex_tail: &str| {
        let p = g.prime();
        let t = hex::decode(hex_tail).unwrap();
        assert_eq!(&p[p.len() - t.len()..], &t[..], "{g:?}");
    };
    tail(Group::Oakley1024, "49286651ECE65381FFFFFFFFFFFFFFFF");
    tail(Group::Modp2048, "15728E5A8AACAA68FFFFFFFFFFFFFFFF");
    tail(Group::Modp4096, "4DF435C934063199FFFFFFFFFFFFFFFF");
    tail(Group::Modp8192, "60C980DD98EDD3DFFFFFFFFFFFFFFFFF");
    let b: Vec<u32> = GexGroups::builtin()
        .groups()
        .iter()
        .map(DhGroup::bits)
        .collect();
    assert_eq!(b, [2048, 4096, 8192]);
}

#[test]
fn dh_group_checks() {
    let p = Group::Modp2048.prime();
    assert!(DhGroup::new(p, &[2]).is_ok());
    assert!(DhGroup::new(p, &[1]).is_err());
    assert!(DhGroup::new(p, &[]).is_err());
    assert!(DhGroup::new(p, p).is_err());
    assert!(DhGroup::new(&p[..32], &[2]).is_err(), "256-bit modulus");
    let mut even = p.to_vec();
    *even.last_mut().unwrap() = 0xfe;
    assert!(DhGroup::new(&even, &[2]).is_err());
    let huge = vec![0xff; 16384 / 8 + 1];
    assert!(DhGroup::new(&huge, &[2]).is_err());
}
