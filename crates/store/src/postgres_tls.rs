//! TLS to PostgreSQL, with libpq's `sslmode` meanings so a URL that works with `psql` means
//! the same here:
//!
//! | `sslmode`     | encrypted                   | server certificate checked            |
//! |---------------|-----------------------------|---------------------------------------|
//! | `disable`     | no                          | —                                     |
//! | `prefer`      | if the server offers it     | no (libpq's default)                  |
//! | `require`     | always                      | no, unless `sslrootcert` is given     |
//! | `verify-ca`   | always                      | chain up to `sslrootcert`             |
//! | `verify-full` | always                      | chain and host name (or IP address)   |
//!
//! `sslrootcert` is a PEM file of trusted certificates, or `system` for the operating system's
//! store (as in libpq 16). The driver itself knows only `disable`/`prefer`/`require`, so the
//! URL is rewritten before it parses it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::Socket;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::StoreError;

/// How the server's certificate is checked, once `sslmode` and `sslrootcert` are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Encrypt, but accept any certificate (`prefer`, `require` without a root certificate).
    None,
    /// The chain must lead to a trusted root; the name is not compared (`verify-ca`).
    Chain,
    /// Chain and host name (`verify-full`).
    Full,
}

/// A connection URL split into what the driver parses and what Gatehouse checks itself.
pub struct TlsOptions {
    /// The URL without `sslrootcert`, with `verify-*` modes given to the driver as `require`.
    pub driver_url: String,
    pub verification: Verification,
    pub root_certificates: Option<String>,
}

/// Reads `sslmode` and `sslrootcert` from a `postgres://` URL's query.
pub fn tls_options(url: &str) -> Result<TlsOptions, StoreError> {
    let invalid = |why: &str| StoreError::Backend(format!("invalid PostgreSQL URL: {why}"));
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(percent_decode(value).ok_or_else(|| invalid("sslmode"))?),
            "sslrootcert" => {
                root = Some(percent_decode(value).ok_or_else(|| invalid("sslrootcert"))?)
            }
            _ => kept.push(pair),
        }
    }
    let (driver_mode, verification) = match mode.as_deref() {
        None | Some("prefer") => ("prefer", Verification::None),
        Some("disable") => ("disable", Verification::None),
        Some("require") if root.is_some() => ("require", Verification::Chain),
        Some("require") => ("require", Verification::None),
        Some("verify-ca") => ("require", Verification::Chain),
        Some("verify-full") => ("require", Verification::Full),
        Some(other) => return Err(invalid(&format!("unknown sslmode `{other}`"))),
    };
    if verification != Verification::None && root.is_none() {
        return Err(invalid(
            "sslmode=verify-ca and verify-full need sslrootcert=FILE (or sslrootcert=system)",
        ));
    }
    let driver_sslmode = format!("sslmode={driver_mode}");
    kept.push(&driver_sslmode);
    Ok(TlsOptions {
        driver_url: format!("{base}?{}", kept.join("&")),
        verification,
        root_certificates: root,
    })
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The connector handed to the driver; cheap to clone (one shared rustls configuration).
#[derive(Clone)]
pub struct RustlsConnector {
    config: Arc<rustls::ClientConfig>,
}

impl RustlsConnector {
    pub fn new(options: &TlsOptions) -> Result<Self, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = match &options.root_certificates {
            Some(source) if options.verification != Verification::None => {
                let roots = Arc::new(load_roots(source)?);
                Some(
                    WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                        .build()
                        .map_err(|e| {
                            StoreError::Backend(format!("PostgreSQL TLS root certificates: {e}"))
                        })?,
                )
            }
            _ => None,
        };
        let verifier = Arc::new(DatabaseCertVerifier {
            chain,
            check_name: options.verification == Verification::Full,
            provider: provider.clone(),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(RustlsConnector {
            config: Arc::new(config),
        })
    }
}

fn load_roots(source: &str) -> Result<rustls::RootCertStore, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    if source == "system" {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    } else {
        let pem = std::fs::read(source).map_err(|e| {
            StoreError::Backend(format!("cannot read sslrootcert file {source}: {e}"))
        })?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| {
                StoreError::Backend(format!("sslrootcert file {source} is not PEM: {e}"))
            })?;
            roots
                .add(cert)
                .map_err(|e| StoreError::Backend(format!("sslrootcert file {source}: {e}")))?;
        }
    }
    if roots.is_empty() {
        return Err(StoreError::Backend(format!(
            "sslrootcert {source} holds no certificate"
        )));
    }
    Ok(roots)
}

/// Checks the chain (if roots were given) and the name (for `verify-full`); the handshake's
/// signatures are always checked, so even `require` talks to whoever holds the key it shows.
#[derive(Debug)]
struct DatabaseCertVerifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for DatabaseCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl MakeTlsConnect<Socket> for RustlsConnector {
    type Stream = DatabaseTlsStream;
    type TlsConnect = RustlsHandshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsHandshake, io::Error> {
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsHandshake {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            name,
        })
    }
}

