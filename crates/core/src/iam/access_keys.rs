//! Access keys: CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey,
//! GetAccessKeyLastUsed.

use gatehouse_protocol::iam::{
    AccessKey, AccessKeyLastUsed, AccessKeyMetadata, CreateAccessKeyRequest,
    CreateAccessKeyResponse, DeleteAccessKeyRequest, GetAccessKeyLastUsedRequest,
    GetAccessKeyLastUsedResponse, ListAccessKeysRequest, ListAccessKeysResponse, StatusType,
    UpdateAccessKeyRequest,
};
use gatehouse_store::{read, write};
use gatehouse_types::Timestamp;

use crate::errors::{Failure, Result, limit_exceeded, no_such_access_key};
use crate::pagination::paginate_vec;
use crate::records::{ACCESS_KEYS, AccessKeyRecord, KeyStatus, OWNER_KEYS, ROOT_OWNER, Records};
use crate::{Gatehouse, Principal, RequestContext};

/// AWS's quota of access keys per user (root included).
pub const MAX_ACCESS_KEYS: usize = 2;

/// Whose keys a call is about: the named user, or the caller when no name is given.
struct KeyOwner {
    /// A user id or `ROOT_OWNER`.
    id: String,
    /// The user name AWS reports (for root: none).
    user_name: Option<String>,
    arn: String,
}

impl Gatehouse {
    fn key_owner(
        &self,
        cx: &RequestContext,
        user_name: Option<&str>,
        action: &str,
    ) -> Result<KeyOwner> {
        let name = match (user_name, &cx.caller.principal) {
            (Some(name), _) => name,
            (None, Principal::User { name, .. }) => name.as_str(),
            (None, Principal::Root) => {
                let arn = self.principal_arn(&Principal::Root);
                self.authorize(cx, action, &arn)?;
                return Ok(KeyOwner {
                    id: ROOT_OWNER.to_string(),
                    user_name: None,
                    arn,
                });
            }
        };
        let user = self.authorized_user(cx, action, name)?;
        Ok(KeyOwner {
            arn: self.user_arn(&user.path, &user.name),
            id: user.id,
            user_name: Some(user.name),
        })
    }

