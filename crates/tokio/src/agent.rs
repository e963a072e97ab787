//! ssh-agent identities for publickey authentication ([`crate::ClientConfig::agent`]):
//! each key the agent lists becomes a [`whelk::Signer`] that signs through the agent
//! (with the `rsa-sha2-256` / `rsa-sha2-512` flags for RSA keys), tried in the agent's
//! order before the configured keys, as `ssh` does.
//!
//! The agent is reached with whelk-agent's blocking [`UnixClient`] on tokio's blocking
//! pool: a signature is one round trip on a local socket (with a 30 s read limit, so a
//! stuck agent cannot hold authentication forever). The driver task never waits for it:
//! [`Signer::poll_sign`] starts the request and answers `Pending`, and the request wakes
//! the driver when the agent has answered, so the connection keeps serving its timers
//! (and, on a single-threaded runtime, every other task keeps running) meanwhile.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;

use whelk::Signer;
use whelk_agent::unix::UnixClient;
use whelk_keys::SigAlg;
use whelk_keys::cert::KeyOrCert;

use crate::error::{Error, Result};

/// Longest wait for one agent reply.
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

type SignResult = std::result::Result<Vec<u8>, whelk_keys::Error>;

/// Wakes the connection's driver task once an agent answer is in; set when the driver's
/// shared state exists (after the signers were made).
#[derive(Clone, Default)]
pub(crate) struct DriverWake(Arc<OnceLock<Box<dyn Fn() + Send + Sync>>>);

impl DriverWake {
    /// Sets what waking does (only the first call counts).
    pub(crate) fn set(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(wake));
    }

    fn wake(&self) {
        if let Some(wake) = self.0.get() {
            wake();
        }
    }
}

/// A signature request on its way to the agent.
struct InFlight {
    alg: SigAlg,
    data: Vec<u8>,
    answer: oneshot::Receiver<SignResult>,
}

/// Signs with one of an agent's identities.
pub(crate) struct AgentSigner {
    agent: Arc<Mutex<UnixClient>>,
    identity: KeyOrCert,
    blob: Vec<u8>,
    wake: DriverWake,
    in_flight: Option<InFlight>,
}

fn agent_sign(agent: &Mutex<UnixClient>, blob: &[u8], alg: SigAlg, data: &[u8]) -> SignResult {
    let mut agent = agent.lock().unwrap_or_else(PoisonError::into_inner);
    agent
        .sign(blob, data, alg)
        .map(|b| b.to_vec())
        .map_err(|_| whelk_keys::Error::CannotSign("the ssh-agent did not sign"))
}

impl std::fmt::Debug for AgentSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSigner")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Signer for AgentSigner {
    fn identity(&self) -> &KeyOrCert {
        &self.identity
    }

    /// Blocks for the agent's answer (see [`Signer::poll_sign`] for the driver's way).
    fn sign(&mut self, alg: SigAlg, data: &[u8]) -> SignResult {
        agent_sign(&self.agent, &self.blob, alg, data)
    }

    fn poll_sign(&mut self, alg: SigAlg, data: &[u8]) -> Poll<SignResult> {
        if let Some(f) = self.in_flight.as_mut()
            && f.alg == alg
            && f.data == data
        {
            return match f.answer.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => Poll::Pending,
                Ok(answer) => {
                    self.in_flight = None;
                    Poll::Ready(answer)
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.in_flight = None;
                    Poll::Ready(Err(whelk_keys::Error::CannotSign(
                        "the ssh-agent request was lost",
                    )))
                }
            };
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime there is no driver to keep going: just wait.
            return Poll::Ready(self.sign(alg, data));
        };
        let (tx, answer) = oneshot::channel();
        let (agent, blob, wake) = (self.agent.clone(), self.blob.clone(), self.wake.clone());
        let request = data.to_vec();
        runtime.spawn_blocking(move || {
            let _ = tx.send(agent_sign(&agent, &blob, alg, &request));
            wake.wake();
        });
        self.in_flight = Some(InFlight {
            alg,
            data: data.to_vec(),
            answer,
        });
        Poll::Pending
    }
}

fn agent_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!(
        "ssh-agent at {}: {e}",
        path.display()
    )))
}

/// Connects to the agent at `path` and returns a signer per identity it holds (keys and
/// certificates it cannot parse are skipped). Their answers wake the driver through `wake`.
pub(crate) async fn agent_signers(path: &Path, wake: DriverWake) -> Result<Vec<Box<dyn Signer>>> {
    let path: PathBuf = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let stream =
            std::os::unix::net::UnixStream::connect(&path).map_err(|e| agent_error(&path, e))?;
        stream
            .set_read_timeout(Some(AGENT_TIMEOUT))
            .map_err(|e| agent_error(&path, e))?;
        let mut client = UnixClient::from_stream(stream);
        let ids = client.identities().map_err(|e| agent_error(&path, e))?;
        let agent = Arc::new(Mutex::new(client));
        let signers = ids
            .into_iter()
            .filter_map(|id| {
                let identity = id.key().ok()?;
                Some(Box::new(AgentSigner {
                    agent: agent.clone(),
                    identity,
                    blob: id.key_blob.to_vec(),
                    wake: wake.clone(),
                    in_flight: None,
                }) as Box<dyn Signer>)
            })
            .collect();
        Ok(signers)
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
}
