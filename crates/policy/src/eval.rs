//! The decision: AWS's policy evaluation logic over every policy type.

use std::cell::RefCell;
use std::sync::Arc;

use crate::pattern::SplitArn;
use crate::policy::{
    ActionKey, AwsPrincipal, Effect, Policy, PolicyKind, PrincipalSpec, ResourcePattern, Statement,
};
use crate::request::{Context, Principal, PrincipalKind, Request};

/// What evaluation reads while deciding: the context, keys implied by the principal, and the
/// keys it looked for but did not find.
pub(crate) struct Env<'a> {
    ctx: &'a Context,
    principal: &'a Principal,
    missing: RefCell<Vec<String>>,
}

impl<'a> Env<'a> {
    pub(crate) fn new(ctx: &'a Context, principal: &'a Principal) -> Self {
        Env {
            ctx,
            principal,
            missing: RefCell::new(Vec::new()),
        }
    }

    /// Values of a lowercased key.
    pub(crate) fn get(&self, key_lower: &str) -> Option<&'a [String]> {
        self.ctx
            .get_lower(key_lower)
            .or_else(|| self.principal.implied_key(key_lower))
    }

    pub(crate) fn note_missing(&self, key: &str) {
        let mut m = self.missing.borrow_mut();
        if !m.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            m.push(key.to_string());
        }
    }
}

/// A policy with the id the caller knows it by (a policy ARN, `user/alice/inline-name`, …).
#[derive(Debug, Clone)]
pub struct NamedPolicy {
    /// Reported back in [`MatchedStatement::policy`].
    pub id: Arc<str>,
    /// The compiled policy.
    pub policy: Arc<Policy>,
}

impl NamedPolicy {
    /// Names a policy.
    pub fn new(id: impl Into<Arc<str>>, policy: impl Into<Arc<Policy>>) -> Self {
        NamedPolicy {
            id: id.into(),
            policy: policy.into(),
        }
    }
}

/// Every policy that applies to one request, by type.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Identity-based policies of the principal: a user's inline and managed policies and
    /// those of its groups, or a role's.
    pub identity: Vec<NamedPolicy>,
    /// The permissions boundary of the user or role, if it has one.
    pub boundary: Option<NamedPolicy>,
    /// Session policies (inline and managed) of a role or federated-user session. When
    /// non-empty, a request needs an allow in at least one of them.
    pub session: Vec<NamedPolicy>,
    /// The resource-based policy (bucket policy, or the trust policy for `sts:AssumeRole*`).
    pub resource: Option<NamedPolicy>,
    /// SCPs of the principal's account, one list per level of the organization, root first.
    /// Every level must allow. Empty means the account is not in an organization.
    pub scps: Vec<Vec<NamedPolicy>>,
    /// RCPs of the resource's account, one list per level, root first. Every level must allow.
    /// Empty means no RCPs apply.
    pub rcps: Vec<Vec<NamedPolicy>>,
    /// SCPs do not apply: the principal is in the management account or is a service-linked
    /// role.
    pub scps_exempt: bool,
    /// RCPs do not apply: the resource is in the management account, or the principal is a
    /// service-linked role.
    pub rcps_exempt: bool,
}

/// The final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Allowed.
    Allowed,
    /// A `Deny` statement in some policy matched.
    ExplicitDeny,
    /// Nothing (or not everything required) allowed it.
    ImplicitDeny,
}

/// The decision of one policy type on its own, as the IAM policy simulator reports it
/// (`PermissionsBoundaryDecisionDetail`, `OrganizationsDecisionDetail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeDecision {
    /// No policy of this type applies to the request.
    NotApplicable,
    /// A statement of this type allowed the request and none denied it.
    Allowed,
    /// A statement of this type denied the request.
    ExplicitDeny,
    /// Policies of this type apply but none allowed the request.
    ImplicitDeny,
}

/// A statement that took part in the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    /// The id given in [`NamedPolicy::id`].
    pub policy: Arc<str>,
    /// The policy's kind.
    pub kind: PolicyKind,
    /// The statement's `Sid`, if any.
    pub sid: Option<Arc<str>>,
    /// Position of the statement in the policy, from 0.
    pub index: usize,
    /// The statement's effect.
    pub effect: Effect,
}

