//! The AWS Query protocol for IAM and STS: request decoding with the model's validation, XML
//! response encoding, wire error codes and one API trait per service.
//!
//! Most of this crate is generated from AWS's service models in `model/` by `cargo xtask
//! codegen` (see `src/generated/`); the hand-written modules are the runtime the generated code
//! calls: [`query`] (form parameters), [`xml`] (escaping), [`error`] (the one wire error type)
//! and `codec` (decoding and encoding helpers).
//!
//! Wire behaviour chosen where the brief left it open (sources in the item docs):
//! - parameters an input does not define are ignored ([`DecodeQuery`]), as IAM and STS do;
//! - a missing or wrong `Version` and an unknown `Action` both answer `InvalidAction` with
//!   `Could not find operation {action} for version {version}` (`iam::dispatch`);
//! - malformed percent-encoding, invalid UTF-8 and repeated keys answer
//!   `InvalidQueryParameter` (400) ([`QueryParams::parse`]).
//!
//! **Architecture Invariant**: pure code. No I/O, no clock, no randomness: the request id and
//! all times are passed in.

#[doc(hidden)]
pub mod codec;
pub mod error;
mod generated;
pub mod query;
pub mod xml;

pub use codec::{DecodeQuery, EncodeXml};
pub use error::{ApiError, ErrorCode};
pub use generated::{iam, sts};
pub use query::QueryParams;

#[cfg(test)]
mod tests;
