//! What the per-user credential families share (SSH public keys, signing certificates,
//! service-specific credentials): rows stored under their owner
//! (`{account}/{owner id}/{credential id}`), the owner a call names, and the status a caller
//! may set.

use gatehouse_protocol::iam::StatusType;
use gatehouse_store::Table;

use crate::authz::Access;
use crate::errors::{Failure, Result, validation};
use crate::iam::users::{CredentialOwner, Subject};
use crate::model::records::{KeyStatus, Record, Records, key, prefix};
use crate::pipeline::Call;

/// A credential kept under its owner: SSH public keys, signing certificates, service-specific
/// credentials.
pub(crate) trait Credential: Record {
    const TABLE: Table;
    fn id(&self) -> &str;
    fn status_mut(&mut self) -> &mut KeyStatus;
    /// AWS's NoSuchEntity for an id the owner does not have.
    fn not_found(id: &str) -> Failure;
}

/// The credential `id` of `owner`; NoSuchEntity otherwise (another user's is "not found" too).
pub(crate) fn owned<R: Credential>(
    call: &mut Call<'_>,
    owner: &CredentialOwner,
    id: &str,
) -> Result<R> {
    one_of(call, R::TABLE, owner, id)?.ok_or_else(|| R::not_found(id))
}

pub(crate) fn save<R: Credential>(
    call: &mut Call<'_>,
    owner: &CredentialOwner,
    credential: &R,
) -> Result<()> {
    put(call, R::TABLE, owner, credential.id(), credential)
}

/// The body of every `Update…` of a credential's status.
pub(crate) fn update_status<R: Credential>(
    call: &mut Call<'_>,
    subject: Subject,
    id: &str,
    status: &StatusType,
) -> Result<()> {
    let owner = subject.owner()?;
    let mut credential = owned::<R>(call, &owner, id)?;
    *credential.status_mut() = settable(status)?;
    save(call, &owner, &credential)
}

/// The body of every `Delete…` of a credential.
pub(crate) fn delete<R: Credential>(call: &mut Call<'_>, subject: Subject, id: &str) -> Result<()> {
    let owner = subject.owner()?;
    let credential = owned::<R>(call, &owner, id)?;
    remove(call, R::TABLE, &owner, credential.id())
}

/// The subject a call names (or the caller), with `action` stated on it.
pub(crate) fn resolve_owner(
    call: &mut Call<'_>,
    user_name: Option<&str>,
    action: &'static str,
) -> Result<(Subject, Access)> {
    let subject = Subject::find(call, user_name)?;
    let access = subject.access(call, action);
    Ok((subject, access))
}

/// Every credential of `owner` in `table`, in id order.
pub(crate) fn all_of<R: Record>(
    call: &mut Call<'_>,
    table: Table,
    owner: &CredentialOwner,
) -> Result<Vec<R>> {
    let under = prefix(call.account(), &[&owner.id]);
    Ok(call
        .t
        .scan_records(table, &under, None, usize::MAX)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// The credential `id` of `owner`, if it is theirs.
pub(crate) fn one_of<R: Record>(
    call: &mut Call<'_>,
    table: Table,
    owner: &CredentialOwner,
    id: &str,
) -> Result<Option<R>> {
    let row = key(call.account(), &[&owner.id, id]);
    Ok(call.t.get_record(table, &row)?)
}

pub(crate) fn put<R: Record>(
    call: &mut Call<'_>,
    table: Table,
    owner: &CredentialOwner,
    id: &str,
    record: &R,
) -> Result<()> {
    let row = key(call.account(), &[&owner.id, id]);
    call.t.put_record(table, &row, record)?;
    Ok(())
}

pub(crate) fn remove(
    call: &mut Call<'_>,
    table: Table,
    owner: &CredentialOwner,
    id: &str,
) -> Result<()> {
    let row = key(call.account(), &[&owner.id, id]);
    call.t.delete(table, &row)?;
    Ok(())
}

/// The status a caller asked for. The model lists `Expired`, a state credentials reach, not
/// one a client may set.
pub(crate) fn settable(status: &StatusType) -> Result<KeyStatus> {
    match status {
        StatusType::Active => Ok(KeyStatus::Active),
        StatusType::Inactive => Ok(KeyStatus::Inactive),
        StatusType::Expired => Err(validation(
            "1 validation error detected: Value 'Expired' at 'status' failed to satisfy \
             constraint: Member must satisfy enum value set: [Active, Inactive]",
        )),
    }
}
