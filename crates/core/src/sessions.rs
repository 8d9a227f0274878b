//! Temporary credentials: an `ASIA…` key id, a secret, and a session token that every request
//! signed with them must carry. `GetSessionToken` issues them for a user or the root user, and
//! `AssumeRole` for a role (`sts.rs`); AWS's rules for such sessions hold here, in the one
//! pipeline:
//! - they expire on time (`ExpiredToken`, HTTP 403), and survive restarts (they are stored,
//!   the secret sealed like any other, the token only as a digest);
//! - a `GetSessionToken` session cannot call IAM unless MFA authenticated it, nor STS except
//!   `AssumeRole` and `GetCallerIdentity`;
//! - their requests carry `aws:TokenIssueTime` and `aws:MultiFactorAuthPresent` (with
//!   `aws:MultiFactorAuthAge` when MFA authenticated the session), so a
//!   deny on `aws:TokenIssueTime` revokes every session issued before a moment, as AWS
//!   documents.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_store::Txn;
use gatehouse_types::{IdKind, SecretKey, Timestamp, new_access_key_id, new_secret_access_key};
use sha2::{Digest, Sha256};

use crate::authz::Service;
use crate::crypto::random;
use crate::errors::{Result, randomness_unavailable};
use crate::model::records::{
    FederatedSessionRecord, Record, Records, RoleSessionRecord, SESSION_EXPIRIES, SESSIONS,
    SessionRecord,
};
use crate::{Gatehouse, RequestContext, Session};

/// SHA-256 of a session token, hex.
pub(crate) fn token_digest(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(token.as_bytes()) {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

/// Whether a request's session token is the session's (compared in constant time).
pub fn token_matches(session: &Session, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return false;
    };
    let given = token_digest(token);
    given.len() == session.token_digest.len()
        && given
            .bytes()
            .zip(session.token_digest.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// AWS's answer to a request signed with credentials past their expiration.
pub(crate) fn expired() -> ApiError {
    ApiError::new(
        ErrorCode::ExpiredToken,
        "The security token included in the request is expired",
    )
}

/// AWS's answer to a session token that is missing, altered or not the key's.
pub fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidClientTokenId,
        "The security token included in the request is invalid.",
    )
}

/// What a session made by `GetSessionToken` without MFA may not call (AWS: "You cannot call
/// any IAM API operations unless MFA authentication information is included in the request.
/// You cannot call any STS API except AssumeRole or GetCallerIdentity.").
pub(crate) fn session_may_call(
    cx: &RequestContext,
    service: Service,
    operation: &str,
) -> std::result::Result<(), ApiError> {
    let Some(session) = &cx.caller.session else {
        return Ok(());
    };
    if let crate::Principal::FederatedUser(_) = cx.caller.principal {
        // AWS: a federated user's session "cannot call any IAM operations" nor STS
        // operations but GetCallerIdentity.
        return match (service, operation) {
            (Service::Iam, _) => Err(invalid_token()),
            (Service::Sts, "GetCallerIdentity") => Ok(()),
            (Service::Sts, _) => Err(with_session_credentials(operation)),
        };
    }
    if matches!(cx.caller.principal, crate::Principal::AssumedRole(_)) {
        // A role session is limited by its policies only, but cannot make tokens that need
        // long-term credentials.
        return match operation {
            "GetSessionToken" | "GetFederationToken" => Err(with_session_credentials(operation)),
            _ => Ok(()),
        };
    }
    match service {
        Service::Iam if session.mfa_authenticated.is_some() => Ok(()),
        Service::Iam => Err(invalid_token()),
        Service::Sts if matches!(operation, "AssumeRole" | "GetCallerIdentity") => Ok(()),
        Service::Sts => Err(with_session_credentials(operation)),
    }
}

/// AWS's refusal of an operation that needs long-term credentials.
pub(crate) fn with_session_credentials(operation: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AccessDenied,
        format!("Cannot call {operation} with session credentials"),
    )
}

/// What a session is a session of.
pub(crate) enum SessionKind {
    /// `GetSessionToken`: the user (or root) itself.
    Token,
    /// `AssumeRole`: a role (the owner is the role's id).
    Role(RoleSessionRecord),
    /// `GetFederationToken`: a federated user of the owner.
    Federated(FederatedSessionRecord),
}

/// Expired sessions removed per session issued: more than are issued, so the table holds
/// the live sessions and a bounded tail, with bounded work per request.
const PRUNED_PER_ISSUE: usize = 4;

fn expiry_key(expires_ms: i64, id: &str) -> String {
    format!("{expires_ms:020}/{id}")
}

/// Deletes a few of the longest-expired sessions (expiry keys sort by time).
fn prune_expired(t: &mut dyn Txn, now: Timestamp) -> Result<()> {
    for (key, _) in t.scan(SESSION_EXPIRIES, "", None, PRUNED_PER_ISSUE)? {
        let Some((expires, id)) = key.split_once('/') else {
            continue;
        };
        if expires.parse::<i64>().map_or(true, |e| e > now.unix_millis) {
            break;
        }
        t.delete(SESSIONS, id)?;
        t.delete(SESSION_EXPIRIES, &key)?;
    }
    Ok(())
}

