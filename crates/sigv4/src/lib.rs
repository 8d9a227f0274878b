//! AWS Signature Version 4 verification for the server side, for non-S3 services
//! (IAM and STS over the AWS Query protocol).
//!
//! **Architecture Invariant:** this crate is pure. It does no I/O, reads no clock and has no
//! async: the caller passes the request, the secret and the current time in.
//!
//! The server's path through this crate, in AWS's check order:
//!
//! 1. [`parse_authorization`]: which form (header or presigned query), required parameters,
//!    date format, algorithm, credential shape. `Ok(None)` means the request carries no SigV4
//!    at all (the server answers `MissingAuthenticationToken`, or lets an unsigned STS action
//!    through).
//! 2. [`Credentials::prevalidate`]: time window, `host` signed, credential scope (region,
//!    service, terminator, date). Needs neither the secret nor the body.
//! 3. The server looks the access key up; unknown → [`SigV4Error::InvalidClientTokenId`].
//! 4. [`verify`]: repeats the cheap checks of step 2 that need no endpoint knowledge (so it is
//!    safe on its own), recomputes the signature and compares it in constant time, then checks
//!    `X-Amz-Content-Sha256` against the body.
//! 5. The server checks `Credentials::security_token` for temporary credentials.
//!
//! The pure steps ([`canonical_request`], [`string_to_sign`], [`signing_key`], [`signature`])
//! are public so they can be checked against AWS's intermediate test files.
//!
//! Choices worth knowing (each covered by tests):
//! - AWS checks the time window and `host` before the algorithm and the credential's shape;
//!   [`parse_authorization`] has no clock, so a request with both kinds of fault gets the
//!   `IncompleteSignature` (400) rather than the `SignatureDoesNotMatch` (403).
//! - Clients disagree on `+` in a query (literal or space) and on whether a presigned
//!   request's `X-Amz-Security-Token` is signed; both readings are tried, neither lets a
//!   signature cover less than its signer chose.
//! - `UNSIGNED-PAYLOAD` is accepted only for presigned requests without a body, so a body can
//!   never ride along unsigned; `X-Amz-Content-Sha256`, when present, must equal the body's
//!   hash (wire code borrowed from S3: `XAmzContentSHA256Mismatch`).
//! - Error texts are AWS's where known (observed responses quoted by emulators and issue
//!   threads); they never include a secret, and `Debug` of [`Credentials`] hides the
//!   security token. The signature mismatch text omits AWS's "canonical string should have
//!   been" appendix.
//! - Not implemented: SigV4a (ECDSA), S3's chunked/streaming payloads.

mod canonical;
mod error;
mod parse;
mod time;
mod verify;

pub use canonical::{
    CanonicalOptions, canonical_query_string, canonical_request, canonical_uri, sha256_hex,
    string_to_sign,
};
pub use error::SigV4Error;
pub use parse::{AuthForm, Credentials, parse_authorization};
pub use time::{format_amz_date, parse_amz_date};
pub use verify::{
    SigningKey, SigningKeyCache, signature, signing_key, verify, verify_with_options,
};

/// The only signing algorithm this crate accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// An HTTP request exactly as received, borrowed from the server's own request type.
///
/// `path` and `query` are raw (still percent-encoded, as on the wire); header names may be in
/// any case and may repeat; `body` is the bytes as sent.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// Raw path as received, e.g. `/` (not decoded).
    pub path: &'a str,
    /// Raw query string without `?`, `""` if none.
    pub query: &'a str,
    /// As received: names in any case, repeated names allowed. With HTTP/2 the server must
    /// pass the `:authority` as a `host` header.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Exactly as sent.
    pub body: &'a [u8],
}

impl<'a> HttpRequest<'a> {
    /// Values of every header called `name` (ASCII case-insensitive), in the order received.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The first value of the header called `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }
}
