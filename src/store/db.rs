//! The sled handle: kept off a full disk, and opened again after a failure.
//!
//! sled does not survive running out of space well: after a failed write it
//! keeps the error and fails every later write, and the flush it runs when
//! its last handle is dropped can wait forever for a buffer that will never
//! be written, holding a process-wide lock that every later batch needs. So:
//!
//! - **Space**: before each write round the writer checks the free space of
//!   the data directory's file system; below `store.min_free_mib` nothing is
//!   written ([`Failing::Space`]), the changes wait in memory, and writing
//!   resumes by itself once space is back. sled never sees the full disk.
//! - **Other write errors** (an I/O error, a read-only file system, a full
//!   disk that came too fast for the check): [`Failing::Error`].
//!   [`Handle::reopen`] (called by the writer, paced) first proves that the
//!   directory takes a write again, then sets the failed handle aside
//!   without dropping it (never closed, so its flush never runs; its cache
//!   stays allocated), releases its lock on the files and opens them anew:
//!   sled recovers them up to the last complete flush. What had not been
//!   flushed is written again by its owner (the scheduler keeps a failed
//!   job's alerts and messages; the notify workers deliver from their last
//!   flushed position), so nothing promised is lost.

use parking_lot::{Mutex, RwLock};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Result, StoreError};

/// How long a reopen waits for other clones of the old handle (an
/// iterator being read) before releasing its lock anyway.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// What a reopen writes first, to see that the disk takes writes again.
const PROBE_BYTES: usize = 1 << 20;
const PROBE_FILE: &str = "space-probe";

/// Why the store does not write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failing {
    /// Less free space than the configured minimum: writing waits.
    Space(String),
    /// A write failed: the handle must be opened anew.
    Error(String),
}

impl Failing {
    pub(crate) fn reason(&self) -> &str {
        match self {
            Failing::Space(reason) | Failing::Error(reason) => reason,
        }
    }
}

pub(super) struct Handle {
    path: PathBuf,
    cache_bytes: u64,
    /// Free bytes below which nothing is written (0: no check).
    pub(crate) min_free: u64,
    /// None only between setting the old handle aside and opening the new
    /// one (or while that open fails).
    db: RwLock<Option<sled::Db>>,
    failing: Mutex<Option<Failing>>,
    /// Every write holds it shared; a backup holds it alone, so that what
    /// it copies is one moment's store (batches are atomic, so that is a
    /// state the store was in).
    gate: RwLock<()>,
}

impl Handle {
    pub(crate) fn open(path: &Path, cache_bytes: u64) -> Result<Handle> {
        let db = open_db(path, cache_bytes)?;
        Ok(Handle {
            path: path.to_owned(),
            cache_bytes,
            min_free: 0,
            db: RwLock::new(Some(db)),
            failing: Mutex::new(None),
            gate: RwLock::new(()),
        })
    }

    /// The data directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `bytes` more fit on the data directory's disk and still
    /// leave `store.min_free_mib` free (true when that cannot be told).
    pub(crate) fn has_room_for(&self, bytes: u64) -> bool {
        free_bytes(&self.path).map_or(true, |free| free >= bytes.saturating_add(self.min_free))
    }

    /// Runs `op` with no write in progress and none starting until it is
    /// done (writers wait: keep it short).
    pub(crate) fn quiet<T>(&self, op: impl FnOnce(&sled::Db) -> T) -> Result<T> {
        let _alone = self.gate.write();
        Ok(op(&self.get()?))
    }

    /// The open database (a cheap clone; iterators taken from it keep it
    /// open until they are dropped).
    pub(crate) fn get(&self) -> Result<sled::Db> {
        self.db.read().clone().ok_or(StoreError::Closed)
    }

    /// Runs a write, if the disk has room for it (see [`Handle::check_space`]);
    /// a failure marks the store as failing until a reopen.
    pub(crate) fn write<T>(&self, op: impl FnOnce(&sled::Db) -> sled::Result<T>) -> Result<T> {
        self.check_space()?;
        self.run(op)
    }

    /// Makes what sled holds durable. Not refused for space: what it writes
    /// was accepted before the disk filled (the margin is for it).
    pub(crate) fn flush(&self) -> Result<()> {
        self.run(|db| db.flush()).map(drop)
    }

