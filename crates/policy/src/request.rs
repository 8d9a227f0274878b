//! What the caller passes in: the principal, the request and its context.

use std::collections::HashMap;

/// The kind of principal that makes a request, with what evaluation needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root user: full access to its own account unless an SCP or a resource
    /// policy denies.
    Root,
    /// An IAM user.
    User,
    /// An IAM role acting directly (rare: requests normally come from its sessions).
    Role,
    /// A role session (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`).
    AssumedRole {
        /// The ARN of the role (`arn:aws:iam::ACCT:role/PATH/NAME`): a resource policy naming
        /// it matches every session of the role.
        role_arn: String,
    },
    /// A federated user session from `GetFederationToken`
    /// (`arn:aws:sts::ACCT:federated-user/NAME`).
    FederatedUser {
        /// The IAM user that created the session, if known.
        user_arn: Option<String>,
    },
    /// A web-identity or SAML identity calling `AssumeRoleWith…`; the ARN is the provider
    /// (`accounts.google.com`, `arn:aws:iam::ACCT:saml-provider/NAME`, …), matched by
    /// `Principal: {"Federated": …}`.
    WebIdentity,
    /// An AWS service (`s3.amazonaws.com`), matched by `Principal: {"Service": …}`.
    Service,
    /// An unauthenticated caller.
    Anonymous,
}

/// The principal that makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    arn: String,
    account: String,
    kind: PrincipalKind,
    canonical_user: Option<String>,
    /// Values served for `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:username`,
    /// `aws:PrincipalType` and `aws:PrincipalIsAWSService` when the context does not set them.
    principal_arn: [String; 1],
    account_value: [String; 1],
    username: Option<[String; 1]>,
    principal_type: [String; 1],
    is_service: [String; 1],
}

/// The account id in an ARN's fifth part, or "".
fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

impl Principal {
    /// A principal of any kind. `account` may be empty for services and anonymous callers.
    pub fn new(kind: PrincipalKind, arn: impl Into<String>, account: impl Into<String>) -> Self {
        let arn = arn.into();
        let account = account.into();
        let principal_arn = match &kind {
            PrincipalKind::AssumedRole { role_arn } => role_arn.clone(),
            _ => arn.clone(),
        };
        let username = match kind {
            PrincipalKind::User => arn.rsplit('/').next().map(|n| [n.to_string()]),
            _ => None,
        };
        let principal_type = match kind {
            PrincipalKind::Root => "Account",
            PrincipalKind::User => "User",
            PrincipalKind::Role | PrincipalKind::AssumedRole { .. } => "AssumedRole",
            PrincipalKind::FederatedUser { .. } => "FederatedUser",
            PrincipalKind::WebIdentity => "WebIdentityUser",
            PrincipalKind::Service => "Service",
            PrincipalKind::Anonymous => "Anonymous",
        };
        let is_service = matches!(kind, PrincipalKind::Service);
        Principal {
            principal_type: [principal_type.to_string()],
            is_service: [is_service.to_string()],
            principal_arn: [principal_arn],
            account_value: [account.clone()],
            username,
            arn,
            account,
            kind,
            canonical_user: None,
        }
    }

    /// An IAM user, from its ARN (`arn:aws:iam::111122223333:user/path/alice`).
    pub fn user(arn: impl Into<String>) -> Self {
        let arn = arn.into();
        let account = account_of(&arn).to_string();
        Principal::new(PrincipalKind::User, arn, account)
    }

    /// A role session, from the session ARN and the role ARN.
    pub fn assumed_role(session_arn: impl Into<String>, role_arn: impl Into<String>) -> Self {
        let arn = session_arn.into();
        let account = account_of(&arn).to_string();
        Principal::new(
            PrincipalKind::AssumedRole {
                role_arn: role_arn.into(),
            },
            arn,
            account,
        )
    }

    /// The root user of `account` in partition `aws`.
    pub fn root(account: impl Into<String>) -> Self {
        let account = account.into();
        Principal::new(
            PrincipalKind::Root,
            format!("arn:aws:iam::{account}:root"),
            account,
        )
    }

    /// An AWS service principal such as `s3.amazonaws.com`.
    pub fn service(name: impl Into<String>) -> Self {
        Principal::new(PrincipalKind::Service, name, "")
    }

    /// An unauthenticated caller.
    pub fn anonymous() -> Self {
        Principal::new(PrincipalKind::Anonymous, "*", "")
    }

    /// Sets the S3 canonical user id, matched by `Principal: {"CanonicalUser": …}`.
    pub fn with_canonical_user(mut self, id: impl Into<String>) -> Self {
        self.canonical_user = Some(id.into());
        self
    }

