//! User enumeration by timing (security catalog A10): does the time a password failure takes
//! tell a known user from an unknown one?
//!
//! Two whelk-tokio servers on loopback share everything, the per-user jitter key included;
//! one knows the user `alice` and checks her password (about 1 ms of hashing), the other
//! knows nobody and refuses at once. That handler is the naive one on purpose: it does less
//! work for an unknown user, the difference the failure delay (5 ms plus a per-user jitter of
//! up to 4.2 ms, held from the request's arrival) has to hide. A wire-level client times
//! each `password` request for `alice` until its `USERAUTH_FAILURE`, alternating between the
//! two servers, five attempts per connection, and Welch's t-test compares the two samples.
//!
//! A second row runs the same with the failure delay switched off: the hashing difference
//! must then show (p far below 0.01), which proves that the measurement can see it.
//!
//! ```text
//! cargo bench -p whelk-test --bench auth_timing              # 1000 failures per server
//! cargo bench -p whelk-test --bench auth_timing -- 300
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    missing_docs
)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng, SeedableRng};
use whelk::{AuthRequest, Decision, PrivateKey, RequestKind};
use whelk_tokio::{Exit, Handler, ServerConfig, ServerSession};
use whelk_transport::{ClientConfig, Connection, Event, HostKeyDecision};

const USER: &str = "alice";
const PASSWORD: &[u8] = b"correct horse battery staple";
/// Password attempts per connection (the server allows six failures).
const PER_CONNECTION: usize = 5;

/// `alice`'s password check when the server knows her: a fixed amount of keystream, about
/// a millisecond, standing in for a password hash.
fn check_password(password: &[u8]) -> bool {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..2 {
        rng.fill_bytes(&mut buf);
    }
    std::hint::black_box(&buf);
    password == PASSWORD
}

/// Knows `alice` or nobody.
struct Naive {
    knows_alice: bool,
}

impl Handler for Naive {
    async fn auth(&self, request: &AuthRequest) -> Decision {
        match &request.kind {
            RequestKind::Password { password, .. }
                if self.knows_alice && request.user == USER && check_password(password) =>
            {
                Decision::Accept(whelk::Grant::default())
            }
            _ => Decision::Reject,
        }
    }

    async fn exec(&self, _command: String, _session: ServerSession) -> Exit {
        Exit::Code(0)
    }
}

/// A `password` USERAUTH_REQUEST (RFC 4252 §8).
fn password_request(password: &[u8]) -> Bytes {
    let mut p = BytesMut::new();
    p.put_u8(50);
    for s in [USER.as_bytes(), b"ssh-connection", b"password"] {
        p.put_u32(u32::try_from(s.len()).unwrap());
        p.put_slice(s);
    }
    p.put_u8(0);
    p.put_u32(u32::try_from(password.len()).unwrap());
    p.put_slice(password);
    p.freeze()
}

/// A blocking client connection over loopback TCP.
struct Client {
    conn: Connection,
    socket: TcpStream,
    buf: Vec<u8>,
    out: BytesMut,
}

impl Client {
    fn connect(port: u16, seed: u64) -> Self {
        let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket.set_nodelay(true).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let conn = Connection::client(
            ClientConfig::default(),
            Box::new(ChaCha20Rng::seed_from_u64(seed)),
            Instant::now(),
        )
        .unwrap();
        let mut c = Self {
            conn,
            socket,
            buf: vec![0u8; 64 * 1024],
            out: BytesMut::new(),
        };
        c.until(|conn, ev| match ev {
            Event::HostKey(check) => {
                conn.respond(check, HostKeyDecision::Accept).unwrap();
                false
            }
            Event::KexDone(_) => {
                conn.request_service("ssh-userauth").unwrap();
                false
            }
            Event::ServiceAccepted(_) => true,
            _ => false,
        });
        c
    }

    fn flush(&mut self) {
        self.out.clear();
        if self.conn.poll_transmit(Instant::now(), &mut self.out) > 0 {
            self.socket.write_all(&self.out).unwrap();
        }
    }

