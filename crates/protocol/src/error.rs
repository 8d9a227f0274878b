//! The one wire error type: a generated [`ErrorCode`] (wire code, HTTP status, fault) and a
//! message. [`ApiError::to_xml`] is the only place that writes `<ErrorResponse>`.

use crate::xml::escape_text;

pub use crate::generated::error_code::ErrorCode;

/// An error as the client sees it. Messages are AWS's texts where we know them; they never carry
/// internal detail (see [`ApiError::internal`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// 501 for an operation the service does not provide yet.
    pub fn not_implemented(operation: &str) -> Self {
        ApiError::new(
            ErrorCode::NotImplemented,
            format!("The operation {operation} is not implemented by Gatehouse yet."),
        )
    }

    /// 500 with AWS's generic text and no detail: whatever went wrong stays in our logs.
    pub fn internal() -> Self {
        ApiError::new(
            ErrorCode::InternalFailure,
            "We encountered an internal error. Please try again.",
        )
    }

    /// `ValidationError` listing every violation, in AWS's words:
    /// `2 validation errors detected: Value at 'a' …; Value at 'b' …`.
    pub fn validation(violations: &[String]) -> Self {
        let n = violations.len();
        let plural = if n == 1 { "" } else { "s" };
        ApiError::new(
            ErrorCode::ValidationError,
            format!(
                "{n} validation error{plural} detected: {}",
                violations.join("; ")
            ),
        )
    }

    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// `<ErrorResponse xmlns="…"><Error><Type>Sender|Receiver</Type><Code>…</Code><Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>`
    pub fn to_xml(&self, xmlns: &str, request_id: &str) -> String {
        let fault = if self.code.is_sender_fault() {
            "Sender"
        } else {
            "Receiver"
        };
        format!(
            "<ErrorResponse xmlns=\"{}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            escape_text(xmlns),
            self.code.code(),
            escape_text(&self.message),
            escape_text(request_id),
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_xml() {
        let e = ApiError::new(
            ErrorCode::NoSuchEntity,
            "The user with name <bob> cannot be found.",
        );
        assert_eq!(e.http_status(), 404);
        assert_eq!(
            e.to_xml("https://iam.amazonaws.com/doc/2010-05-08/", "req-1"),
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
             <Code>NoSuchEntity</Code><Message>The user with name &lt;bob&gt; cannot be found.</Message></Error>\
             <RequestId>req-1</RequestId></ErrorResponse>"
        );
        let internal = ApiError::internal();
        assert_eq!(internal.http_status(), 500);
        assert!(
            internal
                .to_xml("x", "r")
                .contains("<Type>Receiver</Type><Code>InternalFailure</Code>")
        );
    }

    #[test]
    fn codes_statuses_and_faults() {
        let check = |code: ErrorCode, wire: &str, status: u16, sender: bool| {
            assert_eq!(
                (code.code(), code.http_status(), code.is_sender_fault()),
                (wire, status, sender)
            );
            assert_eq!(ErrorCode::from_code(wire), Some(code));
        };
        check(ErrorCode::NoSuchEntity, "NoSuchEntity", 404, true);
        check(
            ErrorCode::EntityAlreadyExists,
            "EntityAlreadyExists",
            409,
            true,
        );
        check(ErrorCode::LimitExceeded, "LimitExceeded", 409, true);
        check(ErrorCode::DeleteConflict, "DeleteConflict", 409, true);
        check(
            ErrorCode::MalformedPolicyDocument,
            "MalformedPolicyDocument",
            400,
            true,
        );
        check(ErrorCode::ServiceFailure, "ServiceFailure", 500, false);
        check(
            ErrorCode::ExpiredTokenException,
            "ExpiredTokenException",
            400,
            true,
        );
        check(ErrorCode::ExpiredToken, "ExpiredToken", 403, true);
        check(
            ErrorCode::InvalidIdentityToken,
            "InvalidIdentityToken",
            400,
            true,
        );
        check(ErrorCode::AccessDenied, "AccessDenied", 403, true);
        check(ErrorCode::ValidationError, "ValidationError", 400, true);
        check(
            ErrorCode::MalformedQueryString,
            "MalformedQueryString",
            404,
            true,
        );
        check(ErrorCode::InternalFailure, "InternalFailure", 500, false);
        check(
            ErrorCode::ServiceUnavailable,
            "ServiceUnavailable",
            503,
            false,
        );
        check(ErrorCode::NotImplemented, "NotImplemented", 501, false);
        check(
            ErrorCode::RequestEntityTooLarge,
            "RequestEntityTooLarge",
            413,
            true,
        );
        check(ErrorCode::OptInRequired, "OptInRequired", 403, true);
        check(
            ErrorCode::AccountNotManagementOrDelegatedAdministratorException,
            "AccountNotManagementOrDelegatedAdministratorException",
            400,
            true,
        );
        assert_eq!(ErrorCode::from_code("NoSuchThing"), None);
        let mut codes: Vec<_> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }

    #[test]
    fn validation_message() {
        let one =
            ApiError::validation(&["Value at 'a' failed to satisfy constraint: X".to_owned()]);
        assert_eq!(
            one.message,
            "1 validation error detected: Value at 'a' failed to satisfy constraint: X"
        );
        let two = ApiError::validation(&["A".to_owned(), "B".to_owned()]);
        assert_eq!(two.message, "2 validation errors detected: A; B");
    }
}
