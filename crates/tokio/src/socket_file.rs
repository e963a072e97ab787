//! UNIX socket files this process binds for forwarding (`ssh -L` to a path,
//! `streamlocal-forward@openssh.com`, agent sockets): created with mode 0600 and removed
//! when the listener stops, but only while the path still names that very socket.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

/// A UNIX socket file bound here, remembered by device and inode. It is removed only while
/// its path still names that socket: never a socket bound at the same path later (a newer
/// forward of the path, here or on another connection with `StreamLocalBindUnlink`), nor
/// any other file put there since.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// The socket's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the path still names the socket we bound.
    pub(crate) fn is_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && m.dev() == self.dev && m.ino() == self.ino)
    }

    /// Removes the path if it still names the socket we bound.
    pub(crate) fn remove_if_ours(&self) {
        if self.is_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds a UNIX socket only its owner may connect to (mode 0600, as sshd's and ssh's
/// default `StreamLocalBindMask 0177`). With `unlink`, a stale socket at `path` is removed
/// first (`StreamLocalBindUnlink`); other files are never removed.
pub(crate) fn bind_unix(path: &Path, unlink: bool) -> std::io::Result<(UnixListener, SocketFile)> {
    if unlink && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let m = std::fs::symlink_metadata(path).inspect_err(|_| {
        // The socket just bound, which could not be looked at: do not leave it behind.
        let _ = std::fs::remove_file(path);
    })?;
    let file = SocketFile {
        path: path.to_path_buf(),
        dev: m.dev(),
        ino: m.ino(),
    };
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        file.remove_if_ours();
        return Err(e);
    }
    Ok((listener, file))
}
