//! SAML 2.0 identity providers: Create, Get, List, Update, Delete and their tags. The metadata
//! document is parsed and checked (an IdP with a signing certificate); assertion-decryption
//! keys are parsed, sealed at rest and never returned.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    AssertionEncryptionModeType, CreateSAMLProviderRequest, CreateSAMLProviderResponse,
    DeleteSAMLProviderRequest, GetSAMLProviderRequest, GetSAMLProviderResponse,
    ListSAMLProviderTagsRequest, ListSAMLProviderTagsResponse, ListSAMLProvidersRequest,
    ListSAMLProvidersResponse, SAMLPrivateKey, SAMLProviderListEntry, TagSAMLProviderRequest,
    UntagSAMLProviderRequest, UpdateSAMLProviderRequest, UpdateSAMLProviderResponse,
};
use gatehouse_types::{SecretKey, Timestamp, new_certificate_id};

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Failure, Result, invalid_input, limit_exceeded, randomness_unavailable};
use crate::iam::common::creating;
use crate::iam::tagging::{ByArn, tag_operations};
use crate::iam::users::tags_shape;
use crate::keymaterial::saml::parse_metadata;
use crate::keymaterial::x509::{parse_private_key, pem_blocks};
use crate::model::entity::{self, Dependent, Entity, Named, entity_fields};
use crate::model::records::{
    Record, Records, SAML_PROVIDER_NAMES, SAML_PROVIDERS, SamlPrivateKeyRecord, SamlProviderRecord,
    prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's quotas: providers per account, decryption keys per provider.
pub const MAX_PROVIDERS: u64 = 100;
pub const MAX_PRIVATE_KEYS: usize = 2;

impl Entity for SamlProviderRecord {
    const KIND: &'static str = "saml-provider";
    const NOUN: &'static str = "SAML Provider";
    const TABLE: gatehouse_store::Table = SAML_PROVIDERS;
    const NAMES: gatehouse_store::Table = SAML_PROVIDER_NAMES;
    const DEPENDENTS: &'static [Dependent] = &[];
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerSamlProvider", 50);
    const TAG_ACTION: &'static str = "iam:TagSAMLProvider";

    entity_fields!(pathless);
    fn already_exists(name: &str) -> Failure {
        ApiError::new(
            ErrorCode::EntityAlreadyExists,
            format!("SAMLProvider {name} already exists"),
        )
        .into()
    }
}

fn not_found(arn: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Manifest not found for arn {arn}"),
    )
    .into()
}

/// The provider a call names by ARN, in the caller's account.
fn find(
    call: &mut Call<'_>,
    arn: &str,
    action: &'static str,
) -> Result<(Named<SamlProviderRecord>, Access)> {
    crate::iam::common::named_by_arn(call, arn, action)
}

impl crate::iam::tagging::NamedByArn for SamlProviderRecord {
    fn not_found_by_arn(arn: &str) -> Failure {
        not_found(arn)
    }
}

fn existing(provider: Named<SamlProviderRecord>, arn: &str) -> Result<SamlProviderRecord> {
    provider.record.ok_or_else(|| not_found(arn))
}

fn checked_metadata(document: &str) -> Result<Option<i64>> {
    parse_metadata(document)
        .map(|m| m.valid_until)
        .map_err(|e| invalid_input(format!("Could not parse metadata: {}.", e.0)))
}

fn mode_name(mode: &AssertionEncryptionModeType) -> &'static str {
    match mode {
        AssertionEncryptionModeType::Required => "Required",
        AssertionEncryptionModeType::Allowed => "Allowed",
    }
}

