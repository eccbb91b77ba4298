//! API credentials: the key pair comes from environment variables or a key file, and
//! the secret lives in a [`Secret`] that never prints.
//!
//! - [`Credentials::from_env`] reads `KESTREL_BINANCE_API_KEY` /
//!   `KESTREL_BINANCE_API_SECRET` (or the variable names a config gives).
//! - [`Credentials::from_file`] reads a two-line file (`api_key`, then `api_secret`;
//!   `key = value` lines with those names also work) and refuses it unless only its
//!   owner may read it (mode `0600` or `0400`; Unix only).
//!
//! Error messages name the variable or file, never a value.

use std::fmt;
use std::path::{Path, PathBuf};

/// Default environment variable holding the API key.
pub const ENV_API_KEY: &str = "KESTREL_BINANCE_API_KEY";
/// Default environment variable holding the API secret.
pub const ENV_API_SECRET: &str = "KESTREL_BINANCE_API_SECRET";

/// A secret string. `Debug` and `Display` print `***`; the bytes are only reachable
/// through [`Secret::expose`], and they are overwritten with zeros on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps the secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret bytes (for keying the signer only).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// True when the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference to a byte of our own
            // buffer; the volatile write keeps the compiler from eliding the wipe.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An API key (sent in clear as `X-MBX-APIKEY` / `apiKey`) and its HMAC secret.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The API key.
    pub api_key: String,
    /// The HMAC-SHA256 secret.
    pub secret: Secret,
}

/// Why credentials could not be loaded. Names variables and paths, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// An environment variable is unset or empty.
    MissingVar(String),
    /// An environment variable is not valid Unicode.
    BadVar(String),
    /// The key file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: String,
    },
    /// Group or others may access the key file.
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The key file does not hold an API key and a secret.
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong (no values quoted).
        what: &'static str,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::MissingVar(v) => write!(f, "environment variable {v} is not set"),
            KeyError::BadVar(v) => write!(f, "environment variable {v} is not valid Unicode"),
            KeyError::Io { path, error } => {
                write!(f, "cannot read key file {}: {error}", path.display())
            }
            KeyError::Permissions { path, mode } => write!(
                f,
                "key file {} has mode {:o}: group or others may access it (chmod 600)",
                path.display(),
                mode & 0o777
            ),
            KeyError::Format { path, what } => {
                write!(f, "key file {}: {what}", path.display())
            }
        }
    }
}

impl std::error::Error for KeyError {}

fn var(name: &str) -> Result<String, KeyError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        Ok(_) | Err(std::env::VarError::NotPresent) => Err(KeyError::MissingVar(name.into())),
        Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::BadVar(name.into())),
    }
}

impl Credentials {
    /// Credentials from `KESTREL_BINANCE_API_KEY` and `KESTREL_BINANCE_API_SECRET`.
    ///
    /// # Errors
    /// [`KeyError::MissingVar`] / [`KeyError::BadVar`] naming the variable.
    pub fn from_env() -> Result<Credentials, KeyError> {
        Self::from_env_names(ENV_API_KEY, ENV_API_SECRET)
    }

    /// Credentials from the named environment variables (names from a config).
    ///
    /// # Errors
    /// [`KeyError::MissingVar`] / [`KeyError::BadVar`] naming the variable.
    pub fn from_env_names(key_var: &str, secret_var: &str) -> Result<Credentials, KeyError> {
        Ok(Credentials {
            api_key: var(key_var)?,
            secret: Secret::new(var(secret_var)?),
        })
    }

    /// Credentials from a key file readable by its owner only: either two non-empty
    /// lines (key, then secret) or `api_key = …` and `api_secret = …` lines (quotes
    /// optional). Lines starting with `#` are ignored.
    ///
    /// # Errors
    /// [`KeyError::Io`], [`KeyError::Permissions`] (Unix: any group/other mode bit set)
    /// or [`KeyError::Format`].
    pub fn from_file(path: &Path) -> Result<Credentials, KeyError> {
        let io = |e: std::io::Error| KeyError::Io {
            path: path.to_path_buf(),
            error: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let text = std::fs::read_to_string(path).map_err(io)?;
        let format = |what| KeyError::Format {
            path: path.to_path_buf(),
            what,
        };
        let (mut key, mut secret, mut plain) = (None, None, Vec::new());
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((name, value)) => {
                    let value = value.trim().trim_matches('"').to_string();
                    match name.trim() {
                        "api_key" => key = Some(value),
                        "api_secret" => secret = Some(value),
                        _ => return Err(format("unknown setting (expected api_key, api_secret)")),
                    }
                }
                None => plain.push(line.to_string()),
            }
        }
        if key.is_none() && secret.is_none() {
            if plain.len() != 2 {
                return Err(format("expected two lines: the API key, then the secret"));
            }
            secret = plain.pop();
            key = plain.pop();
        }
        let key = key.filter(|k| !k.is_empty()).ok_or(format("no api_key"))?;
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or(format("no api_secret"))?;
        Ok(Credentials {
            api_key: key,
            secret: Secret::new(secret),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn temp(name: &str, body: &str, mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kestrel-keys-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("keys");
        std::fs::write(&p, body).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        p
    }

    #[test]
    fn secret_never_prints() {
        let c = Credentials {
            api_key: "key".into(),
            secret: Secret::new(SECRET),
        };
        let shown = format!("{c:?} {} {:?} {:#?}", c.secret, c.secret, c);
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("NhqPtmd"), "{shown}");
        assert_eq!(c.secret.to_string(), "***");
        assert_eq!(c.secret.expose(), SECRET.as_bytes());
    }

    #[test]
    fn env_names_are_reported_not_values() {
        let e = Credentials::from_env_names("KESTREL_TEST_NO_SUCH_KEY", "X").unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable KESTREL_TEST_NO_SUCH_KEY is not set"
        );
        std::env::set_var("KESTREL_TEST_KEY_A", " abc ");
        std::env::set_var("KESTREL_TEST_SECRET_A", SECRET);
        let c = Credentials::from_env_names("KESTREL_TEST_KEY_A", "KESTREL_TEST_SECRET_A").unwrap();
        assert_eq!(c.api_key, "abc");
        assert_eq!(c.secret.expose(), SECRET.as_bytes());
    }

    #[test]
    fn key_files_need_owner_only_mode() {
        let p = temp("plain", &format!("abc\n{SECRET}\n"), 0o600);
        let c = Credentials::from_file(&p).unwrap();
        assert_eq!(
            (c.api_key.as_str(), c.secret.expose()),
            ("abc", SECRET.as_bytes())
        );

        let p = temp(
            "named",
            &format!("# k\napi_key = \"abc\"\napi_secret={SECRET}\n"),
            0o400,
        );
        let c = Credentials::from_file(&p).unwrap();
        assert_eq!(
            (c.api_key.as_str(), c.secret.expose()),
            ("abc", SECRET.as_bytes())
        );

        #[cfg(unix)]
        {
            let p = temp("open", &format!("abc\n{SECRET}\n"), 0o644);
            let e = Credentials::from_file(&p).unwrap_err();
            assert!(matches!(e, KeyError::Permissions { mode, .. } if mode & 0o777 == 0o644));
            let msg = e.to_string();
            assert!(
                msg.contains("has mode 644") && !msg.contains(SECRET),
                "{msg}"
            );
        }
        let p = temp("bad", &format!("{SECRET}\n"), 0o600);
        let e = Credentials::from_file(&p).unwrap_err();
        assert!(!e.to_string().contains(SECRET));
        assert!(matches!(e, KeyError::Format { .. }));
    }
}
