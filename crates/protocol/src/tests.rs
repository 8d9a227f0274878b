//! Tests of the generated shapes, decoders, encoders and dispatchers.

use gatehouse_types::Timestamp;

use crate::codec::{DecodeQuery, EncodeXml, XmlWriter, response_document};
use crate::error::{ApiError, ErrorCode};
use crate::iam::{self, IamApi};
use crate::query::QueryParams;
use crate::sts::{self, StsApi};

fn params(pairs: &[(&str, &str)]) -> QueryParams {
    QueryParams::from_pairs(pairs.iter().copied()).unwrap()
}

/// Decodes `input` as `T` and returns the ValidationError message, or "ok".
fn check_decode<T: DecodeQuery>(input: &[(&str, &str)], expected: &str) {
    let got = match T::decode_query(&params(input)) {
        Ok(_) => "ok".to_owned(),
        Err(e) => {
            assert_eq!(e.code, ErrorCode::ValidationError);
            assert_eq!(e.http_status(), 400);
            e.message
        }
    };
    assert_eq!(got, expected, "input: {input:?}");
}

#[test]
fn all_patterns_compile() {
    for p in iam::PATTERNS.iter().chain(sts::PATTERNS) {
        assert!(p.compiled().is_some(), "{} → {}", p.source, p.regex);
    }
    assert!(iam::PATTERNS.len() > 20);
}

#[test]
fn decodes_create_user_with_tags() {
    let input = iam::CreateUserRequest::decode_query(&params(&[
        ("Action", "CreateUser"),
        ("Version", "2010-05-08"),
        ("UserName", "bob+1@example.com"),
        ("Path", "/team/"),
        ("Tags.member.1.Key", "env"),
        ("Tags.member.1.Value", "prod"),
        ("Tags.member.2.Key", "owner"),
        ("Tags.member.2.Value", ""),
        ("Unknown", "ignored"),
    ]))
    .unwrap();
    assert_eq!(
        input,
        iam::CreateUserRequest {
            path: Some("/team/".into()),
            user_name: "bob+1@example.com".into(),
            permissions_boundary: None,
            tags: Some(vec![
                iam::Tag {
                    key: "env".into(),
                    value: "prod".into()
                },
                iam::Tag {
                    key: "owner".into(),
                    value: String::new()
                },
            ]),
        }
    );
    // An empty list is sent as `Tags=`.
    let empty = iam::CreateUserRequest::decode_query(&params(&[("UserName", "bob"), ("Tags", "")]))
        .unwrap();
    assert_eq!(empty.tags, Some(vec![]));
    let none = iam::CreateUserRequest::decode_query(&params(&[("UserName", "bob")])).unwrap();
    assert_eq!(none.tags, None);
}

#[test]
fn create_user_validation_messages() {
    let long = "a".repeat(65);
    check_decode::<iam::CreateUserRequest>(&[("UserName", "bob")], "ok");
    check_decode::<iam::CreateUserRequest>(
        &[("UserName", &long)],
        &format!(
            "1 validation error detected: Value '{long}' at 'userName' failed to satisfy constraint: \
             Member must have length less than or equal to 64"
        ),
    );
    check_decode::<iam::CreateUserRequest>(
        &[("UserName", "bad name")],
        "1 validation error detected: Value 'bad name' at 'userName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\w+=,.@-]+",
    );
    // `\w` is ASCII, as in Java.
    check_decode::<iam::CreateUserRequest>(
        &[("UserName", "é")],
        "1 validation error detected: Value 'é' at 'userName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\w+=,.@-]+",
    );
    check_decode::<iam::CreateUserRequest>(
        &[],
        "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null",
    );
    check_decode::<iam::CreateUserRequest>(
        &[("UserName", "")],
        "2 validation errors detected: Value '' at 'userName' failed to satisfy constraint: \
         Member must have length greater than or equal to 1; Value '' at 'userName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\w+=,.@-]+",
    );
    let long_key = "k".repeat(129);
    check_decode::<iam::CreateUserRequest>(
        &[
            ("UserName", "bob"),
            ("Path", "no-slashes"),
            ("Tags.member.1.Key", "ok"),
            ("Tags.member.1.Value", "v"),
            ("Tags.member.2.Key", &long_key),
            ("Tags.member.3.Value", "v"),
        ],
        &format!(
            "4 validation errors detected: \
         Value 'no-slashes' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: \
         (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F); \
         Value '{long_key}' at 'tags.2.member.key' failed to satisfy constraint: Member must have length less than or equal to 128; \
         Value null at 'tags.2.member.value' failed to satisfy constraint: Member must not be null; \
         Value null at 'tags.3.member.key' failed to satisfy constraint: Member must not be null"
        ),
    );
}

