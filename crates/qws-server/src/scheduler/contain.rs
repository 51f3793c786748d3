//! Running untrusted programs so that a failing job fails alone.
//!
//! Parsing and simulating a job happen on a thread apart (kept parked between jobs) with a stack
//! of a known size ([`STACK_BYTES`]); the front ends bound their nesting for a much smaller stack, so deep input
//! is refused long before this one runs out. A panic on that thread (a bug, or an allocation the
//! budget did not foresee that Rust reports by unwinding) becomes the job's failure instead of
//! taking a worker, or the process, with it. What a thread cannot contain (an abort) is caught
//! one level up: the job's attempts are counted on disk before it runs (see
//! [`qws_store::jobs::JobStore::claim_attempt`]), so a program that kills the process is failed
//! after a few restarts instead of killing every one.

use super::exec::JobFailure;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Mutex};

/// Stack of the thread that parses and simulates a job: 16 times the 2 MiB the front ends'
/// depth limits are checked against in their tests.
pub const STACK_BYTES: usize = 32 << 20;

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "an unexpected error".to_string()
    }
}

/// The failure recorded for a job whose simulation panicked.
fn fault(what: &str, detail: &str) -> JobFailure {
    // The detail is the panic message of our own code, never input data echoed at length.
    let detail: String = detail.chars().take(200).collect();
    JobFailure::new(
        "SimulatorFault",
        format!(
            "The simulator failed while {what} this job ({detail}). The job was stopped; other jobs are not affected."
        ),
    )
}

/// A task for a contained thread: runs the caller's function and sends back its outcome.
type Task = Box<dyn FnOnce() + Send>;

/// Contained threads kept parked for the next task: a job's two stages (preparing, running)
/// each need one, and starting a thread with a [`STACK_BYTES`] stack costs more than a small
/// job's whole simulation. Threads beyond this many end after their task.
const MAX_PARKED: usize = 8;

/// The parked threads, each waiting on its channel.
static PARKED: Mutex<Vec<mpsc::Sender<Task>>> = Mutex::new(Vec::new());

fn parked() -> std::sync::MutexGuard<'static, Vec<mpsc::Sender<Task>>> {
    PARKED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts a contained thread that runs tasks until there is no room to park it. Its own sender
/// is what it parks, so its channel never closes while it waits.
fn start_thread() -> std::io::Result<mpsc::Sender<Task>> {
    let (tx, rx) = mpsc::channel::<Task>();
    let own = tx.clone();
    std::thread::Builder::new()
        .name("qws-job".into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            while let Ok(task) = rx.recv() {
                // Never unwinds: the task catches its function's panic.
                task();
                let mut parked = parked();
                if parked.len() >= MAX_PARKED {
                    return;
                }
                parked.push(own.clone());
            }
        })?;
    Ok(tx)
}

/// Runs `f` on a contained thread (a parked one, or a new one) with a [`STACK_BYTES`] stack and
/// waits for it without blocking the async runtime. `what` says what the thread does, for the
/// failure text ("preparing", "running").
pub async fn contained<T, F>(what: &'static str, f: F) -> Result<T, JobFailure>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut task: Task = Box::new(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    loop {
        let thread = parked().pop();
        let thread = match thread {
            Some(t) => t,
            None => match start_thread() {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "could not start a simulation thread");
                    return Err(JobFailure::new(
                        "InternalError",
                        "The server could not start a thread to run the job. Retry later.",
                    ));
                }
            },
        };
        // A parked thread only goes away with the process; still, a closed channel hands the
        // task back, and another thread takes it.
        match thread.send(task) {
            Ok(()) => break,
            Err(mpsc::SendError(t)) => task = t,
        }
    }
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(payload)) => {
            let text = panic_text(payload.as_ref());
            tracing::error!(panic = %text, stage = what, "a job's simulation panicked");
            Err(fault(what, &text))
        }
        Err(_) => Err(fault(what, "the thread ended without an answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recursion that needs several MiB at n = 8000: overflows a default 2 MiB thread, fits in
    /// ours.
    fn depth(n: u32) -> u32 {
        let pad = std::hint::black_box([n as u8; 1024]);
        if n == 0 {
            pad[0] as u32
        } else {
            depth(n - 1) + (pad[1] as u32 & 1)
        }
    }

    #[tokio::test]
    async fn values_come_back() {
        assert_eq!(contained("running", || 41 + 1).await, Ok(42));
    }

    #[tokio::test]
    async fn a_panic_is_the_jobs_failure_not_the_callers() {
        let e = contained("running", || -> u8 { panic!("kernel bug {}", 7) })
            .await
            .unwrap_err();
        assert_eq!(e.code, "SimulatorFault");
        assert!(e.message.contains("running"), "{}", e.message);
        assert!(e.message.contains("kernel bug 7"), "{}", e.message);
        let e = contained("preparing", || -> u8 { std::panic::panic_any(5u32) })
            .await
            .unwrap_err();
        assert!(e.message.contains("unexpected error"), "{}", e.message);
    }

    #[tokio::test]
    async fn the_thread_has_the_documented_stack() {
        let r = contained("running", || depth(8_000)).await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn parked_threads_serve_later_tasks_with_their_full_stack() {
        // A panic leaves the thread fit for the next task; every task, on a parked thread or
        // a new one, has the documented stack.
        for _ in 0..4 {
            assert!(contained("running", || -> u8 { panic!("boom") })
                .await
                .is_err());
            let ids: Vec<_> = [
                contained("running", || {
                    std::thread::current().name().map(str::to_string)
                })
                .await,
                contained("running", || {
                    std::thread::current().name().map(str::to_string)
                })
                .await,
            ]
            .into_iter()
            .map(Result::unwrap)
            .collect();
            assert_eq!(ids, vec![Some("qws-job".to_string()); 2]);
            assert!(contained("running", || depth(8_000)).await.is_ok());
        }
        assert!(parked().len() <= MAX_PARKED);
    }
}
