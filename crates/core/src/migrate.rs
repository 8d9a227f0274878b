//! What is checked and upgraded before a store is served: the store's layout, its master key
//! and its default account.
//!
//! - The layout (how keys are formed) has a number in `meta/layout`. Layout 1, before keys
//!   were scoped by account, is rewritten to layout 2 in one transaction.
//! - The master key: `meta/master_key_check` holds a value sealed under the store's key (the
//!   one it was created with, or the one a rotation moved it to, named by
//!   `meta/master_key_id`; see `master_keys`). A node not given that key is refused at
//!   start-up, before it could seal a single secret that the right key could not open.
//! - The default account: `meta/default_account` names the account the store was created
//!   for; starting with another id would silently change every ARN, so it is refused.

use std::fmt;

use gatehouse_store::{StoreError, Txn, read, write};
use gatehouse_types::SecretKey;
use serde_json::Value;

use crate::Gatehouse;
use crate::errors::Failure;
use crate::master_keys::ACTIVE_KEY_ID;
use crate::model::records::{
    ACCESS_KEYS, ACCOUNTS, AccessKeyRecord, AccountRecord, INLINE_POLICIES, KEY_LAST_USED,
    LastUsed, META, PRINCIPAL_KEYS, Record, Records, USER_NAMES, USERS, key,
};

const LAYOUT: &str = "layout";
const CURRENT_LAYOUT: &str = "2";
const MASTER_KEY_CHECK: &str = "master_key_check";
const DEFAULT_ACCOUNT: &str = "default_account";
/// What `meta/master_key_check` seals, and its associated data.
const CHECK_PLAINTEXT: &str = "gatehouse master key check";

/// Why a store cannot be served as configured.
#[derive(Debug)]
pub enum StartupError {
    WrongMasterKey,
    /// The store names its active key, and this node was not given it.
    MasterKeyNotGiven {
        active: String,
        given: Vec<String>,
    },
    AccountMismatch {
        stored: String,
        configured: String,
    },
    NewerLayout(String),
    Store(StoreError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::WrongMasterKey => write!(
                f,
                "the master key does not open this store's secrets: give the key the store was \
                 created with (GATEHOUSE_MASTER_KEY or DATA_DIR/master.key)"
            ),
            StartupError::MasterKeyNotGiven { active, given } => write!(
                f,
                "the store's secrets are sealed under master key {active}, but this node was given \
                 {} ({}): give the store's key (after a rotation, the new one)",
                if given.len() == 1 { "key" } else { "keys" },
                given.join(" and ")
            ),
            StartupError::AccountMismatch { stored, configured } => write!(
                f,
                "the store belongs to account {stored}, but GATEHOUSE_ACCOUNT_ID is {configured}: \
                 changing it would change every ARN; unset it or set it to {stored}"
            ),
            StartupError::NewerLayout(layout) => write!(
                f,
                "the store has layout {layout}, newer than this Gatehouse knows ({CURRENT_LAYOUT})"
            ),
            StartupError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl From<StoreError> for StartupError {
    fn from(e: StoreError) -> Self {
        StartupError::Store(e)
    }
}

impl From<Failure> for StartupError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Store(e) => StartupError::Store(e),
            Failure::Api(e) => StartupError::Store(StoreError::Backend(e.message)),
        }
    }
}

impl Gatehouse {
    /// Upgrades the store's layout if needed, then checks (and on a new store records) its
    /// master key and default account. Run once before serving.
    pub fn prepare_store(&self) -> Result<(), StartupError> {
        let account = self.account.to_string();
        write(self.store.as_ref(), |t| {
            // Refuse before writing anything.
            self.check_identity(t)?;
            upgrade_layout(t)?;
            if t.get(META, MASTER_KEY_CHECK)?.is_none() {
                let sealed = self.seal(t, &SecretKey::new(CHECK_PLAINTEXT), CHECK_PLAINTEXT)?;
                t.put(META, MASTER_KEY_CHECK, sealed.as_bytes())?;
            }
            if t.get(META, DEFAULT_ACCOUNT)?.is_none() {
                t.put(META, DEFAULT_ACCOUNT, account.as_bytes())?;
            }
            Ok::<_, StartupError>(())
        })
    }

