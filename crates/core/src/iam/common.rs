//! What many handlers share: looking up the entity a call names, and listing an entity type
//! by path, with the authorization rules AWS applies to them.

use crate::authz::Access;
use crate::errors::Result;
use crate::model::entity::{self, Entity, Named, arn_of};
use crate::model::pagination::{Page, PageRequest};
use crate::pipeline::Call;

/// Looks up the entity a call names and states `action` on it.
pub(crate) fn named<E: Entity>(
    call: &mut Call<'_>,
    name: &str,
    action: &'static str,
) -> Result<(Named<E>, Access)> {
    let entity = Named::<E>::find(call.t, call.account(), name)?;
    let access = entity.access(call.account(), action);
    Ok((entity, access))
}

/// The access a listing by path needs: AWS authorizes it against the path it lists
/// (`user/` for every user).
pub(crate) fn listing<E: Entity>(
    call: &Call<'_>,
    path_prefix: Option<&str>,
    action: &'static str,
) -> Access {
    let prefix = path_prefix.unwrap_or("/");
    Access::to(action, arn_of::<E>(call.account(), prefix, ""))
}

/// One page of the caller's account's entities of a type under a path, in name order.
pub(crate) fn list_by_path<E: Entity>(
    call: &mut Call<'_>,
    path_prefix: Option<&str>,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<Page<E>> {
    let page = PageRequest::new(marker, max_items)?;
    let account = call.account();
    entity::list::<E>(call.t, account, path_prefix.unwrap_or("/"), page)
}

/// Looks up an entity a call names by its ARN in the caller's account (identity providers),
/// stating `action` on that ARN with the entity's tags.
pub(crate) fn named_by_arn<E: Entity>(
    call: &mut Call<'_>,
    arn: &str,
    action: &'static str,
) -> Result<(Named<E>, Access)> {
    let own = format!("arn:aws:iam::{}:{}/", call.account(), E::KIND);
    let name = arn.strip_prefix(&own).unwrap_or("");
    let entity = Named::<E>::find(call.t, call.account(), name)?;
    let access = Access::to(action, arn.to_string()).with_resource_tags(entity.tags());
    Ok((entity, access))
}
