//! `gatehouse`: the server binary and its offline tools.
//!
//! This crate is the only one that binds ports, reads the environment and the clock.

mod connection;
mod http;
mod logger;
mod metrics;
mod policy_cli;
mod serve;
mod setup;
mod workers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_sigv4::SigningKeyCache;

const USAGE: &str = "\
gatehouse: AWS IAM and STS, self-hosted

USAGE:
    gatehouse serve [--listen ADDR:PORT] [--data-dir DIR] [--store postgres://...]
                    [--tls-cert FILE --tls-key FILE]
                    [--header-timeout SECONDS] [--idle-timeout SECONDS] [--max-connections N]
    gatehouse store check [--data-dir DIR] [--store URL]
    gatehouse store migrate --from [sqlite:]DIR --to postgres://...   copy into PostgreSQL
    gatehouse store backup --to FILE [--data-dir DIR]      an online, consistent copy
    gatehouse store restore --from FILE --data-dir NEWDIR  a backup as a new data directory
    gatehouse master-key rotate [--data-dir DIR] [--store URL]
                                re-seal every secret under GATEHOUSE_MASTER_KEY_NEXT (nodes
                                serving meanwhile must have been restarted with both keys)
    gatehouse account create [--id 12-DIGITS] [--alias NAME] [--data-dir DIR] [--store URL]
                                another account, with its own root user: prints its key once
    gatehouse account list [--data-dir DIR] [--store URL]
    gatehouse workload bind --instance-profile NAME [--account ID] [--duration SECONDS]
                           [--data-dir DIR] [--store URL]
                                a workload token for the instance profile's role credentials
                                (printed once; see README, 'Credentials for workloads')
    gatehouse workload list|revoke ID [--data-dir DIR] [--store URL]
    gatehouse account quota [--account ID] [--data-dir DIR] [--store URL]
                                an account's adjustable quotas (default: the server's account)
    gatehouse account quota set NAME VALUE [--account ID] [--data-dir DIR] [--store URL]
                                raise one (as AWS lets accounts)
    gatehouse policy check [--kind KIND] FILE...
    gatehouse policy simulate --policy FILE... --action ACTION --resource ARN [...]
                              (see 'gatehouse policy --help')
    gatehouse --version

