//! Authorization: the rule language handlers state their needs in ([`Access`],
//! [`Permission`]), the one policy gatherer, the caches of compiled policies, and the decision
//! of every call.
//!
//! The root user may do everything in its own account. Any other principal is allowed what
//! the policy engine allows given the policies [`gather`] collects for it (the same set the
//! simulator shows), with the request's global condition keys plus the operation's own.
//!
//! Caches here hold immutable content only: a compiled document is keyed by its text, and a
//! principal's compiled set by the principal's id and `policies_rev`, a counter bumped in the
//! same transaction as every change to its policies. The principal's record is read on every
//! request, so a change made through any process that shares the store is in force for the
//! next request everywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use gatehouse_policy::{
    CompiledPolicySet, Context, NamedPolicy, Outcome, Policy, PolicyKind, PolicySet, Request,
    TypeDecision,
};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_store::Txn;
use gatehouse_types::format_iso8601;
use gatehouse_types::sharded::Sharded;

use crate::authorization_messages::Denial;
use crate::errors::Result;
use crate::iam::{default_document, policy_by_arn, policy_by_id};
use crate::model::aws_policies::AWS_ACCOUNT;
use crate::model::entity::{self, Entity};
use crate::model::records::{
    ACCESS_KEYS, AccessKeyRecord, GroupRecord, INLINE_POLICIES, InlinePolicyRecord, KeyStatus,
    ManagedPolicyRecord, ROOT_OWNER, Records, RoleRecord, SESSIONS, SessionRecord, UserRecord,
    prefix,
};
use crate::{AssumedRole, FederatedUser, Gatehouse, Principal, RequestContext};

/// The service whose API an operation belongs to; it names the action's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
}

/// One permission a call needs: an action on a resource, with the condition keys the
/// operation adds to the request's global ones.
pub struct Permission {
    pub action: &'static str,
    pub resource: String,
    pub context: Vec<(String, Vec<String>)>,
    /// The resource's own policy, decided with the caller's (a role's trust policy for
    /// `sts:AssumeRole`), and the account the resource belongs to.
    pub resource_policy: Option<ResourcePolicy>,
}

/// A resource-based policy a permission is decided with.
#[derive(Clone)]
pub struct ResourcePolicy {
    pub document: String,
    pub kind: PolicyKind,
    pub account: String,
}

/// What a call needs to be allowed.
pub enum Access {
    /// Every one of these permissions.
    Check(Vec<Permission>),
    /// Nothing: AWS lets any authenticated caller do this. The text says why.
    Exempt(&'static str),
}

impl Access {
    /// The operation's own action on one resource.
    pub fn to(action: &'static str, resource: impl Into<String>) -> Self {
        Access::Check(vec![Permission {
            action,
            resource: resource.into(),
            context: Vec::new(),
            resource_policy: None,
        }])
    }

    /// An action on a resource whose own policy decides too (`sts:AssumeRole` and the role's
    /// trust policy), possibly in another account than the caller's.
    pub fn under_resource_policy(
        action: &'static str,
        resource: impl Into<String>,
        policy: ResourcePolicy,
        context: Vec<(String, Vec<String>)>,
    ) -> Self {
        Access::Check(vec![Permission {
            action,
            resource: resource.into(),
            context,
            resource_policy: Some(policy),
        }])
    }

    /// Another action decided like the first permission (on its resource, with its resource
    /// policy and condition keys): `sts:TagSession` beside `sts:AssumeRole`.
    pub fn and_alike(mut self, action: &'static str) -> Self {
        if let Access::Check(checks) = &mut self
            && let Some(first) = checks.first()
        {
            let alike = Permission {
                action,
                resource: first.resource.clone(),
                context: first.context.clone(),
                resource_policy: first.resource_policy.clone(),
            };
            checks.push(alike);
        }
        self
    }

    /// Another permission the call needs as well (such as the target of a move).
    pub fn and(mut self, action: &'static str, resource: impl Into<String>) -> Self {
        if let Access::Check(checks) = &mut self {
            checks.push(Permission {
                action,
                resource: resource.into(),
                context: Vec::new(),
                resource_policy: None,
            });
        }
        self
    }

    /// Another permission with condition keys of its own (such as `iam:PassRole` with
    /// `iam:PassedToService`).
    pub fn and_with(
        mut self,
        action: &'static str,
        resource: impl Into<String>,
        context: Vec<(String, Vec<String>)>,
    ) -> Self {
        if let Access::Check(checks) = &mut self {
            checks.push(Permission {
                action,
                resource: resource.into(),
                context,
                resource_policy: None,
            });
        }
        self
    }

    /// A condition key every permission of this call is decided with.
    pub fn with(mut self, key: impl Into<String>, values: Vec<String>) -> Self {
        let key = key.into();
        if let Access::Check(checks) = &mut self {
            for check in checks.iter_mut() {
                check.context.push((key.clone(), values.clone()));
            }
        }
        self
    }

