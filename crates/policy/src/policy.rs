//! Parsing a policy document and compiling it into the form the evaluator uses.

use std::sync::Arc;

use crate::condition::Condition;
use crate::error::PolicyError;
use crate::json::{self, Member, Node, Pos, Value};
use crate::pattern::{self, ArnPattern, Glob, Template};

/// What a policy document is for. It decides which elements a statement must or must not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a user, group or role (inline or managed). No `Principal`.
    Identity,
    /// Attached to a resource (bucket policy, key policy, …). Requires `Principal` or
    /// `NotPrincipal`.
    Resource,
    /// A role's trust policy (assume-role policy document): a resource-based policy whose
    /// resource is the role. Requires `Principal`; no `NotPrincipal`, no `Resource`.
    Trust,
    /// A permissions boundary of a user or role. No `Principal`.
    PermissionsBoundary,
    /// A session policy passed to `AssumeRole*` or `GetFederationToken`. No `Principal`.
    Session,
    /// An AWS Organizations service control policy. No `Principal`.
    ServiceControl,
    /// An AWS Organizations resource control policy. Requires `Principal`; no `NotPrincipal`.
    ResourceControl,
}

impl PolicyKind {
    /// Whether statements of this kind name a principal.
    fn has_principal(self) -> bool {
        matches!(
            self,
            PolicyKind::Resource | PolicyKind::Trust | PolicyKind::ResourceControl
        )
    }

    /// IAM's own documents restrict `Sid` to ASCII letters and digits.
    fn strict_sid(self) -> bool {
        matches!(
            self,
            PolicyKind::Identity
                | PolicyKind::Trust
                | PolicyKind::PermissionsBoundary
                | PolicyKind::Session
        )
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement denies; an explicit deny overrides every allow.
    Deny,
}

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `2008-10-17`, also assumed when `Version` is missing: no policy variables.
    V2008_10_17,
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
}

/// One entry of `Principal: {"AWS": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsPrincipal {
    Any,
    /// An account id, from `123456789012` or `arn:…:iam::123456789012:root`.
    Account(Box<str>),
    Arn(Box<str>),
}

/// A `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PrincipalSpec {
    /// `"Principal": "*"`.
    pub any: bool,
    pub aws: Vec<AwsPrincipal>,
    pub service: Vec<Box<str>>,
    pub federated: Vec<Box<str>>,
    pub canonical: Vec<Box<str>>,
}

/// One `Action`/`NotAction` entry.
#[derive(Debug, Clone)]
pub(crate) struct ActionPattern {
    /// Lowercased glob over `service:name`.
    pat: Glob,
    /// The service prefix when it has no wildcard (for the index).
    service: Option<Box<str>>,
    /// [`name_bit`] of the first character of the name part.
    name_bits: u32,
}

/// One `Resource`/`NotResource` entry.
#[derive(Debug, Clone)]
pub(crate) enum ResourcePattern {
    Arn(ArnPattern),
    Template(Template),
}

/// A compiled statement.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub sid: Option<Arc<str>>,
    pub effect: Effect,
    /// `(negated, spec)`: `NotPrincipal` when negated.
    pub principal: Option<(bool, PrincipalSpec)>,
    pub not_action: bool,
    pub actions: Vec<ActionPattern>,
    /// `(negated, patterns)`; None when the kind has no `Resource` (trust policies).
    pub resources: Option<(bool, Vec<ResourcePattern>)>,
    pub conditions: Vec<Condition>,
    /// Bytes every resource this statement can match starts with: the longest common prefix
    /// of the literal prefixes (before the first wildcard or variable) of its `Resource`
    /// patterns; empty for `*`, `NotResource` and statements without resources. Used to skip
    /// statements and to index them by resource.
    pub resource_prefix: Box<[u8]>,
    /// Likewise, the bytes every matching resource ends with (after the last wildcard),
    /// common to all its `Resource` patterns; empty if one of them has a policy variable.
    pub resource_suffix: Box<[u8]>,
}

/// What evaluating a statement requires of a context key so that it cannot be reported as
/// missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Need {
    /// A condition key: at least one value.
    NonEmpty,
    /// A policy variable: exactly one value.
    One,
}

/// The literal text a resource pattern's matches start with: up to its first wildcard (and,
/// for templates, its first variable).
fn resource_literal_prefix(r: &ResourcePattern, raw: &str) -> Box<[u8]> {
    let text = match r {
        ResourcePattern::Template(t) => t.literal_prefix(),
        ResourcePattern::Arn(ArnPattern::Any) => "",
        ResourcePattern::Arn(ArnPattern::Parts(_)) => raw,
    };
    let end = text.find(['*', '?', '\0']).unwrap_or(text.len());
    text.as_bytes().get(..end).unwrap_or_default().into()
}

/// The literal text a resource pattern's matches end with: after its last wildcard (none for
/// templates). An ARN pattern's last part takes the rest of the ARN,
/// so the literal bytes after the last wildcard, colons included, end every match.
fn resource_literal_suffix(r: &ResourcePattern, raw: &str) -> Box<[u8]> {
    let text = match r {
        ResourcePattern::Template(_) | ResourcePattern::Arn(ArnPattern::Any) => "",
        ResourcePattern::Arn(ArnPattern::Parts(_)) => raw,
    };
    let start = text.rfind(['*', '?', '\0']).map_or(0, |i| i + 1);
    text.as_bytes().get(start..).unwrap_or_default().into()
}

