//! The HTTP face: routing, body limits, SigV4 authentication, dispatch to IAM or STS, and the
//! response. The path of one API request:
//!
//! socket → [`handle`] → read body (size-limited) → decode Query parameters → authenticate
//! (SigV4 parse → key lookup → verify) → pick the service (credential scope, else Action) →
//! generated `dispatch` → `Gatehouse` handler (authorizes, then reads/writes the store) →
//! XML response (or `<ErrorResponse>`) → metrics.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gatehouse_core::{Gatehouse, RequestContext};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::query::QueryParams;
use gatehouse_protocol::{iam, sts};
use gatehouse_sigv4::{HttpRequest, SigV4Error, SigningKeyCache};
use gatehouse_types::Timestamp;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::metrics::Metrics;

/// The largest request body accepted. IAM's largest input (a SAML metadata document) may be
/// 10,000,000 characters; percent-encoding can grow it, so allow some room above that.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Request bodies being read at once hold at most this many bytes in all: connections are
/// capped, but each may send up to `MAX_BODY_BYTES` before it is authenticated.
pub const MAX_BODY_BYTES_IN_FLIGHT: usize = 256 * 1024 * 1024;

/// A body declared this small is read without a reservation: the connection cap bounds such
/// bodies as it bounds each connection's own buffers (hyper's read buffer alone may grow far
/// larger), and nearly every API call is one of them, so it costs no counter shared by
/// every CPU.
const SMALL_BODY_BYTES: usize = 8 * 1024;

/// Shared state of the HTTP layer.
pub struct App {
    pub gatehouse: Arc<Gatehouse>,
    pub metrics: Metrics,
    pub signing_keys: SigningKeyCache,
    pub tls: bool,
    pub bodies: BodyBudget,
    /// Whether the store is reached over the network: authentication's reads then leave the
    /// connection's worker thread for the blocking pool.
    pub remote_store: bool,
    /// Tests only (`GATEHOUSE_TEST_EXPIRY_CLOCK_FILE`): a file holding a number of seconds by
    /// which the clock that temporary credentials' expiry is checked against runs ahead.
    /// Moving the whole clock would trip SigV4's 15-minute window first.
    pub expiry_clock: Option<std::path::PathBuf>,
}

impl App {
    /// The time temporary credentials' expiry is checked against.
    fn expiry_clock(&self, now: Timestamp) -> Timestamp {
        let Some(path) = &self.expiry_clock else {
            return now;
        };
        let ahead: i64 = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Timestamp::from_unix_millis(now.unix_millis.saturating_add(ahead.saturating_mul(1000)))
    }
}

/// The bytes of request bodies being read, bounded (see `MAX_BODY_BYTES_IN_FLIGHT`).
pub struct BodyBudget {
    used: std::sync::atomic::AtomicUsize,
    limit: usize,
}

impl BodyBudget {
    pub fn new(limit: usize) -> Self {
        BodyBudget {
            used: std::sync::atomic::AtomicUsize::new(0),
            limit,
        }
    }

    /// Reserves `bytes`, or `None` when the budget cannot hold them now.
    fn reserve(&self, bytes: usize) -> Option<Reservation<'_>> {
        use std::sync::atomic::Ordering;
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.checked_add(bytes).filter(|n| *n <= self.limit)?;
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Reservation {
                        budget: self,
                        bytes,
                    });
                }
                Err(now) => used = now,
            }
        }
    }
}

/// Bytes held from a `BodyBudget` until dropped.
struct Reservation<'a> {
    budget: &'a BodyBudget,
    bytes: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget
            .used
            .fetch_sub(self.bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Service {
    Iam,
    Sts,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
        }
    }
    fn xmlns(self) -> &'static str {
        match self {
            Service::Iam => iam::XMLNS,
            Service::Sts => sts::XMLNS,
        }
    }
}

type HttpResponse = Response<Full<Bytes>>;

/// How a connection holds the app: a reference count of its own around the app's shared one.
/// Requests clone this one, which only the connection's worker ever writes; a count shared by
/// every connection would be written from every CPU on every request.
pub type ConnectionApp = Arc<Arc<App>>;

pub async fn handle(
    app: ConnectionApp,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<HttpResponse, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => plain(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n".to_string(),
        ),
        // Ready: the store answers (and its migrations ran: the server started). A node whose
        // database is down is alive (`/health`) but not ready.
        (&Method::GET, "/ready") => {
            let gatehouse = Arc::clone(&app.gatehouse);
            let ready = tokio::task::spawn_blocking(move || gatehouse.ready())
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            match ready {
                Ok(()) => plain(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    "ready\n".to_string(),
                ),
                Err(e) => {
                    log::warn!("not ready: {e}");
                    plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain; charset=utf-8",
                        "not ready\n".to_string(),
                    )
                }
            }
        }
        (&Method::GET, "/metrics") => plain(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            app.metrics.render(),
        ),
        (&Method::GET, WORKLOAD_CREDENTIALS_PATH) => workload_credentials(&app, &req, remote).await,
        _ => api(&app, req, remote).await,
    };
    Ok(response)
}

