//! Host key checking for `whelk ssh`: the known_hosts files and options resolved for a
//! host, handed to the checker `whelk sftp` and `whelk scp` share ([`crate::common::hostkey`]).

use whelk_tokio::HostKeyPolicy;

use super::options::{self, Resolved};
use crate::common::hostkey::Settings;

/// What host keys of `r` are checked with (`UserKnownHostsFile` and
/// `GlobalKnownHostsFile` with their tokens expanded).
fn settings(r: &Resolved) -> Settings {
    let (user_files, global_files) = options::known_hosts_files(r);
    Settings::new(&r.cfg, &r.host, r.port, user_files, global_files)
}

/// The host key policy for a connection to `r` (`quiet`: `-q`, no "Permanently added").
pub(crate) fn policy(r: &Resolved, quiet: bool) -> HostKeyPolicy {
    let mut s = settings(r);
    s.quiet |= quiet;
    s.policy()
}

/// The host key algorithms of the keys known_hosts already has for `r` (best first, never
/// SHA-1 `ssh-rsa`), put first in the proposal when `HostKeyAlgorithms` is not set.
pub(crate) fn known_algorithms(r: &Resolved) -> Vec<String> {
    settings(r).known_algorithms()
}