/// The longest common suffix of `suffixes` (empty for none).
fn common_suffix(suffixes: &[Box<[u8]>]) -> Box<[u8]> {
    let Some((first, rest)) = suffixes.split_first() else {
        return Box::default();
    };
    let len = rest.iter().fold(first.len(), |len, p| {
        first
            .iter()
            .rev()
            .zip(p.iter().rev())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count()
    });
    first
        .get(first.len().saturating_sub(len)..)
        .unwrap_or_default()
        .into()
}

/// The longest common prefix of `prefixes` (empty for none).
fn common_prefix(prefixes: &[Box<[u8]>]) -> Box<[u8]> {
    let Some((first, rest)) = prefixes.split_first() else {
        return Box::default();
    };
    let len = rest.iter().fold(first.len(), |len, p| {
        first
            .iter()
            .zip(p.iter())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count()
    });
    first.get(..len).unwrap_or_default().into()
}

impl Statement {
    /// The context keys evaluating this statement looks up (lowercased), with what each needs
    /// so that it is not reported missing.
    pub(crate) fn lookups(&self) -> impl Iterator<Item = (&str, Need)> {
        let templates = self
            .resources
            .iter()
            .flat_map(|(_, pats)| pats.iter())
            .filter_map(|r| match r {
                ResourcePattern::Template(t) => Some(t.keys().map(|k| (k, Need::One))),
                ResourcePattern::Arn(_) => None,
            })
            .flatten();
        templates.chain(self.conditions.iter().flat_map(|c| c.lookups()))
    }

    pub(crate) fn action_matches(&self, action: &str) -> bool {
        let any = self
            .actions
            .iter()
            .any(|a| a.pat.matches(action.as_bytes(), true));
        any != self.not_action
    }
}

/// A filter bit for the first character of an action name (after `service:`), so most
/// statements that cannot match are skipped without running their patterns.
pub(crate) fn name_bit(first: Option<u8>) -> u32 {
    match first.map(|b| b.to_ascii_lowercase()) {
        Some(b @ b'a'..=b'z') => 1 << (b - b'a'),
        Some(b'*' | b'?' | 0) | None => u32::MAX,
        Some(b) => 1 << (26 + b % 6),
    }
}

/// FNV-1a: a small, fast hash for the action index (collisions are checked afterwards).
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `(statement index, name bits)`.
type Flagged = (u32, u32);

/// The statements of one literal service prefix, while the index is built.
#[derive(Debug, Clone, Default)]
struct ServiceBucket {
    service: Box<str>,
    /// `(lowercase action name, statement)` for statements whose action names for this
    /// service are all literal.
    exact: Vec<(Box<[u8]>, u32)>,
    /// Statements with a wildcard in a name for this service.
    wild: Vec<Flagged>,
}

/// A byte range in [`ActionIndex::arena`] or an entry range in one of its lists.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of<T>(list: &[T], span: Span) -> &[T] {
        list.get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }
}

/// One service of the index.
#[derive(Debug, Clone, Copy)]
struct BucketHead {
    hash: u64,
    service: Span,
    exact: Span,
    wild: Span,
}

/// An exact action name: `fnv(name)`, the statement, the name in the arena. A hit needs no
/// further action check.
#[derive(Debug, Clone, Copy)]
struct ExactEntry {
    hash: u64,
    statement: u32,
    name: Span,
}

/// Statements indexed by action, stored flat (a handful of allocations per policy) so a
/// decision touches few cache lines per policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActionIndex {
    /// `heads[i].hash`, contiguous for a quick scan.
    head_hashes: Vec<u64>,
    /// Sorted by hash.
    heads: Vec<BucketHead>,
    /// Per bucket, sorted by hash.
    exact: Vec<ExactEntry>,
    /// `(statement, name bits)` per bucket, for statements with wildcard names.
    wild: Vec<Flagged>,
    /// `(statement, name bits)` that must always be checked (wildcard services,
    /// `NotAction`).
    always: Vec<Flagged>,
    /// Service and action names.
    arena: Box<[u8]>,
}

/// The lowercase action of a request, hashed once for every policy's index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActionKey<'a> {
    pub service: &'a [u8],
    pub name: &'a [u8],
    pub service_hash: u64,
    pub name_hash: u64,
    pub bit: u32,
}

impl<'a> ActionKey<'a> {
    pub(crate) fn new(service: &'a [u8], name: &'a [u8]) -> Self {
        ActionKey {
            service,
            name,
            service_hash: fnv(service),
            name_hash: fnv(name),
            bit: name_bit(name.first().copied()),
        }
    }
}

/// A parsed, validated and compiled policy document. Cheap to share (`Arc<Policy>`) and to
/// evaluate many times.
#[derive(Debug, Clone)]
pub struct Policy {
    kind: PolicyKind,
    version: Version,
    id: Option<String>,
    statements: Vec<Statement>,
    index: ActionIndex,
}

fn one_or_more(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::Array(a) => a.iter().collect(),
        _ => vec![node],
    }
}

fn string_list<'a>(node: &'a Node, what: &str) -> Result<Vec<(&'a str, Pos)>, PolicyError> {
    one_or_more(node)
        .into_iter()
        .map(|n| match &n.value {
            Value::String(s) => Ok((s.as_str(), n.pos)),
            other => Err(PolicyError::syntax(format!(
                "{what} must be a string or an array of strings, not {}",
                other.type_name()
            ))
            .at(n.pos)),
        })
        .collect()
}

const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