    /// `aws:RequestTag/*` and `aws:TagKeys` for tags a call sets.
    pub fn with_request_tags(mut self, tags: &[(String, String)]) -> Self {
        if tags.is_empty() {
            return self;
        }
        for (key, value) in tags {
            self = self.with(format!("aws:RequestTag/{key}"), vec![value.clone()]);
        }
        self.with("aws:TagKeys", tags.iter().map(|(k, _)| k.clone()).collect())
    }

    /// `aws:ResourceTag/*` for the tags of the resource a call acts on.
    pub fn with_resource_tags(mut self, tags: &[(String, String)]) -> Self {
        for (key, value) in tags {
            self = self.with(format!("aws:ResourceTag/{key}"), vec![value.clone()]);
        }
        self
    }

    pub(crate) fn add_to(context: &mut Context, extra: &[(String, Vec<String>)]) {
        for (key, values) in extra {
            context.set(key, values.iter().cloned());
        }
    }
}

/// Parses a policy document as IAM does on upload, with AWS's error code.
pub(crate) fn parse_policy(document: &str, kind: PolicyKind) -> Result<Policy> {
    Policy::parse(document, kind)
        .map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.message()).into())
}

/// Proof that a call was authorized. Only this module can make one, and a handler's `run`
/// needs one.
pub struct Authorized {
    _private: (),
}

/// Why a request was refused, in the words AWS ends its AccessDenied messages with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenialReason {
    NoIdentityPolicyAllows,
    ExplicitDenyInIdentityPolicy,
    NoBoundaryAllows,
    ExplicitDenyInBoundary,
    NoSessionPolicyAllows,
    ExplicitDenyInSessionPolicy,
}

/// Where a gathered policy comes from, as the simulator reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicySource {
    UserInline,
    /// An inline policy of a role.
    RoleInline,
    /// An inline policy of one of the user's groups.
    GroupInline,
    /// A customer managed policy attached to the principal.
    CustomerManaged,
    /// An AWS managed policy attached to the principal.
    AwsManaged,
    Boundary,
    /// A session policy of a role session.
    Session,
}

impl PolicySource {
    fn managed(policy: &ManagedPolicyRecord) -> Self {
        if policy.account == AWS_ACCOUNT {
            PolicySource::AwsManaged
        } else {
            PolicySource::CustomerManaged
        }
    }
}

/// One policy that applies to a principal.
pub struct GatheredPolicy {
    /// The id AWS reports for it (an inline policy's name, a managed policy's ARN).
    pub id: String,
    pub source: PolicySource,
    pub document: String,
}

/// Every policy that applies to a principal: the one gatherer, used by enforcement and by
/// `SimulatePrincipalPolicy` alike.
pub struct GatheredPolicies {
    /// Identity-based: the principal's inline and attached policies and its groups'.
    pub identity: Vec<GatheredPolicy>,
    pub boundary: Option<GatheredPolicy>,
    /// Session policies (inline and managed) of a temporary session.
    pub session: Vec<GatheredPolicy>,
}

/// The root user's permissions, as the identity side of a federated user it made: everything
/// (what the session policies allow is what the federated user may do).
const ROOT_ALLOWS_EVERYTHING: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// What a boundary that names a policy Gatehouse does not hold (an AWS managed policy, until
/// the catalogue arrives) allows: nothing. A boundary that cannot be read must not be ignored.
const UNREADABLE_BOUNDARY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"*","Resource":"*"}]}"#;

/// What the gatherer reads of a principal (or a group): where its own inline policies are,
/// what is attached to it, its groups and its boundary.
pub struct Holder<'a> {
    pub account: &'a str,
    pub id: &'a str,
    pub inline_source: PolicySource,
    pub attached: &'a [String],
    pub groups: &'a [String],
    pub boundary: Option<&'a str>,
}

impl<'a> Holder<'a> {
    pub fn user(user: &'a UserRecord) -> Self {
        Holder {
            account: &user.account,
            id: &user.id,
            inline_source: PolicySource::UserInline,
            attached: &user.attached_policies,
            groups: &user.groups,
            boundary: user.permissions_boundary.as_deref(),
        }
    }

    pub fn role(role: &'a RoleRecord) -> Self {
        Holder {
            account: &role.account,
            id: &role.id,
            inline_source: PolicySource::RoleInline,
            attached: &role.attached_policies,
            groups: &[],
            boundary: role.permissions_boundary.as_deref(),
        }
    }

    pub fn group(group: &'a GroupRecord) -> Self {
        Holder {
            account: &group.account,
            id: &group.id,
            inline_source: PolicySource::GroupInline,
            attached: &group.attached_policies,
            groups: &[],
            boundary: None,
        }
    }
}

/// Collects the policies that apply to `user`, reading them in transaction `t`.
pub fn gather(t: &mut dyn Txn, user: &UserRecord) -> Result<GatheredPolicies> {
    gather_for(t, &Holder::user(user))
}