    /// Runs the connection until `done` says so.
    fn until(&mut self, mut done: impl FnMut(&mut Connection, Event) -> bool) {
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < Duration::from_secs(30), "timed out");
            self.flush();
            while let Some(ev) = self.conn.poll_event() {
                if let Event::Disconnected { description, .. } = &ev {
                    panic!("disconnected: {description}");
                }
                if done(&mut self.conn, ev) {
                    self.flush();
                    return;
                }
            }
            self.flush();
            match self.socket.read(&mut self.buf) {
                Ok(0) => panic!("connection closed"),
                Ok(n) => {
                    let mut data = &self.buf[..n];
                    while !data.is_empty() {
                        let used = self.conn.handle_input(Instant::now(), data).unwrap();
                        data = &data[used..];
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    let now = Instant::now();
                    if self.conn.poll_timeout().is_some_and(|t| t <= now) {
                        self.conn.handle_timeout(now);
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Sends a wrong password and returns the time until USERAUTH_FAILURE.
    fn fail_once(&mut self, attempt: u64) -> Duration {
        let wrong = format!("wrong password {attempt}");
        self.conn
            .send_payload(password_request(wrong.as_bytes()))
            .unwrap();
        let sent = Instant::now();
        self.flush();
        self.until(|_, ev| match ev {
            Event::Payload(p) if p.first() == Some(&51) => true,
            Event::Payload(p) => panic!("unexpected message {:?}", p.first()),
            _ => false,
        });
        sent.elapsed()
    }
}

struct Servers {
    known: u16,
    unknown: u16,
    _runtime: tokio::runtime::Runtime,
}

/// Two servers with one jitter key; `failure_delay` replaces the default when given.
fn start_servers(failure_delay: Option<Duration>) -> Servers {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let jitter_key = [3u8; 32];
    let mut ports = Vec::new();
    for knows_alice in [true, false] {
        let mut config = ServerConfig::new(vec![PrivateKey::ed25519_from_seed(&[5; 32])]);
        config.ssh.auth.jitter_key = jitter_key;
        if let Some(delay) = failure_delay {
            config.ssh.auth.failure_delay = delay;
        }
        // Hundreds of failed logins from one address are the point here.
        config.per_source_penalties = whelk_tokio::PerSourcePenalties::disabled();
        let server = runtime
            .block_on(whelk_tokio::listen(
                "127.0.0.1:0",
                config,
                Naive { knows_alice },
            ))
            .unwrap();
        ports.push(server.local_addr().port());
        // The server runs until the runtime is dropped.
        std::mem::forget(server);
    }
    Servers {
        known: ports[0],
        unknown: ports[1],
        _runtime: runtime,
    }
}

/// Mean and sample variance.
fn moments(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Complementary error function (W. J. Cody's rational approximation via erfc(x) =
/// t·exp(-x² + P(t)), Numerical Recipes' `erfcc`, relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Welch's t statistic, its degrees of freedom, and the two-sided p-value. With the
/// hundreds of degrees of freedom here the t distribution is the normal one to within
/// the noise, so p = erfc(|t|/√2).
fn welch(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let (ma, va) = moments(a);
    let (mb, vb) = moments(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let se2 = va / na + vb / nb;
    let t = (ma - mb) / se2.sqrt();
    let df = se2.powi(2) / ((va / na).powi(2) / (na - 1.0) + (vb / nb).powi(2) / (nb - 1.0));
    (t, df, erfc(t.abs() / std::f64::consts::SQRT_2))
}

fn row(label: &str, failure_delay: Option<Duration>, failures: usize) {
    let servers = start_servers(failure_delay);
    let mut known = Vec::with_capacity(failures);
    let mut unknown = Vec::with_capacity(failures);
    let mut seed = 0u64;
    while known.len() < failures {
        // Alternate connection by connection, so that drifts in machine load hit both.
        let mut a = Client::connect(servers.known, seed);
        let mut b = Client::connect(servers.unknown, seed + 1);
        for i in 0..PER_CONNECTION {
            known.push(a.fail_once(seed + i as u64).as_secs_f64() * 1e3);
            unknown.push(b.fail_once(seed + i as u64).as_secs_f64() * 1e3);
        }
        seed += 2;
    }
    let (t, df, p) = welch(&known, &unknown);
    let (mk, vk) = moments(&known);
    let (mu, vu) = moments(&unknown);
    println!(
        "{label:<24} {n:>5} {mk:>8.3} {sk:>6.3} {mu:>8.3} {su:>6.3} {t:>8.2} {df:>7.0} {p:>9.3e} {verdict}",
        n = known.len(),
        sk = vk.sqrt(),
        su = vu.sqrt(),
        verdict = if p > 0.01 {
            "same (p > 0.01)"
        } else {
            "DIFFERENT"
        },
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a number sets the failures per server.
    let failures = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(1000);
    println!(
        "{:<24} {:>5} {:>8} {:>6} {:>8} {:>6} {:>8} {:>7} {:>9}",
        "failure delay", "n", "known ms", "sd", "unkn ms", "sd", "t", "df", "p"
    );
    row("default (5 ms + jitter)", None, failures);
    row("off (control)", Some(Duration::ZERO), failures);
}
