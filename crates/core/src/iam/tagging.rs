//! Tag, Untag and List…Tags for every taggable entity type: one implementation, instantiated
//! per type by [`tag_operations!`]. A type says only how a call finds what it tags
//! ([`TagTarget`]); what tagging does (AWS's checks and quotas, `aws:RequestTag/*`,
//! `aws:TagKeys`, `aws:ResourceTag/*`) is written once, here and in `model::entity`.

use crate::authz::Access;
use crate::errors::{Failure, Result};
use crate::iam::common::{named, named_by_arn};
use crate::model::entity::{Entity, Named};
use crate::pipeline::Call;

/// What a tagging call names, and how it finds it.
pub(crate) trait TagTarget: Sized {
    type Entity: Entity;
    /// Finds the target the call names by `key` (its name or ARN), stating `action` on it
    /// with the target's tags.
    fn find(call: &mut Call<'_>, key: &str, action: &'static str) -> Result<(Self, Access)>;
    /// The entity, which must exist.
    fn existing(self, key: &str) -> Result<Self::Entity>;
    /// The entity, about to be changed (an AWS managed policy refuses).
    fn changing(self, key: &str) -> Result<Self::Entity> {
        self.existing(key)
    }
}

/// An entity named by its name (users, roles, instance profiles, server certificates).
pub(crate) struct ByName<E>(Named<E>);

impl<E: Entity> TagTarget for ByName<E> {
    type Entity = E;
    fn find(call: &mut Call<'_>, key: &str, action: &'static str) -> Result<(Self, Access)> {
        let (entity, access) = named::<E>(call, key, action)?;
        Ok((ByName(entity), access))
    }
    fn existing(self, _key: &str) -> Result<E> {
        self.0.existing()
    }
}

/// An entity named by its ARN (identity providers), with its own words for a missing one.
pub(crate) trait NamedByArn: Entity {
    fn not_found_by_arn(arn: &str) -> Failure;
}

pub(crate) struct ByArn<E>(Named<E>);

impl<E: NamedByArn> TagTarget for ByArn<E> {
    type Entity = E;
    fn find(call: &mut Call<'_>, key: &str, action: &'static str) -> Result<(Self, Access)> {
        let (entity, access) = named_by_arn::<E>(call, key, action)?;
        Ok((ByArn(entity), access))
    }
    fn existing(self, arn: &str) -> Result<E> {
        self.0.record.ok_or_else(|| E::not_found_by_arn(arn))
    }
}

/// Declares `Tag…`, `Untag…` and `List…Tags` for one entity type: the target type, the request
/// field naming it, then each operation with its request (and response) shape.
macro_rules! tag_operations {
    ($target:ty, $key:ident,
     $tag:ident($tag_req:ty),
     $untag:ident($untag_req:ty),
     $list:ident($list_req:ty => $list_resp:ident)) => {
        $crate::pipeline::operation!($tag, Iam, writes, $tag_req => ());
        impl $crate::pipeline::Handler for $tag {
            type Target = ($target, Vec<(String, String)>);
            fn resolve(
                call: &mut $crate::pipeline::Call<'_>,
                input: &$tag_req,
            ) -> $crate::errors::Result<(Self::Target, $crate::authz::Access)> {
                use $crate::pipeline::Operation as _;
                let tags = $crate::model::entity::checked_tags(
                    input.tags.iter().map(|t| (t.key.clone(), t.value.clone())),
                )?;
                let (target, access) = <$target as $crate::iam::tagging::TagTarget>::find(
                    call,
                    &input.$key,
                    Self::ACTION,
                )?;
                Ok(((target, tags.clone()), access.with_request_tags(&tags)))
            }
            fn run(
                call: &mut $crate::pipeline::Call<'_>,
                _: $crate::authz::Authorized,
                (target, tags): Self::Target,
                input: &$tag_req,
            ) -> $crate::errors::Result<()> {
                let entity = $crate::iam::tagging::TagTarget::changing(target, &input.$key)?;
                $crate::model::entity::add_tags(call.t, entity, tags)
            }
        }

        $crate::pipeline::operation!($untag, Iam, writes, $untag_req => ());
        impl $crate::pipeline::Handler for $untag {
            type Target = $target;
            fn resolve(
                call: &mut $crate::pipeline::Call<'_>,
                input: &$untag_req,
            ) -> $crate::errors::Result<(Self::Target, $crate::authz::Access)> {
                use $crate::pipeline::Operation as _;
                let (target, access) = <$target as $crate::iam::tagging::TagTarget>::find(
                    call,
                    &input.$key,
                    Self::ACTION,
                )?;
                Ok((target, access.with("aws:TagKeys", input.tag_keys.clone())))
            }
            fn run(
                call: &mut $crate::pipeline::Call<'_>,
                _: $crate::authz::Authorized,
                target: Self::Target,
                input: &$untag_req,
            ) -> $crate::errors::Result<()> {
                let entity = $crate::iam::tagging::TagTarget::changing(target, &input.$key)?;
                $crate::model::entity::remove_tags(call.t, entity, &input.tag_keys)
            }
        }

        $crate::pipeline::operation!($list, Iam, reads, $list_req => $list_resp);
        impl $crate::pipeline::Handler for $list {
            type Target = $target;
            fn resolve(
                call: &mut $crate::pipeline::Call<'_>,
                input: &$list_req,
            ) -> $crate::errors::Result<(Self::Target, $crate::authz::Access)> {
                use $crate::pipeline::Operation as _;
                <$target as $crate::iam::tagging::TagTarget>::find(call, &input.$key, Self::ACTION)
            }
            fn run(
                _: &mut $crate::pipeline::Call<'_>,
                _: $crate::authz::Authorized,
                target: Self::Target,
                input: &$list_req,
            ) -> $crate::errors::Result<$list_resp> {
                let entity = $crate::iam::tagging::TagTarget::existing(target, &input.$key)?;
                let page = $crate::model::entity::tags_page(
                    &entity,
                    input.marker.as_deref(),
                    input.max_items,
                )?;
                Ok($list_resp {
                    is_truncated: Some(page.is_truncated()),
                    marker: page.next_marker,
                    tags: page.items,
                })
            }
        }
    };
}
pub(crate) use tag_operations;
