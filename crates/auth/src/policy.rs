//! [`AuthorizedKeysPolicy`]: sshd's publickey rules as a ready-made responder.

use alloc::vec::Vec;
use core::net::IpAddr;

use whelk_keys::authorized_keys::AuthorizedKeys;
use whelk_keys::cert::{CertType, KeyOrCert};
use whelk_keys::{PublicKey, VerifyPolicy};

use crate::server::{AuthRequest, Decision, Grant, RequestKind};

/// Decides `publickey` requests the way sshd does with an `authorized_keys` file and
/// `TrustedUserCAKeys`:
///
/// - a plain key must be on a non-`cert-authority` line that is not expired
///   (`expiry-time`) and whose `from=` admits the client address (when known);
/// - a certificate must be a valid user certificate at `now` (CA signature, validity window,
///   no unknown critical option, `source-address` when the address is known) signed by a
///   trusted CA (principal must be the user) or by a `cert-authority` line (principal must
///   be the user, or one of the line's `principals=`).
///
/// Every other request is rejected; the decision carries the line's options and the
/// certificate so that the session can enforce them.
#[derive(Debug, Clone, Default)]
pub struct AuthorizedKeysPolicy {
    keys: AuthorizedKeys,
    trusted_cas: Vec<PublicKey>,
    client_addr: Option<IpAddr>,
    verify: VerifyPolicy,
}

impl AuthorizedKeysPolicy {
    /// A policy over the text of an `authorized_keys` file (bad lines are skipped).
    #[must_use]
    pub fn new(authorized_keys: &str) -> Self {
        Self {
            keys: AuthorizedKeys::parse(authorized_keys),
            ..Self::default()
        }
    }

    /// Trusts `ca` for user certificates (`TrustedUserCAKeys`).
    #[must_use]
    pub fn with_trusted_ca(mut self, ca: PublicKey) -> Self {
        self.trusted_cas.push(ca);
        self
    }

    /// The client's address, for `from=` and `source-address`.
    #[must_use]
    pub fn with_client_addr(mut self, addr: IpAddr) -> Self {
        self.client_addr = Some(addr);
        self
    }

    /// The policy for certificate signatures.
    #[must_use]
    pub fn with_verify_policy(mut self, policy: VerifyPolicy) -> Self {
        self.verify = policy;
        self
    }

    /// The parsed file.
    #[must_use]
    pub fn authorized_keys(&self) -> &AuthorizedKeys {
        &self.keys
    }

    /// Decides `request` at `now_unix` (seconds since the Unix epoch).
    #[must_use]
    pub fn decide(&self, request: &AuthRequest, now_unix: u64) -> Decision {
        match &request.kind {
            RequestKind::PublicKey { key, .. } => self.decide_key(&request.user, key, now_unix),
            _ => Decision::Reject,
        }
    }

    fn decide_key(&self, user: &str, key: &KeyOrCert, now: u64) -> Decision {
        match key {
            KeyOrCert::Key(k) => match self.keys.find(k) {
                Some(line)
                    if !line.options.is_expired(now)
                        && self
                            .client_addr
                            .is_none_or(|a| line.options.permits_source(None, Some(a))) =>
                {
                    Decision::Accept(Grant {
                        options: Some(line.options.clone()),
                        certificate: None,
                    })
                }
                _ => Decision::Reject,
            },
            KeyOrCert::Certificate(cert) => {
                if cert
                    .validate(now, CertType::User, None, &self.verify)
                    .is_err()
                {
                    return Decision::Reject;
                }
                if let Some(addr) = self.client_addr
                    && cert.check_source_address(addr).is_err()
                {
                    return Decision::Reject;
                }
                let ca = cert.signature_key();
                let lists_user = cert.principals().iter().any(|p| p == user);
                if self.trusted_cas.iter().any(|t| t == ca) {
                    return if lists_user {
                        Decision::Accept(Grant {
                            options: None,
                            certificate: Some((**cert).clone()),
                        })
                    } else {
                        Decision::Reject
                    };
                }
                let Some(line) = self.keys.find_ca(ca) else {
                    return Decision::Reject;
                };
                let principal_ok = match &line.options.principals {
                    Some(allowed) => cert.principals().iter().any(|p| allowed.contains(p)),
                    None => lists_user,
                };
                let source_ok = self
                    .client_addr
                    .is_none_or(|a| line.options.permits_source(None, Some(a)));
                if principal_ok && source_ok && !line.options.is_expired(now) {
                    Decision::Accept(Grant {
                        options: Some(line.options.clone()),
                        certificate: Some((**cert).clone()),
                    })
                } else {
                    Decision::Reject
                }
            }
        }
    }
}