/// Collects the policies that apply to `holder`: its inline and attached policies, its
/// groups' inline and attached policies, and its boundary.
pub fn gather_for(t: &mut dyn Txn, holder: &Holder<'_>) -> Result<GatheredPolicies> {
    let mut identity = Vec::new();
    own_policies(
        t,
        holder.account,
        holder.id,
        holder.inline_source,
        holder.attached,
        &mut identity,
    )?;
    for group_id in holder.groups {
        let Some(group) = entity::by_id::<GroupRecord>(t, holder.account, group_id)? else {
            continue;
        };
        own_policies(
            t,
            &group.account,
            &group.id,
            PolicySource::GroupInline,
            &group.attached_policies,
            &mut identity,
        )?;
    }
    let boundary = match holder.boundary {
        Some(arn) => Some(GatheredPolicy {
            id: arn.to_string(),
            source: PolicySource::Boundary,
            document: match policy_by_arn(t, holder.account, arn)? {
                Some(policy) => default_document(t, &policy)?,
                None => UNREADABLE_BOUNDARY.to_string(),
            },
        }),
        None => None,
    };
    Ok(GatheredPolicies {
        identity,
        boundary,
        session: Vec::new(),
    })
}

/// A holder's inline policies (as `inline_source`) and attached managed policies.
fn own_policies(
    t: &mut dyn Txn,
    account: &str,
    id: &str,
    inline_source: PolicySource,
    attached: &[String],
    out: &mut Vec<GatheredPolicy>,
) -> Result<()> {
    let inline: Vec<(String, InlinePolicyRecord)> =
        t.scan_records(INLINE_POLICIES, &prefix(account, &[id]), None, usize::MAX)?;
    out.extend(inline.into_iter().map(|(_, p)| GatheredPolicy {
        id: p.name,
        source: inline_source,
        document: p.document,
    }));
    for policy_id in attached {
        // Attached policies cannot be deleted, so each one is there.
        if let Some(policy) = policy_by_id(t, account, policy_id)? {
            out.push(GatheredPolicy {
                id: policy.arn(),
                source: PolicySource::managed(&policy),
                document: default_document(t, &policy)?,
            });
        }
    }
    Ok(())
}

/// Compiled policies by document text. Content-addressed, so it can never serve a stale
/// policy: a changed document is a different key. One per thread group ([`Sharded`]).
#[derive(Default)]
pub struct CompiledPolicies {
    by_text: Sharded<Mutex<PoliciesByText>>,
}

type PoliciesByText = HashMap<(PolicyKind, String), Arc<Policy>>;

/// Entries kept before a cache starts over; enough for every policy of a large account.
const MAX_CACHED: usize = 10_000;

impl CompiledPolicies {
    pub fn get(&self, document: &str, kind: PolicyKind) -> Result<Arc<Policy>> {
        // A panic elsewhere while a lock was held cannot leave these maps inconsistent (each
        // change is one insert or clear), so a poisoned lock is used as it is.
        let key = (kind, document.to_string());
        let by_text = self.by_text.local();
        if let Some(policy) = by_text
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(policy.clone());
        }
        let policy = Arc::new(parse_policy(document, kind)?);
        let mut map = by_text.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(key, policy.clone());
        Ok(policy)
    }
}

/// What authorization keeps of a principal's policies: the compiled set, and the condition
/// keys its policies use (so a request's context holds only those).
pub struct CompiledPrincipal {
    set: CompiledPolicySet,
    /// Lower-cased condition and variable keys of every policy of the set.
    keys: std::collections::HashSet<String>,
}

impl CompiledPrincipal {
    fn uses(&self, key: &str) -> bool {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.keys.contains(&key.to_ascii_lowercase())
        } else {
            self.keys.contains(key)
        }
    }
}

/// What a principal's policies were compiled from: its `policies_rev`, which every change to
/// them bumps.
#[derive(Clone, PartialEq, Eq)]
struct Fingerprint {
    rev: u64,
}

/// A principal's compiled policies, by principal id (unique across accounts), valid while
/// its fingerprint is the same. One per thread group ([`Sharded`]).
#[derive(Default)]
pub struct PolicySetCache {
    sets: Sharded<Mutex<SetsById>>,
}

type SetsById = HashMap<String, (Fingerprint, Arc<CompiledPrincipal>)>;

impl PolicySetCache {
    fn get(&self, id: &str, fingerprint: &Fingerprint) -> Option<Arc<CompiledPrincipal>> {
        let sets = self
            .sets
            .local()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        sets.get(id)
            .filter(|(cached, _)| cached == fingerprint)
            .map(|(_, set)| set.clone())
    }

    fn put(&self, key: String, fingerprint: Fingerprint, set: Arc<CompiledPrincipal>) {
        let mut sets = self
            .sets
            .local()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if sets.len() >= MAX_CACHED {
            sets.clear();
        }
        sets.insert(key, (fingerprint, set));
    }
}

impl Gatehouse {
    /// The compiled policies of `user` as they are now. Every change to what they are made of
    /// (its own policies and boundary, its groups and theirs, a managed policy's default
    /// version) bumps the user's `policies_rev` in the same transaction (`iam::revisions`), so
    /// the user record read for this request is the only read a cached set needs.
    fn policy_set_of(&self, t: &mut dyn Txn, user: &UserRecord) -> Result<Arc<CompiledPrincipal>> {
        self.cached_set(&user.id, user.policies_rev, || gather(t, user))
    }

