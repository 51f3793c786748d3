//! A throwaway PostgreSQL cluster for tests: `initdb` into a fresh directory under `/tmp`,
//! a server listening only on a unix socket in that directory, a new database per caller,
//! and the whole cluster stopped and deleted when the test process exits.
//!
//! PostgreSQL refuses to run as root (CI runs as root), so then the cluster runs as the
//! unprivileged user `nobody`, which owns the directory. The binaries are looked up on `PATH`
//! and in `/usr/local/bin`, or in `QWS_TEST_PG_BIN` when set.
//!
//! Tests select PostgreSQL with `QWS_TEST_DATABASE=postgres` ([`wanted`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Whether the tests of this process should run against PostgreSQL.
pub fn wanted() -> bool {
    std::env::var("QWS_TEST_DATABASE").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

/// The database tests should use for data directory `dir`: SQLite in it, or with
/// `QWS_TEST_DATABASE=postgres` the cluster's database that stands for it.
pub fn target_for_dir(dir: &Path) -> super::DbTarget {
    if wanted() {
        super::DbTarget::Postgres(TestCluster::shared().database_for_dir(dir))
    } else {
        super::DbTarget::Sqlite(dir.to_path_buf())
    }
}

/// The cluster of this test process.
pub struct TestCluster {
    dir: PathBuf,
}

const PORT: u16 = 5432;
const SUPERUSER: &str = "qws";
const RUN_AS: &str = "nobody";

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("QWS_TEST_PG_BIN") {
        return Path::new(&dir).join(name);
    }
    let local = Path::new("/usr/local/bin").join(name);
    if local.exists() {
        return local;
    }
    // Debian's packages keep the server binaries out of PATH.
    for v in ["17", "16", "15"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/{name}"));
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// A command for a PostgreSQL binary, run as an unprivileged user when we are root.
fn pg_command(name: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", RUN_AS, "--"]).arg(bin(name));
        c
    } else {
        Command::new(bin(name))
    }
}

fn run(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCluster {
    /// The cluster of this process, started on first use.
    pub fn shared() -> &'static TestCluster {
        static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
        CLUSTER.get_or_init(TestCluster::start)
    }

    fn start() -> TestCluster {
        let nonce: u64 = {
            let mut b = [0u8; 8];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
                .expect("random bytes");
            u64::from_le_bytes(b)
        };
        // Short, under /tmp: the socket path must fit in 107 bytes.
        let dir = PathBuf::from(format!("/tmp/qws-pg-{}-{nonce:x}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the cluster directory");
        // Removes the directory if a step below fails (the watcher removes it otherwise).
        struct Cleanup<'a>(&'a Path, bool);
        impl Drop for Cleanup<'_> {
            fn drop(&mut self) {
                if self.1 {
                    let _ = std::fs::remove_dir_all(self.0);
                }
            }
        }
        let mut cleanup = Cleanup(&dir, true);
        if is_root() {
            let mut c = Command::new("chown");
            c.args(["-R", RUN_AS]).arg(&dir);
            run(c, "chown of the cluster directory");
        }
        let data = dir.join("data");
        let mut init = pg_command("initdb");
        init.arg("-D").arg(&data).args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        run(init, "initdb");
        let mut start = pg_command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-c listen_addresses='' -p {PORT} -k {} -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=300",
                dir.display()
            ))
            .args(["-w", "start"]);
        run(start, "pg_ctl start");
        // A watcher outlives this process by at most a second, then stops and removes the
        // cluster: test binaries end without running destructors of statics.
        let stop = format!(
            "{} {} -D {} stop -m immediate",
            if is_root() {
                "runuser -u nobody --"
            } else {
                ""
            },
            bin("pg_ctl").display(),
            data.display()
        );
        let _ = Command::new("sh")
            .arg("-c")
            // The server's last processes may still be writing as the stop returns: retry.
            .arg(format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; \
                 for _ in 1 2 3 4 5; do rm -rf {dir} 2>/dev/null && [ ! -e {dir} ] && break; sleep 1; done",
                pid = std::process::id(),
                dir = dir.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        cleanup.1 = false;
        drop(cleanup);
        TestCluster { dir }
    }

    /// The URL of database `db` in this cluster.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres:///{db}?host={}&port={PORT}&user={SUPERUSER}",
            self.dir.display()
        )
    }

    /// Creates database `db` unless it exists; its URL.
    pub fn database(&self, db: &str) -> String {
        let admin = super::Conn::connect_postgres(&self.url("postgres"))
            .expect("connecting to the test cluster");
        let exists: i64 = admin
            .query_row(
                "SELECT count(*) FROM pg_database WHERE datname = ?1",
                [db],
                |r| r.get(0),
            )
            .expect("listing databases");
        if exists == 0 {
            // A name made by the caller from [a-z0-9_] only.
            admin
                .execute_batch(&format!("CREATE DATABASE {db}"))
                .expect("creating a test database");
        }
        self.url(db)
    }

    /// A new, empty database; its URL.
    pub fn fresh_database(&self) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        self.database(&format!("t{}_{n}", std::process::id()))
    }

    /// The database that stands for data directory `dir` (the same for every call with it),
    /// so that code opening "the database of this directory" twice meets the same data.
    pub fn database_for_dir(&self, dir: &Path) -> String {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, dir.as_os_str().as_encoded_bytes());
        let name: String = digest.as_ref()[..10]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.database(&format!("d{name}"))
    }
}
