//! Checking what [`crate::parse_authorization`] read: time, scope, signature.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::RwLock;

use gatehouse_types::sharded::Sharded;

use gatehouse_types::SecretKey;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::canonical::{CanonicalOptions, canonical_request, hex_lower, sha256_hex_bytes};

use crate::parse::{AuthForm, Credentials};
use crate::time::format_amz_date;
use crate::{HttpRequest, SigV4Error};

/// Allowed clock skew, either way, as AWS.
const MAX_SKEW_SECS: i64 = 15 * 60;
const TERMINATOR: &str = "aws4_request";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// HMAC-SHA256 with any key length. Keys up to a block (64 bytes) are zero-padded and longer
/// ones hashed first, exactly as HMAC (RFC 2104) specifies, so construction cannot fail.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed_hmac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA256 keyed with `key`, ready to be fed (see [`hmac_sha256`] on key lengths).
fn keyed_hmac(key: &[u8]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    let hashed;
    let key = if key.len() > 64 {
        hashed = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(key)));
        hashed.as_slice()
    } else {
        key
    };
    for (b, k) in block.iter_mut().zip(key) {
        *b = *k;
    }
    <Hmac<Sha256> as KeyInit>::new(&(*block).into())
}

/// A derived SigV4 signing key (`kSigning`). Zeroized on drop; never printed.
#[derive(Clone)]
pub struct SigningKey(Zeroizing<[u8; 32]>);

impl SigningKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &SecretKey, date: &str, region: &str, service: &str) -> SigningKey {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.expose().len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.expose().as_bytes());
    let k_date = Zeroizing::new(hmac_sha256(&k_secret, date.as_bytes()));
    let k_region = Zeroizing::new(hmac_sha256(k_date.as_slice(), region.as_bytes()));
    let k_service = Zeroizing::new(hmac_sha256(k_region.as_slice(), service.as_bytes()));
    SigningKey(Zeroizing::new(hmac_sha256(
        k_service.as_slice(),
        TERMINATOR.as_bytes(),
    )))
}

/// The signature: lowercase hex HMAC of the string to sign.
pub fn signature(key: &SigningKey, string_to_sign: &str) -> String {
    let mac = hmac_sha256(key.as_bytes(), string_to_sign.as_bytes());
    String::from_utf8_lossy(&hex_lower(&mac)).into_owned()
}

/// The signature of a canonical request, in hex: the HMAC of the string to sign, fed to it
/// piece by piece (`canonical::string_to_sign` is the same string, assembled).
fn signature_hex(
    key: &SigningKey,
    request_time: &str,
    creds: &Credentials,
    canonical_request: &[u8],
) -> [u8; 64] {
    let mut mac = keyed_hmac(key.as_bytes());
    for part in [crate::ALGORITHM, "\n", request_time, "\n", &creds.date, "/"] {
        mac.update(part.as_bytes());
    }
    for part in [
        &creds.region,
        "/",
        &creds.service,
        "/",
        &creds.terminator,
        "\n",
    ] {
        mac.update(part.as_bytes());
    }
    mac.update(&sha256_hex_bytes(canonical_request));
    hex_lower(&mac.finalize().into_bytes().into())
}

/// One derived key: the scope and secret it was derived for.
struct CacheEntry {
    date: String,
    region: String,
    service: String,
    /// The secret it was derived from: a rotated secret never meets a stale key (compared in
    /// constant time; zeroized on drop).
    secret: SecretKey,
    key: SigningKey,
}

impl CacheEntry {
    fn is_for(&self, secret: &SecretKey, date: &str, region: &str, service: &str) -> bool {
        self.date == date
            && self.region == region
            && self.service == service
            && self.secret == *secret
    }
}

/// Scopes kept per access key: a key used for IAM and STS in two regions needs four.
const SCOPES_PER_KEY: usize = 4;

#[derive(Default)]
struct CacheInner {
    /// By access key id, so a lookup borrows the request's id and allocates nothing.
    keys: HashMap<String, Vec<CacheEntry>>,
    /// Access key ids in insertion order, for eviction.
    order: VecDeque<String>,
}

/// A bounded, thread-safe cache of derived signing keys, by access key id, then date, region,
/// service and secret. The oldest access keys are evicted first; keys are zeroized when
/// evicted or dropped.
pub struct SigningKeyCache {
    // One per thread group ([`Sharded`]): a lookup takes a lock no other CPU is taking (each
    // group derives a key once per scope).
    inner: Sharded<RwLock<CacheInner>>,
    capacity: usize,
}

