//! Managed policies attached to users and groups (written once for every policy holder), and
//! users' permissions boundaries: Attach/Detach/ListAttached{User,Group}Policies,
//! PutUserPermissionsBoundary,
//! DeleteUserPermissionsBoundary, ListEntitiesForPolicy.

use gatehouse_protocol::iam::{
    AttachGroupPolicyRequest, AttachRolePolicyRequest, AttachUserPolicyRequest, AttachedPolicy,
    DeleteUserPermissionsBoundaryRequest, DetachGroupPolicyRequest, DetachRolePolicyRequest,
    DetachUserPolicyRequest, EntityType, ListAttachedGroupPoliciesRequest,
    ListAttachedGroupPoliciesResponse, ListAttachedRolePoliciesRequest,
    ListAttachedRolePoliciesResponse, ListAttachedUserPoliciesRequest,
    ListAttachedUserPoliciesResponse, ListEntitiesForPolicyRequest, ListEntitiesForPolicyResponse,
    PolicyGroup, PolicyRole, PolicyUsageType, PolicyUser, PutUserPermissionsBoundaryRequest,
};
use gatehouse_store::Txn;

use crate::model::records::Records;

use crate::authz::{Access, Authorized};
use crate::errors::{Result, limit_exceeded};
use crate::iam::common::named;
use crate::iam::inline_policies::policies_changed;
use crate::iam::policies::{
    NamedPolicy, no_such_policy, not_attachable, policy_by_arn, policy_by_id, save_usage,
};
use crate::model::entity::{self, BoundaryHolder, Entity, Named, PolicyHolder};
use crate::model::pagination::{Page, PageRequest};
use crate::model::records::{
    ATTACHED_POLICIES, GroupRecord, ManagedPolicyRecord, POLICY_ATTACHMENTS, RoleRecord, UserRecord,
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
    holder.check_modifiable()?;
    let mut policy = target.policy.record.ok_or_else(|| not_attachable(arn))?;
    // Attaching a policy that is already attached changes nothing, as in AWS.
    if holder.attached().contains(&policy.id) {
        return Ok(());
    }
    let (quota, default_limit) = E::MANAGED_QUOTA;
    let limit = match E::ADJUSTABLE_MANAGED_QUOTA {
        Some(name) => crate::model::quotas::of_account(call.t, holder.account(), name)? as usize,
        None => default_limit,
    };
    if holder.attached().len() >= limit {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for {quota}: {limit}"
        )));
    }
    ATTACHMENTS.link(call.t, holder.account(), holder.id(), &policy.id)?;
    holder.attached_mut().push(policy.id.clone());
    policies_changed(call, &mut holder)?;
    policy.attachment_count += 1;
    save_usage(call.t, holder.account(), &policy)
}