/// The result of [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed, explicitly denied or implicitly denied.
    pub outcome: Outcome,
    /// For `Allowed`, every `Allow` statement that matched (in any policy type); for
    /// `ExplicitDeny`, every `Deny` statement that matched; empty for `ImplicitDeny`. Grouped
    /// by policy, in the order SCPs, RCPs, resource, identity, boundary, session; treat the
    /// order within a policy as unspecified.
    pub matched: Vec<MatchedStatement>,
    /// Identity-based policies' own decision.
    pub identity: TypeDecision,
    /// The resource-based policy's own decision.
    pub resource: TypeDecision,
    /// The permissions boundary's own decision.
    pub boundary: TypeDecision,
    /// The session policies' own decision.
    pub session: TypeDecision,
    /// The SCPs' decision (every level must allow).
    pub scp: TypeDecision,
    /// The RCPs' decision (every level must allow).
    pub rcp: TypeDecision,
    /// Condition keys (and policy variables) that statements matching the action and resource
    /// looked for but the context did not have, as written in the policies.
    pub missing_context: Vec<String>,
}

impl Decision {
    /// True if the outcome is [`Outcome::Allowed`].
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }
}

/// How directly a resource-based policy names the principal; this decides whether the
/// identity policy, boundary and session policy still have to allow (same account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    /// The principal's account (`123456789012` or `arn:…:root`): the account delegates to
    /// its identity policies.
    Account,
    /// The role ARN of a session, `*`, a service, a provider or a canonical user: not limited
    /// by identity policies, but limited by a boundary and session policies.
    Broad,
    /// The user ARN, the session ARN or the federated-user ARN itself: not limited by the
    /// identity policy, the boundary or the session policies.
    Direct,
}

fn spec_grant(spec: &PrincipalSpec, p: &Principal) -> Option<Grant> {
    if spec.any {
        return Some(Grant::Broad);
    }
    let mut best: Option<Grant> = None;
    let mut take = |g: Grant| best = best.max(Some(g));
    let iam_kind = !matches!(
        p.kind(),
        PrincipalKind::Service | PrincipalKind::Anonymous | PrincipalKind::WebIdentity
    );
    for a in &spec.aws {
        match a {
            AwsPrincipal::Any => take(Grant::Broad),
            AwsPrincipal::Account(acct) => {
                if iam_kind && &**acct == p.account() {
                    take(Grant::Account);
                }
            }
            AwsPrincipal::Arn(arn) => {
                if !iam_kind {
                    continue;
                }
                match p.kind() {
                    PrincipalKind::AssumedRole { role_arn } if **arn == *role_arn => {
                        take(Grant::Broad);
                    }
                    PrincipalKind::FederatedUser {
                        user_arn: Some(user),
                    } if **arn == *user => take(Grant::Broad),
                    PrincipalKind::Role if &**arn == p.arn() => take(Grant::Broad),
                    _ if &**arn == p.arn() => take(Grant::Direct),
                    _ => {}
                }
            }
        }
    }
    match p.kind() {
        PrincipalKind::Service if spec.service.iter().any(|s| &**s == p.arn()) => {
            take(Grant::Broad);
        }
        PrincipalKind::WebIdentity if spec.federated.iter().any(|s| &**s == p.arn()) => {
            take(Grant::Broad);
        }
        _ => {}
    }
    if let Some(c) = p.canonical_user()
        && spec.canonical.iter().any(|s| &**s == c)
    {
        take(Grant::Broad);
    }
    best
}

/// Whether `NotPrincipal` excludes the principal from a statement with `effect`.
///
/// AWS evaluates each identity a principal has (its account, and its user, or its session).
/// A `Deny` applies unless every one of them is listed, so excluding a user takes the user ARN
/// and the account, and a role session takes the session ARN (naming the role is not enough)
/// and the account. An `Allow` ("everyone but") withholds the grant from a principal if any of
/// its identities is listed.
fn not_principal_excludes(spec: &PrincipalSpec, p: &Principal, effect: Effect) -> bool {
    if effect == Effect::Allow {
        return not_principal_names_any(spec, p);
    }
    if spec.any || spec.aws.contains(&AwsPrincipal::Any) {
        return true;
    }
    let arn_listed = |arn: &str| {
        spec.aws
            .iter()
            .any(|a| matches!(a, AwsPrincipal::Arn(x) if &**x == arn))
    };
    let account_listed = spec
        .aws
        .iter()
        .any(|a| matches!(a, AwsPrincipal::Account(x) if &**x == p.account()));
    match p.kind() {
        PrincipalKind::Root => account_listed,
        PrincipalKind::User | PrincipalKind::Role => account_listed && arn_listed(p.arn()),
        PrincipalKind::AssumedRole { .. } | PrincipalKind::FederatedUser { .. } => {
            account_listed && arn_listed(p.arn())
        }
        PrincipalKind::Service => spec.service.iter().any(|s| &**s == p.arn()),
        PrincipalKind::WebIdentity => spec.federated.iter().any(|s| &**s == p.arn()),
        PrincipalKind::Anonymous => p
            .canonical_user()
            .is_some_and(|c| spec.canonical.iter().any(|s| &**s == c)),
    }
}

