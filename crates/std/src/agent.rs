//! ssh-agent identities for publickey authentication ([`crate::ClientConfig::agent`]):
//! each key the agent lists becomes a [`whelk::Signer`] that signs through the agent
//! (`SSH_AGENTC_SIGN_REQUEST` with the `rsa-sha2-256` / `rsa-sha2-512` flags for RSA
//! keys, draft-miller-ssh-agent §3.6), tried in the agent's order before the configured
//! keys, as `ssh` does.
//!
//! The agent is reached with whelk-agent's blocking [`UnixClient`]: a signature is one
//! round trip on a local socket, made from the connection's reader thread, with a
//! [`AGENT_TIMEOUT`] read limit so a stuck agent cannot hold the connection forever.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use whelk::Signer;
use whelk_agent::unix::UnixClient;
use whelk_keys::SigAlg;
use whelk_keys::cert::KeyOrCert;

use crate::error::{Error, Result};

/// Longest wait for one agent reply.
pub(crate) const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// One of an agent's identities; the connection to the agent is shared by all of them.
struct AgentIdentity {
    agent: Arc<Mutex<UnixClient>>,
    identity: KeyOrCert,
    blob: Vec<u8>,
}

impl std::fmt::Debug for AgentIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentIdentity")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Signer for AgentIdentity {
    fn identity(&self) -> &KeyOrCert {
        &self.identity
    }

    fn sign(
        &mut self,
        alg: SigAlg,
        data: &[u8],
    ) -> std::result::Result<Vec<u8>, whelk_keys::Error> {
        let signed = self
            .agent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sign(&self.blob, data, alg);
        match signed {
            Ok(sig) => Ok(sig.to_vec()),
            Err(_) => Err(whelk_keys::Error::CannotSign("the ssh-agent did not sign")),
        }
    }
}

/// Connects to the agent at `path` and returns a signer per identity it holds (keys and
/// certificates whelk cannot parse are skipped).
pub(crate) fn agent_signers(path: &Path) -> Result<Vec<Box<dyn Signer>>> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::Io(std::io::Error::other(format!(
            "ssh-agent at {}: {e}",
            path.display()
        )))
    };
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| failed(&e))?;
    stream
        .set_read_timeout(Some(AGENT_TIMEOUT))
        .map_err(|e| failed(&e))?;
    let mut client = UnixClient::from_stream(stream);
    let listed = client.identities().map_err(|e| failed(&e))?;
    let agent = Arc::new(Mutex::new(client));
    let mut signers: Vec<Box<dyn Signer>> = Vec::with_capacity(listed.len());
    for id in listed {
        if let Ok(identity) = id.key() {
            signers.push(Box::new(AgentIdentity {
                agent: agent.clone(),
                identity,
                blob: id.key_blob.to_vec(),
            }));
        }
    }
    Ok(signers)
}
