//! The listener: accepts connections (plain or TLS), serves HTTP/1.1 with hyper, and shuts
//! down cleanly on SIGTERM or SIGINT, letting requests in flight finish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::connection::{self, Settings};
use crate::http::{App, ConnectionApp, handle};
use crate::workers::Workers;

pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Limits that keep one client, or many idle ones, from holding the server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request's head (request line and headers) must arrive within this time of the
    /// connection becoming ready for it.
    pub header_timeout: Duration,
    /// A connection on which nothing is read or written for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// Accept failures (most often: out of file descriptors) are retried after a pause that
/// grows while they last, and logged at most once a second, with the number left unsaid.
struct AcceptBackoff {
    pause: Duration,
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> Self {
        AcceptBackoff {
            pause: Self::FIRST,
            last_logged: None,
            unlogged: 0,
        }
    }

    /// The pause before the next accept, and whether to log this failure now.
    fn failed(&mut self, now: Instant) -> (Duration, bool) {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(Self::MAX);
        let log_now = self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
        if log_now {
            self.last_logged = Some(now);
        } else {
            self.unlogged += 1;
        }
        (pause, log_now)
    }

    fn succeeded(&mut self) {
        self.pause = Self::FIRST;
    }
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("{}: {e}", files.key.display()))?
        .ok_or_else(|| format!("{}: no private key found", files.key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Accepts connections and hands each to `workers`, until SIGTERM or SIGINT.
pub async fn run(
    workers: Workers,
    app: Arc<App>,
    listen: SocketAddr,
    tls: Option<TlsFiles>,
    limits: Limits,
) -> Result<(), String> {
    let acceptor = tls.as_ref().map(tls_acceptor).transpose()?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    // The one line tests and people wait for.
    println!("gatehouse listening on {scheme}://{bound}");
    log::info!("account {}", app.gatehouse.account());
    // Key ids, never keys: an operator checks a rotation's phase 1 reached every node.
    log::info!("master keys {}", app.gatehouse.master_key_ids().join(", "));
    let placement = workers.placement().clone();
    log::info!(
        "{} worker threads{}",
        placement.count(),
        if placement.pinned() {
            ", one per CPU"
        } else {
            ""
        }
    );

    let (stop, stopping) = watch::channel(false);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut backoff = AcceptBackoff::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let settings = Settings {
        http,
        idle: limits.idle_timeout,
    };
    loop {
        // At the cap, stop accepting until a connection ends (or the server is stopped).
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => {
                log::info!("shutting down");
                break;
            }
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(pair) => {
                        backoff.succeeded();
                        pair
                    }
                    Err(e) => {
                        let (pause, log_now) = backoff.failed(Instant::now());
                        if log_now {
                            let unlogged = std::mem::take(&mut backoff.unlogged);
                            log::warn!(
                                "accept failed: {e} ({unlogged} more failures since the last report); \
                                 retrying in {} ms",
                                pause.as_millis()
                            );
                        }
                        drop(slot);
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // A count of this connection's own (see `http::ConnectionApp`).
                let app: ConnectionApp = Arc::new(app.clone());
                let service = service_fn(move |req| handle(app.clone(), req, remote));
                let settings = settings.clone();
                let shutdown = stopping.clone();
                let acceptor = acceptor.clone();
                let handshake_timeout = limits.header_timeout;
                let served = match acceptor {
                    None => {
                        let held: connection::Held = Box::new(slot);
                        connection::serve_tcp(&placement, stream, settings, service, shutdown, held)
                    }
                    Some(acceptor) => placement.serve(stream, move |stream, _worker| async move {
                        let _slot = slot;
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(tls_stream)) => {
                                connection::serve_in_place(tls_stream, settings, service, shutdown).await;
                            }
                            Ok(Err(e)) => log::debug!("TLS handshake with {remote} failed: {e}"),
                            Err(_) => log::debug!("TLS handshake with {remote} timed out"),
                        }
                    }),
                };
                if let Err(e) = served {
                    log::warn!("cannot hand over a connection from {remote}: {e}");
                }
            }
            () = &mut shutdown => {
                log::info!("shutting down");
                break;
            }
        }
    }
    drop(listener);
    // Every connection holds a slot until it ends: when all are back, none is left.
    let _ = stop.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            log::warn!("requests still in flight after 10 s; stopping anyway");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_and_are_logged_once_a_second() {
        let mut backoff = AcceptBackoff::new();
        let start = Instant::now();
        let (first, logged) = backoff.failed(start);
        assert_eq!((first, logged), (AcceptBackoff::FIRST, true));
        let (second, logged) = backoff.failed(start + Duration::from_millis(10));
        assert_eq!((second, logged), (AcceptBackoff::FIRST * 2, false));
        for i in 0..20 {
            backoff.failed(start + Duration::from_millis(20 + i));
        }
        let (pause, logged) = backoff.failed(start + Duration::from_millis(500));
        assert_eq!((pause, logged), (AcceptBackoff::MAX, false));
        assert_eq!(backoff.unlogged, 22);
        let (_, logged) = backoff.failed(start + Duration::from_millis(1000));
        assert!(
            logged,
            "a second after the last report, the next failure is logged"
        );
        backoff.succeeded();
        assert_eq!(
            backoff.failed(start + Duration::from_secs(5)).0,
            AcceptBackoff::FIRST
        );
    }
}