fn parse_action(s: &str, pos: Pos) -> Result<ActionPattern, PolicyError> {
    if s == "*" {
        return Ok(ActionPattern {
            pat: Glob::Any,
            service: None,
            name_bits: u32::MAX,
        });
    }
    let Some((service, name)) = s.split_once(':') else {
        return Err(PolicyError::new(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        )
        .with_detail(format!("action \"{s}\""))
        .at(pos));
    };
    if service.is_empty() || name.is_empty() {
        return Err(PolicyError::new(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        )
        .with_detail(format!("action \"{s}\""))
        .at(pos));
    }
    let lower = s.to_ascii_lowercase();
    let pat = pattern::encode_pattern(&lower);
    let service = service.to_ascii_lowercase();
    let literal = pattern::is_literal(&pattern::encode_pattern(&service));
    Ok(ActionPattern {
        pat: Glob::new(&pat),
        service: literal.then(|| service.into()),
        name_bits: name_bit(name.bytes().next()),
    })
}

fn parse_resource(s: &str, pos: Pos, variables: bool) -> Result<ResourcePattern, PolicyError> {
    let not_arn =
        || PolicyError::new(format!("Resource {s} must be in ARN format or \"*\".")).at(pos);
    if s != "*" {
        let Some(rest) = s.strip_prefix("arn:") else {
            return Err(not_arn());
        };
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() < 5 && !s.contains('*') {
            return Err(not_arn());
        }
        if let Some(partition) = parts.first()
            && !partition.contains(['*', '?', '$'])
            && !PARTITIONS.contains(partition)
        {
            return Err(PolicyError::new(format!(
                "Partition \"{partition}\" is not valid for resource \"{s}\"."
            ))
            .at(pos));
        }
    }
    if variables && let Some(t) = Template::parse(s) {
        return Ok(ResourcePattern::Template(t));
    }
    Ok(ResourcePattern::Arn(ArnPattern::new(
        &pattern::encode_pattern(s),
    )))
}

fn invalid_principal(key: &str, value: &str, pos: Pos) -> PolicyError {
    PolicyError::new(format!(
        "Invalid principal in policy: \"{key}\":\"{value}\""
    ))
    .at(pos)
}

fn parse_principal(node: &Node, kind: PolicyKind) -> Result<PrincipalSpec, PolicyError> {
    let mut spec = PrincipalSpec::default();
    match &node.value {
        Value::String(s) if s == "*" => {
            spec.any = true;
            Ok(spec)
        }
        Value::Object(members) if !members.is_empty() => {
            for m in members {
                let values = string_list(&m.value, &m.key)?;
                for (v, pos) in values {
                    match m.key.as_str() {
                        "AWS" => spec.aws.push(parse_aws_principal(v, pos, kind)?),
                        "Service" | "Federated" | "CanonicalUser" if v.is_empty() => {
                            return Err(invalid_principal(&m.key, v, pos));
                        }
                        "Service" => spec.service.push(v.into()),
                        "Federated" => spec.federated.push(v.into()),
                        "CanonicalUser" => spec.canonical.push(v.into()),
                        _ => return Err(invalid_principal(&m.key, v, m.key_pos)),
                    }
                }
            }
            Ok(spec)
        }
        Value::String(s) => {
            Err(PolicyError::new(format!("Invalid principal in policy: \"{s}\"")).at(node.pos))
        }
        _ => Err(PolicyError::syntax("Principal must be \"*\" or an object").at(node.pos)),
    }
}

/// An `AWS` principal entry. A wildcard inside an ARN never matches (AWS has no partial
/// wildcards in principals); IAM rejects it in trust policies, other services accept it.
fn parse_aws_principal(v: &str, pos: Pos, kind: PolicyKind) -> Result<AwsPrincipal, PolicyError> {
    if v == "*" {
        return Ok(AwsPrincipal::Any);
    }
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(AwsPrincipal::Account(v.into()));
    }
    // A unique id (AIDA…, AROA…) is what IAM shows for a principal that was deleted; it is
    // kept, and matches no caller.
    if v.len() >= 16
        && v.starts_with('A')
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Ok(AwsPrincipal::Arn(v.into()));
    }
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, service, _region, account, resource]
            if PARTITIONS.contains(partition)
                && (!v.contains('*') || kind != PolicyKind::Trust)
                && !service.is_empty()
                && !resource.is_empty() =>
        {
            if *resource == "root"
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
            {
                Ok(AwsPrincipal::Account((*account).into()))
            } else {
                Ok(AwsPrincipal::Arn(v.into()))
            }
        }
        _ => Err(invalid_principal("AWS", v, pos)),
    }
}

fn field<'a>(members: &'a [Member], name: &str) -> Option<&'a Member> {
    members.iter().find(|m| m.key == name)
}

