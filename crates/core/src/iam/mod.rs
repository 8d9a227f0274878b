//! The IAM API: each operation's handler lives in this module's files, one family a file;
//! the generated [`IamApi`] trait is implemented by routing every listed operation through
//! the one pipeline (`crate::pipeline`).

mod access_keys;
mod account;
mod attachments;
mod authorization_details;
mod common;
mod credential_report;
mod credentials;
mod groups;
mod inline_policies;
mod instance_profiles;
mod login_profiles;
mod mfa_devices;
mod oidc;
mod policies;
mod revisions;
mod roles;
mod saml_providers;
mod server_certificates;
mod service_credentials;
mod service_linked_roles;
mod signing_certificates;
mod simulate;
mod ssh_keys;
mod tagging;
mod users;

pub(crate) use attachments::ATTACHMENTS;
pub(crate) use groups::MEMBERSHIP;
pub(crate) use instance_profiles::PROFILE_ROLE;
pub(crate) use mfa_devices::{MfaCode, device_counts, has_device, mfa_code};
pub(crate) use policies::{default_document, policy_by_arn, policy_by_id, versions_of};

use gatehouse_protocol::iam::IamApi;

use crate::pipeline::operations;

operations!(IamApi {
    create_virtual_mfa_device => mfa_devices::CreateVirtualMFADevice,
    enable_mfa_device => mfa_devices::EnableMFADevice,
    resync_mfa_device => mfa_devices::ResyncMFADevice,
    deactivate_mfa_device => mfa_devices::DeactivateMFADevice,
    delete_virtual_mfa_device => mfa_devices::DeleteVirtualMFADevice,
    list_mfa_devices => mfa_devices::ListMFADevices,
    list_virtual_mfa_devices => mfa_devices::ListVirtualMFADevices,
    get_mfa_device => mfa_devices::GetMFADevice,
    tag_mfa_device => mfa_devices::TagMFADevice,
    untag_mfa_device => mfa_devices::UntagMFADevice,
    list_mfa_device_tags => mfa_devices::ListMFADeviceTags,
    generate_credential_report => credential_report::GenerateCredentialReport,
    get_credential_report => credential_report::GetCredentialReport,
    create_service_linked_role => service_linked_roles::CreateServiceLinkedRole,
    delete_service_linked_role => service_linked_roles::DeleteServiceLinkedRole,
    get_service_linked_role_deletion_status => service_linked_roles::GetServiceLinkedRoleDeletionStatus,
    create_saml_provider => saml_providers::CreateSAMLProvider,
    get_saml_provider => saml_providers::GetSAMLProvider,
    list_saml_providers => saml_providers::ListSAMLProviders,
    update_saml_provider => saml_providers::UpdateSAMLProvider,
    delete_saml_provider => saml_providers::DeleteSAMLProvider,
    tag_saml_provider => saml_providers::TagSAMLProvider,
    untag_saml_provider => saml_providers::UntagSAMLProvider,
    list_saml_provider_tags => saml_providers::ListSAMLProviderTags,
    upload_server_certificate => server_certificates::UploadServerCertificate,
    get_server_certificate => server_certificates::GetServerCertificate,
    list_server_certificates => server_certificates::ListServerCertificates,
    update_server_certificate => server_certificates::UpdateServerCertificate,
    delete_server_certificate => server_certificates::DeleteServerCertificate,
    tag_server_certificate => server_certificates::TagServerCertificate,
    untag_server_certificate => server_certificates::UntagServerCertificate,
    list_server_certificate_tags => server_certificates::ListServerCertificateTags,
    upload_ssh_public_key => ssh_keys::UploadSSHPublicKey,
    get_ssh_public_key => ssh_keys::GetSSHPublicKey,
    list_ssh_public_keys => ssh_keys::ListSSHPublicKeys,
    update_ssh_public_key => ssh_keys::UpdateSSHPublicKey,
    delete_ssh_public_key => ssh_keys::DeleteSSHPublicKey,
    upload_signing_certificate => signing_certificates::UploadSigningCertificate,
    list_signing_certificates => signing_certificates::ListSigningCertificates,
    update_signing_certificate => signing_certificates::UpdateSigningCertificate,
    delete_signing_certificate => signing_certificates::DeleteSigningCertificate,
    create_service_specific_credential => service_credentials::CreateServiceSpecificCredential,
    list_service_specific_credentials => service_credentials::ListServiceSpecificCredentials,
    reset_service_specific_credential => service_credentials::ResetServiceSpecificCredential,
    update_service_specific_credential => service_credentials::UpdateServiceSpecificCredential,
    delete_service_specific_credential => service_credentials::DeleteServiceSpecificCredential,
    add_client_id_to_open_id_connect_provider => oidc::AddClientIDToOpenIDConnectProvider,
    create_open_id_connect_provider => oidc::CreateOpenIDConnectProvider,
    delete_open_id_connect_provider => oidc::DeleteOpenIDConnectProvider,
    get_open_id_connect_provider => oidc::GetOpenIDConnectProvider,
    list_open_id_connect_provider_tags => oidc::ListOpenIDConnectProviderTags,
    list_open_id_connect_providers => oidc::ListOpenIDConnectProviders,
    remove_client_id_from_open_id_connect_provider => oidc::RemoveClientIDFromOpenIDConnectProvider,
    tag_open_id_connect_provider => oidc::TagOpenIDConnectProvider,
    untag_open_id_connect_provider => oidc::UntagOpenIDConnectProvider,
    update_open_id_connect_provider_thumbprint => oidc::UpdateOpenIDConnectProviderThumbprint,
    change_password => login_profiles::ChangePassword,
    create_login_profile => login_profiles::CreateLoginProfile,
    delete_account_password_policy => login_profiles::DeleteAccountPasswordPolicy,
    delete_login_profile => login_profiles::DeleteLoginProfile,
    get_account_password_policy => login_profiles::GetAccountPasswordPolicy,
    get_login_profile => login_profiles::GetLoginProfile,
    update_account_password_policy => login_profiles::UpdateAccountPasswordPolicy,
    update_login_profile => login_profiles::UpdateLoginProfile,
    get_account_authorization_details => authorization_details::GetAccountAuthorizationDetails,
    create_account_alias => account::CreateAccountAlias,
    delete_account_alias => account::DeleteAccountAlias,
    get_account_summary => account::GetAccountSummary,
    set_security_token_service_preferences => account::SetSecurityTokenServicePreferences,
    list_account_aliases => account::ListAccountAliases,
    add_role_to_instance_profile => instance_profiles::AddRoleToInstanceProfile,
    create_instance_profile => instance_profiles::CreateInstanceProfile,
    delete_instance_profile => instance_profiles::DeleteInstanceProfile,
    get_instance_profile => instance_profiles::GetInstanceProfile,
    list_instance_profile_tags => instance_profiles::ListInstanceProfileTags,
    list_instance_profiles => instance_profiles::ListInstanceProfiles,
    list_instance_profiles_for_role => instance_profiles::ListInstanceProfilesForRole,
    remove_role_from_instance_profile => instance_profiles::RemoveRoleFromInstanceProfile,
    tag_instance_profile => instance_profiles::TagInstanceProfile,
    untag_instance_profile => instance_profiles::UntagInstanceProfile,
    attach_role_policy => attachments::AttachRolePolicy,
    create_role => roles::CreateRole,
    delete_role => roles::DeleteRole,
    delete_role_permissions_boundary => roles::DeleteRolePermissionsBoundary,
    delete_role_policy => inline_policies::DeleteRolePolicy,
    detach_role_policy => attachments::DetachRolePolicy,
    get_role => roles::GetRole,
    get_role_policy => inline_policies::GetRolePolicy,
    list_attached_role_policies => attachments::ListAttachedRolePolicies,
    list_role_policies => inline_policies::ListRolePolicies,
    list_role_tags => roles::ListRoleTags,
    list_roles => roles::ListRoles,
    put_role_permissions_boundary => roles::PutRolePermissionsBoundary,
    put_role_policy => inline_policies::PutRolePolicy,
    tag_role => roles::TagRole,
    untag_role => roles::UntagRole,
    update_assume_role_policy => roles::UpdateAssumeRolePolicy,
    update_role => roles::UpdateRole,
    update_role_description => roles::UpdateRoleDescription,
    add_user_to_group => groups::AddUserToGroup,
    attach_group_policy => attachments::AttachGroupPolicy,
    create_group => groups::CreateGroup,
    delete_group => groups::DeleteGroup,
    delete_group_policy => inline_policies::DeleteGroupPolicy,
    detach_group_policy => attachments::DetachGroupPolicy,
    get_group => groups::GetGroup,
    get_group_policy => inline_policies::GetGroupPolicy,
    list_attached_group_policies => attachments::ListAttachedGroupPolicies,
    list_group_policies => inline_policies::ListGroupPolicies,
    list_groups => groups::ListGroups,
    list_groups_for_user => groups::ListGroupsForUser,
    put_group_policy => inline_policies::PutGroupPolicy,
    remove_user_from_group => groups::RemoveUserFromGroup,
    update_group => groups::UpdateGroup,
    attach_user_policy => attachments::AttachUserPolicy,
    create_access_key => access_keys::CreateAccessKey,
    create_policy => policies::CreatePolicy,
    create_policy_version => policies::CreatePolicyVersion,
    delete_policy => policies::DeletePolicy,
    delete_policy_version => policies::DeletePolicyVersion,
    delete_user_permissions_boundary => attachments::DeleteUserPermissionsBoundary,
    detach_user_policy => attachments::DetachUserPolicy,
    get_policy => policies::GetPolicy,
    get_policy_version => policies::GetPolicyVersion,
    list_attached_user_policies => attachments::ListAttachedUserPolicies,
    list_entities_for_policy => attachments::ListEntitiesForPolicy,
    list_policies => policies::ListPolicies,
    list_policy_tags => policies::ListPolicyTags,
    list_policy_versions => policies::ListPolicyVersions,
    put_user_permissions_boundary => attachments::PutUserPermissionsBoundary,
    set_default_policy_version => policies::SetDefaultPolicyVersion,
    tag_policy => policies::TagPolicy,
    untag_policy => policies::UntagPolicy,
    create_user => users::CreateUser,
    delete_access_key => access_keys::DeleteAccessKey,
    delete_user => users::DeleteUser,
    delete_user_policy => inline_policies::DeleteUserPolicy,
    get_access_key_last_used => access_keys::GetAccessKeyLastUsed,
    get_context_keys_for_custom_policy => simulate::GetContextKeysForCustomPolicy,
    get_context_keys_for_principal_policy => simulate::GetContextKeysForPrincipalPolicy,
    get_user => users::GetUser,
    get_user_policy => inline_policies::GetUserPolicy,
    list_access_keys => access_keys::ListAccessKeys,
    list_user_policies => inline_policies::ListUserPolicies,
    list_user_tags => users::ListUserTags,
    list_users => users::ListUsers,
    put_user_policy => inline_policies::PutUserPolicy,
    simulate_custom_policy => simulate::SimulateCustomPolicy,
    simulate_principal_policy => simulate::SimulatePrincipalPolicy,
    tag_user => users::TagUser,
    untag_user => users::UntagUser,
    update_access_key => access_keys::UpdateAccessKey,
    update_user => users::UpdateUser,
});
