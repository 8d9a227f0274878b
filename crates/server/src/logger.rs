//! A minimal logger for the `log` facade: one line per record on standard error.
//! Secrets never reach it: they are `SecretKey`s, which print as `***`.
//!
//! Lines are written by a thread of their own, in batches: the access log writes a line per
//! request, and a write system call (or a wake-up of a waiting writer) per request would cost
//! more than the request. The writer wakes every few milliseconds and writes what has queued.
//! Each thread group queues into a queue of its own ([`Sharded`]), so loggers on different
//! CPUs never touch the same queue; within a batch, lines are grouped by queue. The queues are
//! bounded, so a slow standard error slows requests down rather than growing memory; `flush`
//! (called before the process exits) waits until every line is out.

use std::io::Write as _;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use gatehouse_types::sharded::Sharded;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Lines waiting in one queue before its loggers have to wait.
const QUEUE: usize = 4_096;
/// How often the writer looks for lines: the most a line waits.
const BATCH_INTERVAL: Duration = Duration::from_millis(10);

enum Message {
    Line(String),
    Flush(SyncSender<()>),
}

struct StderrLogger {
    level: LevelFilter,
    queues: Sharded<SyncSender<Message>>,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                Level::Error => "ERROR",
                Level::Warn => "WARN",
                Level::Info => "INFO",
                Level::Debug => "DEBUG",
                Level::Trace => "TRACE",
            };
            let line = format!("{level} {}: {}\n", record.target(), record.args());
            if let Err(unsent) = self.queues.local().send(Message::Line(line)) {
                // The writer is gone (it never panics, so only at exit): write directly.
                if let Message::Line(line) = unsent.0 {
                    let _ = std::io::stderr().write_all(line.as_bytes());
                }
            }
        }
    }

    fn flush(&self) {
        let (done, wait) = sync_channel(1);
        if self.queues.local().send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// Writes what has queued every `BATCH_INTERVAL`, in one write. Loggers never wake it (it is
/// never blocked on a queue), so logging a line costs no system call. Standard error is
/// locked only while a batch is written: others (`eprintln!`) may write between batches.
/// A flush is answered once the batch that drained every queue after it is written.
fn write_lines(queues: Vec<Receiver<Message>>) {
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        std::thread::sleep(BATCH_INTERVAL);
        let mut acks = Vec::new();
        let mut disconnected = false;
        for queue in &queues {
            loop {
                match queue.try_recv() {
                    Ok(Message::Line(line)) => batch.extend_from_slice(line.as_bytes()),
                    Ok(Message::Flush(ack)) => acks.push(ack),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
        }
        if !batch.is_empty() {
            let _ = std::io::stderr().lock().write_all(&batch);
            batch.clear();
        }
        for ack in acks {
            let _ = ack.send(());
        }
        if disconnected {
            return;
        }
    }
}

/// Installs the logger at the level named by `GATEHOUSE_LOG` (default `info`).
pub fn init(level: Option<&str>) {
    let level = match level.map(str::to_ascii_lowercase).as_deref() {
        Some("error") => LevelFilter::Error,
        Some("warn") => LevelFilter::Warn,
        Some("debug") => LevelFilter::Debug,
        Some("trace") => LevelFilter::Trace,
        Some("off") => LevelFilter::Off,
        _ => LevelFilter::Info,
    };
    let mut receivers = Vec::new();
    let queues = Sharded::new(|| {
        let (queue, lines) = sync_channel(QUEUE);
        receivers.push(lines);
        queue
    });
    let started = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(receivers));
    if started.is_err() {
        eprintln!("gatehouse: cannot start the log writer; logging is off");
        return;
    }
    if log::set_boxed_logger(Box::new(StderrLogger { level, queues })).is_ok() {
        log::set_max_level(level);
    }
}