#[test]
fn numbers_booleans_enums_and_ranges() {
    check_decode::<iam::ListUsersRequest>(&[("MaxItems", "1000"), ("Marker", "m")], "ok");
    check_decode::<iam::ListUsersRequest>(
        &[("MaxItems", "0")],
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    check_decode::<iam::ListUsersRequest>(
        &[("MaxItems", "1001")],
        "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: \
         Member must have value less than or equal to 1000",
    );
    check_decode::<iam::ListUsersRequest>(
        &[("MaxItems", "ten")],
        "1 validation error detected: Value 'ten' at 'maxItems' failed to satisfy constraint: Member must be a number",
    );
    check_decode::<iam::UpdateAccessKeyRequest>(
        &[
            ("AccessKeyId", "AKIAIOSFODNN7EXAMPLE"),
            ("Status", "Enabled"),
        ],
        "1 validation error detected: Value 'Enabled' at 'status' failed to satisfy constraint: \
         Member must satisfy enum value set: [Active, Inactive, Expired]",
    );
    let ok = iam::UpdateAccessKeyRequest::decode_query(&params(&[
        ("AccessKeyId", "AKIAIOSFODNN7EXAMPLE"),
        ("Status", "Inactive"),
    ]))
    .unwrap();
    assert_eq!(ok.status, iam::StatusType::Inactive);
    check_decode::<iam::UpdateAccountPasswordPolicyRequest>(
        &[("RequireSymbols", "yes"), ("MinimumPasswordLength", "8")],
        "1 validation error detected: Value 'yes' at 'requireSymbols' failed to satisfy constraint: \
         Member must be a boolean (true or false)",
    );
    let policy = iam::UpdateAccountPasswordPolicyRequest::decode_query(&params(&[
        ("RequireSymbols", "true"),
        ("MaxPasswordAge", "90"),
    ]))
    .unwrap();
    assert_eq!(
        (policy.require_symbols, policy.max_password_age),
        (Some(true), Some(90))
    );
    check_decode::<sts::AssumeRoleRequest>(
        &[
            ("RoleArn", "arn:aws:iam::123456789012:role/demo"),
            ("RoleSessionName", "s"),
            ("DurationSeconds", "100"),
        ],
        "2 validation errors detected: \
         Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; \
         Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
    );
}

#[test]
fn enums_parse_and_print() {
    assert_eq!(
        "Active".parse::<iam::StatusType>(),
        Ok(iam::StatusType::Active)
    );
    assert!("active".parse::<iam::StatusType>().is_err());
    assert_eq!(iam::StatusType::Expired.to_string(), "Expired");
    assert_eq!(
        iam::PolicySourceType::from_wire("aws-managed"),
        Some(iam::PolicySourceType::AwsManaged)
    );
    assert_eq!(iam::SummaryKeyType::ALL.len(), 34);
}

#[test]
fn secrets_do_not_debug_print() {
    let key = iam::AccessKey {
        user_name: "bob".into(),
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        status: iam::StatusType::Active,
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        create_date: None,
    };
    let printed = format!("{key:?}");
    assert!(
        printed.contains("AKIAIOSFODNN7EXAMPLE") && printed.contains("***"),
        "{printed}"
    );
    assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
}

fn user(name: &str, id: &str) -> iam::User {
    iam::User {
        path: "/".into(),
        user_name: name.into(),
        user_id: id.into(),
        arn: format!("arn:aws:iam::123456789012:user/{name}"),
        create_date: Timestamp::from_unix_seconds(1_440_938_160),
        ..Default::default()
    }
}

#[test]
fn encodes_list_users() {
    let mut alice = user("alice", "AIDACKCEVSQ6C2EXAMPLE");
    alice.tags = Some(vec![iam::Tag {
        key: "a&b".into(),
        value: "<x>".into(),
    }]);
    alice.password_last_used = Some(Timestamp::from_unix_seconds(1_440_938_220));
    let out = iam::ListUsersResponse {
        users: vec![alice, user("bob", "AIDAI3FH7EXAMPLE")],
        is_truncated: Some(false),
        marker: None,
    };
    let xml = response_document(
        iam::XMLNS,
        "ListUsers",
        Some(("ListUsersResult", &out)),
        "7a62c49f-347e",
    );
    assert_eq!(
        xml,
        "<ListUsersResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ListUsersResult><Users>\
         <member><Path>/</Path><UserName>alice</UserName><UserId>AIDACKCEVSQ6C2EXAMPLE</UserId>\
         <Arn>arn:aws:iam::123456789012:user/alice</Arn><CreateDate>2015-08-30T12:36:00Z</CreateDate>\
         <PasswordLastUsed>2015-08-30T12:37:00Z</PasswordLastUsed>\
         <Tags><member><Key>a&amp;b</Key><Value>&lt;x&gt;</Value></member></Tags></member>\
         <member><Path>/</Path><UserName>bob</UserName><UserId>AIDAI3FH7EXAMPLE</UserId>\
         <Arn>arn:aws:iam::123456789012:user/bob</Arn><CreateDate>2015-08-30T12:36:00Z</CreateDate></member>\
         </Users><IsTruncated>false</IsTruncated></ListUsersResult>\
         <ResponseMetadata><RequestId>7a62c49f-347e</RequestId></ResponseMetadata></ListUsersResponse>"
    );
    let empty = iam::ListUsersResponse::default();
    let mut w = XmlWriter::new();
    empty.encode_members(&mut w);
    assert_eq!(w.into_string(), "<Users/>");
}

#[test]
fn encodes_account_summary_map() {
    let out = iam::GetAccountSummaryResponse {
        summary_map: Some(vec![
            (iam::SummaryKeyType::Users, 3),
            (iam::SummaryKeyType::UsersQuota, 5000),
        ]),
    };
    let xml = response_document(
        iam::XMLNS,
        "GetAccountSummary",
        Some(("GetAccountSummaryResult", &out)),
        "r",
    );
    assert_eq!(
        xml,
        "<GetAccountSummaryResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetAccountSummaryResult>\
         <SummaryMap><entry><key>Users</key><value>3</value></entry>\
         <entry><key>UsersQuota</key><value>5000</value></entry></SummaryMap>\
         </GetAccountSummaryResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
         </GetAccountSummaryResponse>"
    );
}

struct Nothing;

impl IamApi for Nothing {
    type Ctx = ();
    const IMPLEMENTED: &'static [&'static str] = &[];
}

