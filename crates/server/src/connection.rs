//! One HTTP/1 connection on a worker: its idle timeout, its graceful shutdown and, for plain
//! TCP, its move to the worker on the CPU its packets arrive on.
//!
//! A connection is placed when it is accepted, on the worker of the CPU that received it
//! (`workers.rs`). Its client may later send from another CPU: on loopback the receiving CPU
//! is the client thread's own, and a client opens its connections before the scheduler has
//! spread its threads. The connection would then be served on one CPU and woken from the
//! other for every request (run to run, this made GetUser's throughput bimodal: see
//! docs/PERFORMANCE.md). So every [`SAMPLE_EVERY`] reads the socket notes the CPU that
//! received its packets, and when two samples in a row name another worker's CPU, and that
//! worker serves no more than its share, the connection moves there between two requests:
//! once every request it was given is answered and the socket flushed, hyper is stopped while
//! idle, without closing anything (`poll_without_shutdown`), the socket leaves this worker's
//! reactor, and a new hyper connection on the other worker starts with the bytes the first had
//! read ahead. The client sees nothing. A client that asked to close is never moved, and TLS
//! connections stay where they were placed (the TLS session would have to move too).

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Sleep;

use crate::workers::Placement;

/// Reads between two samples of the CPU that receives a connection's packets.
const SAMPLE_EVERY: u32 = 32;
/// No CPU, no worker.
const NONE: usize = usize::MAX;

/// How connections are served.
#[derive(Clone)]
pub struct Settings {
    pub http: http1::Builder,
    /// A connection on which nothing is read or written for this long is closed.
    pub idle: Duration,
}

/// Becomes `true` (or its sender is dropped) when the server shuts down: connections finish
/// the request in flight and close.
pub type Shutdown = watch::Receiver<bool>;

/// Whatever must live as long as the connection (a slot under the connection cap), moved along
/// when it moves.
pub type Held = Box<dyn Send>;

/// What answers a connection's requests: a service hyper can run on any worker (its bounds,
/// written once).
pub trait Answers<B>:
    Service<
        Request<Incoming>,
        Response = Response<B>,
        Future: Send + 'static,
        Error: Into<Box<dyn StdError + Send + Sync>> + Send,
    > + Send
    + Unpin
    + 'static
{
}

impl<S, B> Answers<B> for S where
    S: Service<
            Request<Incoming>,
            Response = Response<B>,
            Future: Send + 'static,
            Error: Into<Box<dyn StdError + Send + Sync>> + Send,
        > + Send
        + Unpin
        + 'static
{
}

/// The body of an answer.
pub trait AnswerBody:
    Body<Data: Send, Error: Into<Box<dyn StdError + Send + Sync>>> + Send + 'static
{
}

impl<B> AnswerBody for B where
    B: Body<Data: Send, Error: Into<Box<dyn StdError + Send + Sync>>> + Send + 'static
{
}

/// Serves HTTP/1 on a plain TCP connection just accepted: on the worker of the CPU that
/// received it, then wherever its packets arrive (the module), until the client or the idle
/// timeout ends it or the server shuts down.
pub fn serve_tcp<S, B>(
    placement: &Arc<Placement>,
    tcp: TcpStream,
    settings: Settings,
    service: S,
    shutdown: Shutdown,
    held: Held,
) -> io::Result<()>
where
    S: Answers<B>,
    B: AnswerBody,
{
    let shared = placement.clone();
    placement.serve(tcp, move |tcp, worker| {
        let moves = Arc::new(Moves::new(shared, worker));
        let service = Watched {
            inner: service,
            moves: moves.clone(),
        };
        run(moves, tcp, Bytes::new(), settings, service, shutdown, held)
    })
}

