//! What Gatehouse keeps in the store: one JSON document per entity, each with a format
//! version, plus index rows. Every key of an account's data begins with its account id, so
//! many accounts share one store without re-keying anything.
//!
//! | table              | key                                  | value                     |
//! |--------------------|--------------------------------------|---------------------------|
//! | `accounts`         | `{account}`                          | [`AccountRecord`]         |
//! | `account_aliases`  | `{alias}` (global, as in AWS)        | account id                |
//! | `users`            | `{account}/{user id}`                | [`UserRecord`]            |
//! | `user_names`       | `{account}/{lower-cased name}`       | user id                   |
//! | `access_keys`      | `{access key id}`                    | [`AccessKeyRecord`]       |
//! | `principal_keys`   | `{account}/{owner id}/{key id}`      | empty                     |
//! | `key_last_used`    | `{access key id}`                    | [`LastUsed`]              |
//! | `inline_policies`  | `{account}/{owner id}/{policy name}` | [`InlinePolicyRecord`]    |
//! | `groups`           | `{account}/{group id}`               | [`GroupRecord`]           |
//! | `group_names`      | `{account}/{lower-cased name}`       | group id                  |
//! | `user_groups`      | `{account}/{user id}/{group id}`     | empty (and the reverse:)  |
//! | `group_members`    | `{account}/{group id}/{user id}`     | empty                     |
//! | `roles`            | `{account}/{role id}`                | [`RoleRecord`]            |
//! | `role_names`       | `{account}/{lower-cased name}`       | role id                   |
//! | `instance_profiles`| `{account}/{profile id}`             | [`InstanceProfileRecord`] |
//! | `instance_profile_names` | `{account}/{lower-cased name}` | profile id                |
//! | `profile_roles`    | `{account}/{profile id}/{role id}`   | empty (and the reverse:)  |
//! | `role_profiles`    | `{account}/{role id}/{profile id}`   | empty                     |
//! | `oidc_providers`   | `{account}/{provider id}`            | [`OidcProviderRecord`]    |
//! | `oidc_provider_names` | `{account}/{lower-cased host/path}` | provider id              |
//! | `policies`         | `{account}/{policy id}`              | [`ManagedPolicyRecord`]   |
//! | `policy_names`     | `{account}/{lower-cased name}`       | policy id                 |
//! | `policy_versions`  | `{account}/{policy id}/{version id}` | [`PolicyVersionRecord`]   |
//! | `attached_policies`| `{account}/{principal id}/{policy id}` | empty (and the reverse:) |
//! | `policy_attachments` | `{account}/{policy id}/{principal id}` | empty                 |
//! | `ssh_public_keys`  | `{account}/{user id}/{key id}`       | [`SshPublicKeyRecord`]    |
//! | `signing_certificates` | `{account}/{owner id}/{cert id}` | [`SigningCertificateRecord`] |
//! | `service_credentials` | `{account}/{user id}/{credential id}` | [`ServiceCredentialRecord`] |
//! | `server_certificates` | `{account}/{certificate id}`      | [`ServerCertificateRecord`] |
//! | `server_certificate_names` | `{account}/{lower-cased name}` | certificate id        |
//! | `saml_providers`   | `{account}/{provider uuid}`          | [`SamlProviderRecord`]    |
//! | `saml_provider_names` | `{account}/{lower-cased name}`    | provider uuid             |
//! | `slr_deletion_tasks` | `{account}/{deletion task id}`    | its outcome               |
//! | `credential_reports` | `{account}`                       | [`CredentialReportRecord`] |
//! | `aws_policy_usage` | `{account}/{AWS policy id}`          | [`AwsPolicyUsage`]        |
//! | `mfa_devices`      | `{account}/{device id}`              | [`MfaDeviceRecord`]       |
//! | `mfa_device_names` | `{account}/{lower-cased name}`       | device id                 |
//! | `user_mfa_devices` | `{account}/{owner id}/{device id}`   | empty                     |
//! | `login_profiles`   | `{account}/{user id}/login`          | [`LoginProfileRecord`]    |
//! | `password_policies`| `{account}`                          | [`PasswordPolicyRecord`]  |
//! | `meta`             | setting name                         | setting value             |
//!
//! Access key ids are global, as in AWS (`sts:GetAccessKeyInfo` maps a key id to its
//! account), so authentication finds a key before it knows the account; the record names it.
//! Names are unique case-insensitively, so the name index is keyed by the lower-cased name
//! and the record keeps the name as given. Last-used dates live in their own table: recording
//! a use rewrites nothing that authorization reads.

