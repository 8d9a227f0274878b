//! Gatehouse's IAM policy engine against Cedar, on the same policies and the same requests.
//!
//! [`translate`] turns the IAM identity policies of the benchmark workload
//! (`crates/policy/benches/workload.rs`) into an equivalent Cedar policy set, one Cedar policy
//! per IAM statement; [`cedar_request`], [`cedar_context`] and [`cedar_entities`] build the
//! Cedar side of a request; [`Verdict`] puts both answers in one form so they can be compared
//! before anything is timed.
//!
//! # The translation
//!
//! The policies are the identity policies of one principal, so every Cedar policy is scoped to
//! it. For a statement `S` (index `i`) of the policy named `NAME`:
//!
//! | IAM | Cedar |
//! | --- | --- |
//! | the policy is attached to the user `ARN` | `principal == User::"ARN"` |
//! | `"Effect": "Allow"` / `"Deny"` | `permit` / `forbid` (forbid overrides permit, no permit is deny: IAM's identity-policy logic) |
//! | statement id | Cedar policy id `NAME#i` (the same key Gatehouse reports a matched statement by) |
//! | `"Action": "*"` | unconstrained `action` |
//! | `"Action": ["s3:GetObject", …]` (no wildcard) | `action in [Action::"s3:getobject", …]` |
//! | `"Action": "s3:Get*"` (wildcard) | `context.action like "s3:get*"` |
//! | `"Resource": "*"` | unconstrained `resource` |
//! | `"Resource": "arn:…"` (no wildcard) | `resource.arn == "arn:…"` |
//! | `"Resource": "arn:…/*"` | `resource.arn like "arn:…/*"` |
//! | `${aws:username}` in a resource | the user's name, substituted (sound because the policy is scoped to that one user; Cedar has no string interpolation) |
//! | `StringEquals` / `StringLike` | `==` / `like` on the value |
//! | `Bool` | `== true` / `== false` |
//! | `IpAddress` | `.isInRange(ip("CIDR"))` (`ipaddr` extension) |
//! | `DateLessThan` | `< datetime("…")` (`datetime` extension) |
//! | several values for one key | `\|\|` |
//! | several keys, several operators | `&&` |
//! | a key absent from the request | `context has "key" && …`: false, as in IAM |
//! | AWS's rule that a KMS key policy must allow (there is none here) | a permit that can match a `kms:` action gets `!(context.action like "kms:*")` |
//!
//! IAM actions and condition keys are case-insensitive and Cedar's are not, so actions and
//! key names are lowercased on both sides (policy and request); ARNs and condition values stay
//! case-sensitive in both.
//!
//! A request is `principal = User::"ARN"`, `action = Action::"service:name"` (lowercase),
//! `resource = Resource::"ARN"` with the attribute `arn`, and a context holding `action` (the
//! action's name, lowercase) and each condition key (lowercase name) with a value of the type
//! its IAM operator compares: `ip(…)` for `aws:SourceIp`, `datetime(…)` for `aws:CurrentTime`,
//! a boolean for `aws:SecureTransport`, a string otherwise.
//!
//! What the workload does not use is refused with an error rather than translated
//! approximately: `NotAction`, `NotResource`, `Principal`, `?` wildcards (Cedar's `like` has
//! only `*`), other policy variables, other condition operators, `…IfExists`, set operators and
//! multivalued keys.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use cedar_policy::{
    Context as CedarContext, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, Policy as CedarPolicy, PolicyId, PolicySet as CedarPolicySet,
    Request as CedarRequest, Response, RestrictedExpression,
};
use gatehouse_policy::{Decision, Outcome};
use serde_json::Value;

/// Something the translation, or building a Cedar request, could not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error(msg.into()))
}

/// Services whose resources must grant access in their own resource policy (a KMS key policy):
/// an identity-based Allow alone grants nothing.
const RESOURCE_POLICY_REQUIRED: &[&str] = &["kms"];

