//! IAM and STS behaviour: identities, credentials, and the authorization of every call.
//!
//! [`Gatehouse`] implements the generated [`IamApi`] and [`StsApi`] traits over a
//! [`Store`]. Every operation goes through one path, [`pipeline`]: resolve what the call acts
//! on, authorize it ([`authz`]), run the handler, all in one store transaction. A handler
//! cannot be written without its authorization rule (see [`pipeline::Handler`]).
//!
//! It does not bind sockets or read the environment or the clock: the server hands it a
//! [`RequestContext`] carrying the authenticated caller and the time of the request.

mod accounts;
mod authorization_messages;
mod authz;
mod consistency;
mod crypto;
mod errors;
mod iam;
mod keymaterial;
mod keys;
mod master_keys;
pub mod mfa;
mod migrate;
mod model;
mod passwords;
mod pipeline;
#[cfg(test)]
mod races;
mod sessions;
mod sts;
#[cfg(test)]
mod test_support;
mod workloads;

use std::sync::Arc;

use gatehouse_store::Store;
use gatehouse_types::{AccountId, SecretKey, Timestamp};

pub use accounts::{AccountSummary, NewAccount};
pub use crypto::{MasterKey, MasterKeyError, MasterKeys};
pub use gatehouse_protocol::iam::IamApi;
pub use gatehouse_protocol::sts::StsApi;
pub use keys::{AuthenticatedKey, RootKeyInit};
pub use master_keys::{Rotation, RotationError};
pub use migrate::{StartupError, stored_default_account};
pub use model::records::{UserRecord, VOLATILE_TABLES};
pub use sessions::{invalid_token, token_matches};
pub use workloads::{NewWorkload, WorkloadCredentials};

/// Who is calling, as established by authentication.
#[derive(Clone, Debug, PartialEq)]
pub enum Principal {
    /// The account's root user.
    Root,
    /// An IAM user, as stored when the request was authenticated.
    User(Arc<UserRecord>),
    /// A session of a role (`AssumeRole`), with the role as stored when the request was
    /// authenticated.
    AssumedRole(Arc<AssumedRole>),
    /// A federated user (`GetFederationToken`) of a user, or of the root user (`None`).
    FederatedUser(Arc<FederatedUser>),
}

/// A federated user's principal: who asked for it and its session.
#[derive(Clone, Debug, PartialEq)]
pub struct FederatedUser {
    pub account: String,
    /// The user that asked for the session; `None` for the root user.
    pub user: Option<Arc<UserRecord>>,
    pub session: model::records::FederatedSessionRecord,
}

impl FederatedUser {
    /// `arn:aws:sts::ACCOUNT:federated-user/NAME`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:federated-user/{}",
            self.account, self.session.name
        )
    }

    /// `ACCOUNT:NAME`, AWS's federated user id.
    pub fn id(&self) -> String {
        format!("{}:{}", self.account, self.session.name)
    }
}

/// A role session's principal.
#[derive(Clone, Debug, PartialEq)]
pub struct AssumedRole {
    pub role: Arc<model::records::RoleRecord>,
    pub session: model::records::RoleSessionRecord,
}

impl AssumedRole {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, as AWS writes it.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.role.account, self.role.name, self.session.session_name
        )
    }

    /// `AROA…:SESSION`: the role's id and the session's name.
    pub fn id(&self) -> String {
        format!("{}:{}", self.role.id, self.session.session_name)
    }
}

/// The authenticated caller of one request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account the caller belongs to; every entity it names is looked up in it.
    pub account: AccountId,
    pub principal: Principal,
    pub access_key_id: String,
    /// The store's change token when the key and the principal were read, if the store keeps
    /// one: while it is unchanged they need not be read again.
    pub seen_at: Option<u64>,
    /// Set when the request is signed with temporary credentials (`ASIA…`).
    pub session: Option<Session>,
}

/// The temporary credentials a request was signed with.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub issued: Timestamp,
    pub expires: Timestamp,
    /// SHA-256 of the session token, hex: the request must carry the token itself.
    pub token_digest: String,
    /// When MFA authenticated the session, if it did.
    pub mfa_authenticated: Option<Timestamp>,
}

impl Caller {
    /// The caller's ARN, as AWS writes it in errors and in `GetCallerIdentity`.
    pub fn arn(&self) -> String {
        match &self.principal {
            Principal::Root => format!("arn:aws:iam::{}:root", self.account),
            Principal::User(user) => {
                model::entity::arn_of::<UserRecord>(self.account.as_str(), &user.path, &user.name)
            }
            Principal::AssumedRole(session) => session.arn(),
            Principal::FederatedUser(federated) => federated.arn(),
        }
    }
}

/// Everything a handler knows about the request besides its input.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub now: Timestamp,
    pub caller: Caller,
    /// The region the request was signed for (`aws:RequestedRegion` of STS calls; IAM is a
    /// global service whose requests AWS always reports as `us-east-1`).
    pub region: String,
    /// The client's address, for `aws:SourceIp`.
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether the request came over TLS, for `aws:SecureTransport`.
    pub secure_transport: bool,
}

/// The IAM and STS service.
pub struct Gatehouse {
    store: Arc<dyn Store>,
    /// The account the server was started for (the one `init_account` sets up).
    account: AccountId,
    master_keys: MasterKeys,
    /// A root key given by configuration; `init_account` puts it in the store.
    configured_root_key: Option<(String, SecretKey)>,
    /// Caches of immutable content only; see `authz` and `keys`.
    compiled: authz::CompiledPolicies,
    policy_sets: authz::PolicySetCache,
    secrets: keys::SecretCache,
    touches: keys::TouchMemo,
    /// The caller's key and user, decoded once per stored form.
    shared: model::shared::SharedRecords,
    /// Argon2id hashing of console passwords, a bounded number at a time.
    passwords: passwords::PasswordHasher,
    /// Whether AccessDenied messages carry an encoded authorization failure message (an
    /// option: AWS's IAM and STS denials carry none).
    encode_denials: bool,
}

impl Gatehouse {
    pub fn new(
        store: Arc<dyn Store>,
        account: AccountId,
        master_keys: impl Into<MasterKeys>,
        configured_root_key: Option<(String, SecretKey)>,
    ) -> Self {
        // Read AWS's managed-policy catalogue now, not during the first request that names one.
        model::aws_policies::all();
        Gatehouse {
            store,
            account,
            master_keys: master_keys.into(),
            configured_root_key,
            compiled: Default::default(),
            policy_sets: Default::default(),
            secrets: Default::default(),
            touches: Default::default(),
            shared: Default::default(),
            passwords: Default::default(),
            encode_denials: false,
        }
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// Whether the store answers now (a read of the account's record): what `/ready` reports.
    pub fn ready(&self) -> std::result::Result<(), String> {
        let account = self.account.to_string();
        gatehouse_store::read(self.store.as_ref(), |t| {
            t.get(model::records::ACCOUNTS, &account).map(|_| ())
        })
        .map_err(|e| e.to_string())
    }
}