    /// The compiled set cached under `key` while the principal's revision is `rev`, or
    /// gathered and compiled now.
    fn cached_set(
        &self,
        key: &str,
        rev: u64,
        gather: impl FnOnce() -> Result<GatheredPolicies>,
    ) -> Result<Arc<CompiledPrincipal>> {
        let fingerprint = Fingerprint { rev };
        if let Some(set) = self.policy_sets.get(key, &fingerprint) {
            return Ok(set);
        }
        let compiled = self.compile(&gather()?)?;
        self.policy_sets
            .put(key.to_string(), fingerprint, compiled.clone());
        Ok(compiled)
    }

    /// The compiled policies of a role session: the role's (as for a user, its `policies_rev`
    /// moves with every change) and the session's own session policies, which never change.
    fn policy_set_of_session(
        &self,
        t: &mut dyn Txn,
        session: &AssumedRole,
        access_key_id: &str,
    ) -> Result<Arc<CompiledPrincipal>> {
        self.cached_set(access_key_id, session.role.policies_rev, || {
            let mut gathered = gather_for(t, &Holder::role(&session.role))?;
            self.add_session_policies(
                t,
                &session.role.account,
                session.session.policy.as_deref(),
                &session.session.policy_arns,
                &mut gathered,
            )?;
            Ok(gathered)
        })
    }

    /// The compiled policies of a federated user: the policies of the user that asked for it
    /// (the root user's: everything) and the session's policies, which never change.
    fn policy_set_of_federated(
        &self,
        t: &mut dyn Txn,
        federated: &FederatedUser,
        access_key_id: &str,
    ) -> Result<Arc<CompiledPrincipal>> {
        let rev = federated.user.as_ref().map_or(0, |u| u.policies_rev);
        self.cached_set(access_key_id, rev, || {
            let mut gathered = match &federated.user {
                Some(user) => gather(t, user)?,
                None => GatheredPolicies {
                    identity: vec![GatheredPolicy {
                        id: "root".to_string(),
                        source: PolicySource::Session,
                        document: ROOT_ALLOWS_EVERYTHING.to_string(),
                    }],
                    boundary: None,
                    session: Vec::new(),
                },
            };
            self.add_session_policies(
                t,
                &federated.account,
                federated.session.policy.as_deref(),
                &federated.session.policy_arns,
                &mut gathered,
            )?;
            Ok(gathered)
        })
    }

    /// A session's inline and managed session policies, in `account`.
    fn add_session_policies(
        &self,
        t: &mut dyn Txn,
        account: &str,
        inline: Option<&str>,
        arns: &[String],
        gathered: &mut GatheredPolicies,
    ) -> Result<()> {
        if let Some(document) = inline {
            gathered.session.push(GatheredPolicy {
                id: "session".to_string(),
                source: PolicySource::Session,
                document: document.to_string(),
            });
        }
        for arn in arns {
            let document = match policy_by_arn(t, account, arn)? {
                Some(policy) => default_document(t, &policy)?,
                // Deleted since: it allows nothing, so the session keeps nothing it granted.
                None => UNREADABLE_BOUNDARY.to_string(),
            };
            gathered.session.push(GatheredPolicy {
                id: arn.clone(),
                source: PolicySource::Session,
                document,
            });
        }
        Ok(())
    }

    fn compile(&self, gathered: &GatheredPolicies) -> Result<Arc<CompiledPrincipal>> {
        let named = |p: &GatheredPolicy, kind| -> Result<NamedPolicy> {
            Ok(NamedPolicy::new(
                p.id.as_str(),
                self.compiled.get(&p.document, kind)?,
            ))
        };
        let set = PolicySet {
            identity: gathered
                .identity
                .iter()
                .map(|p| named(p, PolicyKind::Identity))
                .collect::<Result<_>>()?,
            boundary: gathered
                .boundary
                .as_ref()
                .map(|p| named(p, PolicyKind::PermissionsBoundary))
                .transpose()?,
            session: gathered
                .session
                .iter()
                .map(|p| named(p, PolicyKind::Session))
                .collect::<Result<_>>()?,
            ..PolicySet::default()
        };
        let keys = set
            .identity
            .iter()
            .chain(set.boundary.iter())
            .chain(set.session.iter())
            .flat_map(|p| p.policy.context_keys())
            .map(|k| k.to_ascii_lowercase())
            .collect();
        Ok(Arc::new(CompiledPrincipal {
            set: CompiledPolicySet::new(&set),
            keys,
        }))
    }

