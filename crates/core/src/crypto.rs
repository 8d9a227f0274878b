//! Secrets at rest: AES-256-GCM under a master key kept outside the database.
//!
//! A sealed value names the key that sealed it (`KEYID:HEX`, the key id a digest of the key),
//! so that during a rotation nodes given both keys open values sealed under either, and a node
//! given only the retired key opens none. Values sealed before key ids existed are bare hex
//! and are opened by trying each key held.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use gatehouse_types::SecretKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// The key that encrypts secrets at rest. Never printed.
pub struct MasterKey(Zeroizing<[u8; 32]>);

#[derive(Debug, PartialEq, Eq)]
pub enum MasterKeyError {
    /// Not 64 hex digits.
    Malformed,
}

impl std::fmt::Display for MasterKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the master key must be 64 hexadecimal digits (32 bytes)")
    }
}

impl std::error::Error for MasterKeyError {}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut())?;
        Ok(MasterKey(key))
    }

    /// Parses the 64-hex-digit form kept in the key file or the environment.
    pub fn from_hex(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(MasterKeyError::Malformed);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        for (i, byte) in key.iter_mut().enumerate() {
            let pair = text
                .get(2 * i..2 * i + 2)
                .ok_or(MasterKeyError::Malformed)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| MasterKeyError::Malformed)?;
        }
        Ok(MasterKey(key))
    }

    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A public name for the key: 16 hex digits of a domain-separated SHA-256 of it (which
    /// tells nothing about the key, but tells two keys apart).
    pub fn id(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"gatehouse master key id\0");
        digest.update(self.0.as_ref());
        digest.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Encrypts `secret`, binding it to `context` (the id of what owns it) so a ciphertext can't be
    /// moved to another record. Output: nonce ‖ ciphertext ‖ tag, hex-encoded.
    pub(crate) fn seal(&self, secret: &SecretKey, context: &str) -> Result<String, ()> {
        let cipher = Aes256Gcm::new_from_slice(self.0.as_ref()).map_err(|_| ())?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| ())?;
        let sealed = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| ())?;
        Ok(nonce
            .iter()
            .chain(sealed.iter())
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    pub(crate) fn open(&self, sealed_hex: &str, context: &str) -> Result<SecretKey, ()> {
        let bytes: Vec<u8> = (0..sealed_hex.len() / 2)
            .map(|i| {
                sealed_hex
                    .get(2 * i..2 * i + 2)
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or(())
            })
            .collect::<Result<_, _>>()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN).ok_or(())?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| ())?;
        let cipher = Aes256Gcm::new_from_slice(self.0.as_ref()).map_err(|_| ())?;
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &nonce.into(),
                    Payload {
                        msg: sealed,
                        aad: context.as_bytes(),
                    },
                )
                .map_err(|_| ())?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| ())?;
        Ok(SecretKey::new(text))
    }
}

/// The master keys a node was given: the current one and, during a rotation, the next one.
pub struct MasterKeys {
    current: MasterKey,
    next: Option<MasterKey>,
}

impl From<MasterKey> for MasterKeys {
    fn from(current: MasterKey) -> Self {
        MasterKeys {
            current,
            next: None,
        }
    }
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKeys({:?})", self.ids())
    }
}

/// The separator between a sealed value's key id and its ciphertext.
const KEY_ID_SEPARATOR: char = ':';

