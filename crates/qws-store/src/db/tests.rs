//! The SQL layer on the engine the tests run against (`QWS_TEST_DATABASE=postgres` for
//! PostgreSQL, SQLite otherwise): the same statements give the same answers on both.

use super::*;

fn conn() -> (Option<tempfile::TempDir>, Conn) {
    if test_cluster::wanted() {
        let url = test_cluster::TestCluster::shared().fresh_database();
        (None, Conn::connect_postgres(&url).unwrap())
    } else {
        let dir = tempfile::tempdir().unwrap();
        let c = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        (Some(dir), Conn::from_sqlite(c))
    }
}

fn with_table() -> (Option<tempfile::TempDir>, Conn) {
    let (d, c) = conn();
    let ddl =
        "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, b BLOB, f INTEGER NOT NULL DEFAULT 0)";
    let ddl = match c.dialect() {
        Dialect::Sqlite => ddl.to_string(),
        Dialect::Postgres => crate::schema::postgres_ddl(ddl),
    };
    c.execute_batch(&ddl).unwrap();
    (d, c)
}

#[test]
fn values_round_trip() {
    let (_d, c) = with_table();
    let n = c
        .execute(
            "INSERT INTO t (k, n, b, f) VALUES (?1, ?2, ?3, ?4)",
            params!["a", i64::MAX, vec![0u8, 255, 7], true],
        )
        .unwrap();
    assert_eq!(n, 1);
    c.execute(
        "INSERT INTO t (k, n, b) VALUES (?, ?, ?)",
        params!["b", None::<i64>, None::<Vec<u8>>],
    )
    .unwrap();
    let (n, b, f): (i64, Vec<u8>, bool) = c
        .query_row("SELECT n, b, f FROM t WHERE k = ?1", ["a"], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((n, b, f), (i64::MAX, vec![0, 255, 7], true));
    let (n, b): (Option<i64>, Option<Vec<u8>>) = c
        .query_row("SELECT n, b FROM t WHERE k = ?1", ["b"], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((n, b), (None, None));
    let wrong = c.query_row("SELECT k FROM t WHERE k = ?1", ["a"], |r| {
        r.get::<_, i64>(0)
    });
    assert!(
        matches!(wrong, Err(Error::Type { index: 0, .. })),
        "{wrong:?}"
    );
}

#[test]
fn missing_rows_are_optional_and_lists_keep_order() {
    let (_d, c) = with_table();
    let none = c
        .query_row("SELECT n FROM t WHERE k = ?1", ["x"], |r| {
            r.get::<_, i64>(0)
        })
        .optional()
        .unwrap();
    assert_eq!(none, None);
    for (k, n) in [("b", 2), ("a", 1), ("B", 3)] {
        c.execute("INSERT INTO t (k, n) VALUES (?1, ?2)", params![k, n])
            .unwrap();
    }
    let mut st = c
        .prepare("SELECT k FROM t WHERE n >= ?1 ORDER BY k")
        .unwrap();
    let keys: Vec<String> = st
        .query_map([1], |r| r.get(0))
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    // Byte order, as SQLite compares text: upper case first.
    assert_eq!(keys, ["B", "a", "b"]);
    let count: i64 = c
        .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 3);
    let pos: i64 = c
        .query_row("SELECT instr(k, ?1) FROM t WHERE k = 'a'", ["a"], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(pos, 1);
}

#[test]
fn insert_or_ignore_keeps_the_first_row() {
    let (_d, c) = with_table();
    for n in [1, 2] {
        c.execute(
            "INSERT OR IGNORE INTO t (k, n) VALUES (?1, ?2)",
            params!["k", n],
        )
        .unwrap();
    }
    let n: i64 = c.query_row("SELECT n FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
    let returned: i64 = c
        .query_row(
            "UPDATE t SET n = n + 1 WHERE k = ?1 RETURNING n",
            ["k"],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(returned, 2);
}

#[test]
fn a_transaction_dropped_without_commit_rolls_back() {
    let (_d, mut c) = with_table();
    {
        let tx = c.transaction().unwrap();
        tx.execute("INSERT INTO t (k) VALUES ('gone')", []).unwrap();
    }
    {
        let tx = c.write_transaction().unwrap();
        tx.execute("INSERT INTO t (k) VALUES ('kept')", []).unwrap();
        tx.commit().unwrap();
    }
    let keys: Vec<String> = c
        .prepare("SELECT k FROM t")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(keys, ["kept"]);
}

#[test]
fn a_postgres_connection_the_server_closed_is_reopened() {
    if !test_cluster::wanted() {
        // SQLite connections are files; nothing closes them.
        return;
    }
    let url = test_cluster::TestCluster::shared().fresh_database();
    let mut conn = Conn::connect_postgres(&url).unwrap();
    let pid: i32 = conn
        .query_row("SELECT pg_backend_pid()", [], |r| r.get(0))
        .unwrap();
    let admin = Conn::connect_postgres(&url).unwrap();
    let killed: bool = admin
        .query_row("SELECT pg_terminate_backend(?1)", [pid], |r| r.get(0))
        .unwrap();
    assert!(killed);
    // The client learns of the closed socket asynchronously: calls fail until it has, then
    // `revive` (run by the store before each use) connects again.
    let mut answer = None;
    for _ in 0..100 {
        conn.revive();
        if let Ok(p) = conn.query_row("SELECT pg_backend_pid()", [], |r| r.get::<_, i32>(0)) {
            answer = Some(p);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let new_pid = answer.expect("the connection was reopened");
    assert_ne!(new_pid, pid);
}

#[test]
fn generated_keys_come_back_with_returning() {
    let (_d, c) = conn();
    let ddl = "CREATE TABLE q (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)";
    let ddl = match c.dialect() {
        Dialect::Sqlite => ddl.to_string(),
        Dialect::Postgres => crate::schema::postgres_ddl(ddl),
    };
    c.execute_batch(&ddl).unwrap();
    let ids: Vec<i64> = ["a", "b"]
        .iter()
        .map(|v| {
            c.query_row("INSERT INTO q (v) VALUES (?1) RETURNING id", [v], |r| {
                r.get(0)
            })
            .unwrap()
        })
        .collect();
    assert_eq!(ids, [1, 2]);
}
