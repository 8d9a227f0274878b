//! AWS's and our own SigV4 test vectors from `shared/vectors/sigv4/`, all run through one
//! helper, [`check`]. A missing vector folder fails the tests: nothing is skipped silently.
//!
//! Not run: `aws-c-auth/v4a` (ECDSA-P256 SigV4a, which this crate does not implement).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test harness: a failed expectation is a failed test"
)]

use std::fs;
use std::path::{Path, PathBuf};

use gatehouse_sigv4::{
    CanonicalOptions, Credentials, HttpRequest, SigV4Error, SigningKeyCache, canonical_request,
    canonical_uri, format_amz_date, parse_amz_date, parse_authorization, sha256_hex, signature,
    signing_key, string_to_sign, verify_with_options,
};
use gatehouse_types::SecretKey;
use serde_json::Value;

const EXAMPLE_AKID: &str = "AKIDEXAMPLE";
const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn vectors() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/sigv4");
    assert!(dir.is_dir(), "test vectors missing at {}", dir.display());
    dir
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_opt(path: &Path) -> Option<String> {
    path.exists().then(|| read(path))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A request we own, lent out as the crate's borrowed [`HttpRequest`].
#[derive(Clone, Debug)]
struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Req {
    fn with<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        f(&HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        })
    }

    fn set_target(&mut self, target: &str) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        self.path = path.to_owned();
        self.query = query.to_owned();
    }

    /// Parses the test suites' request files: `METHOD target HTTP/1.1`, `Name:value` lines
    /// (continuation lines folded with a space), a blank line, the body. The target may contain
    /// spaces; header values are kept raw, as a server would see them before trimming.
    fn from_http_text(text: &str) -> Req {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        let (method, rest) = request_line.split_once(' ').expect("method");
        let target = rest.rsplit_once(' ').map_or(rest, |(t, _)| t);
        let mut req = Req {
            method: method.to_owned(),
            path: String::new(),
            query: String::new(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        };
        req.set_target(target);
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = req.headers.last_mut().expect("continuation after a header");
                last.1.push(b' ');
                last.1.extend_from_slice(line.as_bytes());
            } else if let Some((name, value)) = line.split_once(':') {
                req.headers
                    .push((name.to_owned(), value.as_bytes().to_vec()));
            }
        }
        req
    }

    /// A request from the JSON vectors: URL, header map, body; `Host` from the URL when absent.
    fn from_json(v: &Value) -> Req {
        let url = v["url"].as_str().expect("url");
        let rest = url.split_once("://").expect("scheme").1;
        let (host, target) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let mut req = Req {
            method: v["method"].as_str().expect("method").to_owned(),
            path: String::new(),
            query: String::new(),
            headers: Vec::new(),
            body: v["body"].as_str().unwrap_or("").as_bytes().to_vec(),
        };
        req.set_target(target);
        let headers = v["headers"].as_object().expect("headers");
        if !headers.keys().any(|k| k.eq_ignore_ascii_case("host")) {
            req.headers.push(("Host".into(), host.as_bytes().to_vec()));
        }
        for (k, val) in headers {
            req.headers.push((
                k.clone(),
                val.as_str().expect("header value").as_bytes().to_vec(),
            ));
        }
        req
    }

    fn header_mut(&mut self, name: &str) -> Option<&mut Vec<u8>> {
        self.headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Rewrites the query parameter `name` (raw key) with `f`, if present.
    fn map_query_param(&mut self, name: &str, f: impl Fn(&str) -> String) -> bool {
        let mut found = false;
        let parts: Vec<String> = self
            .query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, v)) if k == name && !found => {
                    found = true;
                    format!("{k}={}", f(v))
                }
                _ => p.to_owned(),
            })
            .collect();
        self.query = parts.join("&");
        found
    }
}

/// What one case should do.
enum Expect {
    /// Verifies; the intermediate results, where the vector gives them, are exact.
    Valid {
        creq: Option<String>,
        sts: Option<String>,
        signature: Option<String>,
    },
    /// Fails with one of these codes and statuses.
    Error {
        codes: Vec<String>,
        statuses: Vec<u16>,
    },
}

