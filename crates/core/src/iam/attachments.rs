//! Managed policies attached to users, and users' permissions boundaries: AttachUserPolicy,
//! DetachUserPolicy, ListAttachedUserPolicies, PutUserPermissionsBoundary,
//! DeleteUserPermissionsBoundary, ListEntitiesForPolicy.

use gatehouse_protocol::iam::{
    AttachUserPolicyRequest, AttachedPolicy, DeleteUserPermissionsBoundaryRequest,
    DetachUserPolicyRequest, EntityType, ListAttachedUserPoliciesRequest,
    ListAttachedUserPoliciesResponse, ListEntitiesForPolicyRequest, ListEntitiesForPolicyResponse,
    PolicyUsageType, PolicyUser, PutUserPermissionsBoundaryRequest,
};
use gatehouse_store::Txn;

use crate::model::records::Records;

use crate::authz::{Access, Authorized};
use crate::errors::{Result, limit_exceeded};
use crate::iam::policies::{NamedPolicy, no_such_policy, not_attachable, policy_by_arn};
use crate::iam::users::NamedUser;
use crate::model::entity::{self, Entity};
use crate::model::pagination::PageRequest;
use crate::model::records::{
    ATTACHED_POLICIES, ManagedPolicyRecord, POLICY_ATTACHMENTS, UserRecord,
};
use crate::model::relation::Relation;
use crate::pipeline::{Call, Handler, Operation, operation};

/// Principals and the managed policies attached to them, both ways.
pub const ATTACHMENTS: Relation = Relation {
    forward: ATTACHED_POLICIES,
    backward: POLICY_ATTACHMENTS,
};

/// AWS's default quota of managed policies attached to one user (accounts may raise it to 20).
pub const MAX_POLICIES_PER_USER: usize = 10;

/// A user and a policy a call names, as found.
pub(crate) struct UserAndPolicy {
    user: NamedUser,
    policy: NamedPolicy,
}

fn resolve(
    call: &mut Call<'_>,
    user_name: &str,
    policy_arn: &str,
    action: &'static str,
) -> Result<(UserAndPolicy, Access)> {
    let user = NamedUser::find(call, user_name)?;
    let policy = NamedPolicy::find(call, policy_arn)?;
    let access = user
        .access(call, action)
        .with("iam:PolicyARN", vec![policy_arn.to_string()]);
    Ok((UserAndPolicy { user, policy }, access))
}

/// Records that a user's policies changed (see `authz`).
fn policies_changed(t: &mut (impl Txn + ?Sized), user: &mut UserRecord) -> Result<()> {
    user.policies_rev += 1;
    entity::save(t, user)
}

operation!(AttachUserPolicy, Iam, writes, AttachUserPolicyRequest => ());
impl Handler for AttachUserPolicy {
    type Target = UserAndPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &AttachUserPolicyRequest,
    ) -> Result<(UserAndPolicy, Access)> {
        resolve(call, &input.user_name, &input.policy_arn, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: UserAndPolicy,
        input: &AttachUserPolicyRequest,
    ) -> Result<()> {
        let mut user = target.user.existing()?;
        let mut policy = target
            .policy
            .record
            .ok_or_else(|| not_attachable(&input.policy_arn))?;
        // Attaching a policy that is already attached changes nothing, as in AWS.
        if user.attached_policies.contains(&policy.id) {
            return Ok(());
        }
        if user.attached_policies.len() >= MAX_POLICIES_PER_USER {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for PoliciesPerUser: {MAX_POLICIES_PER_USER}"
            )));
        }
        ATTACHMENTS.link(call.t, &user.account, &user.id, &policy.id)?;
        user.attached_policies.push(policy.id.clone());
        policies_changed(call.t, &mut user)?;
        policy.attachment_count += 1;
        entity::save(call.t, &policy)
    }
}

operation!(DetachUserPolicy, Iam, writes, DetachUserPolicyRequest => ());
impl Handler for DetachUserPolicy {
    type Target = UserAndPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &DetachUserPolicyRequest,
    ) -> Result<(UserAndPolicy, Access)> {
        resolve(call, &input.user_name, &input.policy_arn, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: UserAndPolicy,
        input: &DetachUserPolicyRequest,
    ) -> Result<()> {
        let mut user = target.user.existing()?;
        let mut policy = target
            .policy
            .record
            .filter(|p| user.attached_policies.contains(&p.id))
            .ok_or_else(|| no_such_policy(&input.policy_arn))?;
        ATTACHMENTS.unlink(call.t, &user.account, &user.id, &policy.id)?;
        user.attached_policies.retain(|id| *id != policy.id);
        policies_changed(call.t, &mut user)?;
        policy.attachment_count = policy.attachment_count.saturating_sub(1);
        entity::save(call.t, &policy)
    }
}

operation!(ListAttachedUserPolicies, Iam, reads, ListAttachedUserPoliciesRequest => ListAttachedUserPoliciesResponse);
impl Handler for ListAttachedUserPolicies {
    type Target = NamedUser;

