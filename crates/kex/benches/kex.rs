//! Key exchange benchmarks (release): for every ECDH-family method (the PQ hybrids,
//! curve25519, NIST curves) and the fixed DH groups,
//!
//! - `client_start`: the client's key generation and `SSH_MSG_KEX_ECDH_INIT`;
//! - `server_reply`: the server's whole reply (parse `Q_C`, key generation or KEM
//!   encapsulation, shared secret, exchange hash, Ed25519 signature of `H`);
//! - `client_finish`: the client's shared secret from the reply (KEM decapsulation / ECDH),
//!   exchange hash, and the Ed25519 verification of the server's signature;
//!
//! and, to split those up, the primitives alone (`prim/...`: sntrup761 and ML-KEM-768
//! keygen / encapsulate / decapsulate, X25519, the exchange hash over a realistic input, an
//! Ed25519 signature and verification).
//!
//! ```sh
//! cargo bench -p whelk-kex --bench kex -- --warm-up-time 1 --measurement-time 2
//! ```
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use bytes::Bytes;
use chacha20::ChaCha20Rng;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand_core::SeedableRng;
use whelk_kex::{
    ClientKex, ClientStep, ExchangeContext, KexHash, KexMethod, KeySigner, ServerKex, ServerStep,
    method_by_name,
};
use whelk_keys::PrivateKey;
use whelk_wire::msg::Message;

const METHODS: &[&str] = &[
    "mlkem768x25519-sha256",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512",
];

fn context() -> ExchangeContext {
    // Realistic sizes: OpenSSH's KEXINIT payloads are about 1.1-1.5 KB.
    ExchangeContext {
        client_version: Bytes::from_static(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7"),
        server_version: Bytes::from_static(b"SSH-2.0-whelk_0.1.0"),
        client_kexinit: Bytes::from(vec![0x14; 1400]),
        server_kexinit: Bytes::from(vec![0x14; 1100]),
        session_id: None,
    }
}

fn host_key() -> PrivateKey {
    PrivateKey::ed25519_from_seed(&[42; 32])
}

/// The client's init message, the server's reply, and the fresh client state waiting for it.
fn init_and_reply(
    method: &'static KexMethod,
    key: &PrivateKey,
    rng: &mut ChaCha20Rng,
) -> (ClientKex, Message, Message) {
    let mut client = ClientKex::for_method(method, "ssh-ed25519", context());
    let init = client.start(rng).unwrap();
    let mut server = ServerKex::for_method(method, context());
    let mut sign_rng = ChaCha20Rng::seed_from_u64(3);
    let mut signer = KeySigner::new(key, "ssh-ed25519", &mut sign_rng).unwrap();
    let reply = match server.handle(&init, rng, &mut signer).unwrap() {
        ServerStep::Done { reply, .. } => *reply,
        other => panic!("{}: server not done: {other:?}", method.name),
    };
    (client, init, reply)
}

fn methods(c: &mut Criterion) {
    let key = host_key();
    for name in METHODS {
        let method = method_by_name(name).unwrap();
        let mut g = c.benchmark_group(format!("kex/{name}"));
        let mut rng = ChaCha20Rng::seed_from_u64(1);

        g.bench_function("client_start", |b| {
            b.iter(|| {
                let mut client = ClientKex::for_method(method, "ssh-ed25519", context());
                black_box(client.start(&mut rng).unwrap())
            });
        });

        let (_, init, _) = init_and_reply(method, &key, &mut rng);
        let mut sign_rng = ChaCha20Rng::seed_from_u64(3);
        g.bench_function("server_reply", |b| {
            b.iter(|| {
                let mut server = ServerKex::for_method(method, context());
                let mut signer = KeySigner::new(&key, "ssh-ed25519", &mut sign_rng).unwrap();
                black_box(server.handle(&init, &mut rng, &mut signer).unwrap())
            });
        });

        g.bench_function("client_finish", |b| {
            b.iter_batched(
                || {
                    let mut r = ChaCha20Rng::seed_from_u64(7);
                    let (client, _, reply) = init_and_reply(method, &key, &mut r);
                    (client, reply, r)
                },
                |(mut client, reply, mut r)| match client.handle(&reply, &mut r).unwrap() {
                    ClientStep::Done(out) => black_box(out),
                    other => panic!("client not done: {other:?}"),
                },
                BatchSize::SmallInput,
            );
        });
        g.finish();
    }
}

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("prim");
    let mut rng = ChaCha20Rng::seed_from_u64(9);

    g.bench_function("sntrup761 keygen", |b| {
        b.iter(|| black_box(sntrup761::generate_key(&mut rng)));
    });
    let (ek, dk) = sntrup761::generate_key(&mut rng);
    g.bench_function("sntrup761 encapsulate", |b| {
        b.iter(|| black_box(ek.encapsulate(&mut rng)));
    });
    let (ct, _) = ek.encapsulate(&mut rng);
    g.bench_function("sntrup761 decapsulate", |b| {
        b.iter(|| black_box(dk.decapsulate(&ct)));
    });

    {
        use ml_kem::MlKem768;
        use ml_kem::kem::{Decapsulate, Encapsulate};
        type Dk = ml_kem::DecapsulationKey<MlKem768>;
        g.bench_function("mlkem768 keygen", |b| {
            b.iter(|| {
                let seed = ml_kem::Seed::default();
                black_box(Dk::from_seed(seed))
            });
        });
        let dk = Dk::from_seed(ml_kem::Seed::default());
        let ek = dk.encapsulation_key().clone();
        g.bench_function("mlkem768 encapsulate", |b| {
            b.iter(|| black_box(ek.encapsulate_with_rng(&mut rng)));
        });
        let (ct, _) = ek.encapsulate_with_rng(&mut rng);
        g.bench_function("mlkem768 decapsulate", |b| {
            b.iter(|| black_box(dk.decapsulate(&ct)));
        });
    }

    g.bench_function("x25519 keygen", |b| {
        b.iter(|| {
            let s = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
            black_box(x25519_dalek::PublicKey::from(&s))
        });
    });
    let s = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
    let p = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::random_from_rng(&mut rng));
    g.bench_function("x25519 shared", |b| {
        b.iter(|| black_box(s.diffie_hellman(&p)));
    });

    // The exchange hash input of a hybrid method: versions, two KEXINITs, host key,
    // Q_C (sntrup761: 1190 bytes), Q_S (1071 bytes), K.
    let h_input = vec![0x5a_u8; 100 + 2500 + 51 + 1190 + 1071 + 68];
    g.bench_function("exchange hash sha512 (6 KB)", |b| {
        b.iter(|| black_box(KexHash::Sha512.digest(&h_input)));
    });
    g.bench_function("exchange hash sha256 (6 KB)", |b| {
        b.iter(|| black_box(KexHash::Sha256.digest(&h_input)));
    });

    let key = host_key();
    let mut sign_rng = ChaCha20Rng::seed_from_u64(3);
    let digest = [7u8; 64];
    g.bench_function("ed25519 sign H", |b| {
        b.iter(|| {
            let mut signer = KeySigner::new(&key, "ssh-ed25519", &mut sign_rng).unwrap();
            black_box(whelk_kex::HostKeySigner::sign(&mut signer, &digest).unwrap())
        });
    });
    g.finish();
}

criterion_group!(benches, primitives, methods);
criterion_main!(benches);
