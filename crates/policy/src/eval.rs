//! The decision: AWS's policy evaluation logic over every policy type.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::pattern::SplitArn;
use crate::policy::{
    ActionKey, AwsPrincipal, Effect, Need, Policy, PolicyKind, PrincipalSpec, ResourcePattern,
    Statement,
};
use crate::request::{Context, Principal, PrincipalKind, Request};

/// What evaluation reads while deciding: the context, keys implied by the principal, and the
/// keys it looked for but did not find.
pub(crate) struct Env<'a> {
    ctx: &'a Context,
    principal: &'a Principal,
    /// Missing keys as first written, each with the position of its first lookup: (ordinal
    /// of the statement, lookups noted before it in that statement).
    missing: RefCell<Vec<((u64, u32), String)>>,
    /// The statement being evaluated and the number of keys it noted so far.
    at: Cell<(u64, u32)>,
    /// Context entries found recently (statements look up the same few keys over and over;
    /// comparing a few short keys costs less than hashing one).
    recent_keys: [Cell<&'a str>; RECENT],
    recent_values: [Cell<&'a [String]>; RECENT],
    next: Cell<usize>,
}

/// How many context entries [`Env`] remembers.
const RECENT: usize = 8;

impl<'a> Env<'a> {
    pub(crate) fn new(ctx: &'a Context, principal: &'a Principal) -> Self {
        Env {
            ctx,
            principal,
            missing: RefCell::new(Vec::new()),
            at: Cell::new((0, 0)),
            recent_keys: Default::default(),
            recent_values: Default::default(),
            next: Cell::new(0),
        }
    }

    /// Values of a lowercased key.
    pub(crate) fn get(&self, key_lower: &str) -> Option<&'a [String]> {
        let key = key_lower.as_bytes();
        for (k, v) in self.recent_keys.iter().zip(&self.recent_values) {
            let k = k.get().as_bytes();
            // Stored keys are never empty (an empty slot never matches a real key).
            if !k.is_empty() && crate::pattern::bytes_eq(k, key) {
                return Some(v.get());
            }
        }
        match self.ctx.entry_lower(key_lower) {
            Some((k, v)) => {
                let next = self.next.get();
                if let (Some(ks), Some(vs)) = (
                    self.recent_keys.get(next % RECENT),
                    self.recent_values.get(next % RECENT),
                ) {
                    ks.set(k);
                    vs.set(v);
                }
                self.next.set(next.wrapping_add(1));
                Some(v)
            }
            None => self.principal.implied_key(key_lower),
        }
    }

    /// Starts evaluating the statement at `ordinal` (its position in the policy set), so
    /// missing keys are reported in statement order whatever order statements are visited in.
    pub(crate) fn begin(&self, ordinal: u64) {
        self.at.set((ordinal, 0));
    }

    pub(crate) fn note_missing(&self, key: &str) {
        let pos = self.at.get();
        self.at.set((pos.0, pos.1.saturating_add(1)));
        let mut m = self.missing.borrow_mut();
        match m.iter_mut().find(|(_, k)| k.eq_ignore_ascii_case(key)) {
            Some(entry) if pos < entry.0 => *entry = (pos, key.to_string()),
            Some(_) => {}
            None => m.push((pos, key.to_string())),
        }
    }

    /// Whether every lookup in `needs` finds what it needs, so evaluating statements that
    /// only look up these keys cannot report a missing key.
    pub(crate) fn satisfies(&self, needs: &[(Box<str>, Need)]) -> bool {
        needs.iter().all(|(key, need)| match (self.get(key), need) {
            (Some(v), Need::NonEmpty) => !v.is_empty(),
            (Some(v), Need::One) => v.len() == 1,
            (None, _) => false,
        })
    }

    /// The missing keys, in the order of the statements (and lookups) that first noted them.
    fn into_missing(self) -> Vec<String> {
        let mut m = self.missing.into_inner();
        m.sort_by_key(|(pos, _)| *pos);
        m.into_iter().map(|(_, k)| k).collect()
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
pub(crate) enum Grant {
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

pub(crate) fn resource_matches(
    stmt: &Statement,
    resource: &str,
    split: &SplitArn<'_>,
    env: &Env<'_>,
) -> bool {
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
pub(crate) struct Tally {
    pub allow: bool,
    pub deny: bool,
    grant: Option<Grant>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.allow |= o.allow;
        self.deny |= o.deny;
        self.grant = self.grant.max(o.grant);
    }

    /// Records a matching statement.
    pub(crate) fn add(&mut self, effect: Effect, grant: Option<Grant>) {
        match effect {
            Effect::Allow => {
                self.allow = true;
                self.grant = self.grant.max(grant);
            }
            Effect::Deny => self.deny = true,
        }
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

/// Matching statements as ordinals (`policy position << 32 | statement index`), kept on the
/// stack unless there are many; turned into [`MatchedStatement`]s only for the list the
/// decision reports.
pub(crate) struct Hits {
    inline: [u64; 32],
    len: usize,
    spill: Vec<u64>,
    /// How many hits are `Deny` statements.
    denies: usize,
}

impl Hits {
    pub(crate) fn new() -> Self {
        Hits {
            inline: [0; 32],
            len: 0,
            spill: Vec::new(),
            denies: 0,
        }
    }

    pub(crate) fn push(&mut self, ordinal: u64, effect: Effect) {
        self.denies += usize::from(effect == Effect::Deny);
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = ordinal;
                self.len += 1;
            }
            None => {
                if self.spill.is_empty() {
                    self.spill.reserve(self.inline.len());
                }
                self.spill.push(ordinal);
            }
        }
    }

    /// How many hits are statements with `effect`.
    fn count(&self, effect: Effect) -> usize {
        match effect {
            Effect::Deny => self.denies,
            Effect::Allow => self.len + self.spill.len() - self.denies,
        }
    }

    /// The hits in policy-set order.
    fn sorted(&mut self) -> impl Iterator<Item = u64> + '_ {
        let inline = self.inline.get_mut(..self.len).unwrap_or_default();
        inline.sort_unstable();
        self.spill.sort_unstable();
        // Merge the two sorted runs.
        let mut a = inline.iter().copied().peekable();
        let mut b = self.spill.iter().copied().peekable();
        std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if y < x => b.next(),
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        })
    }
}

