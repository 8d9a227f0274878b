//! Identifier and secret types shared by every Gatehouse crate.
//!
//! Pure: no I/O, no clock reads. Randomness is taken from the caller's RNG where it matters.

mod arn;
mod ids;
mod secret;
pub mod sharded;
mod time;

pub use arn::{AccountId, Arn, ArnError};
pub use ids::{
    IdKind, new_access_key_id, new_certificate_id, new_secret_access_key, new_session_token,
    new_unique_id,
};
pub use secret::SecretKey;
pub use time::{
    Timestamp, civil_from_days, days_from_civil, days_in_month, format_iso8601,
    format_iso8601_millis, parse_iso8601, write_iso8601,
};
