//! HMAC-SHA256 request signing (Binance `signature` parameter, lowercase hex).
//!
//! The key is absorbed once ([`Signer::new`]); each signature clones that keyed state
//! (a plain copy, no allocation) and hashes the payload. REST signs the query string
//! (plus body) exactly as sent; the WebSocket API signs its parameters sorted by name
//! (see [`super::encode`]). Ed25519 keys are not supported.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::keys::Secret;

/// Length of a hex signature.
pub const SIGNATURE_LEN: usize = 64;

/// A keyed HMAC-SHA256 signer. `Debug` does not show the key.
#[derive(Clone)]
pub struct Signer {
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(HMAC-SHA256, key ***)")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Signer {
    /// A signer keyed with `secret`.
    pub fn new(secret: &Secret) -> Signer {
        Signer::from_key(secret.expose())
    }

    /// A signer keyed with raw bytes (the mock venue and tests).
    pub fn from_key(key: &[u8]) -> Signer {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let keyed = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of every length"),
        };
        Signer { keyed }
    }

    /// A signer that has already absorbed `prefix`: its `sign(x)` is this signer's
    /// `sign(prefix + x)`. Saves hashing a constant head (the WebSocket API's
    /// `apiKey=…&`) on every request.
    pub fn prefixed(&self, prefix: &[u8]) -> Signer {
        let mut keyed = self.keyed.clone();
        keyed.update(prefix);
        Signer { keyed }
    }

    /// Lowercase hex HMAC-SHA256 of the concatenation of `parts`.
    pub fn sign_parts(&self, parts: &[&[u8]]) -> [u8; SIGNATURE_LEN] {
        let mut mac = self.keyed.clone();
        for p in parts {
            mac.update(p);
        }
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; SIGNATURE_LEN];
        for (i, b) in digest.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        out
    }

    /// Lowercase hex HMAC-SHA256 of `payload`.
    pub fn sign(&self, payload: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.sign_parts(&[payload])
    }

    /// True when `signature` (hex, any case) is the signature of `payload`.
    pub fn verify(&self, payload: &[u8], signature: &[u8]) -> bool {
        let want = self.sign(payload);
        signature.len() == SIGNATURE_LEN
            && want
                .iter()
                .zip(signature)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/binance/vectors/signature.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("signature.json")).unwrap()
    }

    /// Every documented vector, byte for byte (including the USD-M doc typo payload,
    /// signed exactly as printed).
    #[test]
    fn reproduces_every_signature_vector() {
        let v = vectors();
        let list = v["vectors"].as_array().unwrap();
        assert_eq!(list.len(), 8);
        for t in list {
            let s = Signer::from_key(t["secret_key"].as_str().unwrap().as_bytes());
            let payload = t["payload"].as_str().unwrap().as_bytes();
            let want = t["expected_signature"].as_str().unwrap();
            assert_eq!(
                std::str::from_utf8(&s.sign(payload)).unwrap(),
                want,
                "{}",
                t["id"]
            );
            assert!(s.verify(payload, want.to_ascii_uppercase().as_bytes()));
            assert!(!s.verify(b"x", want.as_bytes()));
        }
    }

    #[test]
    fn documented_spot_example() {
        let s = Signer::new(&Secret::new(
            "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
        ));
        let sig = s.sign_parts(&[
            b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
            b"&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
        ]);
        assert_eq!(
            &sig,
            b"c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert!(!format!("{s:?}").contains("Nhq"));
        let head = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC";
        let tail = b"&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(s.prefixed(head).sign(tail), sig);
        assert_eq!(s.prefixed(b"").sign(b"x"), s.sign(b"x"));
    }
}
