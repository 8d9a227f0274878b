//! SSH public keys (for CodeCommit): UploadSSHPublicKey, GetSSHPublicKey, ListSSHPublicKeys,
//! UpdateSSHPublicKey, DeleteSSHPublicKey. RSA keys of at least 2,048 bits, as an `ssh-rsa`
//! line or PEM; five per user.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    DeleteSSHPublicKeyRequest, EncodingType, GetSSHPublicKeyRequest, GetSSHPublicKeyResponse,
    ListSSHPublicKeysRequest, ListSSHPublicKeysResponse, SSHPublicKey, SSHPublicKeyMetadata,
    UpdateSSHPublicKeyRequest, UploadSSHPublicKeyRequest, UploadSSHPublicKeyResponse,
};
use gatehouse_types::{IdKind, Timestamp, new_access_key_id};

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Failure, Result, limit_exceeded, randomness_unavailable};
use crate::iam::access_keys::status_shape;
use crate::iam::credentials::{
    Credential, all_of, delete, owned, put, resolve_owner, update_status,
};
use crate::iam::users::{CredentialOwner, Subject};
use crate::keymaterial::ssh::{SshKeyError, SshPublicKey};
use crate::model::pagination::PageRequest;
use crate::model::records::{KeyStatus, Record, SSH_PUBLIC_KEYS, SshPublicKeyRecord};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's quota of SSH public keys per user.
pub const MAX_SSH_KEYS: usize = 5;

fn no_such_key(id: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The Public Key with id {id} cannot be found."),
    )
    .into()
}

impl Credential for SshPublicKeyRecord {
    const TABLE: gatehouse_store::Table = SSH_PUBLIC_KEYS;
    fn id(&self) -> &str {
        &self.id
    }
    fn status_mut(&mut self) -> &mut KeyStatus {
        &mut self.status
    }
    fn not_found(id: &str) -> Failure {
        no_such_key(id)
    }
}

fn key_shape(
    owner: &CredentialOwner,
    key: &SshPublicKeyRecord,
    encoding: &EncodingType,
) -> Result<SSHPublicKey> {
    let parsed = SshPublicKey::parse(&key.body)
        .map_err(|_| crate::errors::internal("a stored SSH key does not parse"))?;
    Ok(SSHPublicKey {
        user_name: owner.user_name.clone().unwrap_or_default(),
        ssh_public_key_id: key.id.clone(),
        fingerprint: key.fingerprint.clone(),
        ssh_public_key_body: match encoding {
            EncodingType::Ssh => parsed.to_openssh(),
            EncodingType::Pem => parsed.to_pem(),
        },
        status: status_shape(key.status),
        upload_date: Some(Timestamp::from_unix_millis(key.upload_date)),
    })
}

operation!(UploadSSHPublicKey, Iam, writes, UploadSSHPublicKeyRequest => UploadSSHPublicKeyResponse);
impl Handler for UploadSSHPublicKey {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &UploadSSHPublicKeyRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, Some(&input.user_name), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &UploadSSHPublicKeyRequest,
    ) -> Result<UploadSSHPublicKeyResponse> {
        let owner = subject.owner()?;
        let parsed = SshPublicKey::parse(&input.ssh_public_key_body).map_err(|e| match e {
            SshKeyError::UnrecognizedEncoding => Failure::from(ApiError::new(
                ErrorCode::UnrecognizedPublicKeyEncoding,
                "The public key encoding format is unsupported or unrecognized. Use an ssh-rsa \
                 key or a PEM-encoded RSA public key.",
            )),
            SshKeyError::Invalid => ApiError::new(
                ErrorCode::InvalidPublicKey,
                "The public key is malformed or otherwise invalid: it must be an RSA key of at \
                 least 2048 bits.",
            )
            .into(),
        })?;
        let fingerprint = parsed.fingerprint();
        let existing: Vec<SshPublicKeyRecord> = all_of(call, SSH_PUBLIC_KEYS, &owner)?;
        if existing.iter().any(|k| k.fingerprint == fingerprint) {
            return Err(ApiError::new(
                ErrorCode::DuplicateSSHPublicKey,
                "The public key is already associated with the specified IAM user.",
            )
            .into());
        }
        if existing.len() >= MAX_SSH_KEYS {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for SSHPublicKeysPerUser: {MAX_SSH_KEYS}"
            )));
        }
        let record = SshPublicKeyRecord {
            v: SshPublicKeyRecord::VERSION,
            id: new_access_key_id(
                IdKind::SshPublicKey,
                &random().map_err(randomness_unavailable)?,
            ),
            body: input.ssh_public_key_body.trim().to_string(),
            fingerprint,
            status: KeyStatus::Active,
            upload_date: call.cx.now.unix_millis,
        };
        put(call, SSH_PUBLIC_KEYS, &owner, &record.id, &record)?;
        Ok(UploadSSHPublicKeyResponse {
            ssh_public_key: Some(key_shape(&owner, &record, &EncodingType::Ssh)?),
        })
    }
}

operation!(GetSSHPublicKey, Iam, reads, GetSSHPublicKeyRequest => GetSSHPublicKeyResponse);
impl Handler for GetSSHPublicKey {
    type Target = Subject;
    fn resolve(call: &mut Call<'_>, input: &GetSSHPublicKeyRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, Some(&input.user_name), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &GetSSHPublicKeyRequest,
    ) -> Result<GetSSHPublicKeyResponse> {
        let owner = subject.owner()?;
        let key = owned::<SshPublicKeyRecord>(call, &owner, &input.ssh_public_key_id)?;
        Ok(GetSSHPublicKeyResponse {
            ssh_public_key: Some(key_shape(&owner, &key, &input.encoding)?),
        })
    }
}

operation!(ListSSHPublicKeys, Iam, reads, ListSSHPublicKeysRequest => ListSSHPublicKeysResponse);
impl Handler for ListSSHPublicKeys {
    type Target = Subject;
    fn resolve(call: &mut Call<'_>, input: &ListSSHPublicKeysRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &ListSSHPublicKeysRequest,
    ) -> Result<ListSSHPublicKeysResponse> {
        let owner = subject.owner()?;
        let keys: Vec<SshPublicKeyRecord> = all_of(call, SSH_PUBLIC_KEYS, &owner)?;
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(keys, |k| k.id.clone())?;
        Ok(ListSSHPublicKeysResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            ssh_public_keys: Some(
                page.items
                    .iter()
                    .map(|k| SSHPublicKeyMetadata {
                        user_name: owner.user_name.clone().unwrap_or_default(),
                        ssh_public_key_id: k.id.clone(),
                        status: status_shape(k.status),
                        upload_date: Timestamp::from_unix_millis(k.upload_date),
                    })
                    .collect(),
            ),
        })
    }
}

operation!(UpdateSSHPublicKey, Iam, writes, UpdateSSHPublicKeyRequest => ());
impl Handler for UpdateSSHPublicKey {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateSSHPublicKeyRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, Some(&input.user_name), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &UpdateSSHPublicKeyRequest,
    ) -> Result<()> {
        update_status::<SshPublicKeyRecord>(call, subject, &input.ssh_public_key_id, &input.status)
    }
}

operation!(DeleteSSHPublicKey, Iam, writes, DeleteSSHPublicKeyRequest => ());
impl Handler for DeleteSSHPublicKey {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteSSHPublicKeyRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, Some(&input.user_name), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &DeleteSSHPublicKeyRequest,
    ) -> Result<()> {
        delete::<SshPublicKeyRecord>(call, subject, &input.ssh_public_key_id)
    }
}
