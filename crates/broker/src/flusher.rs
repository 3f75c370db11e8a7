//! The single flusher thread: group-commits appends with fdatasync and advances each
//! partition's high watermark. With `flush = "ack"` it runs whenever a partition is queued
//! (appends that arrive during one fdatasync share the next one); with `flush = N` it runs
//! every N ms.

use super::partition::Partition;
use super::Flush;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Default)]
struct Queue {
    dirty: Vec<Arc<Partition>>,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    cv: Condvar,
}

/// Handle to the flusher thread.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    /// Starts the thread. `data_version` is bumped whenever some high watermark moved, to
    /// wake long-polling fetches.
    pub fn start(mode: Flush, data_version: watch::Sender<u64>) -> std::io::Result<Flusher> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            cv: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("broker-flusher".into())
            .spawn(move || run(s, mode, data_version))?;
        Ok(Flusher {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `p` for the next flush (once; it is re-queued only after being picked up).
    pub fn mark_dirty(&self, p: &Arc<Partition>) {
        if p.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.dirty.push(p.clone());
        self.shared.cv.notify_one();
    }

    /// Flushes what is queued and stops the thread.
    pub fn stop(&self) {
        {
            let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.stop = true;
            self.shared.cv.notify_one();
        }
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            if h.join().is_err() {
                tracing::error!("flusher thread panicked");
            }
        }
    }
}

impl Drop for Flusher {
    /// A broker dropped without `shutdown` must not leave the thread parked forever.
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: Arc<Shared>, mode: Flush, data_version: watch::Sender<u64>) {
    let interval = match mode {
        Flush::Ack(_) => None,
        Flush::IntervalMs(ms) => Some(Duration::from_millis(ms.max(1))),
    };
    loop {
        let (batch, stop) = {
            let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            match interval {
                None => {
                    while q.dirty.is_empty() && !q.stop {
                        q = shared.cv.wait(q).unwrap_or_else(|e| e.into_inner());
                    }
                }
                Some(d) => {
                    if !q.stop {
                        q = shared
                            .cv
                            .wait_timeout_while(q, d, |q| !q.stop)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
            (std::mem::take(&mut q.dirty), q.stop)
        };
        let mut moved = false;
        for p in batch {
            // Clear before snapshotting: an append after this point re-queues the partition.
            p.queued.store(false, Ordering::Release);
            let (file, path, end) = p.log().flush_target();
            if end <= p.high_watermark() {
                continue;
            }
            match file.sync_data() {
                Ok(()) => moved |= p.publish_flushed(end),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e,
                        "fdatasync failed; partition stops accepting writes");
                    p.mark_failed();
                }
            }
        }
        if moved {
            data_version.send_modify(|v| *v = v.wrapping_add(1));
        }
        if stop {
            let q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.dirty.is_empty() {
                return;
            }
        }
    }
}
