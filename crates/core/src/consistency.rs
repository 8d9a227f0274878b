//! A check that the stored entities agree with each other, both ways for every index and
//! relation, run by `gatehouse store check` after the backend's own integrity check. It runs
//! in one read transaction and changes nothing.

use gatehouse_store::{StoreError, Txn, read};

use crate::Gatehouse;
use crate::errors::Failure;
use crate::iam::{ATTACHMENTS, MEMBERSHIP, PROFILE_ROLE};
use crate::model::entity::Entity;
use crate::model::records::{
    ACCESS_KEYS, ACCOUNTS, AWS_POLICY_USAGE, AccessKeyRecord, AccountRecord, AwsPolicyUsage,
    GROUPS, GroupRecord, INLINE_POLICIES, INSTANCE_PROFILES, InstanceProfileRecord, KEY_LAST_USED,
    LOGIN_PROFILES, MFA_DEVICES, ManagedPolicyRecord, MfaDeviceRecord, OidcProviderRecord,
    POLICIES, POLICY_VERSIONS, PRINCIPAL_KEYS, ROLES, ROOT_OWNER, Records, RoleRecord,
    SERVICE_CREDENTIALS, SIGNING_CERTIFICATES, SSH_PUBLIC_KEYS, SamlProviderRecord,
    ServerCertificateRecord, USER_MFA_DEVICES, USERS, UserRecord, key,
};
use crate::model::relation::Relation;

impl Gatehouse {
    /// Every problem found, in words; empty when the store is consistent.
    pub fn check_consistency(&self) -> Result<Vec<String>, StoreError> {
        read(self.store.as_ref(), |t| {
            let mut problems = Vec::new();
            check_entities::<UserRecord>(t, &mut problems)?;
            check_entities::<ManagedPolicyRecord>(t, &mut problems)?;
            check_entities::<GroupRecord>(t, &mut problems)?;
            check_entities::<RoleRecord>(t, &mut problems)?;
            check_entities::<InstanceProfileRecord>(t, &mut problems)?;
            check_entities::<OidcProviderRecord>(t, &mut problems)?;
            check_entities::<ServerCertificateRecord>(t, &mut problems)?;
            check_entities::<SamlProviderRecord>(t, &mut problems)?;
            check_entities::<MfaDeviceRecord>(t, &mut problems)?;
            check_mfa_assignments(t, &mut problems)?;
            self.check_keys(t, &mut problems)?;
            check_credentials_have_owners(t, &mut problems)?;
            check_owned_rows(t, INLINE_POLICIES, &mut problems)?;
            check_owned_rows(t, LOGIN_PROFILES, &mut problems)?;
            check_attachments(t, &mut problems)?;
            for row in self.secrets_not_under_active_key(t)? {
                problems.push(format!(
                    "{row} holds a secret not sealed under the active master key: an \
                     interrupted rotation (run `gatehouse master-key rotate` again)"
                ));
            }
            Ok::<_, Failure>(problems)
        })
        .map_err(|e| match e {
            Failure::Store(e) => e,
            Failure::Api(e) => StoreError::Backend(e.message),
        })
    }

    fn check_keys(&self, t: &mut dyn Txn, problems: &mut Vec<String>) -> Result<(), Failure> {
        let keys: Vec<(String, AccessKeyRecord)> =
            t.scan_records(ACCESS_KEYS, "", None, usize::MAX)?;
        for (id, k) in &keys {
            if t.get_record::<AccountRecord>(ACCOUNTS, &k.account)?
                .is_none()
            {
                problems.push(format!(
                    "access key {id} belongs to a missing account {}",
                    k.account
                ));
            }
            if k.owner != ROOT_OWNER && t.get(USERS, &key(&k.account, &[&k.owner]))?.is_none() {
                problems.push(format!(
                    "access key {id} belongs to a missing user {}",
                    k.owner
                ));
            }
            if t.get(PRINCIPAL_KEYS, &key(&k.account, &[&k.owner, id]))?
                .is_none()
            {
                problems.push(format!("access key {id} is missing from its owner's index"));
            }
            if self.open_sealed(&k.sealed_secret, id).is_err() {
                problems.push(format!(
                    "access key {id}'s secret cannot be opened with this master key"
                ));
            }
        }
        for (row, _) in t.scan(PRINCIPAL_KEYS, "", None, usize::MAX)? {
            let parts: Vec<&str> = row.split('/').collect();
            let ok = match parts.as_slice() {
                [account, owner, id] => t
                    .get_record::<AccessKeyRecord>(ACCESS_KEYS, id)?
                    .is_some_and(|k| k.account == *account && k.owner == *owner),
                _ => false,
            };
            if !ok {
                problems.push(format!("owner index row {row} names no such access key"));
            }
        }
        for (id, _) in t.scan(KEY_LAST_USED, "", None, usize::MAX)? {
            if t.get(ACCESS_KEYS, &id)?.is_none() {
                problems.push(format!("last-used record of a missing access key {id}"));
            }
        }
        Ok(())
    }
}