use gatehouse_store::{StoreError, Table, Txn};
use serde::{Deserialize, Serialize};

pub const ACCOUNTS: Table = "accounts";
pub const USERS: Table = "users";
pub const USER_NAMES: Table = "user_names";
pub const ACCESS_KEYS: Table = "access_keys";
pub const PRINCIPAL_KEYS: Table = "principal_keys";
pub const KEY_LAST_USED: Table = "key_last_used";
pub const INLINE_POLICIES: Table = "inline_policies";
pub const META: Table = "meta";
pub const LOGIN_PROFILES: Table = "login_profiles";
pub const PASSWORD_POLICIES: Table = "password_policies";
pub const ACCOUNT_ALIASES: Table = "account_aliases";
pub const GROUPS: Table = "groups";
pub const GROUP_NAMES: Table = "group_names";
pub const USER_GROUPS: Table = "user_groups";
pub const GROUP_MEMBERS: Table = "group_members";
pub const ROLES: Table = "roles";
pub const ROLE_NAMES: Table = "role_names";
pub const INSTANCE_PROFILES: Table = "instance_profiles";
pub const INSTANCE_PROFILE_NAMES: Table = "instance_profile_names";
pub const PROFILE_ROLES: Table = "profile_roles";
pub const ROLE_PROFILES: Table = "role_profiles";
pub const OIDC_PROVIDERS: Table = "oidc_providers";
pub const OIDC_PROVIDER_NAMES: Table = "oidc_provider_names";
pub const POLICIES: Table = "policies";
pub const POLICY_NAMES: Table = "policy_names";
pub const POLICY_VERSIONS: Table = "policy_versions";
pub const ATTACHED_POLICIES: Table = "attached_policies";
pub const POLICY_ATTACHMENTS: Table = "policy_attachments";
pub const AWS_POLICY_USAGE: Table = "aws_policy_usage";
pub const SSH_PUBLIC_KEYS: Table = "ssh_public_keys";
pub const CREDENTIAL_REPORTS: Table = "credential_reports";
pub const SLR_DELETION_TASKS: Table = "slr_deletion_tasks";
pub const SAML_PROVIDERS: Table = "saml_providers";
pub const SAML_PROVIDER_NAMES: Table = "saml_provider_names";
pub const SERVER_CERTIFICATES: Table = "server_certificates";
pub const SERVER_CERTIFICATE_NAMES: Table = "server_certificate_names";
pub const SIGNING_CERTIFICATES: Table = "signing_certificates";
pub const SERVICE_CREDENTIALS: Table = "service_credentials";
/// Temporary credentials by access key id (`ASIA…`), global like access keys.
pub const SESSIONS: Table = "sessions";
/// Sessions by expiry (`{expires, 20 digits}/{id}`, empty values): expired ones are pruned
/// a few at a time as new ones are issued.
pub const SESSION_EXPIRIES: Table = "session_expiries";
/// Workloads bound to instance profiles, by the digest of their authorization token.
pub const WORKLOADS: Table = "workloads";
/// Virtual MFA devices, their name index, and the devices enabled for each user (or root).
pub const MFA_DEVICES: Table = "mfa_devices";
pub const MFA_DEVICE_NAMES: Table = "mfa_device_names";
pub const USER_MFA_DEVICES: Table = "user_mfa_devices";