struct Case {
    name: String,
    req: Req,
    /// The keys the "server" knows.
    secret: String,
    access_key_id: String,
    now: i64,
    opts: CanonicalOptions,
    /// The endpoint's service and region; `None`: whatever the request's scope says.
    endpoint: Option<(String, String)>,
    expect: Expect,
}

/// What our server does: parse → prevalidate → look the key up → verify.
fn authenticate(
    req: &Req,
    access_key_id: &str,
    secret: &str,
    now: i64,
    opts: CanonicalOptions,
    endpoint: Option<(&str, &str)>,
) -> Result<Credentials, SigV4Error> {
    req.with(|r| {
        let creds = parse_authorization(r)?.ok_or(SigV4Error::MissingAuthenticationToken)?;
        let (service, region) = endpoint.unwrap_or((&creds.service, &creds.region));
        creds.prevalidate(now, service, |r| r == region)?;
        if creds.access_key_id != access_key_id {
            return Err(SigV4Error::unknown_access_key());
        }
        verify_with_options(
            r,
            &creds,
            &SecretKey::new(secret),
            now,
            &SigningKeyCache::new(),
            opts,
        )?;
        Ok(creds)
    })
}

/// Single-part changes to a valid request, each of which must break verification.
fn mutations(req: &Req, creds: &Credentials) -> Vec<(String, Req)> {
    let mut out = Vec::new();
    let mut m = req.clone();
    match m.body.last_mut() {
        Some(b) => *b ^= 1,
        None => m.body.push(b'x'),
    }
    out.push(("one body byte".into(), m));

    for name in creds.signed_headers().split(';') {
        let mut m = req.clone();
        if let Some(v) = m.header_mut(name) {
            v.push(b'x');
            out.push((format!("signed header {name}"), m));
        }
    }

    let mut m = req.clone();
    m.path.push('x');
    out.push(("path".into(), m));

    let mut m = req.clone();
    let plain = req
        .query
        .split('&')
        .find(|p| !p.is_empty() && !p.starts_with("X-Amz-"))
        .map(str::to_owned);
    match plain {
        Some(p) => {
            m.query = req.query.replacen(&p, &format!("{p}x"), 1);
            out.push((format!("query parameter {p}"), m));
        }
        None => {
            m.query = if m.query.is_empty() {
                "x=y".into()
            } else {
                format!("{}&x=y", m.query)
            };
            out.push(("added query parameter".into(), m));
        }
    }

    let next_second = format_amz_date(creds.request_time_unix + 1);
    let mut m = req.clone();
    if m.map_query_param("X-Amz-Date", |_| next_second.clone()) {
        out.push(("X-Amz-Date parameter".into(), m));
    } else if let Some(v) = m.header_mut("x-amz-date") {
        *v = next_second.clone().into_bytes();
        out.push(("X-Amz-Date header".into(), m));
    } else {
        panic!("no date to change");
    }

    let mut m = req.clone();
    m.method = if m.method == "GET" {
        "POST".into()
    } else {
        "GET".into()
    };
    out.push(("method".into(), m));

    let flip = |s: &str| {
        let mut s = s.to_owned();
        let last = if s.ends_with('0') { '1' } else { '0' };
        s.pop();
        s.push(last);
        s
    };
    let mut m = req.clone();
    if !m.map_query_param("X-Amz-Signature", flip) {
        let auth = m.header_mut("authorization").expect("authorization");
        let text = String::from_utf8(auth.clone()).unwrap();
        *auth = flip(text.trim_end()).into_bytes();
    }
    out.push(("one signature hex digit".into(), m));

    let mut m = req.clone();
    let region = format!("%2F{}%2F", creds.region);
    if m.query.contains(&region) {
        m.query = m.query.replace(&region, "%2Fxx-east-9%2F");
    } else {
        let auth = m.header_mut("authorization").expect("authorization");
        let text = String::from_utf8(auth.clone()).unwrap();
        *auth = text
            .replace(&format!("/{}/", creds.region), "/xx-east-9/")
            .into_bytes();
    }
    out.push(("credential scope region".into(), m));
    out
}

