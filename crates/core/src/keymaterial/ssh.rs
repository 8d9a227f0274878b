//! SSH public keys as IAM takes them: OpenSSH `ssh-rsa` lines or PEM, RSA only, with the
//! MD5 fingerprint AWS reports.

use gatehouse_protocol::codec::{base64_decode, base64_encode};
use md5::{Digest, Md5};

use super::der::{self, Reader};
use super::x509::{PublicKey, pem_blocks, rsa_subject_public_key_info, subject_public_key};

/// Why a key was refused, in the terms of AWS's two errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshKeyError {
    /// Neither an `ssh-rsa` line nor PEM (`UnrecognizedPublicKeyEncoding`).
    UnrecognizedEncoding,
    /// Readable, but not an acceptable key (`InvalidPublicKey`).
    Invalid,
}

/// The smallest RSA modulus IAM accepts for SSH.
pub const MIN_RSA_BITS: usize = 2048;

/// An RSA public key uploaded for SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl SshPublicKey {
    pub fn parse(body: &str) -> Result<Self, SshKeyError> {
        let body = body.trim();
        let key = if body.starts_with("-----BEGIN") {
            Self::from_pem(body)?
        } else if let Some(rest) = body.strip_prefix("ssh-rsa ") {
            let encoded = rest.split_whitespace().next().unwrap_or_default();
            let blob = base64_decode(encoded).ok_or(SshKeyError::Invalid)?;
            Self::from_blob(&blob)?
        } else {
            return Err(SshKeyError::UnrecognizedEncoding);
        };
        let bits = PublicKey::Rsa {
            modulus: key.modulus.clone(),
            exponent: key.exponent.clone(),
        }
        .bits();
        if bits < MIN_RSA_BITS || key.exponent.is_empty() {
            return Err(SshKeyError::Invalid);
        }
        Ok(key)
    }

    fn from_pem(body: &str) -> Result<Self, SshKeyError> {
        let blocks = pem_blocks(body).map_err(|_| SshKeyError::UnrecognizedEncoding)?;
        let [block] = blocks.as_slice() else {
            return Err(SshKeyError::UnrecognizedEncoding);
        };
        let rsa = match block.label.as_str() {
            "PUBLIC KEY" => {
                let spki = Reader::new(&block.der)
                    .expect(der::SEQUENCE)
                    .map_err(|_| SshKeyError::Invalid)?;
                subject_public_key(spki).map_err(|_| SshKeyError::Invalid)?
            }
            "RSA PUBLIC KEY" => {
                let mut numbers = Reader::new(&block.der)
                    .sequence()
                    .map_err(|_| SshKeyError::Invalid)?;
                let mut int = || {
                    numbers
                        .expect(der::INTEGER)
                        .map(|n| der::unsigned(n).to_vec())
                        .map_err(|_| SshKeyError::Invalid)
                };
                PublicKey::Rsa {
                    modulus: int()?,
                    exponent: int()?,
                }
            }
            _ => return Err(SshKeyError::UnrecognizedEncoding),
        };
        match rsa {
            PublicKey::Rsa { modulus, exponent } => Ok(SshPublicKey { modulus, exponent }),
            _ => Err(SshKeyError::Invalid),
        }
    }

    /// RFC 4253's `ssh-rsa` blob: string "ssh-rsa", mpint e, mpint n.
    fn from_blob(blob: &[u8]) -> Result<Self, SshKeyError> {
        let mut rest = blob;
        let mut field = || -> Result<&[u8], SshKeyError> {
            let (len, after) = rest.split_at_checked(4).ok_or(SshKeyError::Invalid)?;
            let len = u32::from_be_bytes(len.try_into().map_err(|_| SshKeyError::Invalid)?);
            let (value, after) = after
                .split_at_checked(len as usize)
                .ok_or(SshKeyError::Invalid)?;
            rest = after;
            Ok(value)
        };
        if field()? != b"ssh-rsa" {
            return Err(SshKeyError::Invalid);
        }
        let exponent = der::unsigned(field()?).to_vec();
        let modulus = der::unsigned(field()?).to_vec();
        if !rest.is_empty() {
            return Err(SshKeyError::Invalid);
        }
        Ok(SshPublicKey { modulus, exponent })
    }

    fn blob(&self) -> Vec<u8> {
        let mut blob = Vec::new();
        let mut put = |value: &[u8]| {
            blob.extend_from_slice(&(value.len() as u32).to_be_bytes());
            blob.extend_from_slice(value);
        };
        put(b"ssh-rsa");
        put(&mpint(&self.exponent));
        put(&mpint(&self.modulus));
        blob
    }

    /// The key as one OpenSSH line.
    pub fn to_openssh(&self) -> String {
        format!("ssh-rsa {}", base64_encode(&self.blob()))
    }

    /// The key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub fn to_pem(&self) -> String {
        let encoded = base64_encode(&rsa_subject_public_key_info(&self.modulus, &self.exponent));
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// The MD5 fingerprint of the key's `ssh-rsa` blob, as `ssh-keygen -l -E md5` shows it.
    pub fn fingerprint(&self) -> String {
        let digest = Md5::digest(self.blob());
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// An SSH mpint of a non-negative number: no leading zeros, one added if the top bit is set.
fn mpint(magnitude: &[u8]) -> Vec<u8> {
    let magnitude = der::unsigned(magnitude);
    let mut out = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_some_and(|&b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // `ssh-keygen -y` of testdata/rsa2048.key, its PEM form (`openssl pkey -pubout`), and
    // `ssh-keygen -l -E md5` of it.
    const OPENSSH: &str = include_str!("testdata/rsa2048.pub");
    const PEM: &str = include_str!("testdata/rsa2048.pub.pem");
    const FINGERPRINT: &str = include_str!("testdata/rsa2048.md5");

    #[test]
    fn both_encodings_read_the_same_key_and_fingerprint() {
        let ssh = SshPublicKey::parse(OPENSSH).unwrap();
        let pem = SshPublicKey::parse(PEM).unwrap();
        assert_eq!(ssh, pem);
        assert_eq!(ssh.fingerprint(), FINGERPRINT.trim());
        assert_eq!(
            ssh.to_openssh(),
            OPENSSH
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(SshPublicKey::parse(&ssh.to_pem()).unwrap(), ssh);
        assert_eq!(pem.to_pem(), PEM);
    }

    #[test]
    fn refuses_other_encodings_small_keys_and_damage() {
        assert_eq!(
            SshPublicKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG"),
            Err(SshKeyError::UnrecognizedEncoding)
        );
        assert_eq!(
            SshPublicKey::parse("hello"),
            Err(SshKeyError::UnrecognizedEncoding)
        );
        assert_eq!(
            SshPublicKey::parse("ssh-rsa !!!"),
            Err(SshKeyError::Invalid)
        );
        let small = SshPublicKey {
            modulus: vec![0xc5; 128],
            exponent: vec![1, 0, 1],
        };
        assert_eq!(
            SshPublicKey::parse(&small.to_openssh()),
            Err(SshKeyError::Invalid)
        );
        let mut blob = SshPublicKey::parse(OPENSSH).unwrap().blob();
        blob.pop();
        let damaged = format!("ssh-rsa {}", base64_encode(&blob));
        assert_eq!(SshPublicKey::parse(&damaged), Err(SshKeyError::Invalid));
    }
}
