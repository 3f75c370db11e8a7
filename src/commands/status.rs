//! `logferry status` (and `check`): what each section has left to ship, computed offline from
//! its checkpoint and its files. Takes no lock, so it works whether or not the agent runs.

use crate::agent::checkpoint::CheckpointStore;
use crate::agent::discovery;
use crate::agent::queue::FileQueue;
use crate::config::{Config, SectionConfig};
use serde::Serialize;
use std::time::SystemTime;

/// A section as the agent would start it.
pub struct Offline {
    /// The checkpoint reconciled with a directory scan.
    pub queue: FileQueue,
    /// Files that could not be read.
    pub faults: Vec<String>,
    /// The directory does not exist (yet): not an error, the agent waits for it.
    pub missing_dir: Option<String>,
}

/// The queue the agent would start with. Errors: an unreadable or corrupt checkpoint, an
/// unlistable directory.
pub fn offline_queue(s: &SectionConfig, config: &Config) -> Result<Offline, String> {
    let store = CheckpointStore::new(&config.agent.state_dir, &s.checkpoint_name);
    let mut queue = crate::agent::section::new_queue(s);
    if let Some(cp) = store.load().map_err(|e| e.to_string())? {
        queue.restore(&cp.files);
    }
    let mut faults = Vec::new();
    let missing_dir = match discovery::scan(s, &queue, &mut faults, 0) {
        Ok(scan) => {
            queue.reconcile(scan.entries);
            None
        }
        Err(e @ discovery::DiscoveryError::Missing { .. }) => Some(e.to_string()),
        Err(e) => return Err(e.to_string()),
    };
    let faults = faults
        .into_iter()
        .map(|f| format!("cannot read {}: {}", f.path.display(), f.error))
        .collect();
    Ok(Offline {
        queue,
        faults,
        missing_dir,
    })
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SectionStatus {
    pub section: String,
    pub topic: String,
    pub checkpoint: String,
    /// The first file with unshipped bytes, else the newest file.
    pub current_file: Option<String>,
    pub offset: u64,
    pub size: u64,
    pub backlog_bytes: u64,
    pub backlog_files: u64,
    pub oldest_unshipped_seconds: u64,
    pub alert: bool,
    pub error: Option<String>,
    /// E.g. the directory does not exist yet.
    pub warning: Option<String>,
}

pub fn collect(config: &Config, now: SystemTime) -> Vec<SectionStatus> {
    config
        .sections
        .iter()
        .map(|s| {
            let checkpoint = CheckpointStore::new(&config.agent.state_dir, &s.checkpoint_name)
                .path()
                .display()
                .to_string();
            let mut st = SectionStatus {
                section: s.name.clone(),
                topic: s.topic.clone(),
                checkpoint,
                current_file: None,
                offset: 0,
                size: 0,
                backlog_bytes: 0,
                backlog_files: 0,
                oldest_unshipped_seconds: 0,
                alert: false,
                error: None,
                warning: None,
            };
            match offline_queue(s, config) {
                Err(e) => st.error = Some(e),
                Ok(Offline {
                    queue,
                    faults,
                    missing_dir,
                }) => {
                    st.warning = missing_dir;
                    let files = queue.ordered();
                    let current = files.iter().find(|f| f.acked < f.size).or(files.last());
                    if let Some(f) = current {
                        st.current_file = Some(f.path.display().to_string());
                        st.offset = f.acked;
                        st.size = f.size;
                    }
                    let b = queue.backlog(now);
                    st.backlog_bytes = b.bytes;
                    st.backlog_files = b.files;
                    st.oldest_unshipped_seconds = b.oldest_seconds;
                    st.alert = s.backlog_alert_bytes.is_some_and(|t| b.bytes >= t)
                        || s.backlog_alert_seconds
                            .is_some_and(|t| b.files > 0 && b.oldest_seconds >= t);
                    if !faults.is_empty() {
                        st.error = Some(faults.join("; "));
                    }
                }
            }
            st
        })
        .collect()
}

/// 0 OK, 1 a section over a threshold, 2 an error (the monitoring-plugin convention).
pub fn exit_code(statuses: &[SectionStatus]) -> u8 {
    if statuses.iter().any(|s| s.error.is_some()) {
        2
    } else if statuses.iter().any(|s| s.alert) {
        1
    } else {
        0
    }
}

pub fn render(config: &Config, statuses: &[SectionStatus]) -> String {
    let mut out = String::new();
    for (st, s) in statuses.iter().zip(&config.sections) {
        out.push_str(&format!(
            "[topic.{}] -> topic \"{}\"\n",
            st.section, st.topic
        ));
        out.push_str(&format!("  checkpoint        {}\n", st.checkpoint));
        if let Some(e) = &st.error {
            out.push_str(&format!("  ERROR             {e}\n"));
        }
        if let Some(w) = &st.warning {
            out.push_str(&format!("  WARNING           {w}\n"));
        }
        out.push_str(&format!(
            "  current file      {}\n",
            st.current_file.as_deref().unwrap_or("(none yet)")
        ));
        out.push_str(&format!(
            "  offset / size     {} / {}\n",
            st.offset, st.size
        ));
        out.push_str(&format!(
            "  backlog           {} bytes in {} files\n",
            st.backlog_bytes, st.backlog_files
        ));
        out.push_str(&format!(
            "  oldest unshipped  {} s\n",
            st.oldest_unshipped_seconds
        ));
        let thresholds = match (s.backlog_alert_bytes, s.backlog_alert_seconds) {
            (None, None) => "no thresholds set".to_string(),
            (b, a) => {
                let mut v = Vec::new();
                if let Some(b) = b {
                    v.push(format!("backlog_alert_bytes = {b}"));
                }
                if let Some(a) = a {
                    v.push(format!("backlog_alert_seconds = {a}"));
                }
                v.join(", ")
            }
        };
        out.push_str(&format!(
            "  alert             {} ({thresholds})\n\n",
            if st.alert { "FIRING" } else { "ok" }
        ));
    }
    out
}
