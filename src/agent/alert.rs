//! Backlog alerts and section health: the thresholds (shared with `logferry status`, so the
//! command and the running agent never disagree), the `alert_command` run on each transition,
//! and the reason /healthz gives for a stuck section.

use crate::agent::queue::Backlog;
use crate::config::SectionConfig;
use std::path::Path;
use std::time::Duration;

/// With lines outstanding, no acknowledgement for this long makes /healthz report the section.
pub const STALL_AFTER: Duration = Duration::from_secs(60);

/// Whether `b` exceeds the section's `backlog_alert_bytes` or `backlog_alert_seconds`.
pub fn over_threshold(cfg: &SectionConfig, b: &Backlog) -> bool {
    let over_bytes = cfg.backlog_alert_bytes.is_some_and(|t| b.bytes >= t);
    let over_age = cfg
        .backlog_alert_seconds
        .is_some_and(|t| b.files > 0 && b.oldest_seconds >= t);
    over_bytes || over_age
}

/// What the health check looks at, gathered once a second by the section.
#[derive(Debug, Clone, Copy)]
pub struct HealthInputs<'a> {
    pub backlog: Backlog,
    pub broker_down: bool,
    pub over_threshold: bool,
    /// The checkpoint file, when its writes are failing.
    pub checkpoint_failing: Option<&'a Path>,
    /// Lines handed to the producer and not reported.
    pub outstanding: usize,
    /// Since the last acknowledgement (or since the backlog was last empty).
    pub since_progress: Duration,
}

/// Why the section is stuck, for /healthz; None while it ships or idles.
pub fn health_reason(h: &HealthInputs<'_>) -> Option<String> {
    let b = &h.backlog;
    if h.broker_down && b.bytes > 0 {
        Some(format!(
            "brokers unreachable; backlog {} bytes in {} files",
            b.bytes, b.files
        ))
    } else if h.over_threshold {
        Some(format!(
            "backlog over threshold: {} bytes, oldest unshipped file {} s old",
            b.bytes, b.oldest_seconds
        ))
    } else if let Some(path) = h.checkpoint_failing {
        Some(format!("checkpoint writes to {} failing", path.display()))
    } else if b.bytes > 0 && h.outstanding > 0 && h.since_progress >= STALL_AFTER {
        Some(format!(
            "no acknowledgement for {} s with backlog {} bytes",
            h.since_progress.as_secs(),
            b.bytes
        ))
    } else {
        None
    }
}

/// `[agent] alert_command` and its timeout.
#[derive(Debug, Clone)]
pub struct AlertCommand {
    pub command: String,
    pub timeout: Duration,
}

/// The alert state of one section: logs, and runs the command, on each transition.
#[derive(Debug, Default)]
pub struct Alert {
    firing: bool,
}

impl Alert {
    pub fn firing(&self) -> bool {
        self.firing
    }

    /// Feed the current state; on a transition, log it and start `command` (if any) with the
    /// alert in its environment.
    pub fn update(
        &mut self,
        over: bool,
        cfg: &SectionConfig,
        b: &Backlog,
        command: Option<&AlertCommand>,
    ) -> Transition {
        if over == self.firing {
            return Transition::None;
        }
        self.firing = over;
        if over {
            tracing::warn!(section = %cfg.name, topic = %cfg.topic, backlog_bytes = b.bytes, backlog_files = b.files, oldest_seconds = b.oldest_seconds, "backlog alert firing");
        } else {
            tracing::info!(section = %cfg.name, topic = %cfg.topic, backlog_bytes = b.bytes, backlog_files = b.files, oldest_seconds = b.oldest_seconds, "backlog alert resolved");
        }
        if let Some(c) = command {
            let env = vec![
                (
                    "LOGFERRY_ALERT",
                    if over { "firing" } else { "resolved" }.to_string(),
                ),
                ("LOGFERRY_SECTION", cfg.name.clone()),
                ("LOGFERRY_TOPIC", cfg.topic.clone()),
                ("LOGFERRY_BACKLOG_BYTES", b.bytes.to_string()),
                ("LOGFERRY_BACKLOG_SECONDS", b.oldest_seconds.to_string()),
            ];
            return Transition::Changed {
                command: Some(tokio::spawn(run_command(c.clone(), env))),
            };
        }
        Transition::Changed { command: None }
    }
}

/// The outcome of [`Alert::update`].
#[derive(Debug)]
pub enum Transition {
    None,
    /// Firing or resolved; the alert command's task when one was started.
    Changed {
        command: Option<tokio::task::JoinHandle<()>>,
    },
}