impl StsApi for Nothing {
    type Ctx = ();
    const IMPLEMENTED: &'static [&'static str] = &[];
}

#[test]
fn every_operation_answers_not_implemented() {
    assert_eq!(iam::OPERATIONS.len(), 176);
    assert_eq!(sts::OPERATIONS.len(), 11);
    let check = |result: Result<String, ApiError>, op: &str| {
        let err = result.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotImplemented, "{op}");
        assert_eq!(err.http_status(), 501);
        assert_eq!(
            err.message,
            format!("The operation {op} is not implemented by Gatehouse yet.")
        );
    };
    for op in iam::OPERATIONS {
        let p = params(&[("Action", op), ("Version", iam::VERSION)]);
        check(iam::dispatch(&Nothing, &(), op, &p, "r"), op);
    }
    for op in sts::OPERATIONS {
        let p = params(&[("Action", op), ("Version", sts::VERSION)]);
        check(sts::dispatch(&Nothing, &(), op, &p, "r"), op);
    }
}

#[test]
fn every_operation_dispatches_to_its_method() {
    // The default methods answer NotImplemented naming their own operation, so claiming every
    // operation as implemented shows that each action reaches the method of the same name (or
    // fails validation first, for operations with required members).
    struct All;
    impl IamApi for All {
        type Ctx = ();
        const IMPLEMENTED: &'static [&'static str] = iam::OPERATIONS;
    }
    impl StsApi for All {
        type Ctx = ();
        const IMPLEMENTED: &'static [&'static str] = sts::OPERATIONS;
    }
    let check = |result: Result<String, ApiError>, op: &str| {
        let err = result.unwrap_err();
        match err.code {
            ErrorCode::NotImplemented => {
                assert_eq!(
                    err.message,
                    format!("The operation {op} is not implemented by Gatehouse yet.")
                );
            }
            ErrorCode::ValidationError => assert!(
                err.message.contains("Member must not be null"),
                "{op}: {err}"
            ),
            _ => panic!("{op}: {err}"),
        }
    };
    for op in iam::OPERATIONS {
        check(
            iam::dispatch(&All, &(), op, &params(&[("Version", iam::VERSION)]), "r"),
            op,
        );
    }
    for op in sts::OPERATIONS {
        check(
            sts::dispatch(&All, &(), op, &params(&[("Version", sts::VERSION)]), "r"),
            op,
        );
    }
}

