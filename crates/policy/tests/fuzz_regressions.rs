//! Inputs that fuzzing (see `fuzz/`) aims at, kept as deterministic tests: the parser and the
//! evaluator must not panic, overflow the stack or take unbounded time on hostile input.
//!
//! Fuzz runs so far (cargo fuzz, nightly, ASan) found no crash, leak or timeout; a failing
//! input found later goes here as a regression test named after what it exercises.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use gatehouse_policy::{
    Context, NamedPolicy, Outcome, Policy, PolicyKind, PolicySet, Principal, Request, authorize,
};

/// Generous: these run in debug builds on a shared two-core machine.
const BUDGET: Duration = Duration::from_secs(10);

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < BUDGET, "{what} took {took:?}");
    out
}

const KINDS: [PolicyKind; 7] = [
    PolicyKind::Identity,
    PolicyKind::Resource,
    PolicyKind::Trust,
    PolicyKind::PermissionsBoundary,
    PolicyKind::Session,
    PolicyKind::ServiceControl,
    PolicyKind::ResourceControl,
];

fn parse_all_kinds(what: &str, text: &str) {
    for kind in KINDS {
        timed(what, || {
            let _ = Policy::parse(text, kind);
        });
    }
}

#[test]
fn deeply_nested_arrays_are_rejected_without_overflow() {
    let text = "[".repeat(1_000_000);
    parse_all_kinds("nested arrays", &text);
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":{}{}}}"#,
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    parse_all_kinds("nested statement arrays", &text);
}

#[test]
fn deeply_nested_objects_are_rejected_without_overflow() {
    let text = r#"{"a":"#.repeat(500_000);
    parse_all_kinds("nested objects", &text);
    let mut cond = String::from(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":"#,
    );
    cond.push_str(&r#"{"StringLike":"#.repeat(100_000));
    cond.push_str(r#""x""#);
    cond.push_str(&"}".repeat(100_000));
    cond.push_str("}]}");
    parse_all_kinds("nested condition objects", &cond);
}

#[test]
fn huge_strings_parse_in_bounded_time() {
    let big = "a".repeat(8 << 20);
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{big}"}}]}}"#
    );
    parse_all_kinds("an 8 MiB resource string", &text);
    let escapes = r"\u0041".repeat(1 << 20);
    let text = format!(r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{escapes}"}}]}}"#);
    parse_all_kinds("a million \\u escapes", &text);
    parse_all_kinds("unterminated string", &format!("\"{big}"));
    parse_all_kinds("a long number", &"9".repeat(1 << 20));
}

#[test]
fn many_statements_and_values() {
    let stmts: Vec<String> = (0..5_000)
        .map(|i| {
            format!(
                r#"{{"Effect":"Allow","Action":"s3:Get{i}*","Resource":"arn:aws:s3:::b{i}/*"}}"#
            )
        })
        .collect();
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        stmts.join(",")
    );
    parse_all_kinds("5,000 statements", &text);
    let values: Vec<String> = (0..100_000).map(|i| format!("\"v{i}*\"")).collect();
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"ForAnyValue:StringLike":{{"aws:TagKeys":[{}]}}}}}}]}}"#,
        values.join(",")
    );
    parse_all_kinds("100,000 condition values", &text);
}

#[test]
fn unterminated_and_repeated_variables() {
    for body in [
        "${".repeat(100_000),
        "${aws:username}".repeat(20_000),
        "${*}${?}${$}".repeat(20_000),
        "${aws:username, '".repeat(20_000),
        "$".repeat(100_000),
    ] {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/{body}","Condition":{{"StringLike":{{"k":"{body}"}}}}}}]}}"#
        );
        parse_all_kinds("variables", &text);
    }
}

/// Parses a policy that must be accepted, then evaluates one request against it.
fn decide(kind: PolicyKind, text: &str, action: &str, resource: &str, ctx: &Context) -> Outcome {
    let policy = timed("parse", || Policy::parse(text, kind)).expect("policy should parse");
    let mut set = PolicySet::default();
    match kind {
        PolicyKind::Identity => set.identity.push(NamedPolicy::new("p", policy)),
        _ => set.resource = Some(NamedPolicy::new("r", policy)),
    }
    let alice = Principal::user("arn:aws:iam::111122223333:user/alice");
    let req = Request {
        principal: &alice,
        action,
        resource,
        resource_account: None,
        context: ctx,
    };
    timed("authorize", || authorize(&set, &req).outcome)
}

#[test]
fn many_wildcards_in_resource_do_not_backtrack_exponentially() {
    // 1,000 '*a' pairs then 'b', against 20,000 'a's: no match, and a naive backtracking
    // matcher would take exponential time.
    let pat = format!("arn:aws:s3:::{}b", "*a".repeat(1_000));
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"{pat}"}}]}}"#
    );
    let res = format!("arn:aws:s3:::{}", "a".repeat(20_000));
    let out = decide(
        PolicyKind::Identity,
        &text,
        "s3:GetObject",
        &res,
        &Context::new(),
    );
    assert_eq!(out, Outcome::ImplicitDeny);
    let res_b = format!("{res}b");
    let out = decide(
        PolicyKind::Identity,
        &text,
        "s3:GetObject",
        &res_b,
        &Context::new(),
    );
    assert_eq!(out, Outcome::Allowed);
}

#[test]
fn many_wildcards_in_actions_and_conditions() {
    let act = format!("s3:{}X", "*?".repeat(500));
    let like = format!("{}z", "*a?".repeat(700));
    let arn = format!("arn:aws:s3:::{}z", "*a".repeat(700));
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["{act}","s3:*"],"Resource":"*","Condition":{{"StringLike":{{"k:s":"{like}"}},"ArnLike":{{"k:arn":"{arn}"}}}}}}]}}"#
    );
    let ctx = Context::new()
        .with("k:s", "a".repeat(20_000))
        .with("k:arn", format!("arn:aws:s3:::{}", "a".repeat(20_000)));
    let long_action = format!("s3:{}", "G".repeat(20_000));
    let out = decide(PolicyKind::Identity, &text, &long_action, "*", &ctx);
    assert_eq!(out, Outcome::ImplicitDeny);
}

#[test]
fn huge_request_values_evaluate_in_bounded_time() {
    let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/${aws:username}/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"NumericLessThan":{"k:n":"10"},"ForAllValues:StringLike":{"aws:TagKeys":["t*"]}}}]}"#;
    let big = "9".repeat(1 << 20);
    let ctx = Context::new()
        .with("aws:SourceIp", "1".repeat(1 << 20))
        .with("aws:CurrentTime", big.clone())
        .with("k:n", big)
        .with("aws:username", "u".repeat(1 << 20))
        .with_values("aws:TagKeys", (0..100_000).map(|i| format!("t{i}")));
    let res = format!("arn:aws:s3:::b/{}/k", "u".repeat(1 << 20));
    let out = decide(PolicyKind::Identity, text, "s3:GetObject", &res, &ctx);
    assert_ne!(out, Outcome::ExplicitDeny);
}
