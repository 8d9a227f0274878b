//! Runs every case in `tests/corpus/*.json` through `authorize` and through
//! `CompiledPolicySet` (which must agree), printing each failing case by name.
//!
//! Format: `{"description", "cases": [{"name", "rule", "policies", "request", "expect"}]}`.
//! - `policies`: optional `identity` (list of `{"id", "document"}`), `boundary`, `session`
//!   (list), `resource` (a trust policy when its statements have no Resource), `scps` and `rcps`
//!   (lists of levels, root first, each a list of policies); extras `scps_exempt` and
//!   `rcps_exempt` (booleans).
//! - `request`: `principal` `{"arn", "type", "account"}` with type `user`, `role`,
//!   `assumed-role` (+ `role_arn`), `root`, `federated-user` (+ optional `user_arn`),
//!   `web-identity`, `service`, `anonymous`, and optional `canonical_user`; `action`, `resource`,
//!   `resource_account`, `context` (key to string or list of strings).
//! - `expect`: `decision` (`Allowed`, `ExplicitDeny`, `ImplicitDeny`), `matched` (compared as a
//!   set of `{"policy", "sid", "index"}`), optional `missing_context` (set, case-insensitive).

use std::collections::BTreeSet;
use std::path::Path;

use gatehouse_policy::{
    CompiledPolicySet, Context, Decision, NamedPolicy, Outcome, Policy, PolicyKind, PolicySet,
    Principal, PrincipalKind, Request, authorize,
};
use serde_json::Value;

fn named(v: &Value, kind: PolicyKind) -> Result<NamedPolicy, String> {
    let id = v["id"].as_str().ok_or("policy without \"id\"")?;
    let doc = serde_json::to_string(&v["document"]).map_err(|e| e.to_string())?;
    let policy = Policy::parse(&doc, kind).map_err(|e| format!("policy {id}: {e}"))?;
    Ok(NamedPolicy::new(id, policy))
}

fn list(v: &Value, kind: PolicyKind) -> Result<Vec<NamedPolicy>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a.iter().map(|p| named(p, kind)).collect(),
        other => Err(format!("expected a list of policies, got {other}")),
    }
}

fn levels(v: &Value, kind: PolicyKind) -> Result<Vec<Vec<NamedPolicy>>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a.iter().map(|l| list(l, kind)).collect(),
        other => Err(format!("expected a list of levels, got {other}")),
    }
}

fn policy_set(p: &Value) -> Result<PolicySet, String> {
    let one = |k: &str, kind| match &p[k] {
        Value::Null => Ok(None),
        v => named(v, kind).map(Some),
    };
    Ok(PolicySet {
        identity: list(&p["identity"], PolicyKind::Identity)?,
        boundary: one("boundary", PolicyKind::PermissionsBoundary)?,
        session: list(&p["session"], PolicyKind::Session)?,
        resource: match &p["resource"] {
            Value::Null => None,
            v => {
                // A trust policy is the resource policy of a role; it is parsed as one when
                // its statements have no Resource element.
                let trust = v["document"]["Statement"]
                    .as_array()
                    .map(|a| a.iter().collect::<Vec<_>>())
                    .unwrap_or_else(|| vec![&v["document"]["Statement"]])
                    .iter()
                    .all(|s| s.get("Resource").is_none() && s.get("NotResource").is_none());
                let kind = if trust {
                    PolicyKind::Trust
                } else {
                    PolicyKind::Resource
                };
                Some(named(v, kind)?)
            }
        },
        scps: levels(&p["scps"], PolicyKind::ServiceControl)?,
        rcps: levels(&p["rcps"], PolicyKind::ResourceControl)?,
        scps_exempt: p["scps_exempt"].as_bool().unwrap_or(false),
        rcps_exempt: p["rcps_exempt"].as_bool().unwrap_or(false),
    })
}

