//! The account itself: its alias (CreateAccountAlias, DeleteAccountAlias,
//! ListAccountAliases) and GetAccountSummary.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    CreateAccountAliasRequest, DeleteAccountAliasRequest, GetAccountSummaryRequest,
    GetAccountSummaryResponse, GlobalEndpointTokenVersion, ListAccountAliasesRequest,
    ListAccountAliasesResponse, SetSecurityTokenServicePreferencesRequest, SummaryKeyType,
};

use crate::authz::{Access, Authorized};
use crate::errors::{Failure, Result, internal};
use crate::model::pagination::PageRequest;
use crate::model::quotas;
use crate::model::records::{
    ACCOUNT_ALIASES, ACCOUNTS, AccountRecord, GROUPS, INSTANCE_PROFILES, OIDC_PROVIDERS, POLICIES,
    POLICY_VERSIONS, PRINCIPAL_KEYS, ROLES, ROOT_OWNER, Records, SAML_PROVIDERS,
    SERVER_CERTIFICATES, SIGNING_CERTIFICATES, USERS, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

fn account_record(call: &mut Call<'_>) -> Result<AccountRecord> {
    call.t
        .get_record(ACCOUNTS, call.account())?
        .ok_or_else(|| internal("the caller's account has no record"))
}

fn no_such_alias(alias: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The account alias {alias} cannot be found."),
    )
    .into()
}

operation!(CreateAccountAlias, Iam, writes, CreateAccountAliasRequest => ());
impl Handler for CreateAccountAlias {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &CreateAccountAliasRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    /// An account has one alias: a new one replaces it. Aliases are unique across accounts.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &CreateAccountAliasRequest,
    ) -> Result<()> {
        let mut account = account_record(call)?;
        if account.alias.as_deref() == Some(input.account_alias.as_str()) {
            return Ok(());
        }
        if !call
            .t
            .insert(ACCOUNT_ALIASES, &input.account_alias, account.id.as_bytes())?
        {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                format!("The account alias {} already exists.", input.account_alias),
            )
            .into());
        }
        if let Some(old) = account.alias.replace(input.account_alias.clone()) {
            call.t.delete(ACCOUNT_ALIASES, &old)?;
        }
        call.t.put_record(ACCOUNTS, &account.id.clone(), &account)?;
        Ok(())
    }
}

operation!(DeleteAccountAlias, Iam, writes, DeleteAccountAliasRequest => ());
impl Handler for DeleteAccountAlias {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &DeleteAccountAliasRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &DeleteAccountAliasRequest,
    ) -> Result<()> {
        let mut account = account_record(call)?;
        if account.alias.as_deref() != Some(input.account_alias.as_str()) {
            return Err(no_such_alias(&input.account_alias));
        }
        account.alias = None;
        call.t.delete(ACCOUNT_ALIASES, &input.account_alias)?;
        call.t.put_record(ACCOUNTS, &account.id.clone(), &account)?;
        Ok(())
    }
}

operation!(ListAccountAliases, Iam, reads, ListAccountAliasesRequest => ListAccountAliasesResponse);
impl Handler for ListAccountAliases {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &ListAccountAliasesRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &ListAccountAliasesRequest,
    ) -> Result<ListAccountAliasesResponse> {
        let aliases: Vec<String> = account_record(call)?.alias.into_iter().collect();
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(aliases, Clone::clone)?;
        Ok(ListAccountAliasesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            account_aliases: page.items,
        })
    }
}