/// The ordinal of statement `index` of the policy at `position` in [`policy_at`]'s order.
pub(crate) fn ordinal(position: usize, index: u32) -> u64 {
    ((position as u64) << 32) | u64::from(index)
}

/// The policy at `position` when the set is listed in decision order: SCPs level by level,
/// RCPs level by level, the resource policy, identity policies, the boundary, session
/// policies.
pub(crate) fn policy_at(set: &PolicySet, position: usize) -> Option<&NamedPolicy> {
    let mut n = position;
    for level in set.scps.iter().chain(&set.rcps) {
        match level.get(n) {
            Some(p) => return Some(p),
            None => n -= level.len(),
        }
    }
    let groups: [&[NamedPolicy]; 4] = [
        set.resource.as_slice(),
        &set.identity,
        set.boundary.as_slice(),
        &set.session,
    ];
    for group in groups {
        match group.get(n) {
            Some(p) => return Some(p),
            None => n -= group.len(),
        }
    }
    None
}

/// Where each policy type starts in [`policy_at`]'s order.
struct Offsets {
    resource: usize,
    identity: usize,
    boundary: usize,
    session: usize,
}

impl Offsets {
    fn new(set: &PolicySet) -> Self {
        let orgs: usize = set.scps.iter().chain(&set.rcps).map(Vec::len).sum();
        let resource = orgs;
        let identity = resource + usize::from(set.resource.is_some());
        let boundary = identity + set.identity.len();
        let session = boundary + usize::from(set.boundary.is_some());
        Offsets {
            resource,
            identity,
            boundary,
            session,
        }
    }
}

