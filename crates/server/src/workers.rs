//! The threads that serve connections: one per CPU, each with a single-threaded runtime, and
//! each connection served on the CPU its packets arrive on.
//!
//! A connection stays on the worker it is given, so its wake-ups, timers and buffers stay on
//! one core: no work stealing, no wake-up sent to another CPU. Where the system allows (Linux,
//! and a CPU set no smaller than the CPU quota), worker `i` is pinned to the `i`-th CPU the
//! process may use, and a new connection goes to the worker pinned on the CPU that received its
//! packets (`SO_INCOMING_CPU`): the kernel has just woken a thread there, and the request's
//! bytes are in that CPU's cache. On loopback that is the client's own CPU (a client on the same
//! machine, as in development and CI, shares a core with the thread serving it). A worker never
//! takes far more than its share: one that serves more than twice the connections of the least
//! busy, plus [`SLACK`], gives the next one to the least busy, so a single receiving CPU cannot
//! make one worker serve everything. (A client's threads may all open their connections from
//! one CPU and only later spread over the others: a worker left idle would cost far more than
//! a few connections served from another CPU.)
//!
//! Workers run reads inline (they take microseconds); writes, remote-store calls and heavy
//! reads go to the runtime's blocking pool (see `http::run_operation`), whose threads may run
//! on any CPU.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The worker threads. Dropping this stops them; connections are placed and moved through the
/// [`Placement`] they share.
pub struct Workers {
    placement: Arc<Placement>,
    threads: Vec<WorkerThread>,
}

/// Where connections are served: each worker's runtime and load, and which CPU each is on.
/// Shared by the acceptor and the connections themselves (which move between workers, see
/// `connection.rs`).
pub struct Placement {
    runtimes: Vec<Handle>,
    /// Connections each worker is serving.
    loads: Vec<AtomicUsize>,
    /// The worker pinned on each CPU, by CPU number (`None`: no worker there, or not pinned).
    by_cpu: Vec<Option<usize>>,
    next: AtomicUsize,
}

