//! The change signal of an SQLite store: a small file beside the database that every process
//! sharing the store reads with one `pread` to learn whether anything was committed since.
//!
//! Layout: four little-endian u64 at offsets 0, 8, 16, 24: `begun`, `begun ^ CHECK`,
//! `ended`, `ended ^ CHECK`. A writer, holding SQLite's write lock, increments `begun`
//! before it commits and sets `ended` to that value after. So:
//! - a valid token (`begun == ended`) means every commit begun so far has ended: what a
//!   transaction reads after seeing token `t` is the state at `t` for as long as the token
//!   stays `t`;
//! - while a commit is in flight, or if a writer died between its commit and its `ended`,
//!   the token is absent and nothing is served from a cache (safe, only slower) until the
//!   next writer opens the store ([`ChangeFile::repair`]);
//! - a torn read (the two fields are written separately) fails its check and counts as
//!   absent, too.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gatehouse_types::sharded::Sharded;

const CHECK: u64 = 0x6761_7465_686f_7573;

pub(crate) struct ChangeFile {
    file: File,
    path: PathBuf,
    /// Each thread group reads the token through a descriptor of its own: reads through one
    /// shared descriptor would each write its reference count, from every CPU.
    readers: Sharded<OnceLock<Option<File>>>,
}

impl ChangeFile {
    /// Opens the file, creating it (at a fresh starting value, so that a recreated file can
    /// never repeat a token some process still caches under) if it does not exist.
    pub(crate) fn open_or_create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let this = ChangeFile::new(file, path);
        if this.file.metadata()?.len() < 32 {
            let start = starting_value();
            this.write_field(0, start)?;
            this.write_field(16, start)?;
        }
        Ok(this)
    }

    /// Opens an existing file read-only, if there is one.
    #[cfg(test)]
    pub(crate) fn open_existing(path: &Path) -> io::Result<Option<Self>> {
        match File::open(path) {
            Ok(file) => Ok(Some(ChangeFile::new(file, path))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn new(file: File, path: &Path) -> Self {
        ChangeFile {
            file,
            path: path.to_path_buf(),
            readers: Sharded::default(),
        }
    }

    fn read_field(&self, offset: u64) -> Option<u64> {
        let mut buf = [0u8; 16];
        self.file.read_exact_at(&mut buf, offset).ok()?;
        field(&buf)
    }

    fn write_field(&self, offset: u64, value: u64) -> io::Result<()> {
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&value.to_le_bytes());
        buf[8..].copy_from_slice(&(value ^ CHECK).to_le_bytes());
        self.file.write_all_at(&buf, offset)
    }

    /// The current token: `Some` only when no commit is in flight. One read of both fields.
    pub(crate) fn token(&self) -> Option<u64> {
        let mut buf = [0u8; 32];
        let reader = self
            .readers
            .local()
            .get_or_init(|| File::open(&self.path).ok())
            .as_ref()
            .unwrap_or(&self.file);
        reader.read_exact_at(&mut buf, 0).ok()?;
        let (begun, ended) = buf.split_at(16);
        let (begun, ended) = (field(begun)?, field(ended)?);
        (begun == ended).then_some(begun)
    }

    /// Announces a commit; call holding the store's write lock, before committing.
    pub(crate) fn begin(&self) -> io::Result<u64> {
        let next = self
            .read_field(0)
            .unwrap_or_else(starting_value)
            .wrapping_add(1);
        self.write_field(0, next)?;
        Ok(next)
    }

    /// Marks the commit announced as `begun` done (whether or not it succeeded).
    pub(crate) fn end(&self, begun: u64) -> io::Result<()> {
        self.write_field(16, begun)
    }

    /// After a writer died between a commit and its `end`: call holding the write lock.
    pub(crate) fn repair(&self) -> io::Result<()> {
        match (self.read_field(0), self.read_field(16)) {
            (Some(begun), Some(ended)) if begun == ended => Ok(()),
            (Some(begun), _) => self.end(begun),
            (None, _) => {
                let start = starting_value();
                self.write_field(0, start)?;
                self.end(start)
            }
        }
    }
}

/// A field's value, if its check holds.
fn field(bytes: &[u8]) -> Option<u64> {
    let value = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let check = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    (value ^ CHECK == check).then_some(value)
}

/// A starting value unlikely to have been used before: the clock's nanoseconds mixed with
/// the process id, kept below 2^62 so that increments never wrap.
fn starting_value() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    mixed & ((1 << 62) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_in_flight_has_no_token_and_a_finished_one_a_new_token() {
        let dir = std::env::temp_dir().join(format!("gatehouse-changes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("changes");
        let _ = std::fs::remove_file(&path);
        let writer = ChangeFile::open_or_create(&path).unwrap();
        let reader = ChangeFile::open_existing(&path).unwrap().unwrap();
        let before = reader.token().unwrap();
        let begun = writer.begin().unwrap();
        assert_eq!(reader.token(), None, "in flight");
        writer.end(begun).unwrap();
        let after = reader.token().unwrap();
        assert_ne!(after, before);
        // A writer that died after its commit, before its end:
        writer.begin().unwrap();
        assert_eq!(reader.token(), None);
        writer.repair().unwrap();
        assert!(reader.token().is_some_and(|t| t != after));
        // A torn field fails its check.
        writer.file.write_all_at(&[1, 2, 3], 16).unwrap();
        assert_eq!(reader.token(), None);
        writer.repair().unwrap();
        assert!(reader.token().is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
