//! X.509 certificates and their private keys, as users upload them (PEM): parsed far enough
//! to check them (validity dates, public key) and to tell whether a private key belongs to a
//! certificate. Signatures are not verified: IAM stores certificates, it does not trust them.

use gatehouse_protocol::codec::base64_decode;
use gatehouse_types::days_from_civil;

use super::der::{self, Malformed, Reader};

/// One `-----BEGIN LABEL-----` … `-----END LABEL-----` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

/// Every PEM block in `text`, in order; text between blocks is ignored (as OpenSSL does).
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, Malformed> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        match open.as_mut() {
            None => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    open = Some((label.to_string(), String::new()));
                }
            }
            Some((label, body)) => {
                if let Some(end) = line
                    .strip_prefix("-----END ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    if end != label {
                        return Err(Malformed);
                    }
                    let der = base64_decode(body).ok_or(Malformed)?;
                    if der.is_empty() {
                        return Err(Malformed);
                    }
                    blocks.push(PemBlock {
                        label: std::mem::take(label),
                        der,
                    });
                    open = None;
                } else if line.contains(':') {
                    // RFC 1421 headers ("Proc-Type: 4,ENCRYPTED"): an encrypted legacy key.
                    return Err(Malformed);
                } else {
                    body.push_str(line);
                }
            }
        }
    }
    if open.is_some() {
        return Err(Malformed);
    }
    Ok(blocks)
}

/// A subject public key, as far as matching and sizing need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    Ec { curve: Vec<u8>, point: Vec<u8> },
    Other,
}

impl PublicKey {
    /// The key size in bits (RSA: the modulus; EC: the field, from the point's length).
    pub fn bits(&self) -> usize {
        match self {
            PublicKey::Rsa { modulus, .. } => {
                let lead = modulus
                    .first()
                    .map_or(0, |b| 8 - b.leading_zeros() as usize);
                modulus.len().saturating_sub(1) * 8 + lead
            }
            // An uncompressed point is 04 ‖ x ‖ y.
            PublicKey::Ec { point, .. } => point.len().saturating_sub(1) / 2 * 8,
            PublicKey::Other => 0,
        }
    }
}

/// What Gatehouse reads from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub der: Vec<u8>,
    pub not_before_millis: i64,
    pub not_after_millis: i64,
    pub public_key: PublicKey,
}

// rsaEncryption (1.2.840.113549.1.1.1) and id-ecPublicKey (1.2.840.10045.2.1).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// Parses one DER certificate.
pub fn parse_certificate(der_bytes: &[u8]) -> Result<Certificate, Malformed> {
    let mut outer = Reader::new(der_bytes);
    let mut cert = outer.sequence()?;
    if !outer.is_empty() {
        return Err(Malformed);
    }
    let mut tbs = cert.sequence()?;
    cert.sequence()?; // signatureAlgorithm
    cert.expect(der::BIT_STRING)?;
    if !cert.is_empty() {
        return Err(Malformed);
    }
    tbs.optional(der::context(0))?; // version
    tbs.expect(der::INTEGER)?; // serialNumber
    tbs.sequence()?; // signature
    tbs.sequence()?; // issuer
    let mut validity = tbs.sequence()?;
    let not_before_millis = time(&mut validity)?;
    let not_after_millis = time(&mut validity)?;
    tbs.sequence()?; // subject
    let public_key = subject_public_key(tbs.expect(der::SEQUENCE)?)?;
    Ok(Certificate {
        der: der_bytes.to_vec(),
        not_before_millis,
        not_after_millis,
        public_key,
    })
}

/// A SubjectPublicKeyInfo's contents.
pub fn subject_public_key(spki: &[u8]) -> Result<PublicKey, Malformed> {
    let mut spki = Reader::new(spki);
    let mut algorithm = spki.sequence()?;
    let oid = algorithm.expect(der::OID)?;
    let key = der::whole_bytes(spki.expect(der::BIT_STRING)?)?;
    if oid == RSA_ENCRYPTION {
        let mut rsa = Reader::new(key).sequence()?;
        Ok(PublicKey::Rsa {
            modulus: der::unsigned(rsa.expect(der::INTEGER)?).to_vec(),
            exponent: der::unsigned(rsa.expect(der::INTEGER)?).to_vec(),
        })
    } else if oid == EC_PUBLIC_KEY {
        Ok(PublicKey::Ec {
            curve: algorithm.expect(der::OID)?.to_vec(),
            point: key.to_vec(),
        })
    } else {
        Ok(PublicKey::Other)
    }
}

