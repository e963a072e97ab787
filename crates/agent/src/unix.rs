//! The one I/O edge: a blocking agent client and server over std UNIX-domain sockets.
//!
//! [`UnixClient`] talks to any agent at `SSH_AUTH_SOCK` (or a given path). [`UnixServer`]
//! serves an [`Agent`] on a socket, one thread per connection plus a reaper thread that
//! removes keys whose lifetime has ended (once a second). Time for lifetimes is a monotonic
//! clock started with the server; randomness for signatures comes from the operating
//! system (a ChaCha20 generator seeded per request).
//!
//! The socket is created with mode 0600 and should live in a directory only the user can
//! enter (the example binary creates one with mode 0700, as `ssh-agent` does). Unlike
//! `ssh-agent`, the server does not check the connecting peer's uid (std has no stable
//! `SO_PEERCRED`); the directory's permissions are the access control.
//!
//! The key store is shared behind one mutex, held while a request is answered, including
//! while the confirm callback asks the user about a `ssh-add -c` key: other connections wait
//! for the answer (as they do with `ssh-agent`, which is single-threaded).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_core::SeedableRng;
use whelk_keys::SigAlg;
use whelk_wire::msg::SessionBind;
use zeroize::Zeroizing;

use crate::client::{Client, sign_flags};
use crate::error::{Error, Result};
use crate::proto::{
    AddIdentity, EXT_QUERY, EXT_SESSION_BIND, Identity, Request, Response, decode_query_reply,
};
use crate::server::{Agent, ConfirmRequest, Env, ServerConnection};

/// A blocking client connection to an agent's UNIX socket.
#[derive(Debug)]
pub struct UnixClient {
    stream: UnixStream,
    client: Client,
}

impl UnixClient {
    /// Connects to the agent named by `SSH_AUTH_SOCK`.
    pub fn connect_env() -> Result<Self> {
        let path = std::env::var_os("SSH_AUTH_SOCK").ok_or(Error::NoAuthSock)?;
        if path.is_empty() {
            return Err(Error::NoAuthSock);
        }
        Self::connect(Path::new(&path))
    }

    /// Connects to the agent socket at `path`.
    pub fn connect(path: &Path) -> Result<Self> {
        Ok(Self::from_stream(UnixStream::connect(path)?))
    }

    /// Uses an already connected stream.
    #[must_use]
    pub fn from_stream(stream: UnixStream) -> Self {
        Self {
            stream,
            client: Client::new(),
        }
    }

    /// Sends one request and waits for its reply.
    pub fn request(&mut self, request: &Request) -> Result<Response> {
        let frame = Zeroizing::new(self.client.request(request)?);
        self.stream.write_all(&frame)?;
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(resp) = self.client.poll_response()? {
                return Ok(resp);
            }
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.client.receive(buf.get(..n).unwrap_or_default())?;
        }
    }

    /// Lists the agent's identities (`ssh-add -L`).
    pub fn identities(&mut self) -> Result<Vec<Identity>> {
        self.request(&Request::RequestIdentities)?.into_identities()
    }

    /// Asks the agent to sign `data` with the identity `key_blob` using `alg` (which picks
    /// the RSA SHA-2 flags); returns the signature blob.
    pub fn sign(&mut self, key_blob: &[u8], data: &[u8], alg: SigAlg) -> Result<Bytes> {
        self.request(&Request::Sign {
            key_blob: Bytes::copy_from_slice(key_blob),
            data: Bytes::copy_from_slice(data),
            flags: sign_flags(alg),
        })?
        .into_signature()
    }

    /// Adds an identity (`ssh-add`).
    pub fn add(&mut self, add: AddIdentity) -> Result<()> {
        self.request(&Request::Add(Box::new(add)))?.into_success()
    }

    /// Removes one identity (`ssh-add -d`).
    pub fn remove(&mut self, key_blob: &[u8]) -> Result<()> {
        self.request(&Request::Remove {
            key_blob: Bytes::copy_from_slice(key_blob),
        })?
        .into_success()
    }

    /// Removes every identity (`ssh-add -D`).
    pub fn remove_all(&mut self) -> Result<()> {
        self.request(&Request::RemoveAll)?.into_success()
    }

    /// Locks the agent with a passphrase (`ssh-add -x`).
    pub fn lock(&mut self, passphrase: &[u8]) -> Result<()> {
        self.request(&Request::Lock {
            passphrase: Zeroizing::new(passphrase.to_vec()),
        })?
        .into_success()
    }

    /// Unlocks the agent (`ssh-add -X`).
    pub fn unlock(&mut self, passphrase: &[u8]) -> Result<()> {
        self.request(&Request::Unlock {
            passphrase: Zeroizing::new(passphrase.to_vec()),
        })?
        .into_success()
    }

    /// Asks which extensions the agent supports (the `query` extension).
    pub fn query_extensions(&mut self) -> Result<Vec<String>> {
        match self.request(&Request::Extension {
            name: Bytes::from_static(EXT_QUERY.as_bytes()),
            contents: Bytes::new(),
        })? {
            Response::ExtensionResponse(contents) => decode_query_reply(&contents),
            Response::Failure | Response::ExtensionFailure => Err(Error::Refused),
            _ => Err(Error::UnexpectedResponse(crate::proto::code::SUCCESS)),
        }
    }

    /// Binds this connection to an SSH session (`session-bind@openssh.com`).
    pub fn session_bind(&mut self, bind: &SessionBind) -> Result<()> {
        let mut contents = Vec::with_capacity(bind.encoded_len());
        bind.encode(&mut contents);
        self.request(&Request::Extension {
            name: Bytes::from_static(EXT_SESSION_BIND.as_bytes()),
            contents: Bytes::from(contents),
        })?
        .into_success()
    }
}