/// Parses, checks and seals a decryption key, adding it to the provider.
fn add_private_key(call: &mut Call<'_>, p: &mut SamlProviderRecord, pem: &str) -> Result<()> {
    let readable = pem_blocks(pem)
        .ok()
        .and_then(|blocks| match blocks.as_slice() {
            [block] => parse_private_key(block).ok(),
            _ => None,
        })
        .is_some();
    if !readable {
        return Err(invalid_input(
            "The private key is not an unencrypted PEM-encoded RSA or EC key.",
        ));
    }
    if p.private_keys.len() >= MAX_PRIVATE_KEYS {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for PrivateKeysPerSamlProvider: {MAX_PRIVATE_KEYS}"
        )));
    }
    let key_id = new_certificate_id(&random().map_err(randomness_unavailable)?);
    let sealed = call.g.seal(call.t, &SecretKey::new(pem), &key_id)?;
    p.private_keys.push(SamlPrivateKeyRecord {
        key_id,
        sealed,
        added: call.cx.now.unix_millis,
    });
    Ok(())
}

/// AWS: assertions cannot be required to be encrypted without a key to decrypt them.
fn check_encryption(p: &SamlProviderRecord) -> Result<()> {
    if p.encryption_mode == "Required" && p.private_keys.is_empty() {
        return Err(invalid_input(
            "AssertionEncryptionMode Required needs at least one private key.",
        ));
    }
    Ok(())
}

operation!(CreateSAMLProvider, Iam, writes, CreateSAMLProviderRequest => CreateSAMLProviderResponse);
impl Handler for CreateSAMLProvider {
    type Target = Vec<(String, String)>;
    fn resolve(
        call: &mut Call<'_>,
        input: &CreateSAMLProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        creating::<SamlProviderRecord>(call, "/", &input.name, input.tags.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        tags: Self::Target,
        input: &CreateSAMLProviderRequest,
    ) -> Result<CreateSAMLProviderResponse> {
        let valid_until = checked_metadata(&input.saml_metadata_document)?;
        let account = call.account().to_string();
        if call.t.count(SAML_PROVIDERS, &prefix(&account, &[]))? >= MAX_PROVIDERS {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for SamlProvidersPerAccount: {MAX_PROVIDERS}"
            )));
        }
        let mut record = SamlProviderRecord {
            v: SamlProviderRecord::VERSION,
            account,
            id: new_certificate_id(&random().map_err(randomness_unavailable)?),
            name: input.name.clone(),
            metadata: input.saml_metadata_document.clone(),
            create_date: call.cx.now.unix_millis,
            valid_until,
            encryption_mode: mode_name(
                input
                    .assertion_encryption_mode
                    .as_ref()
                    .unwrap_or(&AssertionEncryptionModeType::Allowed),
            )
            .to_string(),
            private_keys: Vec::new(),
            tags,
        };
        if let Some(pem) = &input.add_private_key {
            add_private_key(call, &mut record, pem)?;
        }
        check_encryption(&record)?;
        entity::create(call.t, &record)?;
        Ok(CreateSAMLProviderResponse {
            saml_provider_arn: Some(record.arn()),
            tags: (!record.tags.is_empty()).then(|| tags_shape(&record.tags)),
        })
    }
}

operation!(GetSAMLProvider, Iam, reads, GetSAMLProviderRequest => GetSAMLProviderResponse);
impl Handler for GetSAMLProvider {
    type Target = Named<SamlProviderRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &GetSAMLProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        find(call, &input.saml_provider_arn, Self::ACTION)
    }
    fn run(
        _: &mut Call<'_>,
        _: Authorized,
        provider: Self::Target,
        input: &GetSAMLProviderRequest,
    ) -> Result<GetSAMLProviderResponse> {
        let p = existing(provider, &input.saml_provider_arn)?;
        Ok(GetSAMLProviderResponse {
            saml_provider_uuid: Some(p.id.clone()),
            saml_metadata_document: Some(p.metadata.clone()),
            create_date: Some(Timestamp::from_unix_millis(p.create_date)),
            valid_until: p.valid_until.map(Timestamp::from_unix_millis),
            // AWS sends the lists even when they are empty.
            tags: Some(tags_shape(&p.tags)),
            assertion_encryption_mode: AssertionEncryptionModeType::from_wire(&p.encryption_mode),
            private_key_list: Some(
                p.private_keys
                    .iter()
                    .map(|k| SAMLPrivateKey {
                        key_id: Some(k.key_id.clone()),
                        timestamp: Some(Timestamp::from_unix_millis(k.added)),
                    })
                    .collect(),
            ),
        })
    }
}

