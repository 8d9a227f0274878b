//! X.509 signing certificates of users and of the account's root: Upload, List, Update and
//! Delete. The certificate is parsed and checked (well-formed, not expired); two per owner,
//! and one certificate belongs to one owner in the account.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    DeleteSigningCertificateRequest, ListSigningCertificatesRequest,
    ListSigningCertificatesResponse, SigningCertificate, UpdateSigningCertificateRequest,
    UploadSigningCertificateRequest, UploadSigningCertificateResponse,
};
use gatehouse_types::{Timestamp, new_certificate_id};
use sha2::{Digest, Sha256};

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Failure, Result, limit_exceeded, randomness_unavailable};
use crate::iam::access_keys::status_shape;
use crate::iam::credentials::{Credential, all_of, delete, put, resolve_owner, update_status};
use crate::iam::users::{CredentialOwner, Subject};
use crate::keymaterial::x509::{Certificate, parse_certificate, pem_blocks};
use crate::model::pagination::PageRequest;
use crate::model::records::{
    KeyStatus, Record, Records, SIGNING_CERTIFICATES, SigningCertificateRecord, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's quota of signing certificates per user.
pub const MAX_SIGNING_CERTIFICATES: usize = 2;

fn no_such_certificate(id: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The Certificate with id {id} cannot be found."),
    )
    .into()
}

impl Credential for SigningCertificateRecord {
    const TABLE: gatehouse_store::Table = SIGNING_CERTIFICATES;
    fn id(&self) -> &str {
        &self.id
    }
    fn status_mut(&mut self) -> &mut KeyStatus {
        &mut self.status
    }
    fn not_found(id: &str) -> Failure {
        no_such_certificate(id)
    }
}

/// The single certificate a PEM body holds, parsed; AWS's MalformedCertificate otherwise.
pub(crate) fn one_certificate(body: &str) -> Result<Certificate> {
    let malformed = || -> Failure {
        ApiError::new(
            ErrorCode::MalformedCertificate,
            "Unable to parse certificate. Please ensure the certificate is in PEM format.",
        )
        .into()
    };
    let blocks = pem_blocks(body).map_err(|_| malformed())?;
    match blocks.as_slice() {
        [block] if block.label == "CERTIFICATE" => {
            parse_certificate(&block.der).map_err(|_| malformed())
        }
        _ => Err(malformed()),
    }
}

/// Refuses a certificate outside its validity period at `now`.
pub(crate) fn currently_valid(cert: &Certificate, now_millis: i64) -> Result<()> {
    if now_millis > cert.not_after_millis {
        return Err(ApiError::new(
            ErrorCode::MalformedCertificate,
            "The certificate has expired.",
        )
        .into());
    }
    if now_millis < cert.not_before_millis {
        return Err(ApiError::new(
            ErrorCode::MalformedCertificate,
            "The certificate is not yet valid.",
        )
        .into());
    }
    Ok(())
}

fn shape(owner: &CredentialOwner, c: &SigningCertificateRecord) -> SigningCertificate {
    SigningCertificate {
        user_name: owner.user_name.clone().unwrap_or_default(),
        certificate_id: c.id.clone(),
        certificate_body: c.body.clone(),
        status: status_shape(c.status),
        upload_date: Some(Timestamp::from_unix_millis(c.upload_date)),
    }
}

operation!(UploadSigningCertificate, Iam, writes, UploadSigningCertificateRequest => UploadSigningCertificateResponse);
impl Handler for UploadSigningCertificate {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &UploadSigningCertificateRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &UploadSigningCertificateRequest,
    ) -> Result<UploadSigningCertificateResponse> {
        let owner = subject.owner()?;
        let cert = one_certificate(&input.certificate_body)?;
        currently_valid(&cert, call.cx.now.unix_millis)?;
        let digest: String = Sha256::digest(&cert.der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // AWS: a certificate belongs to one owner in the account.
        let account_certs: Vec<(String, SigningCertificateRecord)> = call.t.scan_records(
            SIGNING_CERTIFICATES,
            &prefix(call.account(), &[]),
            None,
            usize::MAX,
        )?;
        if account_certs.iter().any(|(_, c)| c.digest == digest) {
            return Err(ApiError::new(
                ErrorCode::DuplicateCertificate,
                "The same certificate is already associated with an IAM user in the account.",
            )
            .into());
        }
        let mine: Vec<SigningCertificateRecord> = all_of(call, SIGNING_CERTIFICATES, &owner)?;
        if mine.len() >= MAX_SIGNING_CERTIFICATES {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for CertificatesPerUser: {MAX_SIGNING_CERTIFICATES}"
            )));
        }
        let record = SigningCertificateRecord {
            v: SigningCertificateRecord::VERSION,
            id: new_certificate_id(&random().map_err(randomness_unavailable)?),
            body: input.certificate_body.clone(),
            digest,
            status: KeyStatus::Active,
            upload_date: call.cx.now.unix_millis,
        };
        put(call, SIGNING_CERTIFICATES, &owner, &record.id, &record)?;
        Ok(UploadSigningCertificateResponse {
            certificate: shape(&owner, &record),
        })
    }
}

operation!(ListSigningCertificates, Iam, reads, ListSigningCertificatesRequest => ListSigningCertificatesResponse);
impl Handler for ListSigningCertificates {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &ListSigningCertificatesRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &ListSigningCertificatesRequest,
    ) -> Result<ListSigningCertificatesResponse> {
        let owner = subject.owner()?;
        let certs: Vec<SigningCertificateRecord> = all_of(call, SIGNING_CERTIFICATES, &owner)?;
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(certs, |c| c.id.clone())?;
        Ok(ListSigningCertificatesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            certificates: page.items.iter().map(|c| shape(&owner, c)).collect(),
        })
    }
}

operation!(UpdateSigningCertificate, Iam, writes, UpdateSigningCertificateRequest => ());
impl Handler for UpdateSigningCertificate {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateSigningCertificateRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &UpdateSigningCertificateRequest,
    ) -> Result<()> {
        update_status::<SigningCertificateRecord>(
            call,
            subject,
            &input.certificate_id,
            &input.status,
        )
    }
}

operation!(DeleteSigningCertificate, Iam, writes, DeleteSigningCertificateRequest => ());
impl Handler for DeleteSigningCertificate {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteSigningCertificateRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &DeleteSigningCertificateRequest,
    ) -> Result<()> {
        delete::<SigningCertificateRecord>(call, subject, &input.certificate_id)
    }
}
