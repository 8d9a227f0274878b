//! AWS-shaped identifiers. The caller supplies the random bytes, so this stays pure.

/// The 4-letter prefixes AWS gives unique ids, by what they identify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    User,
    Group,
    Role,
    ManagedPolicy,
    InstanceProfile,
    ServerCertificate,
    SshPublicKey,
    ServiceSpecificCredential,
    AccessKey,
    TemporaryAccessKey,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::User => "AIDA",
            IdKind::Group => "AGPA",
            IdKind::Role => "AROA",
            IdKind::ManagedPolicy => "ANPA",
            IdKind::InstanceProfile => "AIPA",
            IdKind::ServerCertificate => "ASCA",
            IdKind::SshPublicKey => "APKA",
            IdKind::ServiceSpecificCredential => "ACCA",
            IdKind::AccessKey => "AKIA",
            IdKind::TemporaryAccessKey => "ASIA",
        }
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn pick(alphabet: &[u8], random: &[u8], len: usize) -> String {
    // Each output character takes one random byte; the alphabets are powers of two, so the
    // mask is unbiased.
    let mask = alphabet.len() - 1;
    random
        .iter()
        .cycle()
        .take(len)
        .map(|b| {
            alphabet
                .get(usize::from(*b) & mask)
                .copied()
                .unwrap_or(b'A') as char
        })
        .collect()
}

/// A unique id such as `AIDAJQABLZS4A3QDU576Q`: 4-letter prefix and 17 base-32 characters.
pub fn new_unique_id(kind: IdKind, random: &[u8; 17]) -> String {
    format!("{}{}", kind.prefix(), pick(BASE32, random, 17))
}

/// An access key id such as `AKIAIOSFODNN7EXAMPLE`: prefix and 16 base-32 characters.
pub fn new_access_key_id(kind: IdKind, random: &[u8; 16]) -> String {
    format!("{}{}", kind.prefix(), pick(BASE32, random, 16))
}

/// A signing certificate id: 24 base-32 characters, with no prefix (AWS's have none).
pub fn new_certificate_id(random: &[u8; 24]) -> String {
    pick(BASE32, random, 24)
}

/// A session token: 128 characters over the base-64 alphabet (768 random bits), opaque to
/// clients like AWS's.
pub fn new_session_token(random: &[u8; 128]) -> crate::SecretKey {
    crate::SecretKey::new(pick(BASE64, random, 128))
}

/// A 40-character secret access key over the base-64 alphabet.
pub fn new_secret_access_key(random: &[u8; 40]) -> crate::SecretKey {
    crate::SecretKey::new(pick(BASE64, random, 40))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_aws() {
        let id = new_unique_id(IdKind::User, &[7u8; 17]);
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
        let key = new_access_key_id(IdKind::AccessKey, &[200u8; 16]);
        assert_eq!(key.len(), 20);
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        let secret = new_secret_access_key(&[255u8; 40]);
        assert_eq!(secret.expose(), "/".repeat(40));
    }
}
