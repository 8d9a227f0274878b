//! Starts real `gatehouse` processes for black-box tests.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this harness"
)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test harness: a failure must stop the test loudly"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const ROOT_KEY_ID: &str = "AKIAGATEHOUSETESTROOT";
pub const ROOT_SECRET: &str = "gatehouse/test/root/secret/0123456789abc";
pub const ACCOUNT: &str = "123456789012";

pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub data_dir: PathBuf,
}

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

pub fn fresh_data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-e2e-{name}-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl Server {
    pub fn start(name: &str) -> Server {
        Server::start_in(&fresh_data_dir(name))
    }

    pub fn start_in(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[], &[])
    }

    /// A server with more `serve` arguments and environment (a PostgreSQL store, say).
    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .envs(env.iter().copied())
            .env("GATEHOUSE_ACCOUNT_ID", ACCOUNT)
            .env("GATEHOUSE_ROOT_ACCESS_KEY_ID", ROOT_KEY_ID)
            .env("GATEHOUSE_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("GATEHOUSE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gatehouse");
        let stdout = child.stdout.take().expect("stdout");
        let started = Instant::now();
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?} to start",
            started.elapsed()
        );
        let endpoint = line
            .trim()
            .strip_prefix("gatehouse listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server {
            child: Some(child),
            endpoint,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A client of one SDK crate (`aws_sdk_iam`, `aws_sdk_sts`) for the server at `endpoint`,
/// signing with a key, or with temporary credentials and their session token.
macro_rules! sdk_client {
    ($sdk:ident, $endpoint:expr, $key_id:expr, $secret:expr, $session_token:expr) => {{
        let credentials = aws_credential_types::Credentials::new(
            $key_id,
            $secret,
            $session_token.map(str::to_string),
            None,
            "gatehouse-test",
        );
        let config = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("us-east-1"))
            .endpoint_url($endpoint)
            .credentials_provider(credentials)
            .build();
        $sdk::Client::from_conf(config)
    }};
}

pub fn iam_client(endpoint: &str, key_id: &str, secret: &str) -> aws_sdk_iam::Client {
    iam_session_client(endpoint, key_id, secret, None)
}

pub fn iam_session_client(
    endpoint: &str,
    key_id: &str,
    secret: &str,
    session_token: Option<&str>,
) -> aws_sdk_iam::Client {
    sdk_client!(aws_sdk_iam, endpoint, key_id, secret, session_token)
}

pub fn sts_client(endpoint: &str, key_id: &str, secret: &str) -> aws_sdk_sts::Client {
    sts_session_client(endpoint, key_id, secret, None)
}

pub fn sts_session_client(
    endpoint: &str,
    key_id: &str,
    secret: &str,
    session_token: Option<&str>,
) -> aws_sdk_sts::Client {
    sdk_client!(aws_sdk_sts, endpoint, key_id, secret, session_token)
}
