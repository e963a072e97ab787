//! `--passwd-file`: `user:hash` lines (further `:`-separated fields, as in a shadow file, are
//! ignored) with the hash in crypt(3) form: `$6$` SHA-512-crypt, `$5$` SHA-256-crypt,
//! `$y$` yescrypt, or PHC `$argon2id$` (also `$argon2i$`, `$argon2d$`).
//!
//! Verification compares in constant time (each hash crate's `ct_eq`), and a user with no
//! entry (or a locked one: `!`, `*`, empty) goes through a hash computation as well, so the
//! answer time does not tell known and unknown users apart.

use std::collections::BTreeMap;
use std::path::Path;

use sha_crypt::PasswordVerifier as _;

/// A password hash of a supported kind.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Hash(String);

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The scheme only: hashes stay out of logs.
        f.write_str(self.0.split('$').nth(1).unwrap_or("?"))
    }
}

/// Which crate checks a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    ShaCrypt,
    Yescrypt,
    Argon2,
}

fn scheme(hash: &str) -> Option<Scheme> {
    let id = hash.strip_prefix('$')?.split('$').next()?;
    Some(match id {
        "5" | "6" => Scheme::ShaCrypt,
        "y" => Scheme::Yescrypt,
        "argon2id" | "argon2i" | "argon2d" => Scheme::Argon2,
        _ => return None,
    })
}

/// A hash of a password nobody knows, checked for users without an entry so that their
/// attempts cost the same (rounds=5000, the default).
const DUMMY: &str = "$6$whelkdummysalt$PADEhpuyfkljdHYOa1JD46puJm0u1sa7BKonlNtxAcl7mRAe0NqZ2CejdvHVi9Y55yYRxU8BmaU6qiS7Tp40t/";

impl Hash {
    /// Whether `password` matches, compared in constant time.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        let h = self.0.as_str();
        match scheme(h) {
            Some(Scheme::ShaCrypt) => sha_crypt::ShaCrypt::default()
                .verify_password(password, h)
                .is_ok(),
            Some(Scheme::Yescrypt) => yescrypt::Yescrypt::default()
                .verify_password(password, h)
                .is_ok(),
            Some(Scheme::Argon2) => argon2::Argon2::default()
                .verify_password(password, h)
                .is_ok(),
            None => false,
        }
    }
}

/// The parsed file: user name to hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct PasswdFile {
    users: BTreeMap<String, Hash>,
}

impl PasswdFile {
    /// Parses the text; bad lines are reported (by number) and skipped.
    pub(crate) fn parse(text: &str) -> (Self, Vec<String>) {
        let mut users = BTreeMap::new();
        let mut errors = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split(':');
            let (Some(user), Some(hash)) = (fields.next(), fields.next()) else {
                errors.push(format!("line {}: expected user:hash", n + 1));
                continue;
            };
            if user.is_empty() {
                errors.push(format!("line {}: empty user name", n + 1));
                continue;
            }
            if scheme(hash).is_none() && !matches!(hash, "" | "*" | "!" | "!!" | "x") {
                errors.push(format!(
                    "line {}: unsupported hash for {user} (use $6$, $5$, $y$ or $argon2id$)",
                    n + 1
                ));
                continue;
            }
            // The first entry of a user wins.
            users
                .entry(user.to_owned())
                .or_insert_with(|| Hash(hash.to_owned()));
        }
        (Self { users }, errors)
    }

    /// Reads and parses a file.
    pub(crate) fn load(path: &Path) -> Result<(Self, Vec<String>), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self::parse(&text))
    }

    /// Whether `user` has a usable (not locked) entry.
    pub(crate) fn has_user(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|h| scheme(&h.0).is_some())
    }

    /// Checks `user`'s password. Users without an entry are checked against a dummy hash
    /// (and fail), so that the time taken does not depend on whether the user exists.
    pub(crate) fn verify(&self, user: &str, password: &[u8]) -> bool {
        match self.users.get(user).filter(|h| scheme(&h.0).is_some()) {
            Some(h) => h.verify(password),
            None => {
                let _ = Hash(DUMMY.to_owned()).verify(password);
                false
            }
        }
    }
}

/// A SHA-512-crypt hash of `password` with a random salt (for `--hash-password`).
pub(crate) fn hash_sha512(password: &[u8]) -> Result<String, String> {
    use sha_crypt::PasswordHasher as _;
    let mut salt = [0u8; 12];
    getrandom::fill(&mut salt).map_err(|e| format!("getrandom: {e}"))?;
    sha_crypt::ShaCrypt::SHA512
        .hash_password_with_salt(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drepper_sha512_vector() {
        // From "Unix crypt using SHA-256 and SHA-512" (U. Drepper), test vector 1.
        let line = "bob:$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        let (f, errors) = PasswdFile::parse(line);
        assert!(errors.is_empty());
        assert!(f.verify("bob", b"Hello world!"));
        assert!(!f.verify("bob", b"Hello world"));
        assert!(!f.verify("alice", b"Hello world!"));
    }

    #[test]
    fn drepper_sha256_vector() {
        let (f, _) =
            PasswdFile::parse("bob:$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5");
        assert!(f.verify("bob", b"Hello world!"));
        assert!(!f.verify("bob", b"hello world!"));
    }

    #[test]
    fn generated_hash_round_trip() {
        let h = hash_sha512(b"hunter2").unwrap();
        assert!(h.starts_with("$6$"));
        let (f, _) = PasswdFile::parse(&format!("me:{h}:19000:0:99999:7:::\n"));
        assert!(f.has_user("me"));
        assert!(f.verify("me", b"hunter2"));
        assert!(!f.verify("me", b"hunter3"));
    }

    #[test]
    fn argon2_and_yescrypt() {
        use argon2::PasswordHasher as _;
        let h = argon2::Argon2::default()
            .hash_password_with_salt(b"pw", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(h.starts_with("$argon2id$"));
        let (f, _) = PasswdFile::parse(&format!("a:{h}"));
        assert!(f.verify("a", b"pw") && !f.verify("a", b"px"));

        let h = yescrypt::Yescrypt::default()
            .hash_password_with_salt(b"pw", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(h.starts_with("$y$"));
        let (f, _) = PasswdFile::parse(&format!("y:{h}"));
        assert!(f.verify("y", b"pw") && !f.verify("y", b"px"));
    }

    #[test]
    fn locked_and_bad_lines() {
        let (f, errors) = PasswdFile::parse("# comment\nlocked:!\nstar:*\nbad\nmd5:$1$abc$def\n");
        assert!(!f.has_user("locked") && !f.has_user("star"));
        assert!(!f.verify("locked", b""));
        assert_eq!(errors.len(), 2);
        assert!(format!("{:?}", Hash("$6$x$y".into())).eq("6"));
    }
}
