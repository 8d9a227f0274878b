//! OpenID Connect identity providers: Create, Get, List, Delete, client ids, thumbprints and
//! tags. Thumbprints are checked for form (40 hex digits, at most 5); where they are omitted
//! none is fetched, since Gatehouse may have no way out (README, "differs from AWS").

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    AddClientIDToOpenIDConnectProviderRequest, CreateOpenIDConnectProviderRequest,
    CreateOpenIDConnectProviderResponse, DeleteOpenIDConnectProviderRequest,
    GetOpenIDConnectProviderRequest, GetOpenIDConnectProviderResponse,
    ListOpenIDConnectProviderTagsRequest, ListOpenIDConnectProviderTagsResponse,
    ListOpenIDConnectProvidersRequest, ListOpenIDConnectProvidersResponse,
    OpenIDConnectProviderListEntry, RemoveClientIDFromOpenIDConnectProviderRequest,
    TagOpenIDConnectProviderRequest, UntagOpenIDConnectProviderRequest,
    UpdateOpenIDConnectProviderThumbprintRequest,
};
use gatehouse_types::Timestamp;

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Failure, Result, invalid_input, limit_exceeded, randomness_unavailable};
use crate::iam::common::creating;
use crate::iam::tagging::{ByArn, tag_operations};
use crate::iam::users::tags_shape;
use crate::model::entity::{self, Dependent, Entity, Named, entity_fields};
use crate::model::records::{
    OIDC_PROVIDER_NAMES, OIDC_PROVIDERS, OidcProviderRecord, Record, Records, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's limits: 5 thumbprints and 100 client ids per provider, 100 providers per account.
pub const MAX_THUMBPRINTS: usize = 5;
pub const MAX_CLIENT_IDS: usize = 100;
pub const MAX_PROVIDERS: u64 = 100;

impl Entity for OidcProviderRecord {
    const KIND: &'static str = "oidc-provider";
    const NOUN: &'static str = "OpenIDConnect Provider";
    const TABLE: gatehouse_store::Table = OIDC_PROVIDERS;
    const NAMES: gatehouse_store::Table = OIDC_PROVIDER_NAMES;
    const DEPENDENTS: &'static [Dependent] = &[];
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerOpenIdConnectProvider", 50);
    const TAG_ACTION: &'static str = "iam:TagOpenIDConnectProvider";

    entity_fields!(pathless);

    fn already_exists(name: &str) -> Failure {
        ApiError::new(
            ErrorCode::EntityAlreadyExists,
            format!("Provider with url https://{name} already exists."),
        )
        .into()
    }

    fn no_such(name: &str) -> Failure {
        ApiError::new(
            ErrorCode::NoSuchEntity,
            format!("OpenIDConnect Provider not found for arn oidc-provider/{name}"),
        )
        .into()
    }
}

/// The provider a call names by ARN, in the caller's account.
fn find(
    call: &mut Call<'_>,
    arn: &str,
    action: &'static str,
) -> Result<(Named<OidcProviderRecord>, Access)> {
    crate::iam::common::named_by_arn(call, arn, action)
}

impl crate::iam::tagging::NamedByArn for OidcProviderRecord {
    fn not_found_by_arn(arn: &str) -> Failure {
        ApiError::new(
            ErrorCode::NoSuchEntity,
            format!("OpenIDConnect Provider not found for arn {arn}"),
        )
        .into()
    }
}

fn existing(provider: Named<OidcProviderRecord>, arn: &str) -> Result<OidcProviderRecord> {
    provider.record.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NoSuchEntity,
            format!("OpenIDConnect Provider not found for arn {arn}"),
        )
        .into()
    })
}

fn checked_thumbprints(thumbprints: &[String]) -> Result<Vec<String>> {
    if thumbprints.len() > MAX_THUMBPRINTS {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: {MAX_THUMBPRINTS}"
        )));
    }
    for t in thumbprints {
        if t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid_input(format!(
                "Thumbprint {t} is not 40 hexadecimal digits."
            )));
        }
    }
    Ok(thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect())
}

