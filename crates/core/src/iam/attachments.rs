//! Managed policies attached to users and groups (written once for every policy holder), and
//! users' permissions boundaries: Attach/Detach/ListAttached{User,Group}Policies,
//! PutUserPermissionsBoundary,
//! DeleteUserPermissionsBoundary, ListEntitiesForPolicy.

use gatehouse_protocol::iam::{
    AttachGroupPolicyRequest, AttachUserPolicyRequest, AttachedPolicy,
    DeleteUserPermissionsBoundaryRequest, DetachGroupPolicyRequest, DetachUserPolicyRequest,
    EntityType, ListAttachedGroupPoliciesRequest, ListAttachedGroupPoliciesResponse,
    ListAttachedUserPoliciesRequest, ListAttachedUserPoliciesResponse,
    ListEntitiesForPolicyRequest, ListEntitiesForPolicyResponse, PolicyGroup, PolicyUsageType,
    PolicyUser, PutUserPermissionsBoundaryRequest,
};
use gatehouse_store::Txn;

use crate::model::records::Records;

use crate::authz::{Access, Authorized};
use crate::errors::{Result, limit_exceeded};
use crate::iam::inline_policies::{named, policies_changed};
use crate::iam::policies::{NamedPolicy, no_such_policy, not_attachable, policy_by_arn};
use crate::model::entity::{self, Entity, Named, PolicyHolder};
use crate::model::pagination::{Page, PageRequest};
use crate::model::records::{
    ATTACHED_POLICIES, GroupRecord, ManagedPolicyRecord, POLICY_ATTACHMENTS, UserRecord,
};
use crate::model::relation::Relation;
use crate::pipeline::{Call, Handler, Operation, operation};

/// Principals and the managed policies attached to them, both ways.
pub const ATTACHMENTS: Relation = Relation {
    forward: ATTACHED_POLICIES,
    backward: POLICY_ATTACHMENTS,
};

/// A policy holder and a policy a call names, as found.
pub(crate) struct HolderAndPolicy<E> {
    holder: Named<E>,
    policy: NamedPolicy,
}

fn resolve<E: Entity>(
    call: &mut Call<'_>,
    holder_name: &str,
    policy_arn: &str,
    action: &'static str,
) -> Result<(HolderAndPolicy<E>, Access)> {
    let holder = Named::<E>::find(call.t, call.account(), holder_name)?;
    let policy = NamedPolicy::find(call, policy_arn)?;
    let access = holder
        .access(call.account(), action)
        .with("iam:PolicyARN", vec![policy_arn.to_string()]);
    Ok((HolderAndPolicy { holder, policy }, access))
}

fn attach<E: PolicyHolder>(
    call: &mut Call<'_>,
    target: HolderAndPolicy<E>,
    arn: &str,
) -> Result<()> {
    let mut holder = target.holder.existing()?;
    let mut policy = target.policy.record.ok_or_else(|| not_attachable(arn))?;
    // Attaching a policy that is already attached changes nothing, as in AWS.
    if holder.attached().contains(&policy.id) {
        return Ok(());
    }
    let (quota, limit) = E::MANAGED_QUOTA;
    if holder.attached().len() >= limit {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for {quota}: {limit}"
        )));
    }
    ATTACHMENTS.link(call.t, holder.account(), holder.id(), &policy.id)?;
    holder.attached_mut().push(policy.id.clone());
    policies_changed(call, &mut holder)?;
    policy.attachment_count += 1;
    entity::save(call.t, &policy)
}

fn detach<E: PolicyHolder>(
    call: &mut Call<'_>,
    target: HolderAndPolicy<E>,
    arn: &str,
) -> Result<()> {
    let mut holder = target.holder.existing()?;
    let mut policy = target
        .policy
        .record
        .filter(|p| holder.attached().contains(&p.id))
        .ok_or_else(|| no_such_policy(arn))?;
    ATTACHMENTS.unlink(call.t, holder.account(), holder.id(), &policy.id)?;
    holder.attached_mut().retain(|id| *id != policy.id);
    policies_changed(call, &mut holder)?;
    policy.attachment_count = policy.attachment_count.saturating_sub(1);
    entity::save(call.t, &policy)
}

fn list_attached<E: PolicyHolder>(
    call: &mut Call<'_>,
    holder: Named<E>,
    path_prefix: Option<&str>,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<Page<AttachedPolicy>> {
    let holder = holder.existing()?;
    let path_prefix = path_prefix.unwrap_or("/");
    let mut attached = Vec::with_capacity(holder.attached().len());
    for id in holder.attached() {
        if let Some(policy) = entity::by_id::<ManagedPolicyRecord>(call.t, holder.account(), id)?
            && policy.path.starts_with(path_prefix)
        {
            attached.push(AttachedPolicy {
                policy_name: Some(policy.name.clone()),
                policy_arn: Some(policy.arn()),
            });
        }
    }
    PageRequest::new(marker, max_items)?
        .of_list(attached, |p| p.policy_arn.clone().unwrap_or_default())
}

operation!(AttachUserPolicy, Iam, writes, AttachUserPolicyRequest => ());
impl Handler for AttachUserPolicy {
    type Target = HolderAndPolicy<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &AttachUserPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve(call, &input.user_name, &input.policy_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &AttachUserPolicyRequest,
    ) -> Result<()> {
        attach(call, target, &input.policy_arn)
    }
}

operation!(DetachUserPolicy, Iam, writes, DetachUserPolicyRequest => ());
impl Handler for DetachUserPolicy {
    type Target = HolderAndPolicy<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DetachUserPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve(call, &input.user_name, &input.policy_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &DetachUserPolicyRequest,
    ) -> Result<()> {
        detach(call, target, &input.policy_arn)
    }
}

operation!(ListAttachedUserPolicies, Iam, reads, ListAttachedUserPoliciesRequest => ListAttachedUserPoliciesResponse);
impl Handler for ListAttachedUserPolicies {
    type Target = Named<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &ListAttachedUserPoliciesRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.user_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: Self::Target,
        input: &ListAttachedUserPoliciesRequest,
    ) -> Result<ListAttachedUserPoliciesResponse> {
        let page = list_attached(
            call,
            user,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListAttachedUserPoliciesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            attached_policies: Some(page.items),
        })
    }
}

