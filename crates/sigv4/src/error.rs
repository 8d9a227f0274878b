//! The one error type of this crate. Each variant knows its AWS wire code and HTTP status, and
//! displays AWS's message text as best known (sources: AWS's own responses quoted in public
//! issue threads and emulators such as dynalite and scratchstack). These texts go on the wire,
//! so they follow AWS's wording rather than our library-message style.
//!
//! Nothing here ever contains a secret: only what the request itself carried.

/// Why a request failed SigV4 authentication.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The request carries no SigV4 authentication at all.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,

    /// The signature parameters are malformed or incomplete; the text says which.
    #[error("{0}")]
    IncompleteSignature(String),

    /// Both the presigned query form and the `Authorization` header are present.
    #[error(
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
    )]
    BothAuthForms,

    /// The request time is more than 15 minutes before the server's clock.
    #[error("Signature expired: {request_time} is now earlier than {earliest} ({now} - 15 min.)")]
    SignatureExpired {
        request_time: String,
        earliest: String,
        now: String,
    },

    /// A presigned request used after `X-Amz-Date + X-Amz-Expires`.
    #[error(
        "Signature expired: {request_time} is now earlier than {earliest} ({now} - {expires} sec.)"
    )]
    PresignedExpired {
        request_time: String,
        earliest: String,
        now: String,
        expires: i64,
    },

    /// The request time is more than 15 minutes after the server's clock.
    #[error(
        "Signature not yet current: {request_time} is still later than {latest} ({now} + 15 min.)"
    )]
    SignatureNotYetCurrent {
        request_time: String,
        latest: String,
        now: String,
    },

    /// `host` is not among the signed headers.
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,

    /// The credential scope is wrong for this endpoint or this request; every problem found is
    /// listed, as AWS does.
    #[error("{0}")]
    CredentialScope(String),

    /// The access key id is unknown (the server's store decides), or the security token is
    /// malformed.
    #[error("The security token included in the request is invalid.")]
    InvalidClientTokenId,

    /// The session token is known but past its expiry (the server decides).
    #[error("The security token included in the request is expired")]
    ExpiredToken,

    /// The signature does not match the one computed with the stored secret.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureMismatch,

    /// `X-Amz-Content-Sha256` does not match the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
}

impl SigV4Error {
    /// The AWS wire error code (`<Code>` in the Query protocol's `<ErrorResponse>`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::BothAuthForms
            | Self::SignatureExpired { .. }
            | Self::PresignedExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::HostNotSigned
            | Self::CredentialScope(_)
            | Self::SignatureMismatch => "SignatureDoesNotMatch",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::ExpiredToken => "ExpiredToken",
            Self::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::IncompleteSignature(_) | Self::BothAuthForms | Self::ContentSha256Mismatch => 400,
            Self::MissingAuthenticationToken
            | Self::SignatureExpired { .. }
            | Self::PresignedExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::HostNotSigned
            | Self::CredentialScope(_)
            | Self::InvalidClientTokenId
            | Self::ExpiredToken
            | Self::SignatureMismatch => 403,
        }
    }

    /// The error for an access key id the server does not know.
    pub fn unknown_access_key() -> Self {
        Self::InvalidClientTokenId
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_statuses_and_texts() {
        let e = SigV4Error::SignatureExpired {
            request_time: "20150830T123600Z".into(),
            earliest: "20150830T125100Z".into(),
            now: "20150830T130600Z".into(),
        };
        assert_eq!(
            e.to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T125100Z (20150830T130600Z - 15 min.)"
        );
        assert_eq!((e.code(), e.http_status()), ("SignatureDoesNotMatch", 403));
        let e = SigV4Error::unknown_access_key();
        assert_eq!((e.code(), e.http_status()), ("InvalidClientTokenId", 403));
        assert_eq!(
            e.to_string(),
            "The security token included in the request is invalid."
        );
        let e = SigV4Error::MissingAuthenticationToken;
        assert_eq!(
            (e.code(), e.http_status()),
            ("MissingAuthenticationToken", 403)
        );
        let e = SigV4Error::IncompleteSignature("x".into());
        assert_eq!((e.code(), e.http_status()), ("IncompleteSignature", 400));
    }
}
