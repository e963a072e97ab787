//! Bodies of the fuzz targets (`fuzz/fuzz_targets/auth_*.rs`), shared with the corpus
//! replay test. Not part of the API.

use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;
use whelk_wire::msg::{AuthFamily, Context, Message};

use crate::server::{Decision, Grant, Prompts, RequestKind, ServerAuth, ServerConfig, ServerEvent};
use crate::{Instant, Method};

/// Arbitrary client messages into [`ServerAuth`]. Input: a sequence of records
/// `u16 length, payload` (each payload decoded with the machine's context); the first byte
/// picks the application's answers. Oracles: no panic; `USERAUTH_SUCCESS` never from the
/// client side; once a fatal error latched it stays; success only after a decision accepted
/// a method; no more than `max_attempts` failures before the error.
pub fn server(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let config = ServerConfig {
        methods: alloc::vec![
            Method::None,
            Method::PublicKey,
            Method::KeyboardInteractive,
            Method::Password,
            Method::HostBased
        ],
        required: if mode & 0x10 != 0 {
            alloc::vec![alloc::vec![Method::PublicKey, Method::Password]]
        } else {
            Vec::new()
        },
        ..ServerConfig::default()
    };
    let max = config.max_attempts;
    let start = Instant::now();
    let mut now = start;
    let mut s = ServerAuth::new(
        config,
        Bytes::from_static(&[7; 32]),
        Bytes::from_static(b"host key"),
        now,
    );
    let mut accepted = false;
    let mut step = 0u32;
    while let Some((len_bytes, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len_bytes)).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        step = step.wrapping_add(1);
        let ctx = Context {
            kex: None,
            auth: s.context(),
        };
        let Ok(msg) = Message::decode_with(&Bytes::copy_from_slice(payload), ctx) else {
            continue;
        };
        assert!(
            !(matches!(s.context(), Some(AuthFamily::Password))
                && matches!(msg, Message::UserauthPkOk(_))),
            "context mismatch"
        );
        let before = s.error().cloned();
        let r = s.handle_message(now, msg);
        if let Some(e) = before {
            assert_eq!(r, Err(e), "a latched error must stay");
        }
        while let Some(ev) = s.poll_event() {
            match ev {
                ServerEvent::Request(req) => {
                    let pick = (mode.wrapping_add(u8::try_from(step & 0xff).unwrap_or(0))) % 4;
                    let d = match (&req.kind, pick) {
                        (_, 0) => Decision::Reject,
                        (RequestKind::KeyboardInteractive { .. }, 1) => {
                            Decision::Prompts(Prompts {
                                prompts: alloc::vec![("p".into(), false)],
                                ..Prompts::default()
                            })
                        }
                        (RequestKind::Password { .. }, 1) => Decision::ChangePassword {
                            prompt: "new".into(),
                        },
                        (_, 2) => Decision::Partial(Grant::default()),
                        _ => {
                            accepted = true;
                            Decision::Accept(Grant::default())
                        }
                    };
                    let _ = s.respond(now, req, d);
                }
                ServerEvent::Authenticated(_) => assert!(accepted, "success without acceptance"),
            }
        }
        now += Duration::from_millis(20);
        let _ = s.handle_timeout(now);
        while let Some(m) = s.poll_transmit(now) {
            assert!(!matches!(m, Message::UserauthRequest(_)));
        }
        if s.error().is_none() {
            assert!(s.failures() < max || max == 0);
        }
    }
}
