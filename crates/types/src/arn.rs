use std::fmt;

/// A 12-digit AWS account id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(s.to_string()))
        } else {
            Err(ArnError::BadAccountId(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnError {
    BadAccountId(String),
    NotAnArn(String),
}

impl fmt::Display for ArnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArnError::BadAccountId(s) => write!(f, "'{s}' is not a 12-digit account id"),
            ArnError::NotAnArn(s) => write!(f, "'{s}' is not an ARN"),
        }
    }
}

impl std::error::Error for ArnError {}

/// An Amazon Resource Name: `arn:partition:service:region:account:resource`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

impl Arn {
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        let mut parts = s.splitn(6, ':');
        let mut next = || {
            parts
                .next()
                .ok_or_else(|| ArnError::NotAnArn(s.to_string()))
        };
        let (prefix, partition, service, region, account, resource) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        if prefix != "arn" || partition.is_empty() || service.is_empty() {
            return Err(ArnError::NotAnArn(s.to_string()));
        }
        Ok(Arn {
            partition: partition.to_string(),
            service: service.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            resource: resource.to_string(),
        })
    }

    /// An IAM ARN such as `arn:aws:iam::123456789012:user/path/name`.
    pub fn iam(account: &AccountId, resource_type: &str, path: &str, name: &str) -> Self {
        Arn {
            partition: "aws".into(),
            service: "iam".into(),
            region: String::new(),
            account: account.as_str().to_string(),
            resource: format!("{resource_type}{path}{name}"),
        }
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_round_trips() {
        for s in [
            "arn:aws:iam::123456789012:user/division/bob",
            "arn:aws:s3:::bucket/key:with:colons",
            "arn:aws:sts::000000000000:assumed-role/r/s",
        ] {
            assert_eq!(Arn::parse(s).map(|a| a.to_string()), Ok(s.to_string()));
        }
        assert!(Arn::parse("arn:aws:iam").is_err());
        assert!(Arn::parse("nope:aws:iam::1:user/x").is_err());
    }

    #[test]
    fn builds_iam_arns() {
        let acct = AccountId::parse("123456789012").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            Arn::iam(&acct, "user", "/div/", "bob").to_string(),
            "arn:aws:iam::123456789012:user/div/bob"
        );
        assert!(AccountId::parse("12345").is_err());
        assert!(AccountId::parse("12345678901a").is_err());
    }
}