/// Serves HTTP/1 on any stream (TLS), where it was placed, until the client or the idle
/// timeout ends it or the server shuts down.
pub async fn serve_in_place<I, S, B>(io: I, settings: Settings, service: S, mut shutdown: Shutdown)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Answers<B>,
    B: AnswerBody,
{
    let io = TokioIo::new(IdleTimeout::new(io, settings.idle));
    let connection = settings.http.serve_connection(io, service);
    tokio::pin!(connection);
    let outcome = tokio::select! {
        biased;
        outcome = connection.as_mut() => outcome,
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = outcome {
        log::debug!("connection: {e}");
    }
}

/// Serves `tcp` on the worker `moves` says it is on, starting with the bytes `ahead` that a
/// previous worker read but did not parse; then moves it on, if asked to.
#[expect(
    clippy::only_used_in_recursion,
    reason = "`held` is only kept, as long as the connection lives, wherever it moves"
)]
fn run<S, B>(
    moves: Arc<Moves>,
    tcp: TcpStream,
    ahead: Bytes,
    settings: Settings,
    service: Watched<S>,
    mut shutdown: Shutdown,
    held: Held,
) -> Pin<Box<dyn Future<Output = ()> + Send>>
where
    S: Answers<B>,
    B: AnswerBody,
{
    // Boxed: a connection that moves starts this again on another runtime.
    Box::pin(async move {
        if *shutdown.borrow() {
            return;
        }
        let socket = Socket {
            tcp,
            ahead,
            reads: 0,
            moves: moves.clone(),
        };
        let io = TokioIo::new(IdleTimeout::new(socket, settings.idle));
        let mut connection = settings.http.serve_connection(io, service);
        let (mut stopping, mut moving) = (false, false);
        let outcome = loop {
            tokio::select! {
                biased;
                outcome = std::future::poll_fn(|cx| loop {
                    let polled = connection.poll_without_shutdown(cx);
                    // A move is asked for from inside this very poll (the service runs in it)
                    // when an answer is ready; it is made once hyper waits for the next request
                    // with every answer written, so hyper stops at once and sends nothing.
                    if polled.is_pending() && !moving && !stopping && moves.ready_to_move() {
                        moving = true;
                        Pin::new(&mut connection).graceful_shutdown();
                        // Polled again at once: hyper now ends, and nothing else would wake us.
                        continue;
                    }
                    return polled;
                }) => break outcome,
                _ = shutdown.changed(), if !stopping => {
                    stopping = true;
                    Pin::new(&mut connection).graceful_shutdown();
                }
            }
        };
        if let Err(e) = outcome {
            log::debug!("connection: {e}");
            return;
        }
        let target = moves.target.load(Ordering::Relaxed);
        if !moving || stopping || target == NONE {
            // Ended by the client, the idle timeout or shutdown. Polled as a future now, hyper
            // flushes what it has not written yet and shuts the socket's sending side.
            let closed = std::future::poll_fn(|cx| Pin::new(&mut connection).poll(cx)).await;
            if let Err(e) = closed {
                log::debug!("connection: {e}");
            }
            return;
        }
        let parts = connection.into_parts();
        let socket = parts.io.into_inner().inner;
        // What hyper read but did not parse came first; what is left of earlier read-ahead
        // after it. (The second is empty in practice: the CPU is only sampled on socket reads.)
        let ahead = if socket.ahead.is_empty() {
            parts.read_buf
        } else {
            let mut joined = BytesMut::from(&parts.read_buf[..]);
            joined.extend_from_slice(&socket.ahead);
            joined.freeze()
        };
        let tcp = match socket.tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                log::debug!("cannot move a connection: {e}");
                return;
            }
        };
        moves.arrive(target);
        let placement = moves.placement.clone();
        let service = parts.service;
        placement.hand_over(target, tcp, move |tcp, _worker| {
            run(moves, tcp, ahead, settings, service, shutdown, held)
        });
    })
}

/// What a connection knows about where it should be served.
struct Moves {
    placement: Arc<Placement>,
    /// Whether moves are possible at all (workers pinned to CPUs).
    watching: bool,
    /// The worker serving the connection now.
    here: AtomicUsize,
    /// The receiving CPU last sampled, not yet judged.
    incoming: AtomicUsize,
    /// The worker the last judged sample pointed to.
    candidate: AtomicUsize,
    /// The worker to move to, as soon as hyper is idle.
    target: AtomicUsize,
    /// Requests whose answer is not ready yet.
    in_flight: AtomicUsize,
    /// Whether bytes were written since the socket was last flushed (hyper flushes its own
    /// buffer out before it flushes the socket).
    unflushed: AtomicBool,
    /// The client asked to close the connection (`Connection: close`, or HTTP/1.0): it ends
    /// where it is.
    closing: AtomicBool,
}

impl Moves {
    fn new(placement: Arc<Placement>, worker: usize) -> Moves {
        Moves {
            watching: placement.pinned() && placement.count() > 1,
            placement,
            here: AtomicUsize::new(worker),
            incoming: AtomicUsize::new(NONE),
            candidate: AtomicUsize::new(NONE),
            target: AtomicUsize::new(NONE),
            in_flight: AtomicUsize::new(0),
            unflushed: AtomicBool::new(false),
            closing: AtomicBool::new(false),
        }
    }

