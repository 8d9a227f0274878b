//! Service-specific credentials: a user name and password (CodeCommit's Git over HTTPS,
//! Keyspaces) or an API key (Bedrock) tied to an IAM user. Create, List, Reset, Update and
//! Delete; two per service per user. The password is sealed at rest and shown only by
//! Create and Reset.

use gatehouse_protocol::codec::base64_encode;
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    CreateServiceSpecificCredentialRequest, CreateServiceSpecificCredentialResponse,
    DeleteServiceSpecificCredentialRequest, ListServiceSpecificCredentialsRequest,
    ListServiceSpecificCredentialsResponse, ResetServiceSpecificCredentialRequest,
    ResetServiceSpecificCredentialResponse, ServiceSpecificCredential,
    ServiceSpecificCredentialMetadata, StatusType, UpdateServiceSpecificCredentialRequest,
};
use gatehouse_types::{IdKind, SecretKey, Timestamp, new_unique_id};

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Failure, Result, invalid_input, limit_exceeded, randomness_unavailable};
use crate::iam::access_keys::status_shape;
use crate::iam::common::listing;
use crate::iam::credentials::{
    Credential, all_of, delete, owned, put, resolve_owner, update_status,
};
use crate::iam::users::{CredentialOwner, Subject};
use crate::model::entity;
use crate::model::pagination::PageRequest;
use crate::model::records::{
    KeyStatus, Record, Records, SERVICE_CREDENTIALS, ServiceCredentialRecord, UserRecord, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's quota per service and user.
pub const MAX_PER_SERVICE: usize = 2;

/// The services that take service-specific credentials, and whether theirs are API keys
/// (an alias and a secret, which may expire) rather than a user name and password.
const SERVICES: &[(&str, bool)] = &[
    ("codecommit.amazonaws.com", false),
    ("cassandra.amazonaws.com", false),
    ("bedrock.amazonaws.com", true),
];

fn is_api_key(service: &str) -> Option<bool> {
    SERVICES
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, api_key)| *api_key)
}

fn not_supported(service: &str) -> Failure {
    ApiError::new(
        ErrorCode::NotSupportedService,
        format!("No such service {service} is supported for Service Specific Credentials"),
    )
    .into()
}

fn no_such_credential(id: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("No such credential {id} exists"),
    )
    .into()
}

impl Credential for ServiceCredentialRecord {
    const TABLE: gatehouse_store::Table = SERVICE_CREDENTIALS;
    fn id(&self) -> &str {
        &self.id
    }
    fn status_mut(&mut self) -> &mut KeyStatus {
        &mut self.status
    }
    fn not_found(id: &str) -> Failure {
        no_such_credential(id)
    }
}

/// A fresh password: 32 random bytes in base 64 (44 characters, as AWS's look).
fn new_password() -> Result<SecretKey> {
    let bytes: [u8; 32] = random().map_err(randomness_unavailable)?;
    Ok(SecretKey::new(base64_encode(&bytes)))
}

fn status_at(c: &ServiceCredentialRecord, now: i64) -> StatusType {
    match c.expiration_date {
        Some(expires) if now >= expires => StatusType::Expired,
        _ => status_shape(c.status),
    }
}

/// The credential with its secret: only Create and Reset answer this.
fn with_secret(
    owner: &CredentialOwner,
    c: &ServiceCredentialRecord,
    secret: &SecretKey,
    now: i64,
) -> ServiceSpecificCredential {
    let api_key = is_api_key(&c.service_name).unwrap_or(false);
    ServiceSpecificCredential {
        create_date: Timestamp::from_unix_millis(c.create_date),
        expiration_date: c.expiration_date.map(Timestamp::from_unix_millis),
        service_name: c.service_name.clone(),
        service_user_name: (!api_key).then(|| c.service_user_name.clone()),
        service_password: (!api_key).then(|| secret.expose().to_string()),
        service_credential_alias: api_key.then(|| c.service_user_name.clone()),
        service_credential_secret: api_key.then(|| secret.expose().to_string()),
        service_specific_credential_id: c.id.clone(),
        user_name: owner.user_name.clone().unwrap_or_default(),
        status: status_at(c, now),
    }
}