impl Policy {
    /// Parses and validates a policy document with AWS's rules for `kind`, and compiles it.
    ///
    /// Rejects invalid JSON, duplicate keys, unknown elements, wrong types, missing or
    /// prohibited elements, malformed actions, resources, principals and condition values.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let root = json::parse(text)?;
        let Value::Object(top) = &root.value else {
            return Err(PolicyError::syntax("the policy must be a JSON object").at(root.pos));
        };
        for m in top {
            if !matches!(m.key.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::new(format!("Unknown field {}", m.key)).at(m.key_pos));
            }
        }
        let version = match field(top, "Version") {
            None => Version::V2008_10_17,
            Some(m) => match &m.value.value {
                Value::String(s) if s == "2012-10-17" => Version::V2012_10_17,
                Value::String(s) if s == "2008-10-17" => Version::V2008_10_17,
                _ => {
                    return Err(PolicyError::new("The policy failed legacy parsing")
                        .with_detail("Version must be \"2012-10-17\" or \"2008-10-17\"")
                        .at(m.value.pos));
                }
            },
        };
        let id = match field(top, "Id") {
            None => None,
            Some(m) => match &m.value.value {
                Value::String(s) => Some(s.clone()),
                other => {
                    return Err(PolicyError::syntax(format!(
                        "Id must be a string, not {}",
                        other.type_name()
                    ))
                    .at(m.value.pos));
                }
            },
        };
        let Some(stmts) = field(top, "Statement") else {
            return Err(PolicyError::new("Missing required field Statement").at(root.pos));
        };
        let nodes = one_or_more(&stmts.value);
        if nodes.is_empty() {
            return Err(PolicyError::syntax("Statement must not be empty").at(stmts.value.pos));
        }
        let variables = version == Version::V2012_10_17;
        let mut statements = Vec::with_capacity(nodes.len());
        let mut sid_pos = Vec::with_capacity(nodes.len());
        for node in nodes {
            statements.push(parse_statement(node, kind, variables)?);
            sid_pos.push(match &node.value {
                Value::Object(m) => field(m, "Sid").map(|m| m.value.pos),
                _ => None,
            });
        }
        // Sids must be unique within a policy.
        for (i, s) in statements.iter().enumerate() {
            if let Some(sid) = &s.sid
                && statements
                    .iter()
                    .take(i)
                    .any(|o| o.sid.as_deref() == Some(&**sid))
            {
                let err =
                    PolicyError::new("Statement IDs (SID) in a single policy must be unique.")
                        .with_detail(format!("duplicate Sid \"{sid}\""));
                return Err(match sid_pos.get(i).copied().flatten() {
                    Some(pos) => err.at(pos),
                    None => err,
                });
            }
        }
        let index = build_index((0u32..).zip(&statements));
        Ok(Policy {
            kind,
            version,
            id,
            statements,
            index,
        })
    }

    /// The kind the policy was parsed as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The language version (`2008-10-17` when the document has none).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The document's `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Number of statements.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// The condition keys the policy uses, in conditions and as policy variables, each once
    /// (compared case-insensitively), sorted: what `GetContextKeysForCustomPolicy` returns.
    pub fn context_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let mut add = |k: &str| {
            if !keys.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                keys.push(k.to_string());
            }
        };
        for s in &self.statements {
            if let Some((_, rs)) = &s.resources {
                for r in rs {
                    if let ResourcePattern::Template(t) = r {
                        t.keys().for_each(&mut add);
                    }
                }
            }
            for c in &s.conditions {
                add(c.key_as_written());
                c.variable_keys().for_each(&mut add);
            }
        }
        keys.sort_by_key(|k| k.to_ascii_lowercase());
        keys
    }

    pub(crate) fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The statements that may match an action, as `(index, verified)`: `verified`
    /// statements are known to match the action. Allocates nothing.
    pub(crate) fn candidates<'a>(
        &'a self,
        key: &ActionKey<'a>,
    ) -> impl Iterator<Item = (u32, bool)> + 'a {
        self.index.candidates(key)
    }
}

impl ActionIndex {
    /// Builds the index of `(id, statement)` pairs; [`candidates`](Self::candidates) yields
    /// the ids.
    pub(crate) fn build<'a>(statements: impl IntoIterator<Item = (u32, &'a Statement)>) -> Self {
        build_index(statements)
    }

    /// True if no statement is indexed.
    pub(crate) fn is_empty(&self) -> bool {
        self.heads.is_empty() && self.always.is_empty()
    }

    /// The ids of the statements that may match an action, as `(id, verified)`: `verified`
    /// statements are known to match the action. Allocates nothing.
    pub(crate) fn candidates<'a>(
        &'a self,
        key: &ActionKey<'a>,
    ) -> impl Iterator<Item = (u32, bool)> + 'a {
        let idx = self;
        let arena = &idx.arena;
        // Policies name few services: a linear scan of the hashes beats a binary search.
        let from = if idx.head_hashes.len() <= 32 {
            idx.head_hashes
                .iter()
                .position(|h| *h == key.service_hash)
                .unwrap_or(idx.head_hashes.len())
        } else {
            idx.head_hashes.partition_point(|h| *h < key.service_hash)
        };
        // Heads are sorted by hash; a collision puts several in a row.
        let head = idx
            .heads
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|h| h.hash == key.service_hash)
            .find(|h| pattern::bytes_eq(Span::of(arena, h.service), key.service));
        let (hits, wild): (&'a [ExactEntry], &'a [Flagged]) = match head {
            Some(h) => {
                let exact = Span::of(&idx.exact, h.exact);
                let from = if exact.len() <= 16 {
                    exact
                        .iter()
                        .position(|e| e.hash >= key.name_hash)
                        .unwrap_or(exact.len())
                } else {
                    exact.partition_point(|e| e.hash < key.name_hash)
                };
                let rest = exact.get(from..).unwrap_or_default();
                let len = rest.iter().take_while(|e| e.hash == key.name_hash).count();
                (
                    rest.get(..len).unwrap_or_default(),
                    Span::of(&idx.wild, h.wild),
                )
            }
            None => (&[], &[]),
        };
        let name = key.name;
        let bit = key.bit;
        hits.iter()
            // The hash matched; the name must too.
            .filter(move |e| pattern::bytes_eq(Span::of(arena, e.name), name))
            .map(|e| (e.statement, true))
            .chain(
                wild.iter()
                    .chain(&idx.always)
                    .filter(move |(_, m)| m & bit != 0)
                    .map(|(i, _)| (*i, false)),
            )
    }
}

