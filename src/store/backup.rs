//! A store copied whole into one file, and a file put back as a store:
//! `mauved backup` (through a running station) and `mauved restore`.
//!
//! The copy is taken with every write held back ([`super::db::Handle::quiet`]):
//! the store's writes are atomic batches, so the copy is a state the store
//! was in, with its alerts, acknowledgements, history, queues and sessions
//! together. It is written to a file beside the data (the disk, not a
//! client, sets how long writes wait), then handed out.
//!
//! The file: `MAUVEDB1`, the store's layout (u32, big-endian), then each key
//! and value as a u32 length and its bytes, then a u32 of all ones and the
//! count of entries (u64) so that a cut file is told from a whole one.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::{Result, Store, StoreError};

const MAGIC: &[u8; 8] = b"MAUVEDB1";
const END: u32 = u32::MAX;

/// Why a file could not be put back.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a mauved backup (it does not start with {MAGIC:?})")]
    NotABackup,
    #[error("the backup is cut short (no end mark): take it again")]
    Truncated,
    #[error("the backup holds layout {found}; this mauved knows layouts up to {known}: restore it with that newer mauved")]
    Newer { found: u32, known: u32 },
    #[error(
        "{0} is not empty: restore into a new data directory (store.path), the daemon stopped"
    )]
    NotEmpty(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Where a backup is written before it is handed out: in the data
    /// directory, on the store's own disk; a name of its own for each, so
    /// that two backups at once never write one file.
    pub(crate) fn backup_file(&self) -> std::path::PathBuf {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.db.path().join(format!("backup-{n}.partial"))
    }

    /// Copies the whole store into `file` (created or replaced), writes
    /// held back meanwhile; the count of entries.
    pub fn back_up(&self, file: &Path) -> Result<u64> {
        // The copy is about the store's size: it must not fill the disk the
        // store itself needs (`store.min_free_mib` is kept).
        let size = self.db.get()?.size_on_disk()?;
        if !self.db.has_room_for(size) {
            return Err(StoreError::Failing(format!(
                "no room for a backup of about {} MiB on the data directory's disk (store.min_free_mib kept)",
                size >> 20
            )));
        }
        let layout = super::upgrade::FORMAT;
        let written = self.db.quiet(|db| -> std::io::Result<u64> {
            let mut out = BufWriter::new(std::fs::File::create(file)?);
            out.write_all(MAGIC)?;
            out.write_all(&layout.to_be_bytes())?;
            let mut count = 0u64;
            for entry in db.iter() {
                let (key, value) = entry.map_err(std::io::Error::other)?;
                for part in [&key[..], &value[..]] {
                    let len = u32::try_from(part.len()).map_err(std::io::Error::other)?;
                    out.write_all(&len.to_be_bytes())?;
                    out.write_all(part)?;
                }
                count += 1;
            }
            out.write_all(&END.to_be_bytes())?;
            out.write_all(&count.to_be_bytes())?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok(count)
        })?;
        written
            .map_err(|err| StoreError::Failing(format!("the backup could not be written: {err}")))
    }
}

/// Puts the backup `from` into a new store at `data` (missing or an empty
/// directory); the count of entries.
pub fn restore(from: &Path, data: &Path) -> std::result::Result<u64, RestoreError> {
    if data.exists() && std::fs::read_dir(data)?.next().is_some() {
        return Err(RestoreError::NotEmpty(data.display().to_string()));
    }
    let mut input = BufReader::new(std::fs::File::open(from)?);
    let mut magic = [0u8; 8];
    input
        .read_exact(&mut magic)
        .map_err(|_| RestoreError::NotABackup)?;
    if &magic != MAGIC {
        return Err(RestoreError::NotABackup);
    }
    let found = read_u32(&mut input)?;
    if found > super::upgrade::FORMAT {
        return Err(RestoreError::Newer {
            found,
            known: super::upgrade::FORMAT,
        });
    }
    let db = sled::Config::new()
        .path(data)
        .open()
        .map_err(StoreError::from)?;
    let mut count = 0u64;
    let mut batch = sled::Batch::default();
    loop {
        let len = read_u32(&mut input)?;
        if len == END {
            break;
        }
        let key = read_exact(&mut input, len)?;
        let len = read_u32(&mut input)?;
        let value = read_exact(&mut input, len)?;
        batch.insert(key, value);
        count += 1;
        if count.is_multiple_of(10_000) {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(StoreError::from)?;
        }
    }
    let mut said = [0u8; 8];
    input
        .read_exact(&mut said)
        .map_err(|_| RestoreError::Truncated)?;
    if u64::from_be_bytes(said) != count {
        return Err(RestoreError::Truncated);
    }
    db.apply_batch(batch).map_err(StoreError::from)?;
    db.flush().map_err(StoreError::from)?;
    Ok(count)
}

fn read_u32(input: &mut impl Read) -> std::result::Result<u32, RestoreError> {
    let mut bytes = [0u8; 4];
    input
        .read_exact(&mut bytes)
        .map_err(|_| RestoreError::Truncated)?;
    Ok(u32::from_be_bytes(bytes))
}

/// `len` bytes, read in pieces (a corrupt length must not allocate 4 GB
/// before the file runs out).
fn read_exact(input: &mut impl Read, len: u32) -> std::result::Result<Vec<u8>, RestoreError> {
    let mut out = Vec::new();
    let taken = input.take(u64::from(len)).read_to_end(&mut out)?;
    if taken != len as usize {
        return Err(RestoreError::Truncated);
    }
    Ok(out)
}
