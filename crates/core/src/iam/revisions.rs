//! Keeps every principal's `policies_rev` current: a change to anything a principal's policy
//! set is made of bumps it in the same transaction, so that authorization can trust a compiled
//! set whose revision matches the principal record it reads anyway (`authz::policy_set_of`),
//! with no further read. A principal's own policies and boundary bump it where they change
//! (`inline_policies::policies_changed`, `attachments::set_boundary`), and so does its group
//! membership (`groups.rs`); this module carries changes that reach principals indirectly.

use gatehouse_store::Txn;

use crate::errors::Result;
use crate::iam::{ATTACHMENTS, MEMBERSHIP};
use crate::model::entity::{self, Entity};
use crate::model::records::{
    GroupRecord, ManagedPolicyRecord, ROLES, Records, RoleRecord, USERS, UserRecord, prefix,
};

fn bump_user(t: &mut (impl Txn + ?Sized), account: &str, id: &str) -> Result<()> {
    if let Some(mut user) = entity::by_id::<UserRecord>(t, account, id)? {
        user.policies_rev += 1;
        entity::save(t, &user)?;
    }
    Ok(())
}

/// A group's policies changed: so did its members'.
pub(crate) fn group_changed(t: &mut (impl Txn + ?Sized), group: &GroupRecord) -> Result<()> {
    for user in MEMBERSHIP.sources(t, &group.account, &group.id)? {
        bump_user(t, &group.account, &user)?;
    }
    Ok(())
}

/// A managed policy's default version changed: so did the policies of every principal that
/// holds it — attached (directly or through a group) or as a permissions boundary.
pub(crate) fn managed_policy_changed(
    t: &mut (impl Txn + ?Sized),
    policy: &ManagedPolicyRecord,
) -> Result<()> {
    let account = policy.account.clone();
    for holder in ATTACHMENTS.sources(t, &account, &policy.id)? {
        if let Some(mut user) = entity::by_id::<UserRecord>(t, &account, &holder)? {
            user.policies_rev += 1;
            entity::save(t, &user)?;
        } else if let Some(mut group) = entity::by_id::<GroupRecord>(t, &account, &holder)? {
            group.policies_rev += 1;
            entity::save(t, &group)?;
            group_changed(t, &group)?;
        } else if let Some(mut role) = entity::by_id::<RoleRecord>(t, &account, &holder)? {
            role.policies_rev += 1;
            entity::save(t, &role)?;
        }
    }
    if policy.boundary_count > 0 {
        let arn = policy.arn();
        let users: Vec<(String, UserRecord)> =
            t.scan_records(USERS, &prefix(&account, &[]), None, usize::MAX)?;
        for (_, mut user) in users {
            if user.permissions_boundary.as_deref() == Some(arn.as_str()) {
                user.policies_rev += 1;
                entity::save(t, &user)?;
            }
        }
        let roles: Vec<(String, RoleRecord)> =
            t.scan_records(ROLES, &prefix(&account, &[]), None, usize::MAX)?;
        for (_, mut role) in roles {
            if role.permissions_boundary.as_deref() == Some(arn.as_str()) {
                role.policies_rev += 1;
                entity::save(t, &role)?;
            }
        }
    }
    Ok(())
}
