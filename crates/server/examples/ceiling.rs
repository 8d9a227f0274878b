//! Bench-only: the HTTP ceiling of this machine, for `bench/getuser.sh`.
//!
//! Answers every request with the same 400-byte XML body (`text/xml`), over HTTP/1.1 with
//! keep-alive, `TCP_NODELAY`, one hyper http1 connection task per socket, the request body read
//! in full before answering, and the same allocator as the real server. It does no parsing, no
//! authentication and no store access, so its throughput is what hyper, tokio and the kernel's
//! loopback give on this machine.
//!
//! Two ways to run it:
//! - `ceiling ADDR`: the minimal hyper server of issue 2's definition (hyper's own example
//!   setup: one multi-thread tokio runtime). `bench/getuser.sh` holds Gatehouse to this one.
//! - `ceiling ADDR --per-core`: on Gatehouse's own threading and connection handling
//!   (`src/workers.rs` and `src/connection.rs`, the very same files: one pinned single-threaded
//!   worker per CPU, each connection on the CPU that receives it and moved to the one its
//!   packets later arrive on, with the idle timeout). The bench reports it beside the other, so
//!   the gain of that threading is not mistaken for a lighter request path.
//!
//! It is an example, so it is never part of the shipped `gatehouse` binary:
//!
//! ```sh
//! cargo build --release -p gatehouse --example ceiling
//! target/release/examples/ceiling 127.0.0.1:4603 [--per-core]
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

// The ceiling serves no TLS: the part of the file for it goes unused here.
#[allow(dead_code)]
#[path = "../src/connection.rs"]
mod connection;
#[path = "../src/workers.rs"]
mod workers;

/// The same allocator as the `gatehouse` binary (the `mimalloc` feature), so the ceiling is
/// what any server built like Gatehouse could reach.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A GetUser-shaped answer, padded to exactly 400 bytes.
const BODY: &str = concat!(
    r#"<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetUserResult><User>"#,
    "<Path>/</Path><UserName>bench</UserName><UserId>AIDAEXAMPLEEXAMPLE001</UserId>",
    "<Arn>arn:aws:iam::000000000000:user/bench</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate>",
    "</User></GetUserResult><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000",
    "</RequestId></ResponseMetadata></GetUserResponse>",
    "    \n",
);
const BODY_LEN: usize = 400;
const _: () = assert!(
    BODY.len() == BODY_LEN,
    "the ceiling's body must be exactly 400 bytes"
);

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request body, as the real server does, so the connection stays reusable.
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    Ok(response)
}

async fn serve(listen: SocketAddr, per_core: Option<workers::Workers>) -> Result<(), String> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    match &per_core {
        Some(w) => println!(
            "ceiling listening on http://{bound} ({} workers{})",
            w.placement().count(),
            if w.placement().pinned() {
                ", pinned"
            } else {
                ""
            }
        ),
        None => println!("ceiling listening on http://{bound}"),
    }
    // Never sent: the ceiling runs until it is killed.
    let (_running, shutdown) = tokio::sync::watch::channel(false);
    let settings = connection::Settings {
        http: http1::Builder::new(),
        idle: std::time::Duration::from_secs(3600),
    };
    loop {
        let (stream, _remote) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("ceiling: accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match &per_core {
            Some(workers) => {
                let service = service_fn(answer);
                let (settings, shutdown) = (settings.clone(), shutdown.clone());
                let served = connection::serve_tcp(
                    workers.placement(),
                    stream,
                    settings,
                    service,
                    shutdown,
                    Box::new(()),
                );
                if let Err(e) = served {
                    eprintln!("ceiling: cannot hand over a connection: {e}");
                }
            }
            None => {
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer))
                        .await;
                });
            }
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:4603".to_string());
    let per_core = args.next().as_deref() == Some("--per-core");
    let result = listen
        .parse::<SocketAddr>()
        .map_err(|e| format!("{listen}: {e}"))
        .and_then(|addr| {
            if per_core {
                let workers = workers::Workers::start()?;
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the runtime: {e}"))?
                    .block_on(serve(addr, Some(workers)))
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the runtime: {e}"))?
                    .block_on(serve(addr, None))
            }
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ceiling: {message}");
            ExitCode::FAILURE
        }
    }
}