    /// Runs an operation that writes; a failure marks the store as failing.
    fn run<T>(&self, op: impl FnOnce(&sled::Db) -> sled::Result<T>) -> Result<T> {
        let _shared = self.gate.read();
        let result = op(&self.get()?);
        if let Err(err) = &result {
            let mut failing = self.lock_failing();
            if !matches!(*failing, Some(Failing::Error(_))) {
                *failing = Some(Failing::Error(err.to_string()));
            }
        }
        Ok(result?)
    }

    /// Why writes fail or wait, if they do.
    pub(crate) fn failing(&self) -> Option<Failing> {
        self.lock_failing().clone()
    }

    fn lock_failing(&self) -> parking_lot::MutexGuard<'_, Option<Failing>> {
        self.failing.lock()
    }

    /// Checks the free space before writing: an error (and the store
    /// failing) below the minimum, and the store no longer failing for
    /// space once there is enough again.
    pub(crate) fn check_space(&self) -> Result<()> {
        if self.min_free == 0 {
            return Ok(());
        }
        let free = match free_bytes(&self.path) {
            Ok(free) => free,
            // Not knowing is no reason to stop writing.
            Err(_) => return Ok(()),
        };
        let mut failing = self.lock_failing();
        if free < self.min_free {
            let reason = format!(
                "only {} MiB free on the data directory's disk, less than store.min_free_mib = {}",
                free >> 20,
                self.min_free >> 20
            );
            if !matches!(*failing, Some(Failing::Error(_))) {
                *failing = Some(Failing::Space(reason.clone()));
            }
            return Err(StoreError::Failing(reason));
        }
        if matches!(*failing, Some(Failing::Space(_))) {
            *failing = None;
        }
        Ok(())
    }

    /// Opens the files anew once the data directory takes a write again.
    /// Meanwhile reads and writes fail with [`StoreError::Closed`]. On
    /// success the store is no longer failing.
    pub(crate) fn reopen(&self) -> Result<()> {
        probe_directory(&self.path).map_err(|err| StoreError::Sled(sled::Error::Io(err)))?;
        if let Some(old) = self.db.write().take() {
            // Never closed: see the module's documentation.
            std::mem::forget(old);
        }
        let deadline = Instant::now() + LOCK_WAIT;
        let mut unlocked = false;
        let opened = loop {
            match open_db(&self.path, self.cache_bytes) {
                Err(StoreError::InUse(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(StoreError::InUse(_)) if !unlocked => {
                    unlock_files(&self.path);
                    unlocked = true;
                }
                opened => break opened?,
            }
        };
        // The marker write proves the new handle writes and flushes.
        opened.insert([super::META, b'r'], &[][..])?;
        opened.flush()?;
        *self.db.write() = Some(opened);
        *self.lock_failing() = None;
        Ok(())
    }
}

fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db> {
    sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .flush_every_ms(None)
        .open()
        .map_err(|err| match err {
            // sled takes an exclusive lock on its files.
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("lock") =>
            {
                StoreError::InUse(path.display().to_string())
            }
            err => StoreError::Sled(err),
        })
}

/// Bytes an unprivileged writer may still use on `dir`'s file system.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stat` is written by the call
    // before it is read, which happens only on success.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        stat.assume_init()
    };
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// Writes, syncs and removes a file of [`PROBE_BYTES`] in `dir`.
fn probe_directory(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(PROBE_FILE);
    let written = (|| {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&vec![0; PROBE_BYTES])?;
        file.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    written?;
    match removed {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Releases this process's locks on sled's lock file in `dir` (`db`): the
/// descriptors of the handle set aside, which is never closed.
fn unlock_files(dir: &Path) {
    let Ok(lock_file) = dir.join("db").canonicalize() else {
        return;
    };
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in fds.flatten() {
        if std::fs::read_link(entry.path()).ok().as_ref() != Some(&lock_file) {
            continue;
        }
        if let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            // SAFETY: flock on a descriptor number only changes its lock;
            // one closed meanwhile makes it fail with EBADF.
            unsafe {
                libc::flock(fd, libc::LOCK_UN);
            }
        }
    }
}
