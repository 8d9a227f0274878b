//! IAM and STS behaviour: identities, credentials, and the authorization of every call.
//!
//! [`Gatehouse`] implements the generated [`IamApi`] and [`StsApi`] traits over a
//! [`Store`]. It does not bind sockets or read the environment or the clock: the server hands
//! it a [`RequestContext`] carrying the authenticated caller and the time of the request.

mod authorize;
mod cache;
mod consistency;
mod crypto;
mod errors;
mod iam;
mod keys;
mod pagination;
mod records;
mod sts;

use std::sync::Arc;

use gatehouse_store::Store;
use gatehouse_types::{AccountId, SecretKey, Timestamp};

pub use crypto::{MasterKey, MasterKeyError};
pub use gatehouse_protocol::iam::IamApi;
pub use gatehouse_protocol::sts::StsApi;
pub use keys::{AuthenticatedKey, RootKeyInit};

/// Who is calling, as established by authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The account's root user.
    Root,
    /// An IAM user, by its unique id (names can change while a key is in use).
    User {
        user_id: String,
        name: String,
        path: String,
    },
}

/// The authenticated caller of one request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub access_key_id: String,
}

/// Everything a handler knows about the request besides its input.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub now: Timestamp,
    pub caller: Caller,
    /// The client's address, for `aws:SourceIp`.
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether the request came over TLS, for `aws:SecureTransport`.
    pub secure_transport: bool,
}

/// The IAM and STS service of one account.
pub struct Gatehouse {
    store: Arc<dyn Store>,
    account: AccountId,
    master_key: MasterKey,
    /// A root key given by configuration; `init_root_key` puts it in the store.
    configured_root_key: Option<(String, SecretKey)>,
    compiled: authorize::CompiledPolicies,
    /// Active keys by id (`None`: unknown, inactive or orphaned), with owner and secret.
    keys_by_id: cache::ReadCache<Option<keys::CachedKey>>,
    /// Users by lower-cased name.
    users_by_name: cache::ReadCache<Option<records::UserRecord>>,
    /// A user and its inline policies, by user id, for authorization.
    user_policies: cache::ReadCache<Option<authorize::UserPolicies>>,
}

impl Gatehouse {
    pub fn new(
        store: Arc<dyn Store>,
        account: AccountId,
        master_key: MasterKey,
        configured_root_key: Option<(String, SecretKey)>,
    ) -> Self {
        Gatehouse {
            store,
            account,
            master_key,
            configured_root_key,
            compiled: Default::default(),
            keys_by_id: Default::default(),
            users_by_name: Default::default(),
            user_policies: Default::default(),
        }
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The ARN of the caller, as AWS writes it in errors and in `GetCallerIdentity`.
    pub fn principal_arn(&self, principal: &Principal) -> String {
        match principal {
            Principal::Root => format!("arn:aws:iam::{}:root", self.account),
            Principal::User { name, path, .. } => {
                format!("arn:aws:iam::{}:user{path}{name}", self.account)
            }
        }
    }
}
