"""A throwaway PostgreSQL cluster for the Python suites (the Python twin of the Rust helper
`qws_store::db::test_cluster`): the several-node suite (tests/cluster) and the compat suites on
PostgreSQL (tests/compat with QWS_TEST_DATABASE=postgres), and bench/cluster.

`Postgres.start()` runs `initdb` into a fresh directory under /tmp, starts a server that listens
only on a unix socket in that directory (no TCP port at all), and creates the database `qws`;
`create_database()` adds a fresh, empty database for one more server; `stop()` stops the server
and deletes the directory. PostgreSQL refuses to run as root (CI runs
as root), so then every PostgreSQL binary runs as the unprivileged user `nobody`, which owns the
directory. The binaries are looked up in $QWS_TEST_PG_BIN, /usr/local/bin, Debian's
/usr/lib/postgresql/<version>/bin, then PATH (`scripts/test` installs Debian's package when none
is found). Standard library only.
"""

import os
import pathlib
import shutil
import subprocess
import tempfile

SUPERUSER = "qws"
DATABASE = "qws"
RUN_AS = "nobody"
# The socket file is named after the port; the directory is ours alone, so any port will do.
PORT = 5432


def bin_path(name: str) -> str:
    env = os.environ.get("QWS_TEST_PG_BIN")
    if env:
        return str(pathlib.Path(env) / name)
    local = pathlib.Path("/usr/local/bin") / name
    if local.exists():
        return str(local)
    for version in ("17", "16", "15"):
        debian = pathlib.Path(f"/usr/lib/postgresql/{version}/bin") / name
        if debian.exists():
            return str(debian)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: apt-get install postgresql-15 (or set QWS_TEST_PG_BIN)")
    return found


def _is_root() -> bool:
    return os.geteuid() == 0


def _command(name: str, *args: str) -> list:
    cmd = [bin_path(name), *args]
    return ["runuser", "-u", RUN_AS, "--", *cmd] if _is_root() else cmd


def _run(cmd: list, what: str) -> str:
    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed ({out.returncode}): {out.stdout}{out.stderr}")
    return out.stdout


class Postgres:
    """A running PostgreSQL server with one database for qws."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.data = root / "data"
        self.url = self.database_url(DATABASE)
        self._created = 0

    @classmethod
    def start(cls) -> "Postgres":
        # Short and under /tmp: a unix socket path must fit in 107 bytes.
        root = pathlib.Path(tempfile.mkdtemp(prefix="qws-pg-", dir="/tmp"))
        # scripts/test names a file here so that its exit trap can stop this cluster even when
        # pytest itself is killed (the postmaster leaves pytest's process group).
        registry = os.environ.get("QWS_PG_REGISTRY")
        if registry:
            with open(registry, "a", encoding="utf-8") as f:
                f.write(f"{root}\n")
        pg = cls(root)
        try:
            if _is_root():
                _run(["chown", "-R", RUN_AS, str(root)], "chown of the cluster directory")
            _run(
                _command("initdb", "-D", str(pg.data), "-U", SUPERUSER, "-A", "trust",
                         "-E", "UTF8", "--no-locale", "--no-sync"),
                "initdb",
            )
            # A test cluster: durability is traded for speed (the data dies with the test).
            options = (
                f"-c listen_addresses='' -p {PORT} -k {root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            )
            _run(
                _command("pg_ctl", "-D", str(pg.data), "-l", str(root / "log"), "-o", options, "-w", "start"),
                "pg_ctl start",
            )
            pg.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
        except BaseException:
            pg.stop()
            raise
        return pg

    def database_url(self, database: str) -> str:
        return f"postgres:///{database}?host={self.root}&port={PORT}&user={SUPERUSER}"

    def create_database(self) -> str:
        """A new, empty database (named `qws_<n>`); its URL."""
        self._created += 1
        name = f"{DATABASE}_{self._created}"
        self.psql(f"CREATE DATABASE {name}", database="postgres")
        return self.database_url(name)

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Runs `sql` with psql; its rows, unaligned, `|` between columns."""
        return _run(
            _command("psql", "-h", str(self.root), "-p", str(PORT), "-U", SUPERUSER, "-d", database,
                     "-v", "ON_ERROR_STOP=1", "-At", "-c", sql),
            "psql",
        )

    def log_tail(self) -> str:
        try:
            return (self.root / "log").read_text(errors="replace")[-2000:]
        except OSError:
            return "<no log>"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(_command("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"),
                           stdin=subprocess.DEVNULL, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
