//! The data directory: private to its owner, and served by one qws server at a time.
//!
//! Two servers on one directory would each reset the other's executing jobs at start-up and then
//! both simulate them, so [`prepare`] takes an exclusive advisory lock (`flock`) on
//! `DATA_DIR/lock` and holds it for as long as the returned [`DataDirLock`] lives. The file
//! holds the owner's process id, which the refusal names. A lock dies with its process, so a
//! crashed server never leaves the directory locked.

use anyhow::{bail, Context};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The lock file in the data directory.
pub const LOCK_FILE: &str = "lock";

/// Proof that this process owns the data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    // Held open: closing the file is what releases the lock.
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// `DATA_DIR/lock`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates the data directory if needed, makes it 0700 (also when it already existed, e.g.
/// created by hand with a looser umask), and locks it for this server.
pub fn prepare(dir: &Path) -> anyhow::Result<DataDirLock> {
    create_private(dir)?;
    lock(dir)
}

fn create_private(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("reading data directory {}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(
                || format!("making data directory {} private (0700)", dir.display()),
            )?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn lock(dir: &Path) -> anyhow::Result<DataDirLock> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;

    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // flock (not fcntl) locks belong to the open file, so a second server in the same process
    // (as in tests) is refused as well.
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut owner = String::new();
            let _ = (&file).take(64).read_to_string(&mut owner);
            let owner = owner.trim();
            let who = if !owner.is_empty() && owner.bytes().all(|b| b.is_ascii_digit()) {
                format!("another qws server (pid {owner})")
            } else {
                "another qws server".to_string()
            };
            bail!(
                "the data directory {} is in use by {who}. Two servers on one directory would both run its jobs; stop that server or pass another --data-dir.",
                dir.display()
            );
        }
        return Err(err).with_context(|| format!("locking {}", path.display()));
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()?;
    Ok(DataDirLock { _file: file, path })
}

#[cfg(not(unix))]
fn lock(dir: &Path) -> anyhow::Result<DataDirLock> {
    // No advisory lock here: the directory is only created and opened.
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(DataDirLock { _file: file, path })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn existing_directory_becomes_private() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let lock = prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(lock.path()), 0o600);
    }

    #[test]
    fn second_lock_is_refused_with_the_owner_pid_until_released() {
        let d = tempfile::tempdir().unwrap();
        let first = prepare(d.path()).unwrap();
        let err = prepare(d.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains("in use"),
            "{err}"
        );
        drop(first);
        prepare(d.path()).expect("free again once the owner is gone");
    }
}