    /// The principal's own ARN (for a role session, the session ARN).
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The principal's account id ("" for services and anonymous callers).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The kind of principal.
    pub fn kind(&self) -> &PrincipalKind {
        &self.kind
    }

    /// The S3 canonical user id, if set.
    pub fn canonical_user(&self) -> Option<&str> {
        self.canonical_user.as_deref()
    }

    /// Global keys AWS always derives from the principal, used when the context lacks them.
    pub(crate) fn implied_key(&self, key_lower: &str) -> Option<&[String]> {
        match key_lower {
            "aws:principalarn"
                if !matches!(
                    self.kind,
                    PrincipalKind::Anonymous | PrincipalKind::Service | PrincipalKind::WebIdentity
                ) =>
            {
                Some(&self.principal_arn)
            }
            "aws:principalaccount" if !self.account.is_empty() => Some(&self.account_value),
            "aws:username" => self.username.as_ref().map(|u| u.as_slice()),
            "aws:principaltype" => Some(&self.principal_type),
            "aws:principalisawsservice" if !matches!(self.kind, PrincipalKind::Anonymous) => {
                Some(&self.is_service)
            }
            _ => None,
        }
    }
}

/// The request context: condition keys and their values. Keys are case-insensitive; a key may
/// have several values (multivalued keys such as `aws:TagKeys`) or an empty set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: HashMap<Box<str>, Vec<String>>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Context::default()
    }

    /// Adds one value to `key` (builder form of [`insert`](Context::insert)).
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key` to a set of values, replacing what it had (builder form).
    pub fn with_values<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set(key, values);
        self
    }

    /// Adds one value to `key`.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.entries
            .entry(key.to_ascii_lowercase().into())
            .or_default()
            .push(value.into());
    }

    /// Sets `key` to a set of values (possibly empty), replacing what it had.
    pub fn set<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entries.insert(
            key.to_ascii_lowercase().into(),
            values.into_iter().map(Into::into).collect(),
        );
    }

    /// The values of `key` (any case), if it is present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.entries
                .get(key.to_ascii_lowercase().as_str())
                .map(Vec::as_slice)
        } else {
            self.entries.get(key).map(Vec::as_slice)
        }
    }

    /// Every key (lower-cased) and its values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (&**k, v.as_slice()))
    }

    /// The key as stored and its values, for a lowercased key.
    pub(crate) fn entry_lower(&self, key_lower: &str) -> Option<(&str, &[String])> {
        self.entries
            .get_key_value(key_lower)
            .map(|(k, v)| (&**k, v.as_slice()))
    }
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who is asking.
    pub principal: &'a Principal,
    /// The action, `service:Name`, any case.
    pub action: &'a str,
    /// The resource ARN (or `*` for actions without resource-level permissions).
    pub resource: &'a str,
    /// The account that owns the resource. When it differs from the principal's account the
    /// request is cross-account and needs both an identity-based and a resource-based allow.
    /// None means the resource is in the principal's account.
    pub resource_account: Option<&'a str>,
    /// The request context (condition keys).
    pub context: &'a Context,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_case_insensitive() {
        let c = Context::new()
            .with("aws:SourceIp", "1.2.3.4")
            .with_values("aws:TagKeys", ["a", "b"])
            .with_values("aws:Empty", Vec::<String>::new());
        assert_eq!(c.get("AWS:SOURCEIP").unwrap(), ["1.2.3.4"]);
        assert_eq!(c.get("aws:tagkeys").unwrap().len(), 2);
        assert_eq!(c.get("aws:empty").unwrap().len(), 0);
        assert!(c.get("aws:other").is_none());
    }

    #[test]
    fn principal_implied_keys() {
        let u = Principal::user("arn:aws:iam::111122223333:user/div/alice");
        assert_eq!(u.account(), "111122223333");
        assert_eq!(u.implied_key("aws:username").unwrap(), ["alice"]);
        let r = Principal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/R/s",
            "arn:aws:iam::111122223333:role/R",
        );
        assert_eq!(
            r.implied_key("aws:principalarn").unwrap(),
            ["arn:aws:iam::111122223333:role/R"]
        );
        assert!(r.implied_key("aws:username").is_none());
        assert!(
            Principal::anonymous()
                .implied_key("aws:principalarn")
                .is_none()
        );
        assert_eq!(r.implied_key("aws:principaltype").unwrap(), ["AssumedRole"]);
        assert_eq!(
            u.implied_key("aws:principalisawsservice").unwrap(),
            ["false"]
        );
        let s = Principal::service("s3.amazonaws.com");
        assert_eq!(
            s.implied_key("aws:principalisawsservice").unwrap(),
            ["true"]
        );
        assert!(s.implied_key("aws:principalarn").is_none());
    }
}
