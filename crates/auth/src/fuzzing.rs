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

/// Arbitrary server messages into [`crate::ClientAuth`] (same record format as [`server`];
/// the first byte picks the client's configuration and answers). Oracles: no panic; a
/// latched error stays; with `require_auth`, success is never reported after only `none`.
pub fn client(data: &[u8]) {
    use crate::client::{Answer, ClientAuth, ClientConfig, ClientEvent, KeySigner, PromptKind};
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let require_auth = mode & 1 != 0;
    let mut c = ClientAuth::new(
        ClientConfig {
            user: "alice".into(),
            require_auth,
            allow_sha1: mode & 2 != 0,
            methods: alloc::vec![
                Method::PublicKey,
                Method::KeyboardInteractive,
                Method::Password,
                Method::HostBased
            ],
            ..ClientConfig::default()
        },
        Bytes::from_static(&[7; 32]),
        Some(Bytes::from_static(b"host key")),
    );
    let key = whelk_keys::PrivateKey::ed25519_from_seed(&[1; 32]);
    c.add_identity(Box::new(KeySigner::new(key, FixedRng::seed_from_u64(1))));
    if c.start().is_err() {
        return;
    }
    let mut sent_credential = false;
    while let Some((len_bytes, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len_bytes)).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        while let Some(m) = c.poll_transmit() {
            if matches!(&m, Message::UserauthRequest(r) if !matches!(r.method, whelk_wire::msg::AuthMethod::None))
                || matches!(m, Message::UserauthInfoResponse(_))
            {
                sent_credential = true;
            }
        }
        let ctx = Context {
            kex: None,
            auth: c.context(),
        };
        let Ok(msg) = Message::decode_with(&Bytes::copy_from_slice(payload), ctx) else {
            continue;
        };
        let before = c.error().cloned();
        let r = c.handle_message(msg);
        if let Some(e) = before {
            assert_eq!(r, Err(e), "a latched error must stay");
        }
        while let Some(ev) = c.poll_event() {
            match ev {
                ClientEvent::Credentials(req) => {
                    let a = match (&req.kind, mode >> 4) {
                        (_, 0) => Answer::Skip,
                        (_, 15) => Answer::Cancel,
                        (PromptKind::Password, _) => {
                            Answer::Password(zeroize::Zeroizing::new("pw".into()))
                        }
                        (PromptKind::KeyboardInteractive { prompts, .. }, _) => Answer::Responses(
                            prompts
                                .iter()
                                .map(|_| zeroize::Zeroizing::new("r".into()))
                                .collect(),
                        ),
                        (PromptKind::ChangePassword { .. }, _) => Answer::ChangePassword {
                            old: zeroize::Zeroizing::new("a".into()),
                            new: zeroize::Zeroizing::new("b".into()),
                        },
                    };
                    let _ = c.respond(req, a);
                }
                ClientEvent::Authenticated { .. } => {
                    assert!(!require_auth || sent_credential, "trivial auth reported");
                }
                _ => {}
            }
        }
    }
}

/// A deterministic generator (splitmix64) for the fuzz body only. NOT cryptographic: it only
/// feeds an Ed25519 key, whose signatures are deterministic and never read it.
struct FixedRng(u64);

impl FixedRng {
    fn seed_from_u64(seed: u64) -> Self {
        Self(seed)
    }
}

impl rand_core::TryRng for FixedRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let v = self.try_next_u64()?;
        Ok(u32::try_from(v >> 32).unwrap_or_default())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(v) {
                *d = s;
            }
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for FixedRng {}