/// Whether any identity of the principal is listed.
fn not_principal_names_any(spec: &PrincipalSpec, p: &Principal) -> bool {
    if spec.any || spec.aws.contains(&AwsPrincipal::Any) {
        return true;
    }
    let role_arn = match p.kind() {
        PrincipalKind::AssumedRole { role_arn } => Some(role_arn.as_str()),
        _ => None,
    };
    let iam = !matches!(
        p.kind(),
        PrincipalKind::Service | PrincipalKind::Anonymous | PrincipalKind::WebIdentity
    );
    let aws = iam
        && spec.aws.iter().any(|a| match a {
            AwsPrincipal::Any => true,
            AwsPrincipal::Account(x) => &**x == p.account(),
            AwsPrincipal::Arn(x) => &**x == p.arn() || Some(&**x) == role_arn,
        });
    aws || (matches!(p.kind(), PrincipalKind::Service)
        && spec.service.iter().any(|s| &**s == p.arn()))
        || (matches!(p.kind(), PrincipalKind::WebIdentity)
            && spec.federated.iter().any(|s| &**s == p.arn()))
        || p.canonical_user()
            .is_some_and(|c| spec.canonical.iter().any(|s| &**s == c))
}

fn resource_matches(stmt: &Statement, resource: &str, split: &SplitArn<'_>, env: &Env<'_>) -> bool {
    let Some((negated, pats)) = &stmt.resources else {
        return true;
    };
    let any = pats.iter().any(|r| match r {
        ResourcePattern::Arn(p) => p.matches_split(split),
        ResourcePattern::Template(t) => {
            resource.starts_with(t.literal_prefix())
                && t.render(env, true)
                    .is_some_and(|p| crate::pattern::arn_match(&p, resource))
        }
    });
    any != *negated
}

/// What one policy type concluded.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    allow: bool,
    deny: bool,
    grant: Option<Grant>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.allow |= o.allow;
        self.deny |= o.deny;
        self.grant = self.grant.max(o.grant);
    }

    fn type_decision(self) -> TypeDecision {
        if self.deny {
            TypeDecision::ExplicitDeny
        } else if self.allow {
            TypeDecision::Allowed
        } else {
            TypeDecision::ImplicitDeny
        }
    }
}

struct Evaluator<'a, 'r, 's> {
    req: &'r Request<'a>,
    env: Env<'a>,
    /// The action, lowercased and hashed.
    key: ActionKey<'r>,
    /// The resource, split at its first colons.
    resource: SplitArn<'a>,
    has_boundary: bool,
    /// Matching statements, as (policy, statement index); turned into [`MatchedStatement`]s
    /// only for the list the decision reports.
    hits: Vec<(&'s NamedPolicy, u32)>,
}

fn matched(list: &[(&NamedPolicy, u32)], effect: Effect) -> Vec<MatchedStatement> {
    list.iter()
        .filter_map(|&(np, i)| {
            let stmt = np.policy.statements().get(i as usize)?;
            if stmt.effect != effect {
                return None;
            }
            Some(MatchedStatement {
                policy: np.id.clone(),
                kind: np.policy.kind(),
                sid: stmt.sid.clone(),
                index: i as usize,
                effect: stmt.effect,
            })
        })
        .collect()
}

