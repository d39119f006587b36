//! The optional state file (`--state-file`): a JSON snapshot of the world and the clock
//! offset, written shortly after each change (debounced) and on shutdown, read at start.
//! Queued webhook deliveries, faults and the delivery log are not kept.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::state::World;
use crate::Error;

/// Format version of the state file.
pub const STATE_VERSION: u32 = 1;

#[derive(Serialize)]
struct SnapshotOut<'a> {
    version: u32,
    clock_offset_ms: i64,
    world: &'a World,
}

/// A loaded state file.
#[derive(Debug, Deserialize)]
pub struct Snapshot {
    /// Format version.
    pub version: u32,
    /// The clock offset when it was written.
    #[serde(default)]
    pub clock_offset_ms: i64,
    /// The data.
    pub world: World,
    /// A hash of the file's bytes: a `--seed` run restored from this file draws its ids from
    /// the seed and this (see `Emulator::new`).
    #[serde(skip)]
    pub fingerprint: u64,
}

/// Reads a state file; `Ok(None)` when it does not exist yet.
pub fn load(path: &Path) -> Result<Option<Snapshot>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading state file {}", path.display()), e)),
    };
    let mut snap: Snapshot =
        serde_json::from_slice(&bytes).map_err(|source| Error::StateFile { path: path.to_owned(), source })?;
    if snap.version != STATE_VERSION {
        return Err(Error::Config(format!(
            "state file {} has version {}, this kipp reads version {STATE_VERSION}",
            path.display(),
            snap.version
        )));
    }
    snap.world.reindex();
    snap.fingerprint = fnv1a(&bytes);
    Ok(Some(snap))
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Encodes a snapshot.
pub fn encode(world: &World, clock_offset_ms: i64) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&SnapshotOut { version: STATE_VERSION, clock_offset_ms, world })
}

/// Writes bytes atomically (temporary file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("renaming to {}", path.display()), e))
}

/// Tracks whether the state changed since the last write.
#[derive(Debug)]
pub struct Persister {
    /// The file.
    pub path: PathBuf,
    dirty: AtomicBool,
    /// Woken on each change.
    pub notify: Notify,
    /// Held while writing: the background writer and the shutdown's last write would otherwise
    /// share the temporary file.
    pub writing: std::sync::Mutex<()>,
}

impl Persister {
    /// A persister for `path`.
    #[must_use]
    pub fn new(path: PathBuf) -> Self {
        Self { path, dirty: AtomicBool::new(false), notify: Notify::new(), writing: std::sync::Mutex::new(()) }
    }

    /// Records a change.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// True (once) if there was a change since the last call.
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }

    /// Marks the state as still unwritten after a failed write, without waking the writer (the
    /// next change, or the shutdown, tries again rather than a loop of failing writes).
    pub fn still_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }
}
