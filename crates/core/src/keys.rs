//! Access keys as authentication sees them: finding a key's owner and secret, the root key's
//! first-start generation, and the last-used record.

use gatehouse_protocol::error::ApiError;
use gatehouse_store::{read, write};
use gatehouse_types::{IdKind, SecretKey, Timestamp, new_access_key_id, new_secret_access_key};

use crate::crypto::random;
use crate::errors::{Failure, randomness_unavailable, sealing_failed};
use crate::records::{
    ACCESS_KEYS, AccessKeyRecord, FORMAT_VERSION, KeyStatus, LastUsed, META, OWNER_KEYS,
    ROOT_OWNER, Records,
};
use crate::{Caller, Gatehouse, Principal};

/// Last-used dates are kept to this precision, so that a busy key costs one write a minute,
/// not one per request. AWS documents its own tracking as approximate too.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// An active access key and who owns it, before the request's signature is checked.
#[derive(Debug)]
pub struct AuthenticatedKey {
    pub caller: Caller,
    pub secret: SecretKey,
    /// The stored last-used record is stale; call [`Gatehouse::record_key_use`] after the
    /// request is authenticated.
    pub needs_touch: bool,
}

/// An active key as the cache keeps it: its owner, its opened secret and when it was last used.
#[derive(Clone, Debug)]
pub(crate) struct CachedKey {
    caller: Caller,
    secret: SecretKey,
    last_used: Option<i64>,
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

const ROOT_KEY_META: &str = "root_key_generated";
const CONFIGURED_ROOT_KEY_META: &str = "root_key_configured";
const ACCOUNT_CREATED_META: &str = "account_created";

impl Gatehouse {
    /// Finds an active access key. `None` for a key that is unknown, inactive, or whose owner
    /// is gone: authentication refuses all three the same way.
    pub fn find_access_key(
        &self,
        access_key_id: &str,
        now: Timestamp,
    ) -> Result<Option<AuthenticatedKey>, ApiError> {
        let generation = self.store.generation();
        let cached = self
            .keys_by_id
            .get_or_load(generation, access_key_id, || self.load_key(access_key_id))?;
        Ok(cached.map(|key| AuthenticatedKey {
            needs_touch: key
                .last_used
                .is_none_or(|date| now.unix_millis - date >= LAST_USED_GRANULARITY_MS),
            caller: key.caller,
            secret: key.secret,
        }))
    }

    fn load_key(&self, access_key_id: &str) -> Result<Option<CachedKey>, Failure> {
        let found = read(self.store.as_ref(), |t| {
            let Some(key) = t.get_json::<AccessKeyRecord>(ACCESS_KEYS, access_key_id)? else {
                return Ok::<_, Failure>(None);
            };
            if key.status != KeyStatus::Active {
                return Ok(None);
            }
            let principal = if key.owner == ROOT_OWNER {
                Principal::Root
            } else {
                match t.user_by_id(&key.owner)? {
                    Some(user) => Principal::User {
                        user_id: user.id,
                        name: user.name,
                        path: user.path,
                    },
                    None => return Ok(None),
                }
            };
            Ok(Some((key, principal)))
        })?;
        let Some((key, principal)) = found else {
            return Ok(None);
        };
        let secret = self
            .master_key
            .open(&key.sealed_secret, &key.id)
            .map_err(|()| sealing_failed())?;
        Ok(Some(CachedKey {
            caller: Caller {
                principal,
                access_key_id: key.id,
            },
            secret,
            last_used: key.last_used.map(|u| u.date),
        }))
    }

    /// Records that a key was used just now for `service` in `region`.
    pub fn record_key_use(
        &self,
        access_key_id: &str,
        service: &str,
        region: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        write(self.store.as_ref(), |t| {
            if let Some(mut key) = t.get_json::<AccessKeyRecord>(ACCESS_KEYS, access_key_id)? {
                key.last_used = Some(LastUsed {
                    date: now.unix_millis,
                    service: service.to_string(),
                    region: region.to_string(),
                });
                t.put_json(ACCESS_KEYS, access_key_id, &key)?;
            }
            Ok::<_, Failure>(())
        })?;
        Ok(())
    }