fn metadata(
    user_name: &str,
    c: &ServiceCredentialRecord,
    now: i64,
) -> ServiceSpecificCredentialMetadata {
    let api_key = is_api_key(&c.service_name).unwrap_or(false);
    ServiceSpecificCredentialMetadata {
        user_name: user_name.to_string(),
        status: status_at(c, now),
        service_user_name: (!api_key).then(|| c.service_user_name.clone()),
        service_credential_alias: api_key.then(|| c.service_user_name.clone()),
        create_date: Timestamp::from_unix_millis(c.create_date),
        expiration_date: c.expiration_date.map(Timestamp::from_unix_millis),
        service_specific_credential_id: c.id.clone(),
        service_name: c.service_name.clone(),
    }
}

fn seal(call: &mut Call<'_>, secret: &SecretKey, id: &str) -> Result<String> {
    call.g.seal(call.t, secret, id)
}

operation!(CreateServiceSpecificCredential, Iam, writes, CreateServiceSpecificCredentialRequest => CreateServiceSpecificCredentialResponse);
impl Handler for CreateServiceSpecificCredential {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &CreateServiceSpecificCredentialRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, Some(&input.user_name), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &CreateServiceSpecificCredentialRequest,
    ) -> Result<CreateServiceSpecificCredentialResponse> {
        let owner = subject.owner()?;
        let service = input.service_name.as_str();
        let api_key = is_api_key(service).ok_or_else(|| not_supported(service))?;
        if input.credential_age_days.is_some() && !api_key {
            return Err(invalid_input(format!(
                "CredentialAgeDays is not supported for service {service}."
            )));
        }
        let mine: Vec<ServiceCredentialRecord> = all_of(call, SERVICE_CREDENTIALS, &owner)?;
        let same_service: Vec<&ServiceCredentialRecord> =
            mine.iter().filter(|c| c.service_name == service).collect();
        if same_service.len() >= MAX_PER_SERVICE {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: \
                 {MAX_PER_SERVICE}"
            )));
        }
        // AWS: `jane-at-123456789012`, and `jane+1-at-…` while that one is taken.
        let user_name = owner.user_name.clone().unwrap_or_default();
        let mut service_user_name = format!("{user_name}-at-{}", call.account());
        if same_service
            .iter()
            .any(|c| c.service_user_name == service_user_name)
        {
            service_user_name = format!("{user_name}+1-at-{}", call.account());
        }
        let id = new_unique_id(
            IdKind::ServiceSpecificCredential,
            &random().map_err(randomness_unavailable)?,
        );
        let secret = new_password()?;
        let now = call.cx.now.unix_millis;
        let record = ServiceCredentialRecord {
            v: ServiceCredentialRecord::VERSION,
            sealed_password: seal(call, &secret, &id)?,
            id,
            service_name: service.to_string(),
            service_user_name,
            status: KeyStatus::Active,
            create_date: now,
            expiration_date: input
                .credential_age_days
                .map(|days| now + i64::from(days) * 86_400_000),
        };
        put(call, SERVICE_CREDENTIALS, &owner, &record.id, &record)?;
        Ok(CreateServiceSpecificCredentialResponse {
            service_specific_credential: Some(with_secret(&owner, &record, &secret, now)),
        })
    }
}

/// Whose credentials a listing shows: one owner, or (AllUsers) every user of the account.
pub(crate) enum Listed {
    One(Subject),
    AllUsers,
}

