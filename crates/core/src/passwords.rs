//! Console passwords: argon2id hashing (OWASP's minimum parameters: 19 MiB, 2 passes, 1 lane)
//! with bounded concurrency, and the account password policy's rules.
//!
//! A hash costs tens of milliseconds and 19 MiB by design; at most as many run at once as
//! the machine has cores, so a burst of password calls queues instead of exhausting memory.

use std::sync::{Condvar, Mutex, PoisonError};

use argon2::{Algorithm, Argon2, Params, Version};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_types::SecretKey;

use crate::crypto::random;
use crate::errors::{Failure, Result, internal, randomness_unavailable};
use crate::model::records::PasswordPolicyRecord;

const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const HASH_LEN: usize = 32;

/// Hashes passwords, a bounded number at a time.
pub struct PasswordHasher {
    running: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher {
            running: Mutex::new(0),
            freed: Condvar::new(),
            limit: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(M_COST, T_COST, P_COST, Some(HASH_LEN))
        .map_err(|_| internal("argon2 parameters"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len() / 2)
        .map(|i| {
            text.get(2 * i..2 * i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect()
}

impl PasswordHasher {
    fn with_slot<T>(&self, work: impl FnOnce() -> T) -> T {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        while *running >= self.limit {
            running = self
                .freed
                .wait(running)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *running += 1;
        drop(running);
        let result = work();
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        *running -= 1;
        self.freed.notify_one();
        result
    }

    fn compute(password: &str, salt: &[u8]) -> Result<[u8; HASH_LEN]> {
        let mut out = [0u8; HASH_LEN];
        argon2()?
            .hash_password_into(password.as_bytes(), salt, &mut out)
            .map_err(|_| internal("argon2 hashing failed"))?;
        Ok(out)
    }

    /// `argon2id$v=19$m=…,t=…,p=…$SALT$HASH` (hex).
    pub fn hash(&self, password: &SecretKey) -> Result<String> {
        let salt: [u8; 16] = random().map_err(randomness_unavailable)?;
        let hash = self.with_slot(|| Self::compute(password.expose(), &salt))?;
        Ok(format!(
            "argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}",
            hex(&salt),
            hex(&hash)
        ))
    }

    /// Whether `password` is the one `stored` was made from, compared in constant time.
    pub fn verify(&self, password: &SecretKey, stored: &str) -> Result<bool> {
        let parts: Vec<&str> = stored.split('$').collect();
        let (Some(salt), Some(expected)) = (
            parts.get(3).and_then(|s| unhex(s)),
            parts.get(4).and_then(|s| unhex(s)),
        ) else {
            return Err(internal("a stored password hash is malformed"));
        };
        let actual = self.with_slot(|| Self::compute(password.expose(), &salt))?;
        Ok(expected.len() == actual.len()
            && expected
                .iter()
                .zip(actual.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0)
    }
}

pub fn policy_violation() -> Failure {
    ApiError::new(
        ErrorCode::PasswordPolicyViolation,
        "Password does not conform to the account password policy.",
    )
    .into()
}

/// Whether a password meets the account's policy, or AWS's default rules where the account
/// has none (at least 8 characters, and three of: upper case, lower case, digits, symbols).
pub fn check(policy: Option<&PasswordPolicyRecord>, password: &str) -> Result<()> {
    let length = password.chars().count();
    let upper = password.chars().any(|c| c.is_ascii_uppercase());
    let lower = password.chars().any(|c| c.is_ascii_lowercase());
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let symbol = password.chars().any(|c| c.is_ascii_punctuation());
    let ok = match policy {
        None => length >= 8 && [upper, lower, digit, symbol].iter().filter(|c| **c).count() >= 3,
        Some(p) => {
            length >= usize::try_from(p.minimum_password_length).unwrap_or(usize::MAX)
                && (!p.require_uppercase_characters || upper)
                && (!p.require_lowercase_characters || lower)
                && (!p.require_numbers || digit)
                && (!p.require_symbols || symbol)
        }
    };
    if ok { Ok(()) } else { Err(policy_violation()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let hasher = PasswordHasher::default();
        let password = SecretKey::new("Correct-Horse-9");
        let a = hasher.hash(&password).unwrap();
        let b = hasher.hash(&password).unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!a.contains("Correct"));
        assert!(hasher.verify(&password, &a).unwrap());
        assert!(
            !hasher
                .verify(&SecretKey::new("correct-horse-9"), &a)
                .unwrap()
        );
    }

    #[test]
    fn default_rules_and_account_policies() {
        assert!(check(None, "Abcdefg1").is_ok());
        assert!(check(None, "abcdefg1").is_err(), "two classes only");
        assert!(check(None, "Ab1!").is_err(), "too short");
        let policy = PasswordPolicyRecord {
            v: 1,
            minimum_password_length: 12,
            require_symbols: true,
            require_numbers: false,
            require_uppercase_characters: false,
            require_lowercase_characters: true,
            allow_users_to_change_password: true,
            max_password_age: None,
            password_reuse_prevention: None,
            hard_expiry: false,
        };
        assert!(check(Some(&policy), "long-enough-pw").is_ok());
        assert!(check(Some(&policy), "longenoughpw").is_err(), "no symbol");
        assert!(check(Some(&policy), "short-pw").is_err());
    }
}
