//! A check that the stored entities agree with each other, run by `gatehouse store check`
//! after the backend's own integrity check.

use gatehouse_store::{StoreError, read};

use crate::Gatehouse;
use crate::records::{
    ACCESS_KEYS, AccessKeyRecord, OWNER_KEYS, ROOT_OWNER, Records, USER_IDS, USERS, UserRecord,
};

impl Gatehouse {
    /// Every problem found, in words; empty when the store is consistent.
    pub fn check_consistency(&self) -> Result<Vec<String>, StoreError> {
        read(self.store.as_ref(), |t| {
            let mut problems = Vec::new();
            let users: Vec<(String, UserRecord)> = t.scan_json(USERS, "", None, usize::MAX)?;
            for (key, user) in &users {
                if *key != user.name.to_lowercase() {
                    problems.push(format!("user {} is stored under the key {key}", user.name));
                }
                if t.get(USER_IDS, &user.id)?.as_deref() != Some(key.as_bytes()) {
                    problems.push(format!("user {} has no id index entry", user.name));
                }
                if self.check_user_shape(user).is_err() {
                    problems.push(format!("user {} is malformed", user.name));
                }
            }
            let ids = t.scan(USER_IDS, "", None, usize::MAX)?;
            if ids.len() != users.len() {
                problems.push(format!(
                    "{} user id index entries for {} users",
                    ids.len(),
                    users.len()
                ));
            }
            let keys: Vec<(String, AccessKeyRecord)> =
                t.scan_json(ACCESS_KEYS, "", None, usize::MAX)?;
            for (id, key) in &keys {
                if key.owner != ROOT_OWNER && t.user_by_id(&key.owner)?.is_none() {
                    problems.push(format!(
                        "access key {id} belongs to a missing user {}",
                        key.owner
                    ));
                }
                if t.get(OWNER_KEYS, &format!("{}/{id}", key.owner))?.is_none() {
                    problems.push(format!("access key {id} is missing from its owner's index"));
                }
                if self.master_key.open(&key.sealed_secret, id).is_err() {
                    problems.push(format!(
                        "access key {id}'s secret cannot be opened with this master key"
                    ));
                }
            }
            let index = t.scan(OWNER_KEYS, "", None, usize::MAX)?;
            if index.len() != keys.len() {
                problems.push(format!(
                    "{} owner index entries for {} access keys",
                    index.len(),
                    keys.len()
                ));
            }
            Ok(problems)
        })
    }

    fn check_user_shape(&self, user: &UserRecord) -> Result<(), ()> {
        if user.name.is_empty() || user.id.is_empty() || !user.path.starts_with('/') {
            Err(())
        } else {
            Ok(())
        }
    }
}