/// Tables whose writes are not changes a cache must see: only last-used dates, which no
/// authorization reads (the store leaves its change token alone for them and never caches
/// them).
pub const VOLATILE_TABLES: &[Table] = &[KEY_LAST_USED];

/// The owner id of an account root user's keys.
pub const ROOT_OWNER: &str = "root";

/// A stored document: its table and format version. Decoding refuses a version newer than
/// this build knows (a downgrade must not misread data) and upgrades older ones in memory.
pub trait Record: Serialize + for<'de> Deserialize<'de> {
    /// The format this build writes.
    const VERSION: u32;
    fn version(&self) -> u32;
    /// Brings a record of an older format to [`Record::VERSION`]. Format changes so far only
    /// add fields with defaults, so this only stamps the version.
    fn upgrade(self, from: u32) -> Result<Self, StoreError>;
}

macro_rules! record {
    ($name:ident, $version:expr) => {
        impl Record for $name {
            const VERSION: u32 = $version;
            fn version(&self) -> u32 {
                self.v
            }
            fn upgrade(mut self, _from: u32) -> Result<Self, StoreError> {
                self.v = $version;
                Ok(self)
            }
        }
    };
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct AccountRecord {
    pub v: u32,
    pub id: String,
    /// When the account was set up: its root user's creation date.
    pub created: i64,
    /// The root access key generated at the account's creation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_root_key: Option<String>,
    /// The root access key given by configuration, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_root_key: Option<String>,
    /// The account's alias (AWS allows one), unique across accounts through
    /// `account_aliases`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Quotas raised for this account (`model::quotas`), by name; the others have AWS's
    /// default.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub quotas: std::collections::BTreeMap<String, u32>,
    /// `SetSecurityTokenServicePreferences`: 2 when STS's global endpoint issues version 2
    /// (all-region) tokens; absent for AWS's default, 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_endpoint_token_version: Option<u8>,
}
record!(AccountRecord, 1);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub id: String,
    pub path: String,
    pub create_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_last_used: Option<i64>,
    /// Bumped in the same transaction as every change to the user's policies (inline,
    /// attached, boundary): the compiled policy set is cached under `(id, policies_rev)`
    /// and the default versions of the managed policies it holds.
    #[serde(default)]
    pub policies_rev: u64,
    /// Ids of the managed policies attached to the user, in attachment order (kept with the
    /// `attached_policies` relation in the same transaction), so authorization reads no scan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<String>,
    /// Ids of the user's groups, in the order joined (kept with the `user_groups` relation in
    /// the same transaction), so authorization reads no scan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}
record!(UserRecord, 2);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub id: String,
    pub path: String,
    pub create_date: i64,
    /// Bumped with every change to the group's inline policies or attachments: the compiled
    /// sets of its members are keyed by it.
    #[serde(default)]
    pub policies_rev: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<String>,
}
record!(GroupRecord, 1);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RoleRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub id: String,
    pub path: String,
    pub create_date: i64,
    /// The trust policy, as given.
    pub assume_role_policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub max_session_duration: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// See [`UserRecord::policies_rev`]; the trust policy counts too.
    #[serde(default)]
    pub policies_rev: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<String>,
}
record!(RoleRecord, 1);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct InstanceProfileRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub id: String,
    pub path: String,
    pub create_date: i64,
    /// Role ids (AWS allows one), kept with the `profile_roles` relation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}
record!(InstanceProfileRecord, 1);

