//! Public-key material users upload to IAM — X.509 certificates with their private keys, and
//! SSH public keys — parsed and checked here, with no I/O.

pub mod der;
pub mod saml;
pub mod ssh;
pub mod x509;