operation!(ListSAMLProviders, Iam, reads, ListSAMLProvidersRequest => ListSAMLProvidersResponse);
impl Handler for ListSAMLProviders {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &ListSAMLProvidersRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        _: &ListSAMLProvidersRequest,
    ) -> Result<ListSAMLProvidersResponse> {
        let account = call.account().to_string();
        let mut providers: Vec<SamlProviderRecord> = call
            .t
            .scan_records(SAML_PROVIDERS, &prefix(&account, &[]), None, usize::MAX)?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        providers.sort_by_key(|p| p.name.to_lowercase());
        Ok(ListSAMLProvidersResponse {
            saml_provider_list: Some(
                providers
                    .iter()
                    .map(|p| SAMLProviderListEntry {
                        arn: Some(p.arn()),
                        valid_until: p.valid_until.map(Timestamp::from_unix_millis),
                        create_date: Some(Timestamp::from_unix_millis(p.create_date)),
                    })
                    .collect(),
            ),
        })
    }
}

operation!(UpdateSAMLProvider, Iam, writes, UpdateSAMLProviderRequest => UpdateSAMLProviderResponse);
impl Handler for UpdateSAMLProvider {
    type Target = Named<SamlProviderRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateSAMLProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        find(call, &input.saml_provider_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        provider: Self::Target,
        input: &UpdateSAMLProviderRequest,
    ) -> Result<UpdateSAMLProviderResponse> {
        let mut p = existing(provider, &input.saml_provider_arn)?;
        if input.saml_metadata_document.is_none()
            && input.assertion_encryption_mode.is_none()
            && input.add_private_key.is_none()
            && input.remove_private_key.is_none()
        {
            return Err(invalid_input(
                "At least one of SAMLMetadataDocument, AssertionEncryptionMode, AddPrivateKey \
                 or RemovePrivateKey must be given.",
            ));
        }
        if let Some(document) = &input.saml_metadata_document {
            p.valid_until = checked_metadata(document)?;
            p.metadata = document.clone();
        }
        if let Some(mode) = &input.assertion_encryption_mode {
            p.encryption_mode = mode_name(mode).to_string();
        }
        if let Some(remove) = &input.remove_private_key {
            let before = p.private_keys.len();
            p.private_keys.retain(|k| k.key_id != *remove);
            if p.private_keys.len() == before {
                return Err(invalid_input(format!(
                    "The private key {remove} does not exist for this provider."
                )));
            }
        }
        if let Some(pem) = &input.add_private_key {
            add_private_key(call, &mut p, pem)?;
        }
        check_encryption(&p)?;
        entity::save(call.t, &p)?;
        Ok(UpdateSAMLProviderResponse {
            saml_provider_arn: Some(p.arn()),
        })
    }
}

operation!(DeleteSAMLProvider, Iam, writes, DeleteSAMLProviderRequest => ());
impl Handler for DeleteSAMLProvider {
    type Target = Named<SamlProviderRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteSAMLProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        find(call, &input.saml_provider_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        provider: Self::Target,
        input: &DeleteSAMLProviderRequest,
    ) -> Result<()> {
        entity::delete(call.t, &existing(provider, &input.saml_provider_arn)?)
    }
}

tag_operations!(
    ByArn<SamlProviderRecord>, saml_provider_arn,
    TagSAMLProvider(TagSAMLProviderRequest),
    UntagSAMLProvider(UntagSAMLProviderRequest),
    ListSAMLProviderTags(ListSAMLProviderTagsRequest => ListSAMLProviderTagsResponse)
);
