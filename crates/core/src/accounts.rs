//! Many accounts on one Gatehouse. Every row of an account's data is keyed by its id, and every
//! request is served in its caller's account, so an account is its record and its root user's
//! key: an operator creates one (`gatehouse account create`) and the new root key is shown
//! once, as at the first start for the server's own account.

use gatehouse_store::{read, write};
use gatehouse_types::{AccountId, SecretKey, Timestamp};

use crate::Gatehouse;
use crate::crypto::random;
use crate::errors::Failure;
use crate::keys::store_key;
use crate::model::records::{
    ACCOUNT_ALIASES, ACCOUNTS, AccountRecord, PRINCIPAL_KEYS, ROOT_OWNER, Record, Records, USERS,
    prefix,
};

/// An account just created, with its root user's key (the secret is shown this once).
#[derive(Debug)]
pub struct NewAccount {
    pub id: AccountId,
    pub alias: Option<String>,
    pub access_key_id: String,
    pub secret: SecretKey,
}

/// One line of `gatehouse account list`.
pub struct AccountSummary {
    pub id: String,
    pub alias: Option<String>,
    pub created: Timestamp,
    pub users: u64,
    pub root_keys: u64,
}

/// AWS's rule for account aliases: 3 to 63 lowercase letters, digits and single hyphens, not
/// starting or ending with a hyphen.
pub fn check_alias(alias: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&alias.len())
        && alias
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !alias.starts_with('-')
        && !alias.ends_with('-')
        && !alias.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{alias}' is not an account alias: 3 to 63 lowercase letters, digits and single \
             hyphens, not starting or ending with a hyphen"
        ))
    }
}

fn failure_text(f: Failure) -> String {
    match f {
        Failure::Store(e) => e.to_string(),
        Failure::Api(e) => e.message,
    }
}

impl Gatehouse {
    /// Creates an account (with the id given, or a random unused one), its alias if given,
    /// and its root user's access key.
    pub fn create_account(
        &self,
        id: Option<AccountId>,
        alias: Option<&str>,
        now: Timestamp,
    ) -> Result<NewAccount, String> {
        if let Some(alias) = alias {
            check_alias(alias)?;
        }
        let outcome = write(self.store.as_ref(), |t| {
            let id = match &id {
                Some(id) => {
                    if t.get(ACCOUNTS, id.as_str())?.is_some() {
                        return Ok(Err(format!("account {id} exists")));
                    }
                    id.clone()
                }
                None => loop {
                    let bytes = random::<8>().map_err(crate::errors::randomness_unavailable)?;
                    let candidate =
                        format!("{:012}", u64::from_le_bytes(bytes) % 1_000_000_000_000);
                    if t.get(ACCOUNTS, &candidate)?.is_none() {
                        break AccountId::parse(&candidate)
                            .map_err(|_| crate::errors::internal("a malformed account id"))?;
                    }
                },
            };
            if let Some(alias) = alias
                && !t.insert(ACCOUNT_ALIASES, alias, id.as_str().as_bytes())?
            {
                return Ok(Err(format!("the account alias {alias} is taken")));
            }
            let (key, secret) = self.new_access_key(t, id.as_str(), ROOT_OWNER, now)?;
            store_key(t, &key)?;
            let record = AccountRecord {
                v: AccountRecord::VERSION,
                id: id.to_string(),
                created: now.unix_millis,
                generated_root_key: Some(key.id.clone()),
                configured_root_key: None,
                alias: alias.map(str::to_string),
                quotas: Default::default(),
                global_endpoint_token_version: None,
            };
            t.put_record(ACCOUNTS, id.as_str(), &record)?;
            Ok::<_, Failure>(Ok(NewAccount {
                id,
                alias: alias.map(str::to_string),
                access_key_id: key.id,
                secret,
            }))
        });
        outcome.map_err(failure_text)?
    }

    /// Every account, in id order.
    pub fn accounts(&self) -> Result<Vec<AccountSummary>, String> {
        read(self.store.as_ref(), |t| {
            let mut out = Vec::new();
            for (_, account) in t.scan_records::<AccountRecord>(ACCOUNTS, "", None, usize::MAX)? {
                out.push(AccountSummary {
                    users: t.count(USERS, &prefix(&account.id, &[]))?,
                    root_keys: t.count(PRINCIPAL_KEYS, &prefix(&account.id, &[ROOT_OWNER]))?,
                    created: Timestamp::from_unix_millis(account.created),
                    alias: account.alias,
                    id: account.id,
                })
            }
            Ok::<_, Failure>(out)
        })
        .map_err(failure_text)
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_protocol::iam::{CreateUserRequest, IamApi, ListUsersRequest};

    use super::*;
    use crate::test_support::{gatehouse_with_root, now, temp_store};
    use crate::{Caller, Principal, RequestContext};

    fn as_root_of(account: &NewAccount) -> RequestContext {
        RequestContext {
            request_id: "test".into(),
            now: now(),
            caller: Caller {
                account: account.id.clone(),
                principal: Principal::Root,
                access_key_id: account.access_key_id.clone(),
                seen_at: None,
                session: None,
            },
            region: "us-east-1".into(),
            source_ip: None,
            secure_transport: false,
        }
    }

    #[test]
    fn accounts_are_created_once_with_their_own_namespace_and_root_key() {
        let g = gatehouse_with_root(
            temp_store(),
            "111122223333",
            crate::MasterKey::generate().unwrap(),
        );
        let b = g.create_account(None, Some("team-b"), now()).unwrap();
        assert_eq!(b.id.as_str().len(), 12);
        assert!(b.access_key_id.starts_with("AKIA"));
        let found = g.find_access_key(&b.access_key_id, now()).unwrap().unwrap();
        assert_eq!(
            (found.caller.account.as_str(), found.secret.expose()),
            (b.id.as_str(), b.secret.expose())
        );
        let c = g
            .create_account(Some(AccountId::parse("444455556666").unwrap()), None, now())
            .unwrap();
        // One name in two accounts: two users, each seen only from its own account.
        for account in [&b, &c] {
            g.create_user(
                &as_root_of(account),
                CreateUserRequest {
                    user_name: "alice".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        let users = g
            .list_users(&as_root_of(&b), ListUsersRequest::default())
            .unwrap()
            .users;
        assert_eq!(users.len(), 1);
        assert!(users[0].arn.contains(b.id.as_str()));

        assert!(
            g.create_account(Some(c.id.clone()), None, now())
                .unwrap_err()
                .contains("exists")
        );
        assert!(
            g.create_account(None, Some("team-b"), now())
                .unwrap_err()
                .contains("taken")
        );
        assert!(g.create_account(None, Some("Bad_Alias"), now()).is_err());
        let listed: Vec<(String, Option<String>, u64, u64)> = g
            .accounts()
            .unwrap()
            .into_iter()
            .map(|a| (a.id, a.alias, a.users, a.root_keys))
            .collect();
        assert_eq!(listed.len(), 3);
        assert!(listed.contains(&(b.id.to_string(), Some("team-b".into()), 1, 1)));
        assert!(listed.contains(&("444455556666".into(), None, 1, 1)));
    }

    #[test]
    fn alias_rules() {
        for ok in ["abc", "team-b", "a1-b2-c3", &"a".repeat(63)] {
            assert!(check_alias(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "-abc", "abc-", "a--b", "ABC", "a_b", &"a".repeat(64)] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
    }
}