/// Runs the alert command (`sh -c`) with the alert in its environment; bounded in time, and
/// its failure is logged, never fatal. Shared with the monitor's SLA alert.
pub(crate) async fn run_command(c: AlertCommand, env: Vec<(&'static str, String)>) {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&c.command)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let command = &c.command;
    match cmd.spawn() {
        Err(e) => tracing::error!(%command, "alert_command could not start: {e}"),
        Ok(mut child) => match tokio::time::timeout(c.timeout, child.wait()).await {
            Ok(Ok(st)) if st.success() => {}
            Ok(Ok(st)) => tracing::error!(%command, "alert_command failed: {st}"),
            Ok(Err(e)) => tracing::error!(%command, "alert_command failed: {e}"),
            Err(_) => {
                let _ = child.kill().await;
                tracing::error!(%command, timeout_ms = c.timeout.as_millis() as u64, "alert_command timed out and was killed");
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(bytes: Option<u64>, seconds: Option<u64>) -> SectionConfig {
        let text =
            "[topic.a]\nlog_base_path = \"/l\"\nbase_log_fullpath = \"/l/a\"\ntopic = \"a\"\n";
        let mut s = crate::config::Config::parse(text, Path::new("/"))
            .expect("valid")
            .sections
            .remove(0);
        s.backlog_alert_bytes = bytes;
        s.backlog_alert_seconds = seconds;
        s
    }

    fn backlog(bytes: u64, files: u64, oldest_seconds: u64) -> Backlog {
        Backlog {
            bytes,
            files,
            oldest_seconds,
        }
    }

    #[test]
    fn thresholds_by_bytes_or_by_age_of_an_unshipped_file() {
        let s = section(Some(100), Some(60));
        assert!(!over_threshold(&s, &backlog(99, 1, 59)));
        assert!(over_threshold(&s, &backlog(100, 1, 0)));
        assert!(over_threshold(&s, &backlog(1, 1, 60)));
        // Old but fully shipped files do not count.
        assert!(!over_threshold(&s, &backlog(0, 0, 600)));
        assert!(!over_threshold(
            &section(None, None),
            &backlog(u64::MAX, 9, 9999)
        ));
    }

    #[test]
    fn health_reasons_in_order_of_urgency() {
        let h = HealthInputs {
            backlog: backlog(10, 1, 5),
            broker_down: true,
            over_threshold: true,
            checkpoint_failing: None,
            outstanding: 3,
            since_progress: Duration::from_secs(120),
        };
        assert!(health_reason(&h)
            .expect("down")
            .starts_with("brokers unreachable"));
        let h = HealthInputs {
            broker_down: false,
            ..h
        };
        assert!(health_reason(&h)
            .expect("over")
            .starts_with("backlog over threshold"));
        let h = HealthInputs {
            over_threshold: false,
            ..h
        };
        assert!(health_reason(&h)
            .expect("stall")
            .starts_with("no acknowledgement for 120 s"));
        let h = HealthInputs {
            outstanding: 0,
            ..h
        };
        assert_eq!(health_reason(&h), None);
        let cp = Path::new("/state/topic_a");
        let h = HealthInputs {
            checkpoint_failing: Some(cp),
            ..h
        };
        assert_eq!(
            health_reason(&h).as_deref(),
            Some("checkpoint writes to /state/topic_a failing")
        );
        // Brokers down with nothing to ship is not a problem.
        let idle = HealthInputs {
            backlog: backlog(0, 0, 0),
            broker_down: true,
            over_threshold: false,
            checkpoint_failing: None,
            outstanding: 0,
            since_progress: Duration::ZERO,
        };
        assert_eq!(health_reason(&idle), None);
    }

    #[tokio::test]
    async fn a_transition_runs_the_command_with_the_alert_in_its_environment() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("alert.out");
        let cmd = AlertCommand {
            command: format!(
                "echo \"$LOGFERRY_ALERT $LOGFERRY_SECTION $LOGFERRY_BACKLOG_BYTES\" >> {}",
                out.display()
            ),
            timeout: Duration::from_secs(10),
        };
        let s = section(Some(5), None);
        let mut a = Alert::default();
        assert!(matches!(
            a.update(false, &s, &backlog(0, 0, 0), Some(&cmd)),
            Transition::None
        ));
        let Transition::Changed {
            command: Some(task),
        } = a.update(true, &s, &backlog(7, 1, 0), Some(&cmd))
        else {
            panic!("firing runs the command");
        };
        assert!(a.firing());
        task.await.expect("command task");
        assert_eq!(std::fs::read_to_string(&out).expect("ran"), "firing a 7\n");
    }
}
