//! Shared helpers for the integration tests: fixtures and running the real `ssh-keygen`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `testdata/keys` directory.
pub(crate) fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/keys")
}

/// Reads a fixture from `testdata/keys`.
pub(crate) fn fixture(name: &str) -> String {
    std::fs::read_to_string(keys_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The ssh-keygen binary. Tests that need it FAIL (never skip) when it is missing.
pub(crate) fn ssh_keygen_path() -> PathBuf {
    let p = PathBuf::from("/usr/bin/ssh-keygen");
    assert!(
        p.exists(),
        "ssh-keygen is required for the OpenSSH interop tests (apt-get install openssh-client)"
    );
    p
}

/// Runs ssh-keygen with `args`, panicking with its stderr if it fails.
pub(crate) fn ssh_keygen(args: &[&str]) -> Output {
    let out = ssh_keygen_raw(args);
    assert!(
        out.status.success(),
        "ssh-keygen {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Runs ssh-keygen with `args` and returns its output whatever the status.
pub(crate) fn ssh_keygen_raw(args: &[&str]) -> Output {
    Command::new(ssh_keygen_path())
        .args(args)
        .output()
        .expect("run ssh-keygen")
}

/// stdout as a String.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A deterministic RNG for tests.
pub(crate) fn rng(seed: u8) -> chacha20::ChaCha20Rng {
    use rand_core::SeedableRng;
    chacha20::ChaCha20Rng::from_seed([seed; 32])
}

/// Writes `contents` to `dir/name` with mode 0600 (ssh-keygen refuses group-readable keys).
pub(crate) fn write_private(dir: &Path, name: &str, contents: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// Fixture base names of the ssh-keygen generated keys (plain and `_enc` variants exist).
pub(crate) const KEY_NAMES: &[&str] = &[
    "ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa3072",
];

/// The passphrase of every encrypted fixture.
pub(crate) const PASSPHRASE: &[u8] = b"correct horse";
