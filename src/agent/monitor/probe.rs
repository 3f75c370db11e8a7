//! The pipeline probe, what Kafka Monitor cannot do: every interval the agent appends a
//! heartbeat line to `<state_dir>/monitor/probe/probe.log`, and an internal section ships it
//! through the normal path (discovery, queue, reader, sender, checkpoint) to the monitor
//! topic with the key `logferry-probe:<host>`. The writer measures file write →
//! acknowledged-and-checkpointed (it watches the section's checkpoint); the consume service
//! measures file write → consumable and how overdue the next heartbeat is.
//!
//! Invariants:
//! - one heartbeat is one `write` of one whole line (O_APPEND): a kill -9 never leaves half a
//!   heartbeat that the next one would be glued to (and one found at start is terminated);
//! - the file stays under [`MAX_PROBE_BYTES`]: it is renamed to `probe.log.1` (replacing the
//!   previous one) and the section follows the rename like any rotation;
//! - the sequence number resumes from the last heartbeat in the files, so a restart never
//!   opens a gap.

use super::figures::Board;
use super::message::{heartbeat_key, Heartbeat, Payload};
use super::metrics::MonitorMetrics;
use super::{unix_ms, unix_us, MonitorError};
use crate::agent::checkpoint;
use crate::agent::identity::DevIno;
use crate::agent::section::{Section, SectionEnv, SectionError};
use crate::config::{CompressedFiles, MonitorConfig, ProducerType, SectionConfig, StartAt};
use crate::ops::metrics::Metrics;
use std::collections::{HashSet, VecDeque};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Name of the internal section (its metrics carry `section="monitor_probe"`).
pub const SECTION: &str = "monitor_probe";
/// Checkpoint of the internal section, relative to `state_dir`.
pub const CHECKPOINT: &str = "monitor/probe.checkpoint";
/// The probe file is rotated past this size.
pub const MAX_PROBE_BYTES: u64 = 1024 * 1024;
/// How often acknowledgements are looked for while a heartbeat waits for one.
const ACK_POLL: Duration = Duration::from_millis(10);

/// The internal section that ships the probe file: built in code, never in `[topic.*]`.
pub fn section_config(probe_dir: &Path, cfg: &MonitorConfig, host: &str) -> SectionConfig {
    let raw = probe_dir.display().to_string();
    let rotated = format!("{}/probe\\.log\\.1", fancy_regex::escape(&raw));
    SectionConfig {
        name: SECTION.to_string(),
        log_base_path: probe_dir.to_path_buf(),
        log_base_path_raw: raw,
        base_log_fullpath: Some(probe_dir.join("probe.log")),
        // Anchored like a user regex; the rotated file's name is fixed.
        log_name_regx: fancy_regex::Regex::new(&format!("^(?:{rotated})$")).ok(),
        log_name_regx_src: Some(rotated),
        topic: cfg.topic.clone(),
        client_id: "logferry-monitor-probe".to_string(),
        request_required_acks: -1,
        producer_type: ProducerType::Sync,
        sender_batch_num_messages: 10,
        sender_waiting_max: Duration::from_millis(10),
        checkpoint_name: CHECKPOINT.to_string(),
        start_at: StartAt::Beginning,
        max_line_bytes: 64 * 1024,
        rotate_wait: Duration::from_millis(100),
        compressed_files: CompressedFiles::Skip,
        message_key: heartbeat_key(host).into_bytes(),
        headers: false,
        backlog_alert_bytes: None,
        backlog_alert_seconds: None,
    }
}

/// The running probe: its writer and its section.
pub struct Probe {
    writer_stop: CancellationToken,
    writer: JoinHandle<()>,
    section_stop: CancellationToken,
    section: JoinHandle<Result<(), SectionError>>,
}