#[test]
fn unknown_actions_and_versions() {
    let invalid = |result: Result<String, ApiError>, message: &str| {
        let err = result.unwrap_err();
        assert_eq!(
            (err.code, err.http_status(), err.message.as_str()),
            (ErrorCode::InvalidAction, 400, message)
        );
    };
    let p = params(&[("Version", iam::VERSION)]);
    invalid(
        iam::dispatch(&Nothing, &(), "CreateUsers", &p, "r"),
        "Could not find operation CreateUsers for version 2010-05-08",
    );
    invalid(
        iam::dispatch(&Nothing, &(), "AssumeRole", &p, "r"),
        "Could not find operation AssumeRole for version 2010-05-08",
    );
    invalid(
        iam::dispatch(&Nothing, &(), "CreateUser", &params(&[]), "r"),
        "Could not find operation CreateUser for version NO_VERSION_SPECIFIED",
    );
    invalid(
        sts::dispatch(
            &Nothing,
            &(),
            "GetCallerIdentity",
            &params(&[("Version", "2010-05-08")]),
            "r",
        ),
        "Could not find operation GetCallerIdentity for version 2010-05-08",
    );
}

struct Users;

impl IamApi for Users {
    type Ctx = &'static str;
    const IMPLEMENTED: &'static [&'static str] = &["CreateUser", "DeleteUser", "GetUser"];

    fn create_user(
        &self,
        cx: &Self::Ctx,
        input: iam::CreateUserRequest,
    ) -> Result<iam::CreateUserResponse, ApiError> {
        let mut u = user(&input.user_name, cx);
        u.tags = input.tags;
        Ok(iam::CreateUserResponse { user: Some(u) })
    }

    fn delete_user(&self, _cx: &Self::Ctx, input: iam::DeleteUserRequest) -> Result<(), ApiError> {
        if input.user_name == "root" {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                "Cannot delete entity.",
            ));
        }
        Ok(())
    }
}

#[test]
fn dispatches_implemented_operations() {
    let p = QueryParams::parse(
        b"Action=CreateUser&Version=2010-05-08&UserName=carol&Tags.member.1.Key=k&Tags.member.1.Value=v",
    )
    .unwrap();
    let xml = iam::dispatch(&Users, &"AIDAEXAMPLE", p.action().unwrap(), &p, "req").unwrap();
    assert_eq!(
        xml,
        "<CreateUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><CreateUserResult><User>\
         <Path>/</Path><UserName>carol</UserName><UserId>AIDAEXAMPLE</UserId>\
         <Arn>arn:aws:iam::123456789012:user/carol</Arn><CreateDate>2015-08-30T12:36:00Z</CreateDate>\
         <Tags><member><Key>k</Key><Value>v</Value></member></Tags></User></CreateUserResult>\
         <ResponseMetadata><RequestId>req</RequestId></ResponseMetadata></CreateUserResponse>"
    );
    let p = params(&[("Version", iam::VERSION), ("UserName", "carol")]);
    assert_eq!(
        iam::dispatch(&Users, &"x", "DeleteUser", &p, "req").unwrap(),
        "<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
         <ResponseMetadata><RequestId>req</RequestId></ResponseMetadata></DeleteUserResponse>"
    );
    let p = params(&[("Version", iam::VERSION), ("UserName", "root")]);
    assert_eq!(
        iam::dispatch(&Users, &"x", "DeleteUser", &p, "req")
            .unwrap_err()
            .code,
        ErrorCode::DeleteConflict
    );
    // Claimed but not overridden: the default method still answers NotImplemented.
    let p = params(&[("Version", iam::VERSION)]);
    assert_eq!(
        iam::dispatch(&Users, &"x", "GetUser", &p, "req")
            .unwrap_err()
            .code,
        ErrorCode::NotImplemented
    );
    // Not claimed: NotImplemented before validation.
    let p = params(&[("Version", iam::VERSION)]);
    assert_eq!(
        iam::dispatch(&Users, &"x", "CreateRole", &p, "req")
            .unwrap_err()
            .code,
        ErrorCode::NotImplemented
    );
    let p = params(&[("Version", iam::VERSION), ("UserName", "bad name")]);
    let err = iam::dispatch(&Users, &"x", "CreateUser", &p, "req").unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert!(
        err.to_xml(iam::XMLNS, "req")
            .contains("<Code>ValidationError</Code>")
    );
}

