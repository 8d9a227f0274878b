//! Access keys as authentication sees them: finding a key and its owner, the accounts' root
//! keys, and the last-used record.
//!
//! A key's row and its owner's record are read on every request, so a key deleted or
//! deactivated through any process is refused at once. What is cached is immutable: the
//! opened secret, keyed by the key id and its sealed text (a key's secret never changes).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use gatehouse_types::sharded::Sharded;

use gatehouse_protocol::error::ApiError;
use gatehouse_store::{Txn, read, write};
use gatehouse_types::{
    AccountId, IdKind, SecretKey, Timestamp, new_access_key_id, new_secret_access_key,
};

use crate::crypto::random;
use crate::errors::{Failure, Result, internal, randomness_unavailable};
use crate::model::records::{
    ACCESS_KEYS, ACCOUNTS, AccessKeyRecord, AccountRecord, KEY_LAST_USED, KeyStatus, LastUsed,
    PRINCIPAL_KEYS, ROLES, ROOT_OWNER, Record, Records, RoleRecord, SESSIONS, SessionRecord, USERS,
    UserRecord, key,
};
use crate::{Caller, Gatehouse, Principal, Session};

/// Last-used dates are kept to this precision, so that a busy key costs one write a minute,
/// not one per request. AWS documents its own tracking as approximate too.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// An active access key and who owns it, before the request's signature is checked.
#[derive(Debug)]
pub struct AuthenticatedKey {
    pub caller: Caller,
    pub secret: SecretKey,
    /// This process has not recorded a use of the key for a while; call
    /// [`Gatehouse::record_key_use`] once the request is authenticated.
    pub needs_touch: bool,
}

/// What happened to the root user's access key at start-up.
#[derive(Debug)]
pub enum RootKeyInit {
    /// A key was given by configuration (and is kept in the store).
    Configured,
    /// A key generated on an earlier start is in the store.
    Existing,
    /// A new key was generated and stored; the caller writes it out once.
    Generated {
        access_key_id: String,
        secret: SecretKey,
    },
}

/// Opened secrets by key id and sealed text: immutable content. One per thread group
/// ([`Sharded`]), so that authentication takes no lock another CPU is taking.
#[derive(Default)]
pub struct SecretCache {
    opened: Sharded<Mutex<HashMap<String, (String, SecretKey)>>>,
}

const MAX_CACHED_SECRETS: usize = 10_000;

impl SecretCache {
    /// The secret of key `id` (a long-term key or temporary credentials), sealed as `sealed`.
    fn open(&self, id: &str, sealed: &str, gatehouse: &Gatehouse) -> Result<SecretKey> {
        let opened = self.opened.local();
        if let Some((cached, secret)) = opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            && cached == sealed
        {
            return Ok(secret.clone());
        }
        let secret = gatehouse.open_sealed(sealed, id)?;
        let mut opened = opened.lock().unwrap_or_else(PoisonError::into_inner);
        if opened.len() >= MAX_CACHED_SECRETS {
            opened.clear();
        }
        opened.insert(id.to_string(), (sealed.to_string(), secret.clone()));
        Ok(secret)
    }
}

/// When each key's use was last claimed for recording, by thread group. It only spares
/// writes: losing it costs one extra write, never a wrong answer (so each thread group may
/// record a key's use once a minute).
#[derive(Default)]
pub struct TouchMemo {
    last: Sharded<Mutex<HashMap<String, i64>>>,
}

impl TouchMemo {
    /// Whether this request should record the key's use, claiming it if so: the write happens
    /// on another thread (the blocking pool), so the claim is made here, on the thread that
    /// asks, or every request of the minute would ask again. A write that fails is retried
    /// after the minute.
    fn claim(&self, key_id: &str, now: Timestamp) -> bool {
        let mut last = self
            .last
            .local()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = last
            .get(key_id)
            .is_none_or(|date| now.unix_millis - date >= LAST_USED_GRANULARITY_MS);
        if due {
            if last.len() >= MAX_CACHED_SECRETS {
                last.clear();
            }
            last.insert(key_id.to_string(), now.unix_millis);
        }
        due
    }
}

impl Gatehouse {
    /// Finds an active access key. `None` for a key that is unknown, inactive, or whose owner
    /// is gone: authentication refuses all three the same way.
    pub fn find_access_key(
        &self,
        access_key_id: &str,
        now: Timestamp,
    ) -> std::result::Result<Option<AuthenticatedKey>, ApiError> {
        self.find_credentials(access_key_id, now, now)
    }