    pub(crate) fn create_access_key_impl(
        &self,
        cx: &RequestContext,
        input: CreateAccessKeyRequest,
    ) -> Result<CreateAccessKeyResponse> {
        let owner = self.key_owner(cx, input.user_name.as_deref(), "iam:CreateAccessKey")?;
        let (record, secret) = self.new_access_key(&owner.id, cx.now)?;
        write(self.store.as_ref(), |t| {
            if t.key_ids_of(&owner.id)?.len() >= MAX_ACCESS_KEYS {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"
                )));
            }
            t.put_json(ACCESS_KEYS, &record.id, &record)?;
            t.put(OWNER_KEYS, &format!("{}/{}", owner.id, record.id), b"")?;
            Ok(())
        })?;
        // The only time the secret leaves Gatehouse.
        Ok(CreateAccessKeyResponse {
            access_key: AccessKey {
                user_name: owner.user_name.unwrap_or_default(),
                access_key_id: record.id,
                status: StatusType::Active,
                secret_access_key: secret.expose().to_string(),
                create_date: Some(Timestamp::from_unix_millis(record.create_date)),
            },
        })
    }

    pub(crate) fn list_access_keys_impl(
        &self,
        cx: &RequestContext,
        input: ListAccessKeysRequest,
    ) -> Result<ListAccessKeysResponse> {
        let owner = self.key_owner(cx, input.user_name.as_deref(), "iam:ListAccessKeys")?;
        let keys = read(self.store.as_ref(), |t| {
            let mut keys = Vec::new();
            for id in t.key_ids_of(&owner.id)? {
                if let Some(key) = t.get_json::<AccessKeyRecord>(ACCESS_KEYS, &id)? {
                    keys.push(key);
                }
            }
            Ok::<_, Failure>(keys)
        })?;
        let page = paginate_vec(keys, input.marker.as_deref(), input.max_items)?;
        Ok(ListAccessKeysResponse {
            is_truncated: Some(page.is_truncated()),
            access_key_metadata: page
                .items
                .into_iter()
                .map(|k| AccessKeyMetadata {
                    user_name: owner.user_name.clone(),
                    access_key_id: Some(k.id),
                    status: Some(status_shape(k.status)),
                    create_date: Some(Timestamp::from_unix_millis(k.create_date)),
                })
                .collect(),
            marker: page.next_marker,
        })
    }

    /// Loads a key that must belong to `owner`; AWS reports a key of someone else as missing.
    fn owned_key(
        t: &mut dyn gatehouse_store::Txn,
        owner: &KeyOwner,
        id: &str,
    ) -> Result<AccessKeyRecord> {
        match t.get_json::<AccessKeyRecord>(ACCESS_KEYS, id)? {
            Some(key) if key.owner == owner.id => Ok(key),
            _ => Err(no_such_access_key(id)),
        }
    }

    pub(crate) fn update_access_key_impl(
        &self,
        cx: &RequestContext,
        input: UpdateAccessKeyRequest,
    ) -> Result<()> {
        let owner = self.key_owner(cx, input.user_name.as_deref(), "iam:UpdateAccessKey")?;
        write(self.store.as_ref(), |t| {
            let mut key = Self::owned_key(t, &owner, &input.access_key_id)?;
            key.status = match input.status {
                StatusType::Active => KeyStatus::Active,
                StatusType::Inactive => KeyStatus::Inactive,
                // The model lists Expired, a state keys reach, not one a client may set.
                StatusType::Expired => {
                    return Err(crate::errors::validation(
                        "1 validation error detected: Value 'Expired' at 'status' failed to satisfy \
                         constraint: Member must satisfy enum value set: [Active, Inactive]",
                    ));
                }
            };
            t.put_json(ACCESS_KEYS, &key.id, &key)?;
            Ok(())
        })
    }

    pub(crate) fn delete_access_key_impl(
        &self,
        cx: &RequestContext,
        input: DeleteAccessKeyRequest,
    ) -> Result<()> {
        let owner = self.key_owner(cx, input.user_name.as_deref(), "iam:DeleteAccessKey")?;
        write(self.store.as_ref(), |t| {
            let key = Self::owned_key(t, &owner, &input.access_key_id)?;
            t.delete(ACCESS_KEYS, &key.id)?;
            t.delete(OWNER_KEYS, &format!("{}/{}", owner.id, key.id))?;
            Ok::<_, Failure>(())
        })?;
        log::info!(
            "access key {} of {} deleted",
            input.access_key_id,
            owner.arn
        );
        Ok(())
    }

    pub(crate) fn get_access_key_last_used_impl(
        &self,
        cx: &RequestContext,
        input: GetAccessKeyLastUsedRequest,
    ) -> Result<GetAccessKeyLastUsedResponse> {
        let found = read(self.store.as_ref(), |t| {
            let Some(key) = t.get_json::<AccessKeyRecord>(ACCESS_KEYS, &input.access_key_id)?
            else {
                return Ok::<_, Failure>(None);
            };
            let user = if key.owner == ROOT_OWNER {
                None
            } else {
                t.user_by_id(&key.owner)?
            };
            Ok(Some((key, user)))
        })?;
        let resource = match &found {
            Some((_, Some(user))) => self.user_arn(&user.path, &user.name),
            _ => self.principal_arn(&Principal::Root),
        };
        self.authorize(cx, "iam:GetAccessKeyLastUsed", &resource)?;
        let (key, user) = found.ok_or_else(|| no_such_access_key(&input.access_key_id))?;
        let last_used = match key.last_used {
            Some(used) => AccessKeyLastUsed {
                last_used_date: Some(Timestamp::from_unix_millis(used.date)),
                service_name: used.service,
                region: used.region,
            },
            // AWS's answer for a key never used.
            None => AccessKeyLastUsed {
                last_used_date: None,
                service_name: "N/A".into(),
                region: "N/A".into(),
            },
        };
        Ok(GetAccessKeyLastUsedResponse {
            user_name: user.map(|u| u.name),
            access_key_last_used: Some(last_used),
        })
    }
}

fn status_shape(status: KeyStatus) -> StatusType {
    match status {
        KeyStatus::Active => StatusType::Active,
        KeyStatus::Inactive => StatusType::Inactive,
    }
}
