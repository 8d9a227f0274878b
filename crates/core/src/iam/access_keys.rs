//! Access keys: CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey,
//! GetAccessKeyLastUsed.

use gatehouse_protocol::iam::{
    AccessKey, AccessKeyLastUsed, AccessKeyMetadata, CreateAccessKeyRequest,
    CreateAccessKeyResponse, DeleteAccessKeyRequest, GetAccessKeyLastUsedRequest,
    GetAccessKeyLastUsedResponse, ListAccessKeysRequest, ListAccessKeysResponse, StatusType,
    UpdateAccessKeyRequest,
};
use gatehouse_types::Timestamp;

use crate::authz::{Access, Authorized};
use crate::errors::{Result, limit_exceeded, no_such_access_key, validation};
use crate::iam::credentials::resolve_owner;
use crate::iam::users::{CredentialOwner, Subject};
use crate::keys::{delete_key, store_key};
use crate::model::entity;
use crate::model::pagination::PageRequest;
use crate::model::records::{
    ACCESS_KEYS, AccessKeyRecord, KEY_LAST_USED, KeyStatus, LastUsed, PRINCIPAL_KEYS, ROOT_OWNER,
    Records, UserRecord, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's quota of access keys per user (root included).
pub const MAX_ACCESS_KEYS: usize = 2;

fn key_ids_of(call: &mut Call<'_>, owner: &CredentialOwner) -> Result<Vec<String>> {
    let under = prefix(call.account(), &[&owner.id]);
    Ok(call.t.child_ids(PRINCIPAL_KEYS, &under)?)
}

/// A key that must belong to `owner`; AWS reports a key of someone else as missing.
fn owned_key(call: &mut Call<'_>, owner: &CredentialOwner, id: &str) -> Result<AccessKeyRecord> {
    match call.t.get_record::<AccessKeyRecord>(ACCESS_KEYS, id)? {
        Some(key) if key.owner == owner.id && key.account == call.account() => Ok(key),
        _ => Err(no_such_access_key(id)),
    }
}

operation!(CreateAccessKey, Iam, writes, CreateAccessKeyRequest => CreateAccessKeyResponse);
impl Handler for CreateAccessKey {
    type Target = Subject;

    fn resolve(call: &mut Call<'_>, input: &CreateAccessKeyRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        _: &CreateAccessKeyRequest,
    ) -> Result<CreateAccessKeyResponse> {
        // The owner is read in this transaction, so a DeleteUser racing this call either sees
        // the new key (and refuses) or deletes the user first (and this call fails).
        let owner = subject.owner()?;
        if key_ids_of(call, &owner)?.len() >= MAX_ACCESS_KEYS {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"
            )));
        }
        let account = call.account();
        let (record, secret) = call
            .g
            .new_access_key(call.t, account, &owner.id, call.cx.now)?;
        store_key(call.t, &record)?;
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
}

operation!(ListAccessKeys, Iam, reads, ListAccessKeysRequest => ListAccessKeysResponse);
impl Handler for ListAccessKeys {
    type Target = Subject;

    fn resolve(call: &mut Call<'_>, input: &ListAccessKeysRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &ListAccessKeysRequest,
    ) -> Result<ListAccessKeysResponse> {
        let owner = subject.owner()?;
        let mut keys = Vec::new();
        for id in key_ids_of(call, &owner)? {
            if let Some(key) = call.t.get_record::<AccessKeyRecord>(ACCESS_KEYS, &id)? {
                keys.push(key);
            }
        }
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(keys, |k| k.id.clone())?;
        Ok(ListAccessKeysResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
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
        })
    }
}

operation!(UpdateAccessKey, Iam, writes, UpdateAccessKeyRequest => ());
impl Handler for UpdateAccessKey {
    type Target = Subject;

    fn resolve(call: &mut Call<'_>, input: &UpdateAccessKeyRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &UpdateAccessKeyRequest,
    ) -> Result<()> {
        let owner = subject.owner()?;
        let mut key = owned_key(call, &owner, &input.access_key_id)?;
        key.status = match input.status {
            StatusType::Active => KeyStatus::Active,
            StatusType::Inactive => KeyStatus::Inactive,
            // The model lists Expired, a state keys reach, not one a client may set.
            StatusType::Expired => {
                return Err(validation(
                    "1 validation error detected: Value 'Expired' at 'status' failed to satisfy \
                     constraint: Member must satisfy enum value set: [Active, Inactive]",
                ));
            }
        };
        call.t.put_record(ACCESS_KEYS, &key.id, &key)?;
        Ok(())
    }
}

operation!(DeleteAccessKey, Iam, writes, DeleteAccessKeyRequest => ());
impl Handler for DeleteAccessKey {
    type Target = Subject;

    fn resolve(call: &mut Call<'_>, input: &DeleteAccessKeyRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &DeleteAccessKeyRequest,
    ) -> Result<()> {
        let owner = subject.owner()?;
        let key = owned_key(call, &owner, &input.access_key_id)?;
        let account = call.account().to_string();
        delete_key(call.t, &account, &owner.id, &key.id)
    }
}

operation!(GetAccessKeyLastUsed, Iam, reads, GetAccessKeyLastUsedRequest => GetAccessKeyLastUsedResponse);
impl Handler for GetAccessKeyLastUsed {
    type Target = Option<(AccessKeyRecord, Option<UserRecord>)>;

    /// AWS authorizes against the key's owner: its user, or the account's root.
    fn resolve(
        call: &mut Call<'_>,
        input: &GetAccessKeyLastUsedRequest,
    ) -> Result<(Self::Target, Access)> {
        let found = match call
            .t
            .get_record::<AccessKeyRecord>(ACCESS_KEYS, &input.access_key_id)?
        {
            Some(key) if key.account == call.account() => {
                let user = if key.owner == ROOT_OWNER {
                    None
                } else {
                    entity::by_id::<UserRecord>(call.t, &key.account, &key.owner)?
                };
                Some((key, user))
            }
            _ => None,
        };
        let resource = match &found {
            Some((_, Some(user))) => entity::Entity::arn(user),
            _ => format!("arn:aws:iam::{}:root", call.account()),
        };
        Ok((found, Access::to(Self::ACTION, resource)))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        found: Self::Target,
        input: &GetAccessKeyLastUsedRequest,
    ) -> Result<GetAccessKeyLastUsedResponse> {
        let (key, user) = found.ok_or_else(|| no_such_access_key(&input.access_key_id))?;
        let used: Option<LastUsed> = call.t.get_record(KEY_LAST_USED, &key.id)?;
        let last_used = match used {
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

pub(crate) fn status_shape(status: KeyStatus) -> StatusType {
    match status {
        KeyStatus::Active => StatusType::Active,
        KeyStatus::Inactive => StatusType::Inactive,
    }
}
