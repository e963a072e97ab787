//! Property tests: units, patterns, quoting, forwardings and algorithm lists.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use whelk_config::pattern::match_pattern;
use whelk_config::{
    AlgorithmList, Forward, ForwardKind, ForwardListen, ForwardTarget, MatchContext, NoFiles,
    parse_bytes, parse_client, parse_time,
};

/// A slow, obviously correct wildcard matcher to check `match_pattern` against.
fn reference(s: &[char], p: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|k| reference(&s[k..], rest)),
        Some(('?', rest)) => !s.is_empty() && reference(&s[1..], rest),
        Some((c, rest)) => s.first() == Some(c) && reference(&s[1..], rest),
    }
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9.-]{0,12}",
        "[0-9a-f]{1,4}(:[0-9a-f]{1,4}){1,4}",
        Just("*".to_owned()),
        Just(String::new()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    "/[a-z:\\[\\\\ ]{1,12}(/[a-z.:]{1,6}){0,2}"
}

fn forward() -> impl Strategy<Value = (Forward, ForwardKind)> {
    let listen = prop_oneof![
        (proptest::option::of(host()), 1u16..)
            .prop_map(|(bind, port)| ForwardListen::Tcp { bind, port }),
        path().prop_map(ForwardListen::Unix),
    ];
    let target = prop_oneof![
        (
            "[a-z][a-z0-9.-]{0,12}|[0-9a-f]{1,4}(:[0-9a-f]{1,4}){1,4}",
            1u16..
        )
            .prop_map(|(host, port)| ForwardTarget::Tcp { host, port }),
        path().prop_map(ForwardTarget::Unix),
    ];
    (listen, proptest::option::of(target), any::<bool>()).prop_map(|(listen, target, remote)| {
        let kind = match (&target, remote) {
            (None, false) => ForwardKind::Dynamic,
            (None, true) => ForwardKind::Remote,
            (Some(_), false) => ForwardKind::Local,
            (Some(_), true) => ForwardKind::Remote,
        };
        (Forward { listen, target }, kind)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn time_terms_sum(terms in proptest::collection::vec((0u64..1000, 0usize..6), 1..5)) {
        const UNITS: [(&str, u64); 6] = [("", 1), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800)];
        let mut text = String::new();
        let mut total = 0;
        for (i, (n, u)) in terms.iter().enumerate() {
            // A bare number is only unambiguous as the last term.
            let u = if *u == 0 && i + 1 < terms.len() { 1 } else { *u };
            text.push_str(&format!("{n}{}", UNITS[u].0));
            total += n * UNITS[u].1;
        }
        prop_assert_eq!(parse_time(&text).unwrap().as_secs(), total);
    }

    #[test]
    fn byte_terms_sum(terms in proptest::collection::vec((0u64..10_000, 0usize..5), 1..5)) {
        const UNITS: [(&str, u64); 5] = [("", 1), ("k", 1 << 10), ("M", 1 << 20), ("g", 1 << 30), ("T", 1 << 40)];
        let mut text = String::new();
        let mut total = 0;
        for (i, (n, u)) in terms.iter().enumerate() {
            let u = if *u == 0 && i + 1 < terms.len() { 1 } else { *u };
            text.push_str(&format!("{n}{}", UNITS[u].0));
            total += n * UNITS[u].1;
        }
        prop_assert_eq!(parse_bytes(&text).unwrap(), total);
    }

    #[test]
    fn wildcards_agree_with_reference(s in "[ab.]{0,10}", p in "[ab.*?]{0,8}") {
        let sc: Vec<char> = s.chars().collect();
        let pc: Vec<char> = p.chars().collect();
        prop_assert_eq!(match_pattern(&s, &p), reference(&sc, &pc));
    }

    #[test]
    fn quoted_arguments_round_trip(arg in "[^\n\r\u{0}]{1,40}") {
        let mut quoted = String::from("\"");
        for c in arg.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        let text = format!("IdentityFile {quoted}\n");
        let c = parse_client(&text, "cfg", &NoFiles, &mut MatchContext::new("h", "u")).unwrap();
        prop_assert_eq!(c.identity_files, vec![arg]);
    }

    #[test]
    fn forwards_round_trip((f, kind) in forward()) {
        let valid = !(kind == ForwardKind::Remote && f.target.is_none() && matches!(f.listen, ForwardListen::Unix(_)));
        if let (true, Some(spec)) = (valid, f.to_spec()) {
            let again = Forward::parse(&spec, kind);
            prop_assert_eq!(again.as_ref(), Ok(&f), "spec {}", spec);
        }
    }

    #[test]
    fn algorithm_lists_round_trip(m in "[+^-]?", names in proptest::collection::vec("[a-z0-9][a-z0-9@.*-]{0,15}", 1..5)) {
        let text = format!("{m}{}", names.join(","));
        let list = AlgorithmList::parse(&text).unwrap();
        prop_assert_eq!(list.names(), &names[..]);
        prop_assert_eq!(AlgorithmList::parse(&list.to_string()).unwrap(), list);
    }
}