/// Where workloads fetch their role's credentials (`AWS_CONTAINER_CREDENTIALS_FULL_URI`).
pub const WORKLOAD_CREDENTIALS_PATH: &str = "/gatehouse/workload-credentials";

/// The container credentials protocol: the workload's token in `Authorization`, its role's
/// fresh credentials in JSON. Over plain HTTP only from the loopback, as the SDKs require of
/// the URI (a token crossing a network in the clear could be replayed).
async fn workload_credentials(
    app: &App,
    req: &Request<Incoming>,
    remote: SocketAddr,
) -> HttpResponse {
    let json_error = |status: StatusCode, code: &str, message: &str| {
        plain(
            status,
            "application/json",
            serde_json::json!({ "code": code, "message": message }).to_string(),
        )
    };
    if !app.tls && !remote.ip().is_loopback() {
        return json_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Workload credentials are served over HTTPS, or over HTTP on the loopback only.",
        );
    }
    let Some(token) = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "AccessDenied",
            "The Authorization header with the workload's token is missing.",
        );
    };
    let gatehouse = Arc::clone(&app.gatehouse);
    let issued = tokio::task::spawn_blocking(move || gatehouse.workload_credentials(&token, now()))
        .await
        .unwrap_or_else(|_| Err(ApiError::internal()));
    match issued {
        Ok(credentials) => {
            log::info!(target: "access", "workload credentials issued for {}", credentials.role_arn);
            plain(StatusCode::OK, "application/json", credentials.to_json())
        }
        Err(e) => json_error(
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN),
            e.code.code(),
            &e.message,
        ),
    }
}

