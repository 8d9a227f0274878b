//! One entity layer for every named IAM entity (users now; groups, roles, managed policies,
//! instance profiles next): ids, case-insensitive unique names, paths, tags, `DeleteConflict`
//! and listing, written once.
//!
//! An entity is stored by id under its account (`{account}/{id}`), with a name index
//! (`{account}/{lower-cased name}` → id). Rows that belong to an entity (its access keys, its
//! inline policies, …) live in other tables under `{account}/{id}/`; an entity type declares
//! them as [`Dependent`]s, and [`delete`] refuses while any remains, naming the first.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_store::{Table, Txn};

use crate::errors::{Failure, Result, invalid_input, limit_exceeded};
use crate::model::pagination::{Page, PageRequest};
use crate::model::records::{Record, Records, key, prefix};

/// Rows of another table that must be gone before an entity can be deleted.
pub struct Dependent {
    pub table: Table,
    /// What AWS tells the caller to do first: "Cannot delete entity, must {what} first."
    pub what: &'static str,
}

/// A named, tagged IAM entity kept by the entity layer.
pub trait Entity: Record {
    /// The ARN's resource type and the word AWS's messages use ("user").
    const KIND: &'static str;
    /// AWS's capitalised word for the entity in messages ("User").
    const NOUN: &'static str;
    const TABLE: Table;
    const NAMES: Table;
    /// Checked in order by [`delete`].
    const DEPENDENTS: &'static [Dependent];
    /// AWS's quota of tags on one entity, and its name in the LimitExceeded message.
    const TAG_QUOTA: (&'static str, usize);
    /// The action that tags this type (creating one with tags needs it too); empty for types
    /// AWS does not let anyone tag.
    const TAG_ACTION: &'static str;
    /// The adjustable quota (`model::quotas`) on how many an account holds, enforced by
    /// [`create`]; `None` where the type's handler counts by itself.
    const ACCOUNT_QUOTA: Option<&'static str> = None;

    fn account(&self) -> &str;
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    fn path(&self) -> &str;
    /// The entity's tags (`aws:ResourceTag/*`); none for untaggable types.
    fn tags(&self) -> &[(String, String)];
    fn set_name_and_path(&mut self, name: String, path: String);
    /// `None` for types AWS does not let anyone tag.
    fn tags_mut(&mut self) -> Option<&mut Vec<(String, String)>>;

    fn arn(&self) -> String {
        arn_of::<Self>(self.account(), self.path(), self.name())
    }

    fn no_such(name: &str) -> Failure {
        ApiError::new(
            ErrorCode::NoSuchEntity,
            format!("The {} with name {name} cannot be found.", Self::KIND),
        )
        .into()
    }

    fn already_exists(name: &str) -> Failure {
        ApiError::new(
            ErrorCode::EntityAlreadyExists,
            format!("{} with name {name} already exists.", Self::NOUN),
        )
        .into()
    }
}

/// The accessors of an `Entity` whose record has the usual fields (`account`, `id`, `name`,
/// `path`, and `tags` unless `untagged`).
macro_rules! entity_fields {
    () => {
        $crate::model::entity::entity_fields!(@common);
        fn tags(&self) -> &[(String, String)] {
            &self.tags
        }
        fn tags_mut(&mut self) -> Option<&mut Vec<(String, String)>> {
            Some(&mut self.tags)
        }
    };
    (untagged) => {
        $crate::model::entity::entity_fields!(@common);
        fn tags(&self) -> &[(String, String)] {
            &[]
        }
        fn tags_mut(&mut self) -> Option<&mut Vec<(String, String)>> {
            None
        }
    };
    // Entities named by their ARN alone, with no path (identity providers).
    (pathless) => {
        fn account(&self) -> &str {
            &self.account
        }
        fn id(&self) -> &str {
            &self.id
        }
        fn name(&self) -> &str {
            &self.name
        }
        fn path(&self) -> &str {
            "/"
        }
        fn tags(&self) -> &[(String, String)] {
            &self.tags
        }
        fn set_name_and_path(&mut self, name: String, _path: String) {
            self.name = name;
        }
        fn tags_mut(&mut self) -> Option<&mut Vec<(String, String)>> {
            Some(&mut self.tags)
        }
    };
    (@common) => {
        fn account(&self) -> &str {
            &self.account
        }
        fn id(&self) -> &str {
            &self.id
        }
        fn name(&self) -> &str {
            &self.name
        }
        fn set_name_and_path(&mut self, name: String, path: String) {
            self.name = name;
            self.path = path;
        }
        fn path(&self) -> &str {
            &self.path
        }
    };
}
pub(crate) use entity_fields;

/// Tags a call adds to an entity, within its type's quota.
pub fn add_tags<E: Entity>(
    t: &mut (impl Txn + ?Sized),
    mut entity: E,
    tags: Vec<(String, String)>,
) -> Result<()> {
    tag(&mut entity, tags)?;
    save(t, &entity)
}

/// Tags a call removes from an entity.
pub fn remove_tags<E: Entity>(
    t: &mut (impl Txn + ?Sized),
    mut entity: E,
    keys: &[String],
) -> Result<()> {
    untag(&mut entity, keys);
    save(t, &entity)
}

/// One page of an entity's tags, in the order they were added.
pub fn tags_page<E: Entity>(
    entity: &E,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<Page<gatehouse_protocol::iam::Tag>> {
    let tags = entity
        .tags()
        .iter()
        .map(|(key, value)| gatehouse_protocol::iam::Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    PageRequest::new(marker, max_items)?.of_list(tags, |t: &gatehouse_protocol::iam::Tag| {
        t.key.to_lowercase()
    })
}

/// An entity a call names, as found (or not) in the caller's account.
pub struct Named<E> {
    pub name: String,
    pub record: Option<E>,
}

impl<E: Entity> Named<E> {
    pub fn find(t: &mut (impl Txn + ?Sized), account: &str, name: &str) -> Result<Self> {
        Ok(Named {
            name: name.to_string(),
            record: by_name(t, account, name)?,
        })
    }

    /// The ARN to authorize against: the real one when the entity exists, `KIND/NAME`
    /// otherwise (authorization comes before existence, so a caller without permission
    /// learns nothing about which entities exist).
    pub fn arn(&self, account: &str) -> String {
        match &self.record {
            Some(e) => e.arn(),
            None => arn_of::<E>(account, "/", &self.name),
        }
    }

    pub fn tags(&self) -> &[(String, String)] {
        self.record.as_ref().map_or(&[], |e| e.tags())
    }

    pub fn existing(self) -> Result<E> {
        self.record.ok_or_else(|| E::no_such(&self.name))
    }

    /// `Access` for `action` on this entity, with its tags as `aws:ResourceTag/*`.
    pub fn access(&self, account: &str, action: &'static str) -> crate::authz::Access {
        crate::authz::Access::to(action, self.arn(account)).with_resource_tags(self.tags())
    }
}

/// An entity that holds identity policies: inline ones, attached managed ones, and a
/// revision bumped with every change to them (see `authz`).
pub trait PolicyHolder: Entity {
    /// AWS's quota on the total size of the entity's inline policies.
    const INLINE_QUOTA: usize;
    /// AWS's quota of attached managed policies, and its name in the LimitExceeded message.
    const MANAGED_QUOTA: (&'static str, usize);
    /// The account quota (`model::quotas`) that replaces `MANAGED_QUOTA`'s number, where an
    /// account may raise it.
    const ADJUSTABLE_MANAGED_QUOTA: Option<&'static str> = None;
    fn policies_rev_mut(&mut self) -> &mut u64;
    fn attached(&self) -> &[String];
    fn attached_mut(&mut self) -> &mut Vec<String>;
    /// Refuses a change to the holder's policies where only AWS may make one (a
    /// service-linked role's).
    fn check_modifiable(&self) -> Result<()> {
        Ok(())
    }
    /// Carries a change of this holder's policies to the principals it reaches (a group's
    /// members), once the holder itself is saved.
    fn policies_changed_for_others(&self, _t: &mut dyn Txn) -> Result<()> {
        Ok(())
    }
}

/// A policy holder that may have a permissions boundary (users and roles).
pub trait BoundaryHolder: PolicyHolder {
    fn boundary_slot(&mut self) -> &mut Option<String>;
}

/// `arn:aws:iam::{account}:{kind}{path}{name}`
pub fn arn_of<E: Entity>(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{}{path}{name}", E::KIND)
}

fn name_key(account: &str, name: &str) -> String {
    key(account, &[&name.to_lowercase()])
}

pub fn by_id<E: Entity>(t: &mut (impl Txn + ?Sized), account: &str, id: &str) -> Result<Option<E>> {
    Ok(t.get_record(E::TABLE, &key(account, &[id]))?)
}

pub fn by_name<E: Entity>(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    name: &str,
) -> Result<Option<E>> {
    match t.get_text(E::NAMES, &name_key(account, name))? {
        Some(id) => by_id(t, account, &id),
        None => Ok(None),
    }
}

/// The entity named `name`, or AWS's NoSuchEntity.
#[cfg(test)]
pub fn existing<E: Entity>(t: &mut (impl Txn + ?Sized), account: &str, name: &str) -> Result<E> {
    by_name(t, account, name)?.ok_or_else(|| E::no_such(name))
}

/// Stores a new entity; EntityAlreadyExists if its name is taken in any letter case,
/// LimitExceeded if the account holds its quota of the type already.
pub fn create<E: Entity>(t: &mut (impl Txn + ?Sized), entity: &E) -> Result<()> {
    if !t.insert(
        E::NAMES,
        &name_key(entity.account(), entity.name()),
        entity.id().as_bytes(),
    )? {
        return Err(E::already_exists(entity.name()));
    }
    if let Some(quota) = E::ACCOUNT_QUOTA {
        // Counted in the creating transaction: racing creates cannot both take the last place.
        let limit = crate::model::quotas::of_account(t, entity.account(), quota)?;
        if t.count(E::TABLE, &prefix(entity.account(), &[]))? >= u64::from(limit) {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for {quota}: {limit}"
            )));
        }
    }
    if !t.insert_record(E::TABLE, &key(entity.account(), &[entity.id()]), entity)? {
        return Err(crate::errors::internal("an entity id was generated twice"));
    }
    Ok(())
}

/// Writes back an entity whose name has not changed.
pub fn save<E: Entity>(t: &mut (impl Txn + ?Sized), entity: &E) -> Result<()> {
    Ok(t.put_record(E::TABLE, &key(entity.account(), &[entity.id()]), entity)?)
}

/// Renames and/or moves an entity, keeping the name index in step.
pub fn rename<E: Entity>(
    t: &mut (impl Txn + ?Sized),
    entity: &mut E,
    new_name: Option<&str>,
    new_path: Option<&str>,
) -> Result<()> {
    let name = new_name.unwrap_or(entity.name()).to_string();
    let path = new_path.unwrap_or(entity.path()).to_string();
    if name.to_lowercase() != entity.name().to_lowercase() {
        if !t.insert(
            E::NAMES,
            &name_key(entity.account(), &name),
            entity.id().as_bytes(),
        )? {
            return Err(E::already_exists(&name));
        }
        t.delete(E::NAMES, &name_key(entity.account(), entity.name()))?;
    }
    entity.set_name_and_path(name, path);
    save(t, entity)
}

/// Deletes an entity, or answers DeleteConflict while a dependent row remains.
pub fn delete<E: Entity>(t: &mut (impl Txn + ?Sized), entity: &E) -> Result<()> {
    let children = prefix(entity.account(), &[entity.id()]);
    for dependent in E::DEPENDENTS {
        if t.count(dependent.table, &children)? > 0 {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                format!("Cannot delete entity, must {} first.", dependent.what),
            )
            .into());
        }
    }
    t.delete(E::NAMES, &name_key(entity.account(), entity.name()))?;
    t.delete(E::TABLE, &key(entity.account(), &[entity.id()]))?;
    Ok(())
}