/// Every entity of a type is under its own key and in the name index, and every name index
/// row names an entity of that name.
fn check_entities<E: Entity>(t: &mut dyn Txn, problems: &mut Vec<String>) -> Result<(), Failure> {
    let all: Vec<(String, E)> = t.scan_records(E::TABLE, "", None, usize::MAX)?;
    for (row, entity) in &all {
        if *row != key(entity.account(), &[entity.id()]) {
            problems.push(format!(
                "{} {} is stored under the key {row}",
                E::KIND,
                entity.name()
            ));
        }
        if entity.name().is_empty() || entity.id().is_empty() || !entity.path().starts_with('/') {
            problems.push(format!("{} {row} is malformed", E::KIND));
        }
        let name_row = key(entity.account(), &[&entity.name().to_lowercase()]);
        if t.get_text(E::NAMES, &name_row)?.as_deref() != Some(entity.id()) {
            problems.push(format!(
                "{} {} is missing from the name index",
                E::KIND,
                entity.arn()
            ));
        }
    }
    for (row, id) in t.scan(E::NAMES, "", None, usize::MAX)? {
        let account = row.split('/').next().unwrap_or("");
        let id = String::from_utf8_lossy(&id).to_string();
        match t.get_record::<E>(E::TABLE, &key(account, &[&id]))? {
            Some(entity) if key(account, &[&entity.name().to_lowercase()]) == row => {}
            _ => problems.push(format!(
                "{} name index row {row} names no such {} {id}",
                E::KIND,
                E::KIND
            )),
        }
    }
    Ok(())
}

/// Attachments agree both ways, with each user's own list, and with each policy's count;
/// every managed policy has its default version.
fn check_attachments(t: &mut dyn Txn, problems: &mut Vec<String>) -> Result<(), Failure> {
    problems.extend(ATTACHMENTS.check(t)?);
    problems.extend(MEMBERSHIP.check(t)?);
    problems.extend(PROFILE_ROLE.check(t)?);
    let profiles: Vec<(String, InstanceProfileRecord)> =
        t.scan_records(INSTANCE_PROFILES, "", None, usize::MAX)?;
    for (_, profile) in &profiles {
        check_listed(t, &PROFILE_ROLE, profile, &profile.roles, "roles", problems)?;
    }
    let mut counts: std::collections::HashMap<String, u32> = Default::default();
    let users: Vec<(String, UserRecord)> = t.scan_records(USERS, "", None, usize::MAX)?;
    for (_, user) in &users {
        check_listed(
            t,
            &ATTACHMENTS,
            user,
            &user.attached_policies,
            "attached policies",
            problems,
        )?;
        check_listed(t, &MEMBERSHIP, user, &user.groups, "groups", problems)?;
        for id in &user.attached_policies {
            *counts.entry(key(&user.account, &[id])).or_default() += 1;
        }
    }
    let roles: Vec<(String, RoleRecord)> = t.scan_records(ROLES, "", None, usize::MAX)?;
    for (_, role) in &roles {
        check_listed(
            t,
            &ATTACHMENTS,
            role,
            &role.attached_policies,
            "attached policies",
            problems,
        )?;
        for id in &role.attached_policies {
            *counts.entry(key(&role.account, &[id])).or_default() += 1;
        }
    }
    let groups: Vec<(String, GroupRecord)> = t.scan_records(GROUPS, "", None, usize::MAX)?;
    for (_, group) in &groups {
        check_listed(
            t,
            &ATTACHMENTS,
            group,
            &group.attached_policies,
            "attached policies",
            problems,
        )?;
        for id in &group.attached_policies {
            *counts.entry(key(&group.account, &[id])).or_default() += 1;
        }
    }
    let policies: Vec<(String, ManagedPolicyRecord)> =
        t.scan_records(POLICIES, "", None, usize::MAX)?;
    // Keyed by account and ARN: an AWS managed policy's ARN is the same in every account.
    let mut boundaries: std::collections::HashMap<String, u32> = Default::default();
    for (account, arn) in users
        .iter()
        .filter_map(|(_, u)| Some((&u.account, u.permissions_boundary.clone()?)))
        .chain(
            roles
                .iter()
                .filter_map(|(_, r)| Some((&r.account, r.permissions_boundary.clone()?))),
        )
    {
        *boundaries.entry(key(account, &[&arn])).or_default() += 1;
    }
    let usage: Vec<(String, AwsPolicyUsage)> =
        t.scan_records(AWS_POLICY_USAGE, "", None, usize::MAX)?;
    for (row, used) in &usage {
        let (account, id) = row.split_once('/').unwrap_or_default();
        let Some(aws) = crate::model::aws_policies::by_id(id) else {
            problems.push(format!("usage counted for unknown AWS policy {id}"));
            continue;
        };
        let arn = aws.record.arn();
        if used.boundary_count != boundaries.get(&key(account, &[&arn])).copied().unwrap_or(0)
            || used.attachment_count != counts.get(row).copied().unwrap_or(0)
        {
            problems.push(format!("account {account} miscounts its uses of {arn}"));
        }
    }
    for row in counts.keys() {
        let (account, id) = row.split_once('/').unwrap_or_default();
        if let Some(aws) = crate::model::aws_policies::by_id(id)
            && !usage.iter().any(|(r, _)| r == row)
        {
            problems.push(format!(
                "account {account} does not count its attachments of {}",
                aws.record.arn()
            ));
        }
    }
    for (row, policy) in &policies {
        let boundary_row = key(&policy.account, &[&policy.arn()]);
        if policy.boundary_count != boundaries.get(&boundary_row).copied().unwrap_or(0) {
            problems.push(format!(
                "policy {} counts {} uses as a boundary",
                policy.arn(),
                policy.boundary_count
            ));
        }
        if policy.attachment_count != counts.get(row).copied().unwrap_or(0) {
            problems.push(format!(
                "policy {} counts {} attachments",
                policy.arn(),
                policy.attachment_count
            ));
        }
        if t.get(
            POLICY_VERSIONS,
            &key(&policy.account, &[&policy.id, &policy.default_version]),
        )?
        .is_none()
        {
            problems.push(format!("policy {} lacks its default version", policy.arn()));
        }
    }
    Ok(())
}

