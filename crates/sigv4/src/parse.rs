//! Reading what a request claims: which SigV4 form, who, when and for what scope. Nothing here
//! is verified yet; see [`crate::verify`].

use std::fmt;

use crate::canonical::percent_decode;
use crate::time::{format_amz_date, parse_amz_date, parse_http_date};
use crate::{ALGORITHM, HttpRequest, SigV4Error};

/// Where the signature travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthForm {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`
    Header,
    /// Presigned URL: `X-Amz-Algorithm`, `X-Amz-Credential`, … in the query string.
    Presigned,
}

/// What the request claims, parsed but NOT yet verified. `Debug` hides the security token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    /// `YYYYMMDD` from the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// The request time (`X-Amz-Date`, or the `Date` header) as Unix seconds.
    pub request_time_unix: i64,
    /// `X-Amz-Security-Token`, signed or not; the server must check it belongs to the key.
    pub security_token: Option<String>,
    pub form: AuthForm,
    pub(crate) terminator: String,
    pub(crate) signed_headers: String,
    pub(crate) signature: String,
    /// `X-Amz-Expires` of a presigned request, in seconds.
    pub(crate) expires: Option<i64>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope())
            .field("request_time", &self.request_time())
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "***"),
            )
            .field("form", &self.form)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field("expires", &self.expires)
            .finish()
    }
}

impl Credentials {
    /// The request time in ISO 8601 basic format, as in the string to sign.
    pub fn request_time(&self) -> String {
        format_amz_date(self.request_time_unix)
    }

    /// The credential scope as signed: `date/region/service/terminator`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }

    /// The signed header names, `;`-separated, as the request gave them.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }

    /// `X-Amz-Expires` of a presigned request, in seconds.
    pub fn expires(&self) -> Option<i64> {
        self.expires
    }
}

const QUERY_AUTH_PARAMS: [&str; 3] = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"];

/// Longest validity of a presigned request (7 days), as AWS.
const MAX_EXPIRES: i64 = 604_800;

/// What the request claims, parsed but NOT yet verified. `Ok(None)`: the request carries no
/// SigV4 at all (no `Authorization` header starting with `AWS4-`, no presigned parameters).
///
/// Checks, in AWS's order: both forms at once; required parameters (all missing ones named
/// in one message); date present and in ISO 8601 basic format; algorithm; credential has five
/// parts. Time, `host` and scope checks follow in [`Credentials::prevalidate`] and
/// [`crate::verify`] (AWS checks time and `host` before the algorithm; here a request with
/// both kinds of fault gets the 400 rather than the 403).
pub fn parse_authorization(req: &HttpRequest<'_>) -> Result<Option<Credentials>, SigV4Error> {
    let query_params = decoded_query(req.query);
    let presigned = query_params
        .iter()
        .any(|(k, _)| QUERY_AUTH_PARAMS.contains(&k.as_str()));
    let mut auth_headers = req.header_values("authorization");
    let auth = auth_headers.next();
    if auth.is_some() && presigned {
        return Err(SigV4Error::BothAuthForms);
    }
    if presigned {
        return parse_presigned(req, &query_params).map(Some);
    }
    let Some(auth) = auth else {
        return Ok(None);
    };
    if !auth.trim_ascii_start().starts_with(b"AWS4-") {
        return Ok(None);
    }
    if auth_headers.next().is_some() {
        return Err(SigV4Error::IncompleteSignature(
            "Only one 'Authorization' header is allowed.".into(),
        ));
    }
    let auth = std::str::from_utf8(auth)
        .map_err(|_| {
            SigV4Error::IncompleteSignature(
                "Authorization header contains invalid characters.".into(),
            )
        })?
        .trim();
    parse_header(req, auth).map(Some)
}

fn decoded_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&percent_decode(k, false)).into_owned(),
                String::from_utf8_lossy(&percent_decode(v, false)).into_owned(),
            )
        })
        .collect()
}