    /// Allows the call or returns AWS's AccessDenied error.
    pub(crate) fn authorize(
        &self,
        t: &mut dyn Txn,
        cx: &RequestContext,
        service: Service,
        access: &Access,
    ) -> Result<Authorized> {
        // The caller as it is now, in this transaction: a key deactivated, or a policy
        // detached, after the request was authenticated is in force for it too.
        let current = current_caller(t, cx)?;
        let checks = match access {
            Access::Exempt(_why) => return Ok(Authorized { _private: () }),
            Access::Check(checks) => checks,
        };
        let principal_arn = cx.caller.arn();
        let (compiled, principal, who) = match &current {
            Current::Root => (
                None,
                gatehouse_policy::Principal::root(cx.caller.account.as_str()),
                Who::root(cx),
            ),
            Current::User(user) => (
                Some(self.policy_set_of(t, user)?),
                gatehouse_policy::Principal::user(principal_arn.clone()),
                Who::user(user, &principal_arn),
            ),
            Current::Role(session) => (
                Some(self.policy_set_of_session(t, session, &cx.caller.access_key_id)?),
                gatehouse_policy::Principal::assumed_role(
                    principal_arn.clone(),
                    session.role.arn(),
                ),
                Who::role_session(session),
            ),
            Current::Federated(federated) => (
                Some(self.policy_set_of_federated(t, federated, &cx.caller.access_key_id)?),
                gatehouse_policy::Principal::new(
                    gatehouse_policy::PrincipalKind::FederatedUser {
                        user_arn: federated.user.as_ref().map(|u| u.arn()),
                    },
                    principal_arn.clone(),
                    federated.account.clone(),
                ),
                Who::federated(federated),
            ),
        };
        for check in checks {
            let (decision, context, with_resource_policy) =
                match (&check.resource_policy, &compiled) {
                    // Every name a request carries is looked up in the caller's own account, so
                    // the root user acts only on its own account's resources.
                    (None, None) => continue,
                    (None, Some(compiled)) => {
                        let mut context = global_context(cx, service, &who, Some(compiled));
                        Access::add_to(&mut context, &check.context);
                        let decision = compiled.set.authorize(&Request {
                            principal: &principal,
                            action: check.action,
                            resource: &check.resource,
                            resource_account: None,
                            context: &context,
                        });
                        (decision, context, false)
                    }
                    (Some(resource_policy), compiled) => {
                        // Decided with the resource's policy: rare (AssumeRole), so not compiled.
                        let mut set = compiled
                            .as_ref()
                            .map(|c| c.set.policy_set().clone())
                            .unwrap_or_default();
                        set.resource = Some(NamedPolicy::new(
                            "resource",
                            self.compiled
                                .get(&resource_policy.document, resource_policy.kind)?,
                        ));
                        let mut context = global_context(cx, service, &who, None);
                        Access::add_to(&mut context, &check.context);
                        let decision = gatehouse_policy::authorize(
                            &set,
                            &Request {
                                principal: &principal,
                                action: check.action,
                                resource: &check.resource,
                                resource_account: Some(&resource_policy.account),
                                context: &context,
                            },
                        );
                        (decision, context, true)
                    }
                };
            if decision.outcome == Outcome::Allowed {
                continue;
            }
            let error = if with_resource_policy {
                // AWS names no policy type when a trust policy is part of the refusal.
                ApiError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "User: {principal_arn} is not authorized to perform: {} on resource: {}",
                        check.action, check.resource
                    ),
                )
            } else {
                access_denied(
                    &principal_arn,
                    check.action,
                    &check.resource,
                    denial_reason(&decision),
                )
            };
            let denial = Denial {
                principal_id: who.userid(),
                principal_arn: &principal_arn,
                action: check.action,
                resource: &check.resource,
                decision: Some(&decision),
                context: &context,
            };
            return Err(self.with_encoded_message(t, error, &denial).into());
        }
        Ok(Authorized { _private: () })
    }
}

/// Which of AWS's AccessDenied endings a refusal by identity-side policies takes.
fn denial_reason(decision: &gatehouse_policy::Decision) -> DenialReason {
    match decision.outcome {
        Outcome::ExplicitDeny if decision.identity == TypeDecision::ExplicitDeny => {
            DenialReason::ExplicitDenyInIdentityPolicy
        }
        Outcome::ExplicitDeny if decision.session == TypeDecision::ExplicitDeny => {
            DenialReason::ExplicitDenyInSessionPolicy
        }
        Outcome::ExplicitDeny => DenialReason::ExplicitDenyInBoundary,
        _ if decision.identity != TypeDecision::Allowed => DenialReason::NoIdentityPolicyAllows,
        _ if decision.session == TypeDecision::ImplicitDeny => DenialReason::NoSessionPolicyAllows,
        _ => DenialReason::NoBoundaryAllows,
    }
}

/// The caller as this transaction sees it.
enum Current {
    Root,
    User(Arc<UserRecord>),
    Role(Arc<AssumedRole>),
    Federated(Arc<FederatedUser>),
}