fn build_index<'a>(statements: impl IntoIterator<Item = (u32, &'a Statement)>) -> ActionIndex {
    let mut services: Vec<ServiceBucket> = Vec::new();
    let mut always: Vec<Flagged> = Vec::new();
    for (i, s) in statements {
        let literal_services = !s.not_action && s.actions.iter().all(|a| a.service.is_some());
        if !literal_services {
            always.push((i, u32::MAX));
            continue;
        }
        let mut names_of: Vec<&str> = s
            .actions
            .iter()
            .filter_map(|a| a.service.as_deref())
            .collect();
        names_of.sort_unstable();
        names_of.dedup();
        for svc in names_of {
            let pats: Vec<&ActionPattern> = s
                .actions
                .iter()
                .filter(|a| a.service.as_deref() == Some(svc))
                .collect();
            let pos = match services.iter().position(|b| &*b.service == svc) {
                Some(p) => p,
                None => {
                    services.push(ServiceBucket {
                        service: svc.into(),
                        ..ServiceBucket::default()
                    });
                    services.len() - 1
                }
            };
            let Some(bucket) = services.get_mut(pos) else {
                continue;
            };
            let names: Option<Vec<&[u8]>> = pats
                .iter()
                .map(|a| match &a.pat {
                    Glob::Exact(full) => full.get(svc.len() + 1..),
                    _ => None,
                })
                .collect();
            match names {
                Some(mut names) => {
                    names.sort_unstable();
                    names.dedup();
                    bucket
                        .exact
                        .extend(names.into_iter().map(|n| (Box::from(n), i)));
                }
                None => {
                    let bits = pats.iter().fold(0, |acc, a| acc | a.name_bits);
                    bucket.wild.push((i, bits));
                }
            }
        }
    }
    flatten(services, always)
}

fn flatten(mut services: Vec<ServiceBucket>, always: Vec<Flagged>) -> ActionIndex {
    let mut idx = ActionIndex {
        always,
        ..ActionIndex::default()
    };
    let mut arena: Vec<u8> = Vec::new();
    let push = |arena: &mut Vec<u8>, bytes: &[u8]| {
        let start = arena.len() as u32;
        arena.extend_from_slice(bytes);
        Span {
            start,
            end: arena.len() as u32,
        }
    };
    services.sort_by_key(|b| fnv(b.service.as_bytes()));
    for b in &mut services {
        let service = push(&mut arena, b.service.as_bytes());
        let mut exact: Vec<(u64, u32, &[u8])> =
            b.exact.iter().map(|(n, i)| (fnv(n), *i, &**n)).collect();
        exact.sort();
        let exact_start = idx.exact.len() as u32;
        for (hash, statement, n) in exact {
            let name = push(&mut arena, n);
            idx.exact.push(ExactEntry {
                hash,
                statement,
                name,
            });
        }
        let wild_start = idx.wild.len() as u32;
        idx.wild.extend_from_slice(&b.wild);
        idx.heads.push(BucketHead {
            hash: fnv(b.service.as_bytes()),
            service,
            exact: Span {
                start: exact_start,
                end: idx.exact.len() as u32,
            },
            wild: Span {
                start: wild_start,
                end: idx.wild.len() as u32,
            },
        });
    }
    idx.arena = arena.into();
    idx.head_hashes = idx.heads.iter().map(|h| h.hash).collect();
    idx
}

