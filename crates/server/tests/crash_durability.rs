//! `kill -9` during a stream of CreateUser calls: every user whose creation was answered 200
//! is there after a restart, and the store passes its integrity check — on the embedded store,
//! and on PostgreSQL where `GATEHOUSE_TEST_POSTGRES_URL` names a test cluster.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ROOT_KEY_ID, ROOT_SECRET, Server, fresh_data_dir, iam_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_writes_survive_kill_9() {
    let dir = fresh_data_dir("crash");
    kill_9_loses_nothing(&dir, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_writes_survive_kill_9_on_postgres() {
    let Ok(base) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL") else {
        eprintln!("GATEHOUSE_TEST_POSTGRES_URL is not set: the PostgreSQL case is skipped");
        return;
    };
    // Unique even when a process id comes again on a cluster that outlives one run.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let database = format!("gatehouse_crash_{}_{nanos}", std::process::id());
    let created = Command::new("psql")
        .args([base.as_str(), "-qc", &format!("CREATE DATABASE {database}")])
        .status()
        .unwrap();
    assert!(created.success());
    let url = format!("{}/{database}", base.rsplit_once('/').unwrap().0);
    let key = "5".repeat(64);
    let dir = fresh_data_dir("crash-pg");
    kill_9_loses_nothing(
        &dir,
        &["--store", url.as_str()],
        &[("GATEHOUSE_MASTER_KEY", key.as_str())],
    )
    .await;
}

#[allow(
    clippy::unwrap_used,
    reason = "the body of the tests above: a failure must abort loudly"
)]
async fn kill_9_loses_nothing(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) {
    let server = Server::start_with(dir, args, env);
    let endpoint = server.endpoint.clone();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();

    let mut writers = Vec::new();
    for writer in 0..4 {
        let iam = iam_client(&endpoint, ROOT_KEY_ID, ROOT_SECRET);
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{writer}-u{i}");
                match iam.create_user().user_name(&name).send().await {
                    Ok(_) => acknowledged.lock().unwrap().push(name),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "only {} writes answered before the kill",
        acknowledged.len()
    );

    let check = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["store", "check", "--data-dir"])
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("GATEHOUSE_ACCOUNT_ID", common::ACCOUNT)
        .env("GATEHOUSE_ROOT_ACCESS_KEY_ID", ROOT_KEY_ID)
        .env("GATEHOUSE_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "store check failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let server = Server::start_with(dir, args, env);
    let iam = iam_client(&server.endpoint, ROOT_KEY_ID, ROOT_SECRET);
    let mut present = std::collections::HashSet::new();
    let mut marker = None;
    loop {
        let page = iam
            .list_users()
            .max_items(1000)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        present.extend(page.users().iter().map(|u| u.user_name().to_string()));
        if !page.is_truncated() {
            break;
        }
        marker = page.marker().map(str::to_string);
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !present.contains(*n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged users lost after kill -9: {lost:?}",
        lost.len()
    );
}