fn plain(status: StatusCode, content_type: &'static str, body: String) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp::from_unix_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// A request id in AWS's UUID (version 4) form. Ids need to be unique, not secret: each thread
/// runs a splitmix64 sequence seeded once from the operating system, which costs no system
/// call per request.
fn request_id() -> String {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
            let mut seed = [0u8; 8];
            // Without OS randomness, the clock still separates threads and restarts.
            if getrandom::fill(&mut seed).is_err() {
                seed = now().unix_millis.to_le_bytes();
            }
            u64::from_le_bytes(seed)
        });
    }
    let next = || {
        STATE.with(|state| {
            let mut z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&next().to_le_bytes());
    b[8..].copy_from_slice(&next().to_le_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

struct Outcome {
    service: Service,
    operation: String,
    /// The authenticated caller's ARN, once authentication succeeded.
    principal: Option<String>,
    result: Result<String, ApiError>,
}

async fn api(app: &App, req: Request<Incoming>, remote: SocketAddr) -> HttpResponse {
    let started = Instant::now();
    let request_id = request_id();
    let Outcome {
        service,
        operation,
        principal,
        result,
    } = serve_api(app, req, remote, &request_id).await;
    let error_code = result.as_ref().err().map(|e| e.code.code());
    let (status, body, outcome_label) = match result {
        Ok(xml) => (StatusCode::OK, xml, "ok"),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                e.to_xml(service.xmlns(), &request_id),
                e.code.code(),
            )
        }
    };
    let elapsed = started.elapsed();
    app.metrics
        .record(service.name(), &operation, outcome_label, elapsed);
    // Every API request ends here, refused or not: the one place that sees them all.
    log::info!(
        target: "access",
        "request_id={request_id} principal={} action={}:{} status={} error={} latency_us={}",
        principal.as_deref().unwrap_or("-"),
        service.name(),
        if operation.is_empty() { "-" } else { operation.as_str() },
        status.as_u16(),
        error_code.unwrap_or("-"),
        elapsed.as_micros()
    );
    let mut response = plain(status, "text/xml", body);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

fn sigv4_error(e: &SigV4Error) -> ApiError {
    // Every SigV4 failure's code is one of the wire codes; a code outside the models (such as
    // S3's XAmzContentSHA256Mismatch) is reported as the signature mismatch it amounts to.
    let code = ErrorCode::from_code(e.code()).unwrap_or(ErrorCode::SignatureDoesNotMatch);
    ApiError::new(code, e.to_string())
}

/// Operations STS answers without a signature: the caller proves itself with a token instead.
fn unsigned_allowed(action: &str) -> bool {
    matches!(action, "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML")
}

async fn serve_api(
    app: &App,
    req: Request<Incoming>,
    remote: SocketAddr,
    request_id: &str,
) -> Outcome {
    let (parts, body) = req.into_parts();
    let fail = |service, operation: &str, e: ApiError| Outcome {
        service,
        operation: operation.to_string(),
        principal: None,
        result: Err(e),
    };

    // What the body may take, from its declared length (or the most a body may be).
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(MAX_BODY_BYTES, |n| n.min(MAX_BODY_BYTES));
    let _reservation = if declared <= SMALL_BODY_BYTES {
        None
    } else {
        let Some(reservation) = app.bodies.reserve(declared) else {
            return fail(
                Service::Iam,
                "",
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "Too many request bodies are being received at once; retry.",
                ),
            );
        };
        Some(reservation)
    };
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return fail(
                Service::Iam,
                "",
                ApiError::new(
                    ErrorCode::RequestEntityTooLarge,
                    format!("Request body exceeds the maximum size of {MAX_BODY_BYTES} bytes."),
                ),
            );
        }
    };
    let query = parts.uri.query().unwrap_or("");
    let is_form = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let params = QueryParams::parse(query.as_bytes()).and_then(|mut params| {
        if parts.method == Method::POST && is_form {
            params.merge(QueryParams::parse(&body)?)?;
        }
        Ok(params)
    });
    let params = match params {
        Ok(p) => p,
        Err(e) => return fail(Service::Iam, "", e),
    };
    let action = params.action().unwrap_or("").to_string();
    let action_service = if sts::OPERATIONS.contains(&action.as_str()) {
        Service::Sts
    } else {
        Service::Iam
    };

    // Authenticate.
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let http = HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query,
        headers: &headers,
        body: &body,
    };
    let now = now();
    let credentials = match gatehouse_sigv4::parse_authorization(&http) {
        Ok(c) => c,
        Err(e) => return fail(action_service, &action, sigv4_error(&e)),
    };
    let (service, caller) = match credentials {
        None if action_service == Service::Sts && unsigned_allowed(&action) => (Service::Sts, None),
        None => {
            return fail(
                action_service,
                &action,
                sigv4_error(&SigV4Error::MissingAuthenticationToken),
            );
        }
        Some(creds) => {
            let service = match creds.service.as_str() {
                "iam" => Service::Iam,
                "sts" => Service::Sts,
                _ => {
                    return fail(
                        action_service,
                        &action,
                        ApiError::new(
                            ErrorCode::SignatureDoesNotMatch,
                            format!(
                                "Credential should be scoped to correct service: '{}'. ",
                                action_service.name()
                            ),
                        ),
                    );
                }
            };
            // Time window, signed host and credential scope come before the key lookup, as in AWS.
            // IAM is global but STS is regional: any well-formed region is accepted.
            let region_ok = |r: &str| {
                !r.is_empty()
                    && r.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            };
            if let Err(e) = creds.prevalidate(now.unix_seconds(), service.name(), region_ok) {
                return fail(service, &action, sigv4_error(&e));
            }
            let gatehouse = &app.gatehouse;
            let key_id = creds.access_key_id.clone();
            let expiry_clock = app.expiry_clock(now);
            let found = if app.remote_store {
                // A network round trip: off the worker, which serves other connections.
                let gatehouse = Arc::clone(gatehouse);
                let key_id = key_id.clone();
                tokio::task::spawn_blocking(move || {
                    gatehouse.find_credentials(&key_id, now, expiry_clock)
                })
                .await
                .unwrap_or_else(|_| Err(ApiError::internal()))
            } else {
                gatehouse.find_credentials(&key_id, now, expiry_clock)
            };
            let found = match found {
                Ok(found) => found,
                Err(e) => return fail(service, &action, e),
            };
            let Some(key) = found else {
                return fail(
                    service,
                    &action,
                    sigv4_error(&SigV4Error::unknown_access_key()),
                );
            };
            match &key.caller.session {
                // Temporary credentials: the request must carry their own session token.
                Some(session)
                    if !gatehouse_core::token_matches(session, creds.security_token.as_deref()) =>
                {
                    return fail(service, &action, gatehouse_core::invalid_token());
                }
                // Long-term keys carry no session token.
                None if creds.security_token.is_some() => {
                    return fail(
                        service,
                        &action,
                        sigv4_error(&SigV4Error::unknown_access_key()),
                    );
                }
                _ => {}
            }
            if let Err(e) = gatehouse_sigv4::verify(
                &http,
                &creds,
                &key.secret,
                now.unix_seconds(),
                &app.signing_keys,
            ) {
                return fail(service, &action, sigv4_error(&e));
            }
            if key.needs_touch {
                // At most once a minute per key and thread group: a durable write, so on the blocking pool, and
                // before the operation runs, so GetAccessKeyLastUsed sees this very request.
                let region = creds.region.clone();
                let gatehouse = Arc::clone(gatehouse);
                let touched = tokio::task::spawn_blocking(move || {
                    gatehouse
                        .record_key_use(&key_id, service.name(), &region, now)
                        .map_err(|e| (key_id, e))
                })
                .await;
                if let Ok(Err((key_id, e))) = touched {
                    log::warn!(
                        "could not record the use of access key {key_id}: {}",
                        e.message
                    );
                }
            }
            (service, Some((key.caller, creds.region)))
        }
    };
    if action.is_empty() {
        return fail(
            service,
            "",
            ApiError::new(ErrorCode::MissingAction, "Missing Action"),
        );
    }
    let Some((caller, region)) = caller else {
        // An unsigned call to an operation that takes a token: not implemented yet.
        return fail(service, &action, ApiError::not_implemented(&action));
    };

    let principal = Some(caller.arn());
    let cx = RequestContext {
        request_id: request_id.to_string(),
        now,
        caller,
        region,
        source_ip: Some(remote.ip()),
        secure_transport: app.tls,
    };
    let result = run_operation(
        app.remote_store,
        &app.gatehouse,
        service,
        action.clone(),
        params,
        cx,
    )
    .await;
    Outcome {
        service,
        operation: action,
        principal,
        result,
    }
}

