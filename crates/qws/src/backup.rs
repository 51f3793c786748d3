//! `qws backup` and `qws restore`: an online snapshot of a data directory in one tar archive
//! (gzip-compressed when the file name ends in `.gz` or `.tgz`), and its restore into a new
//! directory.
//!
//! The snapshot is consistent while a server runs: the database is copied with SQLite's online
//! backup API in a single step, which reads one snapshot of the database (in WAL mode writers go
//! on meanwhile), so every job whose PUT was answered before the backup started is in it (the
//! job store commits with `synchronous = FULL` before answering). Blob files (job inputs,
//! outputs, attachments) are copied afterwards: a blob is written to a temporary file and renamed
//! into place, so an open file never changes under the copy, and every blob the database
//! snapshot refers to already exists. Temporary uploads and containers being deleted are left out.
//!
//! Secrets in the database stay sealed under the master key, which is *not* copied (nor the TLS
//! private keys, nor `bootstrap.json`, which the server rewrites from the database at start-up).

mod manifest;
mod restore;

use anyhow::{bail, Context};
use manifest::{FileEntry, HashingReader, Manifest, FORMAT, MANIFEST_NAME, VERSION};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use restore::{run_restore, RestoreArgs};

/// The blob store's directory in the data directory.
const BLOBS_DIR: &str = "blobs";
/// Directories of the blob store that hold unfinished work, never a committed blob, by their
/// depth below `blobs/`: containers being deleted (`blobs/.trash`) and uploads in progress
/// (`blobs/<workspace>/<container>/tmp`).
const BLOB_SCRATCH_DIRS: &[(usize, &str)] = &[(1, ".trash"), (3, "tmp")];
/// Audit log files start with this name (the live log and any rotated ones).
const AUDIT_PREFIX: &str = "audit.log";

/// Arguments of `qws backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Data directory to back up (may be in use by a running server).
    #[arg(long, env = "QWS_DATA_DIR", default_value = "./.qws")]
    pub data_dir: PathBuf,
    /// Archive to write (must not exist); a name ending in .gz or .tgz is gzip-compressed.
    #[arg(long)]
    pub out: PathBuf,
}

/// `qws backup`.
pub fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    let summary = create(&args.data_dir, &args.out)?;
    println!(
        "wrote {} ({} files, {} bytes of data)",
        args.out.display(),
        summary.files,
        summary.bytes
    );
    println!(
        "The master key is not in the backup: keep {} (or the QWS_MASTER_KEY value the server runs with) separately; the backup cannot be restored to a working server without it.",
        args.data_dir.join(qws_store::crypto::MASTER_KEY_FILE).display()
    );
    Ok(())
}

/// What a backup wrote.
#[derive(Debug)]
pub struct Summary {
    /// Files in the archive (without the manifest).
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
}

/// Writes the backup of `data_dir` to `out` (through `out.partial`, renamed when complete).
pub fn create(data_dir: &Path, out: &Path) -> anyhow::Result<Summary> {
    let db = data_dir.join(qws_store::DB_FILE);
    if !db.is_file() && uses_another_database(data_dir) {
        bail!(
            "{} has no {}: its server keeps its database in PostgreSQL (qws serve --database), \
             which qws backup cannot copy. Back up that database with PostgreSQL's own tools \
             (pg_dump), and the job data with its store's (the blobs directory, the shared \
             directory of --blob-backend dir:PATH, or the Azure Storage account)",
            data_dir.display(),
            qws_store::DB_FILE
        );
    }
    if !db.is_file() {
        bail!(
            "{} is not a qws data directory (it has no {})",
            data_dir.display(),
            qws_store::DB_FILE
        );
    }
    if out.exists() {
        bail!("{} already exists; choose a new file name", out.display());
    }
    let created_at = qws_core::time_fmt::arm_precise(time::OffsetDateTime::now_utc());
    let partial = sibling(out, ".partial");
    let db_copy = sibling(out, ".db.partial");
    let _cleanup = Cleanup(vec![
        partial.clone(),
        db_copy.clone(),
        sibling(&db_copy, "-wal"),
        sibling(&db_copy, "-shm"),
        sibling(&db_copy, "-journal"),
    ]);

    snapshot_database(&db, &db_copy)?;

    let file = qws_store::crypto::create_private_file(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let sink = if is_gzip_name(out) {
        Sink::Gzip(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ))
    } else {
        Sink::Plain(file)
    };
    let mut tar = tar::Builder::new(sink);
    let mut files = Vec::new();

    let f = File::open(&db_copy).with_context(|| format!("reading {}", db_copy.display()))?;
    let len = f.metadata()?.len();
    files.push(append_file(&mut tar, qws_store::DB_FILE, f, len)?);

    for (name, mut f) in open_audit_logs(data_dir)? {
        let len = complete_lines_len(&mut f)?;
        files.push(append_file(&mut tar, &name, f, len)?);
    }

    let blobs = data_dir.join(BLOBS_DIR);
    if blobs.is_dir() {
        add_blob_tree(&mut tar, &blobs, BLOBS_DIR, 1, &mut files)?;
    }

    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        qws_version: env!("CARGO_PKG_VERSION").into(),
        created_at,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    let mut header = file_header(json.len() as u64);
    tar.append_data(&mut header, MANIFEST_NAME, json.as_slice())?;
    tar.into_inner()?
        .finish()
        .context("writing the archive")?
        .sync_all()?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))?;
    Ok(Summary {
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.size).sum(),
    })
}

