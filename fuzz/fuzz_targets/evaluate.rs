//! Evaluation never panics and stays fast: structured policies (so that most inputs parse)
//! with arbitrary action, resource, principal and condition strings, evaluated against an
//! arbitrary request.

#![no_main]

use gatehouse_policy::{
    Context, NamedPolicy, Policy, PolicyKind, PolicySet, Principal, PrincipalKind, Request,
    authorize,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const OPERATORS: [&str; 28] = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
    "ForAllValues:StringLike",
    "ForAnyValue:StringNotEquals",
    "StringLikeIfExists",
    "ForAllValues:ArnLike",
    "NumericLessThanIfExists",
];

#[derive(Debug, Arbitrary)]
struct Cond {
    op: u8,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Arbitrary)]
struct Stmt {
    deny: bool,
    not_action: bool,
    actions: Vec<String>,
    not_resource: bool,
    resources: Vec<String>,
    principal: Option<Vec<String>>,
    conditions: Vec<Cond>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    old_version: bool,
    identity: Vec<Stmt>,
    resource: Vec<Stmt>,
    boundary: Vec<Stmt>,
    scp: Vec<Stmt>,
    principal: u8,
    arn: String,
    role_arn: String,
    action: String,
    resource_arn: String,
    resource_account: Option<String>,
    context: Vec<(String, Vec<String>)>,
}

fn doc(stmts: &[Stmt], with_principal: bool, old: bool) -> String {
    let statements: Vec<Value> = stmts
        .iter()
        .map(|s| {
            let mut m = Map::new();
            m.insert(
                "Effect".into(),
                json!(if s.deny { "Deny" } else { "Allow" }),
            );
            m.insert(
                if s.not_action { "NotAction" } else { "Action" }.into(),
                json!(s.actions),
            );
            m.insert(
                if s.not_resource {
                    "NotResource"
                } else {
                    "Resource"
                }
                .into(),
                json!(s.resources),
            );
            if with_principal {
                let p = match &s.principal {
                    None => json!("*"),
                    Some(v) => json!({ "AWS": v }),
                };
                m.insert("Principal".into(), p);
            }
            if !s.conditions.is_empty() {
                let mut block = Map::new();
                for c in &s.conditions {
                    let op = OPERATORS[usize::from(c.op) % OPERATORS.len()];
                    let entry = block.entry(op).or_insert_with(|| json!({}));
                    entry[c.key.as_str()] = json!(c.values);
                }
                m.insert("Condition".into(), Value::Object(block));
            }
            Value::Object(m)
        })
        .collect();
    let version = if old { "2008-10-17" } else { "2012-10-17" };
    json!({"Version": version, "Statement": statements}).to_string()
}

fn named(id: &str, stmts: &[Stmt], kind: PolicyKind, old: bool) -> Option<NamedPolicy> {
    if stmts.is_empty() {
        return None;
    }
    let text = doc(stmts, kind == PolicyKind::Resource, old);
    Policy::parse(&text, kind)
        .ok()
        .map(|p| NamedPolicy::new(id, p))
}

fuzz_target!(|input: Input| {
    let set = PolicySet {
        identity: named(
            "id",
            &input.identity,
            PolicyKind::Identity,
            input.old_version,
        )
        .into_iter()
        .collect(),
        boundary: named("b", &input.boundary, PolicyKind::PermissionsBoundary, false),
        session: Vec::new(),
        resource: named(
            "r",
            &input.resource,
            PolicyKind::Resource,
            input.old_version,
        ),
        scps: named("scp", &input.scp, PolicyKind::ServiceControl, false)
            .map(|p| vec![vec![p]])
            .unwrap_or_default(),
        ..PolicySet::default()
    };
    let kind = match input.principal % 6 {
        0 => PrincipalKind::User,
        1 => PrincipalKind::AssumedRole {
            role_arn: input.role_arn.clone(),
        },
        2 => PrincipalKind::Root,
        3 => PrincipalKind::FederatedUser { user_arn: None },
        4 => PrincipalKind::Anonymous,
        _ => PrincipalKind::Service,
    };
    let account = input.arn.split(':').nth(4).unwrap_or_default().to_string();
    let principal = Principal::new(kind, input.arn.clone(), account);
    let mut ctx = Context::new();
    for (k, v) in &input.context {
        ctx.set(k, v.iter().cloned());
    }
    let req = Request {
        principal: &principal,
        action: &input.action,
        resource: &input.resource_arn,
        resource_account: input.resource_account.as_deref(),
        context: &ctx,
    };
    let _ = authorize(&set, &req);
});
