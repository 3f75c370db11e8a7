//! The SASL users file: per user, a SCRAM-SHA-256 and a SCRAM-SHA-512 credential (salt,
//! iterations, StoredKey, ServerKey; base64), never the password. `logferry broker user
//! add|remove NAME` writes it (tmp + fsync + rename); the broker rereads it with the ACLs.
//! PLAIN logins are checked against the same credentials.

use super::scram::{self, Credential, Hash};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const HEADER: &str = "# logferry SASL users: SCRAM credentials (RFC 5802), never a password.\n\
# Managed by `logferry broker user add|remove NAME`; reread by the broker with its ACLs.\n\n";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("user name {0:?}: use 1-255 printable characters, no spaces")]
    BadName(String),
    #[error("the password must not be empty")]
    EmptyPassword,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct StoredCredential {
    salt: String,
    iterations: u32,
    stored_key: String,
    server_key: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct StoredUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scram_sha_256: Option<StoredCredential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scram_sha_512: Option<StoredCredential>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    user: BTreeMap<String, StoredUser>,
}

/// The users, decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    users: BTreeMap<String, (Option<Credential>, Option<Credential>)>,
}

impl Credentials {
    pub fn scram(&self, user: &str, hash: Hash) -> Option<Credential> {
        let (a, b) = self.users.get(user)?;
        match hash {
            Hash::Sha256 => a.clone(),
            Hash::Sha512 => b.clone(),
        }
    }

    /// SASL/PLAIN: the password checked against the user's SHA-512 credential, else its
    /// SHA-256 one. Costs one PBKDF2 (run it off the async workers).
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        match self.users.get(user) {
            Some((_, Some(c))) => scram::verify_password(Hash::Sha512, c, password),
            Some((Some(c), None)) => scram::verify_password(Hash::Sha256, c, password),
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }
}

/// Reads the users file; a missing file is no users.
pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
    let f = read(path)?;
    let invalid = |reason: String| CredentialsError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let mut users = BTreeMap::new();
    for (name, u) in f.user {
        let dec = |c: &Option<StoredCredential>, what: &str| -> Result<_, CredentialsError> {
            c.as_ref()
                .map(|c| decode(c).map_err(|e| invalid(format!("user {name:?} {what}: {e}"))))
                .transpose()
        };
        let a = dec(&u.scram_sha_256, "scram_sha_256")?;
        let b = dec(&u.scram_sha_512, "scram_sha_512")?;
        users.insert(name, (a, b));
    }
    Ok(Credentials { users })
}

fn read(path: &Path) -> Result<File, CredentialsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
        Err(source) => {
            return Err(CredentialsError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    toml::from_str(&text).map_err(|e| CredentialsError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn decode(c: &StoredCredential) -> Result<Credential, String> {
    let b = |s: &str, what: &str| B64.decode(s).map_err(|e| format!("{what}: {e}"));
    if c.iterations < scram::MIN_ITERATIONS {
        return Err(format!(
            "iterations {} below {}",
            c.iterations,
            scram::MIN_ITERATIONS
        ));
    }
    Ok(Credential {
        salt: b(&c.salt, "salt")?,
        iterations: c.iterations,
        stored_key: b(&c.stored_key, "stored_key")?,
        server_key: b(&c.server_key, "server_key")?,
    })
}

fn encode(c: &Credential) -> StoredCredential {
    StoredCredential {
        salt: B64.encode(&c.salt),
        iterations: c.iterations,
        stored_key: B64.encode(&c.stored_key),
        server_key: B64.encode(&c.server_key),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.chars().all(|c| c.is_ascii_graphic())
}

/// Adds or replaces `name` with credentials for `password` (fresh salts, both hashes).
/// Returns true if the user existed.
pub fn add_user(path: &Path, name: &str, password: &str) -> Result<bool, CredentialsError> {
    if !valid_name(name) {
        return Err(CredentialsError::BadName(name.to_string()));
    }
    if password.is_empty() {
        return Err(CredentialsError::EmptyPassword);
    }
    let mut f = read(path)?;
    let it = scram::DEFAULT_ITERATIONS;
    let user = StoredUser {
        scram_sha_256: Some(encode(&scram::derive(
            Hash::Sha256,
            password,
            &scram::random_bytes::<16>(),
            it,
        ))),
        scram_sha_512: Some(encode(&scram::derive(
            Hash::Sha512,
            password,
            &scram::random_bytes::<16>(),
            it,
        ))),
    };
    let existed = f.user.insert(name.to_string(), user).is_some();
    write(path, &f)?;
    Ok(existed)
}

/// Removes `name`; returns whether it existed.
pub fn remove_user(path: &Path, name: &str) -> Result<bool, CredentialsError> {
    let mut f = read(path)?;
    let existed = f.user.remove(name).is_some();
    if existed {
        write(path, &f)?;
    }
    Ok(existed)
}

fn write(path: &Path, f: &File) -> Result<(), CredentialsError> {
    let body = toml::to_string(f).map_err(|e| CredentialsError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let werr = |source| CredentialsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(werr)?;
    }
    let text = format!("{HEADER}{body}");
    logferry_fsutil::replace_with(path, logferry_fsutil::Durability::Durable, |file| {
        use std::io::Write;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Salted hashes still allow offline guessing: readable by the owner only.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(text.as_bytes())
    })
    .map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_check_remove() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("users.toml");
        assert!(load(&p).expect("missing = empty").is_empty());
        assert!(!add_user(&p, "alice", "s3cret").expect("add"));
        assert!(add_user(&p, "alice", "other").expect("replace"));
        add_user(&p, "bob", "pw").expect("add bob");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(
            !text.contains("other") && !text.contains("s3cret"),
            "{text}"
        );
        let c = load(&p).expect("load");
        assert_eq!(c.names().collect::<Vec<_>>(), ["alice", "bob"]);
        assert!(c.check_password("alice", "other"));
        assert!(!c.check_password("alice", "s3cret"));
        assert!(!c.check_password("carol", "x"));
        assert!(c.scram("bob", Hash::Sha256).is_some());
        assert!(remove_user(&p, "alice").expect("rm"));
        assert!(!remove_user(&p, "alice").expect("rm again"));
        assert_eq!(load(&p).expect("load").len(), 1);
        assert!(matches!(
            add_user(&p, "a b", "x"),
            Err(CredentialsError::BadName(_))
        ));
        assert!(matches!(
            add_user(&p, "a", ""),
            Err(CredentialsError::EmptyPassword)
        ));
        std::fs::write(&p, "[user.x.scram_sha_256]\nsalt = \"!\"\niterations = 4096\nstored_key = \"\"\nserver_key = \"\"\n").expect("w");
        assert!(matches!(load(&p), Err(CredentialsError::Invalid { .. })));
    }
}
