//! The pure canonicalisation steps of SigV4: canonical URI, query string, headers, request and
//! string to sign. Bytes in, bytes out; no errors are possible here.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::{ALGORITHM, HttpRequest};

/// How to canonicalise. The defaults ([`CanonicalOptions::SERVICE`]) are what AWS does for
/// every service but S3, and what our server uses; the other settings exist so the pure
/// functions can be checked against test vectors that were made with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CanonicalOptions {
    /// Remove `.` and `..` segments and collapse repeated slashes (not for S3).
    pub normalize_path: bool,
    /// URI-encode the raw (already encoded) path once more (not for S3).
    pub double_encode_path: bool,
    /// Decode `+` in the query as a space (HTML forms) rather than as a literal `+`.
    pub query_plus_is_space: bool,
    /// Leave `X-Amz-Security-Token` out of the canonical query: for presigned requests whose
    /// signer appended the token after signing.
    pub omit_security_token_param: bool,
}

impl CanonicalOptions {
    /// AWS's canonicalisation for non-S3 services.
    pub const SERVICE: Self = Self {
        normalize_path: true,
        double_encode_path: true,
        query_plus_is_space: false,
        omit_security_token_param: false,
    };
}

impl Default for CanonicalOptions {
    fn default() -> Self {
        Self::SERVICE
    }
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    String::from_utf8_lossy(&sha256_hex_bytes(data)).into_owned()
}

/// Lowercase hex SHA-256 of `data`, on the stack.
pub(crate) fn sha256_hex_bytes(data: &[u8]) -> [u8; 64] {
    hex_lower(&Sha256::digest(data).into())
}

/// Lowercase hex of a 32-byte digest.
pub(crate) fn hex_lower(digest: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, byte) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(byte >> 4)];
        out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
    }
    out
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn hex_upper(nibble: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'A' + nibble - 10
    })
}

/// URI-encodes as SigV4 does: everything but `A-Za-z0-9-_.~` (and `/` when `keep_slash`) as
/// `%XX` with uppercase hex.
fn uri_encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_upper(b >> 4));
            out.push(hex_upper(b & 0x0f));
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes; a `%` not followed by two hex digits stays a literal `%`.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_value);
            let lo = b.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && c == b'+' { b' ' } else { c });
        i += 1;
    }
    out
}

/// Removes dot segments and empty segments (RFC 3986 §5.2.4 plus slash collapsing), keeping
/// a trailing slash. The result always starts with `/`.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    let trailing = ["/", "/.", "/.."].iter().any(|t| path.ends_with(t));
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

/// The canonical URI: the raw path, normalised and encoded once more per `opts`.
pub fn canonical_uri(raw_path: &str, opts: CanonicalOptions) -> String {
    let path: Cow<'_, str> = if opts.normalize_path {
        Cow::Owned(normalize_path(raw_path))
    } else if raw_path.starts_with('/') {
        Cow::Borrowed(raw_path)
    } else {
        Cow::Owned(format!("/{raw_path}"))
    };
    if opts.double_encode_path {
        let mut out = String::with_capacity(path.len() * 3 / 2);
        uri_encode_into(&mut out, path.as_bytes(), true);
        out
    } else {
        path.into_owned()
    }
}

