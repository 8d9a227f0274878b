//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), as virtual MFA devices and
//! authenticator apps compute them: HMAC-SHA-1, six digits, 30-second steps from the Unix
//! epoch. Pure: the time is an argument. SHA-1 is written here (no crate for it is in our
//! tree); it serves only HMAC, where SHA-1's collision weakness does not matter.

#[cfg(test)]
use sha2::Digest;

/// Seconds per step, and digits per code, of AWS's virtual MFA devices.
pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;

/// The hash an HOTP generator uses (AWS: SHA-1; the RFC's vectors also use SHA-2, which
/// only the tests need).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    #[cfg(test)]
    Sha256,
    #[cfg(test)]
    Sha512,
}

/// The step a moment (Unix seconds) falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The `digits`-digit code of a seed at a counter (HOTP), zero-padded.
pub fn hotp(algorithm: Algorithm, seed: &[u8], counter: u64, digits: u32) -> String {
    let mac = hmac(algorithm, seed, &counter.to_be_bytes());
    // Dynamic truncation (RFC 4226, 5.3).
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The six-digit SHA-1 code of a seed for a step, as an authenticator app shows it.
pub fn code_for_step(seed: &[u8], step: i64) -> String {
    hotp(
        Algorithm::Sha1,
        seed,
        u64::try_from(step).unwrap_or(0),
        DIGITS,
    )
}

type HashFn = fn(&[u8]) -> Vec<u8>;

fn hmac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    let (hash, block): (HashFn, usize) = match algorithm {
        Algorithm::Sha1 => (|m| sha1(m).to_vec(), 64),
        #[cfg(test)]
        Algorithm::Sha256 => (|m| sha2::Sha256::digest(m).to_vec(), 64),
        #[cfg(test)]
        Algorithm::Sha512 => (|m| sha2::Sha512::digest(m).to_vec(), 128),
    };
    let mut key_block = if key.len() > block {
        hash(key)
    } else {
        key.to_vec()
    };
    key_block.resize(block, 0);
    let pad = |byte: u8| key_block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let mut inner = pad(0x36);
    inner.extend_from_slice(message);
    let mut outer = pad(0x5c);
    outer.extend_from_slice(&hash(&inner));
    hash(&outer)
}

/// SHA-1 (FIPS 180-4).
fn sha1(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut padded = message.to_vec();
    padded.push(0x80);
    while padded.len() % 64 != 56 {
        padded.push(0);
    }
    padded.extend_from_slice(&((message.len() as u64).wrapping_mul(8)).to_be_bytes());
    for chunk in padded.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 Base32 with padding, as AWS returns `Base32StringSeed` and authenticator apps
/// take a seed.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < symbols {
                let index = ((bits >> (35 - i * 5)) & 0x1f) as usize;
                out.push(char::from(BASE32_ALPHABET[index]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of RFC 4648 Base32 text (padding optional, letters in either case).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = BASE32_ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_matches_fips_180_examples() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(&sha1(&vec![b'a'; 1_000_000])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        assert_eq!(
            hex(&hmac(Algorithm::Sha1, &[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex(&hmac(
                Algorithm::Sha1,
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    /// RFC 6238 Appendix B, from `shared/vectors/totp` (8 digits as the RFC prints them, and
    /// the 6 that virtual MFA devices show), and AWS-style consecutive pairs.
    #[test]
    fn totp_matches_the_rfc_6238_vectors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/vectors/totp/rfc6238-totp-vectors.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("test vectors missing at {}: {e}", path.display()));
        let vectors: serde_json::Value = serde_json::from_str(&text).expect("vectors parse");
        let seed = |name: &str| {
            vectors["seeds_ascii"][name]
                .as_str()
                .expect("seed")
                .as_bytes()
                .to_vec()
        };
        let cases = vectors["rfc_cases"].as_array().expect("cases");
        assert_eq!(cases.len(), 18);
        for case in cases {
            let time = case["unix_time"].as_i64().expect("time");
            let name = case["algorithm"].as_str().expect("algorithm");
            let algorithm = match name {
                "SHA1" => Algorithm::Sha1,
                "SHA256" => Algorithm::Sha256,
                _ => Algorithm::Sha512,
            };
            let counter = u64::try_from(step_at(time)).expect("positive");
            assert_eq!(
                format!("{counter:016X}"),
                case["counter_T_hex"].as_str().expect("T")
            );
            assert_eq!(
                hotp(algorithm, &seed(name), counter, 8),
                case["code_8_digits_rfc"].as_str().expect("code"),
                "{name} at {time}"
            );
            assert_eq!(
                hotp(algorithm, &seed(name), counter, 6),
                case["code_6_digits"].as_str().expect("code"),
                "{name} at {time}"
            );
        }
        for pair in vectors["aws_style_consecutive_pairs_sha1_6digit"]
            .as_array()
            .expect("pairs")
        {
            let step = step_at(pair["server_time"].as_i64().expect("time"));
            let seed = seed("SHA1");
            assert_eq!(code_for_step(&seed, step), pair["code1_current_step"]);
            assert_eq!(code_for_step(&seed, step + 1), pair["code2_next_step"]);
            assert_eq!(code_for_step(&seed, step - 1), pair["previous_step_code"]);
        }
        assert_eq!(
            base32(&seed("SHA1")),
            vectors["seeds_base32"]["SHA1"].as_str().expect("base32")
        );
        assert_eq!(
            base32(&seed("SHA256")),
            vectors["seeds_base32"]["SHA256"].as_str().expect("base32")
        );
        assert_eq!(
            base32(&seed("SHA512")),
            vectors["seeds_base32"]["SHA512"].as_str().expect("base32")
        );
    }

    #[test]
    fn base32_pads_as_rfc_4648_does() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY======");
        assert_eq!(base32(b"fo"), "MZXQ====");
        assert_eq!(base32(b"foo"), "MZXW6===");
        assert_eq!(base32(b"foob"), "MZXW6YQ=");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI======");
        for text in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0xff; 40],
        ] {
            assert_eq!(base32_decode(&base32(text)).as_deref(), Some(text));
        }
        assert_eq!(base32_decode("mzxw6"), Some(b"foo".to_vec()));
        assert_eq!(base32_decode("MZ1W"), None);
    }
}