impl SigningKeyCache {
    /// Default capacity: enough for a few thousand active keys per day.
    pub const DEFAULT_CAPACITY: usize = 4096;

    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A cache holding the keys of at most `capacity` access keys (0 disables caching).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Sharded::new(|| RwLock::new(CacheInner::default())),
            capacity,
        }
    }

    /// Number of derived keys held by the calling thread's group.
    pub fn len(&self) -> usize {
        self.read().keys.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheInner> {
        // A panic while holding the lock cannot leave the map inconsistent in a harmful way:
        // at worst an entry is missing from `order`, so keep going.
        self.inner
            .local()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, CacheInner> {
        self.inner
            .local()
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The signing key for this scope, derived once and then cached.
    pub fn signing_key(
        &self,
        access_key_id: &str,
        secret: &SecretKey,
        date: &str,
        region: &str,
        service: &str,
    ) -> SigningKey {
        if let Some(entries) = self.read().keys.get(access_key_id)
            && let Some(hit) = entries
                .iter()
                .find(|e| e.is_for(secret, date, region, service))
        {
            return hit.key.clone();
        }
        let derived = signing_key(secret, date, region, service);
        if self.capacity == 0 {
            return derived;
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        if !inner.keys.contains_key(access_key_id) {
            while inner.keys.len() >= self.capacity {
                match inner.order.pop_front() {
                    Some(old) => {
                        inner.keys.remove(&old);
                    }
                    None => inner.keys.clear(),
                }
            }
            inner.order.push_back(access_key_id.to_owned());
        }
        let entries = inner.keys.entry(access_key_id.to_owned()).or_default();
        if !entries
            .iter()
            .any(|e| e.is_for(secret, date, region, service))
        {
            if entries.len() >= SCOPES_PER_KEY {
                entries.remove(0);
            }
            entries.push(CacheEntry {
                date: date.to_owned(),
                region: region.to_owned(),
                service: service.to_owned(),
                secret: secret.clone(),
                key: derived.clone(),
            });
        }
        derived
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// The endpoint's service and its test for valid regions.
type Endpoint<'a> = (&'a str, &'a dyn Fn(&str) -> bool);

impl Credentials {
    /// AWS's checks that need neither the secret nor the body, in AWS's order: the time
    /// window, `host` signed, then the credential scope — region (`region_is_valid`), service
    /// (`service`), terminator and date, every problem named in one message as AWS does.
    /// Call it before looking the access key up, so errors come in AWS's order.
    pub fn prevalidate(
        &self,
        now_unix: i64,
        service: &str,
        region_is_valid: impl Fn(&str) -> bool,
    ) -> Result<(), SigV4Error> {
        self.check_time(now_unix)?;
        self.check_host_signed()?;
        self.check_scope(Some((service, &region_is_valid)))
    }

    /// Header form: the request time within 15 minutes of `now` either way. Presigned: not
    /// more than 15 minutes in the future, and not past `X-Amz-Date + X-Amz-Expires` (15
    /// minutes when `X-Amz-Expires` is absent).
    pub fn check_time(&self, now_unix: i64) -> Result<(), SigV4Error> {
        let t = self.request_time_unix;
        if t > now_unix.saturating_add(MAX_SKEW_SECS) {
            return Err(SigV4Error::SignatureNotYetCurrent {
                request_time: format_amz_date(t),
                latest: format_amz_date(now_unix.saturating_add(MAX_SKEW_SECS)),
                now: format_amz_date(now_unix),
            });
        }
        match (self.form, self.expires) {
            (AuthForm::Presigned, Some(expires)) => {
                if t < now_unix.saturating_sub(expires) {
                    return Err(SigV4Error::PresignedExpired {
                        request_time: format_amz_date(t),
                        earliest: format_amz_date(now_unix.saturating_sub(expires)),
                        now: format_amz_date(now_unix),
                        expires,
                    });
                }
            }
            _ => {
                if t < now_unix.saturating_sub(MAX_SKEW_SECS) {
                    return Err(SigV4Error::SignatureExpired {
                        request_time: format_amz_date(t),
                        earliest: format_amz_date(now_unix.saturating_sub(MAX_SKEW_SECS)),
                        now: format_amz_date(now_unix),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_host_signed(&self) -> Result<(), SigV4Error> {
        if self
            .signed_headers
            .split(';')
            .any(|h| h.eq_ignore_ascii_case("host"))
        {
            Ok(())
        } else {
            Err(SigV4Error::HostNotSigned)
        }
    }

    fn check_scope(&self, endpoint: Option<Endpoint<'_>>) -> Result<(), SigV4Error> {
        let mut problems: Vec<String> = Vec::new();
        if let Some((service, region_is_valid)) = endpoint {
            if !region_is_valid(&self.region) {
                problems.push(format!(
                    "Credential should be scoped to a valid region, not '{}'.",
                    self.region
                ));
            }
            if self.service != service {
                problems.push(format!(
                    "Credential should be scoped to correct service: '{service}'."
                ));
            }
        }
        if self.terminator != TERMINATOR {
            problems.push(format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
                self.terminator
            ));
        }
        // Compared on the stack: this runs for every request.
        let stamp = crate::time::amz_date_bytes(self.request_time_unix);
        let request_date = stamp.as_ref().and_then(|s| s.get(..8)).unwrap_or_default();
        if self.date.as_bytes() != request_date {
            let request_time = self.request_time();
            let request_date = request_time.get(..8).unwrap_or_default();
            problems.push(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{request_date}', from '{request_time}'.",
                self.date
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SigV4Error::CredentialScope(problems.join(" ")))
        }
    }
}

/// Verifies the request with our server's canonicalisation ([`CanonicalOptions::SERVICE`]).
///
/// In order: time window, `host` signed, scope terminator and date (see
/// [`Credentials::prevalidate`] for the checks that need the endpoint's service and
/// regions), then the signature, recomputed with `secret` and compared in constant time, then
/// `X-Amz-Content-Sha256` against the body.
pub fn verify(
    req: &HttpRequest<'_>,
    creds: &Credentials,
    secret: &SecretKey,
    now_unix: i64,
    cache: &SigningKeyCache,
) -> Result<(), SigV4Error> {
    verify_with_options(
        req,
        creds,
        secret,
        now_unix,
        cache,
        CanonicalOptions::SERVICE,
    )
}

/// [`verify`] with explicit canonicalisation options.
///
/// Two spellings that clients disagree on are both accepted, each tried only when it could
/// matter: `+` in the query as a literal plus (AWS SDK for Rust, aws-c-auth) or as a space
/// (older signers using form decoding); and, for presigned requests, `X-Amz-Security-Token`
/// signed or appended after signing (as a header token may be). Neither widens what a
/// signature covers beyond what its signer chose to cover.
pub fn verify_with_options(
    req: &HttpRequest<'_>,
    creds: &Credentials,
    secret: &SecretKey,
    now_unix: i64,
    cache: &SigningKeyCache,
    opts: CanonicalOptions,
) -> Result<(), SigV4Error> {
    creds.check_time(now_unix)?;
    creds.check_host_signed()?;
    creds.check_scope(None)?;

    let body_hash_bytes = sha256_hex_bytes(req.body);
    let body_hash = std::str::from_utf8(&body_hash_bytes).unwrap_or_default();
    let claimed = claimed_payload_hash(req, creds.form);
    let payload_hash = match claimed.as_deref() {
        Some(UNSIGNED_PAYLOAD) if creds.form == AuthForm::Presigned && req.body.is_empty() => {
            UNSIGNED_PAYLOAD
        }
        _ => body_hash,
    };

    let key = cache.signing_key(
        &creds.access_key_id,
        secret,
        &creds.date,
        &creds.region,
        &creds.service,
    );
    let stamp = crate::time::amz_date_bytes(creds.request_time_unix);
    let formatted;
    let request_time = match stamp.as_ref().and_then(|s| std::str::from_utf8(s).ok()) {
        Some(time) => time,
        None => {
            formatted = creds.request_time();
            formatted.as_str()
        }
    };
    // The canonicalisations to try: ours, then (only when they could matter) the other
    // reading of `+` and, presigned, the token left out; at most four.
    let plus = req.query.contains('+');
    let token = creds.form == AuthForm::Presigned && req.query.contains("X-Amz-Security-Token=");
    let variants = [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .filter(|&(flip_plus, flip_token)| (plus || !flip_plus) && (token || !flip_token))
        .map(|(flip_plus, flip_token)| CanonicalOptions {
            query_plus_is_space: opts.query_plus_is_space ^ flip_plus,
            omit_security_token_param: opts.omit_security_token_param ^ flip_token,
            ..opts
        });
    let mut matched = false;
    for variant in variants {
        let creq = canonical_request(req, &creds.signed_headers, payload_hash, variant);
        let expected = signature_hex(&key, request_time, creds, &creq);
        matched |= bool::from(expected.as_slice().ct_eq(creds.signature.as_bytes()));
    }
    if !matched {
        return Err(SigV4Error::SignatureMismatch);
    }
    match claimed {
        Some(c) if c == body_hash => Ok(()),
        Some(c) if c == UNSIGNED_PAYLOAD && payload_hash == UNSIGNED_PAYLOAD => Ok(()),
        Some(_) => Err(SigV4Error::ContentSha256Mismatch),
        None => Ok(()),
    }
}

/// `X-Amz-Content-Sha256`, from the header or (presigned) the query.
fn claimed_payload_hash(req: &HttpRequest<'_>, form: AuthForm) -> Option<String> {
    if let Some(v) = req.header("x-amz-content-sha256") {
        return Some(String::from_utf8_lossy(v).trim().to_owned());
    }
    if form == AuthForm::Presigned {
        return req
            .query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == "X-Amz-Content-Sha256")
            .map(|(_, v)| v.to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{sha256_hex, string_to_sign};

    #[test]
    fn the_signature_fed_piecewise_is_the_signature_of_the_string_to_sign() {
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: "iam".into(),
            request_time_unix: 1_440_938_160,
            security_token: None,
            form: AuthForm::Header,
            terminator: "aws4_request".into(),
            signed_headers: "host".into(),
            signature: String::new(),
            expires: None,
        };
        let key = signing_key(&secret(), "20150830", "us-east-1", "iam");
        let creq = b"GET\n/\nAction=ListUsers\nhost:iam.amazonaws.com\n\nhost\ne3b0c442";
        let whole = signature(
            &key,
            &string_to_sign("20150830T123600Z", &creds.scope(), creq),
        );
        let piecewise = signature_hex(&key, "20150830T123600Z", &creds, creq);
        assert_eq!(whole.as_bytes(), piecewise.as_slice());
        assert_eq!(
            sha256_hex(b"abc").as_bytes(),
            sha256_hex_bytes(b"abc").as_slice()
        );
    }

    fn secret() -> SecretKey {
        SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    }

    const T0: i64 = 1_440_938_160; // 20150830T123600Z

    /// A request under test, signed by the tiny signer below (built from this crate's pure
    /// steps, which the vector tests check against AWS's files).
    #[derive(Clone)]
    struct Signed {
        method: &'static str,
        query: String,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    }

    impl Signed {
        fn with<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
            let headers: Vec<(&str, &[u8])> = self
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            f(&HttpRequest {
                method: self.method,
                path: "/",
                query: &self.query,
                headers: &headers,
                body: &self.body,
            })
        }
    }

    struct Signer {
        form: AuthForm,
        expires: Option<i64>,
        signed_headers: &'static str,
        /// What the signer puts in the canonical request; `None`: the body's hash.
        payload_hash: Option<&'static str>,
        extra_headers: Vec<(&'static str, &'static str)>,
        date_header: bool,
        terminator: &'static str,
        body: &'static [u8],
    }

    impl Default for Signer {
        fn default() -> Self {
            Self {
                form: AuthForm::Header,
                expires: None,
                signed_headers: "host;x-amz-date",
                payload_hash: None,
                extra_headers: Vec::new(),
                date_header: false,
                terminator: "aws4_request",
                body: b"Action=ListUsers&Version=2010-05-08",
            }
        }
    }

    impl Signer {
        fn sign(&self) -> Signed {
            let scope = format!("20150830/us-east-1/iam/{}", self.terminator);
            let mut r = Signed {
                method: "POST",
                query: String::new(),
                headers: vec![("Host".into(), b"iam.amazonaws.com".to_vec())],
                body: self.body.to_vec(),
            };
            for (n, v) in &self.extra_headers {
                r.headers.push(((*n).into(), v.as_bytes().to_vec()));
            }
            match (self.form, self.date_header) {
                (AuthForm::Header, false) => {
                    r.headers
                        .push(("X-Amz-Date".into(), b"20150830T123600Z".to_vec()));
                }
                (AuthForm::Header, true) => {
                    r.headers
                        .push(("Date".into(), b"Sun, 30 Aug 2015 12:36:00 GMT".to_vec()));
                }
                (AuthForm::Presigned, _) => {
                    r.query = format!(
                        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F{}&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders={}",
                        scope.replace('/', "%2F"),
                        self.signed_headers.replace(';', "%3B"),
                    );
                    if let Some(e) = self.expires {
                        r.query.push_str(&format!("&X-Amz-Expires={e}"));
                    }
                }
            }
            let body_hash = sha256_hex(self.body);
            let payload = self.payload_hash.unwrap_or(&body_hash);
            let creq = r.with(|req| {
                canonical_request(req, self.signed_headers, payload, CanonicalOptions::SERVICE)
            });
            let key = signing_key(&secret(), "20150830", "us-east-1", "iam");
            let sig = signature(&key, &string_to_sign("20150830T123600Z", &scope, &creq));
            match self.form {
                AuthForm::Header => r.headers.push((
                    "Authorization".into(),
                    format!(
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, SignedHeaders={}, Signature={sig}",
                        self.signed_headers
                    )
                    .into_bytes(),
                )),
                AuthForm::Presigned => r.query.push_str(&format!("&X-Amz-Signature={sig}")),
            }
            r
        }
    }

    /// The one helper of this module's table tests: verify `req` at `now`.
    fn check(req: &Signed, now: i64, expect: Result<(), SigV4Error>) {
        let got = req.with(|r| {
            let creds =
                crate::parse_authorization(r)?.ok_or(SigV4Error::MissingAuthenticationToken)?;
            verify(r, &creds, &secret(), now, &SigningKeyCache::new())
        });
        assert_eq!(got, expect);
    }

    fn expired(now: i64) -> SigV4Error {
        SigV4Error::SignatureExpired {
            request_time: "20150830T123600Z".into(),
            earliest: format_amz_date(now - 900),
            now: format_amz_date(now),
        }
    }

    fn not_yet(now: i64) -> SigV4Error {
        SigV4Error::SignatureNotYetCurrent {
            request_time: "20150830T123600Z".into(),
            latest: format_amz_date(now + 900),
            now: format_amz_date(now),
        }
    }

    #[test]
    fn header_form_time_window_is_15_minutes_each_way() {
        let req = Signer::default().sign();
        check(&req, T0, Ok(()));
        check(&req, T0 + 900, Ok(()));
        check(&req, T0 - 900, Ok(()));
        check(&req, T0 + 901, Err(expired(T0 + 901)));
        check(&req, T0 - 901, Err(not_yet(T0 - 901)));
        assert_eq!(
            expired(T0 + 30 * 60).to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T125100Z (20150830T130600Z - 15 min.)"
        );
    }

    #[test]
    fn presigned_window_follows_x_amz_expires() {
        let presigned = |expires| {
            Signer {
                form: AuthForm::Presigned,
                expires,
                ..Signer::default()
            }
            .sign()
        };
        let req = presigned(Some(60));
        check(&req, T0 + 60, Ok(()));
        check(&req, T0 - 900, Ok(()));
        check(&req, T0 - 901, Err(not_yet(T0 - 901)));
        check(
            &req,
            T0 + 61,
            Err(SigV4Error::PresignedExpired {
                request_time: "20150830T123600Z".into(),
                earliest: format_amz_date(T0 + 1),
                now: format_amz_date(T0 + 61),
                expires: 60,
            }),
        );
        let req = presigned(Some(3600));
        check(&req, T0 + 3600, Ok(()));
        let req = presigned(None);
        check(&req, T0 + 900, Ok(()));
        check(&req, T0 + 901, Err(expired(T0 + 901)));
    }

    #[test]
    fn content_sha256_header_must_match_the_body() {
        let body_hash = "b6359072c78d70ebee1e81adcbab4f01bf2c23245fa365ef83fe8f1f955085e2";
        let ok = Signer {
            signed_headers: "host;x-amz-content-sha256;x-amz-date",
            extra_headers: vec![("X-Amz-Content-Sha256", body_hash)],
            ..Signer::default()
        };
        check(&ok.sign(), T0, Ok(()));
        // Signed correctly, but the claimed hash is not the body's.
        let wrong = Signer {
            extra_headers: vec![(
                "X-Amz-Content-Sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            )],
            ..ok
        };
        check(&wrong.sign(), T0, Err(SigV4Error::ContentSha256Mismatch));
        // UNSIGNED-PAYLOAD is for presigned requests only.
        let unsigned = Signer {
            signed_headers: "host;x-amz-content-sha256;x-amz-date",
            extra_headers: vec![("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")],
            payload_hash: Some("UNSIGNED-PAYLOAD"),
            ..Signer::default()
        };
        check(&unsigned.sign(), T0, Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn unsigned_payload_presigned_only_without_a_body() {
        let presigned = Signer {
            form: AuthForm::Presigned,
            expires: Some(900),
            signed_headers: "host",
            extra_headers: vec![("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")],
            payload_hash: Some("UNSIGNED-PAYLOAD"),
            body: b"",
            ..Signer::default()
        };
        check(&presigned.sign(), T0, Ok(()));
        // With a body, the body must be covered: an unsigned body could smuggle parameters.
        let with_body = Signer {
            body: b"Action=CreateUser&UserName=x",
            ..presigned
        };
        check(&with_body.sign(), T0, Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn date_header_fallback_verifies() {
        let req = Signer {
            date_header: true,
            signed_headers: "date;host",
            ..Signer::default()
        }
        .sign();
        check(&req, T0, Ok(()));
    }

    #[test]
    fn host_must_be_signed_and_scope_must_be_well_formed() {
        let req = Signer {
            signed_headers: "x-amz-date",
            ..Signer::default()
        }
        .sign();
        check(&req, T0, Err(SigV4Error::HostNotSigned));
        let req = Signer {
            terminator: "aws5_request",
            ..Signer::default()
        }
        .sign();
        check(
            &req,
            T0,
            Err(SigV4Error::CredentialScope(
                "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.".into(),
            )),
        );
    }

    #[test]
    fn prevalidate_names_every_scope_problem_at_once() {
        let req = Signer {
            terminator: "aws5_request",
            ..Signer::default()
        }
        .sign();
        let err = req.with(|r| {
            let creds = crate::parse_authorization(r).unwrap().unwrap();
            creds
                .prevalidate(T0, "sts", |region| region == "eu-west-1")
                .unwrap_err()
        });
        assert_eq!(
            err.to_string(),
            "Credential should be scoped to a valid region, not 'us-east-1'. Credential should be scoped to correct service: 'sts'. Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."
        );
        assert_eq!(
            (err.code(), err.http_status()),
            ("SignatureDoesNotMatch", 403)
        );
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
        let k = signing_key(&secret(), "20150830", "us-east-1", "iam");
        assert_eq!(
            hex::encode(k.as_bytes()),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(format!("{k:?}"), "SigningKey(***)");
    }

    #[test]
    fn hmac_handles_long_keys_like_rfc_4231() {
        // RFC 4231 test case 6: 131-byte key.
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Test case 2: short key.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn cache_is_bounded_and_keyed_by_secret() {
        let cache = SigningKeyCache::with_capacity(2);
        let a = cache.signing_key("AKID", &secret(), "20150830", "us-east-1", "iam");
        let b = cache.signing_key(
            "AKID",
            &SecretKey::new("other"),
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(cache.len(), 2);
        // An access key's scopes are bounded: the oldest goes.
        for day in 1..=4 {
            cache.signing_key(
                "AKID",
                &secret(),
                &format!("201509{day:02}"),
                "us-east-1",
                "iam",
            );
        }
        assert_eq!(cache.len(), SCOPES_PER_KEY);
        let again = cache.signing_key("AKID", &secret(), "20150830", "us-east-1", "iam");
        assert_eq!(again.as_bytes(), a.as_bytes());
        // So are access keys: a third one evicts the first.
        cache.signing_key("AKID2", &secret(), "20150830", "us-east-1", "iam");
        assert_eq!(cache.len(), SCOPES_PER_KEY + 1);
        cache.signing_key("AKID3", &secret(), "20150830", "us-east-1", "iam");
        assert_eq!(cache.len(), 2);
        assert!(format!("{cache:?}").contains("len"));
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SigningKeyCache>();
        let off = SigningKeyCache::with_capacity(0);
        off.signing_key("AKID", &secret(), "20150830", "us-east-1", "iam");
        assert!(off.is_empty());
    }
}
