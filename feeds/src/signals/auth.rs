//! Secrets and signal authentication.
//!
//! A [`Secret`] comes from an environment variable or a key file only, never from the
//! configuration text (which is journaled), and prints as `***`. Comparisons are
//! constant-time: a shared secret is compared through the SHA-256 digests of both sides
//! (so neither its bytes nor its length leak through timing), an HMAC through
//! `hmac`'s `verify_slice`.

use hmac::{Hmac, KeyInit, Mac};
use kestrel_engine::config::{SignalAuth, SignalSourceConfig};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Largest key file read, bytes.
const MAX_SECRET_FILE: u64 = 4096;

/// Secret bytes; `Debug` prints `***` and the bytes are zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The secret's bytes (for comparison and signing only; never log them).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Reads the secret from environment variable `name` (surrounding whitespace
    /// removed).
    ///
    /// # Errors
    /// [`SecretError::EnvMissing`] when the variable is unset, empty or not UTF-8.
    pub fn from_env(name: &str) -> Result<Secret, SecretError> {
        let v = std::env::var(name).map_err(|_| SecretError::EnvMissing(name.to_string()))?;
        let t = v.trim();
        if t.is_empty() {
            return Err(SecretError::EnvMissing(name.to_string()));
        }
        Ok(Secret(t.as_bytes().to_vec()))
    }

    /// Reads the secret from the key file at `path` (surrounding whitespace removed).
    ///
    /// # Errors
    /// [`SecretError::File`] when the file cannot be read, is larger than 4 KiB, or
    /// holds only whitespace.
    pub fn from_file(path: &str) -> Result<Secret, SecretError> {
        let err = |reason: String| SecretError::File {
            path: path.to_string(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.len() > MAX_SECRET_FILE {
            return Err(err(format!("larger than {MAX_SECRET_FILE} bytes")));
        }
        let mut bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(bytes.len());
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(start, |e| e + 1);
        let secret = Secret(bytes[start..end].to_vec());
        bytes.fill(0);
        if secret.0.is_empty() {
            return Err(err("empty".into()));
        }
        Ok(secret)
    }

    /// Constant-time equality with `other` (compares SHA-256 digests).
    pub fn matches(&self, other: &[u8]) -> bool {
        let a = Sha256::digest(&self.0);
        let b = Sha256::digest(other);
        a.as_slice().ct_eq(b.as_slice()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: the optimiser may elide it, and copies made by the OS or by
        // `std::env` are out of reach.
        self.0.fill(0);
    }
}

/// Why a secret could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretError {
    /// The environment variable is unset or empty.
    EnvMissing(String),
    /// The key file is unusable.
    File {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The config names neither an environment variable nor a file.
    NotConfigured,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EnvMissing(n) => write!(f, "environment variable {n} is unset or empty"),
            Self::File { path, reason } => write!(f, "secret file {path}: {reason}"),
            Self::NotConfigured => write!(f, "no secret_env or secret_file configured"),
        }
    }
}

impl std::error::Error for SecretError {}

/// Why a signal was refused as unauthenticated (the text goes into logs and the 401
/// response; it never contains the secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credential was presented.
    Missing(&'static str),
    /// A credential was presented and did not match.
    Mismatch(&'static str),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(what) => write!(f, "missing {what}"),
            Self::Mismatch(what) => write!(f, "{what} does not match"),
        }
    }
}

/// How a source authenticates what it receives.
#[derive(Clone, Debug)]
pub enum Authenticator {
    /// A shared secret (header, body field, or bearer token).
    SharedSecret(Secret),
    /// `hex(HMAC-SHA256(secret, body))` over the raw body.
    Hmac(Secret),
}

impl Authenticator {
    /// Loads the secret the config names and builds the authenticator.
    ///
    /// # Errors
    /// [`SecretError`] when the secret cannot be loaded.
    pub fn from_config(cfg: &SignalSourceConfig) -> Result<Authenticator, SecretError> {
        let secret = match (&cfg.secret_env, &cfg.secret_file) {
            (Some(name), _) => Secret::from_env(name)?,
            (None, Some(path)) => Secret::from_file(path)?,
            (None, None) => return Err(SecretError::NotConfigured),
        };
        Ok(match cfg.auth {
            SignalAuth::SharedSecret => Authenticator::SharedSecret(secret),
            SignalAuth::Hmac => Authenticator::Hmac(secret),
        })
    }

    /// The secret.
    pub fn secret(&self) -> &Secret {
        match self {
            Authenticator::SharedSecret(s) | Authenticator::Hmac(s) => s,
        }
    }