/// The type a condition key's value has in the Cedar context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Str,
    Bool,
    Ip,
    DateTime,
}

/// The Cedar type of an IAM condition key (lowercase name): the type its operators compare.
fn key_type(key: &str) -> KeyType {
    match key {
        "aws:sourceip" => KeyType::Ip,
        "aws:currenttime" => KeyType::DateTime,
        "aws:securetransport" => KeyType::Bool,
        _ => KeyType::Str,
    }
}

/// A Cedar policy set equivalent to a principal's IAM identity policies.
pub struct Translation {
    /// One Cedar policy per IAM statement, with id `NAME#INDEX`.
    pub policies: CedarPolicySet,
    /// The Cedar source, one policy per statement.
    pub source: String,
    /// The condition keys the policies read (lowercase), which a request's context must carry.
    pub condition_keys: BTreeSet<String>,
}

/// Translates IAM identity policies `(name, JSON document)` attached to the IAM user
/// `principal_arn` (see the module documentation for the rules).
pub fn translate(policies: &[(&str, &str)], principal_arn: &str) -> Result<Translation, Error> {
    let username = principal_arn.rsplit('/').next().unwrap_or_default();
    let mut out = Translation {
        policies: CedarPolicySet::new(),
        source: String::new(),
        condition_keys: BTreeSet::new(),
    };
    for (name, doc) in policies {
        let doc: Value =
            serde_json::from_str(doc).map_err(|e| Error(format!("policy {name}: {e}")))?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => return err(format!("policy {name}: no Statement")),
        };
        for (index, statement) in statements.iter().enumerate() {
            let id = format!("{name}#{index}");
            let text = statement_to_cedar(statement, principal_arn, username, &mut out)
                .map_err(|e| Error(format!("{id}: {e}")))?;
            let policy = CedarPolicy::parse(Some(PolicyId::new(&id)), &text)
                .map_err(|e| Error(format!("{id}: cedar rejects {text:?}: {e}")))?;
            out.policies
                .add(policy)
                .map_err(|e| Error(format!("{id}: {e}")))?;
            out.source.push_str(&format!("// {id}\n{text}\n"));
        }
    }
    Ok(out)
}