    /// Makes sure the account exists and the root user has an access key: the configured one
    /// (kept in the store like any root key, replacing a previously configured one), or one
    /// generated on the first start.
    pub fn init_root_key(&self, now: Timestamp) -> Result<RootKeyInit, ApiError> {
        let configured = self.configured_root_key.clone();
        let generated = write(self.store.as_ref(), |t| {
            if t.get(META, ACCOUNT_CREATED_META)?.is_none() {
                t.put(
                    META,
                    ACCOUNT_CREATED_META,
                    now.unix_millis.to_string().as_bytes(),
                )?;
            }
            if let Some((id, secret)) = &configured {
                let previous = t.get(META, CONFIGURED_ROOT_KEY_META)?;
                if let Some(previous) = previous
                    .and_then(|p| String::from_utf8(p).ok())
                    .filter(|p| p != id)
                {
                    // A key no longer configured must stop working.
                    t.delete(ACCESS_KEYS, &previous)?;
                    t.delete(OWNER_KEYS, &format!("{ROOT_OWNER}/{previous}"))?;
                }
                let existing = t.get_json::<AccessKeyRecord>(ACCESS_KEYS, id)?;
                let record = AccessKeyRecord {
                    v: FORMAT_VERSION,
                    id: id.clone(),
                    owner: ROOT_OWNER.to_string(),
                    status: KeyStatus::Active,
                    create_date: existing.as_ref().map_or(now.unix_millis, |k| k.create_date),
                    sealed_secret: self
                        .master_key
                        .seal(secret, id)
                        .map_err(|()| sealing_failed())?,
                    last_used: existing.and_then(|k| k.last_used),
                };
                t.put_json(ACCESS_KEYS, id, &record)?;
                t.put(OWNER_KEYS, &format!("{ROOT_OWNER}/{id}"), b"")?;
                t.put(META, CONFIGURED_ROOT_KEY_META, id.as_bytes())?;
                return Ok::<_, Failure>(None);
            }
            if t.get(META, ROOT_KEY_META)?.is_some() {
                return Ok(None);
            }
            let (record, secret) = self.new_access_key(ROOT_OWNER, now)?;
            t.put_json(ACCESS_KEYS, &record.id, &record)?;
            t.put(OWNER_KEYS, &format!("{ROOT_OWNER}/{}", record.id), b"")?;
            t.put(META, ROOT_KEY_META, record.id.as_bytes())?;
            Ok(Some((record.id, secret)))
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

    /// When the account was first set up (the root user's creation date).
    pub(crate) fn account_created(&self) -> Result<Timestamp, Failure> {
        let millis = read(self.store.as_ref(), |t| t.get(META, ACCOUNT_CREATED_META))?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        Ok(Timestamp::from_unix_millis(millis))
    }

    /// A fresh access key record for `owner`, with its secret sealed, and the secret itself.
    pub(crate) fn new_access_key(
        &self,
        owner: &str,
        now: Timestamp,
    ) -> Result<(AccessKeyRecord, SecretKey), Failure> {
        let id = new_access_key_id(
            IdKind::AccessKey,
            &random().map_err(randomness_unavailable)?,
        );
        let secret = new_secret_access_key(&random().map_err(randomness_unavailable)?);
        let sealed_secret = self
            .master_key
            .seal(&secret, &id)
            .map_err(|()| sealing_failed())?;
        let record = AccessKeyRecord {
            v: FORMAT_VERSION,
            id,
            owner: owner.to_string(),
            status: KeyStatus::Active,
            create_date: now.unix_millis,
            sealed_secret,
            last_used: None,
        };
        Ok((record, secret))
    }
}