/// The caller's key and record as this transaction sees them: the user's or role's current
/// record; InvalidClientTokenId if the key is no longer active or its owner is gone (as
/// authentication would now answer). When the store has not changed since authentication
/// read them, they are the ones it read.
fn current_caller(t: &mut dyn Txn, cx: &RequestContext) -> Result<Current> {
    if cx.caller.seen_at.is_some() && t.snapshot_token() == cx.caller.seen_at {
        return Ok(match &cx.caller.principal {
            Principal::Root => Current::Root,
            Principal::User(user) => Current::User(user.clone()),
            Principal::AssumedRole(session) => Current::Role(session.clone()),
            Principal::FederatedUser(federated) => Current::Federated(federated.clone()),
        });
    }
    let revoked = || -> crate::errors::Failure {
        ApiError::new(
            ErrorCode::InvalidClientTokenId,
            "The security token included in the request is invalid.",
        )
        .into()
    };
    let owner = if cx.caller.session.is_some() {
        t.get_record::<SessionRecord>(SESSIONS, &cx.caller.access_key_id)?
            .filter(|s| s.account == cx.caller.account.as_str())
            .map(|s| s.owner)
    } else {
        t.get_record::<AccessKeyRecord>(ACCESS_KEYS, &cx.caller.access_key_id)?
            .filter(|k| k.status == KeyStatus::Active && k.account == cx.caller.account.as_str())
            .map(|k| k.owner)
    };
    let owner = owner.ok_or_else(revoked)?;
    match &cx.caller.principal {
        Principal::Root if owner == ROOT_OWNER => Ok(Current::Root),
        Principal::User(user) if owner == user.id => {
            let current = entity::by_id::<UserRecord>(t, &user.account, &user.id)?;
            current
                .map(|u| Current::User(Arc::new(u)))
                .ok_or_else(revoked)
        }
        Principal::FederatedUser(federated) => {
            let user = match &federated.user {
                Some(user) if owner == user.id => Some(Arc::new(
                    entity::by_id::<UserRecord>(t, &user.account, &user.id)?.ok_or_else(revoked)?,
                )),
                None if owner == ROOT_OWNER => None,
                _ => return Err(revoked()),
            };
            Ok(Current::Federated(Arc::new(FederatedUser {
                account: federated.account.clone(),
                user,
                session: federated.session.clone(),
            })))
        }
        Principal::AssumedRole(session) if owner == session.role.id => {
            let role = entity::by_id::<RoleRecord>(t, &session.role.account, &session.role.id)?
                .ok_or_else(revoked)?;
            Ok(Current::Role(Arc::new(AssumedRole {
                role: Arc::new(role),
                session: session.session.clone(),
            })))
        }
        _ => Err(revoked()),
    }
}

