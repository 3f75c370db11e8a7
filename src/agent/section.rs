//! One section's pipeline: discovery → queue → reader → framing → sender, and delivery
//! reports → in-flight window → checkpoint. One task owns all of it, so there is no lock on
//! the hot path.
//!
//! Invariants:
//! - a file's `acked` offset moves only as [`InFlight`] allows: over the contiguous front of
//!   lines whose delivery reports succeeded;
//! - after a failed delivery nothing more is sent until every outstanding report is back;
//!   then everything not acknowledged is read again, in order (at-least-once, never a gap);
//! - memory is bounded by the in-flight window and the read buffer: when the broker is slow
//!   or down, reading stops and the files on disk are the buffer.

use crate::agent::alert::{self, Alert, AlertCommand, HealthInputs};
use crate::agent::checkpoint::{
    self, CheckpointError, CheckpointStore, SectionCheckpoint, VERSION,
};
use crate::agent::discovery::{self, DiscoveryError};
use crate::agent::files::OpenFiles;
use crate::agent::framing::{Frame, LineFramer};
use crate::agent::identity::DevIno;
use crate::agent::inflight::{Flow, InFlight, Outcome, Reported};
use crate::agent::queue::{CompressedPolicy, FileKey, FileQueue, Finish, Notice, Status};
use crate::agent::reader::{ReadError, Reader};
use crate::agent::sender::{classify, is_queue_full, FailureKind, Report, Sender, SenderError};
use crate::agent::watcher::{DirWatcher, Wake};
use crate::config::{CompressedFiles, OutputConfig, ProducerType, SectionConfig};
use crate::ops::metrics::{EventKind, SectionMetrics};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Lines in flight in async mode (at least two full batches, so one fills while the other is
/// acknowledged), and bytes in flight in either mode. Each line in flight costs its copy in
/// librdkafka plus ~200 bytes of bookkeeping: 100,000 lines kept 50-80 MB resident for no
/// measurable throughput over 20,000 (bench/RESULTS.md, scenario 1).
const ASYNC_WINDOW_LINES: usize = 20_000;
const WINDOW_BYTES: u64 = 16 * 1024 * 1024;
const READ_BUFFER: usize = 256 * 1024;

const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Sender(#[from] SenderError),
}

/// Everything a section needs from the agent.
#[derive(Clone)]
pub struct SectionEnv {
    pub bootstrap: String,
    pub output: OutputConfig,
    pub host: String,
    pub state_dir: PathBuf,
    pub rescan_interval: Duration,
    pub shutdown_timeout: Duration,
    pub watcher: Arc<DirWatcher>,
    pub alert_command: Option<AlertCommand>,
    pub max_open_files: usize,
    pub checkpoint_interval: Duration,
}

/// What [`Section::ensure_reader`] found.
enum Open {
    /// The reader is on the current file at its read offset.
    Ready,
    /// The queue changed (the file was re-classified or failed): ask for the current file
    /// again.
    Changed,
    /// Nothing can be read from it now (empty, or still being compressed): wait for a change.
    Wait,
}

/// Why pumping stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stall {
    /// Nothing more to read until the files change.
    Idle,
    /// The window is full, or a failure waits for outstanding reports.
    Window,
    /// librdkafka's queue is full: retry shortly.
    QueueFull,
}

pub struct Section {
    cfg: SectionConfig,
    env: SectionEnv,
    queue: FileQueue,
    framer: LineFramer,
    reader: Option<Reader>,
    sender: Sender,
    reports: mpsc::UnboundedReceiver<Report>,
    metrics: SectionMetrics,
    store: CheckpointStore,
    wake: Arc<Wake>,
    window: InFlight,
    /// Descriptors held on the files the queue follows.
    files: OpenFiles,
    over_limit_logged: bool,
    /// The first failed delivery since the last restart was logged.
    failure_logged: bool,
    /// The ACL refusal of this section's topic was logged (until lines ship again).
    denied_logged: bool,
    retry_delay: Duration,
    /// No sending before this (backoff after a failure, or a full local queue).
    hold_until: Option<Instant>,
    finish_at: Option<SystemTime>,
    /// A file was blocked until it changes ([`Open::Wait`]): the next write wake-up looks
    /// at the held files' sizes at once.
    waiting_for_change: bool,
    /// The checkpoint must be written again (see `run` for when).
    dirty: bool,
    /// Acknowledgements moved offsets since the last checkpoint snapshot.
    acked_unsaved: bool,
    missing_logged: bool,
    faults_logged: HashSet<PathBuf>,
    /// Clock read once per pump, stamped on the lines it sends.
    now: Instant,
    /// Wall clock (Unix ms) at the last read from a file: the CreateTime of the lines sent
    /// from that read (0, a clock set before 1970, makes librdkafka stamp the time itself).
    read_ms: i64,
    last_progress: Instant,
    alert: Alert,
    /// The brokers were down at the last observation (an outage starts or ends on a change).
    broker_was_down: bool,
    checkpoint_failing: Arc<AtomicBool>,
}