impl<'s> Evaluator<'_, '_, 's> {
    fn policy(&mut self, np: &'s NamedPolicy) -> Tally {
        let mut t = Tally::default();
        let policy = &*np.policy;
        let statements = policy.statements();
        for (i, verified) in policy.candidates(&self.key) {
            let Some(stmt) = statements.get(i as usize) else {
                continue;
            };
            if !verified && !stmt.action_matches(self.req.action) {
                continue;
            }
            if !resource_matches(stmt, self.req.resource, &self.resource, &self.env) {
                continue;
            }
            let grant = match &stmt.principal {
                None => None,
                Some((false, spec)) => match spec_grant(spec, self.req.principal) {
                    Some(g) => Some(g),
                    None => continue,
                },
                Some((true, spec)) => {
                    // A Deny with NotPrincipal always applies to a principal that has a
                    // permissions boundary (documented under permissions boundaries).
                    let boundary_quirk = stmt.effect == Effect::Deny
                        && self.has_boundary
                        && matches!(
                            self.req.principal.kind(),
                            PrincipalKind::User
                                | PrincipalKind::Role
                                | PrincipalKind::AssumedRole { .. }
                        );
                    if !boundary_quirk
                        && not_principal_excludes(spec, self.req.principal, stmt.effect)
                    {
                        continue;
                    }
                    Some(Grant::Broad)
                }
            };
            // Evaluate every condition (no short cut) so missing keys are all reported.
            let mut ok = true;
            for c in &stmt.conditions {
                ok &= c.eval(&self.env);
            }
            if !ok {
                continue;
            }
            match stmt.effect {
                Effect::Allow => {
                    t.allow = true;
                    t.grant = t.grant.max(grant);
                    self.hits.push((np, i));
                }
                Effect::Deny => {
                    t.deny = true;
                    self.hits.push((np, i));
                }
            }
        }
        t
    }

    fn group(&mut self, policies: &'s [NamedPolicy]) -> Tally {
        let mut t = Tally::default();
        for p in policies {
            let r = self.policy(p);
            t.merge(r);
        }
        t
    }

    /// Organization policies: every level must allow.
    fn levels(&mut self, levels: &'s [Vec<NamedPolicy>]) -> TypeDecision {
        let mut all_allow = true;
        let mut deny = false;
        for level in levels {
            let t = self.group(level);
            all_allow &= t.allow;
            deny |= t.deny;
        }
        if deny {
            TypeDecision::ExplicitDeny
        } else if all_allow {
            TypeDecision::Allowed
        } else {
            TypeDecision::ImplicitDeny
        }
    }
}

