//! The listener: accepts connections (plain or TLS), serves HTTP/1.1 with hyper, and shuts
//! down cleanly on SIGTERM or SIGINT, letting requests in flight finish.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

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

/// A stream that fails with `TimedOut` once neither reading nor writing has made progress for
/// its idle time (hyper's own header timeout covers a request being sent, not a connection
/// sitting between requests). Progress only records the time; the timer is moved when it
/// fires, so a busy connection costs a clock read per operation, not a timer update.
struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    last_progress: tokio::time::Instant,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    fn new(inner: S, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            idle,
            last_progress: tokio::time::Instant::now(),
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn progressed(&mut self) {
        self.last_progress = tokio::time::Instant::now();
    }

    /// Whether the connection has been idle too long; re-arms the timer otherwise.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        while self.deadline.as_mut().poll(cx).is_ready() {
            let due = self.last_progress + self.idle;
            if due <= tokio::time::Instant::now() {
                return true;
            }
            self.deadline.as_mut().reset(due);
        }
        false
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, data);
        if result.is_ready() {
            this.progressed();
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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
    log::info!(
        "{} worker threads{}",
        workers.count(),
        if workers.pinned() {
            ", one per CPU"
        } else {
            ""
        }
    );

    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut backoff = AcceptBackoff::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        // At the cap, stop accepting until a connection ends.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
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
                let http = http.clone();
                let watcher = graceful.watcher();
                let acceptor = acceptor.clone();
                let idle = limits.idle_timeout;
                let handshake_timeout = limits.header_timeout;
                let served = workers.serve(stream, move |stream| async move {
                    let _slot = slot;
                    let outcome = match acceptor {
                        None => {
                            let io = TokioIo::new(IdleTimeout::new(stream, idle));
                            watcher.watch(http.serve_connection(io, service)).await
                        }
                        Some(acceptor) => {
                            let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
                            match handshake.await {
                                Ok(Ok(tls_stream)) => {
                                    let io = TokioIo::new(IdleTimeout::new(tls_stream, idle));
                                    watcher.watch(http.serve_connection(io, service)).await
                                }
                                Ok(Err(e)) => {
                                    log::debug!("TLS handshake with {remote} failed: {e}");
                                    return;
                                }
                                Err(_) => {
                                    log::debug!("TLS handshake with {remote} timed out");
                                    return;
                                }
                            }
                        }
                    };
                    if let Err(e) = outcome {
                        log::debug!("connection from {remote}: {e}");
                    }
                });
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
    tokio::select! {
        () = graceful.shutdown() => {}
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

    #[tokio::test]
    async fn an_idle_connection_times_out() {
        let (client, server) = tokio::io::duplex(64);
        let mut idle = IdleTimeout::new(server, Duration::from_millis(50));
        let mut buf = [0u8; 8];
        let started = Instant::now();
        let result = tokio::io::AsyncReadExt::read(&mut idle, &mut buf).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(client);
    }
}
