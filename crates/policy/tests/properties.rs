//! Property and differential tests for the policy engine.
//!
//! - Adding a `Deny` statement never turns a denied request into an allowed one.
//! - Adding a permissions boundary, a session policy (to a role session) or an SCP/RCP level
//!   never grants more.
//! - Statement order and policy order never change the decision.
//! - The engine agrees with the reference evaluator in `reference/mod.rs` (written from AWS's
//!   documentation, independently of the engine) on random policies and requests drawn from
//!   small alphabets, so that matches actually happen.
//!
//! Case counts: `PROPTEST_CASES` (default 5,000 per property, well under a minute in a debug
//! build). The long differential run is `#[ignore]`d:
//! `GATEHOUSE_DIFF_CASES=200000 cargo test -p gatehouse-policy --release --test properties -- --ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reference;

use std::collections::BTreeSet;

use gatehouse_policy::{
    Context, Decision, NamedPolicy, Outcome, Policy, PolicyKind, PolicySet, Principal,
    PrincipalKind, Request, authorize,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};

const A: &str = "111122223333";
const B: &str = "444455556666";

// ------------------------------------------------------------------ scenario

#[derive(Debug, Clone)]
struct Caller {
    kind: reference::Kind,
    arn: String,
    account: String,
    role_arn: Option<String>,
}

fn callers() -> Vec<Caller> {
    use reference::Kind::*;
    let c = |kind, arn: &str, account: &str, role: Option<&str>| Caller {
        kind,
        arn: arn.to_string(),
        account: account.to_string(),
        role_arn: role.map(str::to_string),
    };
    vec![
        c(User, "arn:aws:iam::111122223333:user/alice", A, None),
        c(User, "arn:aws:iam::444455556666:user/bob", B, None),
        c(
            AssumedRole,
            "arn:aws:sts::111122223333:assumed-role/dev/s1",
            A,
            Some("arn:aws:iam::111122223333:role/dev"),
        ),
        c(
            AssumedRole,
            "arn:aws:sts::444455556666:assumed-role/ops/s2",
            B,
            Some("arn:aws:iam::444455556666:role/ops"),
        ),
        c(Root, "arn:aws:iam::111122223333:root", A, None),
        c(
            FederatedUser,
            "arn:aws:sts::111122223333:federated-user/fred",
            A,
            None,
        ),
        c(Anonymous, "anonymous", "", None),
        c(Service, "cloudtrail.amazonaws.com", "", None),
    ]
}

/// One context key: name, values, multivalued?
type Entry = (String, Vec<String>, bool);

#[derive(Debug, Clone)]
struct Scenario {
    identity: Vec<Value>,
    boundary: Option<Value>,
    session: Vec<Value>,
    resource: Option<Value>,
    /// The resource policy is a role trust policy (and the request is sts:AssumeRole/TagSession).
    trust: bool,
    scps: Vec<Vec<Value>>,
    rcps: Vec<Vec<Value>>,
    caller: Caller,
    action: String,
    resource_arn: String,
    resource_account: Option<String>,
    context: Vec<Entry>,
}