/// A user's console password: never stored, only its argon2id hash (see `passwords`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LoginProfileRecord {
    pub v: u32,
    pub create_date: i64,
    pub password_hash: String,
    pub password_reset_required: bool,
    pub password_changed: i64,
    /// Hashes of earlier passwords, newest first, for `PasswordReusePrevention`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_hashes: Vec<String>,
}
record!(LoginProfileRecord, 1);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PasswordPolicyRecord {
    pub v: u32,
    pub minimum_password_length: i32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_password_age: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_reuse_prevention: Option<i32>,
    #[serde(default)]
    pub hard_expiry: bool,
}
record!(PasswordPolicyRecord, 1);

/// An OpenID Connect identity provider. Its name is its URL without `https://`, as in its
/// ARN (`oidc-provider/{host/path}`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OidcProviderRecord {
    pub v: u32,
    pub account: String,
    pub id: String,
    pub name: String,
    pub url: String,
    pub create_date: i64,
    #[serde(default)]
    pub client_ids: Vec<String>,
    #[serde(default)]
    pub thumbprints: Vec<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}
record!(OidcProviderRecord, 1);

/// A customer managed policy. Its documents are its versions.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ManagedPolicyRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub create_date: i64,
    pub update_date: i64,
    /// `v1`, `v2`, …
    pub default_version: String,
    /// The number the next version gets (AWS never reuses one).
    pub next_version: u32,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub attachment_count: u32,
    #[serde(default)]
    pub boundary_count: u32,
}
record!(ManagedPolicyRecord, 1);

/// How many of an account's principals use an AWS managed policy (which belongs to no
/// account, so its counts cannot live on its record). No row means none.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AwsPolicyUsage {
    pub v: u32,
    pub attachment_count: u32,
    pub boundary_count: u32,
}
record!(AwsPolicyUsage, 1);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PolicyVersionRecord {
    pub v: u32,
    pub id: String,
    pub document: String,
    pub create_date: i64,
}
record!(PolicyVersionRecord, 1);

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LastUsed {
    pub v: u32,
    pub date: i64,
    pub service: String,
    pub region: String,
}
record!(LastUsed, 1);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AccessKeyRecord {
    pub v: u32,
    pub id: String,
    pub account: String,
    /// A user id, or [`ROOT_OWNER`].
    pub owner: String,
    pub status: KeyStatus,
    pub create_date: i64,
    /// The secret, sealed under the master key with the key id as associated data.
    pub sealed_secret: String,
}
record!(AccessKeyRecord, 2);

/// Temporary credentials (`sts:GetSessionToken`, `sts:AssumeRole`): whose they are, their
/// secret (sealed, the key id as associated data), a digest of their session token, and their
/// lifetime.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub v: u32,
    /// The access key id, `ASIA…`.
    pub id: String,
    pub account: String,
    /// A user id, or [`ROOT_OWNER`]; for a role session, the role's id.
    pub owner: String,
    pub sealed_secret: String,
    /// SHA-256 of the session token, hex: the token itself is never stored.
    pub token_digest: String,
    pub issued: i64,
    pub expires: i64,
    /// Set for a role session (`AssumeRole`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleSessionRecord>,
    /// Set for a federated user's session (`GetFederationToken`; the owner is the user or
    /// root that asked for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated: Option<FederatedSessionRecord>,
    /// When MFA authenticated the session (`aws:MultiFactorAuthPresent`, and the start of
    /// `aws:MultiFactorAuthAge`); carried to sessions it assumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_authenticated: Option<i64>,
}
record!(SessionRecord, 1);

/// A virtual MFA device: its TOTP seed and, once enabled, whose it is.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MfaDeviceRecord {
    pub v: u32,
    pub account: String,
    /// An internal id (AWS names a device only by its serial number, the ARN).
    pub id: String,
    pub name: String,
    pub path: String,
    /// The seed in Base32, sealed under the master key with the device id as associated data:
    /// returned once, at creation.
    pub sealed_seed: String,
    pub create_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<MfaAssignment>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}
record!(MfaDeviceRecord, 1);