fn detach<E: PolicyHolder>(
    call: &mut Call<'_>,
    target: HolderAndPolicy<E>,
    arn: &str,
) -> Result<()> {
    let mut holder = target.holder.existing()?;
    holder.check_modifiable()?;
    let mut policy = target
        .policy
        .record
        .filter(|p| holder.attached().contains(&p.id))
        .ok_or_else(|| no_such_policy(arn))?;
    ATTACHMENTS.unlink(call.t, holder.account(), holder.id(), &policy.id)?;
    holder.attached_mut().retain(|id| *id != policy.id);
    policies_changed(call, &mut holder)?;
    policy.attachment_count = policy.attachment_count.saturating_sub(1);
    save_usage(call.t, holder.account(), &policy)
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
        if let Some(policy) = policy_by_id(call.t, holder.account(), id)?
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

/// Declares `Attach…Policy`, `Detach…Policy` and `ListAttached…Policies` for one policy holder:
/// its record type, the request field naming it, then each operation with its shapes.
macro_rules! attachment_operations {
    ($holder:ty, $key:ident,
     $attach:ident($attach_req:ty),
     $detach:ident($detach_req:ty),
     $list:ident($list_req:ty => $list_resp:ident)) => {
        operation!($attach, Iam, writes, $attach_req => ());
        impl Handler for $attach {
            type Target = HolderAndPolicy<$holder>;
            fn resolve(call: &mut Call<'_>, input: &$attach_req) -> Result<(Self::Target, Access)> {
                resolve(call, &input.$key, &input.policy_arn, Self::ACTION)
            }
            fn run(
                call: &mut Call<'_>,
                _: Authorized,
                target: Self::Target,
                input: &$attach_req,
            ) -> Result<()> {
                attach(call, target, &input.policy_arn)
            }
        }

        operation!($detach, Iam, writes, $detach_req => ());
        impl Handler for $detach {
            type Target = HolderAndPolicy<$holder>;
            fn resolve(call: &mut Call<'_>, input: &$detach_req) -> Result<(Self::Target, Access)> {
                resolve(call, &input.$key, &input.policy_arn, Self::ACTION)
            }
            fn run(
                call: &mut Call<'_>,
                _: Authorized,
                target: Self::Target,
                input: &$detach_req,
            ) -> Result<()> {
                detach(call, target, &input.policy_arn)
            }
        }

        operation!($list, Iam, reads, $list_req => $list_resp);
        impl Handler for $list {
            type Target = Named<$holder>;
            fn resolve(call: &mut Call<'_>, input: &$list_req) -> Result<(Self::Target, Access)> {
                named(call, &input.$key, Self::ACTION)
            }
            fn run(
                call: &mut Call<'_>,
                _: Authorized,
                holder: Self::Target,
                input: &$list_req,
            ) -> Result<$list_resp> {
                let page = list_attached(
                    call,
                    holder,
                    input.path_prefix.as_deref(),
                    input.marker.as_deref(),
                    input.max_items,
                )?;
                Ok($list_resp {
                    is_truncated: Some(page.is_truncated()),
                    marker: page.next_marker,
                    attached_policies: Some(page.items),
                })
            }
        }
    };
}

attachment_operations!(
    UserRecord, user_name,
    AttachUserPolicy(AttachUserPolicyRequest),
    DetachUserPolicy(DetachUserPolicyRequest),
    ListAttachedUserPolicies(ListAttachedUserPoliciesRequest => ListAttachedUserPoliciesResponse)
);
attachment_operations!(
    GroupRecord, group_name,
    AttachGroupPolicy(AttachGroupPolicyRequest),
    DetachGroupPolicy(DetachGroupPolicyRequest),
    ListAttachedGroupPolicies(ListAttachedGroupPoliciesRequest => ListAttachedGroupPoliciesResponse)
);
attachment_operations!(
    RoleRecord, role_name,
    AttachRolePolicy(AttachRolePolicyRequest),
    DetachRolePolicy(DetachRolePolicyRequest),
    ListAttachedRolePolicies(ListAttachedRolePoliciesRequest => ListAttachedRolePoliciesResponse)
);

/// Sets (or clears) a user's or role's boundary, keeping the policies' usage counts.
pub(crate) fn set_boundary<E: BoundaryHolder>(
    t: &mut (impl Txn + ?Sized),
    holder: &mut E,
    boundary: Option<ManagedPolicyRecord>,
) -> Result<()> {
    let account = holder.account().to_string();
    let new_arn = boundary.as_ref().map(Entity::arn);
    // The same boundary again changes nothing (and must not count twice).
    if *holder.boundary_slot() == new_arn {
        return Ok(());
    }
    if let Some(old) = holder.boundary_slot().take() {
        release_boundary(t, &account, &old)?;
    }
    if let Some(arn) = new_arn {
        // Read again: releasing the old boundary may have changed this very record.
        let mut new = policy_by_arn(t, &account, &arn)?
            .ok_or_else(|| crate::errors::internal("a boundary policy vanished"))?;
        *holder.boundary_slot() = Some(arn);
        new.boundary_count += 1;
        save_usage(t, &account, &new)?;
    }
    *holder.policies_rev_mut() += 1;
    entity::save(t, holder)
}

/// One principal fewer uses the policy at `arn` as its boundary.
pub(crate) fn release_boundary(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    arn: &str,
) -> Result<()> {
    if let Some(mut policy) = policy_by_arn(t, account, arn)? {
        policy.boundary_count = policy.boundary_count.saturating_sub(1);
        save_usage(t, account, &policy)?;
    }
    Ok(())
}

/// Names a boundary holder and the policy to make its boundary, stating `action` with
/// `iam:PermissionsBoundary`.
pub(crate) fn resolve_put_boundary<E: BoundaryHolder>(
    call: &mut Call<'_>,
    holder_name: &str,
    boundary: &str,
    action: &'static str,
) -> Result<(HolderAndPolicy<E>, Access)> {
    let holder = Named::<E>::find(call.t, call.account(), holder_name)?;
    let policy = NamedPolicy::find(call, boundary)?;
    let access = holder
        .access(call.account(), action)
        .with("iam:PermissionsBoundary", vec![boundary.to_string()]);
    Ok((HolderAndPolicy { holder, policy }, access))
}

pub(crate) fn put_boundary<E: BoundaryHolder>(
    call: &mut Call<'_>,
    target: HolderAndPolicy<E>,
    boundary: &str,
) -> Result<()> {
    let mut holder = target.holder.existing()?;
    let policy = target
        .policy
        .record
        .ok_or_else(|| not_attachable(boundary))?;
    set_boundary(call.t, &mut holder, Some(policy))
}

/// Names a boundary holder, stating `action` with its current boundary (if any) as
/// `iam:PermissionsBoundary`.
pub(crate) fn resolve_delete_boundary<E: BoundaryHolder>(
    call: &mut Call<'_>,
    holder_name: &str,
    action: &'static str,
) -> Result<(Named<E>, Access)> {
    let mut holder = Named::<E>::find(call.t, call.account(), holder_name)?;
    let current = holder
        .record
        .as_mut()
        .and_then(|h| h.boundary_slot().clone());
    let mut access = holder.access(call.account(), action);
    if let Some(boundary) = current {
        access = access.with("iam:PermissionsBoundary", vec![boundary]);
    }
    Ok((holder, access))
}

pub(crate) fn delete_boundary<E: BoundaryHolder>(
    call: &mut Call<'_>,
    holder: Named<E>,
) -> Result<()> {
    let mut holder = holder.existing()?;
    // AWS answers success for a holder without a boundary.
    if holder.boundary_slot().is_none() {
        return Ok(());
    }
    set_boundary(call.t, &mut holder, None)
}

operation!(PutUserPermissionsBoundary, Iam, writes, PutUserPermissionsBoundaryRequest => ());
impl Handler for PutUserPermissionsBoundary {
    type Target = HolderAndPolicy<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &PutUserPermissionsBoundaryRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve_put_boundary(
            call,
            &input.user_name,
            &input.permissions_boundary,
            Self::ACTION,
        )
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &PutUserPermissionsBoundaryRequest,
    ) -> Result<()> {
        put_boundary(call, target, &input.permissions_boundary)
    }
}