    /// Checks a presented shared secret (`None`: nothing presented).
    ///
    /// # Errors
    /// [`AuthError`] when it is missing or wrong, or when this is an HMAC source.
    pub fn check_shared(
        &self,
        presented: Option<&[u8]>,
        what: &'static str,
    ) -> Result<(), AuthError> {
        let Authenticator::SharedSecret(s) = self else {
            return Err(AuthError::Missing("X-Signature header"));
        };
        match presented {
            None => Err(AuthError::Missing(what)),
            Some(p) if s.matches(p) => Ok(()),
            Some(_) => Err(AuthError::Mismatch(what)),
        }
    }

    /// Checks `signature` (hex, optionally prefixed `sha256=`) against
    /// HMAC-SHA256(secret, body).
    ///
    /// # Errors
    /// [`AuthError`] when it is missing, not hex, or wrong.
    pub fn check_hmac(&self, body: &[u8], signature: Option<&[u8]>) -> Result<(), AuthError> {
        const WHAT: &str = "X-Signature header";
        let sig = signature.ok_or(AuthError::Missing(WHAT))?;
        let sig = sig.strip_prefix(b"sha256=").unwrap_or(sig);
        let tag = decode_hex(sig).ok_or(AuthError::Mismatch(WHAT))?;
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.secret().expose()) else {
            return Err(AuthError::Mismatch(WHAT));
        };
        mac.update(body);
        mac.verify_slice(&tag)
            .map_err(|_| AuthError::Mismatch(WHAT))
    }
}

/// `hex(HMAC-SHA256(secret, body))`, lower case: what a master puts in `X-Signature`.
pub fn sign_hex(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_hex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.chunks(2)
        .map(|p| Some((nib(p[0])? << 4) | nib(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "***");
        let a = Authenticator::Hmac(s);
        assert!(!format!("{a:?}").contains("hunter2"));
    }

    #[test]
    fn shared_secret_compares_exactly() {
        let a = Authenticator::SharedSecret(Secret::new(b"abc".to_vec()));
        assert_eq!(a.check_shared(Some(b"abc"), "secret"), Ok(()));
        assert_eq!(
            a.check_shared(Some(b"abd"), "secret"),
            Err(AuthError::Mismatch("secret"))
        );
        assert_eq!(
            a.check_shared(Some(b"abcd"), "secret"),
            Err(AuthError::Mismatch("secret"))
        );
        assert_eq!(
            a.check_shared(None, "secret"),
            Err(AuthError::Missing("secret"))
        );
        assert_eq!(
            AuthError::Mismatch("secret").to_string(),
            "secret does not match"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(sign_hex(b"Jefe", b"what do ya want for nothing?"), want);
        let a = Authenticator::Hmac(Secret::new(b"Jefe".to_vec()));
        let body = b"what do ya want for nothing?";
        assert_eq!(a.check_hmac(body, Some(want.as_bytes())), Ok(()));
        let upper = format!("sha256={}", want.to_ascii_uppercase());
        assert_eq!(a.check_hmac(body, Some(upper.as_bytes())), Ok(()));
        let bad = AuthError::Mismatch("X-Signature header");
        assert_eq!(
            a.check_hmac(b"what do ya want for nothing!", Some(want.as_bytes())),
            Err(bad)
        );
        assert_eq!(a.check_hmac(body, Some(&want.as_bytes()[..62])), Err(bad));
        assert_eq!(a.check_hmac(body, Some(b"zz")), Err(bad));
        assert_eq!(
            a.check_hmac(body, None),
            Err(AuthError::Missing("X-Signature header"))
        );
    }

    #[test]
    fn secrets_load_from_file_and_env() {
        let dir = std::env::temp_dir().join(format!("kestrel-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("key");
        std::fs::write(&f, "  tok3n \n").unwrap();
        let path = f.to_str().unwrap();
        assert_eq!(Secret::from_file(path).unwrap().expose(), b"tok3n");
        std::fs::write(&f, "\n\n").unwrap();
        assert_eq!(
            Secret::from_file(path).unwrap_err(),
            SecretError::File {
                path: path.into(),
                reason: "empty".into()
            }
        );
        std::fs::write(&f, vec![b'x'; 5000]).unwrap();
        assert_eq!(
            Secret::from_file(path).unwrap_err().to_string(),
            format!("secret file {path}: larger than 4096 bytes")
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            Secret::from_file("/nonexistent/kestrel/key"),
            Err(SecretError::File { .. })
        ));
        let name = "KESTREL_TEST_SIGNAL_SECRET_UNSET_9F3A";
        assert_eq!(
            Secret::from_env(name).unwrap_err().to_string(),
            format!("environment variable {name} is unset or empty")
        );
    }
}
