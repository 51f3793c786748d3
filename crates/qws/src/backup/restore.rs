//! `qws restore`: unpacks a backup archive into a new data directory, checking every file
//! against the manifest before anything is put in place.
//!
//! The archive is unpacked into `NEW/.restore` and verified there (each file's size and SHA-256,
//! no file missing and none extra, the database's own integrity check); only then are the files
//! moved into `NEW`. A damaged archive leaves nothing behind but the empty directory.

use super::manifest::{FileEntry, HashingReader, Manifest, FORMAT, MANIFEST_NAME};
use super::{AUDIT_PREFIX, BLOBS_DIR};
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// Where the archive is unpacked before it is verified.
const STAGING_DIR: &str = ".restore";

/// Arguments of `qws restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// Archive written by `qws backup` (plain or gzip-compressed tar).
    pub file: PathBuf,
    /// Data directory to restore into: must not exist or be empty.
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// `qws restore`.
pub fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    let manifest = restore(&args.file, &args.data_dir)?;
    println!(
        "restored {} files of the backup taken at {} into {}",
        manifest.files.len(),
        manifest.created_at,
        args.data_dir.display()
    );
    println!(
        "Before starting a server on it, put the original master key in place: copy master.key into {} (mode 0600) or set QWS_MASTER_KEY.",
        args.data_dir.display()
    );
    Ok(())
}

/// Restores `archive` into `data_dir` and returns its manifest.
pub fn restore(archive: &Path, data_dir: &Path) -> anyhow::Result<Manifest> {
    let existed = data_dir.exists();
    if existed {
        let mut entries = std::fs::read_dir(data_dir)
            .with_context(|| format!("reading {}", data_dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; restore only into a new or empty directory",
                data_dir.display()
            );
        }
    }
    let input = std::fs::File::open(archive)
        .with_context(|| format!("opening the backup {}", archive.display()))?;
    // Held until the files are in place: no server starts on a half-restored directory.
    let lock = qws_server::datadir::prepare(data_dir)?;
    let staging = data_dir.join(STAGING_DIR);
    let result = unpack_and_verify(input, &staging)
        .map_err(|e| {
            anyhow!(
                "the backup {} is damaged or not a qws backup: {e:#}",
                archive.display()
            )
        })
        .and_then(|manifest| {
            move_into_place(&staging, data_dir, &manifest)?;
            Ok(manifest)
        });
    let _ = std::fs::remove_dir_all(&staging);
    if result.is_err() {
        let lock_path = lock.path().to_path_buf();
        drop(lock);
        let _ = std::fs::remove_file(lock_path);
        if !existed {
            let _ = std::fs::remove_dir(data_dir);
        }
    }
    result
}

fn unpack_and_verify(input: std::fs::File, staging: &Path) -> anyhow::Result<Manifest> {
    private_dir(staging)?;
    let mut reader = BufReader::new(input);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut tar = tar::Archive::new(reader);
    let mut found: BTreeMap<String, FileEntry> = BTreeMap::new();
    let mut manifest: Option<Vec<u8>> = None;
    for entry in tar.entries()? {
        let entry = entry?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let name = checked_name(&entry.path()?)?;
        if !kind.is_file() {
            bail!("{name} is not a regular file");
        }
        if name == MANIFEST_NAME {
            if manifest.is_some() {
                bail!("it has two manifests");
            }
            let mut buf = Vec::new();
            entry
                .take(super::manifest::MAX_MANIFEST_BYTES + 1)
                .read_to_end(&mut buf)?;
            if buf.len() as u64 > super::manifest::MAX_MANIFEST_BYTES {
                bail!("its manifest is too large");
            }
            manifest = Some(buf);
            continue;
        }
        if found.contains_key(&name) {
            bail!("it holds {name} twice");
        }
        let dest = staging.join(&name);
        if let Some(parent) = dest.parent() {
            private_dirs(staging, parent)?;
        }
        let mut out = qws_store::crypto::create_private_file(&dest)
            .with_context(|| format!("creating {}", dest.display()))?;
        let mut reader = HashingReader::new(entry);
        std::io::copy(&mut reader, &mut out).with_context(|| format!("unpacking {name}"))?;
        out.sync_all()?;
        let (size, sha256) = reader.finish();
        found.insert(
            name.clone(),
            FileEntry {
                path: name,
                size,
                sha256,
            },
        );
    }
    let manifest = manifest.ok_or_else(|| anyhow!("it has no {MANIFEST_NAME} (truncated?)"))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest).context("its manifest is not valid")?;
    if manifest.format != FORMAT {
        bail!("its manifest names the format {:?}", manifest.format);
    }
    if manifest.version != super::manifest::VERSION {
        bail!(
            "it was written in backup format version {}, this qws reads version {}",
            manifest.version,
            super::manifest::VERSION
        );
    }
    for want in &manifest.files {
        match found.remove(&want.path) {
            None => bail!("{} is listed in the manifest but missing", want.path),
            Some(got) if got.size != want.size => bail!(
                "{} has {} bytes, the manifest says {}",
                want.path,
                got.size,
                want.size
            ),
            Some(got) if got.sha256 != want.sha256 => {
                bail!("{} does not match its SHA-256 in the manifest", want.path)
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().next() {
        bail!("{extra} is not listed in the manifest");
    }
    check_database(&staging.join(qws_store::DB_FILE))?;
    Ok(manifest)
}

/// The entry's path as a relative `/`-separated name inside the parts of a data directory a
/// backup holds; anything else (absolute paths, `..`, other files) is refused.
fn checked_name(path: &Path) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| anyhow!("an entry name is not UTF-8"))?
                    .to_string(),
            ),
            _ => bail!("the entry {} leaves the data directory", path.display()),
        }
    }
    let name = parts.join("/");
    let allowed = match parts.as_slice() {
        [one] => one == MANIFEST_NAME || one == qws_store::DB_FILE || one.starts_with(AUDIT_PREFIX),
        [first, _, ..] => first == BLOBS_DIR,
        [] => false,
    };
    if !allowed {
        bail!("the entry {name:?} is not part of a qws backup");
    }
    Ok(name)
}

fn check_database(db: &Path) -> anyhow::Result<()> {
    if !db.is_file() {
        bail!("it has no database ({})", qws_store::DB_FILE);
    }
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .context("checking the database")?;
    if check != "ok" {
        bail!("its database fails SQLite's integrity check: {check}");
    }
    Ok(())
}

/// Moves the verified top-level entries from the staging directory into the data directory.
fn move_into_place(staging: &Path, data_dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let tops: std::collections::BTreeSet<&str> = manifest
        .files
        .iter()
        .map(|f| f.path.split('/').next().unwrap_or(""))
        .collect();
    for top in tops {
        let dest = data_dir.join(top);
        if dest.exists() {
            bail!("{} appeared during the restore", dest.display());
        }
        std::fs::rename(staging.join(top), &dest)
            .with_context(|| format!("moving {top} into {}", data_dir.display()))?;
    }
    Ok(())
}

fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    match b.create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(e).with_context(|| format!("creating {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Creates `dir` and its parents below `base` (which exists), each 0700.
fn private_dirs(base: &Path, dir: &Path) -> anyhow::Result<()> {
    let rel = dir.strip_prefix(base).unwrap_or(Path::new(""));
    let mut cur = base.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        private_dir(&cur)?;
    }
    Ok(())
}