/// One IAM statement as the source of one Cedar policy.
fn statement_to_cedar(
    st: &Value,
    principal_arn: &str,
    username: &str,
    out: &mut Translation,
) -> Result<String, Error> {
    let Value::Object(fields) = st else {
        return err("a statement is not an object");
    };
    for key in fields.keys() {
        if !matches!(
            key.as_str(),
            "Sid" | "Effect" | "Action" | "Resource" | "Condition"
        ) {
            return err(format!("\"{key}\" is not translated"));
        }
    }
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => "permit",
        Some("Deny") => "forbid",
        _ => return err("bad Effect"),
    };
    let mut when: Vec<String> = Vec::new();

    // Action: exact names in the scope, wildcards as `like` on context.action.
    let actions = strings(fields.get("Action"), "Action")?;
    let mut action_scope = "action".to_string();
    if !actions.iter().any(|a| a == "*") {
        let actions: Vec<String> = actions.iter().map(|a| a.to_ascii_lowercase()).collect();
        if actions.iter().any(|a| a.contains(['*', '?'])) {
            let alts = actions
                .iter()
                .map(|a| {
                    Ok(if a.contains(['*', '?']) {
                        format!("context.action like {}", like_pattern(a)?)
                    } else {
                        format!("action == {}", uid("Action", a))
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            when.push(any(alts));
        } else {
            let uids: Vec<String> = actions.iter().map(|a| uid("Action", a)).collect();
            action_scope = format!("action in [{}]", uids.join(", "));
        }
    }

    // AWS grants a KMS action only if the key policy allows it; the workload has no key
    // policies, so an Allow for a kms: action grants nothing (Gatehouse applies this rule).
    if effect == "permit" {
        for service in RESOURCE_POLICY_REQUIRED {
            let prefix = format!("{service}:");
            let may_match = |a: &String| {
                let a = a.to_ascii_lowercase();
                let lit = a.split(['*', '?']).next().unwrap_or_default();
                lit.starts_with(&prefix) || (a.len() > lit.len() && prefix.starts_with(lit))
            };
            if actions.iter().any(may_match) {
                when.push(format!("!(context.action like \"{prefix}*\")"));
            }
        }
    }

    // Resource: `==` or `like` on resource.arn.
    let resources = strings(fields.get("Resource"), "Resource")?;
    if !resources.iter().any(|r| r == "*") {
        let alts = resources
            .iter()
            .map(|r| {
                let r = substitute(r, username)?;
                Ok(if r.contains(['*', '?']) {
                    format!("resource.arn like {}", like_pattern(&r)?)
                } else {
                    format!("resource.arn == {}", string(&r))
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        when.push(any(alts));
    }

    // Conditions: every operator and key must hold; any value of a key may match.
    if let Some(cond) = fields.get("Condition") {
        let Value::Object(ops) = cond else {
            return err("Condition is not an object");
        };
        for (op, keys) in ops {
            let Value::Object(keys) = keys else {
                return err(format!("{op} is not an object"));
            };
            for (key, values) in keys {
                let key = key.to_ascii_lowercase();
                let ty = key_type(&key);
                let want = match op.as_str() {
                    "StringEquals" | "StringLike" => KeyType::Str,
                    "Bool" => KeyType::Bool,
                    "IpAddress" => KeyType::Ip,
                    "DateLessThan" => KeyType::DateTime,
                    _ => return err(format!("condition operator {op} is not translated")),
                };
                if ty != want {
                    return err(format!("{op} on {key}: the key is not of that type"));
                }
                let var = format!("context[{}]", string(&key));
                let alts = condition_values(values, op)?
                    .iter()
                    .map(|v| {
                        if v.contains("${") {
                            return err("policy variables in conditions are not translated");
                        }
                        Ok(match op.as_str() {
                            "StringEquals" => format!("{var} == {}", string(v)),
                            "StringLike" => format!("{var} like {}", like_pattern(v)?),
                            "Bool" => match v.to_ascii_lowercase().as_str() {
                                b @ ("true" | "false") => format!("{var} == {b}"),
                                _ => return err(format!("Bool value {v:?}")),
                            },
                            "IpAddress" => format!("{var}.isInRange(ip({}))", string(v)),
                            _ => format!("{var} < datetime({})", string(v)),
                        })
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                when.push(format!("(context has {} && {})", string(&key), any(alts)));
                out.condition_keys.insert(key);
            }
        }
    }

    let principal = format!("principal == {}", uid("User", principal_arn));
    let mut text = format!("{effect} ({principal}, {action_scope}, resource)");
    if !when.is_empty() {
        text.push_str(&format!(" when {{ {} }}", when.join(" && ")));
    }
    text.push(';');
    Ok(text)
}

/// A string-or-array element as its strings.
fn strings(v: Option<&Value>, what: &str) -> Result<Vec<String>, Error> {
    match v {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => err(format!("{what} holds a non-string")),
            })
            .collect(),
        _ => err(format!(
            "no {what} (NotAction/NotResource are not translated)"
        )),
    }
}

/// A condition's values (strings or booleans) as strings.
fn condition_values(v: &Value, op: &str) -> Result<Vec<String>, Error> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => err(format!("{op}: unsupported value {v}")),
    };
    match v {
        Value::Array(list) => list.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

/// `${aws:username}` replaced by the user's name; any other variable is refused.
fn substitute(pattern: &str, username: &str) -> Result<String, Error> {
    let replaced = pattern.replace("${aws:username}", username);
    if replaced.contains("${") {
        return err(format!("policy variable in {pattern:?} is not translated"));
    }
    Ok(replaced)
}

/// `a || b || …`, parenthesised.
fn any(alts: Vec<String>) -> String {
    if alts.len() == 1 {
        alts.concat()
    } else {
        format!("({})", alts.join(" || "))
    }
}

/// Escapes for a Cedar string literal or `like` pattern (where `*` stays the wildcard).
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
}

/// A Cedar string literal (for `==`; a `*` in it is a plain character).
fn string(s: &str) -> String {
    let mut out = String::from("\"");
    escape(s, &mut out);
    out.push('"');
    out
}

/// An IAM wildcard pattern (`*` any run) as a Cedar `like` pattern; `?` has no equivalent.
fn like_pattern(p: &str) -> Result<String, Error> {
    if p.contains('?') {
        return err(format!("the `?` wildcard in {p:?} has no Cedar equivalent"));
    }
    let mut out = String::from("\"");
    escape(p, &mut out);
    out.push('"');
    Ok(out)
}

/// `Type::"id"`, in Cedar source.
fn uid(ty: &str, id: &str) -> String {
    format!("{ty}::{}", string(id))
}

fn entity_uid(ty: &str, id: &str) -> Result<EntityUid, Error> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| Error(e.to_string()))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

/// The entities a set of requests needs: the user, and each resource with its `arn`.
pub fn cedar_entities<'a>(
    principal_arn: &str,
    resources: impl IntoIterator<Item = &'a str>,
) -> Result<Entities, Error> {
    let mut entities = vec![Entity::new_no_attrs(
        entity_uid("User", principal_arn)?,
        HashSet::new(),
    )];
    let mut seen = HashSet::new();
    for arn in resources {
        if seen.insert(arn) {
            let attrs = HashMap::from([(
                "arn".to_string(),
                RestrictedExpression::new_string(arn.to_string()),
            )]);
            entities.push(
                Entity::new(entity_uid("Resource", arn)?, attrs, HashSet::new())
                    .map_err(|e| Error(e.to_string()))?,
            );
        }
    }
    Entities::from_entities(entities, None).map_err(|e| Error(e.to_string()))
}

/// The Cedar context of a request: the action and each condition key the policies read, with
/// the values `get` gives for it (none: absent; one value; several are refused).
pub fn cedar_context<'a>(
    action: &str,
    keys: &BTreeSet<String>,
    get: impl Fn(&str) -> Option<&'a [String]>,
) -> Result<CedarContext, Error> {
    let mut pairs = vec![(
        "action".to_string(),
        RestrictedExpression::new_string(action.to_ascii_lowercase()),
    )];
    for key in keys {
        let value = match get(key) {
            None | Some([]) => continue,
            Some([v]) => v,
            Some(_) => return err(format!("{key}: multivalued keys are not translated")),
        };
        let value = match key_type(key) {
            KeyType::Str => RestrictedExpression::new_string(value.clone()),
            KeyType::Bool => match value.to_ascii_lowercase().as_str() {
                "true" => RestrictedExpression::new_bool(true),
                "false" => RestrictedExpression::new_bool(false),
                _ => return err(format!("{key}: {value:?} is not a boolean")),
            },
            KeyType::Ip => RestrictedExpression::new_ip(value),
            KeyType::DateTime => RestrictedExpression::new_datetime(value),
        };
        pairs.push((key.clone(), value));
    }
    CedarContext::from_pairs(pairs).map_err(|e| Error(e.to_string()))
}

/// A Cedar request for `action` on `resource` by the IAM user `principal_arn`.
pub fn cedar_request(
    principal_arn: &str,
    action: &str,
    resource: &str,
    context: CedarContext,
) -> Result<CedarRequest, Error> {
    CedarRequest::new(
        entity_uid("User", principal_arn)?,
        entity_uid("Action", &action.to_ascii_lowercase())?,
        entity_uid("Resource", resource)?,
        context,
        None,
    )
    .map_err(|e| Error(e.to_string()))
}

/// A decision with the statements that made it, keyed `POLICY#INDEX`, comparable across
/// engines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, by these Allow statements.
    Allowed(BTreeSet<String>),
    /// Denied by these Deny statements.
    ExplicitDeny(BTreeSet<String>),
    /// Nothing allowed it.
    ImplicitDeny,
}

impl Verdict {
    /// Gatehouse's decision.
    pub fn of_gatehouse(d: &Decision) -> Verdict {
        let keys = d
            .matched
            .iter()
            .map(|m| format!("{}#{}", m.policy, m.index))
            .collect();
        match d.outcome {
            Outcome::Allowed => Verdict::Allowed(keys),
            Outcome::ExplicitDeny => Verdict::ExplicitDeny(keys),
            Outcome::ImplicitDeny => Verdict::ImplicitDeny,
        }
    }

    /// Cedar's response; an evaluation error is an error (it would skip a policy silently).
    pub fn of_cedar(r: &Response) -> Result<Verdict, Error> {
        let errors: Vec<String> = r.diagnostics().errors().map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            return err(format!("cedar evaluation errors: {errors:?}"));
        }
        let keys: BTreeSet<String> = r.diagnostics().reason().map(|id| id.to_string()).collect();
        Ok(match (r.decision(), keys.is_empty()) {
            (CedarDecision::Allow, _) => Verdict::Allowed(keys),
            (CedarDecision::Deny, false) => Verdict::ExplicitDeny(keys),
            (CedarDecision::Deny, true) => Verdict::ImplicitDeny,
        })
    }
}

/// Random requests and contexts for checking that both engines agree, beyond the benchmark's
/// own 64 requests: more actions and resources (the user's own S3 prefix, bucket ARNs, other
/// regions and accounts) and contexts in which each key may be absent or not match.
pub mod sample {
    /// A deterministic pseudo-random generator (xorshift64*, as in the workload).
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed.max(1))
        }
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
        pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
            items.get(self.below(items.len().max(1)))
        }
    }

    /// The workload's services and actions (copied: private in workload.rs), plus actions no
    /// statement names exactly.
    const SERVICES: &[(&str, &[&str])] = &[
        (
            "s3",
            &[
                "GetObject",
                "PutObject",
                "ListBucket",
                "DeleteObject",
                "GetObjectTagging",
                "GetBucketPolicy",
            ],
        ),
        (
            "ec2",
            &[
                "DescribeInstances",
                "RunInstances",
                "TerminateInstances",
                "DescribeVpcs",
            ],
        ),
        ("iam", &["GetUser", "ListUsers", "CreateUser", "PassRole"]),
        ("dynamodb", &["GetItem", "PutItem", "Query", "Scan"]),
        ("sqs", &["SendMessage", "ReceiveMessage", "DeleteMessage"]),
        ("sns", &["Publish", "Subscribe"]),
        (
            "lambda",
            &["InvokeFunction", "GetFunction", "UpdateFunctionCode"],
        ),
        ("kms", &["Decrypt", "Encrypt", "GenerateDataKey"]),
        ("logs", &["PutLogEvents", "CreateLogStream"]),
        ("sts", &["AssumeRole", "GetCallerIdentity"]),
    ];

    const ACCOUNT: &str = "111122223333";

    /// One request: action, resource and context `(key, value)` pairs (absent keys left out).
    pub struct Sample {
        pub action: String,
        pub resource: String,
        pub context: Vec<(&'static str, &'static str)>,
    }

    fn resource(rng: &mut Rng, service: &str, username: &str) -> String {
        let n = rng.below(50);
        match (service, rng.below(4)) {
            ("s3", 0) => format!("arn:aws:s3:::bucket-{n}"),
            ("s3", 1) => format!("arn:aws:s3:::bucket-{n}/{username}/notes.txt"),
            ("s3", 2) => format!("arn:aws:s3:::bucket-{n}/bob/notes.txt"),
            ("s3", _) => format!("arn:aws:s3:::bucket-{n}/data/file-{n}.csv"),
            ("iam", _) => format!("arn:aws:iam::{ACCOUNT}:user/team-{n}/user-{n}"),
            ("dynamodb", 0) => format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/table-{n}"),
            ("dynamodb", _) => format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/table-{n}"),
            (_, 0) => format!("arn:aws:{service}:us-east-1:444455556666:thing/thing-{n}"),
            (_, 1) => format!("arn:aws:{service}:eu-west-1:{ACCOUNT}:thing/thing-{n}"),
            (_, _) => format!("arn:aws:{service}:us-east-1:{ACCOUNT}:thing/thing-{n}"),
        }
    }

    impl Sample {
        /// The context as Gatehouse takes it.
        pub fn gatehouse_context(&self) -> gatehouse_policy::Context {
            self.context
                .iter()
                .fold(gatehouse_policy::Context::new(), |c, (k, v)| c.with(k, *v))
        }
    }

    /// `n` reproducible requests by the user `username`.
    pub fn requests(n: usize, seed: u64, username: &str) -> Vec<Sample> {
        let mut rng = Rng::new(seed);
        let keys: &[(&str, &[&str])] = &[
            (
                "aws:RequestedRegion",
                &["us-east-1", "eu-west-1", "ap-south-1"],
            ),
            (
                "aws:SourceIp",
                &["203.0.113.9", "10.20.30.40", "198.51.100.7"],
            ),
            ("aws:SecureTransport", &["true", "false"]),
            ("aws:PrincipalTag/team", &["team-7", "ops"]),
            (
                "aws:CurrentTime",
                &["2026-11-22T10:00:00Z", "2031-02-03T04:05:06Z"],
            ),
        ];
        (0..n)
            .map(|_| {
                let (service, actions) = rng.pick(SERVICES).copied().unwrap_or(("s3", &[]));
                let action = rng.pick(actions).copied().unwrap_or("GetObject");
                let resource = resource(&mut rng, service, username);
                let mut context = Vec::new();
                for (k, vs) in keys {
                    let v = rng.pick(vs);
                    match (rng.below(8), v) {
                        (0, _) | (_, None) => {}
                        (_, Some(v)) => context.push((*k, *v)),
                    }
                }
                Sample {
                    action: format!("{service}:{action}"),
                    resource,
                    context,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(statement: &str, expect: &str) {
        let doc = format!(r#"{{"Version": "2012-10-17", "Statement": [{statement}]}}"#);
        let t = translate(&[("p", &doc)], "arn:aws:iam::1:user/team/alice").unwrap();
        assert_eq!(t.source, format!("// p#0\n{expect}\n"));
    }

    #[test]
    fn statements() {
        check(
            r#"{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/${aws:username}/*"]}"#,
            r#"permit (principal == User::"arn:aws:iam::1:user/team/alice", action in [Action::"s3:getobject", Action::"s3:putobject"], resource) when { (resource.arn == "arn:aws:s3:::b" || resource.arn like "arn:aws:s3:::b/alice/*") };"#,
        );
        check(
            r#"{"Effect": "Deny", "Action": "s3:Get*", "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "203.0.113.0/24"]},
                              "Bool": {"aws:SecureTransport": "true"}}}"#,
            r#"forbid (principal == User::"arn:aws:iam::1:user/team/alice", action, resource) when { context.action like "s3:get*" && (context has "aws:sourceip" && (context["aws:sourceip"].isInRange(ip("10.0.0.0/8")) || context["aws:sourceip"].isInRange(ip("203.0.113.0/24")))) && (context has "aws:securetransport" && context["aws:securetransport"] == true) };"#,
        );
        check(
            r#"{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}"#,
            r#"permit (principal == User::"arn:aws:iam::1:user/team/alice", action in [Action::"kms:decrypt"], resource) when { !(context.action like "kms:*") };"#,
        );
        check(
            r#"{"Effect": "Allow", "Action": "*", "Resource": "*",
                "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}"#,
            r#"permit (principal == User::"arn:aws:iam::1:user/team/alice", action, resource) when { !(context.action like "kms:*") && (context has "aws:currenttime" && context["aws:currenttime"] < datetime("2030-01-01T00:00:00Z")) };"#,
        );
    }

    #[test]
    fn refuses_what_it_cannot_express() {
        for st in [
            r#"{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}"#,
            r#"{"Effect": "Allow", "Action": "s3:Get?bject", "Resource": "*"}"#,
            r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:userid}"}"#,
            r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": "x"}}}"#,
            r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceIp": "x"}}}"#,
        ] {
            let doc = format!(r#"{{"Statement": [{st}]}}"#);
            assert!(
                translate(&[("p", &doc)], "arn:aws:iam::1:user/alice").is_err(),
                "{st}"
            );
        }
    }
}

/// How many requests ended in each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    pub allowed: usize,
    pub explicit_deny: usize,
    pub implicit_deny: usize,
    /// Statements reported as deciding, over all requests.
    pub matched: usize,
}

impl Mix {
    fn count(&mut self, v: &Verdict) {
        match v {
            Verdict::Allowed(m) => {
                self.allowed += 1;
                self.matched += m.len();
            }
            Verdict::ExplicitDeny(m) => {
                self.explicit_deny += 1;
                self.matched += m.len();
            }
            Verdict::ImplicitDeny => self.implicit_deny += 1,
        }
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.allowed + self.explicit_deny + self.implicit_deny;
        write!(
            f,
            "{} allowed, {} explicitly denied, {} implicitly denied \
             ({:.1} matching statements per decision)",
            self.allowed,
            self.explicit_deny,
            self.implicit_deny,
            self.matched as f64 / n.max(1) as f64
        )
    }
}

impl Mix {
    /// The outcome mix of some verdicts.
    pub fn of<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Mix {
        let mut mix = Mix::default();
        for v in verdicts {
            mix.count(v);
        }
        mix
    }
}

/// One request to decide: action, resource and context.
pub type Case<'a> = (&'a str, &'a str, &'a gatehouse_policy::Context);