/// One page of an account's entities whose path starts with `path_prefix`, in name order.
pub fn list<E: Entity>(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    path_prefix: &str,
    page: PageRequest,
) -> Result<Page<E>> {
    list_where(t, account, page, |e: &E| e.path().starts_with(path_prefix))
}

/// One page of an account's entities that `keep` accepts, in name order (a page is filled
/// with kept entities; the marker moves past the others).
pub fn list_where<E: Entity>(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    page: PageRequest,
    keep: impl Fn(&E) -> bool,
) -> Result<Page<E>> {
    let names = prefix(account, &[]);
    page.collect(|after, n| {
        let rows = t.scan(E::NAMES, &names, after, n)?;
        let mut out = Vec::with_capacity(rows.len());
        for (name_key, id) in rows {
            let id = String::from_utf8(id)
                .map_err(|_| crate::errors::internal("a name index row is not text"))?;
            let entity: Option<E> = by_id(t, account, &id)?;
            out.push((name_key, entity.filter(&keep)));
        }
        Ok(out)
    })
}

/// The prefix AWS reserves for its own tags.
const RESERVED_TAG_PREFIX: &str = "aws:";

/// Tags given in one request: keys unique case-insensitively and not in AWS's namespace.
pub fn checked_tags(
    tags: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (key, value) in tags {
        if key
            .get(..RESERVED_TAG_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_TAG_PREFIX))
        {
            return Err(invalid_input(
                "User-defined tag keys can't start with \"aws:\". This prefix is reserved for AWS tags.",
            ));
        }
        if out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&key)) {
            return Err(invalid_input(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// Adds or replaces tags (keys compare case-insensitively), within the type's quota.
pub fn tag<E: Entity>(entity: &mut E, new_tags: Vec<(String, String)>) -> Result<()> {
    let Some(tags) = entity.tags_mut() else {
        return Err(crate::errors::internal("a tag for an untaggable entity"));
    };
    for (key, value) in new_tags {
        match tags.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
            Some(existing) => *existing = (key, value),
            None => tags.push((key, value)),
        }
    }
    let (quota, limit) = E::TAG_QUOTA;
    if tags.len() > limit {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for {quota}: {limit}"
        )));
    }
    Ok(())
}

/// Removes the tags with these keys (case-insensitively); absent keys are ignored, as in AWS.
pub fn untag<E: Entity>(entity: &mut E, keys: &[String]) {
    if let Some(tags) = entity.tags_mut() {
        tags.retain(|(k, _)| !keys.iter().any(|gone| gone.eq_ignore_ascii_case(k)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_duplicate_tag_keys_are_refused() {
        let t = |k: &str| (k.to_string(), "v".to_string());
        assert!(checked_tags([t("team"), t("env")]).is_ok());
        assert!(checked_tags([t("AWS:owner")]).is_err());
        assert!(checked_tags([t("aws:owner")]).is_err());
        assert!(checked_tags([t("awsowner")]).is_ok());
        assert!(checked_tags([t("Team"), t("team")]).is_err());
    }
}