const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn parse_statement(
    node: &Node,
    kind: PolicyKind,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let Value::Object(members) = &node.value else {
        return Err(PolicyError::syntax("each statement must be a JSON object").at(node.pos));
    };
    for m in members {
        if !STATEMENT_FIELDS.contains(&m.key.as_str()) {
            return Err(PolicyError::new(format!("Unknown field {}", m.key)).at(m.key_pos));
        }
    }
    let get = |name| field(members, name);

    let sid = match get("Sid") {
        None => None,
        Some(m) => match &m.value.value {
            Value::String(s) => {
                if kind.strict_sid() && !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(PolicyError::new(
                        "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                    )
                    .at(m.value.pos));
                }
                (!s.is_empty()).then(|| Arc::from(s.as_str()))
            }
            other => {
                return Err(PolicyError::syntax(format!(
                    "Sid must be a string, not {}",
                    other.type_name()
                ))
                .at(m.value.pos));
            }
        },
    };

    let effect = match get("Effect") {
        None => return Err(PolicyError::new("Missing required field Effect").at(node.pos)),
        Some(m) => match &m.value.value {
            Value::String(s) if s == "Allow" => Effect::Allow,
            Value::String(s) if s == "Deny" => Effect::Deny,
            Value::String(s) => {
                // IAM answers a bad Effect ("allow", "Permit") this way.
                return Err(PolicyError::new("The policy failed legacy parsing")
                    .with_detail(format!("Effect must be \"Allow\" or \"Deny\", not \"{s}\""))
                    .at(m.value.pos));
            }
            other => {
                return Err(PolicyError::syntax(format!(
                    "Effect must be a string, not {}",
                    other.type_name()
                ))
                .at(m.value.pos));
            }
        },
    };

    let principal = match (get("Principal"), get("NotPrincipal")) {
        (Some(_), Some(m)) => {
            return Err(
                PolicyError::syntax("Principal and NotPrincipal cannot both be present")
                    .at(m.key_pos),
            );
        }
        (Some(m), None) | (None, Some(m)) => {
            let negated = m.key == "NotPrincipal";
            if !kind.has_principal() {
                return Err(
                    PolicyError::new("Policy document should not specify a principal.")
                        .at(m.key_pos),
                );
            }
            if negated && kind != PolicyKind::Resource {
                return Err(PolicyError::new("Has prohibited field NotPrincipal").at(m.key_pos));
            }
            Some((negated, parse_principal(&m.value, kind)?))
        }
        (None, None) => {
            if kind.has_principal() {
                return Err(PolicyError::new("Missing required field Principal").at(node.pos));
            }
            None
        }
    };

    let (not_action, action_member) = match (get("Action"), get("NotAction")) {
        (Some(_), Some(m)) => {
            return Err(
                PolicyError::syntax("Action and NotAction cannot both be present").at(m.key_pos),
            );
        }
        (Some(m), None) => (false, m),
        (None, Some(m)) => (true, m),
        (None, None) => {
            return Err(PolicyError::new("Policy statement must contain actions.").at(node.pos));
        }
    };
    let action_strings = string_list(&action_member.value, &action_member.key)?;
    if action_strings.is_empty() {
        return Err(
            PolicyError::new("Policy statement must contain actions.").at(action_member.value.pos)
        );
    }
    let actions = action_strings
        .into_iter()
        .map(|(s, pos)| parse_action(s, pos))
        .collect::<Result<Vec<_>, _>>()?;

    let mut resource_prefix = Box::default();
    let mut resource_suffix = Box::default();
    let resources = match (get("Resource"), get("NotResource")) {
        (Some(_), Some(m)) => {
            return Err(
                PolicyError::syntax("Resource and NotResource cannot both be present")
                    .at(m.key_pos),
            );
        }
        (Some(m), None) | (None, Some(m)) => {
            if kind == PolicyKind::Trust {
                return Err(
                    PolicyError::new(format!("Has prohibited field {}", m.key)).at(m.key_pos)
                );
            }
            let list = string_list(&m.value, &m.key)?;
            if list.is_empty() {
                return Err(
                    PolicyError::new("Policy statement must contain resources.").at(m.value.pos)
                );
            }
            let mut pats = Vec::with_capacity(list.len());
            let mut prefixes = Vec::with_capacity(list.len());
            let mut suffixes = Vec::with_capacity(list.len());
            for (s, pos) in list {
                let r = parse_resource(s, pos, variables)?;
                prefixes.push(resource_literal_prefix(&r, s));
                suffixes.push(resource_literal_suffix(&r, s));
                pats.push(r);
            }
            if m.key != "NotResource" {
                resource_prefix = common_prefix(&prefixes);
                // A template is rendered (and reports missing variables) whenever the
                // resource starts with its literal prefix, so only a statement without
                // templates may be skipped by its suffix.
                if !pats
                    .iter()
                    .any(|p| matches!(p, ResourcePattern::Template(_)))
                {
                    resource_suffix = common_suffix(&suffixes);
                }
            }
            Some((m.key == "NotResource", pats))
        }
        (None, None) => {
            if kind != PolicyKind::Trust {
                return Err(
                    PolicyError::new("Policy statement must contain resources.").at(node.pos)
                );
            }
            None
        }
    };

    let conditions = match get("Condition") {
        None => Vec::new(),
        Some(m) => Condition::parse_block(&m.value, variables)?,
    };

    Ok(Statement {
        sid,
        effect,
        principal,
        not_action,
        actions,
        resources,
        conditions,
        resource_prefix,
        resource_suffix,
    })
}