/// Decides every case with both engines and fails unless every answer agrees: the same
/// outcome through the same statements, and no Cedar evaluation error. Gatehouse decides each
/// case twice, with [`gatehouse_policy::authorize`] on `set` and with `compiled` (which must be
/// `set` compiled), and both must give the same decision. Returns the verdicts.
pub fn agree(
    set: &gatehouse_policy::PolicySet,
    compiled: &gatehouse_policy::CompiledPolicySet,
    principal: &gatehouse_policy::Principal,
    translation: &Translation,
    cases: &[Case<'_>],
) -> Result<Vec<Verdict>, Error> {
    let authorizer = cedar_policy::Authorizer::new();
    let mut verdicts = Vec::with_capacity(cases.len());
    let mut disagreements = Vec::new();
    for &(action, resource, ctx) in cases {
        let request = gatehouse_policy::Request {
            principal,
            action,
            resource,
            resource_account: None,
            context: ctx,
        };
        let decision = gatehouse_policy::authorize(set, &request);
        if compiled.authorize(&request) != decision {
            disagreements.push(format!(
                "{action} on {resource} (context {ctx:?}): CompiledPolicySet differs from authorize"
            ));
        }
        let ours = Verdict::of_gatehouse(&decision);
        let cedar_ctx = cedar_context(action, &translation.condition_keys, |k| ctx.get(k))?;
        let request = cedar_request(principal.arn(), action, resource, cedar_ctx)?;
        let entities = cedar_entities(principal.arn(), [resource])?;
        let response = authorizer.is_authorized(&request, &translation.policies, &entities);
        let theirs = Verdict::of_cedar(&response)?;
        if ours != theirs {
            disagreements.push(format!(
                "{action} on {resource} (context {ctx:?}): gatehouse {ours:?}, cedar {theirs:?}"
            ));
        }
        verdicts.push(ours);
    }
    if disagreements.is_empty() {
        Ok(verdicts)
    } else {
        err(format!(
            "{} of {} requests disagree, e.g.:\n{}",
            disagreements.len(),
            cases.len(),
            disagreements
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}
