//! Secrets at rest and signed links.
//!
//! [`Sealer`]: AES-256-GCM under `ENCRYPTION_KEY`, a fresh random nonce per
//! value, and associated data naming what the value is and whose (so a
//! sealed token cannot be moved to another row and still open).
//! [`Signer`]: HMAC-SHA256 for links that must not be forged.
use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

const NONCE_LEN: usize = 12;

pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        }
    }

    /// Seals `plaintext` bound to `context` (e.g. `spotify-refresh:<user id>`).
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short value cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Opens a value sealed with the same key and context.
    pub fn open(&self, sealed: &str, context: &str) -> anyhow::Result<String> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(sealed)?;
        anyhow::ensure!(bytes.len() > NONCE_LEN, "sealed value too short");
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into()?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("a sealed value did not open: wrong key or context"))?;
        Ok(String::from_utf8(plain)?)
    }
}

/// Signs short messages with a key derived from `JWT_SECRET`.
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(secret: &[u8], purpose: &str) -> Self {
        // A separate key per purpose: a signature for one use is not valid for another.
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
        derive.update(purpose.as_bytes());
        Self {
            key: derive.finalize().into_bytes().to_vec(),
        }
    }

    pub fn sign(&self, message: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a signature made by [`sign`](Self::sign).
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        let Ok(signature) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        mac.verify_slice(&signature).is_ok()
    }
}

/// The shortest signature [`Signer::sign_short`] makes: 96 bits. Enough
/// where each guess must be sent over the network and checked by the
/// server (NIST SP 800-107 allows HMAC tags of 96 bits and more).
pub const SHORT_SIGNATURE_MIN: usize = 12;

impl Signer {
    /// The signature of `message`, its first `len` bytes (at least
    /// [`SHORT_SIGNATURE_MIN`], at most 32): for tokens that must stay short.
    pub fn sign_short(&self, message: &[u8], len: usize) -> Vec<u8> {
        let len = len.clamp(SHORT_SIGNATURE_MIN, 32);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(message);
        mac.finalize().into_bytes()[..len].to_vec()
    }

    /// Constant-time check of a signature made by [`sign_short`](Self::sign_short).
    pub fn verify_short(&self, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() < SHORT_SIGNATURE_MIN {
            return false;
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(message);
        mac.verify_truncated_left(signature).is_ok()
    }
}

/// Hex SHA-256, for values looked up by hash (states, codes, tokens).
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `len` random bytes, base64url.
pub fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_context() {
        let sealer = Sealer::new(&[7u8; 32]);
        let sealed = sealer.seal("BQD-access-token", "spotify-access:1");
        assert!(!sealed.contains("BQD"));
        assert_eq!(sealer.open(&sealed, "spotify-access:1").unwrap(), "BQD-access-token");
        assert!(sealer.open(&sealed, "spotify-access:2").is_err());
        assert!(Sealer::new(&[8u8; 32]).open(&sealed, "spotify-access:1").is_err());
        assert_ne!(
            sealed,
            sealer.seal("BQD-access-token", "spotify-access:1"),
            "fresh nonce"
        );
    }

    #[test]
    fn signatures() {
        let signer = Signer::new(b"secret", "messenger-link");
        let sig = signer.sign("psid:123");
        assert!(signer.verify("psid:123", &sig));
        assert!(!signer.verify("psid:124", &sig));
        assert!(!Signer::new(b"secret", "other").verify("psid:123", &sig));
    }

    #[test]
    fn short_signatures() {
        let signer = Signer::new(b"secret", "tracked-link");
        let sig = signer.sign_short(b"share", 12);
        assert_eq!(sig.len(), 12);
        assert!(signer.verify_short(b"share", &sig));
        assert!(!signer.verify_short(b"shard", &sig));
        assert!(!signer.verify_short(b"share", &sig[..11]), "too short to trust");
        assert!(!Signer::new(b"secret", "other").verify_short(b"share", &sig));
    }
}