/// The canonical query string: every parameter but `X-Amz-Signature`, decoded and re-encoded
/// with AWS's unreserved set, sorted by encoded key then encoded value. A parameter without
/// `=` gets an empty value.
pub fn canonical_query_string(raw_query: &str, opts: CanonicalOptions) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut key = String::new();
            uri_encode_into(
                &mut key,
                &percent_decode(k, opts.query_plus_is_space),
                false,
            );
            let mut value = String::new();
            uri_encode_into(
                &mut value,
                &percent_decode(v, opts.query_plus_is_space),
                false,
            );
            (key, value)
        })
        .filter(|(k, _)| {
            k != "X-Amz-Signature"
                && !(opts.omit_security_token_param && k == "X-Amz-Security-Token")
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw_query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// One header's canonical value: each occurrence trimmed of surrounding spaces and tabs, runs
/// of spaces inside collapsed to one, occurrences joined by `,` in the order received.
fn canonical_header_value(out: &mut Vec<u8>, req: &HttpRequest<'_>, name: &str) {
    for (i, value) in req.header_values(name).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
        let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
        let end = value
            .iter()
            .rposition(|b| !is_ws(b))
            .map_or(start, |e| e + 1);
        let mut prev_space = false;
        for &b in value.get(start..end).unwrap_or_default() {
            if b == b' ' {
                if !prev_space {
                    out.push(b);
                }
                prev_space = true;
            } else {
                out.push(b);
                prev_space = false;
            }
        }
    }
}

/// The canonical request. `signed_headers` is the `;`-separated list exactly as the request
/// claims it; `payload_hash` is the lowercase hex SHA-256 of the body (or `UNSIGNED-PAYLOAD`).
pub fn canonical_request(
    req: &HttpRequest<'_>,
    signed_headers: &str,
    payload_hash: &str,
    opts: CanonicalOptions,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + req.query.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    // The root path and an empty query (every POSTed Query API call) are their own canonical
    // forms.
    if req.path == "/" {
        out.push(b'/');
    } else {
        out.extend_from_slice(canonical_uri(req.path, opts).as_bytes());
    }
    out.push(b'\n');
    if !req.query.is_empty() {
        out.extend_from_slice(canonical_query_string(req.query, opts).as_bytes());
    }
    out.push(b'\n');
    for name in signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        canonical_header_value(&mut out, req, name);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// The string to sign. `request_time` is ISO 8601 basic (`20150830T123600Z`); `scope` is
/// `date/region/service/aws4_request`.
pub fn string_to_sign(request_time: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{request_time}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: CanonicalOptions = CanonicalOptions::SERVICE;

    fn check_uri(raw: &str, opts: CanonicalOptions, expect: &str) {
        assert_eq!(canonical_uri(raw, opts), expect, "path {raw:?}");
    }

    #[test]
    fn uri_normalisation_and_double_encoding() {
        let raw = CanonicalOptions {
            normalize_path: false,
            ..S
        };
        let s3 = CanonicalOptions {
            normalize_path: false,
            double_encode_path: false,
            ..S
        };
        check_uri("/", S, "/");
        check_uri("", S, "/");
        check_uri("//example//", S, "/example/");
        check_uri("//example//", raw, "//example//");
        check_uri("/example/..", S, "/");
        check_uri("/a/b/../..", S, "/");
        check_uri("/./", S, "/");
        check_uri("/a/./b/.", S, "/a/b/");
        check_uri("/../../x", S, "/x");
        check_uri("/example space/", S, "/example%20space/");
        check_uri("/a%2Fb", S, "/a%252Fb");
        check_uri(
            "/test/@connections/JBDvjfGEIAMCERw%3D",
            S,
            "/test/%40connections/JBDvjfGEIAMCERw%253D",
        );
        check_uri("/a%2Fb", s3, "/a%2Fb");
        check_uri("/ሴ", S, "/%E1%88%B4");
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        let q = |raw: &str| canonical_query_string(raw, S);
        assert_eq!(q(""), "");
        assert_eq!(q("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(
            q("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(q("c+d"), "c%2Bd=");
        assert_eq!(
            canonical_query_string(
                "c+d",
                CanonicalOptions {
                    query_plus_is_space: true,
                    ..S
                }
            ),
            "c%20d="
        );
        assert_eq!(q("a=%2f&b=%zz&&c"), "a=%2F&b=%25zz&c=");
        assert_eq!(q("X-Amz-Signature=abc&x=1"), "x=1");
        assert_eq!(q("k=a b"), "k=a%20b");
    }

    #[test]
    fn header_values_are_trimmed_collapsed_and_joined() {
        let headers: [(&str, &[u8]); 4] = [
            ("Host", b"example.com"),
            ("My-Header", b"  a   b  "),
            ("my-header", b"c"),
            ("X-Tab", b"\tv  w\t"),
        ];
        let req = HttpRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        let creq = canonical_request(&req, "host;my-header;x-tab", "h", S);
        assert_eq!(
            String::from_utf8(creq).unwrap(),
            "GET\n/\n\nhost:example.com\nmy-header:a b,c\nx-tab:v w\n\nhost;my-header;x-tab\nh"
        );
    }
}