/// The one helper every vector goes through.
fn check(case: &Case) {
    let name = &case.name;
    let endpoint = case
        .endpoint
        .as_ref()
        .map(|(s, r)| (s.as_str(), r.as_str()));
    let result = authenticate(
        &case.req,
        &case.access_key_id,
        &case.secret,
        case.now,
        case.opts,
        endpoint,
    );
    match &case.expect {
        Expect::Error { codes, statuses } => {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{name}: verified, expected {codes:?}"));
            assert!(
                codes.iter().any(|c| c == err.code()),
                "{name}: got {} ({err}), expected {codes:?}",
                err.code()
            );
            assert!(
                statuses.contains(&err.http_status()),
                "{name}: got status {}, expected {statuses:?}",
                err.http_status()
            );
        }
        Expect::Valid {
            creq,
            sts,
            signature: sig,
        } => {
            let creds = result.unwrap_or_else(|e| panic!("{name}: {} {e}", e.code()));
            let computed_creq = case.req.with(|r| {
                canonical_request(r, creds.signed_headers(), &sha256_hex(r.body), case.opts)
            });
            let computed_creq = String::from_utf8(computed_creq).expect("utf-8 canonical request");
            if let Some(creq) = creq {
                assert_eq!(computed_creq, creq.trim_end(), "{name}: canonical request");
            }
            let computed_sts = string_to_sign(
                &creds.request_time(),
                &creds.scope(),
                computed_creq.as_bytes(),
            );
            if let Some(sts) = sts {
                assert_eq!(&computed_sts, sts.trim_end(), "{name}: string to sign");
            }
            let key = signing_key(
                &SecretKey::new(case.secret.as_str()),
                &creds.date,
                &creds.region,
                &creds.service,
            );
            if let Some(sig) = sig {
                assert_eq!(
                    signature(&key, &computed_sts),
                    sig.trim(),
                    "{name}: signature"
                );
            }
            for (what, m) in mutations(&case.req, &creds) {
                let r = authenticate(
                    &m,
                    &case.access_key_id,
                    &case.secret,
                    case.now,
                    case.opts,
                    endpoint,
                );
                assert!(
                    r.is_err(),
                    "{name}: still verifies after changing the {what}"
                );
            }
            let wrong = authenticate(
                &case.req,
                &case.access_key_id,
                "wrong-secret",
                case.now,
                case.opts,
                endpoint,
            );
            assert_eq!(
                wrong.err(),
                Some(SigV4Error::SignatureMismatch),
                "{name}: wrong secret"
            );
        }
    }
}

fn example_case(name: String, req: Req, now: i64, opts: CanonicalOptions, expect: Expect) -> Case {
    Case {
        name,
        req,
        secret: EXAMPLE_SECRET.into(),
        access_key_id: EXAMPLE_AKID.into(),
        now,
        opts,
        endpoint: None,
        expect,
    }
}

fn t(s: &str) -> i64 {
    parse_amz_date(s).unwrap_or_else(|| panic!("bad date {s}"))
}

#[test]
fn botocore_aws4_testsuite() {
    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let stem = path.file_name().unwrap().to_str().unwrap();
                if path.join(format!("{stem}.req")).exists() {
                    out.push(path.join(stem));
                } else {
                    collect(&path, out);
                }
            }
        }
    }
    let mut stems = Vec::new();
    collect(&vectors().join("botocore-aws4_testsuite"), &mut stems);
    stems.sort();
    assert_eq!(stems.len(), 34, "botocore cases");
    for stem in stems {
        let file = |ext: &str| stem.with_extension(ext);
        // The signed request, with its Authorization taken from `.authz`: botocore's
        // get-vanilla-with-session-token.sreq carries get-vanilla's signature by mistake.
        let mut req =
            Req::from_http_text(&read_opt(&file("sreq")).unwrap_or_else(|| read(&file("req"))));
        req.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        req.headers.push((
            "Authorization".into(),
            read(&file("authz")).trim().as_bytes().to_vec(),
        ));
        let authz = read(&file("authz"));
        let sig = authz.rsplit_once("Signature=").unwrap().1.to_owned();
        let now = t("20150830T123600Z");
        check(&example_case(
            stem.display().to_string(),
            req,
            now,
            CanonicalOptions::SERVICE,
            Expect::Valid {
                creq: Some(read(&file("creq"))),
                sts: Some(read(&file("sts"))),
                signature: Some(sig),
            },
        ));
    }
}

