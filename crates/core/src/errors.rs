//! Domain errors and their AWS wire form. Every failure a handler can meet becomes an
//! [`ApiError`] here; storage failures become an opaque `InternalFailure` (logged, never sent).

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_store::StoreError;

/// A handler's failure inside a store transaction.
#[derive(Debug)]
pub enum Failure {
    Api(ApiError),
    Store(StoreError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Api(e) => e,
            Failure::Store(e @ StoreError::Unavailable(_)) => {
                log::error!("{e}");
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "The service is unavailable. Please retry shortly.",
                )
            }
            Failure::Store(e) => {
                log::error!("storage failure: {e}");
                ApiError::internal()
            }
        }
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

pub fn no_such_access_key(id: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The Access Key with id {id} cannot be found."),
    )
    .into()
}

pub fn limit_exceeded(message: impl Into<String>) -> Failure {
    ApiError::new(ErrorCode::LimitExceeded, message).into()
}

pub fn invalid_input(message: impl Into<String>) -> Failure {
    ApiError::new(ErrorCode::InvalidInput, message).into()
}

pub fn validation(message: impl Into<String>) -> Failure {
    ApiError::new(ErrorCode::ValidationError, message).into()
}

pub fn randomness_unavailable(e: getrandom::Error) -> Failure {
    log::error!("the operating system's random source failed: {e}");
    ApiError::internal().into()
}

pub fn sealing_failed() -> Failure {
    log::error!("could not seal or open a secret with the master key");
    ApiError::internal().into()
}

/// A state that should not occur: logged for operators, an opaque InternalFailure for clients.
pub fn internal(what: &str) -> Failure {
    log::error!("internal error: {what}");
    ApiError::internal().into()
}