    /// The same checks without writing anything (for `gatehouse store check`).
    pub fn verify_store(&self) -> Result<(), StartupError> {
        read(self.store.as_ref(), |t| {
            match t.get_text(META, LAYOUT)?.as_deref() {
                Some(CURRENT_LAYOUT) => {}
                Some(other) => return Ok(Err(StartupError::NewerLayout(other.to_string()))),
                None if is_empty(t)? => {}
                None => {
                    return Ok(Err(StartupError::Store(StoreError::Backend(
                        "the store has the layout of an earlier release; start `gatehouse serve` once to upgrade it"
                            .into(),
                    ))));
                }
            }
            Ok::<_, StoreError>(self.check_identity(t))
        })?
    }

    /// The master key and the account against what the store recorded.
    pub(crate) fn check_identity(&self, t: &mut dyn Txn) -> Result<(), StartupError> {
        let active = t.get_text(META, ACTIVE_KEY_ID)?;
        if let Some(active) = &active
            && self.master_keys.get(active).is_none()
        {
            return Err(StartupError::MasterKeyNotGiven {
                active: active.clone(),
                given: self.master_keys.ids(),
            });
        }
        if let Some(sealed) = t.get_text(META, MASTER_KEY_CHECK)? {
            // A store never rotated is sealed under its original key, which must be the
            // current one (the next key is not the store's until a rotation makes it so).
            let expected = active.unwrap_or_else(|| self.master_keys.current().id());
            if self.key_opening(&sealed) != Some(expected) {
                return Err(StartupError::WrongMasterKey);
            }
        } else if let Some((_, key)) = t
            .scan_records::<AccessKeyRecord>(ACCESS_KEYS, "", None, 1)?
            .into_iter()
            .next()
        {
            // A store from before the check was recorded: any sealed secret tells.
            if self.master_keys.open(&key.sealed_secret, &key.id).is_err() {
                return Err(StartupError::WrongMasterKey);
            }
        }
        if let Some(stored) = t.get_text(META, DEFAULT_ACCOUNT)?
            && stored != self.account.as_str()
        {
            return Err(StartupError::AccountMismatch {
                stored,
                configured: self.account.to_string(),
            });
        }
        Ok(())
    }
}

impl Gatehouse {
    /// The id of the key held that opens the check value.
    fn key_opening(&self, check: &str) -> Option<String> {
        self.master_keys.ids().into_iter().find(|id| {
            let sealed = match crate::crypto::sealed_key_id(check) {
                Some((sealed_id, _)) if sealed_id != id => return false,
                Some((_, ciphertext)) => ciphertext,
                None => check,
            };
            self.master_keys
                .get(id)
                .and_then(|k| k.open(sealed, CHECK_PLAINTEXT).ok())
                .is_some_and(|text| text.expose() == CHECK_PLAINTEXT)
        })
    }

    /// Seals the check value again under `key_id` (a rotation's switch).
    pub(crate) fn reseal_check_value(&self, t: &mut dyn Txn, key_id: &str) -> Result<(), Failure> {
        let sealed = self
            .master_keys
            .seal(key_id, &SecretKey::new(CHECK_PLAINTEXT), CHECK_PLAINTEXT)
            .map_err(|()| crate::errors::sealing_failed())?;
        t.put(META, MASTER_KEY_CHECK, sealed.as_bytes())?;
        Ok(())
    }
}

/// The account a store was created for, if it records one: a server started without an
/// account id serves that one.
pub fn stored_default_account(
    store: &dyn gatehouse_store::Store,
) -> Result<Option<String>, StoreError> {
    read(store, |t| t.get_text(META, DEFAULT_ACCOUNT))
}

fn is_empty(t: &mut dyn Txn) -> Result<bool, StoreError> {
    Ok(t.scan(META, "", None, 1)?.is_empty() && t.scan(ACCESS_KEYS, "", None, 1)?.is_empty())
}