fn aws_c_auth_cases(dir: &Path, variant: &str) -> usize {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in &dirs {
        let ctx = json(&d.join("context.json"));
        let creds = &ctx["credentials"];
        let now = t(&ctx["timestamp"].as_str().unwrap().replace(['-', ':'], ""));
        let opts = CanonicalOptions {
            normalize_path: ctx["normalize"].as_bool().unwrap_or(true),
            double_encode_path: ctx["double_uri_encode"].as_bool().unwrap_or(true),
            omit_security_token_param: variant == "query"
                && ctx["omit_session_token"].as_bool().unwrap_or(false),
            ..CanonicalOptions::SERVICE
        };
        let file = |what: &str| d.join(format!("{variant}-{what}"));
        let case = Case {
            name: format!("{} ({variant})", d.display()),
            req: Req::from_http_text(&read(&file("signed-request.txt"))),
            secret: creds["secret_access_key"].as_str().unwrap().into(),
            access_key_id: creds["access_key_id"].as_str().unwrap().into(),
            now,
            opts,
            endpoint: Some((
                ctx["service"].as_str().unwrap().into(),
                ctx["region"].as_str().unwrap().into(),
            )),
            expect: Expect::Valid {
                creq: Some(read(&file("canonical-request.txt"))),
                sts: Some(read(&file("string-to-sign.txt"))),
                signature: Some(read(&file("signature.txt"))),
            },
        };
        check(&case);
    }
    dirs.len()
}

#[test]
fn aws_c_auth_v4_header_variant() {
    assert_eq!(
        aws_c_auth_cases(&vectors().join("aws-c-auth/v4"), "header"),
        38
    );
}

#[test]
fn aws_c_auth_v4_query_variant() {
    assert_eq!(
        aws_c_auth_cases(&vectors().join("aws-c-auth/v4"), "query"),
        38
    );
}

#[test]
fn smithy_rs_main_get_query_plus() {
    assert_eq!(
        aws_c_auth_cases(&vectors().join("smithy-rs-main-extras"), "header"),
        1
    );
}

#[test]
fn smithy_rs_double_url_encode() {
    let d = vectors().join("smithy-rs-aws-sigv4-1.6.4-extras/double-url-encode");
    let req = Req::from_http_text(&read(&d.join("header-signed-request.txt")));
    check(&Case {
        endpoint: Some(("lambda".into(), "us-east-2".into())),
        ..example_case(
            "double-url-encode".into(),
            req,
            t("20210511T154045Z"),
            CanonicalOptions::SERVICE,
            Expect::Valid {
                creq: Some(read(&d.join("header-canonical-request.txt"))),
                sts: Some(read(&d.join("header-string-to-sign.txt"))),
                signature: None,
            },
        )
    });
}

#[test]
fn smithy_rs_double_encode_path() {
    // The canonical request file here was kept from an older format and carries a different
    // date than the signed request, so only its path line is compared; the signed request
    // (made with aws-sigv4's test credentials) must verify.
    let d = vectors().join("smithy-rs-aws-sigv4-1.6.4-extras/double-encode-path");
    let creq = read(&d.join("header-canonical-request.txt"));
    let request = Req::from_http_text(&read(&d.join("request.txt")));
    assert_eq!(
        canonical_uri(&request.path, CanonicalOptions::SERVICE),
        creq.lines().nth(1).unwrap()
    );
    let signed = Req::from_http_text(&read(&d.join("header-signed-request.txt")));
    check(&Case {
        name: "double-encode-path".into(),
        req: signed,
        secret: "notrealrnrELgWzOk3IfjzDKtFBhDby".into(),
        access_key_id: "ANOTREAL".into(),
        now: t("20150830T123600Z"),
        opts: CanonicalOptions::SERVICE,
        endpoint: None,
        expect: Expect::Valid {
            creq: None,
            sts: None,
            signature: Some(
                "57d157672191bac40bae387e48bbe14b15303c001fdbb01f4abf295dccb09705".into(),
            ),
        },
    });
}

