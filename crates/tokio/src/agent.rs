//! ssh-agent identities for publickey authentication ([`crate::ClientConfig::agent`]):
//! each key the agent lists becomes a [`whelk::Signer`] that signs through the agent
//! (with the `rsa-sha2-256` / `rsa-sha2-512` flags for RSA keys), tried in the agent's
//! order before the configured keys, as `ssh` does.
//!
//! The agent is reached with whelk-agent's blocking [`UnixClient`]: a signature is one
//! round trip on a local socket, made from the connection's driver task (with a 30 s read
//! limit, so a stuck agent cannot hold the connection forever).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use whelk::Signer;
use whelk_agent::unix::UnixClient;
use whelk_keys::SigAlg;
use whelk_keys::cert::KeyOrCert;

use crate::error::{Error, Result};

/// Longest wait for one agent reply.
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Signs with one of an agent's identities.
pub(crate) struct AgentSigner {
    agent: Arc<Mutex<UnixClient>>,
    identity: KeyOrCert,
    blob: Vec<u8>,
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

    fn sign(
        &mut self,
        alg: SigAlg,
        data: &[u8],
    ) -> std::result::Result<Vec<u8>, whelk_keys::Error> {
        let mut agent = self.agent.lock().unwrap_or_else(PoisonError::into_inner);
        agent
            .sign(&self.blob, data, alg)
            .map(|b| b.to_vec())
            .map_err(|_| whelk_keys::Error::CannotSign("the ssh-agent did not sign"))
    }
}

fn agent_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!(
        "ssh-agent at {}: {e}",
        path.display()
    )))
}

/// Connects to the agent at `path` and returns a signer per identity it holds (keys and
/// certificates it cannot parse are skipped).
pub(crate) async fn agent_signers(path: &Path) -> Result<Vec<Box<dyn Signer>>> {
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
                }) as Box<dyn Signer>)
            })
            .collect();
        Ok(signers)
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
}
