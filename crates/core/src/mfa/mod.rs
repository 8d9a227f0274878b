//! Virtual MFA: what a device's codes prove, with no I/O (the handlers are in
//! `iam/mfa_devices.rs`). A device is enabled with two consecutive codes found within a few
//! minutes of our clock, which also measures how far the device's clock is off; afterwards a
//! code is accepted within one step of where the device's clock is expected, and only for a
//! step newer than the last accepted, so no code works twice.

pub mod qr;
pub mod totp;

use crate::model::records::MfaAssignment;

/// Steps either side of our clock searched for two consecutive codes when a device is enabled
/// or resynchronized (five minutes): a phone whose clock drifted can still be enabled.
pub const SYNC_WINDOW_STEPS: i64 = 10;

/// Steps either side of the device's expected step searched for a code used to authenticate:
/// the code on screen may have changed while it was typed.
pub const USE_WINDOW_STEPS: i64 = 1;

/// Bytes of a new device's seed (AWS's seeds are 64 Base32 characters, 40 bytes).
pub const SEED_BYTES: usize = 40;

/// Compares two codes in constant time.
fn same_code(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The step of `code1` when `code1` and `code2` are the codes of two consecutive steps near
/// `now_step` (enabling and resynchronizing), nearest our clock first.
pub fn find_consecutive(seed: &[u8], now_step: i64, code1: &str, code2: &str) -> Option<i64> {
    (0..=SYNC_WINDOW_STEPS)
        .flat_map(|d| [now_step + d, now_step - d])
        .find(|&step| {
            same_code(&totp::code_for_step(seed, step), code1)
                && same_code(&totp::code_for_step(seed, step + 1), code2)
        })
}

/// The step a code authenticates at, if it is accepted: within a step of where the device's
/// clock is expected, and newer than any code accepted before.
pub fn accept(seed: &[u8], now_step: i64, device: &MfaAssignment, code: &str) -> Option<i64> {
    let expected = now_step + device.drift_steps;
    (expected - USE_WINDOW_STEPS..=expected + USE_WINDOW_STEPS)
        .filter(|&step| step > device.last_step)
        .find(|&step| same_code(&totp::code_for_step(seed, step), code))
}

/// The `otpauth://` URI an authenticator app reads from the QR code (Google Authenticator's
/// key-URI format): the label names the device and its account.
pub fn key_uri(issuer: &str, device_name: &str, account: &str, seed_base32: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}@{account}?secret={}&issuer={issuer}",
        percent_encode(device_name),
        seed_base32.trim_end_matches('='),
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &[u8] = b"12345678901234567890";

    fn device(drift_steps: i64, last_step: i64) -> MfaAssignment {
        MfaAssignment {
            owner: "AIDA".into(),
            enable_date: 0,
            drift_steps,
            last_step,
        }
    }

    #[test]
    fn consecutive_codes_are_found_near_our_clock_and_measure_drift() {
        let now = totp::step_at(1_111_111_109);
        let code = |s| totp::code_for_step(SEED, s);
        assert_eq!(
            find_consecutive(SEED, now, &code(now), &code(now + 1)),
            Some(now)
        );
        // A device four minutes behind.
        assert_eq!(
            find_consecutive(SEED, now, &code(now - 8), &code(now - 7)),
            Some(now - 8)
        );
        // Out of order, not consecutive, or too far off.
        assert_eq!(
            find_consecutive(SEED, now, &code(now + 1), &code(now)),
            None
        );
        assert_eq!(
            find_consecutive(SEED, now, &code(now), &code(now + 2)),
            None
        );
        assert_eq!(
            find_consecutive(SEED, now, &code(now + 11), &code(now + 12)),
            None
        );
    }

    #[test]
    fn a_code_is_accepted_once_within_a_step_of_the_devices_clock() {
        let now = totp::step_at(2_000_000_000);
        let code = |s| totp::code_for_step(SEED, s);
        let fresh = device(0, now - 5);
        assert_eq!(accept(SEED, now, &fresh, &code(now)), Some(now));
        assert_eq!(accept(SEED, now, &fresh, &code(now - 1)), Some(now - 1));
        assert_eq!(accept(SEED, now, &fresh, &code(now + 1)), Some(now + 1));
        assert_eq!(accept(SEED, now, &fresh, &code(now + 2)), None);
        assert_eq!(accept(SEED, now, &fresh, "000000"), None);
        // Once a step's code is used, neither it nor an older one is accepted again.
        let used = device(0, now);
        assert_eq!(accept(SEED, now, &used, &code(now)), None);
        assert_eq!(accept(SEED, now, &used, &code(now - 1)), None);
        assert_eq!(accept(SEED, now, &used, &code(now + 1)), Some(now + 1));
        // A device whose clock is three steps behind, as resynchronization found.
        let behind = device(-3, 0);
        assert_eq!(accept(SEED, now, &behind, &code(now - 3)), Some(now - 3));
        assert_eq!(accept(SEED, now, &behind, &code(now)), None);
    }

    #[test]
    fn the_key_uri_names_the_device_and_escapes_it() {
        assert_eq!(
            key_uri("Gatehouse", "alice phone", "123456789012", "GEZDGNBV===="),
            "otpauth://totp/Gatehouse:alice%20phone@123456789012?secret=GEZDGNBV&issuer=Gatehouse"
        );
    }
}