fn parse_header(req: &HttpRequest<'_>, auth: &str) -> Result<Credentials, SigV4Error> {
    let (algorithm, params) = auth
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((auth, ""));
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(SigV4Error::IncompleteSignature(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
            )));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        slot.get_or_insert(value.trim());
    }
    // `X-Amz-Date` wins; only the `Date` header may use HTTP's own date format.
    let amz_date = req.header("x-amz-date");
    let date = amz_date.or_else(|| req.header("date"));

    let mut missing = String::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if value.is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(date)) =
        (credential, signed_headers, signature, date)
    else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Authorization={auth}"
        )));
    };
    if !missing.is_empty() {
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Authorization={auth}"
        )));
    }
    let request_time_unix = parse_request_date(date, amz_date.is_none())?;
    check_algorithm(algorithm)?;
    let security_token = match req.header("x-amz-security-token") {
        Some(t) => {
            Some(String::from_utf8(t.to_vec()).map_err(|_| SigV4Error::InvalidClientTokenId)?)
        }
        None => None,
    };
    build(
        credential,
        signed_headers,
        signature,
        request_time_unix,
        security_token,
        AuthForm::Header,
        None,
    )
}

fn parse_presigned(
    req: &HttpRequest<'_>,
    params: &[(String, String)],
) -> Result<Credentials, SigV4Error> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let required = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ];
    let mut missing = String::new();
    for name in required {
        if get(name).is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    for name in required
        .iter()
        .chain(["X-Amz-Expires", "X-Amz-Security-Token"].iter())
    {
        if params.iter().filter(|(k, _)| k == name).count() > 1 {
            missing.push_str(&format!(
                "AWS query-string parameter '{name}' must appear only once. "
            ));
        }
    }
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(date)) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Signature"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Date"),
    ) else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    };
    if !missing.is_empty() {
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    }
    let request_time_unix = parse_request_date(date.as_bytes(), false)?;
    let expires = match get("X-Amz-Expires") {
        None => None,
        Some(e) => Some(parse_expires(e)?),
    };
    check_algorithm(algorithm)?;
    let security_token = match get("X-Amz-Security-Token") {
        Some(t) => Some(t.to_owned()),
        None => match req.header("x-amz-security-token") {
            Some(t) => {
                Some(String::from_utf8(t.to_vec()).map_err(|_| SigV4Error::InvalidClientTokenId)?)
            }
            None => None,
        },
    };
    build(
        credential,
        signed_headers,
        signature,
        request_time_unix,
        security_token,
        AuthForm::Presigned,
        expires,
    )
}

fn parse_expires(e: &str) -> Result<i64, SigV4Error> {
    if !e.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Expires should be a number. Got '{e}'."
        )));
    }
    match e.parse::<i64>() {
        Ok(n) if (1..=MAX_EXPIRES).contains(&n) => Ok(n),
        Ok(0) => Err(SigV4Error::IncompleteSignature(
            "X-Amz-Expires must be greater than 0.".into(),
        )),
        _ => Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}."
        ))),
    }
}

/// The request time. The `Date` header may also be in HTTP's IMF-fixdate form.
fn parse_request_date(raw: &[u8], http_date_allowed: bool) -> Result<i64, SigV4Error> {
    let text = String::from_utf8_lossy(raw);
    let trimmed = text.trim();
    parse_amz_date(trimmed)
        .or_else(|| {
            http_date_allowed
                .then(|| parse_http_date(trimmed))
                .flatten()
        })
        .ok_or_else(|| {
            SigV4Error::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{trimmed}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

fn check_algorithm(algorithm: &str) -> Result<(), SigV4Error> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(SigV4Error::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now)."
        )))
    }
}