/// How long a new session lasts, and whether MFA authenticated it.
pub(crate) struct Validity {
    pub from: Timestamp,
    pub seconds: i64,
    /// When MFA authenticated the session (this call's code, or the calling session's MFA).
    pub mfa_authenticated: Option<Timestamp>,
}

/// Temporary credentials just issued: the secret and the token are shown this once.
pub(crate) struct Issued {
    pub access_key_id: String,
    pub secret: SecretKey,
    pub token: SecretKey,
    pub expires: Timestamp,
}

impl Gatehouse {
    /// Issues temporary credentials for `owner` (a user id, or the root owner) of `account`.
    pub(crate) fn issue_session(
        &self,
        t: &mut dyn Txn,
        account: &str,
        owner: &str,
        validity: Validity,
        kind: SessionKind,
    ) -> Result<Issued> {
        let (now, seconds) = (validity.from, validity.seconds);
        let (role, federated) = match kind {
            SessionKind::Token => (None, None),
            SessionKind::Role(role) => (Some(role), None),
            SessionKind::Federated(federated) => (None, Some(federated)),
        };
        let id = new_access_key_id(
            IdKind::TemporaryAccessKey,
            &random().map_err(randomness_unavailable)?,
        );
        let secret = new_secret_access_key(&random().map_err(randomness_unavailable)?);
        let token = gatehouse_types::new_session_token(&random().map_err(randomness_unavailable)?);
        let expires = Timestamp::from_unix_millis(now.unix_millis + seconds * 1000);
        let record = SessionRecord {
            v: SessionRecord::VERSION,
            id: id.clone(),
            account: account.to_string(),
            owner: owner.to_string(),
            sealed_secret: self.seal(t, &secret, &id)?,
            token_digest: token_digest(token.expose()),
            issued: now.unix_millis,
            expires: expires.unix_millis,
            role,
            federated,
            mfa_authenticated: validity.mfa_authenticated.map(|t| t.unix_millis),
        };
        if !t.insert_record(SESSIONS, &id, &record)? {
            return Err(crate::errors::internal("a session id was generated twice"));
        }
        t.put(SESSION_EXPIRIES, &expiry_key(expires.unix_millis, &id), b"")?;
        prune_expired(t, now)?;
        Ok(Issued {
            access_key_id: id,
            secret,
            token,
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuing_prunes_sessions_long_expired_and_keeps_live_ones() {
        let account = "111122223333";
        let g = crate::test_support::gatehouse_with_root(
            crate::test_support::temp_store(),
            account,
            crate::MasterKey::generate().unwrap(),
        );
        let at = |ms| Timestamp::from_unix_millis(ms);
        let issue = |now, seconds| {
            gatehouse_store::write(g.store.as_ref(), |t| {
                let validity = Validity {
                    from: now,
                    seconds,
                    mfa_authenticated: None,
                };
                g.issue_session(t, account, ROOT, validity, SessionKind::Token)
                    .map(|i| i.access_key_id)
            })
            .unwrap()
        };
        const ROOT: &str = crate::model::records::ROOT_OWNER;
        let old: Vec<String> = (0..6).map(|_| issue(at(0), 900)).collect();
        let live = issue(at(0), 129_600);
        let count = || {
            gatehouse_store::read(g.store.as_ref(), |t| {
                Ok::<_, crate::errors::Failure>((
                    t.count(SESSIONS, "")?,
                    t.count(SESSION_EXPIRIES, "")?,
                ))
            })
            .unwrap()
        };
        assert_eq!(count(), (7, 7));
        // An hour later the six 15-minute sessions are expired: each issue removes four.
        issue(at(3_600_000), 900);
        assert_eq!(count(), (4, 4));
        issue(at(3_600_000), 900);
        assert_eq!(
            count(),
            (3, 3),
            "the six expired are gone; the live and the two new stay"
        );
        let remaining = gatehouse_store::read(g.store.as_ref(), |t| {
            Ok::<_, crate::errors::Failure>(t.get(SESSIONS, &live)?.is_some())
        })
        .unwrap();
        assert!(remaining);
        assert!(
            old.iter()
                .all(|id| g.find_credentials(id, at(0), at(0)).unwrap().is_none())
        );
    }

    #[test]
    fn a_token_matches_only_itself() {
        let session = Session {
            issued: Timestamp::from_unix_millis(0),
            expires: Timestamp::from_unix_millis(1),
            token_digest: token_digest("token"),
            mfa_authenticated: None,
        };
        assert!(token_matches(&session, Some("token")));
        assert!(!token_matches(&session, Some("tokem")));
        assert!(!token_matches(&session, Some("token ")));
        assert!(!token_matches(&session, Some("")));
        assert!(!token_matches(&session, None));
    }
}