operation!(AttachGroupPolicy, Iam, writes, AttachGroupPolicyRequest => ());
impl Handler for AttachGroupPolicy {
    type Target = HolderAndPolicy<GroupRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &AttachGroupPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve(call, &input.group_name, &input.policy_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &AttachGroupPolicyRequest,
    ) -> Result<()> {
        attach(call, target, &input.policy_arn)
    }
}

operation!(DetachGroupPolicy, Iam, writes, DetachGroupPolicyRequest => ());
impl Handler for DetachGroupPolicy {
    type Target = HolderAndPolicy<GroupRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DetachGroupPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve(call, &input.group_name, &input.policy_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &DetachGroupPolicyRequest,
    ) -> Result<()> {
        detach(call, target, &input.policy_arn)
    }
}

operation!(ListAttachedGroupPolicies, Iam, reads, ListAttachedGroupPoliciesRequest => ListAttachedGroupPoliciesResponse);
impl Handler for ListAttachedGroupPolicies {
    type Target = Named<GroupRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &ListAttachedGroupPoliciesRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.group_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        group: Self::Target,
        input: &ListAttachedGroupPoliciesRequest,
    ) -> Result<ListAttachedGroupPoliciesResponse> {
        let page = list_attached(
            call,
            group,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListAttachedGroupPoliciesResponse {
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
    type Target = HolderAndPolicy<UserRecord>;

    fn resolve(
        call: &mut Call<'_>,
        input: &PutUserPermissionsBoundaryRequest,
    ) -> Result<(Self::Target, Access)> {
        let holder = Named::<UserRecord>::find(call.t, call.account(), &input.user_name)?;
        let policy = NamedPolicy::find(call, &input.permissions_boundary)?;
        let access = holder.access(call.account(), Self::ACTION).with(
            "iam:PermissionsBoundary",
            vec![input.permissions_boundary.clone()],
        );
        Ok((HolderAndPolicy { holder, policy }, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &PutUserPermissionsBoundaryRequest,
    ) -> Result<()> {
        let mut user = target.holder.existing()?;
        let policy = target
            .policy
            .record
            .ok_or_else(|| not_attachable(&input.permissions_boundary))?;
        set_boundary(call.t, &mut user, Some(policy))
    }
}

operation!(DeleteUserPermissionsBoundary, Iam, writes, DeleteUserPermissionsBoundaryRequest => ());
impl Handler for DeleteUserPermissionsBoundary {
    type Target = Named<UserRecord>;

    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteUserPermissionsBoundaryRequest,
    ) -> Result<(Self::Target, Access)> {
        let user = Named::<UserRecord>::find(call.t, call.account(), &input.user_name)?;
        let current = user
            .record
            .as_ref()
            .and_then(|u| u.permissions_boundary.clone());
        let mut access = user.access(call.account(), Self::ACTION);
        if let Some(boundary) = current {
            access = access.with("iam:PermissionsBoundary", vec![boundary]);
        }
        Ok((user, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: Self::Target,
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
        let wants_groups = matches!(input.entity_filter, None | Some(EntityType::Group))
            && input.policy_usage_filter != Some(PolicyUsageType::PermissionsBoundary);
        let mut groups: Vec<GroupRecord> = Vec::new();
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
        if wants_groups {
            for id in ATTACHMENTS.sources(call.t, &policy.account, &policy.id)? {
                groups.extend(entity::by_id::<GroupRecord>(call.t, &policy.account, &id)?);
            }
        }
        groups.retain(|g| g.path.starts_with(path_prefix));
        groups.sort_by_key(|g| g.name.to_lowercase());
        users.retain(|u| u.path.starts_with(path_prefix));
        users.sort_by_key(|u| u.name.to_lowercase());
        users.dedup_by(|a, b| a.id == b.id);
        // One list in AWS's order (groups, users), paged as one.
        let entities: Vec<(String, String, bool)> = groups
            .into_iter()
            .map(|g| (g.id, g.name, true))
            .chain(users.into_iter().map(|u| (u.id, u.name, false)))
            .collect();
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(entities, |(id, _, _)| id.clone())?;
        Ok(ListEntitiesForPolicyResponse {
            policy_groups: Some(
                page.items
                    .iter()
                    .filter(|(_, _, group)| *group)
                    .map(|(id, name, _)| PolicyGroup {
                        group_name: Some(name.clone()),
                        group_id: Some(id.clone()),
                    })
                    .collect(),
            ),
            policy_users: Some(
                page.items
                    .iter()
                    .filter(|(_, _, group)| !*group)
                    .map(|(id, name, _)| PolicyUser {
                        user_name: Some(name.clone()),
                        user_id: Some(id.clone()),
                    })
                    .collect(),
            ),
            policy_roles: Some(Vec::new()),
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
        })
    }
}
