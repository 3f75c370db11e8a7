//! A partition: its log behind a mutex plus the published high watermark (= flushed end).

use super::log::{self, AppendError, Appended, LogError, LogOptions, PartitionLog, ReadPlan};
use bytes::Bytes;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::watch;

/// What consumers and waiting producers observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushState {
    /// Everything below this offset is on stable storage (fdatasync'ed, or at least written
    /// out by the interval flusher); consumers never see more.
    pub high_watermark: i64,
    /// An fsync failed: the partition refuses appends and waiters get a storage error.
    pub failed: bool,
}

/// Result of a fetch read.
#[derive(Debug)]
pub enum FetchRead {
    OutOfRange,
    Data(Bytes),
}

#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    log: Mutex<PartitionLog>,
    state: watch::Sender<FlushState>,
    /// Set while queued for the flusher, so a partition is queued at most once.
    pub(crate) queued: AtomicBool,
    max_batch: usize,
}

impl Partition {
    pub fn open(
        topic: &str,
        index: i32,
        dir: &Path,
        opts: LogOptions,
        clean: bool,
    ) -> Result<Partition, LogError> {
        let log = PartitionLog::open(dir, opts, clean)?;
        // Everything recovered is on disk: after a clean stop it was synced, after an unclean
        // one it survived the crash, so it is the new high watermark.
        let hwm = log.next_offset();
        Ok(Partition {
            topic: topic.to_string(),
            index,
            log: Mutex::new(log),
            state: watch::Sender::new(FlushState {
                high_watermark: hwm,
                failed: false,
            }),
            queued: AtomicBool::new(false),
            max_batch: opts.max_batch_bytes,
        })
    }

    /// The log; a poisoned lock only means another thread panicked mid-append, which the
    /// log's invariants (batch-boundary writes) tolerate, so the guard is recovered.
    pub(crate) fn log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn flush_state(&self) -> FlushState {
        *self.state.borrow()
    }

    pub fn high_watermark(&self) -> i64 {
        self.state.borrow().high_watermark
    }

    pub fn subscribe(&self) -> watch::Receiver<FlushState> {
        self.state.subscribe()
    }

    /// Appends the partition payload of a produce request (see [`PartitionLog::append`]).
    pub fn append(
        &self,
        records: &mut [u8],
        max_message_bytes: usize,
    ) -> Result<Appended, AppendError> {
        if self.flush_state().failed {
            return Err(AppendError::Unsupported("partition storage failed"));
        }
        self.log().append(records, max_message_bytes)
    }

    /// (log start offset, log end offset).
    pub fn offsets(&self) -> (i64, i64) {
        let log = self.log();
        (log.log_start_offset(), log.next_offset())
    }

    /// Whole batches from `offset`, at most about `max_bytes` (at least one batch), never
    /// past the high watermark. The file is read outside the partition lock.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<FetchRead, LogError> {
        let hwm = self.high_watermark();
        let plan = self.log().read_plan(offset, hwm, max_bytes)?;
        match plan {
            ReadPlan::OutOfRange => Ok(FetchRead::OutOfRange),
            ReadPlan::Empty => Ok(FetchRead::Data(Bytes::new())),
            ReadPlan::Slice(s) => Ok(FetchRead::Data(log::read_slice(&s, hwm, self.max_batch)?)),
        }
    }

    /// Publishes a new flushed offset (only ever moves forward).
    pub(crate) fn publish_flushed(&self, offset: i64) -> bool {
        self.state.send_if_modified(|s| {
            if offset > s.high_watermark {
                s.high_watermark = offset;
                true
            } else {
                false
            }
        })
    }

    pub(crate) fn mark_failed(&self) {
        self.state.send_modify(|s| s.failed = true);
    }
}

/// Waits until the high watermark reaches `end`. `false` if the partition failed (or was
/// dropped) first.
pub async fn wait_flushed(mut rx: watch::Receiver<FlushState>, end: i64) -> bool {
    match rx.wait_for(|s| s.high_watermark >= end || s.failed).await {
        Ok(s) => s.high_watermark >= end,
        Err(_) => false,
    }
}