#[test]
fn generated_iam_sts_query_vectors() {
    let v = json(&vectors().join("generated-iam-sts/iam-sts-query-vectors.json"));
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for c in cases {
        let creds = &c["credentials"];
        let req = Req::from_json(&c["signed_request"]);
        if let Some(token) = creds["session_token"].as_str() {
            let carried = req.headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("x-amz-security-token") && v == token.as_bytes()
            }) || req.query.contains("X-Amz-Security-Token=");
            assert!(carried, "token travels with the request");
        }
        check(&Case {
            name: c["name"].as_str().unwrap().into(),
            req,
            secret: creds["secret_access_key"].as_str().unwrap().into(),
            access_key_id: creds["access_key_id"].as_str().unwrap().into(),
            now: t(c["timestamp"].as_str().unwrap()),
            opts: CanonicalOptions::SERVICE,
            endpoint: Some((
                c["service"].as_str().unwrap().into(),
                c["region"].as_str().unwrap().into(),
            )),
            expect: Expect::Valid {
                creq: Some(c["canonical_request"].as_str().unwrap().into()),
                sts: Some(c["string_to_sign"].as_str().unwrap().into()),
                signature: Some(c["signature"].as_str().unwrap().into()),
            },
        });
    }
}

#[test]
fn negative_cases_in_aws_order() {
    let v = json(&vectors().join("negative/sigv4-error-cases.json"));
    let secret = v["secret_access_key"].as_str().unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 19);
    for c in cases {
        let req = Req::from_json(&c["request"]);
        let host = req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
            .unwrap();
        let service = host.split('.').next().unwrap().to_owned();
        let expect = match c["expect"].as_str() {
            None => Expect::Valid {
                creq: None,
                sts: None,
                signature: None,
            },
            Some(codes) => Expect::Error {
                codes: codes.split("-or-").map(str::to_owned).collect(),
                statuses: match &c["status"] {
                    Value::Number(n) => vec![n.as_u64().unwrap() as u16],
                    Value::String(s) => s.split('/').map(|x| x.parse().unwrap()).collect(),
                    other => panic!("status {other}"),
                },
            },
        };
        check(&Case {
            name: c["name"].as_str().unwrap().into(),
            req,
            secret: secret.into(),
            access_key_id: EXAMPLE_AKID.into(),
            now: t(c["server_time"].as_str().unwrap()),
            opts: CanonicalOptions::SERVICE,
            endpoint: Some((service, "us-east-1".into())),
            expect,
        });
    }
}

/// The exact texts we promise for the cases whose AWS wording is known.
#[test]
fn negative_case_messages() {
    let v = json(&vectors().join("negative/sigv4-error-cases.json"));
    let secret = v["secret_access_key"].as_str().unwrap();
    let mut checked = 0;
    for c in v["cases"].as_array().unwrap() {
        let Some(expected) = c["message"].as_str().or(c["message_pattern"].as_str()) else {
            continue;
        };
        let req = Req::from_json(&c["request"]);
        let err = authenticate(
            &req,
            EXAMPLE_AKID,
            secret,
            t(c["server_time"].as_str().unwrap()),
            CanonicalOptions::SERVICE,
            Some((
                c["request"]["url"]
                    .as_str()
                    .unwrap()
                    .split("//")
                    .nth(1)
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap(),
                "us-east-1",
            )),
        )
        .unwrap_err()
        .to_string();
        let name = c["name"].as_str().unwrap();
        // Known differences, kept on purpose: the algorithm message carries AWS's
        // "(only AWS4-HMAC-SHA256 for now)", the IAM region hint is IAM-specific, and the
        // "Authorization=..." placeholders stand for the full header.
        let expected = expected
            .replace(" (IAM is a global service signed for us-east-1)", "")
            .replace(
                "'AWS4-HMAC-SHA512'.",
                "'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now).",
            );
        let expected = expected.trim_end();
        match expected.strip_suffix("Authorization=...") {
            Some(prefix) => assert!(
                err.starts_with(prefix) && err.contains("Authorization=AWS4-HMAC-SHA256 "),
                "{name}: {err}"
            ),
            None => assert_eq!(err, expected, "{name}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 13);
}
