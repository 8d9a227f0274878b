//! Server certificates (for load balancers and CloudFront): Upload, Get, List, Update, Delete
//! and their tags. The certificate, its chain and its private key are parsed and checked to
//! belong together; the private key is sealed at rest and never returned.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    DeleteServerCertificateRequest, GetServerCertificateRequest, GetServerCertificateResponse,
    ListServerCertificateTagsRequest, ListServerCertificateTagsResponse,
    ListServerCertificatesRequest, ListServerCertificatesResponse, ServerCertificate,
    ServerCertificateMetadata, TagServerCertificateRequest, UntagServerCertificateRequest,
    UpdateServerCertificateRequest, UploadServerCertificateRequest,
    UploadServerCertificateResponse,
};
use gatehouse_types::{IdKind, SecretKey, Timestamp, new_unique_id};

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Failure, Result, limit_exceeded, randomness_unavailable};
use crate::iam::common::creating;
use crate::iam::common::renaming;
use crate::iam::common::{list_by_path, listing, named};
use crate::iam::signing_certificates::{currently_valid, one_certificate};
use crate::iam::tagging::{ByName, tag_operations};
use crate::iam::users::tags_shape;
use crate::keymaterial::x509::{
    PublicKey, key_pair_matches, parse_certificate, parse_private_key, pem_blocks,
};
use crate::model::entity::{self, Dependent, Entity, Named, entity_fields};
use crate::model::records::{
    Record, SERVER_CERTIFICATE_NAMES, SERVER_CERTIFICATES, ServerCertificateRecord, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's default quota of server certificates per account.
pub const MAX_SERVER_CERTIFICATES: u64 = 20;

impl Entity for ServerCertificateRecord {
    const KIND: &'static str = "server-certificate";
    const NOUN: &'static str = "Server Certificate";
    const TABLE: gatehouse_store::Table = SERVER_CERTIFICATES;
    const NAMES: gatehouse_store::Table = SERVER_CERTIFICATE_NAMES;
    const DEPENDENTS: &'static [Dependent] = &[];
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerServerCertificate", 50);
    const TAG_ACTION: &'static str = "iam:TagServerCertificate";

    entity_fields!();

    fn no_such(name: &str) -> Failure {
        ApiError::new(
            ErrorCode::NoSuchEntity,
            format!("The Server Certificate with name {name} cannot be found."),
        )
        .into()
    }

    fn already_exists(name: &str) -> Failure {
        ApiError::new(
            ErrorCode::EntityAlreadyExists,
            format!("The Server Certificate with name {name} already exists."),
        )
        .into()
    }
}

type NamedCertificate = Named<ServerCertificateRecord>;

fn malformed(message: &str) -> Failure {
    ApiError::new(ErrorCode::MalformedCertificate, message).into()
}

/// Checks a chain: PEM certificates only, each well-formed.
fn checked_chain(chain: &str) -> Result<()> {
    let invalid = || {
        malformed(
            "Unable to validate certificate chain. The certificate chain must start with the \
             immediate signing certificate, followed by any intermediaries in order.",
        )
    };
    let blocks = pem_blocks(chain).map_err(|_| invalid())?;
    if blocks.is_empty() {
        return Err(invalid());
    }
    for block in blocks {
        if block.label != "CERTIFICATE" || parse_certificate(&block.der).is_err() {
            return Err(invalid());
        }
    }
    Ok(())
}

/// Checks that the private key is one Gatehouse can read, unencrypted, of a size AWS takes,
/// and the certificate's own.
fn checked_private_key(public: &PublicKey, private_key: &str) -> Result<()> {
    let unreadable = || {
        malformed(
            "Unable to parse the private key. Please ensure it is an unencrypted PEM-encoded RSA or EC key.",
        )
    };
    let blocks = pem_blocks(private_key).map_err(|_| unreadable())?;
    let [block] = blocks.as_slice() else {
        return Err(unreadable());
    };
    let private = parse_private_key(block).map_err(|_| unreadable())?;
    let bits = public.bits();
    let supported = match public {
        PublicKey::Rsa { .. } => (1024..=4096).contains(&bits),
        PublicKey::Ec { .. } => matches!(bits, 256 | 384 | 520),
        PublicKey::Other => false,
    };
    if !supported {
        return Err(malformed(
            "The certificate's key type or size is not supported (RSA 1024 to 4096 bits, or \
             ECDSA P-256, P-384 or P-521).",
        ));
    }
    match key_pair_matches(public, &private) {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError::new(
            ErrorCode::KeyPairMismatch,
            "The private key does not match the public key in the certificate.",
        )
        .into()),
        None => Err(unreadable()),
    }
}

fn metadata(c: &ServerCertificateRecord) -> ServerCertificateMetadata {
    ServerCertificateMetadata {
        path: c.path.clone(),
        server_certificate_name: c.name.clone(),
        server_certificate_id: c.id.clone(),
        arn: c.arn(),
        upload_date: Some(Timestamp::from_unix_millis(c.upload_date)),
        expiration: Some(Timestamp::from_unix_millis(c.expiration)),
    }
}

