//! Wake-ups for requests that wait on a job's end (a submission with `Prefer: wait`).
//!
//! A waiter registers before it reads the job, so an end that lands between its read and its
//! wait still wakes it. Only jobs someone waits on have an entry, and the entry goes with its
//! last waiter, so the map never holds more than the requests in flight. An end on another node
//! wakes no one here: waiters also re-read the job now and then (see the data plane's
//! submission).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

type JobKey = (String, String);

/// The jobs requests wait on, each with its wake-up and how many wait on it.
#[derive(Debug, Default)]
pub struct EndSignals {
    waiting: Mutex<HashMap<JobKey, (Arc<Notify>, usize)>>,
}

/// One request's registration; dropping it ends the watch.
#[derive(Debug)]
pub struct EndWatch {
    signals: Arc<EndSignals>,
    key: JobKey,
    notify: Arc<Notify>,
}

impl EndSignals {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobKey, (Arc<Notify>, usize)>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching job `id` of workspace `ws`.
    pub fn watch(self: &Arc<Self>, ws: &str, id: &str) -> EndWatch {
        let key = (ws.to_string(), id.to_string());
        let notify = {
            let mut waiting = self.lock();
            let entry = waiting
                .entry(key.clone())
                .or_insert_with(|| (Arc::new(Notify::new()), 0));
            entry.1 += 1;
            entry.0.clone()
        };
        EndWatch {
            signals: self.clone(),
            key,
            notify,
        }
    }

    /// Wakes every request waiting on the job (it ended here, or was set aside).
    pub fn ended(&self, ws: &str, id: &str) {
        if let Some((notify, _)) = self.lock().get(&(ws.to_string(), id.to_string())) {
            notify.notify_waiters();
        }
    }

    /// Wakes every waiting request (the node is stopping).
    pub fn wake_all(&self) {
        for (notify, _) in self.lock().values() {
            notify.notify_waiters();
        }
    }

    /// How many jobs are watched (for tests).
    pub fn watched(&self) -> usize {
        self.lock().len()
    }
}

impl EndWatch {
    /// Resolves at the next end signalled for the job. Enable it (`Notified::enable`) before
    /// reading the job, so that an end between that read and the wait is not missed.
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for EndWatch {
    fn drop(&mut self) {
        let mut waiting = self.signals.lock();
        if let Some(entry) = waiting.get_mut(&self.key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                waiting.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_end_wakes_its_waiters_and_no_others() {
        let signals = Arc::new(EndSignals::default());
        let a = signals.watch("w", "a");
        let b = signals.watch("w", "b");
        let (wa, wb) = (a.notified(), b.notified());
        tokio::pin!(wa, wb);
        wa.as_mut().enable();
        wb.as_mut().enable();
        signals.ended("w", "a");
        tokio::time::timeout(Duration::from_secs(5), wa)
            .await
            .expect("the waiter of the ended job wakes");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), wb)
                .await
                .is_err(),
            "another job's waiter sleeps on"
        );
    }

    #[test]
    fn entries_go_with_their_last_waiter() {
        let signals = Arc::new(EndSignals::default());
        let first = signals.watch("w", "a");
        let second = signals.watch("w", "a");
        assert_eq!(signals.watched(), 1);
        drop(first);
        assert_eq!(signals.watched(), 1);
        drop(second);
        assert_eq!(signals.watched(), 0);
        // An end nobody waits on is a no-op.
        signals.ended("w", "a");
        assert_eq!(signals.watched(), 0);
    }
}