/// The SubjectPublicKeyInfo DER of an RSA key (to render a key as PEM).
pub fn rsa_subject_public_key_info(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut algorithm = der::encode(der::OID, RSA_ENCRYPTION);
    algorithm.extend(der::encode(der::NULL, &[]));
    let mut numbers = der::encode_unsigned(modulus);
    numbers.extend(der::encode_unsigned(exponent));
    let mut bits = vec![0u8];
    bits.extend(der::encode(der::SEQUENCE, &numbers));
    let mut spki = der::encode(der::SEQUENCE, &algorithm);
    spki.extend(der::encode(der::BIT_STRING, &bits));
    der::encode(der::SEQUENCE, &spki)
}

/// A UTCTime or GeneralizedTime in its DER form (`…Z`), as Unix milliseconds.
fn time(r: &mut Reader<'_>) -> Result<i64, Malformed> {
    let (tag, body) = r.next()?;
    let text = std::str::from_utf8(body).map_err(|_| Malformed)?;
    let digits = text.strip_suffix('Z').ok_or(Malformed)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed);
    }
    let (year, rest) = match (tag, digits.len()) {
        (der::UTC_TIME, 12) => {
            let yy: i64 = digits
                .get(..2)
                .ok_or(Malformed)?
                .parse()
                .map_err(|_| Malformed)?;
            // RFC 5280: two-digit years 50–99 are 19xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (der::GENERALIZED_TIME, 14) => (
            digits
                .get(..4)
                .ok_or(Malformed)?
                .parse()
                .map_err(|_| Malformed)?,
            &digits[4..],
        ),
        _ => return Err(Malformed),
    };
    let field = |i: usize| -> Result<i64, Malformed> {
        rest.get(i..i + 2)
            .ok_or(Malformed)?
            .parse()
            .map_err(|_| Malformed)
    };
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(Malformed);
    }
    let days = days_from_civil(year, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000)
}

/// What a private key reveals of its public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateKey {
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    /// SEC 1 keys carry their public point (OpenSSL always writes it); the curve may be
    /// given by the PKCS #8 wrapper instead.
    Ec {
        curve: Option<Vec<u8>>,
        point: Option<Vec<u8>>,
    },
}

/// Parses an unencrypted private key: PKCS #1 (`RSA PRIVATE KEY`), SEC 1 (`EC PRIVATE KEY`)
/// or PKCS #8 (`PRIVATE KEY`).
pub fn parse_private_key(block: &PemBlock) -> Result<PrivateKey, Malformed> {
    match block.label.as_str() {
        "RSA PRIVATE KEY" => rsa_private_key(&block.der),
        "EC PRIVATE KEY" => ec_private_key(&block.der, None),
        "PRIVATE KEY" => {
            let mut pkcs8 = Reader::new(&block.der).sequence()?;
            pkcs8.expect(der::INTEGER)?;
            let mut algorithm = pkcs8.sequence()?;
            let oid = algorithm.expect(der::OID)?;
            let inner = pkcs8.expect(der::OCTET_STRING)?;
            if oid == RSA_ENCRYPTION {
                rsa_private_key(inner)
            } else if oid == EC_PUBLIC_KEY {
                let curve = algorithm.expect(der::OID)?.to_vec();
                ec_private_key(inner, Some(curve))
            } else {
                Err(Malformed)
            }
        }
        _ => Err(Malformed),
    }
}

fn rsa_private_key(der_bytes: &[u8]) -> Result<PrivateKey, Malformed> {
    let mut key = Reader::new(der_bytes).sequence()?;
    key.expect(der::INTEGER)?; // version
    Ok(PrivateKey::Rsa {
        modulus: der::unsigned(key.expect(der::INTEGER)?).to_vec(),
        exponent: der::unsigned(key.expect(der::INTEGER)?).to_vec(),
    })
}