// ------------------------------------------------------------------ strategies

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(items).prop_map(str::to_string)
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "ec2:RunInstances",
    "iam:CreateUser",
];
const ACTION_PATTERNS: &[&str] = &[
    "*",
    "s3:*",
    "s3:Get*",
    "s3:getobject",
    "S3:PutObject",
    "s3:?utObject",
    "ec2:*",
    "s3:List*",
    "iam:Create*",
    "s3:GetObject",
    "ec2:RunInstances",
    "s3:*Object",
    "sts:AssumeRole",
    "sts:*",
];
const RESOURCES: &[&str] = &[
    "arn:aws:s3:::b1/k1",
    "arn:aws:s3:::b1/alice/k",
    "arn:aws:s3:::b2/k1",
    "arn:aws:s3:::b1",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
    "*",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::b1/*",
    "arn:aws:s3:::b?/k1",
    "arn:aws:s3:::b1",
    "arn:aws:s3:::*",
    "arn:aws:s3:::b1/${aws:username}/*",
    "arn:aws:s3:::b1/${aws:PrincipalTag/team, 'alice'}/*",
    "arn:aws:s3:::b1/${aws:PrincipalTag/team}/*",
    "arn:aws:ec2:*:111122223333:instance/*",
    "arn:aws:s3:::B1/*",
    "arn:aws:s3:::b1/k${?}",
    "arn:aws:iam::*:role/deploy",
];
const PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS":"*"}"#,
    r#"{"AWS":"111122223333"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
    r#"{"AWS":"arn:aws:iam::444455556666:root"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
    r#"{"AWS":"arn:aws:iam::444455556666:user/bob"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:role/dev"}"#,
    r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/dev/s1"}"#,
    r#"{"AWS":"arn:aws:iam::444455556666:role/ops"}"#,
    r#"{"AWS":"arn:aws:sts::111122223333:federated-user/fred"}"#,
    r#"{"Service":"cloudtrail.amazonaws.com"}"#,
    r#"{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::444455556666:root"]}"#,
];
const NOT_PRINCIPALS: &[&str] = &[
    r#"{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:root"]}"#,
    r#"{"AWS":["arn:aws:sts::111122223333:assumed-role/dev/s1","arn:aws:iam::111122223333:role/dev","arn:aws:iam::111122223333:root"]}"#,
    r#"{"AWS":"arn:aws:iam::999988887777:user/zed"}"#,
    r#"{"AWS":["arn:aws:iam::444455556666:user/bob","arn:aws:iam::444455556666:root"]}"#,
];

/// (operator family, key, values the policy may use)
fn condition() -> impl Strategy<Value = (String, String, Value)> {
    let string_vals: &'static [&'static str] = &[
        "x",
        "y",
        "X",
        "x*",
        "?",
        "${aws:username}",
        "${aws:PrincipalTag/team}",
        "${aws:PrincipalTag/team, 'x'}",
        "a${*}",
    ];
    let fam = prop_oneof![
        // plain string operators on the single-valued key
        (
            pick(&[
                "StringEquals",
                "StringNotEquals",
                "StringEqualsIgnoreCase",
                "StringNotEqualsIgnoreCase",
                "StringLike",
                "StringNotLike",
                "StringEqualsIfExists",
                "StringNotLikeIfExists",
            ]),
            pick(&["k:str", "aws:PrincipalTag/team", "aws:username"]),
            proptest::sample::subsequence(string_vals, 1..3),
        )
            .prop_map(|(o, k, v)| (o, k, json!(v))),
        // set operators on the multivalued key (sometimes on the single-valued one)
        (
            pick(&["ForAllValues:", "ForAnyValue:"]),
            pick(&[
                "StringEquals",
                "StringNotEquals",
                "StringLike",
                "StringNotLike",
            ]),
            pick(&["k:tags", "k:tags", "k:str"]),
            proptest::sample::subsequence(&["x", "y", "z", "x*"][..], 1..3),
        )
            .prop_map(|(q, o, k, v)| (format!("{q}{o}"), k, json!(v))),
        (
            pick(&[
                "NumericEquals",
                "NumericNotEquals",
                "NumericLessThan",
                "NumericLessThanEquals",
                "NumericGreaterThan",
                "NumericGreaterThanEquals",
                "NumericLessThanIfExists",
            ]),
            Just("k:num".to_string()),
            proptest::sample::subsequence(&["1", "2", "10", "2.0"][..], 1..3),
        )
            .prop_map(|(o, k, v)| (o, k, json!(v))),
        (
            pick(&[
                "DateEquals",
                "DateNotEquals",
                "DateLessThan",
                "DateGreaterThanEquals",
                "DateGreaterThanIfExists",
            ]),
            Just("k:date".to_string()),
            proptest::sample::subsequence(
                &[
                    "2024-01-01T00:00:00Z",
                    "2024-03-01",
                    "1704067200",
                    "2024-01-01T01:00:00+01:00"
                ][..],
                1..3
            ),
        )
            .prop_map(|(o, k, v)| (o, k, json!(v))),
        (
            pick(&["Bool", "BoolIfExists"]),
            Just("k:bool".to_string()),
            pick(&["true", "false"]),
        )
            .prop_map(|(o, k, v)| (o, k, json!(v))),
        (
            pick(&["IpAddress", "NotIpAddress", "IpAddressIfExists"]),
            Just("k:ip".to_string()),
            proptest::sample::subsequence(
                &[
                    "10.0.0.0/8",
                    "10.0.0.1",
                    "192.168.0.0/16",
                    "0.0.0.0/0",
                    "2001:db8::/32",
                    "2001:db8::1"
                ][..],
                1..3
            ),
        )
            .prop_map(|(o, k, v)| (o, k, json!(v))),
        (
            pick(&[
                "ArnEquals",
                "ArnLike",
                "ArnNotEquals",
                "ArnNotLike",
                "ArnLikeIfExists"
            ]),
            Just("k:arn".to_string()),
            proptest::sample::subsequence(
                &[
                    "arn:aws:sns:*:111122223333:*",
                    "arn:aws:sns:us-east-1:111122223333:t1",
                    "arn:aws:sns:*:*:t?",
                ][..],
                1..3
            ),
        )
            .prop_map(|(o, k, v)| (o, k, json!(v))),
        (
            Just("Null".to_string()),
            pick(&["k:str", "k:num", "k:tags", "aws:PrincipalTag/team"]),
            pick(&["true", "false"]),
        )
            .prop_map(|(o, k, v)| (o, k, json!(v))),
        (
            Just("BinaryEquals".to_string()),
            Just("k:bin".to_string()),
            pick(&["eA==", "eQ=="]),
        )
            .prop_map(|(o, k, v)| (o, k, json!(v))),
    ];
    fam
}

fn condition_block() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        2 => proptest::collection::vec(condition(), 1..3).prop_map(|cs| {
            let mut block = serde_json::Map::new();
            for (op, key, vals) in cs {
                let entry = block.entry(op).or_insert_with(|| json!({}));
                entry[key] = vals;
            }
            Some(Value::Object(block))
        }),
    ]
}

#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Identity,
    Resource,
    Scp,
    Rcp,
    /// A role trust policy: Principal, no Resource.
    Trust,
}

fn statement(slot: Slot) -> impl Strategy<Value = Value> {
    let not_principal = if slot == Slot::Trust { 0 } else { 1 };
    let principal = prop_oneof![
        8 => pick(PRINCIPALS).prop_map(|p| ("Principal", p)),
        not_principal => pick(NOT_PRINCIPALS).prop_map(|p| ("NotPrincipal", p)),
    ];
    (
        prop_oneof![7 => Just("Allow"), 3 => Just("Deny")],
        prop_oneof![6 => Just("Action"), 1 => Just("NotAction")],
        proptest::sample::subsequence(ACTION_PATTERNS, 1..3),
        prop_oneof![6 => Just("Resource"), 1 => Just("NotResource")],
        proptest::sample::subsequence(RESOURCE_PATTERNS, 1..3),
        condition_block(),
        principal,
    )
        .prop_map(move |(effect, akey, acts, rkey, ress, cond, (pkey, p))| {
            let mut s = serde_json::Map::new();
            s.insert("Effect".into(), json!(effect));
            if slot == Slot::Trust {
                let acts: Vec<&str> = acts
                    .iter()
                    .map(|a| {
                        if a.starts_with("s3:") {
                            "sts:AssumeRole"
                        } else {
                            a
                        }
                    })
                    .collect();
                s.insert(akey.into(), json!(acts));
            } else {
                s.insert(akey.into(), json!(acts));
                s.insert(rkey.into(), json!(ress));
            }
            match slot {
                Slot::Resource | Slot::Trust => {
                    let v: Value = serde_json::from_str(&p).unwrap();
                    s.insert(pkey.into(), v);
                }
                Slot::Rcp => {
                    s.insert("Principal".into(), json!("*"));
                }
                Slot::Identity | Slot::Scp => {}
            }
            if let Some(c) = cond {
                s.insert("Condition".into(), c);
            }
            Value::Object(s)
        })
}

fn document(slot: Slot, max: usize) -> impl Strategy<Value = Value> {
    (
        prop_oneof![9 => Just("2012-10-17"), 1 => Just("2008-10-17")],
        proptest::collection::vec(statement(slot), 1..=max),
    )
        .prop_map(|(v, st)| json!({"Version": v, "Statement": st}))
}

fn full_access(slot: Slot) -> Value {
    match slot {
        Slot::Rcp => {
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
        }
        _ => {
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        }
    }
}

fn org_levels(slot: Slot) -> impl Strategy<Value = Vec<Vec<Value>>> {
    let level = (
        prop_oneof![3 => Just(true), 1 => Just(false)],
        proptest::collection::vec(document(slot, 2), 0..2),
    )
        .prop_map(move |(full, mut docs)| {
            if full || docs.is_empty() {
                docs.insert(0, full_access(slot));
            }
            docs
        });
    prop_oneof![
        3 => Just(Vec::new()),
        1 => proptest::collection::vec(level, 1..3),
    ]
}

fn context_entries() -> impl Strategy<Value = Vec<Entry>> {
    let single = |key: &'static str, vals: &'static [&'static str]| {
        proptest::option::of(pick(vals))
            .prop_map(move |v| v.map(|v| (key.to_string(), vec![v], false)))
    };
    (
        single("k:str", &["x", "y", "X", "xy", "a*", "alice"]),
        proptest::option::of(proptest::sample::subsequence(
            &["x", "y", "z", "x1"][..],
            0..3,
        ))
        .prop_map(|v| {
            v.map(|v| {
                (
                    "k:tags".to_string(),
                    v.into_iter().map(str::to_string).collect(),
                    true,
                )
            })
        }),
        single("k:num", &["1", "2", "10", "2.00"]),
        single(
            "k:date",
            &[
                "2024-01-01T00:00:00Z",
                "2024-02-15T12:00:00Z",
                "2023-12-31T23:59:59Z",
                "2024-01-01T00:00:00.000Z",
                "2023-12-31T20:00:00-04:00",
            ],
        ),
        single("k:bool", &["true", "false"]),
        single(
            "k:ip",
            &[
                "10.0.0.1",
                "10.1.0.1",
                "192.168.1.1",
                "2001:db8::1",
                "2001:db9::1",
            ],
        ),
        single(
            "k:arn",
            &[
                "arn:aws:sns:us-east-1:111122223333:t1",
                "arn:aws:sns:us-east-1:444455556666:t2",
            ],
        ),
        single("aws:PrincipalTag/team", &["alice", "blue", "x"]),
        single("k:bin", &["eA==", "eQ=="]),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i)| {
            [a, b, c, d, e, f, g, h, i].into_iter().flatten().collect()
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        proptest::collection::vec(document(Slot::Identity, 3), 0..3),
        proptest::option::weighted(0.25, document(Slot::Identity, 2)),
        prop_oneof![3 => Just(Vec::new()), 1 => proptest::collection::vec(document(Slot::Identity, 2), 1..3)],
        prop_oneof![
            5 => proptest::option::weighted(0.5, document(Slot::Resource, 3)).prop_map(|d| (d, false)),
            1 => document(Slot::Trust, 2).prop_map(|d| (Some(d), true)),
        ],
        org_levels(Slot::Scp),
        org_levels(Slot::Rcp),
        0..callers().len(),
        pick(ACTIONS),
        pick(RESOURCES),
        proptest::sample::select(vec![None, Some(A.to_string()), Some(B.to_string())]),
        context_entries(),
    )
        .prop_map(
            |(identity, boundary, session, (resource, trust), scps, rcps, ci, action, res, racct, mut context)| {
                let caller = callers()[ci].clone();
                // Keys AWS always puts in the request context for these callers.
                if caller.kind == reference::Kind::User {
                    let name = caller.arn.rsplit('/').next().unwrap().to_string();
                    context.push(("aws:username".into(), vec![name], false));
                }
                if matches!(
                    caller.kind,
                    reference::Kind::User | reference::Kind::AssumedRole | reference::Kind::FederatedUser | reference::Kind::Root
                ) {
                    let parn = caller.role_arn.clone().unwrap_or_else(|| caller.arn.clone());
                    context.push(("aws:PrincipalArn".into(), vec![parn], false));
                    context.push(("aws:PrincipalAccount".into(), vec![caller.account.clone()], false));
                }
                let (action, res) = if trust {
                    let act = if action.starts_with("s3:Get") { "sts:TagSession" } else { "sts:AssumeRole" };
                    let acct = if racct.as_deref() == Some(B) { B } else { A };
                    (act.to_string(), format!("arn:aws:iam::{acct}:role/deploy"))
                } else {
                    (action, res)
                };
                Scenario {
                    identity,
                    boundary,
                    session,
                    resource,
                    trust,
                    scps,
                    rcps,
                    caller,
                    action,
                    resource_arn: res,
                    resource_account: racct,
                    context,
                }
            },
        )
}

// ------------------------------------------------------------------ running both evaluators

fn parse(doc: &Value, kind: PolicyKind) -> Option<Policy> {
    match Policy::parse(&doc.to_string(), kind) {
        Ok(p) => Some(p),
        Err(e) => {
            if std::env::var_os("GATEHOUSE_SHOW_REJECTS").is_some() {
                eprintln!("rejected {kind:?}: {e}");
            }
            None
        }
    }
}

/// The engine's policy set, or None if the engine rejects one of the generated documents.
fn engine_set(s: &Scenario) -> Option<PolicySet> {
    let named = |prefix: &str, docs: &[Value], kind| -> Option<Vec<NamedPolicy>> {
        docs.iter()
            .enumerate()
            .map(|(i, d)| parse(d, kind).map(|p| NamedPolicy::new(format!("{prefix}{i}"), p)))
            .collect()
    };
    Some(PolicySet {
        identity: named("id", &s.identity, PolicyKind::Identity)?,
        boundary: match &s.boundary {
            Some(d) => Some(NamedPolicy::new(
                "boundary",
                parse(d, PolicyKind::PermissionsBoundary)?,
            )),
            None => None,
        },
        session: named("session", &s.session, PolicyKind::Session)?,
        resource: match &s.resource {
            Some(d) => Some(NamedPolicy::new(
                "resource",
                parse(
                    d,
                    if s.trust {
                        PolicyKind::Trust
                    } else {
                        PolicyKind::Resource
                    },
                )?,
            )),
            None => None,
        },
        scps: s
            .scps
            .iter()
            .enumerate()
            .map(|(l, docs)| named(&format!("scp{l}-"), docs, PolicyKind::ServiceControl))
            .collect::<Option<_>>()?,
        rcps: s
            .rcps
            .iter()
            .enumerate()
            .map(|(l, docs)| named(&format!("rcp{l}-"), docs, PolicyKind::ResourceControl))
            .collect::<Option<_>>()?,
        ..PolicySet::default()
    })
}

fn engine_principal(c: &Caller) -> Principal {
    use reference::Kind::*;
    let kind = match c.kind {
        User => PrincipalKind::User,
        AssumedRole => PrincipalKind::AssumedRole {
            role_arn: c.role_arn.clone().unwrap(),
        },
        FederatedUser => PrincipalKind::FederatedUser { user_arn: None },
        Root => PrincipalKind::Root,
        Service => PrincipalKind::Service,
        Anonymous => PrincipalKind::Anonymous,
    };
    Principal::new(kind, c.arn.clone(), c.account.clone())
}

fn engine_context(entries: &[Entry]) -> Context {
    let mut c = Context::new();
    for (k, v, _) in entries {
        c.set(k, v.iter().cloned());
    }
    c
}

fn run_engine(s: &Scenario, set: &PolicySet) -> Decision {
    let p = engine_principal(&s.caller);
    let ctx = engine_context(&s.context);
    let req = Request {
        principal: &p,
        action: &s.action,
        resource: &s.resource_arn,
        resource_account: s.resource_account.as_deref(),
        context: &ctx,
    };
    authorize(set, &req)
}

fn hits(d: &Decision) -> BTreeSet<reference::Hit> {
    d.matched
        .iter()
        .map(|m| {
            (
                m.policy.to_string(),
                m.sid.as_deref().map(str::to_string),
                m.index,
            )
        })
        .collect()
}

fn run_reference(s: &Scenario) -> reference::Verdict {
    use reference::Doc;
    let docs = |prefix: &str, d: &[Value]| -> Vec<Doc> {
        d.iter()
            .enumerate()
            .map(|(i, d)| Doc {
                id: format!("{prefix}{i}"),
                doc: d.clone(),
            })
            .collect()
    };
    let pol = reference::Policies {
        identity: docs("id", &s.identity),
        boundary: s.boundary.as_ref().map(|d| Doc {
            id: "boundary".into(),
            doc: d.clone(),
        }),
        session: docs("session", &s.session),
        resource: s.resource.as_ref().map(|d| Doc {
            id: "resource".into(),
            doc: d.clone(),
        }),
        trust: s.trust,
        scps: s
            .scps
            .iter()
            .enumerate()
            .map(|(l, d)| docs(&format!("scp{l}-"), d))
            .collect(),
        rcps: s
            .rcps
            .iter()
            .enumerate()
            .map(|(l, d)| docs(&format!("rcp{l}-"), d))
            .collect(),
    };
    let ask = reference::Ask::new(
        reference::Caller {
            kind: s.caller.kind,
            arn: s.caller.arn.clone(),
            account: s.caller.account.clone(),
            role_arn: s.caller.role_arn.clone(),
        },
        s.action.clone(),
        s.resource_arn.clone(),
        s.resource_account.clone(),
        s.context.clone(),
    );
    reference::evaluate(&pol, &ask)
}

fn outcome_ref(o: Outcome) -> reference::Outcome {
    match o {
        Outcome::Allowed => reference::Outcome::Allowed,
        Outcome::ExplicitDeny => reference::Outcome::ExplicitDeny,
        Outcome::ImplicitDeny => reference::Outcome::ImplicitDeny,
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        max_global_rejects: cases.saturating_mul(4),
        failure_persistence: None,
        ..Config::default()
    })
}

fn report<T: std::fmt::Debug>(r: Result<(), TestError<T>>) {
    match r {
        Ok(()) => {}
        Err(TestError::Fail(why, value)) => panic!("{why}\nminimal failing input: {value:#?}"),
        Err(TestError::Abort(why)) => panic!("aborted: {why}"),
    }
}

#[derive(Default, Debug)]
struct Stats {
    compared: u64,
    undocumented: u64,
    rejected_by_parser: u64,
    allowed: u64,
    explicit: u64,
    implicit: u64,
}

fn differential(n: u32) {
    let stats = std::cell::RefCell::new(Stats::default());
    let result = runner(n).run(&scenario(), |s| {
        let Some(set) = engine_set(&s) else {
            stats.borrow_mut().rejected_by_parser += 1;
            return Err(TestCaseError::reject("engine rejected a generated policy"));
        };
        let got = run_engine(&s, &set);
        match run_reference(&s) {
            reference::Verdict::Undocumented(_) => {
                stats.borrow_mut().undocumented += 1;
                Ok(())
            }
            reference::Verdict::Decided(outcome, matched) => {
                let mut st = stats.borrow_mut();
                st.compared += 1;
                match outcome {
                    reference::Outcome::Allowed => st.allowed += 1,
                    reference::Outcome::ExplicitDeny => st.explicit += 1,
                    reference::Outcome::ImplicitDeny => st.implicit += 1,
                }
                drop(st);
                prop_assert_eq!(outcome_ref(got.outcome), outcome, "outcome differs");
                prop_assert_eq!(hits(&got), matched, "matched statements differ");
                Ok(())
            }
        }
    });
    eprintln!("differential: {n} cases: {:?}", stats.borrow());
    report(result);
    let st = stats.borrow();
    // The generator must exercise every outcome, or the comparison proves little.
    assert!(
        st.compared * 2 > u64::from(n),
        "too few comparable cases: {st:?}"
    );
    assert!(
        st.allowed * 20 > st.compared,
        "too few allowed cases: {st:?}"
    );
    assert!(
        st.explicit * 20 > st.compared,
        "too few explicit denies: {st:?}"
    );
}

#[test]
fn engine_agrees_with_reference() {
    differential(cases(5_000));
}

/// The long run: `GATEHOUSE_DIFF_CASES` (default 200,000) cases; run with `--ignored`,
/// preferably in a release build.
#[test]
#[ignore]
fn engine_agrees_with_reference_long() {
    let n = std::env::var("GATEHOUSE_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    differential(n);
}

// ------------------------------------------------------------------ metamorphic properties

fn decide(s: &Scenario) -> Option<Decision> {
    engine_set(s).map(|set| run_engine(s, &set))
}

#[test]
fn adding_a_deny_never_allows_more() {
    let strat = (
        scenario(),
        document(Slot::Identity, 1),
        document(Slot::Resource, 1),
        0..4usize,
    );
    report(
        runner(cases(5_000)).run(&strat, |(s, extra_id, extra_res, where_)| {
            let Some(before) = decide(&s) else {
                return Err(TestCaseError::reject("parser"));
            };
            let mut after_s = s.clone();
            let deny = |mut d: Value| {
                for st in d["Statement"].as_array_mut().unwrap() {
                    st["Effect"] = json!("Deny");
                }
                d
            };
            match where_ {
                0 => after_s.identity.push(deny(extra_id)),
                1 => match &mut after_s.boundary {
                    Some(b) => b["Statement"]
                        .as_array_mut()
                        .unwrap()
                        .push(deny(extra_id)["Statement"][0].clone()),
                    None => after_s.identity.push(deny(extra_id)),
                },
                2 => match &mut after_s.resource {
                    Some(r) => r["Statement"]
                        .as_array_mut()
                        .unwrap()
                        .push(deny(extra_res)["Statement"][0].clone()),
                    None => after_s.resource = Some(deny(extra_res)),
                },
                _ => after_s
                    .scps
                    .push(vec![full_access(Slot::Scp), deny(extra_id)]),
            }
            let Some(after) = decide(&after_s) else {
                return Err(TestCaseError::reject("parser"));
            };
            if before.outcome != Outcome::Allowed {
                prop_assert_ne!(
                    after.outcome,
                    Outcome::Allowed,
                    "a Deny turned a deny into an allow"
                );
            }
            if before.outcome == Outcome::ExplicitDeny {
                prop_assert_eq!(after.outcome, Outcome::ExplicitDeny);
            }
            Ok(())
        }),
    );
}

#[test]
fn limiting_policies_never_grant_more() {
    let strat = (
        scenario(),
        document(Slot::Identity, 2),
        document(Slot::Scp, 2),
        0..4usize,
    );
    report(runner(cases(5_000)).run(&strat, |(s, limit, org, which)| {
        let mut s = s;
        // Start from a scenario without the policy type we are about to add.
        match which {
            0 => s.boundary = None,
            1 => {
                s.session.clear();
                // A federated user with no session policy has no permissions at all, so
                // adding one can grant; role sessions and users are what this property is about.
                prop_assume!(s.caller.kind != reference::Kind::FederatedUser);
            }
            _ => {}
        }
        let Some(before) = decide(&s) else {
            return Err(TestCaseError::reject("parser"));
        };
        let mut after_s = s.clone();
        match which {
            0 => after_s.boundary = Some(limit),
            1 => after_s.session = vec![limit],
            2 => after_s.scps.push(vec![org]),
            _ => {
                let mut rcp = org;
                for st in rcp["Statement"].as_array_mut().unwrap() {
                    st["Principal"] = json!("*");
                }
                after_s.rcps.push(vec![rcp]);
            }
        }
        let Some(after) = decide(&after_s) else {
            return Err(TestCaseError::reject("parser"));
        };
        if before.outcome != Outcome::Allowed {
            prop_assert_ne!(
                after.outcome,
                Outcome::Allowed,
                "a limiting policy granted access"
            );
        }
        Ok(())
    }));
}

/// Issue 9's escalation rule for sessions: whatever a role session is allowed on its own
/// account's resources by identity-based policies (no resource policy naming it), its role's
/// policies allow without the session, its boundary allows, and its session policies allow.
#[test]
fn a_role_session_never_does_more_than_its_role_boundary_and_session_policies() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static ALLOWED: AtomicUsize = AtomicUsize::new(0);
    report(runner(cases(5_000)).run(&scenario(), |s| {
        prop_assume!(s.caller.kind == reference::Kind::AssumedRole);
        let mut s = s;
        s.resource = None;
        s.trust = false;
        s.scps.clear();
        s.rcps.clear();
        s.resource_account = None;
        let Some(session) = decide(&s) else {
            return Err(TestCaseError::reject("parser"));
        };
        if session.outcome != Outcome::Allowed {
            return Ok(());
        }
        ALLOWED.fetch_add(1, Ordering::Relaxed);
        // The role alone (no session policies): allowed.
        let mut role = s.clone();
        role.session.clear();
        let role_alone = decide(&role).ok_or_else(|| TestCaseError::reject("parser"))?;
        prop_assert_eq!(
            role_alone.outcome,
            Outcome::Allowed,
            "the session did more than its role"
        );
        // The session policies (together: an allow in any of them counts) and the boundary,
        // each standing in as the only identity policies, allow it too.
        let mut limits: Vec<Vec<Value>> = Vec::new();
        if !s.session.is_empty() {
            limits.push(s.session.clone());
        }
        limits.extend(s.boundary.clone().map(|b| vec![b]));
        for limit in limits {
            let mut alone = s.clone();
            alone.identity = limit;
            alone.session.clear();
            alone.boundary = None;
            let by_limit = decide(&alone).ok_or_else(|| TestCaseError::reject("parser"))?;
            prop_assert_eq!(
                by_limit.outcome,
                Outcome::Allowed,
                "the session did more than a session policy or its boundary allows"
            );
        }
        Ok(())
    }));
    // Not vacuous: sessions were allowed things, and each was checked.
    assert!(
        ALLOWED.load(Ordering::Relaxed) > 0,
        "no allowed session was generated"
    );
}

/// Gives every statement a unique Sid so statements can be followed through a shuffle.
fn label(s: &mut Scenario) {
    let mut n = 0;
    let mut tag = |d: &mut Value| {
        for st in d["Statement"].as_array_mut().unwrap() {
            st["Sid"] = json!(format!("S{n}"));
            n += 1;
        }
    };
    s.identity.iter_mut().for_each(&mut tag);
    s.session.iter_mut().for_each(&mut tag);
    s.boundary.iter_mut().for_each(&mut tag);
    s.resource.iter_mut().for_each(&mut tag);
    s.scps.iter_mut().flatten().for_each(&mut tag);
    s.rcps.iter_mut().flatten().for_each(&mut tag);
}

fn by_sid(d: &Decision) -> BTreeSet<Option<String>> {
    d.matched
        .iter()
        .map(|m| m.sid.as_deref().map(str::to_string))
        .collect()
}

#[test]
fn statement_and_policy_order_do_not_matter() {
    let strat = (scenario(), any::<u64>());
    report(runner(cases(5_000)).run(&strat, |(mut s, seed)| {
        label(&mut s);
        let Some(before) = decide(&s) else {
            return Err(TestCaseError::reject("parser"));
        };
        // A deterministic shuffle from the seed (rotate and reverse).
        let mut shuffled = s.clone();
        let k = seed as usize;
        let reorder = |d: &mut Value| {
            let st = d["Statement"].as_array_mut().unwrap();
            if !st.is_empty() {
                let len = st.len();
                st.rotate_left(k % len);
                if k & 1 == 1 {
                    st.reverse();
                }
            }
        };
        shuffled.identity.iter_mut().for_each(reorder);
        shuffled.session.iter_mut().for_each(reorder);
        shuffled.boundary.iter_mut().for_each(reorder);
        shuffled.resource.iter_mut().for_each(reorder);
        shuffled.scps.iter_mut().flatten().for_each(reorder);
        shuffled.rcps.iter_mut().flatten().for_each(reorder);
        if !shuffled.identity.is_empty() {
            let len = shuffled.identity.len();
            shuffled.identity.rotate_left((k >> 8) % len);
        }
        for level in shuffled.scps.iter_mut().chain(shuffled.rcps.iter_mut()) {
            level.reverse();
        }
        let Some(after) = decide(&shuffled) else {
            return Err(TestCaseError::reject("parser"));
        };
        prop_assert_eq!(before.outcome, after.outcome);
        // Policy ids follow position, so compare statements by their unique Sid.
        prop_assert_eq!(by_sid(&before), by_sid(&after));
        Ok(())
    }));
}

// ------------------------------------------------------------------ the reference on the corpus

/// The reference evaluator decides every corpus case it considers documented the way the
/// corpus expects: a cross-check of the reference (and of the corpus) independent of the engine.
#[test]
fn reference_agrees_with_corpus() {
    use reference::{Doc, Kind};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let (mut agreed, mut skipped, mut failures) = (0, 0, Vec::new());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let p = &case["policies"];
            let one = |v: &Value| Doc {
                id: v["id"].as_str().unwrap().to_string(),
                doc: v["document"].clone(),
            };
            let list = |v: &Value| {
                v.as_array()
                    .map(|a| a.iter().map(one).collect())
                    .unwrap_or_default()
            };
            let levels = |v: &Value| {
                v.as_array()
                    .map(|a| a.iter().map(list).collect())
                    .unwrap_or_default()
            };
            let exempt = |k: &str| p[k].as_bool().unwrap_or(false);
            let resource = (!p["resource"].is_null()).then(|| one(&p["resource"]));
            let trust = resource.as_ref().is_some_and(|r| {
                let st = &r.doc["Statement"];
                let all: Vec<&Value> = st
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_else(|| vec![st]);
                all.iter()
                    .all(|s| s.get("Resource").is_none() && s.get("NotResource").is_none())
            });
            let pol = reference::Policies {
                identity: list(&p["identity"]),
                boundary: (!p["boundary"].is_null()).then(|| one(&p["boundary"])),
                session: list(&p["session"]),
                resource,
                trust,
                scps: if exempt("scps_exempt") {
                    Vec::new()
                } else {
                    levels(&p["scps"])
                },
                rcps: if exempt("rcps_exempt") {
                    Vec::new()
                } else {
                    levels(&p["rcps"])
                },
            };
            let r = &case["request"];
            let pr = &r["principal"];
            let kind = match pr["type"].as_str().unwrap() {
                "user" => Kind::User,
                "assumed-role" => Kind::AssumedRole,
                "federated-user" => Kind::FederatedUser,
                "root" => Kind::Root,
                "service" => Kind::Service,
                "anonymous" => Kind::Anonymous,
                other => panic!("unknown principal type {other}"),
            };
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let context = r["context"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| match v {
                            Value::Array(a) => (k.clone(), a.iter().map(text).collect(), true),
                            v => (k.clone(), vec![text(v)], false),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ask = reference::Ask::new(
                reference::Caller {
                    kind,
                    arn: pr["arn"].as_str().unwrap_or_default().to_string(),
                    account: pr["account"].as_str().unwrap_or_default().to_string(),
                    role_arn: pr["role_arn"].as_str().map(str::to_string),
                },
                r["action"].as_str().unwrap().to_string(),
                r["resource"].as_str().unwrap_or("*").to_string(),
                r["resource_account"].as_str().map(str::to_string),
                context,
            );
            let name = case["name"].as_str().unwrap();
            match reference::evaluate(&pol, &ask) {
                reference::Verdict::Undocumented(why) => {
                    skipped += 1;
                    eprintln!("  (reference skips {name}: {why})");
                }
                reference::Verdict::Decided(outcome, matched) => {
                    let want = match case["expect"]["decision"].as_str().unwrap() {
                        "Allowed" => reference::Outcome::Allowed,
                        "ExplicitDeny" => reference::Outcome::ExplicitDeny,
                        _ => reference::Outcome::ImplicitDeny,
                    };
                    let want_matched: BTreeSet<reference::Hit> = case["expect"]["matched"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| {
                            (
                                m["policy"].as_str().unwrap().to_string(),
                                m["sid"].as_str().map(str::to_string),
                                m["index"].as_u64().unwrap() as usize,
                            )
                        })
                        .collect();
                    if outcome != want || matched != want_matched {
                        failures.push(format!(
                            "{name}: reference says {outcome:?} {matched:?}, corpus expects {want:?} {want_matched:?}"
                        ));
                    } else {
                        agreed += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "reference on the corpus: {agreed} agree, {skipped} undocumented for the reference, {} differ",
        failures.len()
    );
    for f in &failures {
        eprintln!("  {f}");
    }
    assert!(failures.is_empty());
}
