//! What Gatehouse keeps in the store: one JSON document per entity, with a format version,
//! plus index rows. Table and key layout:
//!
//! | table              | key                          | value                |
//! |--------------------|------------------------------|----------------------|
//! | `users`            | lower-cased user name        | [`UserRecord`]       |
//! | `user_ids`         | user id (`AIDA…`)            | lower-cased name     |
//! | `access_keys`      | access key id                | [`AccessKeyRecord`]  |
//! | `owner_keys`       | `{owner id}/{access key id}` | empty                |
//! | `user_policies`    | `{user id}/{policy name}`    | inline policy        |
//! | `meta`             | setting name                 | setting value        |
//!
//! Names are unique case-insensitively, as in AWS, so the lower-cased name is the key; the
//! record keeps the name as given.

use gatehouse_store::{StoreError, Table, Txn};
use serde::{Deserialize, Serialize};

pub const USERS: Table = "users";
pub const USER_IDS: Table = "user_ids";
pub const ACCESS_KEYS: Table = "access_keys";
pub const OWNER_KEYS: Table = "owner_keys";
pub const META: Table = "meta";
pub const USER_POLICIES: Table = "user_policies";

/// The owner id used for the root user's keys (AWS gives root the account id as its user id).
pub const ROOT_OWNER: &str = "root";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub v: u32,
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
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LastUsed {
    pub date: i64,
    pub service: String,
    pub region: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AccessKeyRecord {
    pub v: u32,
    pub id: String,
    /// A user id, or [`ROOT_OWNER`].
    pub owner: String,
    pub status: KeyStatus,
    pub create_date: i64,
    /// The secret, sealed under the master key with the key id as associated data.
    pub sealed_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<LastUsed>,
}

pub const FORMAT_VERSION: u32 = 1;

fn decode<T: for<'de> Deserialize<'de>>(
    table: Table,
    key: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{table}/{key}: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Backend(format!("cannot encode a record: {e}")))
}

/// Typed access to the tables above.
pub trait Records: Txn {
    fn get_json<T: for<'de> Deserialize<'de>>(
        &mut self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.get(table, key)? {
            Some(bytes) => decode(table, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn put_json<T: Serialize>(
        &mut self,
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.put(table, key, &encode(value)?)
    }

    /// Inserts only if absent; returns whether it inserted.
    fn insert_json<T: Serialize>(
        &mut self,
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<bool, StoreError> {
        self.insert(table, key, &encode(value)?)
    }

    fn scan_json<T: for<'de> Deserialize<'de>>(
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

    fn user_by_name(&mut self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get_json(USERS, &name.to_lowercase())
    }

    fn user_by_id(&mut self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        match self.get(USER_IDS, id)? {
            Some(name) => {
                let name = String::from_utf8(name)
                    .map_err(|e| StoreError::Corrupt(format!("{USER_IDS}/{id}: {e}")))?;
                self.get_json(USERS, &name)
            }
            None => Ok(None),
        }
    }

    /// Ids of the access keys an owner has, in key order.
    fn key_ids_of(&mut self, owner: &str) -> Result<Vec<String>, StoreError> {
        let prefix = format!("{owner}/");
        Ok(self
            .scan(OWNER_KEYS, &prefix, None, usize::MAX)?
            .into_iter()
            .filter_map(|(key, _)| key.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }
}

impl<T: Txn + ?Sized> Records for T {}
