//! systemd service notifications (`Type=notify`): READY, RELOADING, STOPPING, STATUS and
//! watchdog pings, sent over `$NOTIFY_SOCKET` with the `sd-notify` crate.
//!
//! Every function is a no-op when the process was not started by systemd (no
//! `$NOTIFY_SOCKET`, no `$WATCHDOG_USEC`), so `logferry run` in a terminal or in tests behaves
//! exactly as before. A failed notification is logged at debug level and otherwise ignored:
//! the agent's job is shipping lines, and systemd itself reports a missing READY or watchdog
//! ping (by timing the unit out), which is the signal an operator acts on.

use sd_notify::NotifyState;
use std::time::Duration;
use tokio::task::JoinHandle;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("systemd notification {states:?} failed: {e}");
    }
}

/// Startup finished: the config is loaded and every section started.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// A SIGHUP reload begins; [`ready`] ends it. systemd >= 253 requires MONOTONIC_USEC with
/// RELOADING=1 (older versions ignore it), so both are sent in one datagram.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Shutdown begins (sections drain, final checkpoints, then the bundled broker stops).
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A one-line status shown by `systemctl status logferry`. Newlines would end the STATUS=
/// field early, so they are replaced.
pub fn status(line: &str) {
    let line = line.replace('\n', " ");
    send(&[NotifyState::Status(&line)]);
}

/// The interval at which to ping the watchdog: half of `WatchdogSec`, as sd_watchdog_enabled(3)
/// recommends, so one late tick does not get the service killed. None when the watchdog is
/// off or this process is not the one systemd watches.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .map(|d| d / 2)
        .filter(|d| !d.is_zero())
}

/// Ping the watchdog from a tokio task at half the configured interval. The pings prove that
/// the runtime still schedules tasks (a deadlocked or starved runtime stops them and systemd
/// restarts the agent); a section stuck on a dead broker is not a hang and is reported in
/// STATUS instead. Returns None (and spawns nothing) when the watchdog is off.
pub fn spawn_watchdog() -> Option<JoinHandle<()>> {
    let every = watchdog_interval()?;
    tracing::debug!(
        interval_ms = every.as_millis() as u64,
        "systemd watchdog enabled"
    );
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    }))
}

/// How often `run` refreshes the STATUS= line.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// Sum of every sample of the metric `name` (all label sets) in Prometheus text format, or
/// None when no sample of it is present. Used to build the STATUS line from
/// [`crate::metrics::Metrics::render`] without reaching into the registry's internals.
pub fn sum_metric(text: &str, name: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // The name must end here: `logferry_lines` must not match `logferry_lines_split`.
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            found = true;
            sum += v;
        }
    }
    found.then_some(sum)
}

/// Number of samples of a gauge `name` whose value is `value` (e.g. sections whose
/// `logferry_broker_up` is 0).
pub fn count_metric_eq(text: &str, name: &str, value: f64) -> usize {
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter(|rest| rest.starts_with('{') || rest.starts_with(' '))
        .filter_map(|rest| rest.rsplit(' ').next()?.parse::<f64>().ok())
        .filter(|v| *v == value)
        .count()
}

/// The STATUS= line: sections running, lines and bytes shipped since start, the backlog when
/// the metrics report one (`logferry_backlog_bytes`), and sections whose brokers have not
/// answered.
pub fn summary(sections: usize, metrics_text: &str) -> String {
    let lines = sum_metric(metrics_text, "logferry_lines_shipped_total").unwrap_or(0.0);
    let bytes = sum_metric(metrics_text, "logferry_bytes_shipped_total").unwrap_or(0.0);
    let mut s = format!(
        "{sections} section{} running, {lines:.0} lines ({}) shipped",
        if sections == 1 { "" } else { "s" },
        human_bytes(bytes)
    );
    if let Some(backlog) = sum_metric(metrics_text, "logferry_backlog_bytes") {
        s.push_str(&format!(", backlog {}", human_bytes(backlog)));
    }
    // logferry_broker_up turns 0 when librdkafka reports all brokers down, and 1 again at
    // the next acknowledgement or broker connection.
    let down = count_metric_eq(metrics_text, "logferry_broker_up", 0.0);
    if down > 0 {
        s.push_str(&format!(", brokers down in {down} section(s)"));
    }
    s
}

fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP logferry_lines_shipped Lines acknowledged by the broker.\n\
        # TYPE logferry_lines_shipped counter\n\
        logferry_lines_shipped_total{section=\"a\",topic=\"t\"} 3\n\
        logferry_lines_shipped_total{section=\"b\",topic=\"u\"} 4\n\
        logferry_lines_split_total{section=\"a\",topic=\"t\"} 9\n\
        logferry_broker_up{section=\"a\",topic=\"t\"} 1\n\
        logferry_broker_up{section=\"b\",topic=\"u\"} 0\n\
        # EOF\n";

    #[test]
    fn sums_every_label_set_of_exactly_that_metric() {
        assert_eq!(sum_metric(TEXT, "logferry_lines_shipped_total"), Some(7.0));
        assert_eq!(sum_metric(TEXT, "logferry_lines"), None);
        assert_eq!(sum_metric(TEXT, "logferry_backlog_bytes"), None);
        assert_eq!(count_metric_eq(TEXT, "logferry_broker_up", 0.0), 1);
    }

    #[test]
    fn summary_is_one_line() {
        let s = summary(2, TEXT);
        assert_eq!(
            s,
            "2 sections running, 7 lines (0 B) shipped, brokers down in 1 section(s)"
        );
        let with_backlog = format!("{TEXT}logferry_backlog_bytes{{section=\"a\"}} 2048\n");
        assert!(summary(1, &with_backlog).contains("backlog 2.0 KiB"));
        assert!(!s.contains('\n'));
    }

    #[test]
    fn notifications_are_noops_outside_systemd() {
        // Under `cargo test` there is no NOTIFY_SOCKET: nothing is sent, nothing fails.
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            ready();
            reloading();
            status("x\ny");
            stopping();
        }
    }
}