/// An enabled device: its owner, and where its clock and its last accepted code stand.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MfaAssignment {
    /// A user id, or [`ROOT_OWNER`].
    pub owner: String,
    pub enable_date: i64,
    /// How many 30-second steps the device's clock runs ahead of ours (behind if negative),
    /// as found when it was enabled or last resynchronized.
    pub drift_steps: i64,
    /// The newest step a code was accepted for: a code of it or of an earlier step is
    /// refused, so no code is accepted twice.
    pub last_step: i64,
}

/// What a federated user's session adds: the name it was given and its session policies
/// (without one it may do nothing).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FederatedSessionRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    /// Session tags (`aws:PrincipalTag/*`, over the maker's own tags of the same key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

/// A workload's binding to an instance profile (see `workloads.rs`), by the digest of its
/// authorization token.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WorkloadRecord {
    pub v: u32,
    /// A public name for the binding (`wl-…`), to list and revoke it by.
    pub id: String,
    pub account: String,
    /// The instance profile's id.
    pub instance_profile: String,
    pub created: i64,
    /// How long each set of credentials lasts.
    pub seconds: i64,
}
record!(WorkloadRecord, 1);

/// What a role session adds: its name, and the session policies that narrow it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RoleSessionRecord {
    pub session_name: String,
    /// The inline session policy, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Managed session policies, by ARN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    /// Whether the session was assumed with temporary credentials (role chaining).
    #[serde(default)]
    pub chained: bool,
    /// Session tags (`aws:PrincipalTag/*`, over the role's own tags of the same key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// The keys of the tags that pass on to sessions this one assumes (role chaining).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// `aws:SourceIdentity`: set once, kept through role chaining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

/// An SSH public key of a user (for CodeCommit), as uploaded.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SshPublicKeyRecord {
    pub v: u32,
    pub id: String,
    pub body: String,
    pub fingerprint: String,
    pub status: KeyStatus,
    pub upload_date: i64,
}
record!(SshPublicKeyRecord, 1);

/// An X.509 signing certificate of a user or of the account's root.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SigningCertificateRecord {
    pub v: u32,
    pub id: String,
    pub body: String,
    /// SHA-256 of the certificate's DER, hex: the same certificate twice is refused.
    pub digest: String,
    pub status: KeyStatus,
    pub upload_date: i64,
}
record!(SigningCertificateRecord, 1);

/// A service-specific credential (a user name and password for one AWS service).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ServiceCredentialRecord {
    pub v: u32,
    pub id: String,
    pub service_name: String,
    pub service_user_name: String,
    /// The password, sealed under the master key with the credential id as associated data:
    /// shown once at creation and at each reset, never again.
    pub sealed_password: String,
    pub status: KeyStatus,
    pub create_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<i64>,
}
record!(ServiceCredentialRecord, 1);

/// A server certificate with its chain and private key; the key is sealed under the master
/// key (the certificate id as associated data) and never returned.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ServerCertificateRecord {
    pub v: u32,
    pub account: String,
    pub id: String,
    pub name: String,
    pub path: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    pub sealed_private_key: String,
    pub upload_date: i64,
    /// The certificate's notAfter.
    pub expiration: i64,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}
record!(ServerCertificateRecord, 1);

/// A SAML 2.0 identity provider: its metadata document and the keys that decrypt its
/// assertions (sealed, never returned).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SamlProviderRecord {
    pub v: u32,
    pub account: String,
    /// The SAMLProviderUUID.
    pub id: String,
    pub name: String,
    pub metadata: String,
    pub create_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
    /// `Allowed` or `Required`.
    pub encryption_mode: String,
    #[serde(default)]
    pub private_keys: Vec<SamlPrivateKeyRecord>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}
record!(SamlProviderRecord, 1);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SamlPrivateKeyRecord {
    pub key_id: String,
    /// Sealed under the master key with the key id as associated data.
    pub sealed: String,
    pub added: i64,
}

