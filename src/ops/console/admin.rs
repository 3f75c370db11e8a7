//! The console's admin token (`[broker] admin_token_file`): what lets a person edit the ACLs
//! from the page. Requests carry it as `Authorization: Bearer TOKEN`; the page keeps it in
//! the tab's sessionStorage, never in the HTML. A cross-site form cannot set that header, and
//! the endpoint answers no CORS preflight, so another site cannot edit through a browser.
//!
//! Compared as SHA-256 digests in constant time: neither the token's bytes nor its length
//! show in the answer's timing.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// The shortest token accepted: guessing it over HTTP must be hopeless.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    #[error("[broker] admin_token_file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("[broker] admin_token_file {}: the token has {len} characters; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)", path.display())]
    TooShort { path: PathBuf, len: usize },
}

/// What a request's `Authorization` header is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No `Authorization: Bearer` header: 401.
    Missing,
    /// A token, not this one: 403.
    Wrong,
    Granted,
}

/// The token's digest (the token itself is not kept).
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

impl AdminToken {
    /// Reads the token: the file's text without surrounding whitespace.
    pub fn load(path: &Path) -> Result<AdminToken, AdminTokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| AdminTokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        AdminToken::new(text.trim()).map_err(|len| AdminTokenError::TooShort {
            path: path.to_path_buf(),
            len,
        })
    }

    /// The token `secret`, or its length when it is too short.
    pub fn new(secret: &str) -> Result<AdminToken, usize> {
        let len = secret.chars().count();
        if len < MIN_TOKEN_LEN {
            return Err(len);
        }
        Ok(AdminToken {
            digest: digest(secret.as_bytes()),
        })
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Access {
        let Some(given) = authorization
            .map(str::trim)
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
        else {
            return Access::Missing;
        };
        if bool::from(digest(given.as_bytes()).ct_eq(&self.digest)) {
            Access::Granted
        } else {
            Access::Wrong
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_checked_and_short_ones_refused() {
        let t = AdminToken::new("0123456789abcdef").expect("long enough");
        assert_eq!(t.check(Some("Bearer 0123456789abcdef")), Access::Granted);
        assert_eq!(t.check(Some("bearer  0123456789abcdef ")), Access::Granted);
        assert_eq!(t.check(Some("Bearer 0123456789abcdeF")), Access::Wrong);
        assert_eq!(t.check(Some("Bearer 0123456789abcdef0")), Access::Wrong);
        assert_eq!(t.check(Some("Basic 0123456789abcdef")), Access::Missing);
        assert_eq!(t.check(Some("0123456789abcdef")), Access::Missing);
        assert_eq!(t.check(None), Access::Missing);
        assert_eq!(AdminToken::new("short").err(), Some(5));
        assert_eq!(format!("{t:?}"), "AdminToken(..)");
        let d = tempfile::tempdir().expect("tmp");
        let f = d.path().join("token");
        std::fs::write(&f, "  0123456789abcdef\n").expect("write");
        let t = AdminToken::load(&f).expect("loads");
        assert_eq!(t.check(Some("Bearer 0123456789abcdef")), Access::Granted);
        std::fs::write(&f, "tiny\n").expect("write");
        assert!(matches!(
            AdminToken::load(&f),
            Err(AdminTokenError::TooShort { len: 4, .. })
        ));
        assert!(matches!(
            AdminToken::load(&d.path().join("absent")),
            Err(AdminTokenError::Read { .. })
        ));
    }
}
