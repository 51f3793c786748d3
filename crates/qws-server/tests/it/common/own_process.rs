//! Running one test alone in a child process of the test binary.
//!
//! All of a crate's integration tests share one binary, so they run as threads of one process.
//! A test that changes process-wide state (environment variables, the global log subscriber)
//! would leak it into whichever tests run beside it; it runs in a process of its own instead.

/// Set in the child to the name of the one test it runs.
const CHILD: &str = "QWS_TEST_OWN_PROCESS";

/// Whether the calling test should run its body here: true in the child process that runs
/// only this test; in the test binary's own process it starts that child, asserts that it ran
/// exactly the test `name` (as the harness names it, `module::function`) and that it passed,
/// and returns false.
pub fn in_own_process(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some_and(|v| v == name) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in its own process:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}