/// A deletion task: deletions finish at once here (no service holds the role), so a task is
/// only ever `SUCCEEDED`; it is kept so that its status can be asked.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DeletionTaskRecord {
    pub v: u32,
    pub role_name: String,
    pub succeeded: bool,
}
record!(DeletionTaskRecord, 1);

/// An account's latest credential report (CSV), as generated.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CredentialReportRecord {
    pub v: u32,
    pub generated: i64,
    pub content: String,
}
record!(CredentialReportRecord, 1);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct InlinePolicyRecord {
    pub v: u32,
    pub name: String,
    pub document: String,
}
record!(InlinePolicyRecord, 1);

pub(crate) fn decode<T: Record>(table: Table, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let value: T = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{table}/{key}: {e}")))?;
    let v = value.version();
    if v > T::VERSION {
        return Err(StoreError::Corrupt(format!(
            "{table}/{key} has format version {v}, newer than this Gatehouse knows ({})",
            T::VERSION
        )));
    }
    if v < T::VERSION {
        value.upgrade(v)
    } else {
        Ok(value)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Backend(format!("cannot encode a record: {e}")))
}

fn text(table: Table, key: &str, bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("{table}/{key}: {e}")))
}

/// Typed access to the tables above.
pub trait Records: Txn {
    fn get_record<T: Record>(&mut self, table: Table, key: &str) -> Result<Option<T>, StoreError> {
        match self.get(table, key)? {
            Some(bytes) => decode(table, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn put_record<T: Record>(
        &mut self,
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.put(table, key, &encode(value)?)
    }

    /// Inserts only if absent; returns whether it inserted.
    fn insert_record<T: Record>(
        &mut self,
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<bool, StoreError> {
        self.insert(table, key, &encode(value)?)
    }

    fn scan_records<T: Record>(
        &mut self,
        table: Table,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.scan(table, prefix, start_after, limit)?
            .into_iter()
            .map(|(key, bytes)| decode(table, &key, &bytes).map(|value| (key, value)))
            .collect()
    }

    fn get_text(&mut self, table: Table, key: &str) -> Result<Option<String>, StoreError> {
        self.get(table, key)?
            .map(|bytes| text(table, key, bytes))
            .transpose()
    }

    /// The last segments of every key under `prefix` (which ends with `/`), in key order.
    fn child_ids(&mut self, table: Table, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .scan(table, prefix, None, usize::MAX)?
            .into_iter()
            .filter_map(|(key, _)| key.strip_prefix(prefix).map(str::to_string))
            .collect())
    }
}

impl<T: Txn + ?Sized> Records for T {}

/// `{account}/{rest…}`: the key of a row that belongs to an account.
pub fn key(account: &str, parts: &[&str]) -> String {
    let mut k =
        String::with_capacity(account.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push_str(account);
    for p in parts {
        k.push('/');
        k.push_str(p);
    }
    k
}

/// `{account}/{rest…}/`: the prefix of the rows under one parent.
pub fn prefix(account: &str, parts: &[&str]) -> String {
    let mut k = key(account, parts);
    k.push('/');
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_formats_are_refused_and_older_ones_upgraded() {
        let old = br#"{"v":1,"account":"1","name":"a","id":"AIDA","path":"/","create_date":0}"#;
        let user: UserRecord = decode(USERS, "k", old).unwrap();
        assert_eq!((user.v, user.policies_rev), (2, 0));
        let newer = br#"{"v":9,"account":"1","name":"a","id":"AIDA","path":"/","create_date":0}"#;
        assert!(matches!(
            decode::<UserRecord>(USERS, "k", newer),
            Err(StoreError::Corrupt(m)) if m.contains("newer")
        ));
    }

    #[test]
    fn keys_begin_with_the_account() {
        assert_eq!(key("123456789012", &["AIDA1", "p"]), "123456789012/AIDA1/p");
        assert_eq!(prefix("123456789012", &["AIDA1"]), "123456789012/AIDA1/");
    }
}