    /// Whether a move was asked for, and hyper is done with every request it was given.
    fn ready_to_move(&self) -> bool {
        self.target.load(Ordering::Relaxed) != NONE
            && self.in_flight.load(Ordering::Relaxed) == 0
            && !self.unflushed.load(Ordering::Relaxed)
            && !self.closing.load(Ordering::Relaxed)
    }

    /// After each answer: judges the latest sample, and asks for a move when two samples in a
    /// row point to the same other worker.
    fn answered(&self) {
        let cpu = self.incoming.swap(NONE, Ordering::Relaxed);
        if cpu == NONE {
            return;
        }
        let here = self.here.load(Ordering::Relaxed);
        match self.placement.better_worker(here, cpu) {
            Some(worker) if self.candidate.swap(worker, Ordering::Relaxed) == worker => {
                self.target.store(worker, Ordering::Relaxed);
            }
            Some(_) => {}
            None => self.candidate.store(NONE, Ordering::Relaxed),
        }
    }

    fn arrive(&self, worker: usize) {
        self.here.store(worker, Ordering::Relaxed);
        for state in [&self.incoming, &self.candidate, &self.target] {
            state.store(NONE, Ordering::Relaxed);
        }
    }
}

/// The connection's socket: replays the bytes read ahead by a previous worker, and samples
/// the receiving CPU.
struct Socket {
    tcp: TcpStream,
    ahead: Bytes,
    reads: u32,
    moves: Arc<Moves>,
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.ahead.is_empty() {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if this.moves.watching && buf.filled().len() > before {
            this.reads += 1;
            if this.reads >= SAMPLE_EVERY {
                this.reads = 0;
                if let Some(cpu) = Placement::receiving_cpu(&this.tcp) {
                    this.moves.incoming.store(cpu, Ordering::Relaxed);
                }
            }
        }
        result
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.moves.watching {
            this.moves.unflushed.store(true, Ordering::Relaxed);
        }
        Pin::new(&mut this.tcp).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.tcp).poll_flush(cx);
        if this.moves.watching && matches!(flushed, Poll::Ready(Ok(()))) {
            this.moves.unflushed.store(false, Ordering::Relaxed);
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// The service, telling the connection's [`Moves`] when each answer is ready.
struct Watched<S> {
    inner: S,
    moves: Arc<Moves>,
}

impl<S, B> Service<Request<Incoming>> for Watched<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if !self.moves.watching {
            return Box::pin(self.inner.call(request));
        }
        if !keeps_alive(request.version(), request.headers()) {
            self.moves.closing.store(true, Ordering::Relaxed);
        }
        self.moves.in_flight.fetch_add(1, Ordering::Relaxed);
        let answer = self.inner.call(request);
        let moves = self.moves.clone();
        Box::pin(async move {
            let answered = answer.await;
            moves.in_flight.fetch_sub(1, Ordering::Relaxed);
            moves.answered();
            answered
        })
    }
}

