//! Start-up: the data directory, the master key, the store, and the root user's key.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatehouse_core::{Gatehouse, MasterKey, MasterKeys, RootKeyInit, VOLATILE_TABLES};
use gatehouse_store::{CachedStore, PostgresStore, SqliteStore, Store};
use gatehouse_types::{AccountId, SecretKey, Timestamp};

pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";
const DATABASE_FILE: &str = "gatehouse.db";
const MASTER_KEY_FILE: &str = "master.key";
const ROOT_CREDENTIALS_FILE: &str = "root-credentials";

/// What the environment configures (read once, in `main`).
pub struct Environment {
    /// `GATEHOUSE_STORE_URL`: a PostgreSQL URL, for many nodes on one database.
    pub store_url: Option<String>,
    pub account_id: Option<String>,
    pub root_access_key_id: Option<String>,
    pub root_secret_access_key: Option<SecretKey>,
    pub master_key: Option<SecretKey>,
    /// `GATEHOUSE_MASTER_KEY_NEXT`: the key a rotation moves to (see `master_keys` in core).
    pub next_master_key: Option<SecretKey>,
    /// `GATEHOUSE_ENCODE_AUTHORIZATION_MESSAGES=true`: denials carry an encoded message that
    /// `sts:DecodeAuthorizationMessage` opens.
    pub encode_authorization_messages: bool,
}

impl Environment {
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Environment {
            store_url: var("GATEHOUSE_STORE_URL"),
            account_id: var("GATEHOUSE_ACCOUNT_ID"),
            root_access_key_id: var("GATEHOUSE_ROOT_ACCESS_KEY_ID"),
            root_secret_access_key: var("GATEHOUSE_ROOT_SECRET_ACCESS_KEY").map(SecretKey::new),
            master_key: var("GATEHOUSE_MASTER_KEY").map(SecretKey::new),
            next_master_key: var("GATEHOUSE_MASTER_KEY_NEXT").map(SecretKey::new),
            encode_authorization_messages: var("GATEHOUSE_ENCODE_AUTHORIZATION_MESSAGES")
                .is_some_and(|v| v == "true" || v == "1"),
        }
    }
}

pub struct Opened {
    pub gatehouse: Arc<Gatehouse>,
    /// Whether the store is reached over the network (its calls must not run on an async
    /// worker thread).
    pub remote_store: bool,
}

/// Whether a store URL names PostgreSQL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the data directory, creating what a first start needs.
pub fn open(data_dir: &Path, env: &Environment, now: Timestamp) -> Result<Opened, String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            )
        })?;
    let db_path = data_dir.join(DATABASE_FILE);
    let postgres = env.store_url.as_deref().filter(|url| is_postgres(url));
    if let Some(url) = &env.store_url
        && postgres.is_none()
    {
        return Err(format!(
            "unsupported store '{url}': give a postgres:// URL, or none for the embedded store"
        ));
    }
    // Every node of a shared database must be given the same master key: none is made up.
    let master_key = master_key(data_dir, env, db_path.exists(), postgres.is_none()).map_err(
        |e| match postgres {
            Some(_) => format!(
                "{e}: with PostgreSQL every node is given the master key (GATEHOUSE_MASTER_KEY, \
                 or DATA_DIR/master.key); make one with `openssl rand -hex 32`"
            ),
            None => e,
        },
    )?;
    let root_key = match (&env.root_access_key_id, &env.root_secret_access_key) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        (None, None) => None,
        _ => {
            return Err("set both GATEHOUSE_ROOT_ACCESS_KEY_ID and GATEHOUSE_ROOT_SECRET_ACCESS_KEY, or neither".into());
        }
    };
    let store: Arc<dyn Store> = match postgres {
        Some(url) => {
            let pg = PostgresStore::open(url)
                .map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?
                .with_volatile_tables(VOLATILE_TABLES);
            Arc::new(CachedStore::new(pg, VOLATILE_TABLES))
        }
        None => {
            let sqlite = SqliteStore::open(&db_path)
                .map_err(|e| format!("cannot open {}: {e}", db_path.display()))?
                .with_volatile_tables(VOLATILE_TABLES);
            Arc::new(CachedStore::new(sqlite, VOLATILE_TABLES))
        }
    };
    let account = account_id(env, store.as_ref())?;
    let mut gatehouse = Gatehouse::new(store, account, master_key, root_key);
    gatehouse.encode_authorization_messages(env.encode_authorization_messages);
    let gatehouse = Arc::new(gatehouse);
    // Before anything is sealed or created: a wrong master key or account id is refused.
    gatehouse.prepare_store().map_err(|e| e.to_string())?;
    match gatehouse
        .init_account(now)
        .map_err(|e| format!("cannot set up the root user's key: {}", e.message))?
    {
        RootKeyInit::Configured | RootKeyInit::Existing => {}
        RootKeyInit::Generated {
            access_key_id,
            secret,
        } => {
            let path = data_dir.join(ROOT_CREDENTIALS_FILE);
            write_private(
                &path,
                &format!(
                    "[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {}\n",
                    secret.expose()
                ),
            )?;
            log::info!(
                "generated the root user's access key {access_key_id}; its secret is in {}",
                path.display()
            );
        }
    }
    Ok(Opened {
        gatehouse,
        remote_store: postgres.is_some(),
    })
}