pub struct RustlsHandshake {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

type Handshake = Pin<Box<dyn Future<Output = io::Result<DatabaseTlsStream>> + Send>>;

impl TlsConnect<Socket> for RustlsHandshake {
    type Stream = DatabaseTlsStream;
    type Error = io::Error;
    type Future = Handshake;

    fn connect(self, stream: Socket) -> Handshake {
        Box::pin(async move {
            let stream = self.connector.connect(self.name, stream).await?;
            Ok(DatabaseTlsStream(stream))
        })
    }
}

pub struct DatabaseTlsStream(tokio_rustls::client::TlsStream<Socket>);

impl TlsStream for DatabaseTlsStream {
    /// RFC 5929's `tls-server-end-point`, so SCRAM-SHA-256-PLUS binds the password exchange
    /// to this TLS session (a relay holding another certificate cannot pass it on).
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        match session.peer_certificates().and_then(|c| c.first()) {
            Some(cert) => ChannelBinding::tls_server_end_point(server_end_point(cert)),
            None => ChannelBinding::none(),
        }
    }
}

/// The certificate's hash under its own signature's hash function, SHA-256 for MD5 and SHA-1
/// (RFC 5929, section 4.1).
fn server_end_point(cert: &[u8]) -> Vec<u8> {
    match signature_hash(cert) {
        Some(SignatureHash::Sha384) => sha2::Sha384::digest(cert).to_vec(),
        Some(SignatureHash::Sha512) => sha2::Sha512::digest(cert).to_vec(),
        _ => sha2::Sha256::digest(cert).to_vec(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum SignatureHash {
    Sha384,
    Sha512,
}

/// The hash named by the certificate's outer `signatureAlgorithm` (RFC 5280, section 4.1.1.2).
fn signature_hash(cert: &[u8]) -> Option<SignatureHash> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let (certificate, _) = der_element(cert, 0x30)?;
    let (_, after_tbs) = der_element(certificate, 0x30)?;
    let (algorithm, _) = der_element(after_tbs, 0x30)?;
    let (oid, _) = der_element(algorithm, 0x06)?;
    const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    const ECDSA_WITH_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    const ECDSA_WITH_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    match oid {
        SHA384_WITH_RSA | ECDSA_WITH_SHA384 => Some(SignatureHash::Sha384),
        SHA512_WITH_RSA | ECDSA_WITH_SHA512 => Some(SignatureHash::Sha512),
        _ => None,
    }
}

/// One DER element of the expected tag: its contents and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let first = *input.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let bytes = input.get(2..2 + count)?;
        let length = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (length, 2 + count)
    };
    let end = header.checked_add(length)?;
    Some((input.get(header..end)?, input.get(end..)?))
}

impl AsyncRead for DatabaseTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for DatabaseTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_become_require_for_the_driver_and_lose_sslrootcert() {
        let o = tls_options(
            "postgres://u@h:5/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(o.verification, Verification::Full);
        assert_eq!(o.root_certificates.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(
            o.driver_url,
            "postgres://u@h:5/db?application_name=x&sslmode=require"
        );
        let o = tls_options("postgres://u@h/db?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!(o.verification, Verification::Chain);
    }

    #[test]
    fn libpq_defaults_hold() {
        let o = tls_options("postgres://u@h/db").unwrap();
        assert_eq!(o.verification, Verification::None);
        assert_eq!(o.driver_url, "postgres://u@h/db?sslmode=prefer");
        // libpq: `require` with a root certificate behaves as `verify-ca`.
        let o = tls_options("postgres://u@h/db?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(o.verification, Verification::Chain);
        let o = tls_options("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(o.driver_url, "postgres://u@h/db?sslmode=disable");
    }

    #[test]
    fn verification_without_roots_or_an_unknown_mode_is_refused() {
        assert!(tls_options("postgres://u@h/db?sslmode=verify-full").is_err());
        assert!(tls_options("postgres://u@h/db?sslmode=allow-anything").is_err());
        assert!(tls_options("postgres://u@h/db?sslrootcert=%zz").is_err());
    }

    #[test]
    fn the_signature_hash_is_read_from_the_outer_algorithm() {
        // SEQUENCE { SEQUENCE {} (tbs), SEQUENCE { OID ecdsa-with-SHA384 }, BIT STRING }
        let cert = [
            0x30, 0x10, 0x30, 0x00, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
            0x03, 0x03, 0x03, 0x02, 0x00, 0x00,
        ];
        assert_eq!(signature_hash(&cert), Some(SignatureHash::Sha384));
        assert_eq!(server_end_point(&cert).len(), 48);
        assert_eq!(signature_hash(&cert[..5]), None);
        assert_eq!(server_end_point(&[0x30]).len(), 32);
    }
}