/// Whether the client means to send more requests on this connection.
fn keeps_alive(version: hyper::Version, headers: &hyper::HeaderMap) -> bool {
    let connection = headers
        .get(hyper::header::CONNECTION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let says = |word: &str| {
        connection
            .split(',')
            .any(|token| token.trim().eq_ignore_ascii_case(word))
    };
    if version == hyper::Version::HTTP_10 {
        says("keep-alive")
    } else {
        !says("close")
    }
}

/// A stream that fails with `TimedOut` once neither reading nor writing has made progress for
/// its idle time (hyper's own header timeout covers a request being sent, not a connection
/// sitting between requests). Progress only records the time; the timer is moved when it
/// fires, so a busy connection costs a clock read per operation, not a timer update.
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    last_progress: tokio::time::Instant,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    pub fn new(inner: S, idle: Duration) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::time::Instant;

    use http_body_util::Full;
    use hyper::service::service_fn;

    use crate::workers::{Workers, pinning};

    /// Answers with the name of the thread that served the request.
    async fn thread_name(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let name = std::thread::current().name().unwrap_or("").to_string();
        Ok(Response::new(Full::new(Bytes::from(name))))
    }

    /// Reads one HTTP/1.1 response with a Content-Length, returns its body.
    fn read_response(reader: &mut BufReader<std::net::TcpStream>) -> String {
        let mut length = None;
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "status line {line:?}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            assert!(
                !lower.starts_with("connection: close"),
                "the connection was closed"
            );
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0u8; length.unwrap()];
        reader.read_exact(&mut body).unwrap();
        String::from_utf8(body).unwrap()
    }

    #[tokio::test]
    async fn a_connection_follows_its_client_to_another_cpu_and_loses_no_byte() {
        let workers = Workers::start().unwrap();
        let placement = workers.placement().clone();
        let cpus = pinning::usable_cpus().unwrap_or_default();
        if !placement.pinned() || placement.count() < 2 || cpus.len() < 2 {
            eprintln!("skipped: needs workers pinned on two CPUs");
            return;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // A client on worker 0's CPU, then on worker 1's. Each write completes one request and
        // starts the next, so whenever hyper is idle it holds half a request: a move must carry
        // those bytes over.
        let client = std::thread::spawn(move || {
            pinning::pin_to(&[cpus[0]]).unwrap();
            let stream = std::net::TcpStream::connect(address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let request = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
            let (first_half, second_half) = request.split_at(request.len() / 2);
            let mut served_by = Vec::new();
            writer.write_all(first_half).unwrap();
            for &cpu in &cpus[..2] {
                pinning::pin_to(&[cpu]).unwrap();
                for _ in 0..400 {
                    writer
                        .write_all(&[second_half, first_half].concat())
                        .unwrap();
                    served_by.push(read_response(&mut reader));
                }
            }
            writer.write_all(second_half).unwrap();
            served_by.push(read_response(&mut reader));
            served_by
        });
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (_running, shutdown) = watch::channel(false);
        let settings = Settings {
            http: http1::Builder::new(),
            idle: Duration::from_secs(60),
        };
        let service = service_fn(thread_name);
        serve_tcp(
            &placement,
            stream,
            settings,
            service,
            shutdown,
            Box::new(()),
        )
        .unwrap();
        let served_by = tokio::task::spawn_blocking(move || client.join().unwrap())
            .await
            .unwrap();
        assert_eq!(served_by.len(), 801, "every request answered");
        assert_eq!(
            served_by[0], "worker-0",
            "placed on the CPU it was opened from"
        );
        assert_eq!(served_by[800], "worker-1", "moved after its client");
        let moved_at = served_by
            .iter()
            .position(|name| name == "worker-1")
            .unwrap();
        assert!(moved_at >= 400, "moved before its client did: {moved_at}");
        assert!(
            served_by[moved_at..].iter().all(|name| name == "worker-1"),
            "moved once, and never back"
        );
        // The client is gone: the connection ends, and no worker still counts it.
        for _ in 0..100 {
            if placement.loads().iter().sum::<usize>() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(placement.loads(), vec![0; placement.count()]);
    }

    #[test]
    fn a_client_that_asks_to_close_is_not_kept() {
        let request = |version, connection: Option<&str>| {
            let mut builder = Request::builder().version(version);
            if let Some(value) = connection {
                builder = builder.header(hyper::header::CONNECTION, value);
            }
            builder.body(()).unwrap()
        };
        let keeps = |r: Request<()>| keeps_alive(r.version(), r.headers());
        assert!(keeps(request(hyper::Version::HTTP_11, None)));
        assert!(keeps(request(hyper::Version::HTTP_11, Some("keep-alive"))));
        assert!(!keeps(request(hyper::Version::HTTP_11, Some("Close"))));
        assert!(!keeps(request(
            hyper::Version::HTTP_11,
            Some("upgrade, close")
        )));
        assert!(!keeps(request(hyper::Version::HTTP_10, None)));
        assert!(keeps(request(hyper::Version::HTTP_10, Some("Keep-Alive"))));
    }

    #[tokio::test]
    async fn a_moved_socket_replays_the_bytes_read_ahead_first() {
        let workers = Workers::start().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let mut socket = Socket {
            tcp,
            ahead: Bytes::from_static(b"read ahead, "),
            reads: 0,
            moves: Arc::new(Moves::new(workers.placement().clone(), 0)),
        };
        tokio::io::AsyncWriteExt::write_all(&mut client, b"then the socket")
            .await
            .unwrap();
        drop(client);
        let mut all = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut socket, &mut all)
            .await
            .unwrap();
        assert_eq!(all, "read ahead, then the socket");
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
