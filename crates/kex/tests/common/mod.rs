//! Helpers shared by the whelk-kex integration tests.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use whelk_kex::{
    ClientKex, ClientStep, Error, ExchangeContext, GexGroups, GexRequest, KexMethod, KexOutput,
    KeySigner, ServerKex, ServerStep,
};
use whelk_keys::{KeyGen, PrivateKey};
use whelk_wire::msg::{DisconnectReason, Message};

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn context() -> ExchangeContext {
    ExchangeContext {
        client_version: Bytes::from_static(b"SSH-2.0-whelk_test_client"),
        server_version: Bytes::from_static(b"SSH-2.0-whelk_test_server"),
        client_kexinit: Bytes::from_static(b"\x14client kexinit payload"),
        server_kexinit: Bytes::from_static(b"\x14server kexinit payload"),
        session_id: None,
    }
}

pub fn ed25519_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[42; 32])
}

pub fn ecdsa_key() -> PrivateKey {
    PrivateKey::generate(KeyGen::Ecdsa(whelk_keys::Curve::NistP256), &mut rng(99)).unwrap()
}

/// Options for one in-memory exchange.
pub struct Run<'a> {
    pub method: &'static KexMethod,
    pub key: &'a PrivateKey,
    /// The host key algorithm the server signs with.
    pub server_alg: &'a str,
    /// The host key algorithm the client believes was negotiated.
    pub client_alg: &'a str,
    pub ctx: ExchangeContext,
    pub gex: GexRequest,
    pub groups: GexGroups,
    pub seed: u64,
}

impl<'a> Run<'a> {
    pub fn new(method: &'static KexMethod, key: &'a PrivateKey) -> Self {
        Self {
            method,
            key,
            server_alg: "ssh-ed25519",
            client_alg: "ssh-ed25519",
            ctx: context(),
            gex: GexRequest::new(2048, 2048, 4096).unwrap(),
            groups: GexGroups::builtin(),
            seed: 1,
        }
    }

    /// Runs client and server against each other; messages go through their wire
    /// encoding and back. Returns both outputs (or the first error and which side had it).
    pub fn run(&self) -> Result<(KexOutput, KexOutput), (&'static str, Error)> {
        let mut crng = rng(self.seed);
        let mut srng = rng(self.seed.wrapping_add(1000));
        let mut sign_rng = rng(self.seed.wrapping_add(2000));
        let mut client = ClientKex::for_method(self.method, self.client_alg, self.ctx.clone())
            .with_gex_request(self.gex);
        let mut server =
            ServerKex::for_method(self.method, self.ctx.clone()).with_groups(self.groups.clone());
        let mut signer = KeySigner::new(self.key, self.server_alg, &mut sign_rng).unwrap();
        let mut to_server = client.start(&mut crng).map_err(|e| ("client", e))?;
        loop {
            let to_server_wire = reencode(&to_server, self.method);
            match server
                .handle(&to_server_wire, &mut srng, &mut signer)
                .map_err(|e| ("server", e))?
            {
                ServerStep::Send(m) => {
                    let m = reencode(&m, self.method);
                    match client.handle(&m, &mut crng).map_err(|e| ("client", e))? {
                        ClientStep::Send(next) => to_server = *next,
                        ClientStep::Done(_) => panic!("client done before the reply"),
                        _ => unreachable!(),
                    }
                }
                ServerStep::Done { reply, output } => {
                    let reply = reencode(&reply, self.method);
                    match client
                        .handle(&reply, &mut crng)
                        .map_err(|e| ("client", e))?
                    {
                        ClientStep::Done(c) => return Ok((*c, *output)),
                        other => panic!("client not done: {other:?}"),
                    }
                }
                _ => unreachable!(),
            }
        }
    }
}

/// Encodes a message and decodes it again in the method's context.
pub fn reencode(m: &Message, method: &KexMethod) -> Message {
    let bytes = m.to_bytes().unwrap();
    Message::decode_with(
        &bytes,
        whelk_wire::msg::Context {
            kex: Some(method.family),
            auth: None,
        },
    )
    .unwrap()
}

pub fn assert_kex_failed(e: &Error) {
    assert_eq!(
        e.disconnect_reason(),
        DisconnectReason::KEY_EXCHANGE_FAILED,
        "{e:?}"
    );
}