/// Decides a request with AWS's policy evaluation logic.
///
/// 1. An explicit `Deny` in any applicable policy wins.
/// 2. SCPs (of the principal's account) and RCPs (of the resource's account) must allow at
///    every level of the organization, unless exempt or absent.
/// 3. Same account: an allow in the resource-based policy suffices when it names the user,
///    session or federated-user ARN directly; when it names the session's role ARN, `*`, a
///    service or a provider, the boundary and session policies must also allow; otherwise
///    (nothing, or only the account) identity-based policies must allow, within the boundary
///    and session policies.
/// 4. Cross account (`resource_account` differs from the principal's): the resource-based
///    policy must allow, and so must the identity-based policies, boundary and session
///    policies on the principal's side.
/// 5. Otherwise: implicit deny. The account root user is allowed everything in its own
///    account that nothing denies and organization policies allow.
pub fn authorize(set: &PolicySet, req: &Request<'_>) -> Decision {
    let principal = req.principal;
    let kind = principal.kind();
    // The action, lowercased once (on the stack unless it is absurdly long).
    let mut buf = [0u8; 128];
    let heap: Vec<u8>;
    let action: &[u8] = match buf.get_mut(..req.action.len()) {
        Some(b) => {
            b.copy_from_slice(req.action.as_bytes());
            b.make_ascii_lowercase();
            b
        }
        None => {
            heap = req.action.as_bytes().to_ascii_lowercase();
            &heap
        }
    };
    let (service, name) = match action.iter().position(|&b| b == b':') {
        Some(c) => (
            action.get(..c).unwrap_or_default(),
            action.get(c + 1..).unwrap_or_default(),
        ),
        None => (action, &[][..]),
    };
    let mut ev = Evaluator {
        req,
        env: Env::new(req.context, principal),
        key: ActionKey::new(service, name),
        resource: SplitArn::new(req.resource),
        has_boundary: set.boundary.is_some(),
        hits: Vec::new(),
    };

    let iam_identity = matches!(
        kind,
        PrincipalKind::User
            | PrincipalKind::Role
            | PrincipalKind::AssumedRole { .. }
            | PrincipalKind::FederatedUser { .. }
    );
    let scp_applies = !set.scps.is_empty()
        && !set.scps_exempt
        && (iam_identity || matches!(kind, PrincipalKind::Root));
    // RCPs apply to every caller, AWS service principals included (data-perimeter RCPs
    // exempt them with aws:PrincipalIsAWSService).
    let rcp_applies = !set.rcps.is_empty() && !set.rcps_exempt;

    let scp = if scp_applies {
        ev.levels(&set.scps)
    } else {
        TypeDecision::NotApplicable
    };
    let rcp = if rcp_applies {
        ev.levels(&set.rcps)
    } else {
        TypeDecision::NotApplicable
    };
    let resource_t = set.resource.as_ref().map(|p| ev.policy(p));
    let identity_t = if iam_identity {
        Some(ev.group(&set.identity))
    } else {
        None
    };
    let boundary_t = if iam_identity {
        set.boundary.as_ref().map(|p| ev.policy(p))
    } else {
        None
    };
    let session_t = if iam_identity && !set.session.is_empty() {
        Some(ev.group(&set.session))
    } else {
        None
    };

    let td = |t: Option<Tally>| t.map_or(TypeDecision::NotApplicable, Tally::type_decision);
    let identity = td(identity_t);
    let resource = td(resource_t);
    let boundary = td(boundary_t);
    let session = td(session_t);

    let any_deny =
        [scp, rcp, identity, resource, boundary, session].contains(&TypeDecision::ExplicitDeny);
    let outcome = if any_deny {
        Outcome::ExplicitDeny
    } else if scp == TypeDecision::ImplicitDeny || rcp == TypeDecision::ImplicitDeny {
        Outcome::ImplicitDeny
    } else {
        let grant = resource_t.filter(|t| t.allow).and_then(|t| t.grant);
        let boundary_ok = boundary_t.is_none_or(|t| t.allow);
        // A federated-user session (GetFederationToken) has no permissions without a
        // session policy; a role session without one keeps the role's permissions.
        let session_ok = match (kind, session_t) {
            (PrincipalKind::FederatedUser { .. }, None) => false,
            (_, t) => t.is_none_or(|t| t.allow),
        };
        let identity_ok = identity_t.is_some_and(|t| t.allow);
        // Role trust policies and KMS key policies must allow by themselves: an
        // identity-based allow alone is not enough, even in the same account.
        let resource_required = set
            .resource
            .as_ref()
            .is_some_and(|r| r.policy.kind() == PolicyKind::Trust)
            || ev.key.service == b"kms";
        let cross = match req.resource_account {
            Some(acct) => acct != principal.account(),
            None => false,
        };
        let allowed = match kind {
            PrincipalKind::Root => !(cross || resource_required) || grant.is_some(),
            PrincipalKind::Service | PrincipalKind::Anonymous | PrincipalKind::WebIdentity => {
                grant.is_some()
            }
            _ if cross || resource_required => match grant {
                Some(Grant::Direct) if !cross => true,
                Some(Grant::Broad) if !cross => boundary_ok && session_ok,
                Some(_) => identity_ok && boundary_ok && session_ok,
                None => false,
            },
            _ => match grant {
                Some(Grant::Direct) => true,
                Some(Grant::Broad) => boundary_ok && session_ok,
                Some(Grant::Account) | None => identity_ok && boundary_ok && session_ok,
            },
        };
        if allowed {
            Outcome::Allowed
        } else {
            Outcome::ImplicitDeny
        }
    };

    let matched = match outcome {
        Outcome::Allowed => matched(&ev.hits, Effect::Allow),
        Outcome::ExplicitDeny => matched(&ev.hits, Effect::Deny),
        Outcome::ImplicitDeny => Vec::new(),
    };
    Decision {
        outcome,
        matched,
        identity,
        resource,
        boundary,
        session,
        scp,
        rcp,
        missing_context: ev.env.missing.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111122223333";

    fn named(id: &str, kind: PolicyKind, doc: &str) -> NamedPolicy {
        NamedPolicy::new(id, Policy::parse(doc, kind).unwrap())
    }

    fn identity(id: &str, doc: &str) -> NamedPolicy {
        named(id, PolicyKind::Identity, doc)
    }

    const ALLOW_GET: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Get","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    const ALLOW_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#;

    fn decide(set: &PolicySet, p: &Principal, account: Option<&str>, ctx: &Context) -> Decision {
        authorize(
            set,
            &Request {
                principal: p,
                action: "s3:GetObject",
                resource: "arn:aws:s3:::b/k",
                resource_account: account,
                context: ctx,
            },
        )
    }

    fn alice() -> Principal {
        Principal::user(format!("arn:aws:iam::{A}:user/alice"))
    }

    #[test]
    fn type_decisions_are_reported() {
        let set = PolicySet {
            identity: vec![identity("p", ALLOW_GET)],
            boundary: Some(named("b", PolicyKind::PermissionsBoundary, ALLOW_EC2)),
            scps: vec![vec![named("scp", PolicyKind::ServiceControl, ALLOW_GET)]],
            ..PolicySet::default()
        };
        let d = decide(&set, &alice(), None, &Context::new());
        assert_eq!(d.outcome, Outcome::ImplicitDeny);
        assert!(d.matched.is_empty());
        assert_eq!(d.identity, TypeDecision::Allowed);
        assert_eq!(d.boundary, TypeDecision::ImplicitDeny);
        assert_eq!(d.scp, TypeDecision::Allowed);
        assert_eq!(d.resource, TypeDecision::NotApplicable);
        assert_eq!(d.session, TypeDecision::NotApplicable);
        assert_eq!(d.rcp, TypeDecision::NotApplicable);
    }

    #[test]
    fn matched_statements_carry_policy_sid_index_kind() {
        let set = PolicySet {
            identity: vec![identity("p", ALLOW_GET)],
            ..PolicySet::default()
        };
        let d = decide(&set, &alice(), None, &Context::new());
        assert!(d.is_allowed());
        assert_eq!(
            d.matched,
            [MatchedStatement {
                policy: "p".into(),
                kind: PolicyKind::Identity,
                sid: Some("Get".into()),
                index: 0,
                effect: Effect::Allow,
            }]
        );
    }

    #[test]
    fn missing_context_lists_keys_of_matching_statements_only() {
        let set = PolicySet {
            identity: vec![identity(
                "p",
                r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},
                {"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#,
            )],
            ..PolicySet::default()
        };
        let d = decide(&set, &alice(), None, &Context::new());
        assert_eq!(d.outcome, Outcome::ImplicitDeny);
        assert_eq!(d.missing_context, ["aws:MultiFactorAuthPresent"]);
        let ctx = Context::new().with("aws:multifactorauthpresent", "true");
        let d = decide(&set, &alice(), None, &ctx);
        assert!(d.is_allowed());
        assert!(d.missing_context.is_empty());
    }

    #[test]
    fn implied_principal_keys_feed_conditions() {
        let set = PolicySet {
            identity: vec![identity(
                "p",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*",
                "Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333","aws:PrincipalType":"User"},
                             "ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/al*"}}}]}"#,
            )],
            ..PolicySet::default()
        };
        assert!(decide(&set, &alice(), None, &Context::new()).is_allowed());
    }

    #[test]
    fn cross_account_needs_resource_and_identity() {
        let bucket = named(
            "r",
            PolicyKind::Resource,
            &format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{A}"}},"Action":"s3:*","Resource":"*"}}]}}"#
            ),
        );
        let ctx = Context::new();
        let mut set = PolicySet {
            resource: Some(bucket),
            ..PolicySet::default()
        };
        assert_eq!(
            decide(&set, &alice(), Some("444455556666"), &ctx).outcome,
            Outcome::ImplicitDeny
        );
        set.identity.push(identity("p", ALLOW_GET));
        let d = decide(&set, &alice(), Some("444455556666"), &ctx);
        assert!(d.is_allowed());
        assert_eq!(d.matched.len(), 2);
        // A principal of another account is not matched by the account principal.
        let bob = Principal::user("arn:aws:iam::999999999999:user/bob");
        assert_eq!(
            decide(&set, &bob, Some("444455556666"), &ctx).outcome,
            Outcome::ImplicitDeny
        );
    }

    #[test]
    fn explicit_deny_lists_every_denying_statement() {
        let deny = r#"{"Statement":[{"Sid":"D1","Effect":"Deny","Action":"s3:*","Resource":"*"},{"Sid":"D2","Effect":"Deny","NotAction":"iam:*","Resource":"*"}]}"#;
        let set = PolicySet {
            identity: vec![identity("p", ALLOW_GET), identity("d", deny)],
            ..PolicySet::default()
        };
        let d = decide(&set, &alice(), None, &Context::new());
        assert_eq!(d.outcome, Outcome::ExplicitDeny);
        let sids: Vec<_> = d
            .matched
            .iter()
            .map(|m| m.sid.as_deref().unwrap())
            .collect();
        assert_eq!(sids, ["D1", "D2"]);
        assert_eq!(d.identity, TypeDecision::ExplicitDeny);
    }
}