struct WorkerThread {
    /// Taken when `Workers` is dropped: the worker's runtime then stops.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Workers {
    /// Stops every worker and waits for it: what its connections held (the app, and with it
    /// the store's connections) is released before the process goes on to exit.
    fn drop(&mut self) {
        for worker in &mut self.threads {
            worker.stop.take();
        }
        for worker in &mut self.threads {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Ends a connection's count on its worker, however the connection ends (or moves on).
struct Serving {
    placement: Arc<Placement>,
    worker: usize,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.placement.loads[self.worker].fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// One worker per CPU this process may use, pinned where that helps (see the module).
    pub fn start() -> Result<Workers, String> {
        let quota = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpus = pinning::usable_cpus().filter(|cpus| cpus.len() <= quota);
        let plan: Vec<Option<usize>> = match &cpus {
            Some(cpus) => cpus.iter().copied().map(Some).collect(),
            None => vec![None; quota],
        };
        let mut runtimes = Vec::with_capacity(plan.len());
        let mut threads = Vec::with_capacity(plan.len());
        let mut by_cpu = Vec::new();
        for (index, cpu) in plan.into_iter().enumerate() {
            let (runtime, thread) = start_worker(index, cpu, cpus.clone())?;
            runtimes.push(runtime);
            threads.push(thread);
            if let Some(cpu) = cpu {
                if by_cpu.len() <= cpu {
                    by_cpu.resize(cpu + 1, None);
                }
                by_cpu[cpu] = Some(index);
            }
        }
        let placement = Arc::new(Placement {
            loads: runtimes.iter().map(|_| AtomicUsize::new(0)).collect(),
            runtimes,
            by_cpu,
            next: AtomicUsize::new(0),
        });
        Ok(Workers { placement, threads })
    }

    pub fn placement(&self) -> &Arc<Placement> {
        &self.placement
    }
}

impl Placement {
    pub fn count(&self) -> usize {
        self.runtimes.len()
    }

    pub fn pinned(&self) -> bool {
        self.by_cpu.iter().any(Option::is_some)
    }

    /// The CPU whose softirq last received the stream's packets (on loopback: the CPU its
    /// client's thread last sent from).
    pub fn receiving_cpu(stream: &TcpStream) -> Option<usize> {
        socket2::SockRef::from(stream).cpu_affinity().ok()
    }

    pub(crate) fn loads(&self) -> Vec<usize> {
        self.loads
            .iter()
            .map(|load| load.load(Ordering::Relaxed))
            .collect()
    }

    /// Serves `stream` on the worker of the CPU that received it: `serve` runs there, given
    /// the stream registered on that worker's runtime and the worker's index.
    pub fn serve<F, Fut>(self: &Arc<Self>, stream: TcpStream, serve: F) -> std::io::Result<()>
    where
        F: FnOnce(TcpStream, usize) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let incoming =
            Self::receiving_cpu(&stream).and_then(|cpu| self.by_cpu.get(cpu).copied().flatten());
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let worker = choose(incoming, &self.loads(), turn);
        // The stream moves to the worker's runtime: out of this one's reactor, into that one's.
        self.hand_over(worker, stream.into_std()?, serve);
        Ok(())
    }

    /// Serves a stream taken out of another runtime (`TcpStream::into_std`) on `worker`.
    pub fn hand_over<F, Fut>(self: &Arc<Self>, worker: usize, stream: std::net::TcpStream, serve: F)
    where
        F: FnOnce(TcpStream, usize) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(runtime) = self.runtimes.get(worker) else {
            return;
        };
        self.loads[worker].fetch_add(1, Ordering::Relaxed);
        let serving = Serving {
            placement: self.clone(),
            worker,
        };
        runtime.spawn(async move {
            let _serving = serving;
            match TcpStream::from_std(stream) {
                Ok(stream) => serve(stream, worker).await,
                Err(e) => log::warn!("cannot serve a connection: {e}"),
            }
        });
    }

    /// The worker a connection served on `here` should move to, now that its packets arrive on
    /// `cpu`: the worker pinned there, unless it would then serve more than its share (the rule
    /// of [`choose`], counting the connection as already gone from `here`).
    pub fn better_worker(&self, here: usize, cpu: usize) -> Option<usize> {
        let target = self.by_cpu.get(cpu).copied().flatten()?;
        let mut loads = self.loads();
        if target == here || here >= loads.len() {
            return None;
        }
        loads[here] = loads[here].saturating_sub(1);
        (choose(Some(target), &loads, 0) == target).then_some(target)
    }
}

/// Connections a worker may serve beyond twice the least busy worker's before it is passed over.
const SLACK: usize = 2;

/// The worker for a new connection: the one on its receiving CPU unless that one serves more
/// than twice the connections of the least busy plus [`SLACK`], else the least busy; in turn
/// when the receiving CPU has no worker.
fn choose(incoming: Option<usize>, loads: &[usize], turn: usize) -> usize {
    let least = (0..loads.len()).min_by_key(|&i| loads[i]).unwrap_or(0);
    let overloaded = |i: usize| loads[i] > 2 * loads[least] + SLACK;
    match incoming {
        Some(preferred) if preferred < loads.len() => {
            if overloaded(preferred) {
                least
            } else {
                preferred
            }
        }
        _ => {
            let next = turn % loads.len().max(1);
            if overloaded(next) { least } else { next }
        }
    }
}

/// Starts worker `index`'s thread, pinned on `cpu`, and returns its runtime.
fn start_worker(
    index: usize,
    cpu: Option<usize>,
    all: Option<Vec<usize>>,
) -> Result<(Handle, WorkerThread), String> {
    let (started, ready) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("worker-{index}"))
        .spawn(move || {
            if let Some(cpu) = cpu
                && let Err(e) = pinning::pin_to(&[cpu])
            {
                log::warn!("worker {index} could not be pinned to CPU {cpu}: {e}");
            }
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.enable_all();
            // Blocking-pool threads inherit the worker's pinning: give them every CPU.
            if let Some(all) = all {
                builder.on_thread_start(move || {
                    let _ = pinning::pin_to(&all);
                });
            }
            let runtime = match builder.build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started.send(Err(format!("cannot start a worker's runtime: {e}")));
                    return;
                }
            };
            let (stop, stopped) = oneshot::channel::<()>();
            if started.send(Ok((runtime.handle().clone(), stop))).is_ok() {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            }
        })
        .map_err(|e| format!("cannot start a worker thread: {e}"))?;
    let (runtime, stop) = ready
        .recv()
        .map_err(|_| format!("worker {index} stopped while starting"))??;
    Ok((
        runtime,
        WorkerThread {
            stop: Some(stop),
            thread: Some(thread),
        },
    ))
}

#[cfg(target_os = "linux")]
pub(crate) mod pinning {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

    /// The CPUs this process may run on, in order.
    pub fn usable_cpus() -> Option<Vec<usize>> {
        let set = sched_getaffinity(None).ok()?;
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect();
        (!cpus.is_empty()).then_some(cpus)
    }