    fn resolve(
        call: &mut Call<'_>,
        input: &ListAttachedUserPoliciesRequest,
    ) -> Result<(NamedUser, Access)> {
        let user = NamedUser::find(call, &input.user_name)?;
        let access = user.access(call, Self::ACTION);
        Ok((user, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: NamedUser,
        input: &ListAttachedUserPoliciesRequest,
    ) -> Result<ListAttachedUserPoliciesResponse> {
        let user = user.existing()?;
        let path_prefix = input.path_prefix.as_deref().unwrap_or("/");
        let mut attached = Vec::with_capacity(user.attached_policies.len());
        for id in &user.attached_policies {
            if let Some(policy) = entity::by_id::<ManagedPolicyRecord>(call.t, &user.account, id)?
                && policy.path.starts_with(path_prefix)
            {
                attached.push(AttachedPolicy {
                    policy_name: Some(policy.name.clone()),
                    policy_arn: Some(policy.arn()),
                });
            }
        }
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(attached, |p| p.policy_arn.clone().unwrap_or_default())?;
        Ok(ListAttachedUserPoliciesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            attached_policies: Some(page.items),
        })
    }
}

/// Sets (or clears) a user's boundary, keeping the policies' usage counts.
pub(crate) fn set_boundary(
    t: &mut (impl Txn + ?Sized),
    user: &mut UserRecord,
    boundary: Option<ManagedPolicyRecord>,
) -> Result<()> {
    if let Some(old) = user.permissions_boundary.take() {
        release_boundary(t, &user.account, &old)?;
    }
    if let Some(mut new) = boundary {
        user.permissions_boundary = Some(new.arn());
        new.boundary_count += 1;
        entity::save(t, &new)?;
    }
    user.policies_rev += 1;
    entity::save(t, user)
}

/// One principal fewer uses the policy at `arn` as its boundary.
pub(crate) fn release_boundary(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    arn: &str,
) -> Result<()> {
    if let Some(mut policy) = policy_by_arn(t, account, arn)? {
        policy.boundary_count = policy.boundary_count.saturating_sub(1);
        entity::save(t, &policy)?;
    }
    Ok(())
}

operation!(PutUserPermissionsBoundary, Iam, writes, PutUserPermissionsBoundaryRequest => ());
impl Handler for PutUserPermissionsBoundary {
    type Target = UserAndPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &PutUserPermissionsBoundaryRequest,
    ) -> Result<(UserAndPolicy, Access)> {
        let user = NamedUser::find(call, &input.user_name)?;
        let policy = NamedPolicy::find(call, &input.permissions_boundary)?;
        let access = user.access(call, Self::ACTION).with(
            "iam:PermissionsBoundary",
            vec![input.permissions_boundary.clone()],
        );
        Ok((UserAndPolicy { user, policy }, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: UserAndPolicy,
        input: &PutUserPermissionsBoundaryRequest,
    ) -> Result<()> {
        let mut user = target.user.existing()?;
        let policy = target
            .policy
            .record
            .ok_or_else(|| not_attachable(&input.permissions_boundary))?;
        set_boundary(call.t, &mut user, Some(policy))
    }
}

operation!(DeleteUserPermissionsBoundary, Iam, writes, DeleteUserPermissionsBoundaryRequest => ());
impl Handler for DeleteUserPermissionsBoundary {
    type Target = NamedUser;

    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteUserPermissionsBoundaryRequest,
    ) -> Result<(NamedUser, Access)> {
        let user = NamedUser::find(call, &input.user_name)?;
        let current = user
            .record
            .as_ref()
            .and_then(|u| u.permissions_boundary.clone());
        let mut access = user.access(call, Self::ACTION);
        if let Some(boundary) = current {
            access = access.with("iam:PermissionsBoundary", vec![boundary]);
        }
        Ok((user, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: NamedUser,
        _: &DeleteUserPermissionsBoundaryRequest,
    ) -> Result<()> {
        let mut user = user.existing()?;
        // AWS answers success for a user without a boundary.
        if user.permissions_boundary.is_none() {
            return Ok(());
        }
        set_boundary(call.t, &mut user, None)
    }
}

operation!(ListEntitiesForPolicy, Iam, reads, ListEntitiesForPolicyRequest => ListEntitiesForPolicyResponse);
impl Handler for ListEntitiesForPolicy {
    type Target = NamedPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &ListEntitiesForPolicyRequest,
    ) -> Result<(NamedPolicy, Access)> {
        let policy = NamedPolicy::find(call, &input.policy_arn)?;
        Ok((policy, Access::to(Self::ACTION, input.policy_arn.clone())))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: NamedPolicy,
        input: &ListEntitiesForPolicyRequest,
    ) -> Result<ListEntitiesForPolicyResponse> {
        let policy = policy.existing()?;
        let arn = policy.arn();
        let path_prefix = input.path_prefix.as_deref().unwrap_or("/");
        let wants_users = matches!(input.entity_filter, None | Some(EntityType::User));
        let mut users: Vec<UserRecord> = Vec::new();
        if wants_users {
            if input.policy_usage_filter != Some(PolicyUsageType::PermissionsBoundary) {
                for id in ATTACHMENTS.sources(call.t, &policy.account, &policy.id)? {
                    users.extend(entity::by_id::<UserRecord>(call.t, &policy.account, &id)?);
                }
            }
            if input.policy_usage_filter != Some(PolicyUsageType::PermissionsPolicy)
                && policy.boundary_count > 0
            {
                let all: Vec<(String, UserRecord)> = call.t.scan_records(
                    crate::model::records::USERS,
                    &crate::model::records::prefix(&policy.account, &[]),
                    None,
                    usize::MAX,
                )?;
                users.extend(
                    all.into_iter()
                        .map(|(_, u)| u)
                        .filter(|u| u.permissions_boundary.as_deref() == Some(arn.as_str())),
                );
            }
        }
        users.retain(|u| u.path.starts_with(path_prefix));
        users.sort_by_key(|u| u.name.to_lowercase());
        users.dedup_by(|a, b| a.id == b.id);
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(users, |u| u.id.clone())?;
        Ok(ListEntitiesForPolicyResponse {
            policy_groups: Some(Vec::new()),
            policy_users: Some(
                page.items
                    .iter()
                    .map(|u| PolicyUser {
                        user_name: Some(u.name.clone()),
                        user_id: Some(u.id.clone()),
                    })
                    .collect(),
            ),
            policy_roles: Some(Vec::new()),
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
        })
    }
}