/// The account: `GATEHOUSE_ACCOUNT_ID` if set (refused later if the store was created for
/// another), else the store's own, else the default for a new store.
fn account_id(env: &Environment, store: &dyn Store) -> Result<AccountId, String> {
    if let Some(id) = &env.account_id {
        return AccountId::parse(id).map_err(|e| format!("GATEHOUSE_ACCOUNT_ID: {e}"));
    }
    let stored = gatehouse_core::stored_default_account(store).map_err(|e| e.to_string())?;
    AccountId::parse(stored.as_deref().unwrap_or(DEFAULT_ACCOUNT_ID))
        .map_err(|e| format!("the store's account id: {e}"))
}

/// The master keys: the current one (see `current_master_key`) and, during a rotation,
/// `GATEHOUSE_MASTER_KEY_NEXT`.
fn master_key(
    data_dir: &Path,
    env: &Environment,
    database_exists: bool,
    create_if_missing: bool,
) -> Result<MasterKeys, String> {
    let current = current_master_key(data_dir, env, database_exists, create_if_missing)?;
    let next = env
        .next_master_key
        .as_ref()
        .map(|hex| {
            MasterKey::from_hex(hex.expose()).map_err(|e| format!("GATEHOUSE_MASTER_KEY_NEXT: {e}"))
        })
        .transpose()?;
    if next.as_ref().is_some_and(|n| n.id() == current.id()) {
        return Err("GATEHOUSE_MASTER_KEY_NEXT is the current master key".into());
    }
    Ok(MasterKeys::new(current, next))
}

