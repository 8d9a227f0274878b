//! The listener: accepts connections (plain or TLS), serves HTTP/1.1 with hyper, and shuts
//! down cleanly on SIGTERM or SIGINT, letting requests in flight finish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::http::{App, handle};

pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
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

pub async fn run(app: Arc<App>, listen: SocketAddr, tls: Option<TlsFiles>) -> Result<(), String> {
    let acceptor = tls.as_ref().map(tls_acceptor).transpose()?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    // The one line tests and people wait for.
    println!("gatehouse listening on {scheme}://{bound}");
    log::info!("account {}", app.gatehouse.account());

    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        log::warn!("accept failed: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = service_fn(move |req| handle(app.clone(), req, remote));
                match &acceptor {
                    None => {
                        let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                        let conn = graceful.watch(conn);
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                log::debug!("connection from {remote}: {e}");
                            }
                        });
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let watcher = graceful.watcher();
                        tokio::spawn(async move {
                            match acceptor.accept(stream).await {
                                Ok(tls_stream) => {
                                    let conn = http1::Builder::new().serve_connection(TokioIo::new(tls_stream), service);
                                    if let Err(e) = watcher.watch(conn).await {
                                        log::debug!("connection from {remote}: {e}");
                                    }
                                }
                                Err(e) => log::debug!("TLS handshake with {remote} failed: {e}"),
                            }
                        });
                    }
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