fn ec_private_key(der_bytes: &[u8], curve: Option<Vec<u8>>) -> Result<PrivateKey, Malformed> {
    let mut key = Reader::new(der_bytes).sequence()?;
    key.expect(der::INTEGER)?; // version 1
    key.expect(der::OCTET_STRING)?;
    let named = match key.optional(der::context(0))? {
        Some(params) => Some(Reader::new(params).expect(der::OID)?.to_vec()),
        None => None,
    };
    let point = match key.optional(der::context(1))? {
        Some(public) => {
            Some(der::whole_bytes(Reader::new(public).expect(der::BIT_STRING)?)?.to_vec())
        }
        None => None,
    };
    Ok(PrivateKey::Ec {
        curve: named.or(curve),
        point,
    })
}

/// Whether `private` is the private half of `public`; `None` when the key does not say (an
/// EC key stored without its public point).
pub fn key_pair_matches(public: &PublicKey, private: &PrivateKey) -> Option<bool> {
    match (public, private) {
        (
            PublicKey::Rsa { modulus, exponent },
            PrivateKey::Rsa {
                modulus: m,
                exponent: e,
            },
        ) => Some(modulus == m && exponent == e),
        (PublicKey::Ec { curve, point }, PrivateKey::Ec { curve: c, point: p }) => {
            if c.as_ref().is_some_and(|c| c != curve) {
                return Some(false);
            }
            p.as_ref().map(|p| p == point)
        }
        _ => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed RSA-2048 certificate and its key, made for these tests with
    // `openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj /CN=gatehouse-test`.
    pub(crate) const TEST_CERT: &str = include_str!("testdata/rsa2048.crt");
    pub(crate) const TEST_KEY: &str = include_str!("testdata/rsa2048.key");
    pub(crate) const OTHER_KEY: &str = include_str!("testdata/other.key");
    pub(crate) const EC_CERT: &str = include_str!("testdata/p256.crt");
    pub(crate) const EC_KEY: &str = include_str!("testdata/p256.key");

    fn cert(text: &str) -> Certificate {
        let blocks = pem_blocks(text).unwrap();
        parse_certificate(&blocks[0].der).unwrap()
    }

    fn key(text: &str) -> PrivateKey {
        parse_private_key(&pem_blocks(text).unwrap()[0]).unwrap()
    }

    #[test]
    fn reads_an_rsa_certificate() {
        let c = cert(TEST_CERT);
        assert_eq!(c.public_key.bits(), 2048);
        assert!(c.not_after_millis > c.not_before_millis);
        // 36,500 days after issue.
        let days = (c.not_after_millis - c.not_before_millis) / 86_400_000;
        assert_eq!(days, 36_500);
    }

    #[test]
    fn matches_keys_to_certificates() {
        let rsa = cert(TEST_CERT);
        assert_eq!(
            key_pair_matches(&rsa.public_key, &key(TEST_KEY)),
            Some(true)
        );
        assert_eq!(
            key_pair_matches(&rsa.public_key, &key(OTHER_KEY)),
            Some(false)
        );
        let ec = cert(EC_CERT);
        assert_eq!(ec.public_key.bits(), 256);
        assert_eq!(key_pair_matches(&ec.public_key, &key(EC_KEY)), Some(true));
        assert_eq!(
            key_pair_matches(&ec.public_key, &key(TEST_KEY)),
            Some(false)
        );
    }

    #[test]
    fn refuses_garbage_and_truncation() {
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\nAAAA").is_err());
        assert!(
            pem_blocks("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----").is_err()
        );
        let mut der_bytes = pem_blocks(TEST_CERT).unwrap()[0].der.clone();
        der_bytes.truncate(der_bytes.len() - 1);
        assert_eq!(parse_certificate(&der_bytes), Err(Malformed));
        assert_eq!(parse_certificate(b"\x30\x00"), Err(Malformed));
        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----";
        assert!(pem_blocks(encrypted).is_err());
    }

    #[test]
    fn renders_rsa_keys_as_subject_public_key_info() {
        let c = cert(TEST_CERT);
        let PublicKey::Rsa { modulus, exponent } = &c.public_key else {
            panic!("not RSA")
        };
        let spki = rsa_subject_public_key_info(modulus, exponent);
        assert_eq!(
            subject_public_key(Reader::new(&spki).expect(der::SEQUENCE).unwrap()).unwrap(),
            c.public_key
        );
    }
}