operation!(UploadServerCertificate, Iam, writes, UploadServerCertificateRequest => UploadServerCertificateResponse);
impl Handler for UploadServerCertificate {
    type Target = Vec<(String, String)>;
    fn resolve(
        call: &mut Call<'_>,
        input: &UploadServerCertificateRequest,
    ) -> Result<(Self::Target, Access)> {
        let path = input.path.as_deref().unwrap_or("/");
        creating::<ServerCertificateRecord>(
            call,
            path,
            &input.server_certificate_name,
            input.tags.as_deref(),
            Self::ACTION,
        )
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        tags: Self::Target,
        input: &UploadServerCertificateRequest,
    ) -> Result<UploadServerCertificateResponse> {
        let cert = one_certificate(&input.certificate_body)?;
        currently_valid(&cert, call.cx.now.unix_millis)?;
        if let Some(chain) = &input.certificate_chain {
            checked_chain(chain)?;
        }
        checked_private_key(&cert.public_key, &input.private_key)?;
        let account = call.account().to_string();
        if call.t.count(SERVER_CERTIFICATES, &prefix(&account, &[]))? >= MAX_SERVER_CERTIFICATES {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for ServerCertificatesPerAccount: {MAX_SERVER_CERTIFICATES}"
            )));
        }
        let id = new_unique_id(
            IdKind::ServerCertificate,
            &random().map_err(randomness_unavailable)?,
        );
        let sealed_private_key =
            call.g
                .seal(call.t, &SecretKey::new(input.private_key.clone()), &id)?;
        let record = ServerCertificateRecord {
            v: ServerCertificateRecord::VERSION,
            account,
            id,
            name: input.server_certificate_name.clone(),
            path: input.path.clone().unwrap_or_else(|| "/".to_string()),
            body: input.certificate_body.clone(),
            chain: input.certificate_chain.clone(),
            sealed_private_key,
            upload_date: call.cx.now.unix_millis,
            expiration: cert.not_after_millis,
            tags,
        };
        entity::create(call.t, &record)?;
        Ok(UploadServerCertificateResponse {
            server_certificate_metadata: Some(metadata(&record)),
            tags: (!record.tags.is_empty()).then(|| tags_shape(&record.tags)),
        })
    }
}

operation!(GetServerCertificate, Iam, reads, GetServerCertificateRequest => GetServerCertificateResponse);
impl Handler for GetServerCertificate {
    type Target = NamedCertificate;
    fn resolve(
        call: &mut Call<'_>,
        input: &GetServerCertificateRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.server_certificate_name, Self::ACTION)
    }
    fn run(
        _: &mut Call<'_>,
        _: Authorized,
        cert: Self::Target,
        _: &GetServerCertificateRequest,
    ) -> Result<GetServerCertificateResponse> {
        let c = cert.existing()?;
        Ok(GetServerCertificateResponse {
            server_certificate: ServerCertificate {
                server_certificate_metadata: metadata(&c),
                certificate_body: c.body.clone(),
                certificate_chain: c.chain.clone(),
                // AWS sends the list even when it is empty.
                tags: Some(tags_shape(&c.tags)),
            },
        })
    }
}

operation!(ListServerCertificates, Iam, reads, ListServerCertificatesRequest => ListServerCertificatesResponse);
impl Handler for ListServerCertificates {
    type Target = ();
    fn resolve(call: &mut Call<'_>, input: &ListServerCertificatesRequest) -> Result<((), Access)> {
        Ok((
            (),
            listing::<ServerCertificateRecord>(call, input.path_prefix.as_deref(), Self::ACTION),
        ))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &ListServerCertificatesRequest,
    ) -> Result<ListServerCertificatesResponse> {
        let page = list_by_path::<ServerCertificateRecord>(
            call,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListServerCertificatesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker.clone(),
            server_certificate_metadata_list: page.items.iter().map(metadata).collect(),
        })
    }
}

operation!(UpdateServerCertificate, Iam, writes, UpdateServerCertificateRequest => ());
impl Handler for UpdateServerCertificate {
    type Target = NamedCertificate;
    /// Like UpdateUser: the permission is needed on the certificate as it is and as it will be.
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateServerCertificateRequest,
    ) -> Result<(Self::Target, Access)> {
        renaming::<ServerCertificateRecord>(
            call,
            &input.server_certificate_name,
            input.new_server_certificate_name.as_deref(),
            input.new_path.as_deref(),
            Self::ACTION,
        )
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        cert: Self::Target,
        input: &UpdateServerCertificateRequest,
    ) -> Result<()> {
        let mut c = cert.existing()?;
        entity::rename(
            call.t,
            &mut c,
            input.new_server_certificate_name.as_deref(),
            input.new_path.as_deref(),
        )
    }
}

operation!(DeleteServerCertificate, Iam, writes, DeleteServerCertificateRequest => ());
impl Handler for DeleteServerCertificate {
    type Target = NamedCertificate;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteServerCertificateRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.server_certificate_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        cert: Self::Target,
        _: &DeleteServerCertificateRequest,
    ) -> Result<()> {
        entity::delete(call.t, &cert.existing()?)
    }
}

tag_operations!(
    ByName<ServerCertificateRecord>, server_certificate_name,
    TagServerCertificate(TagServerCertificateRequest),
    UntagServerCertificate(UntagServerCertificateRequest),
    ListServerCertificateTags(ListServerCertificateTagsRequest => ListServerCertificateTagsResponse)
);