impl Probe {
    pub fn start(
        monitor_dir: &Path,
        cfg: &MonitorConfig,
        host: &str,
        env: &SectionEnv,
        agent_metrics: &Arc<Metrics>,
        board: Arc<Mutex<Board>>,
        metrics: Arc<MonitorMetrics>,
    ) -> Result<Probe, MonitorError> {
        let dir = monitor_dir.join("probe");
        std::fs::create_dir_all(&dir).map_err(|source| MonitorError::StateDir {
            path: dir.clone(),
            source,
        })?;
        let sc = section_config(&dir, cfg, host);
        let sm = agent_metrics.section(&sc.name, &sc.topic);
        let cp_written = sm.checkpoint_written_ms.clone();
        let section = Section::new(sc, env.clone(), sm)?;
        let writer = Writer::open(
            &dir,
            host,
            cfg.interval,
            env.state_dir.join(CHECKPOINT),
            cp_written,
            board,
            metrics,
        )?;
        let writer_stop = CancellationToken::new();
        let section_stop = CancellationToken::new();
        tracing::info!(file = %writer.path.display(), "pipeline probe started");
        Ok(Probe {
            writer: tokio::spawn(writer.run(writer_stop.clone())),
            section: tokio::spawn(section.run(section_stop.clone())),
            writer_stop,
            section_stop,
        })
    }

    /// Stops writing, then lets the section drain and write its final checkpoint.
    pub async fn stop(mut self) {
        self.writer_stop.cancel();
        let _ = (&mut self.writer).await;
        self.section_stop.cancel();
        match (&mut self.section).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("pipeline probe section stopped with an error: {e}"),
            Err(e) => tracing::error!("pipeline probe section failed: {e}"),
        }
    }
}

impl Drop for Probe {
    /// Dropped without [`Probe::stop`]: both tasks stop without being waited for.
    fn drop(&mut self) {
        self.writer_stop.cancel();
        self.section_stop.cancel();
    }
}

/// A heartbeat written and not yet acknowledged.
struct Pending {
    id: DevIno,
    end: u64,
    written_ms: u64,
}

struct Writer {
    path: PathBuf,
    rotated: PathBuf,
    file: std::fs::File,
    id: DevIno,
    size: u64,
    host: String,
    run: String,
    seq: u64,
    interval: Duration,
    pending: VecDeque<Pending>,
    checkpoint: PathBuf,
    cp_written: Arc<AtomicU64>,
    cp_seen: u64,
    /// Files the checkpoint has listed: one that left it was finished and shipped.
    known: HashSet<DevIno>,
    errors_logged: bool,
    board: Arc<Mutex<Board>>,
    metrics: Arc<MonitorMetrics>,
}

impl Writer {
    fn open(
        dir: &Path,
        host: &str,
        interval: Duration,
        checkpoint: PathBuf,
        cp_written: Arc<AtomicU64>,
        board: Arc<Mutex<Board>>,
        metrics: Arc<MonitorMetrics>,
    ) -> Result<Writer, MonitorError> {
        let path = dir.join("probe.log");
        let rotated = dir.join("probe.log.1");
        let seq = [&path, &rotated]
            .iter()
            .find_map(|p| last_seq(p))
            .map_or(0, |s| s + 1);
        let (file, id, size) = open_append(&path)?;
        let mut w = Writer {
            path,
            rotated,
            file,
            id,
            size,
            host: host.to_string(),
            run: super::message::random_id(),
            seq,
            interval,
            pending: VecDeque::new(),
            checkpoint,
            cp_written,
            cp_seen: 0,
            known: HashSet::new(),
            errors_logged: false,
            board,
            metrics,
        };
        w.terminate_partial_line()?;
        Ok(w)
    }