/// Reads from the embedded store run on the connection's worker: they take microseconds, and
/// a hand-over to another thread would cost more. Anything that may write (it waits for a
/// durable commit), any call to a remote store, and the reads whose work grows with the
/// account run on the blocking pool, so the worker goes on serving its other connections.
async fn run_operation(
    remote_store: bool,
    gatehouse: &Arc<Gatehouse>,
    service: Service,
    action: String,
    params: QueryParams,
    cx: RequestContext,
) -> Result<String, ApiError> {
    let inline = !remote_store && is_quick_read(&action);
    let call = move |gatehouse: &Gatehouse| match service {
        Service::Iam => iam::dispatch(gatehouse, &cx, &action, &params, &cx.request_id),
        Service::Sts => sts::dispatch(gatehouse, &cx, &action, &params, &cx.request_id),
    };
    if inline {
        contain_panic(|| call(gatehouse))
    } else {
        let gatehouse = Arc::clone(gatehouse);
        tokio::task::spawn_blocking(move || contain_panic(|| call(&gatehouse)))
            .await
            .unwrap_or_else(|e| {
                log::error!("a request handler failed: {e}");
                Err(ApiError::internal())
            })
    }
}

/// Runs a handler so that a panic in it becomes a 500 for this request, not a dropped
/// connection: the handler's transaction is rolled back when its frames unwind, and the caches
/// it may have touched stay usable (they recover poisoned locks).
fn contain_panic(call: impl FnOnce() -> Result<String, ApiError>) -> Result<String, ApiError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|_| {
        log::error!("a request handler panicked");
        Err(ApiError::internal())
    })
}

/// Reads that take microseconds whatever the account holds: one entity, or one page (at most
/// 1,000 items) of a listing. The simulators, the account-wide reports and the session issuers
/// (`GetSessionToken`, `GetFederationToken` write a session) are not.
fn is_quick_read(action: &str) -> bool {
    (action.starts_with("Get") || action.starts_with("List"))
        && !matches!(
            action,
            "GetAccountAuthorizationDetails"
                | "GetCredentialReport"
                | "GetSessionToken"
                | "GetFederationToken"
                | "GetServiceLastAccessedDetails"
                | "GetServiceLastAccessedDetailsWithEntities"
                | "GetOrganizationsAccessReport"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_budget_bounds_what_is_held_at_once() {
        let budget = BodyBudget::new(100);
        let a = budget.reserve(60).unwrap();
        assert!(budget.reserve(50).is_none(), "60 + 50 is over 100");
        let b = budget.reserve(40).unwrap();
        drop(a);
        assert!(budget.reserve(60).is_some(), "released when dropped");
        drop(b);
        assert!(budget.reserve(usize::MAX).is_none());
    }

    #[test]
    fn a_panicking_handler_answers_500() {
        let answer = contain_panic(|| panic!("a bug in a handler"));
        let error = answer.unwrap_err();
        assert_eq!(error.code, ErrorCode::InternalFailure);
        assert_eq!(error.http_status(), 500);
        assert_eq!(contain_panic(|| Ok("fine".to_string())).unwrap(), "fine");
    }

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(20) {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12],
                "{id}"
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(
                matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')),
                "{id}"
            );
        }
    }
}
