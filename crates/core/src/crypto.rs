//! Secrets at rest: AES-256-GCM under a master key kept outside the database.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use gatehouse_types::SecretKey;
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
