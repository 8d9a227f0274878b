//! What many handlers share: looking up the entity a call names, and listing an entity type
//! by path, with the authorization rules AWS applies to them.

use gatehouse_protocol::iam::Tag;

use crate::authz::Access;
use crate::errors::Result;
use crate::model::entity::{self, Entity, Named, arn_of, checked_tags};
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

/// What a `Create…` (or `Upload…`) of a taggable entity needs: `action` on the new entity's ARN,
/// and, when tags come with it, the type's `Tag…` action too (AWS requires both), with the tags
/// as `aws:RequestTag/*` and `aws:TagKeys`. Returns the tags, checked.
pub(crate) fn creating<E: Entity>(
    call: &Call<'_>,
    path: &str,
    name: &str,
    tags: Option<&[Tag]>,
    action: &'static str,
) -> Result<(Vec<(String, String)>, Access)> {
    let tags = checked_tags(
        tags.unwrap_or_default()
            .iter()
            .map(|t| (t.key.clone(), t.value.clone())),
    )?;
    let arn = arn_of::<E>(call.account(), path, name);
    let mut access = Access::to(action, arn.clone());
    if !tags.is_empty() {
        access = access.and(E::TAG_ACTION, arn);
    }
    let access = access.with_request_tags(&tags);
    Ok((tags, access))
}

/// What an `Update…` that may rename or move an entity needs: `action` on the entity as it is
/// and, when it gets a new name or path, as it will be (a caller allowed `user/dept/*` cannot
/// move a user out of `/dept/`), as AWS requires.
pub(crate) fn renaming<E: Entity>(
    call: &mut Call<'_>,
    name: &str,
    new_name: Option<&str>,
    new_path: Option<&str>,
    action: &'static str,
) -> Result<(Named<E>, Access)> {
    let (entity, mut access) = named::<E>(call, name, action)?;
    if new_name.is_some() || new_path.is_some() {
        let (path, current) = match &entity.record {
            Some(e) => (e.path(), e.name()),
            None => ("/", name),
        };
        let target = arn_of::<E>(
            call.account(),
            new_path.unwrap_or(path),
            new_name.unwrap_or(current),
        );
        access = access.and(action, target);
    }
    Ok((entity, access))
}
