//! The body of the `config_parse` fuzz target (`fuzz/fuzz_targets/config_parse.rs`), kept
//! here so that `cargo test` replays the corpus in `testdata/fuzz/config_parse/` through
//! exactly the code the fuzzer runs.
//!
//! The input (lossily decoded as UTF-8) is parsed as a client configuration (first and final
//! pass, with an `exec` runner that answers from the command's length) and as a server
//! configuration (with and without a connection), with an in-memory file source in which
//! `Include` finds the input itself, other files, and a self-including file. Errors are
//! fine; a panic (or an error without a file name) is a bug. Every value a successful parse
//! produces is also rendered and, for algorithm lists and forwardings, re-parsed.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use crate::algorithms::AlgorithmList;
use crate::client::{MatchContext, resolve_client};
use crate::forward::{Forward, ForwardKind};
use crate::server::{ServerMatchContext, parse_server};
use crate::source::MemoryFiles;

/// Parses `data` as both kinds of configuration; panics only on a bug.
pub fn parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let files = MemoryFiles::new()
        .with("/etc/ssh/input.conf", text.as_ref())
        .with("/etc/ssh/conf.d/a.conf", "Port 2200\nHost *\nUser fuzz\n")
        .with("/etc/ssh/conf.d/b.conf", "Include /etc/ssh/conf.d/b.conf\n")
        .with(
            "/etc/ssh/conf.d/c.conf",
            "Match all\nPasswordAuthentication no\n",
        )
        .include_dir("/etc/ssh")
        .home_dir("/home/fuzz");

    let mut ctx = MatchContext::new("fuzz.example", "fuzz").with_exec(|cmd| cmd.len() % 2 == 0);
    match resolve_client(&text, "input", &files, &mut ctx) {
        Ok(c) => {
            let _ = c.effective_hostname("fuzz.example");
            if let Ok(t) = c.token_context(&ctx) {
                let _ = crate::tokens::expand("%C%d%h%i%k%L%l%n%p%r%u%%", &t);
            }
            for list in [
                &c.ciphers,
                &c.macs,
                &c.kex_algorithms,
                &c.host_key_algorithms,
                &c.pubkey_accepted_algorithms,
                &c.ca_signature_algorithms,
            ]
            .into_iter()
            .flatten()
            {
                round_trip_algorithms(list);
            }
            for (fwds, kind) in [
                (&c.local_forwards, ForwardKind::Local),
                (&c.remote_forwards, ForwardKind::Remote),
                (&c.dynamic_forwards, ForwardKind::Dynamic),
            ] {
                for f in fwds {
                    let _ = f.to_string();
                    if kind == ForwardKind::Dynamic {
                        assert!(f.is_dynamic(), "a DynamicForward with a target");
                    }
                    if kind == ForwardKind::Local {
                        assert!(!f.is_dynamic(), "a LocalForward without a target");
                    }
                    if let Some(spec) = f.to_spec() {
                        let again = Forward::parse(&spec, kind)
                            .unwrap_or_else(|e| panic!("{spec:?} from {f:?}: {e}"));
                        assert_eq!(&again, f, "forward round trip via {spec:?}");
                    }
                }
            }
        }
        Err(e) => assert!(!e.file().is_empty(), "error without a file: {e}"),
    }

    for conn in [
        None,
        Some(ServerMatchContext {
            user: Some("fuzz".into()),
            groups: vec!["users".into()],
            host: Some("client.example".into()),
            address: Some("10.1.2.3".into()),
            local_address: Some("127.0.0.1".into()),
            local_port: Some(22),
            rdomain: None,
        }),
    ] {
        match parse_server(&text, "input", &files, conn.as_ref()) {
            Ok(s) => {
                let _ = s.listen_pairs();
                if let Some(m) = s.max_startups {
                    assert!(m.start <= m.full && (1..=100).contains(&m.rate));
                }
            }
            Err(e) => assert!(!e.file().is_empty(), "error without a file: {e}"),
        }
    }
}

fn round_trip_algorithms(list: &AlgorithmList) {
    let again = AlgorithmList::parse(&list.to_string()).expect("a parsed list re-parses");
    assert_eq!(&again, list, "algorithm list round trip");
    let _ = list.resolve(&["a", "b"], &["a", "b", "c"]);
}