fn principal(v: &Value) -> Result<Principal, String> {
    let arn = v["arn"].as_str().unwrap_or_default();
    let account = v["account"].as_str().unwrap_or_default();
    let kind = match v["type"].as_str().unwrap_or("user") {
        "user" => PrincipalKind::User,
        "role" => PrincipalKind::Role,
        "assumed-role" => PrincipalKind::AssumedRole {
            role_arn: v["role_arn"]
                .as_str()
                .ok_or("assumed-role principal without role_arn")?
                .to_string(),
        },
        "root" => PrincipalKind::Root,
        "federated-user" => PrincipalKind::FederatedUser {
            user_arn: v["user_arn"].as_str().map(str::to_string),
        },
        "web-identity" | "federated" => PrincipalKind::WebIdentity,
        "service" => PrincipalKind::Service,
        "anonymous" => PrincipalKind::Anonymous,
        other => return Err(format!("unknown principal type {other:?}")),
    };
    let mut p = Principal::new(kind, arn, account);
    if let Some(c) = v["canonical_user"].as_str() {
        p = p.with_canonical_user(c);
    }
    Ok(p)
}

fn context(v: &Value) -> Result<Context, String> {
    let mut c = Context::new();
    let Value::Object(m) = v else {
        return Ok(c);
    };
    let text = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("bad context value {other}")),
    };
    for (k, v) in m {
        match v {
            Value::Array(a) => c.set(k, a.iter().map(text).collect::<Result<Vec<_>, _>>()?),
            v => c.insert(k, text(v)?),
        }
    }
    Ok(c)
}

fn check(decision: &Decision, expect: &Value) -> Result<(), String> {
    let want = match expect["decision"].as_str() {
        Some("Allowed") => Outcome::Allowed,
        Some("ExplicitDeny") => Outcome::ExplicitDeny,
        Some("ImplicitDeny") => Outcome::ImplicitDeny,
        other => return Err(format!("bad expected decision {other:?}")),
    };
    if decision.outcome != want {
        return Err(format!(
            "decision: expected {want:?}, got {:?} (matched {:?})",
            decision.outcome, decision.matched
        ));
    }
    if let Some(m) = expect["matched"].as_array() {
        let want: BTreeSet<(String, Option<String>, u64)> = m
            .iter()
            .map(|s| {
                (
                    s["policy"].as_str().unwrap_or_default().to_string(),
                    s["sid"].as_str().map(str::to_string),
                    s["index"].as_u64().unwrap_or(u64::MAX),
                )
            })
            .collect();
        let got: BTreeSet<(String, Option<String>, u64)> = decision
            .matched
            .iter()
            .map(|s| {
                (
                    s.policy.to_string(),
                    s.sid.as_deref().map(str::to_string),
                    s.index as u64,
                )
            })
            .collect();
        if want != got {
            return Err(format!("matched: expected {want:?}, got {got:?}"));
        }
    }
    if let Some(m) = expect["missing_context"].as_array() {
        let want: BTreeSet<String> = m
            .iter()
            .filter_map(|k| k.as_str().map(str::to_ascii_lowercase))
            .collect();
        let got: BTreeSet<String> = decision
            .missing_context
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .collect();
        if want != got {
            return Err(format!("missing_context: expected {want:?}, got {got:?}"));
        }
    }
    Ok(())
}

fn run_case(case: &Value) -> Result<(), String> {
    let set = policy_set(&case["policies"])?;
    let r = &case["request"];
    let principal = principal(&r["principal"])?;
    let context = context(&r["context"])?;
    let request = Request {
        principal: &principal,
        action: r["action"].as_str().ok_or("request without action")?,
        resource: r["resource"].as_str().unwrap_or("*"),
        resource_account: r["resource_account"].as_str(),
        context: &context,
    };
    let decision = authorize(&set, &request);
    check(&decision, &case["expect"])?;
    // The compiled set (what a server keeps per principal) must decide the same.
    let compiled = CompiledPolicySet::new(&set).authorize(&request);
    if compiled != decision {
        return Err(format!(
            "CompiledPolicySet decided differently: {compiled:?}, authorize: {decision:?}"
        ));
    }
    Ok(())
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut names = BTreeSet::new();
    let (mut run, mut failures) = (0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let fname = file.file_name().unwrap().to_string_lossy().to_string();
        for case in doc["cases"].as_array().unwrap_or(&Vec::new()) {
            let name = case["name"].as_str().unwrap_or("<unnamed>").to_string();
            if !names.insert(name.clone()) {
                failures.push(format!("{fname}: {name}: duplicate case name"));
            }
            run += 1;
            if let Err(e) = run_case(case) {
                failures.push(format!(
                    "{fname}: {name}: {e}\n    rule: {}",
                    case["rule"].as_str().unwrap_or("")
                ));
            }
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    eprintln!(
        "corpus: {run} cases in {} files, {} failed",
        files.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {run} corpus cases failed",
        failures.len()
    );
}