    /// Finds an active access key or unexpired temporary credentials (`ASIA…`); temporary
    /// credentials past their expiration, on `expiry_clock` (the time, or in tests a clock
    /// moved ahead), are `ExpiredToken`.
    pub fn find_credentials(
        &self,
        access_key_id: &str,
        now: Timestamp,
        expiry_clock: Timestamp,
    ) -> std::result::Result<Option<AuthenticatedKey>, ApiError> {
        if access_key_id.starts_with(IdKind::TemporaryAccessKey.prefix()) {
            return self.find_session(access_key_id, expiry_clock);
        }
        let found = read(self.store.as_ref(), |t| {
            let Some(key) = self
                .shared
                .get::<AccessKeyRecord>(t, ACCESS_KEYS, access_key_id)?
            else {
                return Ok::<_, Failure>(None);
            };
            if key.status != KeyStatus::Active {
                return Ok(None);
            }
            let seen_at = t.snapshot_token();
            let Some(principal) = self.owner(t, &key.account, &key.owner)? else {
                return Ok(None);
            };
            Ok(Some((key, principal, seen_at)))
        })?;
        let Some((key, principal, seen_at)) = found else {
            return Ok(None);
        };
        let secret = self.secrets.open(&key.id, &key.sealed_secret, self)?;
        let account = AccountId::parse(&key.account)
            .map_err(|_| internal("an access key names a malformed account"))?;
        Ok(Some(AuthenticatedKey {
            needs_touch: self.touches.claim(&key.id, now),
            caller: Caller {
                account,
                principal,
                access_key_id: key.id.clone(),
                seen_at,
                session: None,
            },
            secret,
        }))
    }

    /// The principal owning a key: the root user, or a user that still exists.
    fn owner(&self, t: &mut dyn Txn, account: &str, owner: &str) -> Result<Option<Principal>> {
        if owner == ROOT_OWNER {
            return Ok(Some(Principal::Root));
        }
        let row = crate::model::records::key(account, &[owner]);
        Ok(self
            .shared
            .get::<UserRecord>(t, USERS, &row)?
            .map(Principal::User))
    }

    fn find_session(
        &self,
        access_key_id: &str,
        expiry_clock: Timestamp,
    ) -> std::result::Result<Option<AuthenticatedKey>, ApiError> {
        let found = read(self.store.as_ref(), |t| {
            let Some(session) = self
                .shared
                .get::<SessionRecord>(t, SESSIONS, access_key_id)?
            else {
                return Ok::<_, Failure>(None);
            };
            let seen_at = t.snapshot_token();
            let principal = match &session.role {
                // A role session ends with its role.
                Some(role_session) => {
                    let row = crate::model::records::key(&session.account, &[&session.owner]);
                    self.shared.get::<RoleRecord>(t, ROLES, &row)?.map(|role| {
                        Principal::AssumedRole(std::sync::Arc::new(crate::AssumedRole {
                            role,
                            session: role_session.clone(),
                        }))
                    })
                }
                None => match (
                    self.owner(t, &session.account, &session.owner)?,
                    &session.federated,
                ) {
                    // A federated user's session ends with the user that asked for it.
                    (Some(owner), Some(federated)) => Some(Principal::FederatedUser(
                        std::sync::Arc::new(crate::FederatedUser {
                            account: session.account.clone(),
                            user: match owner {
                                Principal::User(user) => Some(user),
                                _ => None,
                            },
                            session: federated.clone(),
                        }),
                    )),
                    (owner, _) => owner,
                },
            };
            let Some(principal) = principal else {
                return Ok(None);
            };
            Ok(Some((session, principal, seen_at)))
        })?;
        let Some((session, principal, seen_at)) = found else {
            return Ok(None);
        };
        if expiry_clock.unix_millis >= session.expires {
            return Err(crate::sessions::expired());
        }
        let secret = self
            .secrets
            .open(&session.id, &session.sealed_secret, self)?;
        let account = AccountId::parse(&session.account)
            .map_err(|_| internal("a session names a malformed account"))?;
        Ok(Some(AuthenticatedKey {
            // Temporary credentials have no last-used record (AWS keeps none for them).
            needs_touch: false,
            caller: Caller {
                account,
                principal,
                access_key_id: session.id.clone(),
                seen_at,
                session: Some(Session {
                    issued: Timestamp::from_unix_millis(session.issued),
                    expires: Timestamp::from_unix_millis(session.expires),
                    token_digest: session.token_digest.clone(),
                    mfa_authenticated: session.mfa_authenticated.map(Timestamp::from_unix_millis),
                }),
            },
            secret,
        }))
    }

    /// Records that a key was used just now for `service` in `region`.
    pub fn record_key_use(
        &self,
        access_key_id: &str,
        service: &str,
        region: &str,
        now: Timestamp,
    ) -> std::result::Result<(), ApiError> {
        write(self.store.as_ref(), |t| {
            // A key deleted meanwhile leaves no last-used row behind.
            if t.get(ACCESS_KEYS, access_key_id)?.is_some() {
                t.put_record(
                    KEY_LAST_USED,
                    access_key_id,
                    &LastUsed {
                        v: LastUsed::VERSION,
                        date: now.unix_millis,
                        service: service.to_string(),
                        region: region.to_string(),
                    },
                )?;
            }
            Ok::<_, Failure>(())
        })?;
        Ok(())
    }