/// Layout 1 (one account, keys not scoped) → layout 2 (see `model::records`).
fn upgrade_layout(t: &mut dyn Txn) -> Result<(), Failure> {
    match t.get_text(META, LAYOUT)?.as_deref() {
        Some(CURRENT_LAYOUT) => return Ok(()),
        Some(other) => {
            return Err(Failure::Store(StoreError::Backend(format!(
                "the store has layout {other}, newer than this Gatehouse knows ({CURRENT_LAYOUT})"
            ))));
        }
        None => {}
    }
    if let Some(created) = t.get_text(META, "account_created")? {
        upgrade_from_layout_1(t, &created)?;
    }
    t.put(META, LAYOUT, CURRENT_LAYOUT.as_bytes())?;
    Ok(())
}

fn corrupt(what: &str) -> Failure {
    Failure::Store(StoreError::Corrupt(format!("layout 1 store: {what}")))
}

fn json_rows(t: &mut dyn Txn, table: &'static str) -> Result<Vec<(String, Value)>, Failure> {
    t.scan(table, "", None, usize::MAX)?
        .into_iter()
        .map(|(k, v)| {
            serde_json::from_slice(&v)
                .map(|v| (k.clone(), v))
                .map_err(|_| corrupt(&format!("{table}/{k} is not JSON")))
        })
        .collect()
}