impl Section {
    /// Load the checkpoint and create the producer. Fails on a corrupt checkpoint or a
    /// producer config librdkafka refuses.
    pub fn new(
        cfg: SectionConfig,
        env: SectionEnv,
        metrics: SectionMetrics,
    ) -> Result<Section, SectionError> {
        let store = CheckpointStore::new(&env.state_dir, &cfg.checkpoint_name);
        let mut queue = new_queue(&cfg);
        if let Some(cp) = store.load()? {
            queue.restore(&cp.files);
        }
        let (sender, reports) = Sender::new(
            &env.bootstrap,
            &env.output,
            &cfg,
            &env.host,
            metrics.clone(),
        )?;
        let window = InFlight::new(flow(&cfg), WINDOW_BYTES);
        let files = OpenFiles::new(env.max_open_files);
        let wake = Arc::new(Wake::new(cfg.sender_waiting_max));
        Ok(Section {
            framer: LineFramer::new(cfg.max_line_bytes),
            cfg,
            env,
            queue,
            reader: None,
            sender,
            reports,
            metrics,
            store,
            wake,
            window,
            files,
            over_limit_logged: false,
            failure_logged: false,
            denied_logged: false,
            retry_delay: RETRY_MIN,
            hold_until: None,
            finish_at: None,
            waiting_for_change: false,
            dirty: false,
            acked_unsaved: false,
            missing_logged: false,
            faults_logged: HashSet::new(),
            now: Instant::now(),
            read_ms: crate::clock::unix_ms() as i64,
            last_progress: Instant::now(),
            alert: Alert::default(),
            broker_was_down: false,
            checkpoint_failing: Arc::new(AtomicBool::new(false)),
        })
    }

    fn buffer_cap(&self) -> usize {
        READ_BUFFER.max(self.cfg.max_line_bytes + 1 + 64 * 1024)
    }