serve options:
    --listen ADDR:PORT   where to listen (default 127.0.0.1:4599)
    --data-dir DIR       where state lives (default ./gatehouse-data)
    --store URL          keep the state in PostgreSQL (postgres://user:pass@host:port/db) so that
                         many nodes share it; the master key must then be given to every node
    --tls-cert FILE      serve HTTPS with this PEM certificate chain ...
    --tls-key FILE       ... and this PEM private key
    --header-timeout S   a request's line and headers must arrive within S seconds (default 10)
    --idle-timeout S     a connection idle for S seconds is closed (default 60)
    --max-connections N  connections served at once (default 4096)

environment:
    GATEHOUSE_STORE_URL                 as --store
    GATEHOUSE_ACCOUNT_ID                the account's 12-digit id (default 000000000000)
    GATEHOUSE_ROOT_ACCESS_KEY_ID        the root user's access key id ...
    GATEHOUSE_ROOT_SECRET_ACCESS_KEY    ... and its secret; when unset, one is generated on the
                                        first start and written to DATA_DIR/root-credentials
    GATEHOUSE_MASTER_KEY                64 hex digits that encrypt secrets at rest (default: the
                                        file DATA_DIR/master.key, created on first start)
    GATEHOUSE_MASTER_KEY_NEXT           during a master-key rotation, the new key: secrets
                                        sealed under either key open
    GATEHOUSE_ENCODE_AUTHORIZATION_MESSAGES=true
                                        AccessDenied messages end with an encoded
                                        authorization failure message (AWS's IAM and STS
                                        ones do not) that sts:DecodeAuthorizationMessage opens
    GATEHOUSE_LOG                       error, warn, info (default), debug, trace or off
";

struct Args {
    words: Vec<String>,
}

impl Args {
    /// Takes `--name VALUE` out of the arguments.
    fn option(&mut self, name: &str) -> Result<Option<String>, String> {
        match self.words.iter().position(|w| w == name) {
            Some(i) => {
                self.words.remove(i);
                if i < self.words.len() {
                    Ok(Some(self.words.remove(i)))
                } else {
                    Err(format!("{name} needs a value"))
                }
            }
            None => Ok(None),
        }
    }

    fn finish(self) -> Result<(), String> {
        match self.words.first() {
            Some(extra) => Err(format!("unexpected argument '{extra}'")),
            None => Ok(()),
        }
    }
}

/// See the `mimalloc` feature in Cargo.toml.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut words: Vec<String> = std::env::args().skip(1).collect();
    logger::init(std::env::var("GATEHOUSE_LOG").ok().as_deref());
    if words.first().map(String::as_str) == Some("policy")
        && words.iter().any(|w| w == "--help" || w == "-h")
    {
        print!("{}", policy_cli::USAGE);
        return ExitCode::SUCCESS;
    }
    if words.is_empty()
        || words
            .iter()
            .any(|w| w == "--help" || w == "-h" || w == "help")
    {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if words.first().map(String::as_str) == Some("--version") {
        println!("gatehouse {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let command = words.remove(0);
    let result = match command.as_str() {
        "serve" => serve_command(Args { words }),
        "store" if words.first().map(String::as_str) == Some("check") => {
            words.remove(0);
            store_check_command(Args { words })
        }
        "store" if words.first().map(String::as_str) == Some("backup") => {
            words.remove(0);
            store_backup_command(Args { words })
        }
        "store" if words.first().map(String::as_str) == Some("restore") => {
            words.remove(0);
            store_restore_command(Args { words })
        }
        "store" if words.first().map(String::as_str) == Some("migrate") => {
            words.remove(0);
            store_migrate_command(Args { words })
        }
        "master-key" if words.first().map(String::as_str) == Some("rotate") => {
            words.remove(0);
            rotate_command(Args { words })
        }
        "workload" => workload_command(Args { words }),
        "account" if words.first().map(String::as_str) == Some("create") => {
            words.remove(0);
            account_create_command(Args { words })
        }
        "account" if words.first().map(String::as_str) == Some("list") => {
            words.remove(0);
            account_list_command(Args { words })
        }
        "account" if words.first().map(String::as_str) == Some("quota") => {
            words.remove(0);
            quota_command(Args { words })
        }
        "policy" => match words.first().map(String::as_str) {
            Some("check") => {
                policy_cli::check(words.get(1..).unwrap_or(&[])).map(|out| print!("{out}"))
            }
            Some("simulate") => {
                policy_cli::simulate(words.get(1..).unwrap_or(&[])).map(|out| print!("{out}"))
            }
            _ => Err(format!(
                "expected 'policy check' or 'policy simulate'\n\n{}",
                policy_cli::USAGE
            )),
        },
        other => Err(format!("unknown command '{other}'; see 'gatehouse --help'")),
    };
    // Every log line is out before the exit (and before the error below).
    log::logger().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gatehouse: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The process's environment, with `--store URL` (when given) in place of
/// `GATEHOUSE_STORE_URL`.
fn environment(store_url: Option<String>) -> setup::Environment {
    let mut env = setup::Environment::from_process();
    if store_url.is_some() {
        env.store_url = store_url;
    }
    env
}

fn data_dir(args: &mut Args) -> Result<PathBuf, String> {
    Ok(PathBuf::from(
        args.option("--data-dir")?
            .unwrap_or_else(|| "./gatehouse-data".to_string()),
    ))
}

fn serve_command(mut args: Args) -> Result<(), String> {
    let listen: SocketAddr = args
        .option("--listen")?
        .unwrap_or_else(|| "127.0.0.1:4599".to_string())
        .parse()
        .map_err(|e| format!("--listen: {e}"))?;
    let data_dir = data_dir(&mut args)?;
    let store_url = args.option("--store")?;
    let tls = match (args.option("--tls-cert")?, args.option("--tls-key")?) {
        (Some(cert), Some(key)) => Some(serve::TlsFiles {
            cert: cert.into(),
            key: key.into(),
        }),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let defaults = serve::Limits::default();
    let seconds = |value: Option<String>, name: &str, default: Duration| match value {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{name}: expected a whole number of seconds above 0")),
    };
    let limits = serve::Limits {
        header_timeout: seconds(
            args.option("--header-timeout")?,
            "--header-timeout",
            defaults.header_timeout,
        )?,
        idle_timeout: seconds(
            args.option("--idle-timeout")?,
            "--idle-timeout",
            defaults.idle_timeout,
        )?,
        max_connections: match args.option("--max-connections")? {
            None => defaults.max_connections,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or("--max-connections: expected a whole number above 0")?,
        },
    };
    args.finish()?;
    let env = environment(store_url);
    let opened = setup::open(&data_dir, &env, http::now())?;
    log::info!("data directory {}", data_dir.display());
    let app = Arc::new(http::App {
        gatehouse: opened.gatehouse,
        metrics: metrics::Metrics::new(
            gatehouse_protocol::iam::OPERATIONS
                .iter()
                .chain(gatehouse_protocol::sts::OPERATIONS)
                .copied(),
        ),
        signing_keys: SigningKeyCache::new(),
        tls: tls.is_some(),
        bodies: http::BodyBudget::new(http::MAX_BODY_BYTES_IN_FLIGHT),
        remote_store: opened.remote_store,
        expiry_clock: std::env::var_os("GATEHOUSE_TEST_EXPIRY_CLOCK_FILE").map(PathBuf::from),
    });
    let workers = workers::Workers::start()?;
    // The acceptor (and signal handling) on this thread; connections on the workers'.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve::run(workers, app, listen, tls, limits))
}

/// `gatehouse account quota [set NAME VALUE]`: reads or raises the account's adjustable
/// quotas in an existing store (a running server sees the change on its next request).
fn quota_command(mut args: Args) -> Result<(), String> {
    let data_dir = data_dir(&mut args)?;
    let store_url = args.option("--store")?;
    let account = args.option("--account")?;
    let set = match args.words.first().map(String::as_str) {
        Some("set") => {
            let [_, name, value] = args.words.as_slice() else {
                return Err(
                    "usage: gatehouse account quota set NAME VALUE [--data-dir DIR]".into(),
                );
            };
            let value: u32 = value
                .parse()
                .map_err(|_| format!("{name}: '{value}' is not a whole number"))?;
            let set = Some((name.clone(), value));
            args.words.clear();
            set
        }
        _ => None,
    };
    args.finish()?;
    let env = environment(store_url);
    let gatehouse = setup::open_existing(&data_dir, &env)?;
    let account = account.unwrap_or_else(|| gatehouse.account().to_string());
    if let Some((name, value)) = set {
        gatehouse
            .set_quota(&account, &name, value)
            .map_err(|e| format!("account {account}: {e}"))?;
    }
    for (quota, value) in gatehouse
        .quotas(&account)
        .map_err(|e| format!("account {account}: {e}"))?
    {
        println!(
            "{}\t{value}\t(AWS's default {}, at most {}: {})",
            quota.name, quota.default, quota.max, quota.what
        );
    }
    Ok(())
}

/// `gatehouse workload bind|list|revoke`
fn workload_command(mut args: Args) -> Result<(), String> {
    let data_dir = data_dir(&mut args)?;
    let store_url = args.option("--store")?;
    let profile = args.option("--instance-profile")?;
    let account = args.option("--account")?;
    let duration = args
        .option("--duration")?
        .map(|d| {
            d.parse::<i64>()
                .map_err(|_| format!("--duration: '{d}' is not a number of seconds"))
        })
        .transpose()?;
    let words = std::mem::take(&mut args.words);
    args.finish()?;
    let env = environment(store_url);
    let gatehouse = setup::open_existing(&data_dir, &env)?;
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["bind"] => {
            let profile = profile.ok_or("--instance-profile NAME is required")?;
            let account = account.unwrap_or_else(|| gatehouse.account().to_string());
            let bound = gatehouse.bind_workload(
                &account,
                &profile,
                duration.unwrap_or(3_600),
                http::now(),
            )?;
            println!(
                "bound workload {} to instance profile {profile} of account {account}; its token \
                 (shown only now):\n{}",
                bound.id,
                bound.token.expose()
            );
            Ok(())
        }
        ["list"] => {
            println!("WORKLOAD\tACCOUNT\tINSTANCE PROFILE");
            for (id, account, profile) in gatehouse.workloads()? {
                println!("{id}\t{account}\t{profile}");
            }
            Ok(())
        }
        ["revoke", id] => {
            gatehouse.revoke_workload(id)?;
            println!("revoked workload {id}");
            Ok(())
        }
        _ => {
            Err("usage: gatehouse workload bind --instance-profile NAME | list | revoke ID".into())
        }
    }
}

/// `gatehouse account create`: an account with its own root user, whose key is printed once
/// (in the form of an AWS credentials file's profile).
fn account_create_command(mut args: Args) -> Result<(), String> {
    let data_dir = data_dir(&mut args)?;
    let store_url = args.option("--store")?;
    let id = args
        .option("--id")?
        .map(|id| {
            gatehouse_types::AccountId::parse(&id)
                .map_err(|_| format!("--id: '{id}' is not a 12-digit account id"))
        })
        .transpose()?;
    let alias = args.option("--alias")?;
    args.finish()?;
    let env = environment(store_url);
    let gatehouse = setup::open_existing(&data_dir, &env)?;
    let account = gatehouse.create_account(id, alias.as_deref(), http::now())?;
    println!(
        "created account {}{}; its root user's access key (shown only now):\n[{}]\n\
         aws_access_key_id = {}\naws_secret_access_key = {}",
        account.id,
        account
            .alias
            .as_deref()
            .map(|a| format!(" (alias {a})"))
            .unwrap_or_default(),
        account.id,
        account.access_key_id,
        account.secret.expose()
    );
    Ok(())
}

/// `gatehouse account list`
fn account_list_command(mut args: Args) -> Result<(), String> {
    let data_dir = data_dir(&mut args)?;
    let store_url = args.option("--store")?;
    args.finish()?;
    let env = environment(store_url);
    let gatehouse = setup::open_existing(&data_dir, &env)?;
    println!("ACCOUNT\tALIAS\tCREATED\tUSERS\tROOT KEYS");
    for a in gatehouse.accounts()? {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            a.id,
            a.alias.as_deref().unwrap_or("-"),
            gatehouse_types::format_iso8601(a.created),
            a.users,
            a.root_keys
        );
    }
    Ok(())
}

/// `gatehouse master-key rotate`: phase 2 of a rotation (see `master_keys` in core).
fn rotate_command(mut args: Args) -> Result<(), String> {
    let data_dir = data_dir(&mut args)?;
    let store_url = args.option("--store")?;
    args.finish()?;
    let env = environment(store_url);
    let gatehouse = setup::open_existing(&data_dir, &env)?;
    let rotation = gatehouse.rotate_master_key().map_err(|e| e.to_string())?;
    println!(
        "re-sealed {} rows from master key {} to {} ({} passes); every secret is now sealed \
         under {}.\nRestart every node with GATEHOUSE_MASTER_KEY set to the new key (or put it in \
         DATA_DIR/master.key) and without GATEHOUSE_MASTER_KEY_NEXT: the old key opens nothing now.",
        rotation.resealed, rotation.from, rotation.to, rotation.passes, rotation.to
    );
    Ok(())
}

/// `gatehouse store backup --to FILE [--data-dir DIR]`
fn store_backup_command(mut args: Args) -> Result<(), String> {
    let data_dir = data_dir(&mut args)?;
    let to = args.option("--to")?.ok_or("--to FILE is required")?;
    args.finish()?;
    setup::backup_store(&data_dir, Path::new(&to))?;
    println!("backed up {} to {to}", data_dir.display());
    Ok(())
}

/// `gatehouse store restore --from FILE --data-dir NEWDIR`
fn store_restore_command(mut args: Args) -> Result<(), String> {
    let data_dir = data_dir(&mut args)?;
    let from = args.option("--from")?.ok_or("--from FILE is required")?;
    args.finish()?;
    setup::restore_store(
        Path::new(&from),
        &data_dir,
        &setup::Environment::from_process(),
    )?;
    println!("restored {from} into {}", data_dir.display());
    Ok(())
}

/// `gatehouse store migrate --from DIR --to postgres://…`
fn store_migrate_command(mut args: Args) -> Result<(), String> {
    let from = args
        .option("--from")?
        .ok_or("--from DIR (the data directory of the embedded store) is required")?;
    let to = args
        .option("--to")?
        .ok_or("--to postgres://… (an empty database) is required")?;
    args.finish()?;
    let from = PathBuf::from(from.strip_prefix("sqlite:").unwrap_or(&from));
    let copied = setup::migrate_store(&from, &to, &setup::Environment::from_process())?;
    println!(
        "copied {copied} rows from {} into PostgreSQL and verified the copy",
        from.display()
    );
    Ok(())
}

fn store_check_command(mut args: Args) -> Result<(), String> {
    let data_dir = data_dir(&mut args)?;
    let store_url = args.option("--store")?;
    args.finish()?;
    let env = environment(store_url);
    setup::check(&data_dir, &env)?;
    match &env.store_url {
        Some(_) => println!("the PostgreSQL store is consistent"),
        None => println!("store at {} is consistent", data_dir.display()),
    }
    Ok(())
}