/// The master key comes from `GATEHOUSE_MASTER_KEY` or the key file, created on first start.
/// A database without its key file is refused: a new key could not open the stored secrets.
fn current_master_key(
    data_dir: &Path,
    env: &Environment,
    database_exists: bool,
    create_if_missing: bool,
) -> Result<MasterKey, String> {
    if let Some(hex) = &env.master_key {
        return MasterKey::from_hex(hex.expose()).map_err(|e| format!("GATEHOUSE_MASTER_KEY: {e}"));
    }
    let path = data_dir.join(MASTER_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            refuse_if_shared(&path)?;
            MasterKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create_if_missing {
                return Err(format!("{} is missing", path.display()));
            }
            if database_exists {
                return Err(format!(
                    "{} is missing, but the database exists: without its master key the stored secrets \
                     cannot be read (set GATEHOUSE_MASTER_KEY or restore the file)",
                    path.display()
                ));
            }
            let key = MasterKey::generate()
                .map_err(|e| format!("no randomness for the master key: {e}"))?;
            write_private(&path, &key.to_hex())?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// A key file that others can read is no secret: refuse it, as ssh refuses such a key.
fn refuse_if_shared(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} has permissions {:04o}: the master key must be readable by its owner only \
             (chmod 600 it)",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

/// Writes a new file readable by its owner only (mode 0600), durably.
fn write_private(path: &PathBuf, contents: &str) -> Result<(), String> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// How an administrative command opens an existing store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// Migrations run if pending; changes are written.
    Writable,
    /// Nothing migrated or written (`store check`).
    ReadOnly,
}

/// The store an administrative command works on: PostgreSQL when a URL is given, else the
/// data directory's database, which must exist.
fn existing_store(
    data_dir: &Path,
    env: &Environment,
    opening: Opening,
) -> Result<Arc<dyn Store>, String> {
    match env.store_url.as_deref() {
        Some(url) if is_postgres(url) => {
            let opened = match opening {
                Opening::Writable => PostgresStore::open(url),
                Opening::ReadOnly => PostgresStore::open_existing(url),
            };
            let store = opened.map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?;
            Ok(Arc::new(store.with_volatile_tables(VOLATILE_TABLES)))
        }
        Some(url) => Err(format!("unsupported store '{url}'")),
        None => {
            let db_path = data_dir.join(DATABASE_FILE);
            if !db_path.exists() {
                return Err(format!("no database at {}", db_path.display()));
            }
            let opened = match opening {
                Opening::Writable => SqliteStore::open(&db_path),
                Opening::ReadOnly => SqliteStore::open_read_only(&db_path),
            };
            let store = opened.map_err(|e| format!("cannot open {}: {e}", db_path.display()))?;
            Ok(Arc::new(store.with_volatile_tables(VOLATILE_TABLES)))
        }
    }
}

/// Opens an existing store for an administrative command, with the checks `serve` makes
/// (master key, account id); creates nothing.
pub fn open_existing(data_dir: &Path, env: &Environment) -> Result<Arc<Gatehouse>, String> {
    let store = existing_store(data_dir, env, Opening::Writable)?;
    let master_key = master_key(data_dir, env, true, false)?;
    let account = account_id(env, store.as_ref())?;
    let gatehouse = Gatehouse::new(store, account, master_key, None);
    gatehouse.verify_store().map_err(|e| e.to_string())?;
    Ok(Arc::new(gatehouse))
}

/// `gatehouse store migrate`: copies the embedded store of `from_dir` (it may be serving: the
/// copy is one snapshot) into the empty PostgreSQL database at `to_url`, then checks the copy
/// row for row and, with the same master key, as a Gatehouse store. Returns the rows copied.
pub fn migrate_store(from_dir: &Path, to_url: &str, env: &Environment) -> Result<usize, String> {
    if !is_postgres(to_url) {
        return Err(format!("--to must be a postgres:// URL, not '{to_url}'"));
    }
    let db_path = from_dir.join(DATABASE_FILE);
    if !db_path.exists() {
        return Err(format!("no database at {}", db_path.display()));
    }
    let master_key = || master_key(from_dir, env, true, false);
    let source: Arc<dyn Store> = Arc::new(
        SqliteStore::open_read_only(&db_path)
            .map_err(|e| format!("cannot open {}: {e}", db_path.display()))?,
    );
    let account = account_id(env, source.as_ref())?;
    Gatehouse::new(source.clone(), account.clone(), master_key()?, None)
        .verify_store()
        .map_err(|e| format!("the source: {e}"))?;
    let target: Arc<dyn Store> = Arc::new(
        PostgresStore::open(to_url)
            .map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?,
    );
    let copied = gatehouse_store::copy(source.as_ref(), target.as_ref())
        .map_err(|e| format!("the copy failed: {e}"))?;
    let copy = Gatehouse::new(target, account, master_key()?, None);
    copy.verify_store().map_err(|e| format!("the copy: {e}"))?;
    let problems = copy
        .check_consistency()
        .map_err(|e| format!("the copy: {e}"))?;
    if !problems.is_empty() {
        return Err(format!(
            "the copy is not consistent:\n{}",
            problems.join("\n")
        ));
    }
    Ok(copied)
}

/// `gatehouse store backup`: a consistent copy of the embedded store, taken while it serves.
/// The master key is not in it: keep `master.key` (or the key) with the backups, apart.
pub fn backup_store(data_dir: &Path, to: &Path) -> Result<(), String> {
    let db_path = data_dir.join(DATABASE_FILE);
    if !db_path.exists() {
        return Err(format!("no database at {}", db_path.display()));
    }
    let store = SqliteStore::open_read_only(&db_path)
        .map_err(|e| format!("cannot open {}: {e}", db_path.display()))?;
    store
        .backup_to(to)
        .map_err(|e| format!("cannot write the backup: {e}"))?;
    // The backup must be a sound database before anyone relies on it.
    SqliteStore::open_read_only(to)
        .and_then(|b| b.check_integrity())
        .map_err(|e| format!("the backup at {} does not check: {e}", to.display()))
}

/// `gatehouse store restore`: a backup becomes the store of a new data directory, checked
/// against the master key it must be opened with (given as for `serve`).
pub fn restore_store(backup: &Path, data_dir: &Path, env: &Environment) -> Result<(), String> {
    let db_path = data_dir.join(DATABASE_FILE);
    if db_path.exists() {
        return Err(format!(
            "{} exists: restore into a new data directory, then serve from it",
            db_path.display()
        ));
    }
    SqliteStore::open_read_only(backup)
        .and_then(|b| b.check_integrity())
        .map_err(|e| format!("{} is not a sound Gatehouse backup: {e}", backup.display()))?;
    let master_key = master_key(data_dir, env, true, false)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    fs::copy(backup, &db_path).map_err(|e| format!("cannot copy the backup: {e}"))?;
    let opened = SqliteStore::open(&db_path)
        .map_err(|e| format!("cannot open the restored store: {e}"))
        .and_then(|store| {
            let store: Arc<dyn Store> = Arc::new(store.with_volatile_tables(VOLATILE_TABLES));
            let account = account_id(env, store.as_ref())?;
            Gatehouse::new(store, account, master_key, None)
                .verify_store()
                .map_err(|e| e.to_string())
        });
    if let Err(e) = opened {
        // Nothing half-restored is left to serve from.
        let _ = fs::remove_file(&db_path);
        let _ = fs::remove_file(data_dir.join(format!("{DATABASE_FILE}-changes")));
        return Err(format!(
            "the backup does not open with this master key and account: {e}"
        ));
    }
    Ok(())
}

/// `gatehouse store check`: the backend's integrity check, then the entities' consistency.
/// It opens the store read-only and creates nothing: no directory, key, account or file.
pub fn check(data_dir: &Path, env: &Environment) -> Result<(), String> {
    let store = existing_store(data_dir, env, Opening::ReadOnly)?;
    let master_key = master_key(data_dir, env, true, false)?;
    let account = account_id(env, store.as_ref())?;
    let gatehouse = Gatehouse::new(store.clone(), account, master_key, None);
    gatehouse.verify_store().map_err(|e| e.to_string())?;
    store.check_integrity().map_err(|e| e.to_string())?;
    let problems = gatehouse.check_consistency().map_err(|e| e.to_string())?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