/// The size of a policy document as AWS counts it for its quotas: the number of characters,
/// not counting whitespace outside strings (IAM stores managed policies without it).
pub fn policy_size(json: &str) -> usize {
    json::size(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        Policy::parse(doc, kind)
    }

    fn id(doc: &str) -> Result<Policy, PolicyError> {
        parse(doc, PolicyKind::Identity)
    }

    /// Checks that `doc` is rejected for `kind` with `message`.
    fn rejects(doc: &str, kind: PolicyKind, message: &str) {
        match parse(doc, kind) {
            Ok(_) => panic!("accepted: {doc}"),
            Err(e) => assert_eq!(e.message(), message, "{doc}: {e}"),
        }
    }

    const ALLOW: &str = r#""Effect":"Allow","Action":"s3:GetObject","Resource":"*""#;

    #[test]
    fn accepts_the_forms_aws_accepts() {
        let p = id(r#"{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"A1","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}}"#).unwrap();
        assert_eq!(p.statement_count(), 1);
        assert_eq!(p.version(), Version::V2012_10_17);
        assert_eq!(p.id(), Some("x"));
        let p = id(&format!(r#"{{"Statement":[{{{ALLOW}}},{{{ALLOW}}}]}}"#)).unwrap();
        assert_eq!(p.version(), Version::V2008_10_17);
        assert!(parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/a"],"Service":"s3.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            PolicyKind::Trust
        )
        .is_ok());
        assert!(parse(
            r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"NotAction":"s3:Get*","NotResource":["arn:aws:s3:::b"]}]}"#,
            PolicyKind::Resource
        )
        .is_ok());
    }

    #[test]
    fn rejections_with_aws_messages() {
        use PolicyKind::*;
        let syntax = "Syntax errors in policy.";
        rejects("{", Identity, syntax);
        rejects("[]", Identity, syntax);
        rejects(r#"{"Statement":[]}"#, Identity, syntax);
        rejects(r#"{"Statement":[1]}"#, Identity, syntax);
        rejects(
            r#"{"Version":"2012-10-17"}"#,
            Identity,
            "Missing required field Statement",
        );
        rejects(
            r#"{"Version":"2013-01-01","Statement":{}}"#,
            Identity,
            "The policy failed legacy parsing",
        );
        rejects(
            &format!(r#"{{"Foo":1,"Statement":{{{ALLOW}}}}}"#),
            Identity,
            "Unknown field Foo",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Foo":1,{ALLOW}}}}}"#),
            Identity,
            "Unknown field Foo",
        );
        rejects(
            &format!(r#"{{"Statement":{{{ALLOW},"Effect":"Deny"}}}}"#),
            Identity,
            syntax,
        );
        rejects(
            r#"{"Statement":{"Action":"s3:*","Resource":"*"}}"#,
            Identity,
            "Missing required field Effect",
        );
        rejects(
            r#"{"Statement":{"Effect":"Permit","Action":"s3:*","Resource":"*"}}"#,
            Identity,
            "The policy failed legacy parsing",
        );
        rejects(
            r#"{"Statement":{"Effect":true,"Action":"s3:*","Resource":"*"}}"#,
            Identity,
            syntax,
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
            Identity,
            "Policy statement must contain actions.",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
            Identity,
            "Policy statement must contain actions.",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
            Identity,
            "Policy statement must contain resources.",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":[]}}"#,
            Identity,
            "Policy statement must contain resources.",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","NotAction":"s3:x","Resource":"*"}}"#,
            Identity,
            syntax,
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*"}}"#,
            Identity,
            syntax,
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}"#,
            Identity,
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":["s3:*",7],"Resource":"*"}}"#,
            Identity,
            syntax,
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}"#,
            Identity,
            "Resource bucket must be in ARN format or \"*\".",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:foo:s3:::b"}}"#,
            Identity,
            "Partition \"foo\" is not valid for resource \"arn:foo:s3:::b\".",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":"*",{ALLOW}}}}}"#),
            Identity,
            "Policy document should not specify a principal.",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":"*",{ALLOW}}}}}"#),
            PermissionsBoundary,
            "Policy document should not specify a principal.",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":"*",{ALLOW}}}}}"#),
            Session,
            "Policy document should not specify a principal.",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":"*",{ALLOW}}}}}"#),
            ServiceControl,
            "Policy document should not specify a principal.",
        );
        rejects(
            &format!(r#"{{"Statement":{{{ALLOW}}}}}"#),
            Resource,
            "Missing required field Principal",
        );
        rejects(
            &format!(r#"{{"Statement":{{{ALLOW}}}}}"#),
            ResourceControl,
            "Missing required field Principal",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
            Trust,
            "Missing required field Principal",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}"#,
            Trust,
            "Has prohibited field Resource",
        );
        rejects(
            r#"{"Statement":{"Effect":"Deny","NotPrincipal":"*","Action":"sts:AssumeRole"}}"#,
            Trust,
            "Has prohibited field NotPrincipal",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":"*","NotPrincipal":"*",{ALLOW}}}}}"#),
            Resource,
            syntax,
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":{{"AWS":"alice"}},{ALLOW}}}}}"#),
            Resource,
            "Invalid principal in policy: \"AWS\":\"alice\"",
        );
        rejects(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"sts:AssumeRole"}}"#,
            Trust,
            "Invalid principal in policy: \"AWS\":\"arn:aws:iam::111122223333:user/*\"",
        );
        assert!(
            parse(
                &format!(
                    r#"{{"Statement":{{"Principal":{{"AWS":"AIDAJQABLZS4A3QDU576Q"}},{ALLOW}}}}}"#
                ),
                Resource
            )
            .is_ok()
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":{{"Foo":"x"}},{ALLOW}}}}}"#),
            Resource,
            "Invalid principal in policy: \"Foo\":\"x\"",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":{{}},{ALLOW}}}}}"#),
            Resource,
            syntax,
        );
        rejects(
            &format!(r#"{{"Statement":{{"Principal":"alice",{ALLOW}}}}}"#),
            Resource,
            "Invalid principal in policy: \"alice\"",
        );
        rejects(
            &format!(r#"{{"Statement":[{{"Sid":"a",{ALLOW}}},{{"Sid":"a",{ALLOW}}}]}}"#),
            Identity,
            "Statement IDs (SID) in a single policy must be unique.",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Sid":"no spaces",{ALLOW}}}}}"#),
            Identity,
            "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
        );
        rejects(
            &format!(r#"{{"Statement":{{"Sid":1,{ALLOW}}}}}"#),
            Identity,
            syntax,
        );
        rejects(
            &format!(r#"{{"Id":1,"Statement":{{{ALLOW}}}}}"#),
            Identity,
            syntax,
        );
        rejects(
            &format!(r#"{{"Statement":{{{ALLOW},"Condition":{{"Foo":{{"k":"v"}}}}}}}}"#),
            Identity,
            "Invalid Condition type : Foo",
        );
        rejects(
            &format!(r#"{{"Statement":{{{ALLOW},"Condition":[]}}}}"#),
            Identity,
            syntax,
        );
        // Resource policies accept free-form Sids.
        assert!(
            parse(
                &format!(r#"{{"Statement":{{"Sid":"any text","Principal":"*",{ALLOW}}}}}"#),
                Resource
            )
            .is_ok()
        );
    }

    #[test]
    fn errors_carry_positions() {
        let e = id("{\"Statement\":[{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"},\n{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"}]}").unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(2), Some(8)));
        let e = id(
            "{\n  \"Statement\": {\n    \"Effect\": \"Allow\",\n    \"Action\": \"s3:*\"\n  }\n}",
        )
        .unwrap_err();
        assert_eq!(e.code(), "MalformedPolicyDocument");
        assert_eq!((e.line(), e.column()), (Some(2), Some(16)));
        let e = id("{\"Statement\":{\"Effect\":\"Allow\",\n\"Action\":\"s3:*\",\"Resource\":\"*\",\n \"Bad\":1}}").unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(3), Some(2)));
    }

    #[test]
    fn context_keys_are_listed_once() {
        let p = id(r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*",
             "Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:PrincipalTag/team}","s3:prefix":"x"},
                          "Bool":{"aws:SecureTransport":"true"}}},
            {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"AWS:securetransport":false}}}]}"#).unwrap();
        assert_eq!(
            p.context_keys(),
            [
                "aws:PrincipalTag/team",
                "aws:SecureTransport",
                "aws:username",
                "s3:prefix"
            ]
        );
    }

    #[test]
    fn index_finds_candidates() {
        let p = id(r#"{"Statement":[
            {"Effect":"Allow","Action":["s3:Get*","ec2:Describe*"],"Resource":"*"},
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Allow","Action":"S3:Put*","Resource":"*"},
            {"Effect":"Allow","NotAction":"iam:*","Resource":"*"},
            {"Effect":"Allow","Action":"s*:List*","Resource":"*"}]}"#)
        .unwrap();
        let cands = |svc: &[u8], name: &[u8]| {
            let mut c: Vec<(u32, bool)> = p.candidates(&ActionKey::new(svc, name)).collect();
            c.sort();
            c
        };
        assert_eq!(
            cands(b"s3", b"getobject"),
            [(0, false), (1, false), (3, false), (4, false)]
        );
        assert_eq!(
            cands(b"s3", b"putobject"),
            [(1, false), (2, false), (3, false), (4, false)]
        );
        assert_eq!(
            cands(b"iam", b"getuser"),
            [(1, false), (3, false), (4, false)]
        );
        assert_eq!(
            cands(b"ec2", b"describevpcs"),
            [(0, false), (1, false), (3, false), (4, false)]
        );
        assert_eq!(
            cands(b"ec2", b"runinstances"),
            [(1, false), (3, false), (4, false)]
        );
        let q = id(r#"{"Statement":[
            {"Effect":"Allow","Action":["s3:GetObject","s3:getobject","s3:PutObject"],"Resource":"*"},
            {"Effect":"Allow","Action":["s3:GetObject","s3:Get*"],"Resource":"*"}]}"#).unwrap();
        let mut c: Vec<(u32, bool)> = q.candidates(&ActionKey::new(b"s3", b"getobject")).collect();
        c.sort();
        assert_eq!(c, [(0, true), (1, false)]);
        assert!(p.statements()[0].action_matches("EC2:describevpcs"));
        assert!(!p.statements()[0].action_matches("ec2:RunInstances"));
        assert!(!p.statements()[3].action_matches("iam:GetUser"));
    }

    /// The resource prefix and suffix of a statement only skip resources it cannot match.
    #[test]
    fn resource_prefix_and_suffix_are_necessary() {
        let patterns = [
            "*",
            "arn:aws:s3:::b",
            "arn:aws:s3:::b*",
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/*/x",
            "arn:aws:s3:::b?/x",
            "arn:aws:ec2:*:111122223333:*-12",
            "arn:aws:ec2:*:111122223333:instance/i-1",
            "arn:aws:ec2:*:*:instance/*",
            "arn:aws:ec2:*:111122223333:*",
            "arn:*:s3:::b",
            "arn:aws:ec2:*",
            "arn:aws:ec2:*:*:*",
            "arn:aws:s3:::b:c:d",
            "arn:aws:s3:::b/${aws:username}/x",
            "arn:aws:s3:::${aws:username}",
            "arn:aws:s3:::b/${*}x",
            "arn:aws:iam::111122223333:user/${aws:username, 'bob'}",
        ];
        let texts = [
            "arn:aws:s3:::b",
            "arn:aws:s3:::b1/x",
            "arn:aws:s3:::b/k/x",
            "arn:aws:s3:::b/alice/x",
            "arn:aws:s3:::alice",
            "arn:aws:s3:::b/*x",
            "arn:aws:s3:::b:c:d",
            "arn:aws:ec2:us-east-1:111122223333:thing/thing-12",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
            "arn:aws:ec2::111122223333:instance/i-1",
            "arn:aws:ec2:eu-west-1:444455556666:instance/i-1",
            "arn:aws-cn:s3:::b",
            "arn:aws:iam::111122223333:user/bob",
            "arn:aws:iam::111122223333:user/alice",
            "",
        ];
        let principal = crate::Principal::user("arn:aws:iam::111122223333:user/alice");
        let ctx = crate::Context::new();
        let env = crate::eval::Env::new(&ctx, &principal);
        let mut matched = 0;
        for list in patterns.iter().map(|p| vec![*p]).chain(
            patterns
                .iter()
                .zip(patterns.iter().skip(1))
                .map(|(a, b)| vec![*a, *b]),
        ) {
            let quoted: Vec<String> = list.iter().map(|p| format!("\"{p}\"")).collect();
            let doc = format!(
                r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "*", "Resource": [{}]}}]}}"#,
                quoted.join(",")
            );
            let p = id(&doc).unwrap();
            let stmt = &p.statements()[0];
            for t in texts {
                let split = crate::pattern::SplitArn::new(t);
                if crate::eval::resource_matches(stmt, t, &split, &env) {
                    assert!(
                        t.as_bytes().starts_with(&stmt.resource_prefix),
                        "{list:?} {t}"
                    );
                    assert!(
                        t.as_bytes().ends_with(&stmt.resource_suffix),
                        "{list:?} {t}"
                    );
                    matched += 1;
                }
            }
        }
        assert!(matched > 40, "{matched}");
    }

    #[test]
    fn policy_size_counts_like_aws() {
        assert_eq!(policy_size("{ \"Statement\" : [ ] }"), 16);
    }
}
