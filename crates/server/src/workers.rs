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

pub struct Workers {
    workers: Vec<Worker>,
    /// The worker pinned on each CPU, by CPU number (`None`: no worker there, or not pinned).
    by_cpu: Vec<Option<usize>>,
    next: AtomicUsize,
}

struct Worker {
    runtime: Handle,
    /// Connections being served.
    load: Arc<AtomicUsize>,
    /// Taken when `Workers` is dropped: the worker's runtime then stops.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Workers {
    /// Stops every worker and waits for it: what its connections held (the app, and with it
    /// the store's connections) is released before the process goes on to exit.
    fn drop(&mut self) {
        for worker in &mut self.workers {
            worker.stop.take();
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Ends a connection's count on its worker, however the connection ends.
struct Serving(Arc<AtomicUsize>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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
        let mut workers = Vec::with_capacity(plan.len());
        let mut by_cpu = Vec::new();
        for (index, cpu) in plan.into_iter().enumerate() {
            workers.push(Worker::start(index, cpu, cpus.clone())?);
            if let Some(cpu) = cpu {
                if by_cpu.len() <= cpu {
                    by_cpu.resize(cpu + 1, None);
                }
                by_cpu[cpu] = Some(index);
            }
        }
        Ok(Workers {
            workers,
            by_cpu,
            next: AtomicUsize::new(0),
        })
    }

    pub fn count(&self) -> usize {
        self.workers.len()
    }

    pub fn pinned(&self) -> bool {
        self.by_cpu.iter().any(Option::is_some)
    }

    /// Serves `stream` on the worker of the CPU that received it: `serve` runs there with the
    /// stream registered on that worker's runtime.
    pub fn serve<F, Fut>(&self, stream: TcpStream, serve: F) -> std::io::Result<()>
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let incoming = socket2::SockRef::from(&stream)
            .cpu_affinity()
            .ok()
            .and_then(|cpu| self.by_cpu.get(cpu).copied().flatten());
        let loads: Vec<usize> = self
            .workers
            .iter()
            .map(|w| w.load.load(Ordering::Relaxed))
            .collect();
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let worker = &self.workers[choose(incoming, &loads, turn)];
        // The stream moves to the worker's runtime: out of this one's reactor, into that one's.
        let stream = stream.into_std()?;
        worker.load.fetch_add(1, Ordering::Relaxed);
        let serving = Serving(worker.load.clone());
        worker.runtime.spawn(async move {
            let _serving = serving;
            match TcpStream::from_std(stream) {
                Ok(stream) => serve(stream).await,
                Err(e) => log::warn!("cannot serve a connection: {e}"),
            }
        });
        Ok(())
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

impl Worker {
    fn start(index: usize, cpu: Option<usize>, all: Option<Vec<usize>>) -> Result<Worker, String> {
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
        Ok(Worker {
            runtime,
            load: Arc::new(AtomicUsize::new(0)),
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

#[cfg(target_os = "linux")]
mod pinning {
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
mod pinning {
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

    #[tokio::test]
    async fn workers_serve_a_connection_on_their_own_runtime() {
        let workers = Workers::start().unwrap();
        assert!(workers.count() >= 1);
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
            .serve(stream, move |mut stream| async move {
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
        let load = || {
            workers
                .workers
                .iter()
                .map(|w| w.load.load(Ordering::Relaxed))
                .sum::<usize>()
        };
        for _ in 0..100 {
            if load() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(load(), 0, "a finished connection is no longer counted");
    }
}