/// Every SSH key, signing certificate and service-specific credential belongs to a user
/// (signing certificates: or to the account's root).
fn check_credentials_have_owners(
    t: &mut dyn Txn,
    problems: &mut Vec<String>,
) -> Result<(), Failure> {
    for table in [SSH_PUBLIC_KEYS, SIGNING_CERTIFICATES, SERVICE_CREDENTIALS] {
        for (row, _) in t.scan(table, "", None, usize::MAX)? {
            let owned = match row.split('/').collect::<Vec<_>>().as_slice() {
                [account, owner, _] if *owner == ROOT_OWNER => {
                    table == SIGNING_CERTIFICATES && t.get(ACCOUNTS, account)?.is_some()
                }
                [account, owner, _] => t.get(USERS, &key(account, &[owner]))?.is_some(),
                _ => false,
            };
            if !owned {
                problems.push(format!("{table} row {row} belongs to no user"));
            }
        }
    }
    Ok(())
}

/// An enabled MFA device and its owner's row name each other, and the owner exists.
fn check_mfa_assignments(t: &mut dyn Txn, problems: &mut Vec<String>) -> Result<(), Failure> {
    let devices: Vec<(String, MfaDeviceRecord)> =
        t.scan_records(MFA_DEVICES, "", None, usize::MAX)?;
    for (_, device) in &devices {
        if let Some(assignment) = &device.assignment {
            let row = key(&device.account, &[&assignment.owner, &device.id]);
            if t.get(USER_MFA_DEVICES, &row)?.is_none() {
                problems.push(format!(
                    "MFA device {} is enabled for {} without its {USER_MFA_DEVICES} row",
                    device.arn(),
                    assignment.owner
                ));
            }
        }
    }
    for (row, _) in t.scan(USER_MFA_DEVICES, "", None, usize::MAX)? {
        let [account, owner, id] = row.split('/').collect::<Vec<_>>()[..] else {
            problems.push(format!("{USER_MFA_DEVICES} row {row} is malformed"));
            continue;
        };
        let device: Option<MfaDeviceRecord> = t.get_record(MFA_DEVICES, &key(account, &[id]))?;
        let agrees = device.is_some_and(|d| d.assignment.is_some_and(|a| a.owner == owner));
        let owner_exists = owner == ROOT_OWNER || t.get(USERS, &key(account, &[owner]))?.is_some();
        if !agrees || !owner_exists {
            problems.push(format!(
                "{USER_MFA_DEVICES} row {row} names no device enabled for an existing owner"
            ));
        }
    }
    Ok(())
}

/// An entity's own list of related ids agrees with the relation's rows.
fn check_listed<E: Entity>(
    t: &mut dyn Txn,
    relation: &Relation,
    entity: &E,
    listed: &[String],
    what: &str,
    problems: &mut Vec<String>,
) -> Result<(), Failure> {
    let mut linked = relation.targets(t, entity.account(), entity.id())?;
    let mut listed = listed.to_vec();
    linked.sort();
    listed.sort();
    if linked != listed {
        problems.push(format!(
            "{} {}'s {what} disagree with the relation's rows",
            E::KIND,
            entity.arn()
        ));
    }
    Ok(())
}

/// Rows keyed `{account}/{owner id}/…` whose owner must exist.
fn check_owned_rows(
    t: &mut dyn Txn,
    table: gatehouse_store::Table,
    problems: &mut Vec<String>,
) -> Result<(), Failure> {
    for (row, _) in t.scan(table, "", None, usize::MAX)? {
        let mut parts = row.splitn(3, '/');
        let (Some(account), Some(owner)) = (parts.next(), parts.next()) else {
            problems.push(format!("{table} row {row} is malformed"));
            continue;
        };
        let owner_row = key(account, &[owner]);
        if t.get(USERS, &owner_row)?.is_none()
            && t.get(GROUPS, &owner_row)?.is_none()
            && t.get(ROLES, &owner_row)?.is_none()
        {
            problems.push(format!(
                "{table} row {row} belongs to a missing principal {owner}"
            ));
        }
    }
    Ok(())
}