    /// A line cut by a crash mid-write (not expected with one write per line) is ended so
    /// the next heartbeat is not glued to it; the consumer counts it as malformed.
    fn terminate_partial_line(&mut self) -> Result<(), MonitorError> {
        if self.size == 0 {
            return Ok(());
        }
        let err = |source| MonitorError::StateDir {
            path: self.path.clone(),
            source,
        };
        let mut f = std::fs::File::open(&self.path).map_err(err)?;
        f.seek(SeekFrom::Start(self.size - 1)).map_err(err)?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last).map_err(err)?;
        if last[0] != b'\n' {
            self.file.write_all(b"\n").map_err(err)?;
            self.size += 1;
        }
        Ok(())
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let waiting = !self.pending.is_empty();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = self.beat() {
                        if !std::mem::replace(&mut self.errors_logged, true) {
                            tracing::error!("pipeline probe: cannot write a heartbeat: {e}");
                        }
                    } else {
                        self.errors_logged = false;
                    }
                }
                _ = tokio::time::sleep(ACK_POLL), if waiting => self.look_for_acks(),
            }
            let since = self.pending.front().map(|p| p.written_ms);
            let mut b = self.board.lock().unwrap_or_else(|p| p.into_inner());
            let h = b.pipeline(&self.host, self.interval.as_millis() as u64);
            h.unacked_since_ms = since;
            h.probed = true;
        }
    }

    /// Appends one heartbeat (rotating first when the file is full).
    fn beat(&mut self) -> std::io::Result<()> {
        if self.size >= MAX_PROBE_BYTES {
            std::fs::rename(&self.path, &self.rotated)?;
            let (file, id, size) = open_append(&self.path).map_err(std::io::Error::other)?;
            (self.file, self.id, self.size) = (file, id, size);
        }
        let written_us = unix_us();
        let mut line = Payload::Heartbeat(Heartbeat {
            host: self.host.clone(),
            run: self.run.clone(),
            seq: self.seq,
            interval_ms: self.interval.as_millis() as u64,
            written_us,
        })
        .encode();
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        self.seq += 1;
        self.pending.push_back(Pending {
            id: self.id,
            end: self.size,
            written_ms: written_us / 1000,
        });
        Ok(())
    }

    /// Pops the heartbeats the section's checkpoint covers (read only after it was
    /// rewritten; never through `CheckpointStore::load`, which would remove the section's
    /// temporary file).
    fn look_for_acks(&mut self) {
        let written = self.cp_written.load(Ordering::Acquire);
        if written == self.cp_seen {
            return;
        }
        self.cp_seen = written;
        let Ok(bytes) = std::fs::read(&self.checkpoint) else {
            return;
        };
        let Ok(cp) = checkpoint::parse_bytes(&self.checkpoint, &bytes) else {
            return;
        };
        let now = unix_ms();
        while let Some(p) = self.pending.front() {
            let entry = cp.files.iter().find(|f| f.id == p.id);
            let acked = match entry {
                Some(f) => f.offset >= p.end,
                // Rotated away, shipped and forgotten.
                None => p.id != self.id && self.known.contains(&p.id),
            };
            if !acked {
                break;
            }
            let latency = now.saturating_sub(p.written_ms) as f64 / 1000.0;
            let mut l = MonitorMetrics::host_labels(&self.host);
            l.push(("stage", "acked".to_string()));
            self.metrics
                .pipeline_latency
                .get_or_create(&l)
                .observe(latency);
            let mut b = self.board.lock().unwrap_or_else(|p| p.into_inner());
            b.pipeline(&self.host, self.interval.as_millis() as u64)
                .acked_latency
                .push(now, latency);
            self.pending.pop_front();
        }
        self.known = cp.files.iter().map(|f| f.id).collect();
    }
}

fn open_append(path: &Path) -> Result<(std::fs::File, DevIno, u64), MonitorError> {
    let err = |source| MonitorError::StateDir {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    Ok((file, DevIno::of(&meta), meta.len()))
}

/// The sequence number of the last whole heartbeat in `path`.
fn last_seq(path: &Path) -> Option<u64> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let from = len.saturating_sub(4096);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    tail.split(|b| *b == b'\n')
        .rev()
        .find_map(|line| match Payload::decode(line) {
            Ok(Payload::Heartbeat(h)) => Some(h.seq),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_follows_the_probe_file_and_its_rotation() {
        let dir = Path::new("/var/lib/logferry (x)/monitor/probe");
        let cfg = MonitorConfig::default();
        let s = section_config(dir, &cfg, "app-01");
        let re = s.log_name_regx.as_ref().expect("regex");
        let m = |p: &str| re.is_match(p).expect("match");
        assert!(m("/var/lib/logferry (x)/monitor/probe/probe.log.1"));
        assert!(!m("/var/lib/logferry (x)/monitor/probe/probe.log.2"));
        assert!(!m("/var/lib/logferry (x)/monitor/probe/probeXlog.1"));
        assert_eq!(s.message_key, b"logferry-probe:app-01");
        assert_eq!(s.topic, "logferry-monitor");
    }

    #[test]
    fn sequence_resumes_after_the_last_whole_heartbeat() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("probe.log");
        assert_eq!(last_seq(&p), None);
        let hb = |seq| {
            let mut l = Payload::Heartbeat(Heartbeat {
                host: "h".into(),
                run: "r".into(),
                seq,
                interval_ms: 1000,
                written_us: 0,
            })
            .encode();
            l.push(b'\n');
            l
        };
        let mut body = hb(7);
        body.extend(hb(8));
        body.extend_from_slice(b"{\"lfmon\":1,\"kind\":\"heart");
        std::fs::write(&p, &body).expect("write");
        assert_eq!(last_seq(&p), Some(8));
    }
}