operation!(ListServiceSpecificCredentials, Iam, reads, ListServiceSpecificCredentialsRequest => ListServiceSpecificCredentialsResponse);
impl Handler for ListServiceSpecificCredentials {
    type Target = Listed;
    fn resolve(
        call: &mut Call<'_>,
        input: &ListServiceSpecificCredentialsRequest,
    ) -> Result<(Listed, Access)> {
        if input.all_users == Some(true) && input.user_name.is_none() {
            return Ok((
                Listed::AllUsers,
                listing::<UserRecord>(call, None, Self::ACTION),
            ));
        }
        let (subject, access) = resolve_owner(call, input.user_name.as_deref(), Self::ACTION)?;
        Ok((Listed::One(subject), access))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        listed: Listed,
        input: &ListServiceSpecificCredentialsRequest,
    ) -> Result<ListServiceSpecificCredentialsResponse> {
        if input.all_users == Some(true) && input.user_name.is_some() {
            return Err(invalid_input(
                "AllUsers cannot be specified together with UserName.",
            ));
        }
        if let Some(service) = &input.service_name
            && is_api_key(service).is_none()
        {
            return Err(not_supported(service));
        }
        let now = call.cx.now.unix_millis;
        let mut found: Vec<ServiceSpecificCredentialMetadata> = Vec::new();
        match listed {
            Listed::One(subject) => {
                let owner = subject.owner()?;
                let name = owner.user_name.clone().unwrap_or_default();
                for c in all_of::<ServiceCredentialRecord>(call, SERVICE_CREDENTIALS, &owner)? {
                    found.push(metadata(&name, &c, now));
                }
            }
            Listed::AllUsers => {
                let account = call.account().to_string();
                let rows: Vec<(String, ServiceCredentialRecord)> = call.t.scan_records(
                    SERVICE_CREDENTIALS,
                    &prefix(&account, &[]),
                    None,
                    usize::MAX,
                )?;
                for (row, c) in rows {
                    let owner_id = row.split('/').nth(1).unwrap_or_default();
                    if let Some(user) = entity::by_id::<UserRecord>(call.t, &account, owner_id)? {
                        found.push(metadata(&user.name, &c, now));
                    }
                }
            }
        }
        found.retain(|c| {
            input
                .service_name
                .as_ref()
                .is_none_or(|s| *s == c.service_name)
        });
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(found, |c| c.service_specific_credential_id.clone())?;
        Ok(ListServiceSpecificCredentialsResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker.clone(),
            service_specific_credentials: Some(page.items),
        })
    }
}

operation!(ResetServiceSpecificCredential, Iam, writes, ResetServiceSpecificCredentialRequest => ResetServiceSpecificCredentialResponse);
impl Handler for ResetServiceSpecificCredential {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &ResetServiceSpecificCredentialRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &ResetServiceSpecificCredentialRequest,
    ) -> Result<ResetServiceSpecificCredentialResponse> {
        let owner = subject.owner()?;
        let mut c =
            owned::<ServiceCredentialRecord>(call, &owner, &input.service_specific_credential_id)?;
        let secret = new_password()?;
        c.sealed_password = seal(call, &secret, &c.id)?;
        put(call, SERVICE_CREDENTIALS, &owner, &c.id.clone(), &c)?;
        Ok(ResetServiceSpecificCredentialResponse {
            service_specific_credential: Some(with_secret(
                &owner,
                &c,
                &secret,
                call.cx.now.unix_millis,
            )),
        })
    }
}

operation!(UpdateServiceSpecificCredential, Iam, writes, UpdateServiceSpecificCredentialRequest => ());
impl Handler for UpdateServiceSpecificCredential {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateServiceSpecificCredentialRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &UpdateServiceSpecificCredentialRequest,
    ) -> Result<()> {
        update_status::<ServiceCredentialRecord>(
            call,
            subject,
            &input.service_specific_credential_id,
            &input.status,
        )
    }
}

operation!(DeleteServiceSpecificCredential, Iam, writes, DeleteServiceSpecificCredentialRequest => ());
impl Handler for DeleteServiceSpecificCredential {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteServiceSpecificCredentialRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &DeleteServiceSpecificCredentialRequest,
    ) -> Result<()> {
        delete::<ServiceCredentialRecord>(call, subject, &input.service_specific_credential_id)
    }
}
