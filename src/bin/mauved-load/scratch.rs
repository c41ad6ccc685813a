//! What the tool needs besides sockets: a scratch directory for the daemons
//! it starts, and HTTP requests made from its threads, on the daemon's own
//! dependencies (no blocking client or temporary-file crate of its own).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A directory under the system's temporary one, removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new() -> Result<ScratchDir, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("mauved-load-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(ScratchDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Keeps the directory (to be read after the tool ends): its path.
    pub fn keep(self) -> PathBuf {
        let path = self.0.clone();
        std::mem::forget(self);
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP client for one thread: requests are answered in full (status
/// and body) before the call returns.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Client {
    pub fn new(timeout: Duration) -> Result<Client, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client { runtime, client })
    }

    /// Starts a request (`client.post(url)…`).
    pub fn request(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends it: the status and the body.
    pub fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, String), reqwest::Error> {
        self.runtime.block_on(async {
            let answer = request.send().await?;
            let status = answer.status().as_u16();
            Ok((status, answer.text().await?))
        })
    }
}
