//! Fuzzing entry points (not part of the API): the bodies of `fuzz/fuzz_targets/kex_*.rs`,
//! also replayed over `testdata/fuzz/kex_*` by `tests/fuzz_corpus.rs`.

use core::convert::Infallible;

use bytes::Bytes;
use rand_core::{TryCryptoRng, TryRng};
use sha2::Digest;
use whelk_keys::PrivateKey;
use whelk_wire::msg::{
    KexDhGexGroup, KexDhGexInit, KexDhGexReply, KexDhGexRequest, KexEcdhInit, KexEcdhReply,
    KexdhInit, KexdhReply, Message,
};
use whelk_wire::types::MpInt;

use crate::client::{ClientKex, ClientStep};
use crate::exchange::ExchangeContext;
use crate::hostkey::KeySigner;
use crate::method::{Kind, METHODS};
use crate::server::{ServerKex, ServerStep};

/// A deterministic generator (SHA-256 in counter mode) so fuzz runs replay exactly. Not for
/// anything but fuzzing and tests.
#[derive(Debug, Clone)]
pub struct FuzzRng {
    seed: [u8; 32],
    counter: u64,
}

impl FuzzRng {
    /// A generator from a seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            seed: sha2::Sha256::digest(seed.to_be_bytes()).into(),
            counter: 0,
        }
    }

    fn block(&mut self) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(self.seed);
        h.update(self.counter.to_be_bytes());
        self.counter = self.counter.wrapping_add(1);
        h.finalize().into()
    }
}

impl TryRng for FuzzRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let [a, b, c, d, ..] = self.block();
        Ok(u32::from_be_bytes([a, b, c, d]))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let [a, b, c, d, e, f, g, h, ..] = self.block();
        Ok(u64::from_be_bytes([a, b, c, d, e, f, g, h]))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(32) {
            let b = self.block();
            for (d, s) in chunk.iter_mut().zip(b.iter()) {
                *d = *s;
            }
        }
        Ok(())
    }
}

impl TryCryptoRng for FuzzRng {}

fn context() -> ExchangeContext {
    ExchangeContext {
        client_version: Bytes::from_static(b"SSH-2.0-fuzz_client"),
        server_version: Bytes::from_static(b"SSH-2.0-fuzz_server"),
        client_kexinit: Bytes::from_static(b"\x14client"),
        server_kexinit: Bytes::from_static(b"\x14server"),
        session_id: None,
    }
}

/// Splits off a 2-byte-length-prefixed chunk.
fn take(data: &[u8]) -> (&[u8], &[u8]) {
    let (len, rest) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    rest.split_at(len.min(rest.len()))
}

fn mpint(data: &[u8]) -> Option<MpInt> {
    MpInt::from_wire(Bytes::copy_from_slice(data)).ok()
}

/// `kex_peer_value`: byte 0 picks the method, byte 1 the side (even: we are the server and
/// the data is the client's public value; odd: we are the client and it is the server's),
/// the rest is the peer's value(s). Never panics; every outcome is fine.
pub fn kex_peer_value(data: &[u8]) {
    let [which, side, rest @ ..] = data else {
        return;
    };
    let Some(method) = METHODS.get(usize::from(*which) % METHODS.len()) else {
        return;
    };
    let mut rng = FuzzRng::new(u64::from(*which));
    let key = PrivateKey::ed25519_from_seed(&[7; 32]);
    if side % 2 == 0 {
        let mut server = ServerKex::for_method(method, context());
        let mut signer_rng = FuzzRng::new(1);
        let Ok(mut signer) = KeySigner::new(&key, "ssh-ed25519", &mut signer_rng) else {
            return;
        };
        let msg: Message = match method.kind {
            Kind::Dh(_) => match mpint(rest) {
                Some(e) => KexdhInit { e }.into(),
                None => return,
            },
            Kind::Gex => {
                let (req, e) = take(rest);
                let mut words = req.chunks_exact(4).map(|c| {
                    let mut w = [0u8; 4];
                    w.copy_from_slice(c);
                    u32::from_be_bytes(w)
                });
                let (min, n, max) = (
                    words.next().unwrap_or(2048),
                    words.next().unwrap_or(2048),
                    words.next().unwrap_or(2048),
                );
                let r = server.handle(
                    &KexDhGexRequest { min, n, max }.into(),
                    &mut rng,
                    &mut signer,
                );
                if !matches!(r, Ok(ServerStep::Send(_))) {
                    return;
                }
                match mpint(e) {
                    Some(e) => KexDhGexInit { e }.into(),
                    None => return,
                }
            }
            _ => KexEcdhInit {
                client_public: Bytes::copy_from_slice(rest),
            }
            .into(),
        };
        let _ = server.handle(&msg, &mut rng, &mut signer);
    } else {
        let mut client = ClientKex::for_method(method, "ssh-ed25519", context());
        if client.start(&mut rng).is_err() {
            return;
        }
        let host_key = Bytes::copy_from_slice(key.public_key().blob());
        let (value, sig) = take(rest);
        let signature = Bytes::copy_from_slice(sig);
        let msg: Message = match method.kind {
            Kind::Dh(_) => match mpint(value) {
                Some(f) => KexdhReply {
                    host_key,
                    f,
                    signature,
                }
                .into(),
                None => return,
            },
            Kind::Gex => {
                let (p, rest2) = take(value);
                let (g, f) = take(rest2);
                let (Some(p), Some(g)) = (mpint(p), mpint(g)) else {
                    return;
                };
                match client.handle(&KexDhGexGroup { p, g }.into(), &mut rng) {
                    Ok(ClientStep::Send(_)) => {}
                    _ => return,
                }
                match mpint(f) {
                    Some(f) => KexDhGexReply {
                        host_key,
                        f,
                        signature,
                    }
                    .into(),
                    None => return,
                }
            }
            _ => KexEcdhReply {
                host_key,
                server_public: Bytes::copy_from_slice(value),
                signature,
            }
            .into(),
        };
        let _ = client.handle(&msg, &mut rng);
    }
}