operation!(DeleteUserPermissionsBoundary, Iam, writes, DeleteUserPermissionsBoundaryRequest => ());
impl Handler for DeleteUserPermissionsBoundary {
    type Target = Named<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteUserPermissionsBoundaryRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve_delete_boundary(call, &input.user_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: Self::Target,
        _: &DeleteUserPermissionsBoundaryRequest,
    ) -> Result<()> {
        delete_boundary(call, user)
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
        // The caller's account: an AWS managed policy's own is `aws`.
        let account = call.account().to_string();
        let path_prefix = input.path_prefix.as_deref().unwrap_or("/");
        let wants_users = matches!(input.entity_filter, None | Some(EntityType::User));
        let wants_groups = matches!(input.entity_filter, None | Some(EntityType::Group))
            && input.policy_usage_filter != Some(PolicyUsageType::PermissionsBoundary);
        let mut groups: Vec<GroupRecord> = Vec::new();
        let wants_roles = matches!(input.entity_filter, None | Some(EntityType::Role))
            && input.policy_usage_filter != Some(PolicyUsageType::PermissionsBoundary);
        let mut roles: Vec<RoleRecord> = Vec::new();
        let mut users: Vec<UserRecord> = Vec::new();
        if wants_users {
            if input.policy_usage_filter != Some(PolicyUsageType::PermissionsBoundary) {
                for id in ATTACHMENTS.sources(call.t, &account, &policy.id)? {
                    users.extend(entity::by_id::<UserRecord>(call.t, &account, &id)?);
                }
            }
            if input.policy_usage_filter != Some(PolicyUsageType::PermissionsPolicy)
                && policy.boundary_count > 0
            {
                let all: Vec<(String, UserRecord)> = call.t.scan_records(
                    crate::model::records::USERS,
                    &crate::model::records::prefix(&account, &[]),
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
        let roles_as_boundary = matches!(input.entity_filter, None | Some(EntityType::Role))
            && input.policy_usage_filter != Some(PolicyUsageType::PermissionsPolicy)
            && policy.boundary_count > 0;
        if roles_as_boundary {
            let all: Vec<(String, RoleRecord)> = call.t.scan_records(
                crate::model::records::ROLES,
                &crate::model::records::prefix(&account, &[]),
                None,
                usize::MAX,
            )?;
            roles.extend(
                all.into_iter()
                    .map(|(_, r)| r)
                    .filter(|r| r.permissions_boundary.as_deref() == Some(arn.as_str())),
            );
        }
        if wants_groups || wants_roles {
            for id in ATTACHMENTS.sources(call.t, &account, &policy.id)? {
                if wants_groups {
                    groups.extend(entity::by_id::<GroupRecord>(call.t, &account, &id)?);
                }
                if wants_roles {
                    roles.extend(entity::by_id::<RoleRecord>(call.t, &account, &id)?);
                }
            }
        }
        roles.retain(|r| r.path.starts_with(path_prefix));
        roles.sort_by_key(|r| (r.name.to_lowercase(), r.id.clone()));
        roles.dedup_by(|a, b| a.id == b.id);
        groups.retain(|g| g.path.starts_with(path_prefix));
        groups.sort_by_key(|g| g.name.to_lowercase());
        users.retain(|u| u.path.starts_with(path_prefix));
        users.sort_by_key(|u| u.name.to_lowercase());
        users.dedup_by(|a, b| a.id == b.id);
        // One list in AWS's order (groups, users, roles), paged as one.
        let entities: Vec<(String, String, EntityType)> = groups
            .into_iter()
            .map(|g| (g.id, g.name, EntityType::Group))
            .chain(users.into_iter().map(|u| (u.id, u.name, EntityType::User)))
            .chain(roles.into_iter().map(|r| (r.id, r.name, EntityType::Role)))
            .collect();
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(entities, |(id, _, _)| id.clone())?;
        Ok(ListEntitiesForPolicyResponse {
            policy_groups: Some(
                page.items
                    .iter()
                    .filter(|(_, _, kind)| *kind == EntityType::Group)
                    .map(|(id, name, _)| PolicyGroup {
                        group_name: Some(name.clone()),
                        group_id: Some(id.clone()),
                    })
                    .collect(),
            ),
            policy_users: Some(
                page.items
                    .iter()
                    .filter(|(_, _, kind)| *kind == EntityType::User)
                    .map(|(id, name, _)| PolicyUser {
                        user_name: Some(name.clone()),
                        user_id: Some(id.clone()),
                    })
                    .collect(),
            ),
            policy_roles: Some(
                page.items
                    .iter()
                    .filter(|(_, _, kind)| *kind == EntityType::Role)
                    .map(|(id, name, _)| PolicyRole {
                        role_name: Some(name.clone()),
                        role_id: Some(id.clone()),
                    })
                    .collect(),
            ),
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
        })
    }
}