fn build(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    request_time_unix: i64,
    security_token: Option<String>,
    form: AuthForm,
    expires: Option<i64>,
) -> Result<Credentials, SigV4Error> {
    // AWS ignores trailing slashes here.
    let parts: Vec<&str> = credential.trim_end_matches('/').split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    Ok(Credentials {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        request_time_unix,
        security_token,
        form,
        terminator: (*terminator).to_owned(),
        signed_headers: signed_headers.to_owned(),
        signature: signature.to_owned(),
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d76d0de3e0ffe5a7a23cfce21b99d6f4e5060aad86bd9dc7c617f224e5b492a";

    fn parse(query: &str, headers: &[(&str, &[u8])]) -> Result<Option<Credentials>, SigV4Error> {
        parse_authorization(&HttpRequest {
            method: "POST",
            path: "/",
            query,
            headers,
            body: b"",
        })
    }

    fn incomplete(r: Result<Option<Credentials>, SigV4Error>) -> String {
        match r {
            Err(SigV4Error::IncompleteSignature(m)) => m,
            other => panic!("expected IncompleteSignature, got {other:?}"),
        }
    }

    #[test]
    fn parses_header_form() {
        let c = parse(
            "",
            &[
                ("X-Amz-Date", b"20150830T123600Z"),
                ("Authorization", AUTH.as_bytes()),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            (c.date.as_str(), c.region.as_str(), c.service.as_str()),
            ("20150830", "us-east-1", "iam")
        );
        assert_eq!(c.request_time(), "20150830T123600Z");
        assert_eq!(c.form, AuthForm::Header);
        assert_eq!(c.signed_headers(), "content-type;host;x-amz-date");
        assert_eq!(c.scope(), "20150830/us-east-1/iam/aws4_request");
        assert_eq!(c.security_token, None);
    }

    #[test]
    fn no_sigv4_is_none() {
        assert_eq!(parse("Action=ListUsers", &[]), Ok(None));
        assert_eq!(
            parse("", &[("Authorization", b"Basic dXNlcjpwYXNz")]),
            Ok(None)
        );
    }

    #[test]
    fn date_header_fallback_and_formats() {
        let c = parse(
            "",
            &[
                ("Date", b"Sun, 30 Aug 2015 12:36:00 GMT"),
                ("Authorization", AUTH.as_bytes()),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.request_time(), "20150830T123600Z");
        incomplete(parse(
            "",
            &[
                ("X-Amz-Date", b"Sun, 30 Aug 2015 12:36:00 GMT"),
                ("Authorization", AUTH.as_bytes()),
            ],
        ));
        let m = incomplete(parse(
            "",
            &[
                ("X-Amz-Date", b"2015-08-30T12:36:00Z"),
                ("Authorization", AUTH.as_bytes()),
            ],
        ));
        assert_eq!(
            m,
            "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"
        );
    }

    #[test]
    fn names_every_missing_parameter() {
        let m = incomplete(parse(
            "",
            &[("Authorization", b"AWS4-HMAC-SHA256 SignedHeaders=host")],
        ));
        assert_eq!(
            m,
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host"
        );
        let m = incomplete(parse(
            "",
            &[
                ("X-Amz-Date", b"20150830T123600Z"),
                (
                    "Authorization",
                    b"AWS4-HMAC-SHA256 Credential=a/b/c/d/e, junk, Signature=x",
                ),
            ],
        ));
        assert!(
            m.starts_with(
                "'junk' not a valid key=value pair (missing equal-sign) in Authorization header"
            ),
            "{m}"
        );
    }

    #[test]
    fn algorithm_and_credential_shape() {
        let auth = AUTH.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512");
        let m = incomplete(parse(
            "",
            &[
                ("X-Amz-Date", b"20150830T123600Z"),
                ("Authorization", auth.as_bytes()),
            ],
        ));
        assert_eq!(
            m,
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now)."
        );
        let auth = AUTH.replace("/iam/aws4_request", "/iam");
        let m = incomplete(parse(
            "",
            &[
                ("X-Amz-Date", b"20150830T123600Z"),
                ("Authorization", auth.as_bytes()),
            ],
        ));
        assert!(
            m.starts_with("Credential must have exactly 5 slash-delimited elements"),
            "{m}"
        );
        let auth = AUTH.replace("aws4_request,", "aws4_request/,");
        assert!(
            parse(
                "",
                &[
                    ("X-Amz-Date", b"20150830T123600Z"),
                    ("Authorization", auth.as_bytes())
                ]
            )
            .unwrap()
            .is_some()
        );
    }

    #[test]
    fn presigned_form() {
        let q = "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=a%2Bb&X-Amz-Signature=00";
        let c = parse(q, &[]).unwrap().unwrap();
        assert_eq!(c.form, AuthForm::Presigned);
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.expires(), Some(60));
        assert_eq!(c.security_token.as_deref(), Some("a+b"));
        let debug = format!("{c:?}");
        assert!(
            debug.contains("security_token: Some(\"***\")") && !debug.contains("a+b"),
            "{debug}"
        );
        let m = incomplete(parse(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z",
            &[],
        ));
        assert_eq!(
            m,
            "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
        );
        let long = q.replace("X-Amz-Expires=60", "X-Amz-Expires=604801");
        incomplete(parse(&long, &[]));
        assert_eq!(
            parse(q, &[("Authorization", AUTH.as_bytes())]),
            Err(SigV4Error::BothAuthForms)
        );
    }

    #[test]
    fn never_panics_on_junk() {
        for junk in [
            "AWS4-",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 =,=,=",
            "AWS4-HMAC-SHA256 Credential=////, SignedHeaders=, Signature=",
        ] {
            let _ = parse(
                "X-Amz-Date=%",
                &[("Authorization", junk.as_bytes()), ("X-Amz-Date", b"\xff")],
            );
        }
    }
}