    /// Restricts the calling thread to `cpus`.
    pub fn pin_to(cpus: &[usize]) -> std::io::Result<()> {
        let mut set = CpuSet::new();
        for &cpu in cpus {
            set.set(cpu);
        }
        sched_setaffinity(None, &set).map_err(std::io::Error::from)
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) mod pinning {
    pub fn usable_cpus() -> Option<Vec<usize>> {
        None
    }

    pub fn pin_to(_: &[usize]) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_goes_to_the_worker_on_its_receiving_cpu() {
        assert_eq!(choose(Some(1), &[3, 3], 0), 1);
        assert_eq!(choose(Some(0), &[4, 3], 7), 0);
        // Up to twice the least busy worker's connections, plus the slack.
        assert_eq!(choose(Some(0), &[8, 3], 0), 0);
        assert_eq!(choose(Some(0), &[2, 0], 0), 0);
    }

    #[test]
    fn one_receiving_cpu_cannot_load_one_worker_with_everything() {
        assert_eq!(choose(Some(0), &[9, 3], 0), 1);
        assert_eq!(choose(Some(0), &[3, 0], 0), 1);
        // Every connection received on CPU 0: the load still spreads, about two to one.
        let mut loads = [0usize; 2];
        for turn in 0..300 {
            let w = choose(Some(0), &loads, turn);
            loads[w] += 1;
        }
        assert!(loads[1] >= 90 && loads[0] <= 210, "{loads:?}");
    }

    #[test]
    fn without_a_receiving_cpu_connections_go_round_and_fill_the_least_busy() {
        assert_eq!(choose(None, &[0, 0, 0], 4), 1);
        assert_eq!(choose(Some(9), &[0, 0], 1), 1, "a CPU with no worker");
        assert_eq!(choose(None, &[3, 0], 2), 1);
    }

    fn placement(loads: &[usize]) -> Placement {
        Placement {
            runtimes: Vec::new(),
            loads: loads.iter().map(|&n| AtomicUsize::new(n)).collect(),
            by_cpu: vec![Some(0), None, Some(1)],
            next: AtomicUsize::new(0),
        }
    }

    #[test]
    fn a_connection_moves_to_the_worker_on_the_cpu_its_packets_now_arrive_on() {
        // Worker 0 is on CPU 0, worker 1 on CPU 2; CPU 1 has none.
        assert_eq!(placement(&[8, 8]).better_worker(0, 2), Some(1));
        assert_eq!(placement(&[8, 8]).better_worker(1, 0), Some(0));
        assert_eq!(
            placement(&[8, 8]).better_worker(0, 0),
            None,
            "already there"
        );
        assert_eq!(
            placement(&[8, 8]).better_worker(0, 1),
            None,
            "no worker there"
        );
        assert_eq!(
            placement(&[8, 8]).better_worker(0, 9),
            None,
            "an unknown CPU"
        );
    }

    #[test]
    fn a_connection_does_not_move_to_a_worker_that_would_serve_more_than_its_share() {
        // Counting the mover as gone, [3, 9]: worker 1 already serves more than 2 * 3 + SLACK.
        assert_eq!(placement(&[4, 9]).better_worker(0, 2), None);
        assert_eq!(placement(&[5, 9]).better_worker(0, 2), Some(1));
        assert_eq!(placement(&[1, 0]).better_worker(0, 2), Some(1));
    }

    #[tokio::test]
    async fn workers_serve_a_connection_on_their_own_runtime() {
        let workers = Workers::start().unwrap();
        assert!(workers.placement().count() >= 1);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.unwrap();
            let mut buf = [0u8; 5];
            tokio::io::AsyncReadExt::read_exact(&mut stream, &mut buf)
                .await
                .unwrap();
            buf
        });
        let (stream, _) = listener.accept().await.unwrap();
        let (done, finished) = oneshot::channel();
        workers
            .placement()
            .serve(stream, move |mut stream, _worker| async move {
                let name = std::thread::current().name().map(str::to_string);
                tokio::io::AsyncWriteExt::write_all(&mut stream, b"hello")
                    .await
                    .unwrap();
                let _ = done.send(name);
            })
            .unwrap();
        assert_eq!(&client.await.unwrap(), b"hello");
        let thread = finished.await.unwrap().unwrap_or_default();
        assert!(thread.starts_with("worker-"), "served on {thread}");
        let load = || workers.placement().loads().iter().sum::<usize>();
        for _ in 0..100 {
            if load() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(load(), 0, "a finished connection is no longer counted");
    }
}