operation!(GetAccountSummary, Iam, reads, GetAccountSummaryRequest => GetAccountSummaryResponse);
impl Handler for GetAccountSummary {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &GetAccountSummaryRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    /// Every key AWS sends, with the account's quotas.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        _: &GetAccountSummaryRequest,
    ) -> Result<GetAccountSummaryResponse> {
        let under = prefix(call.account(), &[]);
        let mut count = |table| -> Result<i32> {
            Ok(i32::try_from(call.t.count(table, &under)?).unwrap_or(i32::MAX))
        };
        let users = count(USERS)?;
        let groups = count(GROUPS)?;
        let roles = count(ROLES)?;
        let policies = count(POLICIES)?;
        let versions = count(POLICY_VERSIONS)?;
        let profiles = count(INSTANCE_PROFILES)?;
        let providers = count(OIDC_PROVIDERS)? + count(SAML_PROVIDERS)?;
        let server_certificates = count(SERVER_CERTIFICATES)?;
        let root_certificates = call
            .t
            .count(SIGNING_CERTIFICATES, &prefix(call.account(), &[ROOT_OWNER]))?;
        let account_record = call
            .t
            .get_record::<AccountRecord>(ACCOUNTS, call.account())?
            .unwrap_or_default();
        let raised = &account_record.quotas;
        let quota = |name| i32::try_from(quotas::value(raised, name)).unwrap_or(i32::MAX);
        let root_keys = call
            .t
            .count(PRINCIPAL_KEYS, &prefix(call.account(), &[ROOT_OWNER]))?;
        let account = call.account();
        let (mfa_devices, mfa_in_use, root_mfa) = crate::iam::device_counts(call.t, account)?;
        let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        use SummaryKeyType as K;
        let summary = vec![
            (K::Users, users),
            (K::UsersQuota, quota(quotas::USERS_PER_ACCOUNT)),
            (K::Groups, groups),
            (K::GroupsQuota, quota(quotas::GROUPS_PER_ACCOUNT)),
            (K::ServerCertificates, server_certificates),
            (K::ServerCertificatesQuota, 20),
            (K::UserPolicySizeQuota, 2048),
            (K::GroupPolicySizeQuota, 5120),
            (K::GroupsPerUserQuota, 10),
            (K::SigningCertificatesPerUserQuota, 2),
            (K::AccessKeysPerUserQuota, 2),
            (K::MFADevices, clamp(mfa_devices)),
            (K::MFADevicesInUse, clamp(mfa_in_use)),
            (K::AccountMFAEnabled, i32::from(root_mfa)),
            (K::AccountAccessKeysPresent, i32::from(root_keys > 0)),
            (K::AccountPasswordPresent, 0),
            (
                K::AccountSigningCertificatesPresent,
                i32::from(root_certificates > 0),
            ),
            (K::AttachedPoliciesPerGroupQuota, 10),
            (
                K::AttachedPoliciesPerRoleQuota,
                quota(quotas::MANAGED_POLICIES_PER_ROLE),
            ),
            (
                K::AttachedPoliciesPerUserQuota,
                quota(quotas::MANAGED_POLICIES_PER_USER),
            ),
            (K::Policies, policies),
            (K::PoliciesQuota, 1500),
            (K::PolicySizeQuota, 6144),
            (K::PolicyVersionsInUse, versions),
            (K::PolicyVersionsInUseQuota, 10000),
            (K::VersionsPerPolicyQuota, 5),
            (
                K::GlobalEndpointTokenVersion,
                i32::from(account_record.global_endpoint_token_version.unwrap_or(1)),
            ),
            (
                K::AssumeRolePolicySizeQuota,
                quota(quotas::ROLE_TRUST_POLICY_LENGTH),
            ),
            (K::InstanceProfiles, profiles),
            (
                K::InstanceProfilesQuota,
                quota(quotas::INSTANCE_PROFILES_PER_ACCOUNT),
            ),
            (K::Providers, providers),
            (K::RolePolicySizeQuota, 10240),
            (K::Roles, roles),
            (K::RolesQuota, quota(quotas::ROLES_PER_ACCOUNT)),
        ];
        Ok(GetAccountSummaryResponse {
            summary_map: Some(summary),
        })
    }
}

operation!(SetSecurityTokenServicePreferences, Iam, writes, SetSecurityTokenServicePreferencesRequest => ());
impl Handler for SetSecurityTokenServicePreferences {
    type Target = ();
    fn resolve(
        _: &mut Call<'_>,
        _: &SetSecurityTokenServicePreferencesRequest,
    ) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    /// Recorded and reported by `GetAccountSummary`; Gatehouse's tokens are valid everywhere
    /// it serves, whichever version is chosen.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &SetSecurityTokenServicePreferencesRequest,
    ) -> Result<()> {
        let mut account = account_record(call)?;
        account.global_endpoint_token_version = match input.global_endpoint_token_version {
            GlobalEndpointTokenVersion::V1Token => None,
            GlobalEndpointTokenVersion::V2Token => Some(2),
        };
        call.t.put_record(ACCOUNTS, &account.id.clone(), &account)?;
        Ok(())
    }
}
