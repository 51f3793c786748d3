//! The manifest of a backup archive: what the archive must hold, file by file, so that a restore
//! can tell a complete, intact archive from a damaged or truncated one.

use serde::{Deserialize, Serialize};
use std::io::Read;

/// Archive entry that holds the manifest. Written last (its hashes are known only once every
/// file has been streamed into the archive) and read into memory on restore.
pub const MANIFEST_NAME: &str = "manifest.json";
/// `format` of every qws backup manifest.
pub const FORMAT: &str = "qws-backup";
/// The manifest layout this build writes and reads.
pub const VERSION: u32 = 1;
/// Largest manifest a restore reads (a bound on memory, far above any real file list).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// What a backup holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Manifest layout, [`VERSION`].
    pub version: u32,
    /// Version of the qws that wrote the backup.
    pub qws_version: String,
    /// When the backup started (RFC 3339, UTC).
    pub created_at: String,
    /// Every file in the archive except the manifest, in archive order.
    pub files: Vec<FileEntry>,
}

/// One file of a backup, by its path relative to the data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative path with `/` separators.
    pub path: String,
    /// Length in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// A reader that hashes and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    digest: ring::digest::Context,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            count: 0,
        }
    }

    /// Bytes read and their SHA-256 (hex).
    pub fn finish(self) -> (u64, String) {
        (self.count, hex::encode(self.digest.finish().as_ref()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
