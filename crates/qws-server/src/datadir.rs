//! The data directory: private to its owner, and served by one qws server at a time, unless
//! every server on it shares it on purpose (`--shared-data-dir`, several nodes on one machine).
//!
//! A server that does not expect others would be surprised by them (and an older one would
//! reset their executing jobs), so [`prepare`] takes an exclusive advisory lock (`flock`) on
//! `DATA_DIR/lock` and holds it for as long as the returned [`DataDirLock`] lives. The file
//! holds the owner's process id, which the refusal names. A lock dies with its process, so a
//! crashed server never leaves the directory locked.
//!
//! [`prepare_shared`] takes a shared lock instead: any number of sharing nodes, but no
//! exclusive user (a server without the flag, or `qws restore`). Sharing nodes run jobs
//! through leases (see [`crate::scheduler`]), so none resets another's jobs. They start one at
//! a time: each holds `DATA_DIR/start.lock` exclusively until [`DataDirLock::started`], so
//! migrations, the first start's bootstrap and the TLS files are made once.

use anyhow::{bail, Context};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The lock file in the data directory.
pub const LOCK_FILE: &str = "lock";

/// The file sharing nodes hold while they start.
pub const START_LOCK_FILE: &str = "start.lock";

/// Proof that this process owns the data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    // Held open: closing the file is what releases the lock.
    _file: File,
    path: PathBuf,
    /// Held while a sharing node starts.
    starting: Option<File>,
}

impl DataDirLock {
    /// `DATA_DIR/lock`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The server has started: the next sharing node may start.
    pub fn started(&mut self) {
        self.starting = None;
    }
}

/// Like [`prepare`], for one of several nodes sharing the directory: waits while another
/// sharing node starts, then takes a shared lock (refused while a server that does not share
/// the directory, or a restore, holds it).
pub fn prepare_shared(dir: &Path) -> anyhow::Result<DataDirLock> {
    create_private(dir)?;
    let starting = open_lock_file(&dir.join(START_LOCK_FILE))?;
    flock(&starting, true, true).with_context(|| format!("waiting for {}", START_LOCK_FILE))?;
    let path = dir.join(LOCK_FILE);
    let file = open_lock_file(&path)?;
    match flock(&file, false, false) {
        Ok(true) => {}
        Ok(false) => bail!(
            "the data directory {} is in use by a qws server that does not share it (or a restore). Start every node with --shared-data-dir.",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("locking {}", path.display())),
    }
    Ok(DataDirLock {
        _file: file,
        path,
        starting: Some(starting),
    })
}

fn open_lock_file(path: &Path) -> anyhow::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// `flock`s a file, exclusive or shared, waiting or not; `Ok(false)`: held by another.
#[cfg(unix)]
fn flock(file: &File, exclusive: bool, wait: bool) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let mut op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    loop {
        // SAFETY: flock on a descriptor the caller owns; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err),
        }
    }
}

#[cfg(not(unix))]
fn flock(_file: &File, _exclusive: bool, _wait: bool) -> std::io::Result<bool> {
    Ok(true)
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
                "the data directory {} is in use by {who}. Stop that server, pass another --data-dir, or start every node with --shared-data-dir to run several nodes on it.",
                dir.display()
            );
        }
        return Err(err).with_context(|| format!("locking {}", path.display()));
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()?;
    Ok(DataDirLock {
        _file: file,
        path,
        starting: None,
    })
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
    Ok(DataDirLock {
        _file: file,
        path,
        starting: None,
    })
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

    #[test]
    fn sharing_nodes_exclude_servers_that_do_not_share() {
        let d = tempfile::tempdir().unwrap();
        let mut a = prepare_shared(d.path()).unwrap();
        a.started();
        let mut b = prepare_shared(d.path()).expect("a second sharing node");
        b.started();
        let err = prepare(d.path()).unwrap_err().to_string();
        assert!(err.contains("in use"), "{err}");
        drop((a, b));
        let alone = prepare(d.path()).unwrap();
        let err = prepare_shared(d.path()).unwrap_err().to_string();
        assert!(err.contains("--shared-data-dir"), "{err}");
        drop(alone);
    }
}