impl MasterKeys {
    pub fn new(current: MasterKey, next: Option<MasterKey>) -> Self {
        MasterKeys { current, next }
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    pub fn next(&self) -> Option<&MasterKey> {
        self.next.as_ref()
    }

    /// The ids of the keys held, the current one first.
    pub fn ids(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.next)
            .map(MasterKey::id)
            .collect()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.next)
            .find(|k| k.id() == id)
    }

    /// Seals under the key named `key_id`, which must be held.
    pub(crate) fn seal(
        &self,
        key_id: &str,
        secret: &SecretKey,
        context: &str,
    ) -> Result<String, ()> {
        let key = self.get(key_id).ok_or(())?;
        Ok(format!(
            "{key_id}{KEY_ID_SEPARATOR}{}",
            key.seal(secret, context)?
        ))
    }

    /// Opens a value sealed under any key held.
    pub(crate) fn open(&self, sealed: &str, context: &str) -> Result<SecretKey, ()> {
        match sealed_key_id(sealed) {
            Some((id, ciphertext)) => self.get(id).ok_or(())?.open(ciphertext, context),
            None => std::iter::once(&self.current)
                .chain(&self.next)
                .find_map(|k| k.open(sealed, context).ok())
                .ok_or(()),
        }
    }
}

/// The id of the key that sealed a value, and its ciphertext; `None` for a value sealed
/// before values named their key.
pub(crate) fn sealed_key_id(sealed: &str) -> Option<(&str, &str)> {
    sealed.split_once(KEY_ID_SEPARATOR)
}

/// Random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_context() {
        let key = MasterKey::generate().unwrap();
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let sealed = key.seal(&secret, "AKIAEXAMPLE").unwrap();
        assert!(!sealed.contains("wJalr"));
        assert_eq!(key.open(&sealed, "AKIAEXAMPLE").unwrap(), secret);
        assert!(
            key.open(&sealed, "AKIAOTHER").is_err(),
            "ciphertext moved to another key id"
        );
        let other = MasterKey::generate().unwrap();
        assert!(
            other.open(&sealed, "AKIAEXAMPLE").is_err(),
            "wrong master key"
        );
        let mut tampered = sealed.clone();
        tampered.replace_range(30..31, if &sealed[30..31] == "0" { "1" } else { "0" });
        assert!(key.open(&tampered, "AKIAEXAMPLE").is_err());
    }

    #[test]
    fn a_keyring_opens_what_either_key_sealed_and_names_the_key() {
        let old = MasterKey::generate().unwrap();
        let new = MasterKey::generate().unwrap();
        let (old_id, new_id) = (old.id(), new.id());
        assert_ne!(old_id, new_id);
        assert_eq!(old_id, MasterKey::from_hex(&old.to_hex()).unwrap().id());
        let secret = SecretKey::new("s3cret");
        let legacy = old.seal(&secret, "ctx").unwrap();
        let old_only = MasterKeys::from(MasterKey::from_hex(&old.to_hex()).unwrap());
        let under_old = old_only.seal(&old_id, &secret, "ctx").unwrap();
        assert!(under_old.starts_with(&format!("{old_id}:")));
        assert!(
            old_only.seal(&new_id, &secret, "ctx").is_err(),
            "a key not held"
        );
        let both = MasterKeys::new(old, Some(new));
        let under_new = both.seal(&new_id, &secret, "ctx").unwrap();
        for sealed in [&legacy, &under_old, &under_new] {
            assert_eq!(both.open(sealed, "ctx").unwrap(), secret);
        }
        // After a rotation the retired key opens nothing sealed under the new one.
        assert!(old_only.open(&under_new, "ctx").is_err());
        let new_only =
            MasterKeys::from(MasterKey::from_hex(&both.next().unwrap().to_hex()).unwrap());
        assert!(new_only.open(&legacy, "ctx").is_err());
        assert!(new_only.open(&under_old, "ctx").is_err());
        assert_eq!(new_only.open(&under_new, "ctx").unwrap(), secret);
        assert_eq!(
            format!("{both:?}"),
            format!("MasterKeys([\"{old_id}\", \"{new_id}\"])")
        );
    }

    #[test]
    fn hex_round_trip_and_debug_hides() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(key.0, again.0);
        assert_eq!(format!("{key:?}"), "MasterKey(***)");
        assert!(matches!(
            MasterKey::from_hex("abc"),
            Err(MasterKeyError::Malformed)
        ));
        assert!(matches!(
            MasterKey::from_hex(&"zz".repeat(32)),
            Err(MasterKeyError::Malformed)
        ));
    }
}