#[test]
fn sts_no_input_operation() {
    struct Caller;
    impl StsApi for Caller {
        type Ctx = ();
        const IMPLEMENTED: &'static [&'static str] = &["GetCallerIdentity"];
        fn get_caller_identity(
            &self,
            _cx: &(),
            _input: sts::GetCallerIdentityRequest,
        ) -> Result<sts::GetCallerIdentityResponse, ApiError> {
            Ok(sts::GetCallerIdentityResponse {
                user_id: Some("AIDAEXAMPLE".into()),
                account: Some("123456789012".into()),
                arn: Some("arn:aws:iam::123456789012:user/bob".into()),
            })
        }
    }
    let p = params(&[("Action", "GetCallerIdentity"), ("Version", sts::VERSION)]);
    assert_eq!(
        sts::dispatch(&Caller, &(), "GetCallerIdentity", &p, "id").unwrap(),
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
         <UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account><Arn>arn:aws:iam::123456789012:user/bob</Arn>\
         </GetCallerIdentityResult><ResponseMetadata><RequestId>id</RequestId></ResponseMetadata>\
         </GetCallerIdentityResponse>"
    );
}

#[test]
fn unknown_parameters_are_ignored_and_reported() {
    let p = params(&[
        ("Action", "CreateUser"),
        ("Version", "2010-05-08"),
        ("UserName", "bob"),
        ("Colour", "red"),
    ]);
    let (input, unknown) = iam::CreateUserRequest::decode_query_reporting(&p).unwrap();
    assert_eq!(input.user_name, "bob");
    assert_eq!(unknown, ["Colour"]);
    // A list index past a gap is not read either.
    let p = params(&[
        ("UserName", "bob"),
        ("Tags.member.1.Key", "a"),
        ("Tags.member.1.Value", "b"),
        ("Tags.member.3.Key", "c"),
    ]);
    let (input, unknown) = iam::CreateUserRequest::decode_query_reporting(&p).unwrap();
    assert_eq!(input.tags.map(|t| t.len()), Some(1));
    assert_eq!(unknown, ["Tags.member.3.Key"]);
}

/// Query parameters for a JSON input as botocore serializes it: members by name, lists as
/// `X.member.N` (`X=` when empty), nested structures as `X.Member`.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        serde_json::Value::Object(members) => {
            for (k, v) in members {
                flatten(&key(k), v, out);
            }
        }
        serde_json::Value::Array(items) if items.is_empty() => {
            out.push((prefix.to_owned(), String::new()))
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}.member.{}", i + 1), v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        serde_json::Value::Bool(b) => out.push((prefix.to_owned(), b.to_string())),
        serde_json::Value::Number(n) => out.push((prefix.to_owned(), n.to_string())),
        serde_json::Value::Null => {}
    }
}

