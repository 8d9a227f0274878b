//! The quotas an account may raise, as AWS lets accounts raise them through Service Quotas.
//! Each account keeps its own values on its record; the rest of AWS's quotas are fixed.

use std::collections::BTreeMap;

use gatehouse_store::Txn;

use crate::errors::Result;
use crate::model::records::{ACCOUNTS, AccountRecord, Records};

/// A quota an operator may raise for an account: its name, AWS's default, and how far AWS
/// lets it go.
pub struct AdjustableQuota {
    pub name: &'static str,
    pub default: u32,
    pub max: u32,
    pub what: &'static str,
}

pub const MANAGED_POLICIES_PER_USER: &str = "ManagedPoliciesPerUser";
pub const MANAGED_POLICIES_PER_ROLE: &str = "ManagedPoliciesPerRole";
pub const ROLE_TRUST_POLICY_LENGTH: &str = "RoleTrustPolicyLength";
pub const USERS_PER_ACCOUNT: &str = "UsersPerAccount";
pub const GROUPS_PER_ACCOUNT: &str = "GroupsPerAccount";
pub const ROLES_PER_ACCOUNT: &str = "RolesPerAccount";
pub const INSTANCE_PROFILES_PER_ACCOUNT: &str = "InstanceProfilesPerAccount";

pub const ADJUSTABLE: &[AdjustableQuota] = &[
    AdjustableQuota {
        name: MANAGED_POLICIES_PER_USER,
        default: 10,
        max: 20,
        what: "managed policies attached to one user",
    },
    AdjustableQuota {
        name: MANAGED_POLICIES_PER_ROLE,
        default: 10,
        max: 20,
        what: "managed policies attached to one role",
    },
    AdjustableQuota {
        name: ROLE_TRUST_POLICY_LENGTH,
        default: 2048,
        max: 4096,
        what: "characters of a role's trust policy, without whitespace",
    },
    AdjustableQuota {
        name: USERS_PER_ACCOUNT,
        default: 5000,
        max: 5000,
        what: "users in the account (AWS does not raise it)",
    },
    AdjustableQuota {
        name: GROUPS_PER_ACCOUNT,
        default: 300,
        max: 500,
        what: "groups in the account",
    },
    AdjustableQuota {
        name: ROLES_PER_ACCOUNT,
        default: 1000,
        max: 5000,
        what: "roles in the account",
    },
    AdjustableQuota {
        name: INSTANCE_PROFILES_PER_ACCOUNT,
        default: 1000,
        max: 5000,
        what: "instance profiles in the account",
    },
];

/// The quota `name` of an account whose raised values are `raised`.
pub fn value(raised: &BTreeMap<String, u32>, name: &str) -> u32 {
    raised.get(name).copied().unwrap_or_else(|| {
        ADJUSTABLE
            .iter()
            .find(|q| q.name == name)
            .map_or(0, |q| q.default)
    })
}

impl crate::Gatehouse {
    /// Every adjustable quota of `account`, with its value now.
    pub fn quotas(
        &self,
        account: &str,
    ) -> std::result::Result<Vec<(&'static AdjustableQuota, u32)>, String> {
        let raised = gatehouse_store::read(self.store.as_ref(), |t| {
            match t.get_record::<AccountRecord>(ACCOUNTS, account)? {
                Some(a) => Ok(a.quotas),
                None => Err(no_such_account(account)),
            }
        })
        .map_err(|e| gatehouse_protocol::error::ApiError::from(e).message)?;
        Ok(ADJUSTABLE
            .iter()
            .map(|q| (q, value(&raised, q.name)))
            .collect())
    }

    /// Raises (or lowers, down to AWS's default) a quota of `account`.
    pub fn set_quota(
        &self,
        account: &str,
        name: &str,
        new_value: u32,
    ) -> std::result::Result<(), String> {
        checked(name, new_value)?;
        gatehouse_store::write(self.store.as_ref(), |t| {
            let mut record = t
                .get_record::<AccountRecord>(ACCOUNTS, account)?
                .ok_or_else(|| no_such_account(account))?;
            record.quotas.insert(name.to_string(), new_value);
            t.put_record(ACCOUNTS, account, &record)?;
            Ok::<_, crate::errors::Failure>(())
        })
        .map_err(|e| gatehouse_protocol::error::ApiError::from(e).message)
    }
}

fn no_such_account(account: &str) -> crate::errors::Failure {
    gatehouse_protocol::error::ApiError::new(
        gatehouse_protocol::error::ErrorCode::NoSuchEntity,
        format!("there is no account {account}"),
    )
    .into()
}

/// The quota `name` of `account`, as stored (one point read).
pub fn of_account(t: &mut (impl Txn + ?Sized), account: &str, name: &str) -> Result<u32> {
    let raised = t
        .get_record::<AccountRecord>(ACCOUNTS, account)?
        .map(|a| a.quotas)
        .unwrap_or_default();
    Ok(value(&raised, name))
}

/// Checks a new value for `name`: a known quota, from AWS's default up to AWS's maximum.
pub fn checked(name: &str, value: u32) -> Result<&'static AdjustableQuota, String> {
    let quota = ADJUSTABLE.iter().find(|q| q.name == name).ok_or_else(|| {
        let names: Vec<&str> = ADJUSTABLE.iter().map(|q| q.name).collect();
        format!("unknown quota '{name}'; adjustable: {}", names.join(", "))
    })?;
    if !(quota.default..=quota.max).contains(&value) {
        return Err(format!(
            "{name} must be between {} (AWS's default) and {} (AWS's maximum)",
            quota.default, quota.max
        ));
    }
    Ok(quota)
}

#[cfg(test)]
mod tests {
    use gatehouse_protocol::iam::{CreateGroupRequest, IamApi};

    use super::*;
    use crate::test_support::{gatehouse_with_root, root_request, temp_store};

    #[test]
    fn an_account_holds_at_most_its_quota_of_groups_until_it_is_raised() {
        let account = "111122223333";
        let g = gatehouse_with_root(temp_store(), account, crate::MasterKey::generate().unwrap());
        let create = |name: String| {
            g.create_group(
                &root_request(account),
                CreateGroupRequest {
                    group_name: name,
                    path: None,
                },
            )
        };
        for i in 0..300 {
            create(format!("g{i}")).unwrap();
        }
        let refused = create("one-more".into()).unwrap_err();
        assert_eq!(
            refused.code,
            gatehouse_protocol::error::ErrorCode::LimitExceeded
        );
        assert_eq!(
            refused.message,
            "Cannot exceed quota for GroupsPerAccount: 300"
        );
        g.set_quota(account, GROUPS_PER_ACCOUNT, 301).unwrap();
        create("one-more".into()).unwrap();
        assert!(create("two-more".into()).is_err());
        assert!(
            g.set_quota(account, USERS_PER_ACCOUNT, 5001).is_err(),
            "AWS does not raise it"
        );
    }

    #[test]
    fn quotas_rise_within_awss_bounds_only() {
        let mut raised = BTreeMap::new();
        assert_eq!(value(&raised, MANAGED_POLICIES_PER_ROLE), 10);
        raised.insert(MANAGED_POLICIES_PER_ROLE.to_string(), 20);
        assert_eq!(value(&raised, MANAGED_POLICIES_PER_ROLE), 20);
        assert!(checked(MANAGED_POLICIES_PER_ROLE, 20).is_ok());
        assert!(checked(MANAGED_POLICIES_PER_ROLE, 21).is_err());
        assert!(checked(ROLE_TRUST_POLICY_LENGTH, 1000).is_err());
        assert!(checked("Nope", 1).is_err());
    }
}