/// The archive file, plain or compressed.
enum Sink {
    Plain(File),
    Gzip(flate2::write::GzEncoder<File>),
}

impl Sink {
    /// Writes what is buffered (for gzip: the last block and the trailer, whose write error
    /// dropping the encoder would swallow) and returns the file.
    fn finish(self) -> std::io::Result<File> {
        match self {
            Sink::Plain(mut f) => f.flush().map(|()| f),
            Sink::Gzip(g) => g.finish(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(f) => f.write(buf),
            Sink::Gzip(g) => g.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(f) => f.flush(),
            Sink::Gzip(g) => g.flush(),
        }
    }
}

/// Whether `data_dir` belongs to a server that ran without the SQLite database in it: the
/// files every server writes there are present, so its database lives elsewhere (a data
/// directory never started has neither).
fn uses_another_database(data_dir: &Path) -> bool {
    data_dir
        .join(qws_server::bootstrap::BOOTSTRAP_FILE)
        .is_file()
        || data_dir.join(qws_store::crypto::MASTER_KEY_FILE).is_file()
}

/// Copies the live database into `dest` through SQLite's online backup API.
fn snapshot_database(db: &Path, dest: &Path) -> anyhow::Result<()> {
    use rusqlite::{backup::StepResult, Connection, OpenFlags};
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", db.display()))?;
    src.busy_timeout(std::time::Duration::from_secs(5))?;
    qws_store::crypto::create_private_file(dest)
        .with_context(|| format!("creating {}", dest.display()))?;
    let mut dst = Connection::open(dest)?;
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
        // All pages in one step: one read snapshot of the source. Smaller steps would restart
        // whenever the server writes between them, which under load may be forever.
        loop {
            match backup.step(-1).context("copying the database")? {
                StepResult::Done => break,
                StepResult::More => {}
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }
    // One self-contained file: the copy inherits WAL mode from the source's header.
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        bail!("the database copy failed its integrity check: {check}");
    }
    dst.close().map_err(|(_, e)| e)?;
    Ok(())
}

/// The audit log and its rotated files, opened, by name. The server may rotate the log (rename
/// every file one number up) while they are opened one by one, which could leave a file out
/// and take another twice; so the names are checked to still be the files opened, and the
/// whole set is opened again when a rotation came in between (rotations are far apart).
fn open_audit_logs(data_dir: &Path) -> anyhow::Result<Vec<(String, File)>> {
    let mut last_err = None;
    for _ in 0..5 {
        let mut opened = Vec::new();
        for (name, path) in audit_logs(data_dir)? {
            match File::open(&path) {
                Ok(f) => opened.push((name, path, f)),
                // Renamed away between the listing and the open: a rotation.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    last_err = Some(e);
                    opened.clear();
                    break;
                }
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            }
        }
        if opened.is_empty() && last_err.is_some() {
            continue;
        }
        let listed_again = audit_logs(data_dir)?;
        let same_names = listed_again.len() == opened.len();
        if same_names && opened.iter().all(|(_, path, f)| same_file(path, f)) {
            return Ok(opened.into_iter().map(|(n, _, f)| (n, f)).collect());
        }
    }
    anyhow::bail!(
        "the audit log kept rotating while it was being copied{}",
        last_err.map(|e| format!(" ({e})")).unwrap_or_default()
    )
}

/// Whether `path` still names the open file `f`.
fn same_file(path: &Path, f: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), f.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, f);
        true
    }
}

/// The audit log and its rotated files, by name, in name order.
fn audit_logs(data_dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data_dir)
        .with_context(|| format!("reading data directory {}", data_dir.display()))?
    {
        let e = e?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if name.starts_with(AUDIT_PREFIX) && e.file_type()?.is_file() {
            out.push((name, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Length of the file up to and including its last newline: a line being appended while the
/// backup runs is left out whole instead of cut.
fn complete_lines_len(f: &mut File) -> anyhow::Result<u64> {
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            f.seek(SeekFrom::Start(0))?;
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(0)
}

fn add_blob_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    rel: &str,
    depth: usize,
    files: &mut Vec<FileEntry>,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.collect::<Result<_, _>>()?,
        // A container deleted while the backup runs.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let path = e.path();
        let child = format!("{rel}/{name}");
        let kind = e.file_type()?;
        if kind.is_dir() {
            if !BLOB_SCRATCH_DIRS.contains(&(depth, name.as_str())) {
                add_blob_tree(tar, &path, &child, depth + 1, files)?;
            }
        } else if kind.is_file() {
            let f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            let len = f.metadata()?.len();
            files.push(append_file(tar, &child, f, len)?);
        }
    }
    Ok(())
}

/// Streams the first `len` bytes of `f` into the archive as `name`, hashing them.
fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    f: File,
    len: u64,
) -> anyhow::Result<FileEntry> {
    let mut reader = HashingReader::new(f.take(len));
    let mut header = file_header(len);
    tar.append_data(&mut header, name, &mut reader)
        .with_context(|| format!("adding {name} to the archive"))?;
    let (size, sha256) = reader.finish();
    if size != len {
        // The tar entry's header promised `len` bytes; the archive would be unreadable.
        bail!("{name} shrank while it was being copied; run the backup again");
    }
    Ok(FileEntry {
        path: name.to_string(),
        size,
        sha256,
    })
}

fn file_header(len: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(len);
    h.set_mode(0o600);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    h
}

fn is_gzip_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".gz") || name.ends_with(".tgz")
}

fn sibling(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Removes the listed temporary files when the backup ends, successfully or not.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