/// AWS's own worked examples (`model/*-examples.json`) decode without a validation error.
#[test]
fn model_examples_decode() {
    struct All;
    impl IamApi for All {
        type Ctx = ();
        const IMPLEMENTED: &'static [&'static str] = iam::OPERATIONS;
    }
    impl StsApi for All {
        type Ctx = ();
        const IMPLEMENTED: &'static [&'static str] = sts::OPERATIONS;
    }
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../model");
    let mut checked = 0;
    let mut failures = Vec::new();
    for (file, version) in [
        ("iam-examples.json", iam::VERSION),
        ("sts-examples.json", sts::VERSION),
    ] {
        let text = std::fs::read_to_string(model.join(file)).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (op, examples) in doc["examples"].as_object().unwrap() {
            for example in examples.as_array().unwrap() {
                let mut pairs = vec![("Version".to_owned(), version.to_owned())];
                if let Some(input) = example.get("input") {
                    flatten("", input, &mut pairs);
                }
                let p = QueryParams::from_pairs(pairs).unwrap();
                let result = if version == iam::VERSION {
                    iam::dispatch(&All, &(), op, &p, "r")
                } else {
                    sts::dispatch(&All, &(), op, &p, "r")
                };
                let err = result.unwrap_err();
                if err.code != ErrorCode::NotImplemented {
                    failures.push(format!("{op} ({}): {err}", example["id"]));
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 77);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Decoding never panics and answers only ValidationError (or reaches the method), whatever
/// the parameters: a small deterministic fuzz over every operation.
#[test]
fn decoding_arbitrary_parameters_never_panics() {
    struct All;
    impl IamApi for All {
        type Ctx = ();
        const IMPLEMENTED: &'static [&'static str] = iam::OPERATIONS;
    }
    impl StsApi for All {
        type Ctx = ();
        const IMPLEMENTED: &'static [&'static str] = sts::OPERATIONS;
    }
    const KEYS: &[&str] = &[
        "UserName",
        "Path",
        "PathPrefix",
        "Tags",
        "Tags.member.1.Key",
        "Tags.member.1.Value",
        "Tags.member.2.Key",
        "Tags.member.1",
        "TagKeys.member.1",
        "TagKeys",
        "MaxItems",
        "Marker",
        "PolicyDocument",
        "PolicyArn",
        "RoleArn",
        "RoleName",
        "RoleSessionName",
        "DurationSeconds",
        "PolicyArns.member.1.arn",
        "Status",
        "AccessKeyId",
        "NewPassword",
        "OldPassword",
        "PasswordResetRequired",
        "RequireSymbols",
        "MaxPasswordAge",
        "ContextEntries.member.1.ContextKeyName",
        "ContextEntries.member.1.ContextKeyValues.member.1",
        "ContextEntries.member.1.ContextKeyType",
        "PolicyInputList.member.1",
        "ResourceArns.member.1",
        "ClientIDList.member.1",
        "ThumbprintList.member.1",
        "Url",
        "SAMLMetadataDocument",
        "Name",
        "SerialNumber",
        "AuthenticationCode1",
        "Encoding",
        "SSHPublicKeyBody",
        "CertificateBody",
        "ServiceName",
        "EntityFilter",
        "Scope",
        "OnlyAttached",
        "WebIdentityToken",
        "SAMLAssertion",
        "TokenCode",
        "ProvidedContexts.member.1.ProviderArn",
        "SourceIdentity",
        "Tags.member.0.Key",
        "Tags.member.x.Key",
        "Tags.member.1.Key.Extra",
        ".",
        "",
        "..",
        "Tags..member",
    ];
    const VALUES: &[&str] = &[
        "",
        "a",
        "bob",
        "/",
        "/a/",
        "0",
        "-1",
        "1",
        "3600",
        "99999999999999999999",
        "true",
        "false",
        "TRUE",
        "Active",
        "arn:aws:iam::123456789012:role/x",
        "{\"Version\":\"2012-10-17\"}",
        "é😀\u{0}\u{FFFF}",
        "2015-08-30T12:36:00Z",
        "not a date",
        "Zm9v",
        "%%",
        "a b",
        "x.member.1",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let long = "x".repeat(3000);
    for round in 0..30 {
        for (ops, version, is_iam) in [
            (iam::OPERATIONS, iam::VERSION, true),
            (sts::OPERATIONS, sts::VERSION, false),
        ] {
            for op in ops {
                let mut p = QueryParams::new();
                p.insert("Version".into(), version.into()).unwrap();
                for _ in 0..next(8) {
                    let key = KEYS[next(KEYS.len())].to_owned();
                    let value = if round % 7 == 0 {
                        long.clone()
                    } else {
                        VALUES[next(VALUES.len())].to_owned()
                    };
                    let _ = p.insert(key, value);
                }
                let result = if is_iam {
                    iam::dispatch(&All, &(), op, &p, "r")
                } else {
                    sts::dispatch(&All, &(), op, &p, "r")
                };
                let err = result.unwrap_err();
                assert!(
                    matches!(
                        err.code,
                        ErrorCode::NotImplemented | ErrorCode::ValidationError
                    ),
                    "{op} {p:?}: {err}"
                );
                if err.code == ErrorCode::ValidationError {
                    let n: usize = err.message.split(' ').next().unwrap().parse().unwrap();
                    assert_eq!(
                        err.message.matches("failed to satisfy constraint").count(),
                        n,
                        "{}",
                        err.message
                    );
                }
            }
        }
    }
}

#[test]
fn secrets_are_never_quoted_in_validation_messages() {
    let long_password = "S3cr3t!".repeat(30);
    check_decode::<iam::CreateLoginProfileRequest>(
        &[("UserName", "bob"), ("Password", &long_password)],
        "1 validation error detected: Value at 'password' failed to satisfy constraint: \
         Member must have length less than or equal to 128",
    );
}