/// The lowercased request action, on the stack unless it is absurdly long.
pub(crate) fn with_action_key<R>(action: &str, f: impl FnOnce(ActionKey<'_>) -> R) -> R {
    let mut buf = [0u8; 128];
    let heap: Vec<u8>;
    let action: &[u8] = match buf.get_mut(..action.len()) {
        Some(b) => {
            b.copy_from_slice(action.as_bytes());
            b.make_ascii_lowercase();
            b
        }
        None => {
            heap = action.as_bytes().to_ascii_lowercase();
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
    f(ActionKey::new(service, name))
}

/// Which policy types apply to a request, from the principal and the set's exemptions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applies {
    /// Identity-based policies, the boundary and session policies apply.
    pub iam_identity: bool,
    pub scp: bool,
    pub rcp: bool,
}

impl Applies {
    pub(crate) fn new(set: &PolicySet, kind: &PrincipalKind) -> Self {
        let iam_identity = matches!(
            kind,
            PrincipalKind::User
                | PrincipalKind::Role
                | PrincipalKind::AssumedRole { .. }
                | PrincipalKind::FederatedUser { .. }
        );
        Applies {
            iam_identity,
            scp: !set.scps.is_empty()
                && !set.scps_exempt
                && (iam_identity || matches!(kind, PrincipalKind::Root)),
            // RCPs apply to every caller, AWS service principals included (data-perimeter
            // RCPs exempt them with aws:PrincipalIsAWSService).
            rcp: !set.rcps.is_empty() && !set.rcps_exempt,
        }
    }
}

/// Evaluates single statements against one request.
pub(crate) struct Evaluator<'a, 'r> {
    req: &'r Request<'a>,
    pub env: Env<'a>,
    /// The action, lowercased and hashed.
    pub key: ActionKey<'r>,
    /// The resource, split at its first colons.
    resource: SplitArn<'a>,
    has_boundary: bool,
    pub hits: Hits,
}

impl<'a, 'r> Evaluator<'a, 'r> {
    pub(crate) fn new(set: &PolicySet, req: &'r Request<'a>, key: ActionKey<'r>) -> Self {
        Evaluator {
            req,
            env: Env::new(req.context, req.principal),
            key,
            resource: SplitArn::new(req.resource),
            has_boundary: set.boundary.is_some(),
            hits: Hits::new(),
        }
    }

    /// Whether `stmt` applies to the request (its action, resource, principal and conditions
    /// match), with the grant of its principal. `verified`: the action is known to match.
    /// Call [`Env::begin`] first.
    pub(crate) fn check(&self, stmt: &Statement, verified: bool) -> Option<Option<Grant>> {
        let resource = self.req.resource.as_bytes();
        if !crate::pattern::starts_with(resource, &stmt.resource_prefix)
            || !crate::pattern::ends_with(resource, &stmt.resource_suffix)
        {
            return None;
        }
        if !verified && !stmt.action_matches(self.req.action) {
            return None;
        }
        if !resource_matches(stmt, self.req.resource, &self.resource, &self.env) {
            return None;
        }
        let grant = match &stmt.principal {
            None => None,
            Some((false, spec)) => Some(spec_grant(spec, self.req.principal)?),
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
                if !boundary_quirk && not_principal_excludes(spec, self.req.principal, stmt.effect)
                {
                    return None;
                }
                Some(Grant::Broad)
            }
        };
        // Evaluate every condition (no short cut) so missing keys are all reported.
        let mut ok = true;
        for c in &stmt.conditions {
            ok &= c.eval(&self.env);
        }
        ok.then_some(grant)
    }

    /// Evaluates one policy at `position` (in [`policy_at`]'s order).
    fn policy(&mut self, np: &NamedPolicy, position: usize) -> Tally {
        let mut t = Tally::default();
        let policy = &*np.policy;
        let statements = policy.statements();
        for (i, verified) in policy.candidates(&self.key) {
            let Some(stmt) = statements.get(i as usize) else {
                continue;
            };
            self.env.begin(ordinal(position, i));
            if let Some(grant) = self.check(stmt, verified) {
                t.add(stmt.effect, grant);
                self.hits.push(ordinal(position, i), stmt.effect);
            }
        }
        t
    }

    fn group(&mut self, policies: &[NamedPolicy], position: usize) -> Tally {
        let mut t = Tally::default();
        for (i, p) in policies.iter().enumerate() {
            let r = self.policy(p, position + i);
            t.merge(r);
        }
        t
    }

    /// Organization policies: every level must allow.
    fn levels(&mut self, levels: &[Vec<NamedPolicy>], mut position: usize) -> TypeDecision {
        let mut all_allow = true;
        let mut deny = false;
        for level in levels {
            let t = self.group(level, position);
            position += level.len();
            all_allow &= t.allow;
            deny |= t.deny;
        }
        org_decision(deny, all_allow)
    }
}

/// The decision of SCPs or RCPs: every level must allow.
pub(crate) fn org_decision(deny: bool, all_levels_allow: bool) -> TypeDecision {
    if deny {
        TypeDecision::ExplicitDeny
    } else if all_levels_allow {
        TypeDecision::Allowed
    } else {
        TypeDecision::ImplicitDeny
    }
}

/// What each policy type concluded (None: the type does not apply).
pub(crate) struct Tallies {
    pub scp: TypeDecision,
    pub rcp: TypeDecision,
    pub resource: Option<Tally>,
    pub identity: Option<Tally>,
    pub boundary: Option<Tally>,
    pub session: Option<Tally>,
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
///
/// This visits every policy of the set (each through its own index). To decide many
/// requests against the same set, compile it once with
/// [`CompiledPolicySet`](crate::CompiledPolicySet), whose decisions are the same.
pub fn authorize(set: &PolicySet, req: &Request<'_>) -> Decision {
    with_action_key(req.action, |key| {
        let mut ev = Evaluator::new(set, req, key);
        let applies = Applies::new(set, req.principal.kind());
        let at = Offsets::new(set);
        let scp = if applies.scp {
            ev.levels(&set.scps, 0)
        } else {
            TypeDecision::NotApplicable
        };
        let rcp = if applies.rcp {
            let scp_len: usize = set.scps.iter().map(Vec::len).sum();
            ev.levels(&set.rcps, scp_len)
        } else {
            TypeDecision::NotApplicable
        };
        let resource = set.resource.as_ref().map(|p| ev.policy(p, at.resource));
        let identity = applies
            .iam_identity
            .then(|| ev.group(&set.identity, at.identity));
        let boundary = if applies.iam_identity {
            set.boundary.as_ref().map(|p| ev.policy(p, at.boundary))
        } else {
            None
        };
        let session = if applies.iam_identity && !set.session.is_empty() {
            Some(ev.group(&set.session, at.session))
        } else {
            None
        };
        let tallies = Tallies {
            scp,
            rcp,
            resource,
            identity,
            boundary,
            session,
        };
        conclude(set, req, ev, tallies)
    })
}

/// Combines the types' conclusions into the decision.
pub(crate) fn conclude(
    set: &PolicySet,
    req: &Request<'_>,
    mut ev: Evaluator<'_, '_>,
    t: Tallies,
) -> Decision {
    let principal = req.principal;
    let kind = principal.kind();
    let Tallies {
        scp,
        rcp,
        resource: resource_t,
        identity: identity_t,
        boundary: boundary_t,
        session: session_t,
    } = t;
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
            || crate::pattern::bytes_eq(ev.key.service, b"kms");
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

    let effect = match outcome {
        Outcome::Allowed => Some(Effect::Allow),
        Outcome::ExplicitDeny => Some(Effect::Deny),
        Outcome::ImplicitDeny => None,
    };
    let mut matched = Vec::new();
    if let Some(effect) = effect {
        matched.reserve_exact(ev.hits.count(effect));
        for o in ev.hits.sorted() {
            let (position, index) = ((o >> 32) as usize, o as u32);
            let Some(np) = policy_at(set, position) else {
                continue;
            };
            let Some(stmt) = np.policy.statements().get(index as usize) else {
                continue;
            };
            if stmt.effect == effect {
                matched.push(MatchedStatement {
                    policy: np.id.clone(),
                    kind: np.policy.kind(),
                    sid: stmt.sid.clone(),
                    index: index as usize,
                    effect,
                });
            }
        }
    }
    Decision {
        outcome,
        matched,
        identity,
        resource,
        boundary,
        session,
        scp,
        rcp,
        missing_context: ev.env.into_missing(),
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
