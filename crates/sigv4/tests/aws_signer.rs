//! Differential property test: random requests signed by AWS's own signer (the `aws-sigv4`
//! crate of the AWS SDK for Rust) must verify with ours, and stop verifying when one body byte
//! changes. Plus: the parser and verifier never panic on junk.

#![expect(
    clippy::unwrap_used,
    reason = "test harness: a failed expectation is a failed test"
)]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use gatehouse_sigv4::{
    CanonicalOptions, HttpRequest, SigV4Error, SigningKeyCache, parse_authorization, verify,
    verify_with_options,
};
use gatehouse_types::SecretKey;
use proptest::prelude::*;

/// Percent-encodes everything but AWS's unreserved set, as SDKs build URLs. With
/// `plus_for_space`, spaces become `+` instead (HTML-form style), which AWS's Rust signer
/// decodes back to a space.
fn encode(s: &str, plus_for_space: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' && plus_for_space {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Input {
    method: &'static str,
    endpoint: (&'static str, &'static str, &'static str),
    segments: Vec<String>,
    trailing_slash: bool,
    params: Vec<(String, String)>,
    plus_for_space: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    access_key_id: String,
    secret: String,
    token: Option<String>,
    token_signed: bool,
    presigned: bool,
    expires: u64,
    content_sha_header: bool,
    time: u64,
    skew: i64,
}

fn input() -> impl Strategy<Value = Input> {
    let segment = prop_oneof![
        4 => "[a-zA-Z0-9 ._~@:$!'()*+,;=%ሴé-]{1,8}",
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
    ];
    let text = "[a-zA-Z0-9 ._~+=&/%ሴé-]{0,8}";
    (
        (
            prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
            prop::sample::select(vec![
                ("iam.amazonaws.com", "iam", "us-east-1"),
                ("sts.amazonaws.com", "sts", "us-east-1"),
                ("sts.eu-west-1.amazonaws.com", "sts", "eu-west-1"),
            ]),
            prop::collection::vec(segment, 0..4),
            any::<bool>(),
            prop::collection::vec((text.prop_map(|k| format!("p{k}")), text), 0..4),
            any::<bool>(),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["x-test-a", "x-test-b", "content-type", "X-Test-A"]),
                    "[ -~]{0,16}",
                ),
                0..4,
            ),
            prop::collection::vec(any::<u8>(), 0..48),
        ),
        (
            "AKIA[A-Z0-9]{16}",
            "[A-Za-z0-9/+]{40}",
            prop::option::of("[A-Za-z0-9/+=]{16,64}"),
            any::<bool>(),
            any::<bool>(),
            1u64..7200,
            any::<bool>(),
            946_684_800u64..4_102_444_800,
            -899i64..899,
        ),
    )
        .prop_map(
            |(
                (method, endpoint, segments, trailing_slash, params, plus_for_space, headers, body),
                (
                    access_key_id,
                    secret,
                    token,
                    token_signed,
                    presigned,
                    expires,
                    content_sha_header,
                    time,
                    skew,
                ),
            )| Input {
                method,
                endpoint,
                segments,
                trailing_slash,
                params,
                plus_for_space,
                headers: headers
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v))
                    .collect(),
                body,
                access_key_id,
                secret,
                token,
                token_signed,
                presigned,
                expires,
                content_sha_header,
                time,
                skew,
            },
        )
}

/// A request signed by aws-sigv4, as our server would receive it.
struct Signed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Signed {
    fn with<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        f(&HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        })
    }
}