    /// Run until `shutdown` is cancelled; then drain (bounded) and write the final checkpoint.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), SectionError> {
        let name = self.cfg.name.clone();
        let (cp_tx, cp_rx) = watch::channel(None::<Arc<SectionCheckpoint>>);
        // Each write costs two fsyncs: acknowledgements are checkpointed at most once per
        // `[agent] checkpoint_interval_ms` (a crash re-sends what was acknowledged since),
        // never more often than batches.
        let cp_interval = self
            .cfg
            .sender_waiting_max
            .max(self.env.checkpoint_interval)
            .max(Duration::from_millis(10));
        let writer = tokio::spawn(checkpoint::writer(
            self.store.clone(),
            cp_rx,
            self.cfg.sender_waiting_max.max(Duration::from_millis(10)),
            name.clone(),
            self.metrics.checkpoint_written_ms.clone(),
            self.checkpoint_failing.clone(),
        ));
        self.watch_dirs();
        self.rescan();
        let mut rescan = tokio::time::interval(self.env.rescan_interval);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut metrics_tick = tokio::time::interval(Duration::from_secs(1));
        metrics_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Leading edge: the first acknowledgement after a quiet spell is checkpointed at once
        // (an agent killed soon after each start still moves on), later ones once per
        // interval. Changes without acknowledgements (files found, finished) start no wait.
        // One timer, moved when a write starts the interval (not a new one per loop turn).
        let cp_due = tokio::time::sleep_until(Instant::now());
        tokio::pin!(cp_due);
        let wake = self.wake.clone();
        // Lines linger here, not in librdkafka (whose linger.ms is only sender::LINGER): a
        // write within `sender_waiting_max_ms` of the last read waits for the rest of that
        // time, so a logger that writes each line with its own write(2) costs one wake-up,
        // one read and one produce request per interval, not per line; a write after a
        // quiet spell is read at once. A line thus waits at most sender_waiting_max_ms (+
        // LINGER) in the agent; with both waits it was up to twice that.
        let coalesce = self.cfg.sender_waiting_max;
        let mut last_read = Instant::now();
        // The next read, when one is due (streaming, or a write too soon after the last).
        let mut read_at: Option<Instant> = None;
        let mut stall = Stall::Idle;
        let mut read = true;
        loop {
            if read {
                // Files added, renamed or removed, or one waiting for its first bytes: seen
                // here, before reading, whether a wake-up or the streaming read below got
                // here first.
                if wake.take_rescan() {
                    self.rescan();
                } else if self.waiting_for_change {
                    // A file waiting for its first bytes (created empty, e.g. the new base
                    // file after a rotation) is unblocked by fstat, not by a read: look now
                    // rather than at the next once-a-second observation. (The wake-up may be
                    // another event, e.g. the writer opening it: stay armed until nothing is
                    // blocked.)
                    for n in self.files.refresh(&mut self.queue) {
                        self.on_notice(n);
                    }
                    self.waiting_for_change = self.queue.any_blocked();
                }
                // Reports left waiting while a read was due (below) come first: the window
                // they free is read into now.
                self.drain_reports(false);
                let sent = self.window.next_seq();
                stall = self.pump();
                last_read = self.now;
                // Streaming: a read that found lines is followed by the next one after
                // `coalesce`, without waiting for a write's wake-up (there will be one), so a
                // steady trickle costs one wake-up per interval. A read that finds nothing
                // ends it: the section then sleeps until a write.
                read_at =
                    (stall == Stall::Idle && self.window.next_seq() != sent && !coalesce.is_zero())
                        .then(|| last_read + coalesce);
            }
            read = true;
            let deadline = match (self.next_deadline(&stall), read_at) {
                (Some(d), Some(r)) => Some(d.min(r)),
                (d, r) => d.or(r),
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // Delivery reports wake the section only when something waits for them: a
                // full window, or an idle section (its last acknowledgements are checkpointed
                // and counted). While a read is due they wait for it (at most `coalesce`):
                // under a steady trickle of lines the section wakes once per read, not also
                // once per librdkafka request. Their latency is measured when they came.
                r = self.reports.recv(), if read_at.is_none() || stall != Stall::Idle => {
                    if let Some(r) = r {
                        self.on_report(r);
                        let shipped = self.drain_reports(true);
                        // Acknowledgements bring no new bytes: a pump that stopped at the end
                        // of the files reads again only if a file was shipped by them (past
                        // max_open_files, waiting files need the descriptors shipped files
                        // release). A failure's restart sets a hold, whose deadline reads.
                        read = stall != Stall::Idle || shipped;
                    }
                }
                // Until a due read, wake-ups are not awaited (they leave a permit, no thread
                // is woken). A write this soon after the last read waits for the rest of the
                // interval; anything else is looked at now (above).
                _ = wake.notify.notified(), if read_at.is_none() => {
                    if !wake.rescan_pending()
                        && !self.waiting_for_change
                        && last_read.elapsed() < coalesce
                    {
                        read_at = Some(last_read + coalesce);
                        read = false;
                    }
                }
                _ = rescan.tick() => {
                    self.watch_dirs();
                    self.rescan();
                }
                _ = metrics_tick.tick() => self.observe(),
                // Only armed while there is something to write: an idle section sleeps.
                _ = &mut cp_due, if self.dirty => {
                    read = false;
                    self.dirty = false;
                    let _ = cp_tx.send(Some(Arc::new(self.snapshot())));
                    if std::mem::take(&mut self.acked_unsaved) {
                        cp_due.as_mut().reset(Instant::now() + cp_interval);
                    }
                }
                _ = sleep_until_opt(deadline) => {
                    let now = Instant::now();
                    self.hold_until = self.hold_until.filter(|t| *t > now);
                    read_at = read_at.filter(|t| *t > now);
                }
            }
        }
        // Shutdown, bounded by shutdown_timeout_ms: lines written before the stop and not read
        // yet (a read was due later) are read and sent, as far as the window lets them go, so
        // the final checkpoint covers them; then the outstanding delivery reports are awaited.
        // What is left is read at the next start.
        let limit = Instant::now() + self.env.shutdown_timeout;
        self.drain_reports(false);
        let mut stall = self.pump();
        while self.window.outstanding() > 0 {
            match tokio::time::timeout_at(limit, self.reports.recv()).await {
                Ok(Some(r)) => {
                    self.on_report(r);
                    self.drain_reports(true);
                    if stall != Stall::Idle {
                        stall = self.pump();
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        section = %name,
                        outstanding = self.window.outstanding(),
                        "shutdown timeout: lines still unacknowledged will be sent again at the next start"
                    );
                    break;
                }
            }
        }
        self.reader = None;
        let _ = cp_tx.send(Some(Arc::new(self.snapshot())));
        drop(cp_tx);
        self.env.watcher.unroute(&self.wake);
        match writer.await {
            Ok(r) => r.map_err(SectionError::Checkpoint)?,
            Err(e) => tracing::error!(section = %name, "checkpoint writer failed: {e}"),
        }
        self.sender.purge();
        self.metrics.retire();
        tracing::info!(section = %name, "section stopped; final checkpoint written");
        Ok(())
    }

    fn next_deadline(&self, stall: &Stall) -> Option<Instant> {
        let mut d = self.hold_until;
        if *stall == Stall::QueueFull {
            d = Some(Instant::now() + Duration::from_millis(5));
        }
        if let (Stall::Idle, Some(at)) = (stall, self.finish_at) {
            let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
            let t = Instant::now() + wait + Duration::from_millis(1);
            d = Some(d.map_or(t, |x| x.min(t)));
        }
        if let Some(t) = self.window.batch_deadline() {
            d = Some(d.map_or(t, |x| x.min(t)));
        }
        d
    }

    fn watch_dirs(&mut self) {
        let mut dirs = vec![self.cfg.log_base_path.clone()];
        if let Some(parent) = self.cfg.base_log_fullpath.as_ref().and_then(|p| p.parent()) {
            if parent != self.cfg.log_base_path {
                dirs.push(parent.to_path_buf());
            }
        }
        for d in dirs {
            self.env.watcher.watch(&d, &self.wake);
        }
    }

    /// Scan the directory, bring the queue in line, and hold descriptors on what it follows.
    fn scan_and_reconcile(&mut self) -> Result<(), DiscoveryError> {
        let mut faults = Vec::new();
        let keep = self.env.max_open_files.saturating_sub(self.files.len());
        let scan = discovery::scan(&self.cfg, &self.queue, &mut faults, keep)?;
        for f in faults {
            if self.faults_logged.insert(f.path.clone()) {
                self.metrics.file_error(io_reason(&f.error));
                tracing::error!(section = %self.cfg.name, path = %f.path.display(), "cannot read file: {}; it is skipped until it becomes readable", f.error);
            }
        }
        let unlisted = self.files.examine_unlisted(&self.queue, &scan.entries);
        for n in self.queue.reconcile_with_held(scan.entries, unlisted) {
            self.on_notice(n);
        }
        self.sync_files(scan.opened);
        // Sizes of the held files that were not listed (moved to an olddir, deleted): a
        // rotation is when the last lines of the file it rotated away must be known, so that
        // they ship before the first lines of the new file.
        for n in self.files.refresh(&mut self.queue) {
            self.on_notice(n);
        }
        self.dirty = true;
        Ok(())
    }

    /// Hold descriptors on the files the queue follows, release the shipped ones.
    fn sync_files(&mut self, opened: HashMap<DevIno, Arc<std::fs::File>>) {
        let current = self.reader.as_ref().map(|r| r.id);
        self.files
            .sync(&mut self.queue, opened, current, SystemTime::now());
        if self.files.over_limit > 0 && !self.over_limit_logged {
            self.over_limit_logged = true;
            tracing::warn!(section = %self.cfg.name, max_open_files = self.env.max_open_files, waiting = self.files.over_limit, "max_open_files reached: the oldest files are held open, the others are followed by name until a descriptor frees up (one of them deleted or moved away before then loses its unread lines, counted in logferry_bytes_lost_total)");
        } else if self.files.over_limit == 0 {
            self.over_limit_logged = false;
        }
        self.metrics.open_files.set(self.files.len() as i64);
    }

    fn rescan(&mut self) {
        match self.scan_and_reconcile() {
            Ok(()) => {
                if self.missing_logged {
                    self.missing_logged = false;
                    tracing::info!(section = %self.cfg.name, dir = %self.cfg.log_base_path.display(), "directory appeared; shipping starts");
                    self.watch_dirs();
                }
            }
            Err(e @ DiscoveryError::Missing { .. }) => {
                if !self.missing_logged {
                    self.missing_logged = true;
                    tracing::warn!(section = %self.cfg.name, "{e}");
                }
            }
            Err(e) => tracing::error!(section = %self.cfg.name, "{e}"),
        }
    }

    fn on_notice(&mut self, n: Notice) {
        let s = &self.cfg.name;
        match n {
            Notice::Lost {
                path,
                bytes,
                reason,
            } => {
                self.metrics.bytes_lost(reason, bytes);
                tracing::error!(section = %s, path = %path.display(), bytes, reason, "bytes could not be shipped: the file was removed or truncated before they were read");
            }
            Notice::Adopted { from, to, offset } => {
                self.metrics.event(
                    EventKind::Rotation,
                    format!(
                        "{} continues in its copy {} at offset {offset}",
                        from.display(),
                        to.display()
                    ),
                );
                tracing::info!(section = %s, from = %from.display(), to = %to.display(), offset, "file continues in its copy (copytruncate or compressed rotation)");
            }
            Notice::Truncated { path } => {
                tracing::info!(section = %s, path = %path.display(), "file truncated or replaced; reading it from the start");
            }
            Notice::GrewAfterFinish { path } => {
                tracing::info!(section = %s, path = %path.display(), "finished file grew again; shipping the new bytes");
            }
            Notice::Shadowed { path, of } => {
                tracing::debug!(section = %s, path = %path.display(), of = %of.display(), "file is a copy of a file being shipped; held back while the original is read");
            }
            Notice::AlreadyShipped { path, of } => {
                tracing::debug!(section = %s, path = %path.display(), of = %of.display(), "compressed file holds content already shipped from its original");
            }
            Notice::Compressed {
                path,
                codec,
                shipped: true,
            } => {
                tracing::info!(section = %s, path = %path.display(), codec = codec.name(), "compressed file continues no known file: shipping its decompressed content (compressed_files = \"decompress\")");
            }
            Notice::Compressed {
                path,
                codec,
                shipped: false,
            } => {
                // Counted when content is left out (start_at = "end" at the first start is
                // the user's choice, not a drop).
                if !codec.readable() {
                    self.metrics.file_skipped("unsupported_compression");
                } else if self.cfg.compressed_files == CompressedFiles::Skip {
                    self.metrics.file_skipped("compressed_files_skip");
                }
                tracing::warn!(section = %s, path = %path.display(), codec = codec.name(), "compressed file not shipped (compressed_files = \"skip\", start_at = \"end\", or a format this build cannot read)");
            }
        }
        if self.reader.as_ref().is_some_and(|r| {
            self.queue
                .get(r.key)
                .is_none_or(|f| f.id != r.id || f.status != Status::Active)
        }) {
            self.reader = None;
        }
    }

    /// May another line be sent now? Closed after a failure, during a backoff, and while
    /// the in-flight window is full.
    fn window_open(&mut self) -> bool {
        if self.hold_until.is_some_and(|t| t > self.now) {
            return false;
        }
        self.window.window_open(self.now)
    }

    /// Read and send as much as the window allows.
    fn pump(&mut self) -> Stall {
        self.finish_at = None;
        self.now = Instant::now();
        loop {
            if !self.window_open() {
                return Stall::Window;
            }
            let Some(key) = self.queue.current() else {
                return Stall::Idle;
            };
            match self.ensure_reader(key) {
                Open::Ready => {}
                Open::Changed => continue,
                Open::Wait => return Stall::Idle,
            }
            let Some(reader) = self.reader.as_ref() else {
                return Stall::Idle;
            };
            match self.framer.next(reader.data(), reader.pos, reader.base) {
                Some(frame) => {
                    if let Err(stall) = self.send_frame(key, frame) {
                        return stall;
                    }
                }
                None => match self.fill() {
                    Ok(0) => match self.at_eof(key) {
                        Some(stall) => return stall,
                        None => continue,
                    },
                    Ok(_) => continue,
                    // A compressed file still being written: read it once it changes again.
                    Err(ReadError::Incomplete { .. }) => {
                        self.reader = None;
                        self.queue.block(key);
                        return Stall::Idle;
                    }
                    Err(e) => {
                        if !self.file_failed(key, e) {
                            return Stall::Idle;
                        }
                        continue;
                    }
                },
            }
        }
    }

    fn fill(&mut self) -> Result<usize, ReadError> {
        let Some(r) = self.reader.as_mut() else {
            return Ok(0);
        };
        let n = r.fill()?;
        if n > 0 {
            self.read_ms = crate::clock::unix_ms() as i64;
            // Cheap unless the head grew (it stops at FINGERPRINT_MAX bytes).
            self.queue.observe_head(r.key, r.head());
        }
        Ok(n)
    }

    /// Open the current file at its read offset (through the descriptor held on it) if the
    /// reader isn't already there.
    fn ensure_reader(&mut self, key: FileKey) -> Open {
        let Some(f) = self.queue.get(key) else {
            return Open::Changed;
        };
        if let Some(r) = &self.reader {
            if r.key == key && r.id == f.id && r.offset() == f.read {
                return Open::Ready;
            }
        }
        self.reader = None;
        let path = f.path.clone();
        let fd = match self.files.for_reading(&mut self.queue, key) {
            Ok(fd) => fd,
            Err(source) => {
                self.file_failed(key, ReadError::Open { path, source });
                return Open::Changed;
            }
        };
        let Some(f) = self.queue.get(key) else {
            return Open::Changed;
        };
        let opened = Reader::open(f, fd, self.buffer_cap());
        match opened {
            // Never read from a file nothing was read from while it may be a copy being
            // written (`cp` of copytruncate, first seen empty): its first bytes, as the reader
            // saw them, must not be those of a live file; an empty one is not read yet.
            Ok(r) if self.queue.is_young(key, u64::MAX) => {
                if r.head().is_empty() {
                    // Nothing in it yet; it is looked at again when it changes.
                    self.queue.block(key);
                    self.waiting_for_change = true;
                    return Open::Wait;
                }
                if let Some(n) = self.queue.observe_young(key, r.head()) {
                    self.on_notice(n);
                    return Open::Changed;
                }
                self.queue.set_held(key, true);
                self.reader = Some(r);
                Open::Ready
            }
            Ok(r) => {
                self.queue.observe_head(key, r.head());
                self.queue.set_held(key, true);
                self.reader = Some(r);
                Open::Ready
            }
            // Not fully compressed yet: wait for it to change.
            Err(ReadError::Incomplete { .. }) => {
                self.queue.block(key);
                self.waiting_for_change = true;
                Open::Wait
            }
            Err(e) => {
                if self.file_failed(key, e) {
                    Open::Changed
                } else {
                    Open::Wait
                }
            }
        }
    }

    /// The current file can't be read. If it moved or was rewritten, a rescan sorts it out;
    /// if it can't be read at all, its remaining bytes are counted lost and the queue moves on.
    ///
    /// Returns false when reading on would fail the same way at once: a held file that left
    /// the directory and whose first bytes are no longer what was read (truncated and
    /// rewritten, then deleted or moved away), which the rescan could not examine through
    /// its descriptor either (`OpenFiles::examine_unlisted` failed to stat or read it). It
    /// stays current and waits for a later scan (a backlog, not a busy loop).
    fn file_failed(&mut self, key: FileKey, e: ReadError) -> bool {
        self.reader = None;
        let (moved, unreadable) = match &e {
            ReadError::Replaced { .. } => (true, false),
            ReadError::Incomplete { .. } => (false, false),
            ReadError::Open { source, .. } | ReadError::Read { source, .. } => (
                source.kind() == std::io::ErrorKind::NotFound,
                source.kind() != std::io::ErrorKind::NotFound,
            ),
        };
        if moved {
            if matches!(e, ReadError::Replaced { .. }) {
                self.queue.unverify(key);
            }
            self.rescan();
            // Still current, not held, and still not openable after the rescan: it left the
            // directory; it stops blocking the queue and counts as gone after a few scans.
            if let Some(f) = self.queue.get_mut(key) {
                if !f.held && matches!(e, ReadError::Open { .. }) {
                    f.present = false;
                }
            }
            // The rescan examined held files that left the directory through their
            // descriptors (`OpenFiles::examine_unlisted`): one rewritten since it was read
            // is a new file now. If that examination failed too, the file waits (retrying at
            // once would spin) until a later scan sorts it out.
            let stuck = matches!(e, ReadError::Replaced { .. })
                && self.queue.current() == Some(key)
                && self.queue.get(key).is_some_and(|f| f.held && !f.present);
            if stuck {
                tracing::warn!(section = %self.cfg.name, path = ?self.queue.get(key).map(|f| f.path.clone()), "a held file that left the directory was rewritten since it was read and could not be examined again; its lines wait for the next scan (not lost while held)");
            }
            return !stuck;
        }
        if unreadable {
            let (path, bytes) = self
                .queue
                .get(key)
                .map(|f| (f.path.clone(), f.size.saturating_sub(f.read)))
                .unwrap_or_default();
            self.metrics.file_error(match &e {
                ReadError::Open { source, .. } | ReadError::Read { source, .. } => {
                    io_reason(source)
                }
                ReadError::Replaced { .. } | ReadError::Incomplete { .. } => "replaced",
            });
            self.metrics.bytes_lost("unreadable", bytes);
            tracing::error!(section = %self.cfg.name, path = %path.display(), bytes, "{e}; skipping the file");
            if let Some(f) = self.queue.get_mut(key) {
                f.read = f.size.max(f.read);
                if self.window.outstanding() == 0 || f.acked == f.read {
                    f.acked = f.read;
                }
            }
            self.finish(key);
        }
        true
    }

    fn finish(&mut self, key: FileKey) {
        if let Some(f) = self.queue.get(key) {
            self.metrics.event(
                EventKind::Rotation,
                format!("finished {} (the writer moved on)", f.path.display()),
            );
        }
        for n in self.queue.finish(key, SystemTime::now()) {
            self.on_notice(n);
        }
        if let Some(id) = self.queue.get(key).map(|f| f.id) {
            self.files.finished(&mut self.queue, key, id);
        }
        self.reader = None;
        self.dirty = true;
    }

    /// The reader reached the end of the current file. Returns a stall to wait on, or None to
    /// continue with the next file.
    fn at_eof(&mut self, key: FileKey) -> Option<Stall> {
        let compressed = self
            .reader
            .as_ref()
            .is_some_and(|r| r.codec.is_compressed());
        let st = match self.reader.as_ref().map(Reader::stat) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                self.file_failed(key, e);
                return None;
            }
            None => return Some(Stall::Idle),
        };
        let end = self.reader.as_ref().map_or(0, |r| r.read_end());
        if compressed {
            // The end of a complete compressed stream: its content length is known, and a
            // compressed file is never appended to.
            self.queue.observe_content_end(key, end);
        } else {
            if st.size < end {
                // Truncated under us: the rescan decides between copytruncate and a plain
                // truncate.
                self.rescan();
                return if self.queue.current() == Some(key) && self.reader.is_some() {
                    Some(Stall::Idle)
                } else {
                    None
                };
            }
            if let Some(n) = self.queue.observe_stat(key, st.size, st.mtime, st.linked) {
                self.on_notice(n);
            }
        }
        let mut decision = if compressed {
            Finish::Now
        } else {
            self.queue.can_finish(key, SystemTime::now())
        };
        if let Finish::At(_) = decision {
            // Waiting for this file to be idle: other files may have grown since their last
            // stat (a wake-up does not say which file changed). Ship their lines now rather
            // than after rotate_wait, and see whether the writer has moved on meanwhile.
            for n in self.files.refresh(&mut self.queue) {
                self.on_notice(n);
            }
            if self.queue.current() != Some(key) {
                return None;
            }
            decision = self.queue.can_finish(key, SystemTime::now());
        }
        match decision {
            Finish::No => Some(Stall::Idle),
            Finish::At(t) => {
                self.finish_at = Some(t);
                Some(Stall::Idle)
            }
            Finish::Now => {
                // The partial last line ships now that the file is finished, unless the file
                // is still the live base file: the application may yet complete that line
                // (a newer file appeared beside it), so it waits for its newline or a rotation.
                let partial = if self.queue.is_live_base(key) {
                    None
                } else {
                    self.reader
                        .as_ref()
                        .and_then(|r| self.framer.finish(r.data(), r.pos, r.base))
                };
                if let Some(frame) = partial {
                    if let Err(stall) = self.send_frame(key, frame) {
                        return Some(stall);
                    }
                }
                self.finish(key);
                None
            }
        }
    }

    /// Hand one line to librdkafka and record it as in flight.
    fn send_frame(&mut self, key: FileKey, frame: Frame) -> Result<(), Stall> {
        let Some(reader) = self.reader.as_ref() else {
            return Err(Stall::Idle);
        };
        let line = &reader.data()[frame.start..frame.start + frame.len];
        let seq = self.window.next_seq();
        let path = if self.cfg.headers {
            reader.path.to_string_lossy()
        } else {
            "".into()
        };
        // File offset of the line's first byte (the `offset` header, and error messages).
        let offset = reader.base + frame.start as u64;
        match self.sender.send(seq, line, self.read_ms, &path, offset) {
            Ok(()) => self.window.sent(key, frame.end, frame.len as u32, self.now),
            Err(e) if is_queue_full(&e) => return Err(Stall::QueueFull),
            Err(e) => match classify(&e) {
                FailureKind::Rejected => {
                    self.metrics.bytes_lost("rejected", frame.len as u64);
                    tracing::error!(section = %self.cfg.name, path = %reader.path.display(), offset, "line rejected by the Kafka client ({e}); counted as lost");
                    self.window.skipped(key, frame.end, self.now);
                }
                FailureKind::Retry => {
                    self.count_failure(&e);
                    self.window.fail();
                    // The restart normally follows the last outstanding report; with nothing
                    // in flight no report will come (librdkafka refuses synchronously, e.g.
                    // a topic its metadata marked unauthorized), so restart here.
                    if self.window.ready_to_restart() {
                        self.restart_after_failure();
                    }
                    return Err(Stall::Window);
                }
            },
        }
        if frame.split {
            self.metrics.lines_split.inc();
            if let Some(f) = self.queue.get_mut(key) {
                if !f.split_logged {
                    f.split_logged = true;
                    tracing::warn!(section = %self.cfg.name, path = %f.path.display(), max_line_bytes = self.cfg.max_line_bytes, "line longer than max_line_bytes split into pieces (logged once per file)");
                }
            }
        }
        if let Some(r) = self.reader.as_mut() {
            r.consume_to(frame.end);
        }
        if let Some(f) = self.queue.get_mut(key) {
            f.read = frame.end;
        }
        Ok(())
    }

    /// Count a failed delivery; log the first of a run (until the restart after it).
    fn count_failure(&mut self, e: &rdkafka::error::KafkaError) {
        let reason = e
            .rdkafka_error_code()
            .map(|c| format!("{c:?}"))
            .unwrap_or_else(|| "client".to_string());
        self.metrics.send_error(&reason);
        if e.rdkafka_error_code()
            == Some(rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed)
        {
            // The broker's ACLs refuse this section: one line until lines ship again (the
            // broker logs which rule decided).
            if !self.denied_logged {
                self.denied_logged = true;
                tracing::error!(section = %self.cfg.name, topic = %self.cfg.topic, client_id = %self.cfg.client_id,
                    "the broker's ACLs refuse writes to topic {} by client.id {} (TOPIC_AUTHORIZATION_FAILED: no allow rule matches, or a deny rule does); every line stays in the backlog and is sent again, in order, until the ACLs allow it",
                    self.cfg.topic, self.cfg.client_id);
            }
            return;
        }
        if !self.failure_logged {
            self.failure_logged = true;
            tracing::error!(section = %self.cfg.name, "delivery failed: {e}; unacknowledged lines will be sent again, in order");
        }
    }

    fn on_report(&mut self, r: Report) {
        // A run of successful deliveries, or one failure.
        let at = Instant::from_std(r.at);
        for seq in r.seq..r.seq + r.count {
            self.on_delivery(seq, &r.result, at);
        }
    }

    fn on_delivery(
        &mut self,
        seq: u64,
        result: &Result<(), rdkafka::error::KafkaError>,
        at: Instant,
    ) {
        let outcome = match result {
            Ok(()) => Outcome::Acked,
            Err(e) => match classify(e) {
                FailureKind::Rejected => Outcome::Rejected,
                FailureKind::Retry => Outcome::Failed,
            },
        };
        match (self.window.report(seq, outcome, at), result) {
            (Reported::Recorded, Err(e)) => self.count_failure(e),
            (Reported::Rejected { key, len }, Err(e)) => {
                self.metrics.bytes_lost("rejected", u64::from(len));
                let path = self
                    .queue
                    .get(key)
                    .map(|f| f.path.clone())
                    .unwrap_or_default();
                tracing::error!(section = %self.cfg.name, path = %path.display(), "line rejected by the broker ({e}); counted as lost");
            }
            _ => {}
        }
    }

    /// Take every delivery report already queued (`received`: the caller already took one)
    /// and move the acknowledged offsets. Returns whether a file finished shipping (every
    /// line of a finished file acknowledged).
    fn drain_reports(&mut self, mut received: bool) -> bool {
        while let Ok(r) = self.reports.try_recv() {
            self.on_report(r);
            received = true;
        }
        received && self.after_reports()
    }

    /// After a burst of reports: move the acknowledged offsets once, and restart after a
    /// failure once every outstanding report is back. Returns whether a file finished
    /// shipping.
    fn after_reports(&mut self) -> bool {
        let now = Instant::now();
        let queue = &mut self.queue;
        let latency = &self.metrics.delivery_latency;
        let mut shipped = false;
        let a = self.window.advance(
            |key, end| shipped |= queue.set_acked(key, end),
            |d| latency.observe(d.as_secs_f64()),
        );
        if a.moved {
            self.acked_unsaved = true;
            self.denied_logged = false;
            self.metrics.lines_shipped.inc_by(a.lines);
            self.metrics.bytes_shipped.inc_by(a.bytes);
            self.dirty = true;
            self.last_progress = now;
        }
        if self.window.ready_to_restart() {
            self.restart_after_failure();
        } else if !self.window.failed() {
            self.retry_delay = RETRY_MIN;
        }
        shipped
    }

    /// Every report is back after a failure: re-send everything unacknowledged, in order,
    /// after a backoff; replace the producer if librdkafka declared it unusable.
    fn restart_after_failure(&mut self) {
        self.window.restart();
        self.failure_logged = false;
        for n in self.queue.rewind() {
            self.on_notice(n);
        }
        self.reader = None;
        if let Some(why) = self.sender.fatal() {
            tracing::warn!(section = %self.cfg.name, "producer unusable ({why}); creating a new one");
            match Sender::new(
                &self.env.bootstrap,
                &self.env.output,
                &self.cfg,
                &self.env.host,
                self.metrics.clone(),
            ) {
                Ok((s, rx)) => {
                    self.sender = s;
                    self.reports = rx;
                }
                Err(e) => tracing::error!(section = %self.cfg.name, "{e}"),
            }
        }
        self.hold_until = Some(Instant::now() + self.retry_delay);
        self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
    }

    /// Once a second: backlog gauges, checkpoint age, alert transitions and health.
    fn observe(&mut self) {
        // Sizes of the held files (those that left the directory included), late writes to
        // finished files, and descriptors of shipped files released.
        for n in self.files.refresh(&mut self.queue) {
            self.on_notice(n);
        }
        self.sync_files(HashMap::new());
        self.metrics
            .deleted_open_bytes
            .set(self.queue.deleted_held_bytes() as i64);
        let now = SystemTime::now();
        let b = self.queue.backlog(now);
        self.metrics.backlog_bytes.set(b.bytes as i64);
        self.metrics.backlog_files.set(b.files as i64);
        self.metrics
            .backlog_oldest_seconds
            .set(b.oldest_seconds as i64);
        let written = self.metrics.checkpoint_written_ms.load(Ordering::Relaxed);
        if written > 0 {
            let age = checkpoint::unix_ms(now).saturating_sub(written) / 1000;
            self.metrics.checkpoint_age_seconds.set(age as i64);
        }
        let over = alert::over_threshold(&self.cfg, &b);
        self.metrics.backlog_alert.set(i64::from(over));
        let t = self
            .alert
            .update(over, &self.cfg, &b, self.env.alert_command.as_ref());
        if matches!(t, alert::Transition::Changed { .. }) {
            let (kind, what) = if over {
                (EventKind::AlertFiring, "firing")
            } else {
                (EventKind::AlertResolved, "resolved")
            };
            self.metrics.event(
                kind,
                format!(
                    "backlog alert {what}: {} bytes in {} files, oldest {} s",
                    b.bytes, b.files, b.oldest_seconds
                ),
            );
        }
        let broker_down = self.sender.broker_down();
        if broker_down != self.broker_was_down {
            self.broker_was_down = broker_down;
            let (kind, detail) = if broker_down {
                (EventKind::BrokerDown, "brokers unreachable")
            } else {
                (EventKind::BrokerUp, "brokers answer again")
            };
            self.metrics.event(kind, detail.to_string());
        }
        let current = self.queue.current();
        self.metrics.set_current_file(
            current
                .and_then(|k| self.queue.get(k))
                .map(|f| f.path.as_path()),
        );
        let failing = self.checkpoint_failing.load(Ordering::Relaxed);
        let reason = alert::health_reason(&HealthInputs {
            backlog: b,
            broker_down,
            over_threshold: over,
            checkpoint_failing: failing.then(|| self.store.path()),
            outstanding: self.window.outstanding(),
            since_progress: Instant::now().duration_since(self.last_progress),
        });
        if b.bytes == 0 {
            self.last_progress = Instant::now();
        }
        self.metrics.set_health(reason);
    }

    fn snapshot(&mut self) -> SectionCheckpoint {
        self.queue.prune();
        SectionCheckpoint {
            version: VERSION,
            section: self.cfg.name.clone(),
            topic: self.cfg.topic.clone(),
            files: self.queue.checkpoint_entries(),
        }
    }
}

fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission_denied",
        std::io::ErrorKind::NotFound => "not_found",
        _ => "io_error",
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The empty queue of a section, as configured.
pub fn new_queue(cfg: &SectionConfig) -> FileQueue {
    FileQueue::new(cfg.start_at, cfg.rotate_wait)
        .with_base(cfg.base_log_fullpath.clone())
        .with_compressed(match cfg.compressed_files {
            CompressedFiles::Decompress => CompressedPolicy::Decompress,
            CompressedFiles::Skip => CompressedPolicy::Skip,
        })
}

/// The in-flight window of a section's `producer_type`.
fn flow(cfg: &SectionConfig) -> Flow {
    match cfg.producer_type {
        ProducerType::Async => Flow::Async {
            max_lines: ASYNC_WINDOW_LINES.max(2 * cfg.sender_batch_num_messages),
        },
        ProducerType::Sync => Flow::Sync {
            batch: cfg.sender_batch_num_messages,
            linger: cfg.sender_waiting_max,
        },
    }
}
