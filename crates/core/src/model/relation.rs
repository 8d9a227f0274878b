//! Relations between entities (group membership, policy attachments), kept in both
//! directions in the same transaction, so "the groups of a user" and "the members of a group"
//! are each one prefix scan and can never disagree.

use gatehouse_store::{Table, Txn};

use crate::errors::Result;
use crate::model::records::{Records, key, prefix};

/// A many-to-many relation: `{account}/{from}/{to}` in `forward` and `{account}/{to}/{from}`
/// in `backward`.
pub struct Relation {
    pub forward: Table,
    pub backward: Table,
}

impl Relation {
    /// Links `from` to `to`; returns false if they were already linked.
    pub fn link(
        &self,
        t: &mut (impl Txn + ?Sized),
        account: &str,
        from: &str,
        to: &str,
    ) -> Result<bool> {
        let added = t.insert(self.forward, &key(account, &[from, to]), b"")?;
        t.put(self.backward, &key(account, &[to, from]), b"")?;
        Ok(added)
    }

    /// Unlinks them; returns false if they were not linked.
    pub fn unlink(
        &self,
        t: &mut (impl Txn + ?Sized),
        account: &str,
        from: &str,
        to: &str,
    ) -> Result<bool> {
        let removed = t.delete(self.forward, &key(account, &[from, to]))?;
        t.delete(self.backward, &key(account, &[to, from]))?;
        Ok(removed)
    }

    pub fn targets(
        &self,
        t: &mut (impl Txn + ?Sized),
        account: &str,
        from: &str,
    ) -> Result<Vec<String>> {
        Ok(t.child_ids(self.forward, &prefix(account, &[from]))?)
    }

    pub fn sources(
        &self,
        t: &mut (impl Txn + ?Sized),
        account: &str,
        to: &str,
    ) -> Result<Vec<String>> {
        Ok(t.child_ids(self.backward, &prefix(account, &[to]))?)
    }

    /// Rows present in one direction but not the other, in words.
    pub fn check(&self, t: &mut (impl Txn + ?Sized)) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for (table, other) in [(self.forward, self.backward), (self.backward, self.forward)] {
            for (row, _) in t.scan(table, "", None, usize::MAX)? {
                let parts: Vec<&str> = row.split('/').collect();
                let [account, a, b] = parts.as_slice() else {
                    problems.push(format!("{table} row {row} is malformed"));
                    continue;
                };
                if t.get(other, &key(account, &[b, a]))?.is_none() {
                    problems.push(format!("{table} row {row} has no {other} counterpart"));
                }
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::temp_store;
    use gatehouse_store::{read, write};

    const MEMBERS: Relation = Relation {
        forward: "test_user_groups",
        backward: "test_group_members",
    };

    #[test]
    fn links_are_kept_both_ways() {
        let store = temp_store();
        write(store.as_ref(), |t| {
            assert!(MEMBERS.link(t, "111122223333", "AIDA1", "AGPA1")?);
            assert!(!MEMBERS.link(t, "111122223333", "AIDA1", "AGPA1")?);
            MEMBERS.link(t, "111122223333", "AIDA2", "AGPA1")?;
            MEMBERS.link(t, "444455556666", "AIDA1", "AGPA9")?;
            Ok::<_, crate::errors::Failure>(())
        })
        .unwrap();
        read(store.as_ref(), |t| {
            assert_eq!(MEMBERS.targets(t, "111122223333", "AIDA1")?, ["AGPA1"]);
            assert_eq!(
                MEMBERS.sources(t, "111122223333", "AGPA1")?,
                ["AIDA1", "AIDA2"]
            );
            assert!(MEMBERS.check(t)?.is_empty());
            Ok::<_, crate::errors::Failure>(())
        })
        .unwrap();
        write(store.as_ref(), |t| {
            assert!(MEMBERS.unlink(t, "111122223333", "AIDA1", "AGPA1")?);
            assert!(!MEMBERS.unlink(t, "111122223333", "AIDA1", "AGPA1")?);
            // A half-written relation is what the check is for.
            t.put(MEMBERS.forward, "111122223333/AIDA3/AGPA1", b"")?;
            Ok::<_, crate::errors::Failure>(())
        })
        .unwrap();
        read(store.as_ref(), |t| {
            assert_eq!(MEMBERS.sources(t, "111122223333", "AGPA1")?, ["AIDA2"]);
            assert_eq!(MEMBERS.check(t)?.len(), 1);
            Ok::<_, crate::errors::Failure>(())
        })
        .unwrap();
    }
}