fn upgrade_from_layout_1(t: &mut dyn Txn, created: &str) -> Result<(), Failure> {
    // Layout 1 served one account, named only by the server's configuration: the account id
    // it ran with is not stored, so it is taken from the default the release used unless the
    // store's keys say otherwise through `meta/default_account` (never set by layout 1).
    let account = t
        .get_text(META, DEFAULT_ACCOUNT)?
        .unwrap_or_else(|| "000000000000".to_string());
    let str_of = |v: &Value, field: &str| {
        v.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| corrupt(&format!("a record lacks {field}")))
    };

    let users = json_rows(t, "users")?;
    for (old_key, _) in &users {
        t.delete("users", old_key)?;
    }
    for (_, mut user) in users {
        let id = str_of(&user, "id")?;
        let name = str_of(&user, "name")?;
        if let Value::Object(fields) = &mut user {
            fields.insert("v".into(), Value::from(2));
            fields.insert("account".into(), Value::from(account.clone()));
        }
        t.put(USERS, &key(&account, &[&id]), user.to_string().as_bytes())?;
        t.put(
            USER_NAMES,
            &key(&account, &[&name.to_lowercase()]),
            id.as_bytes(),
        )?;
    }
    for (old_key, _) in t.scan("user_ids", "", None, usize::MAX)? {
        t.delete("user_ids", &old_key)?;
    }

    for (id, mut access_key) in json_rows(t, ACCESS_KEYS)? {
        let owner = str_of(&access_key, "owner")?;
        if let Value::Object(fields) = &mut access_key {
            if let Some(last_used) = fields.remove("last_used")
                && let (Some(date), Some(service), Some(region)) = (
                    last_used.get("date").and_then(Value::as_i64),
                    last_used.get("service").and_then(Value::as_str),
                    last_used.get("region").and_then(Value::as_str),
                )
            {
                t.put_record(
                    KEY_LAST_USED,
                    &id,
                    &LastUsed {
                        v: LastUsed::VERSION,
                        date,
                        service: service.to_string(),
                        region: region.to_string(),
                    },
                )?;
            }
            fields.insert("v".into(), Value::from(AccessKeyRecord::VERSION));
            fields.insert("account".into(), Value::from(account.clone()));
        }
        t.put(ACCESS_KEYS, &id, access_key.to_string().as_bytes())?;
        t.put(PRINCIPAL_KEYS, &key(&account, &[&owner, &id]), b"")?;
    }
    for (old_key, _) in t.scan("owner_keys", "", None, usize::MAX)? {
        t.delete("owner_keys", &old_key)?;
    }

    for (old_key, policy) in t.scan("user_policies", "", None, usize::MAX)? {
        t.delete("user_policies", &old_key)?;
        t.put(INLINE_POLICIES, &key(&account, &[&old_key]), &policy)?;
    }

    let generated = t.get_text(META, "root_key_generated")?;
    let configured = t.get_text(META, "root_key_configured")?;
    let record = AccountRecord {
        v: AccountRecord::VERSION,
        id: account.clone(),
        created: created.parse().map_err(|_| corrupt("account_created"))?,
        generated_root_key: generated,
        configured_root_key: configured,
        alias: None,
        quotas: Default::default(),
        global_endpoint_token_version: None,
    };
    t.put_record(ACCOUNTS, &account, &record)?;
    for old in [
        "account_created",
        "root_key_generated",
        "root_key_configured",
    ] {
        t.delete(META, old)?;
    }
    t.put(META, DEFAULT_ACCOUNT, account.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entity;
    use crate::model::records::UserRecord;
    use crate::test_support::{gatehouse_on, temp_store};
    use gatehouse_store::{read, write};

    #[test]
    fn a_layout_1_store_is_rewritten_under_its_account() {
        let store = temp_store();
        write(store.as_ref(), |t| {
            t.put(META, "account_created", b"1700000000000")?;
            t.put(META, "root_key_generated", b"AKIAROOT")?;
            t.put("users", "bob", br#"{"v":1,"name":"Bob","id":"AIDABOB","path":"/","create_date":1,"tags":[]}"#)?;
            t.put("user_ids", "AIDABOB", b"bob")?;
            t.put(ACCESS_KEYS, "AKIABOB", br#"{"v":1,"id":"AKIABOB","owner":"AIDABOB","status":"Active","create_date":2,"sealed_secret":"00","last_used":{"date":5,"service":"iam","region":"us-east-1"}}"#)?;
            t.put("owner_keys", "AIDABOB/AKIABOB", b"")?;
            t.put("user_policies", "AIDABOB/p", br#"{"v":1,"name":"p","document":"{}"}"#)?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
        write(store.as_ref(), upgrade_layout).unwrap();
        read(store.as_ref(), |t| {
            let bob: UserRecord = entity::existing(t, "000000000000", "bob")?;
            assert_eq!(
                (bob.name.as_str(), bob.account.as_str()),
                ("Bob", "000000000000")
            );
            let k: AccessKeyRecord = t.get_record(ACCESS_KEYS, "AKIABOB")?.unwrap();
            assert_eq!(k.account, "000000000000");
            assert!(
                t.get(PRINCIPAL_KEYS, "000000000000/AIDABOB/AKIABOB")?
                    .is_some()
            );
            let used: LastUsed = t.get_record(KEY_LAST_USED, "AKIABOB")?.unwrap();
            assert_eq!(used.date, 5);
            assert!(t.get(INLINE_POLICIES, "000000000000/AIDABOB/p")?.is_some());
            let account: AccountRecord = t.get_record(ACCOUNTS, "000000000000")?.unwrap();
            assert_eq!(account.generated_root_key.as_deref(), Some("AKIAROOT"));
            assert!(t.scan("user_ids", "", None, 10)?.is_empty());
            assert!(t.scan("owner_keys", "", None, 10)?.is_empty());
            assert_eq!(t.get_text(META, LAYOUT)?.as_deref(), Some(CURRENT_LAYOUT));
            Ok::<_, Failure>(())
        })
        .unwrap();
    }

    #[test]
    fn another_master_key_or_account_is_refused() {
        let store = temp_store();
        let first = gatehouse_on(store.clone(), "111122223333");
        first.prepare_store().unwrap();
        first.prepare_store().unwrap();
        let other_key = gatehouse_on(store.clone(), "111122223333");
        assert!(matches!(
            other_key.prepare_store(),
            Err(StartupError::WrongMasterKey)
        ));
        assert!(matches!(
            other_key.verify_store(),
            Err(StartupError::WrongMasterKey)
        ));
        let other_account = crate::test_support::gatehouse_with_key(
            store.clone(),
            "444455556666",
            crate::MasterKey::from_hex(&first.master_keys.current().to_hex()).unwrap(),
        );
        assert!(matches!(
            other_account.prepare_store(),
            Err(StartupError::AccountMismatch { .. })
        ));
        first.verify_store().unwrap();
    }
}