/// The confirmation callback a [`UnixServer`] uses (shared by its connection threads).
pub type SharedConfirm = Arc<dyn Fn(&ConfirmRequest) -> bool + Send + Sync>;

/// An agent served on a UNIX socket.
pub struct UnixServer {
    listener: UnixListener,
    path: PathBuf,
    agent: Arc<Mutex<Agent>>,
    confirm: SharedConfirm,
    start: Instant,
    stop: Arc<AtomicBool>,
}

impl core::fmt::Debug for UnixServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnixServer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn lock_agent(agent: &Mutex<Agent>) -> MutexGuard<'_, Agent> {
    agent.lock().unwrap_or_else(PoisonError::into_inner)
}

impl UnixServer {
    /// Creates the socket at `path` (which must not exist) with mode 0600, serving `agent`.
    /// Keys needing confirmation are refused until [`UnixServer::set_confirm`] is called.
    pub fn bind(path: &Path, agent: Agent) -> Result<Self> {
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let deny: SharedConfirm = Arc::new(|_: &ConfirmRequest| false);
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            agent: Arc::new(Mutex::new(agent)),
            confirm: deny,
            start: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Sets how the user is asked to confirm a use of a key added with `ssh-add -c`.
    pub fn set_confirm(&mut self, confirm: SharedConfirm) {
        self.confirm = confirm;
    }

    /// The socket path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shared key store (e.g. to load keys before serving).
    #[must_use]
    pub fn agent(&self) -> Arc<Mutex<Agent>> {
        Arc::clone(&self.agent)
    }

    /// Seconds since the server started: the time scale of its key lifetimes.
    #[must_use]
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    /// Serves until [`ServerHandle::stop`] (from [`UnixServer::spawn`]) or an accept error.
    pub fn serve(self) -> Result<()> {
        let reaper = {
            let agent = Arc::clone(&self.agent);
            let stop = Arc::clone(&self.stop);
            let start = self.start;
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    lock_agent(&agent).expire(start.elapsed().as_secs());
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        let result = self.accept_loop();
        self.stop.store(true, Ordering::SeqCst);
        let _ = reaper.join();
        let _ = std::fs::remove_file(&self.path);
        result
    }

    fn accept_loop(&self) -> Result<()> {
        // Non-blocking accept polled every 50 ms, so a stop request is noticed even when the
        // socket path is gone (no wake-up connection needed).
        self.listener.set_nonblocking(true)?;
        while !self.stop.load(Ordering::SeqCst) {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            stream.set_nonblocking(false)?;
            let agent = Arc::clone(&self.agent);
            let confirm = Arc::clone(&self.confirm);
            let start = self.start;
            std::thread::spawn(move || {
                let _ = serve_connection(stream, &agent, &confirm, start);
            });
        }
        Ok(())
    }

    /// Serves on a background thread; the handle stops it.
    pub fn spawn(self) -> ServerHandle {
        let stop = Arc::clone(&self.stop);
        let path = self.path.clone();
        let thread = std::thread::spawn(move || self.serve());
        ServerHandle {
            stop,
            path,
            thread: Some(thread),
        }
    }
}

/// Stops a spawned [`UnixServer`] (also on drop).
#[derive(Debug)]
pub struct ServerHandle {
    stop: Arc<AtomicBool>,
    path: PathBuf,
    thread: Option<JoinHandle<Result<()>>>,
}

impl ServerHandle {
    /// The socket path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting connections, removes the socket and waits for the server thread
    /// (connections already open are served until their clients close them).
    pub fn stop(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn serve_connection(
    mut stream: UnixStream,
    agent: &Mutex<Agent>,
    confirm: &SharedConfirm,
    start: Instant,
) -> Result<()> {
    let mut conn = ServerConnection::new();
    let mut buf = Zeroizing::new([0u8; 16 * 1024]);
    let mut confirm_fn = |r: &ConfirmRequest| confirm(r);
    loop {
        let n = stream.read(buf.as_mut())?;
        if n == 0 {
            return Ok(());
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|_| Error::Random)?;
        let mut rng = chacha20::ChaCha20Rng::from_seed(*seed);
        {
            let mut guard = lock_agent(agent);
            let mut env = Env {
                now: start.elapsed().as_secs(),
                rng: &mut rng,
                confirm: &mut confirm_fn,
            };
            conn.receive(&mut guard, buf.get(..n).unwrap_or_default(), &mut env)?;
        }
        let out = conn.take_output();
        if !out.is_empty() {
            stream.write_all(&out)?;
        }
    }
}