    /// Makes sure the server's account exists and its root user has an access key: the
    /// configured one (kept in the store like any root key, replacing a previously configured
    /// one), or one generated when the account is created.
    pub fn init_account(&self, now: Timestamp) -> std::result::Result<RootKeyInit, ApiError> {
        let account = self.account.to_string();
        let configured = self.configured_root_key.clone();
        let generated = write(self.store.as_ref(), |t| {
            let mut record = match t.get_record::<AccountRecord>(ACCOUNTS, &account)? {
                Some(record) => record,
                None => AccountRecord {
                    v: AccountRecord::VERSION,
                    id: account.clone(),
                    created: now.unix_millis,
                    generated_root_key: None,
                    configured_root_key: None,
                    alias: None,
                    quotas: Default::default(),
                    global_endpoint_token_version: None,
                },
            };
            let outcome = if let Some((id, secret)) = &configured {
                if let Some(previous) = record.configured_root_key.take().filter(|p| p != id) {
                    // A key no longer configured must stop working.
                    delete_key(t, &account, ROOT_OWNER, &previous)?;
                }
                let existing = t.get_record::<AccessKeyRecord>(ACCESS_KEYS, id)?;
                let sealed_secret = self.seal(t, secret, id)?;
                let key_record = AccessKeyRecord {
                    v: AccessKeyRecord::VERSION,
                    id: id.clone(),
                    account: account.clone(),
                    owner: ROOT_OWNER.to_string(),
                    status: KeyStatus::Active,
                    create_date: existing.as_ref().map_or(now.unix_millis, |k| k.create_date),
                    sealed_secret,
                };
                if existing.is_some_and(|k| k.account != account || k.owner != ROOT_OWNER) {
                    return Err(internal(
                        "the configured root key id belongs to someone else",
                    ));
                }
                store_key(t, &key_record)?;
                record.configured_root_key = Some(id.clone());
                None
            } else if record.generated_root_key.is_some() {
                None
            } else {
                let (key_record, secret) = self.new_access_key(t, &account, ROOT_OWNER, now)?;
                store_key(t, &key_record)?;
                record.generated_root_key = Some(key_record.id.clone());
                Some((key_record.id, secret))
            };
            t.put_record(ACCOUNTS, &account, &record)?;
            Ok::<_, Failure>(outcome)
        })?;
        Ok(match (generated, configured.is_some()) {
            (Some((access_key_id, secret)), _) => RootKeyInit::Generated {
                access_key_id,
                secret,
            },
            (None, true) => RootKeyInit::Configured,
            (None, false) => RootKeyInit::Existing,
        })
    }

    /// A fresh access key record for `owner` in `account`, with its secret sealed, and the
    /// secret itself.
    pub(crate) fn new_access_key(
        &self,
        t: &mut dyn Txn,
        account: &str,
        owner: &str,
        now: Timestamp,
    ) -> Result<(AccessKeyRecord, SecretKey)> {
        let id = new_access_key_id(
            IdKind::AccessKey,
            &random().map_err(randomness_unavailable)?,
        );
        let secret = new_secret_access_key(&random().map_err(randomness_unavailable)?);
        let sealed_secret = self.seal(t, &secret, &id)?;
        let record = AccessKeyRecord {
            v: AccessKeyRecord::VERSION,
            id,
            account: account.to_string(),
            owner: owner.to_string(),
            status: KeyStatus::Active,
            create_date: now.unix_millis,
            sealed_secret,
        };
        Ok((record, secret))
    }
}

/// Writes a key and its owner's index row.
pub(crate) fn store_key(t: &mut (impl Txn + ?Sized), record: &AccessKeyRecord) -> Result<()> {
    t.put_record(ACCESS_KEYS, &record.id, record)?;
    t.put(
        PRINCIPAL_KEYS,
        &key(&record.account, &[&record.owner, &record.id]),
        b"",
    )?;
    Ok(())
}

/// Deletes a key, its owner's index row and its last-used record.
pub(crate) fn delete_key(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    owner: &str,
    id: &str,
) -> Result<()> {
    t.delete(ACCESS_KEYS, id)?;
    t.delete(PRINCIPAL_KEYS, &key(account, &[owner, id]))?;
    t.delete(KEY_LAST_USED, id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_use_is_claimed_once_a_minute_by_the_thread_that_asks() {
        let memo = TouchMemo::default();
        let t0 = Timestamp::from_unix_millis(1_000_000);
        assert!(memo.claim("AKIA1", t0));
        // Claimed: asking again within the minute, whoever writes it, is not due.
        assert!(!memo.claim("AKIA1", Timestamp::from_unix_millis(1_030_000)));
        assert!(memo.claim("AKIA2", t0), "another key is its own");
        assert!(memo.claim(
            "AKIA1",
            Timestamp::from_unix_millis(1_000_000 + LAST_USED_GRANULARITY_MS)
        ));
    }
}
