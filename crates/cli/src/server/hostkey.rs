//! Host keys: loading the configured files, or generating an Ed25519 key on first run in the
//! user's state directory (`$XDG_STATE_HOME/whelk/` or `~/.local/state/whelk/`) and reusing it
//! afterwards.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use whelk_keys::{HashAlg, PrivateKey};

/// File name of the generated host key inside the state directory.
pub(crate) const GENERATED_KEY_NAME: &str = "ssh_host_ed25519_key";

/// The user's state directory for whelk: `$XDG_STATE_HOME/whelk` (when absolute), else
/// `$HOME/.local/state/whelk`.
pub(crate) fn state_dir(home: &Path) -> PathBuf {
    match std::env::var_os("XDG_STATE_HOME") {
        Some(x) if Path::new(&x).is_absolute() => PathBuf::from(x).join("whelk"),
        _ => home.join(".local/state/whelk"),
    }
}

/// Reads an OpenSSH private key file (unencrypted).
pub(crate) fn load(path: &Path) -> Result<PrivateKey, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    PrivateKey::from_openssh(&text, None).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads `path`, or generates an Ed25519 key there (mode 0600, directory 0700) when it does
/// not exist yet. Returns the key and whether it was generated now.
pub(crate) fn load_or_generate(path: &Path) -> Result<(PrivateKey, bool), String> {
    if path.exists() {
        return load(path).map(|k| (k, false));
    }
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // An Ed25519 private key is 32 random bytes (RFC 8032 §5.1.5).
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|e| format!("getrandom: {e}"))?;
    let mut key = PrivateKey::ed25519_from_seed(&seed);
    key.set_comment(format!("whelk server host key ({})", hostname()));
    let text = key.to_openssh().map_err(|e| e.to_string())?;
    // create_new: never overwrite a key another server generated in the meantime.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let public = path.with_extension("pub");
    let _ = fs::write(&public, key.public_key().to_openssh(key.comment()) + "\n");
    Ok((key, true))
}

/// Warns when a private key file is accessible to other users (sshd refuses such keys).
pub(crate) fn check_permissions(path: &Path) {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "host key {} is accessible to other users (mode {:o}): chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

/// The SHA-256 fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
pub(crate) fn fingerprint(key: &PrivateKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/whelk").join(GENERATED_KEY_NAME);
        let (k1, new1) = load_or_generate(&path).unwrap();
        let (k2, new2) = load_or_generate(&path).unwrap();
        assert!(new1 && !new2);
        assert_eq!(fingerprint(&k1), fingerprint(&k2));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        assert!(fingerprint(&k1).starts_with("SHA256:"));
    }
}