fn sign_with_aws(input: &Input) -> Signed {
    let (host, service, region) = input.endpoint;
    let mut path: String = input
        .segments
        .iter()
        .map(|s| {
            if s == "." || s == ".." {
                format!("/{s}")
            } else {
                format!("/{}", encode(s, false))
            }
        })
        .collect();
    if path.is_empty() || input.trailing_slash {
        path.push('/');
    }
    let query = input
        .params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                encode(k, input.plus_for_space),
                encode(v, input.plus_for_space)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let uri = if query.is_empty() {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}{path}?{query}")
    };
    let mut headers: Vec<(String, String)> = vec![("host".to_owned(), host.to_owned())];
    headers.extend(input.headers.iter().cloned());

    let identity: Identity = AwsCredentials::new(
        &input.access_key_id,
        &input.secret,
        input.token.clone(),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    if input.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(input.expires));
    }
    if input.content_sha_header && !input.presigned {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    settings.session_token_mode = if input.token_signed {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::UNIX_EPOCH + Duration::from_secs(input.time))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        input.method,
        uri,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&input.body),
    )
    .unwrap();
    let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
    let (new_headers, new_params) = instructions.into_parts();
    for h in new_headers {
        headers.push((h.name().to_owned(), h.value().to_owned()));
    }
    let mut query = query;
    for (k, v) in new_params {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("{}={}", encode(k, false), encode(&v, false)));
    }
    Signed {
        method: input.method.to_owned(),
        path,
        query,
        headers,
        body: input.body.clone(),
    }
}

fn now_for(input: &Input) -> i64 {
    let skew = if input.presigned {
        // Presigned: anywhere from 15 minutes early to the end of X-Amz-Expires.
        input.skew.rem_euclid(input.expires as i64 + 900) - 899
    } else {
        input.skew
    };
    input.time as i64 + skew
}

fn authenticate(signed: &Signed, input: &Input, now: i64) -> Result<(), SigV4Error> {
    let (_, service, region) = input.endpoint;
    signed.with(|r| {
        let creds = parse_authorization(r)?.ok_or(SigV4Error::MissingAuthenticationToken)?;
        creds.prevalidate(now, service, |x| x == region)?;
        assert_eq!(creds.access_key_id, input.access_key_id);
        assert_eq!(creds.security_token, input.token);
        verify(
            r,
            &creds,
            &SecretKey::new(input.secret.as_str()),
            now,
            &SigningKeyCache::new(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn aws_signed_requests_verify(input in input()) {
        let signed = sign_with_aws(&input);
        let now = now_for(&input);
        let result = authenticate(&signed, &input, now);
        prop_assert!(result.is_ok(), "{:?}: {:?}\nquery {}\nheaders {:?}", result, input, signed.query, signed.headers);

        let mut tampered = Signed { body: signed.body.clone(), ..sign_with_aws(&input) };
        match tampered.body.first_mut() {
            Some(b) => *b ^= 0x20,
            None => tampered.body.push(b'a'),
        }
        prop_assert!(authenticate(&tampered, &input, now).is_err());
    }

    #[test]
    fn junk_never_panics(
        auth in prop_oneof![
            "\\PC{0,80}",
            "Credential=[A-Z0-9/]{0,30}, SignedHeaders=[a-z;-]{0,20}, Signature=[0-9a-f]{0,64}",
        ],
        query in "[A-Za-z0-9%=&+/.-]{0,60}",
        date_name in prop::sample::select(vec!["X-Amz-Date", "Date"]),
        date in prop_oneof![
            "[0-9TZ:-]{0,18}",
            "[0-9]{8}T[0-9]{6}Z",
            "(Sun|Mon), [0-3]?[0-9] (Jan|Feb|Aug|Dec|Foo) [0-9]{1,20} [0-2][0-9]:[0-5][0-9]:[0-5][0-9] GMT",
        ],
        path in "[/.a-z%]{0,12}",
        body in prop::collection::vec(any::<u8>(), 0..16),
        now in any::<i64>(),
    ) {
        let auth = format!("AWS4-HMAC-SHA256 {auth}");
        let headers: [(&str, &[u8]); 3] = [("Authorization", auth.as_bytes()), (date_name, date.as_bytes()), ("Host", b"h")];
        for query in [query.clone(), format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&{query}")] {
            let header_slice: &[(&str, &[u8])] = if query.starts_with("X-Amz") { &headers[1..] } else { &headers };
            let req = HttpRequest { method: "GET", path: &path, query: &query, headers: header_slice, body: &body };
            if let Ok(Some(creds)) = parse_authorization(&req) {
                let _ = creds.prevalidate(now, "iam", |_| true);
                let _ = verify_with_options(&req, &creds, &SecretKey::new("s"), now, &SigningKeyCache::new(), CanonicalOptions::SERVICE);
            }
        }
    }
}