/// `https://host[/path]` → `host[/path]`, the provider's name.
fn provider_name(url: &str) -> Result<String> {
    let invalid = || invalid_input("Invalid URL: it must begin with https:// and name a host.");
    let rest = url.strip_prefix("https://").ok_or_else(invalid)?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['?', '#', ' ']) || rest.starts_with('/') {
        return Err(invalid());
    }
    Ok(rest.to_string())
}

operation!(CreateOpenIDConnectProvider, Iam, writes, CreateOpenIDConnectProviderRequest => CreateOpenIDConnectProviderResponse);
impl Handler for CreateOpenIDConnectProvider {
    type Target = Vec<(String, String)>;

    /// The URL is checked after authorization, like every other input the model does not
    /// constrain: a caller without permission learns nothing.
    fn resolve(
        call: &mut Call<'_>,
        input: &CreateOpenIDConnectProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        let name = input.url.strip_prefix("https://").unwrap_or(&input.url);
        creating::<OidcProviderRecord>(
            call,
            "/",
            name.trim_end_matches('/'),
            input.tags.as_deref(),
            Self::ACTION,
        )
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        tags: Self::Target,
        input: &CreateOpenIDConnectProviderRequest,
    ) -> Result<CreateOpenIDConnectProviderResponse> {
        let name = provider_name(&input.url)?;
        let thumbprints =
            checked_thumbprints(input.thumbprint_list.as_deref().unwrap_or_default())?;
        let mut client_ids: Vec<String> = Vec::new();
        for id in input.client_id_list.iter().flatten() {
            if !client_ids.contains(id) {
                client_ids.push(id.clone());
            }
        }
        if client_ids.len() > MAX_CLIENT_IDS {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
            )));
        }
        if call.t.count(OIDC_PROVIDERS, &prefix(call.account(), &[]))? >= MAX_PROVIDERS {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PROVIDERS}"
            )));
        }
        let id: [u8; 16] = random().map_err(randomness_unavailable)?;
        let record = OidcProviderRecord {
            v: OidcProviderRecord::VERSION,
            account: call.account().to_string(),
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            name,
            url: input.url.trim_end_matches('/').to_string(),
            create_date: call.cx.now.unix_millis,
            client_ids,
            thumbprints,
            tags,
        };
        entity::create(call.t, &record)?;
        Ok(CreateOpenIDConnectProviderResponse {
            open_id_connect_provider_arn: Some(record.arn()),
            tags: (!record.tags.is_empty()).then(|| tags_shape(&record.tags)),
        })
    }
}

operation!(GetOpenIDConnectProvider, Iam, reads, GetOpenIDConnectProviderRequest => GetOpenIDConnectProviderResponse);
impl Handler for GetOpenIDConnectProvider {
    type Target = Named<OidcProviderRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &GetOpenIDConnectProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        find(call, &input.open_id_connect_provider_arn, Self::ACTION)
    }
    fn run(
        _: &mut Call<'_>,
        _: Authorized,
        provider: Self::Target,
        input: &GetOpenIDConnectProviderRequest,
    ) -> Result<GetOpenIDConnectProviderResponse> {
        let p = existing(provider, &input.open_id_connect_provider_arn)?;
        Ok(GetOpenIDConnectProviderResponse {
            // AWS answers the URL without its scheme.
            url: Some(p.name.clone()),
            client_id_list: Some(p.client_ids.clone()),
            thumbprint_list: Some(p.thumbprints.clone()),
            create_date: Some(Timestamp::from_unix_millis(p.create_date)),
            tags: (!p.tags.is_empty()).then(|| tags_shape(&p.tags)),
        })
    }
}