/// Who the caller is, for the global condition keys.
enum Who<'a> {
    Root(&'a RequestContext),
    User(&'a UserRecord, &'a str),
    RoleSession(&'a AssumedRole),
    Federated(&'a FederatedUser),
}

/// Each value is made only when a policy uses its key (most use none).
impl<'a> Who<'a> {
    fn root(cx: &'a RequestContext) -> Self {
        Who::Root(cx)
    }

    fn user(user: &'a UserRecord, arn: &'a str) -> Self {
        Who::User(user, arn)
    }

    fn federated(federated: &'a FederatedUser) -> Self {
        Who::Federated(federated)
    }

    fn role_session(session: &'a AssumedRole) -> Self {
        Who::RoleSession(session)
    }

    /// `aws:username` (users only).
    fn username(&self) -> Option<&str> {
        match self {
            Who::User(user, _) => Some(&user.name),
            _ => None,
        }
    }

    fn userid(&self) -> String {
        match self {
            Who::Root(cx) => cx.caller.account.to_string(),
            Who::User(user, _) => user.id.clone(),
            Who::RoleSession(session) => session.id(),
            Who::Federated(federated) => federated.id(),
        }
    }

    /// `aws:PrincipalArn`: the user's ARN, or the role's for a role session.
    fn principal_arn(&self) -> String {
        match self {
            Who::Root(cx) => format!("arn:aws:iam::{}:root", cx.caller.account),
            Who::User(_, arn) => arn.to_string(),
            Who::RoleSession(session) => session.role.arn(),
            Who::Federated(federated) => federated.arn(),
        }
    }

    fn principal_type(&self) -> &'static str {
        match self {
            Who::Root(_) => "Account",
            Who::User(..) => "User",
            Who::RoleSession(_) => "AssumedRole",
            Who::Federated(_) => "FederatedUser",
        }
    }

    /// `aws:PrincipalTag/*`: a user's tags; a role session's tags over its role's.
    fn tags(&self) -> Vec<(&str, &str)> {
        match self {
            Who::User(user, _) => user
                .tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            Who::RoleSession(session) => overridden(&session.role.tags, &session.session.tags),
            // AWS: a federated user's session tags override its maker's tags of the same key.
            Who::Federated(federated) => overridden(
                federated.user.as_ref().map_or(&[][..], |u| &u.tags),
                &federated.session.tags,
            ),
            Who::Root(_) => Vec::new(),
        }
    }

    fn source_identity(&self) -> Option<&str> {
        match self {
            Who::RoleSession(session) => session.session.source_identity.as_deref(),
            _ => None,
        }
    }
}

/// A principal's own tags with a session's tags over those of the same key.
fn overridden<'a>(
    own: &'a [(String, String)],
    session: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    own.iter()
        .filter(|(k, _)| !session.iter().any(|(s, _)| s.eq_ignore_ascii_case(k)))
        .chain(session)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The global condition keys AWS sets for a request, those of them the principal's policies
/// use (all of them when `policies` is `None`): a key no policy names cannot change a
/// decision (the engine derives the principal's own keys from the principal when needed).
fn global_context(
    cx: &RequestContext,
    service: Service,
    who: &Who<'_>,
    policies: Option<&CompiledPrincipal>,
) -> Context {
    let mut context = Context::new();
    // Most principals' policies name no condition key at all.
    if policies.is_some_and(|p| p.keys.is_empty()) {
        return context;
    }
    let mut add = |key: &str, value: &dyn Fn() -> String| {
        if policies.is_none_or(|p| p.uses(key)) {
            context.insert(key, value());
        }
    };
    if let Some(username) = who.username() {
        add("aws:username", &|| username.to_string());
    }
    add("aws:userid", &|| who.userid());
    add("aws:PrincipalArn", &|| who.principal_arn());
    add("aws:PrincipalAccount", &|| cx.caller.account.to_string());
    add("aws:PrincipalType", &|| who.principal_type().to_string());
    add("aws:SecureTransport", &|| cx.secure_transport.to_string());
    add("aws:CurrentTime", &|| format_iso8601(cx.now));
    add("aws:EpochTime", &|| cx.now.unix_seconds().to_string());
    // IAM is a global service: AWS reports its requests as made in us-east-1, whatever
    // region a client signed for. STS is regional.
    add("aws:RequestedRegion", &|| match service {
        Service::Iam => "us-east-1".to_string(),
        Service::Sts => cx.region.clone(),
    });
    add("aws:ViaAWSService", &|| "false".to_string());
    if let Some(ip) = cx.source_ip {
        add("aws:SourceIp", &|| ip.to_string());
    }
    for (key, value) in who.tags() {
        add(&format!("aws:PrincipalTag/{key}"), &|| value.to_string());
    }
    if let Some(source_identity) = who.source_identity() {
        add("aws:SourceIdentity", &|| source_identity.to_string());
    }
    // Temporary credentials: when they were issued (a deny on an earlier issue time revokes
    // every session issued before it) and whether MFA authenticated them.
    if let Some(session) = &cx.caller.session {
        add("aws:TokenIssueTime", &|| format_iso8601(session.issued));
        add("aws:MultiFactorAuthPresent", &|| {
            session.mfa_authenticated.is_some().to_string()
        });
        if let Some(at) = session.mfa_authenticated {
            add("aws:MultiFactorAuthAge", &|| {
                ((cx.now.unix_millis - at.unix_millis) / 1000).to_string()
            });
        }
    }
    context
}

/// AWS's AccessDenied for a request no policy allows or one denies.
pub fn access_denied(
    principal_arn: &str,
    action: &str,
    resource: &str,
    reason: DenialReason,
) -> ApiError {
    let why = match reason {
        DenialReason::NoIdentityPolicyAllows => {
            format!("because no identity-based policy allows the {action} action")
        }
        DenialReason::ExplicitDenyInIdentityPolicy => {
            "with an explicit deny in an identity-based policy".to_string()
        }
        DenialReason::NoBoundaryAllows => {
            format!("because no permissions boundary allows the {action} action")
        }
        DenialReason::ExplicitDenyInBoundary => {
            "with an explicit deny in a permissions boundary".to_string()
        }
        DenialReason::NoSessionPolicyAllows => {
            format!("because no session policy allows the {action} action")
        }
        DenialReason::ExplicitDenyInSessionPolicy => {
            "with an explicit deny in a session policy".to_string()
        }
    };
    ApiError::new(
        ErrorCode::AccessDenied,
        format!(
            "User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {why}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_texts_match_aws() {
        let e = access_denied(
            "arn:aws:iam::123456789012:user/bob",
            "iam:CreateUser",
            "arn:aws:iam::123456789012:user/alice",
            DenialReason::NoIdentityPolicyAllows,
        );
        assert_eq!(
            e.message,
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:CreateUser on resource: \
             arn:aws:iam::123456789012:user/alice because no identity-based policy allows the iam:CreateUser action"
        );
        let e = access_denied(
            "arn:aws:iam::123456789012:user/bob",
            "iam:DeleteUser",
            "arn:aws:iam::123456789012:user/alice",
            DenialReason::ExplicitDenyInIdentityPolicy,
        );
        assert_eq!(
            e.message,
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:DeleteUser on resource: \
             arn:aws:iam::123456789012:user/alice with an explicit deny in an identity-based policy"
        );
    }

    fn principal_using(keys: &[&str]) -> CompiledPrincipal {
        CompiledPrincipal {
            set: CompiledPolicySet::new(&PolicySet::default()),
            keys: keys.iter().map(|k| k.to_ascii_lowercase()).collect(),
        }
    }

    fn request_for(region: &str) -> RequestContext {
        RequestContext {
            request_id: "r".into(),
            now: gatehouse_types::Timestamp::from_unix_millis(0),
            caller: crate::Caller {
                account: gatehouse_types::AccountId::parse("111122223333").unwrap(),
                principal: Principal::Root,
                access_key_id: "AKIA".into(),
                seen_at: None,
                session: None,
            },
            region: region.into(),
            source_ip: None,
            secure_transport: true,
        }
    }

    fn user() -> UserRecord {
        UserRecord {
            v: 2,
            account: "111122223333".into(),
            name: "bob".into(),
            id: "AIDABOB".into(),
            path: "/".into(),
            create_date: 0,
            permissions_boundary: None,
            tags: vec![("Team".into(), "blue".into())],
            password_last_used: None,
            policies_rev: 0,
            attached_policies: Vec::new(),
            groups: Vec::new(),
        }
    }

    #[test]
    fn requested_region_is_us_east_1_for_iam_and_the_signed_region_for_sts() {
        let uses = principal_using(&["aws:RequestedRegion"]);
        let cx = request_for("eu-west-2");
        let iam = global_context(&cx, Service::Iam, &Who::user(&user(), "arn"), Some(&uses));
        assert_eq!(
            iam.get("aws:requestedregion"),
            Some(&["us-east-1".to_string()][..])
        );
        let sts = global_context(&cx, Service::Sts, &Who::user(&user(), "arn"), Some(&uses));
        assert_eq!(
            sts.get("aws:RequestedRegion"),
            Some(&["eu-west-2".to_string()][..])
        );
    }

    #[test]
    fn the_context_holds_the_keys_the_policies_use() {
        let cx = request_for("us-east-1");
        let none = global_context(
            &cx,
            Service::Iam,
            &Who::user(&user(), "arn"),
            Some(&principal_using(&[])),
        );
        assert_eq!(none, Context::new());
        let some = global_context(
            &cx,
            Service::Iam,
            &Who::user(&user(), "arn"),
            Some(&principal_using(&[
                "aws:PrincipalTag/team",
                "aws:SecureTransport",
                "aws:username",
            ])),
        );
        assert_eq!(
            some.get("aws:PrincipalTag/Team"),
            Some(&["blue".to_string()][..])
        );
        assert_eq!(
            some.get("aws:SecureTransport"),
            Some(&["true".to_string()][..])
        );
        assert_eq!(some.get("aws:username"), Some(&["bob".to_string()][..]));
        assert_eq!(some.get("aws:CurrentTime"), None);
    }

    #[test]
    fn compiled_policies_are_shared_by_text() {
        let cache = CompiledPolicies::default();
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        let a = cache.get(doc, PolicyKind::Identity).unwrap();
        let b = cache.get(doc, PolicyKind::Identity).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(cache.get("{}", PolicyKind::Identity).is_err());
    }

    #[test]
    fn a_poisoned_lock_does_not_disable_a_cache() {
        let cache = Arc::new(CompiledPolicies::default());
        let poisoner = cache.clone();
        let _ = std::thread::spawn(move || {
            // Every thread group's lock, whichever this test's thread uses.
            let _guards: Vec<_> = poisoner.by_text.all().map(|m| m.lock().unwrap()).collect();
            panic!("poison the locks");
        })
        .join();
        assert!(cache.by_text.all().all(Mutex::is_poisoned));
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        let a = cache.get(doc, PolicyKind::Identity).unwrap();
        let b = cache.get(doc, PolicyKind::Identity).unwrap();
        assert!(
            Arc::ptr_eq(&a, &b),
            "the second lookup is served from the cache"
        );
    }

    #[test]
    fn an_unreadable_boundary_allows_nothing() {
        let policy = Policy::parse(UNREADABLE_BOUNDARY, PolicyKind::PermissionsBoundary).unwrap();
        let allow_all = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        let set = PolicySet {
            identity: vec![NamedPolicy::new("all", allow_all)],
            boundary: Some(NamedPolicy::new("b", policy)),
            ..PolicySet::default()
        };
        let principal = gatehouse_policy::Principal::user("arn:aws:iam::123456789012:user/u");
        let context = Context::new();
        let decision = gatehouse_policy::authorize(
            &set,
            &Request {
                principal: &principal,
                action: "iam:GetUser",
                resource: "*",
                resource_account: None,
                context: &context,
            },
        );
        assert_eq!(decision.outcome, Outcome::ImplicitDeny);
        assert_eq!(decision.boundary, TypeDecision::ImplicitDeny);
    }

    #[test]
    fn session_tags_override_the_principals_own_of_the_same_key() {
        let own = vec![
            ("Team".to_string(), "red".to_string()),
            ("cost".to_string(), "1".to_string()),
        ];
        let session = vec![("team".to_string(), "blue".to_string())];
        assert_eq!(
            overridden(&own, &session),
            [("cost", "1"), ("team", "blue")]
        );
        assert_eq!(overridden(&own, &[]), [("Team", "red"), ("cost", "1")]);
    }
}