operation!(ListOpenIDConnectProviders, Iam, reads, ListOpenIDConnectProvidersRequest => ListOpenIDConnectProvidersResponse);
impl Handler for ListOpenIDConnectProviders {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &ListOpenIDConnectProvidersRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        _: &ListOpenIDConnectProvidersRequest,
    ) -> Result<ListOpenIDConnectProvidersResponse> {
        let account = call.account().to_string();
        let mut providers: Vec<OidcProviderRecord> = call
            .t
            .scan_records(OIDC_PROVIDERS, &prefix(&account, &[]), None, usize::MAX)?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        providers.sort_by_key(|p| p.name.to_lowercase());
        Ok(ListOpenIDConnectProvidersResponse {
            open_id_connect_provider_list: Some(
                providers
                    .iter()
                    .map(|p| OpenIDConnectProviderListEntry { arn: Some(p.arn()) })
                    .collect(),
            ),
        })
    }
}

operation!(DeleteOpenIDConnectProvider, Iam, writes, DeleteOpenIDConnectProviderRequest => ());
impl Handler for DeleteOpenIDConnectProvider {
    type Target = Named<OidcProviderRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteOpenIDConnectProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        find(call, &input.open_id_connect_provider_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        provider: Self::Target,
        input: &DeleteOpenIDConnectProviderRequest,
    ) -> Result<()> {
        entity::delete(
            call.t,
            &existing(provider, &input.open_id_connect_provider_arn)?,
        )
    }
}

operation!(AddClientIDToOpenIDConnectProvider, Iam, writes, AddClientIDToOpenIDConnectProviderRequest => ());
impl Handler for AddClientIDToOpenIDConnectProvider {
    type Target = Named<OidcProviderRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &AddClientIDToOpenIDConnectProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        find(call, &input.open_id_connect_provider_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        provider: Self::Target,
        input: &AddClientIDToOpenIDConnectProviderRequest,
    ) -> Result<()> {
        let mut p = existing(provider, &input.open_id_connect_provider_arn)?;
        if p.client_ids.contains(&input.client_id) {
            return Ok(());
        }
        if p.client_ids.len() >= MAX_CLIENT_IDS {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
            )));
        }
        p.client_ids.push(input.client_id.clone());
        entity::save(call.t, &p)
    }
}

operation!(RemoveClientIDFromOpenIDConnectProvider, Iam, writes, RemoveClientIDFromOpenIDConnectProviderRequest => ());
impl Handler for RemoveClientIDFromOpenIDConnectProvider {
    type Target = Named<OidcProviderRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &RemoveClientIDFromOpenIDConnectProviderRequest,
    ) -> Result<(Self::Target, Access)> {
        find(call, &input.open_id_connect_provider_arn, Self::ACTION)
    }
    /// Removing a client id the provider does not have changes nothing, as in AWS.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        provider: Self::Target,
        input: &RemoveClientIDFromOpenIDConnectProviderRequest,
    ) -> Result<()> {
        let mut p = existing(provider, &input.open_id_connect_provider_arn)?;
        p.client_ids.retain(|id| *id != input.client_id);
        entity::save(call.t, &p)
    }
}

operation!(UpdateOpenIDConnectProviderThumbprint, Iam, writes, UpdateOpenIDConnectProviderThumbprintRequest => ());
impl Handler for UpdateOpenIDConnectProviderThumbprint {
    type Target = Named<OidcProviderRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateOpenIDConnectProviderThumbprintRequest,
    ) -> Result<(Self::Target, Access)> {
        find(call, &input.open_id_connect_provider_arn, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        provider: Self::Target,
        input: &UpdateOpenIDConnectProviderThumbprintRequest,
    ) -> Result<()> {
        let mut p = existing(provider, &input.open_id_connect_provider_arn)?;
        p.thumbprints = checked_thumbprints(&input.thumbprint_list)?;
        entity::save(call.t, &p)
    }
}

tag_operations!(
    ByArn<OidcProviderRecord>, open_id_connect_provider_arn,
    TagOpenIDConnectProvider(TagOpenIDConnectProviderRequest),
    UntagOpenIDConnectProvider(UntagOpenIDConnectProviderRequest),
    ListOpenIDConnectProviderTags(ListOpenIDConnectProviderTagsRequest => ListOpenIDConnectProviderTagsResponse)
);
