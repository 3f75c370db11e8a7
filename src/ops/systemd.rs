//! systemd service notifications (`Type=notify`): READY, RELOADING, STOPPING, STATUS and
//! watchdog pings, sent over `$NOTIFY_SOCKET` with the `sd-notify` crate.
//!
//! Every function is a no-op when the process was not started by systemd (no
//! `$NOTIFY_SOCKET`, no `$WATCHDOG_USEC`), so `logferry run` in a terminal or in tests behaves
//! exactly as before. A failed notification is logged at debug level and otherwise ignored:
//! the agent's job is shipping lines, and systemd itself reports a missing READY or watchdog
//! ping (by timing the unit out), which is the signal an operator acts on.

use crate::ops::metrics::Summary;
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

/// The STATUS= line: sections running, lines and bytes shipped since start, the backlog,
/// and sections whose brokers do not answer.
pub fn summary(m: &Summary) -> String {
    let mut s = format!(
        "{} section{} running, {} lines ({}) shipped, backlog {}",
        m.sections,
        if m.sections == 1 { "" } else { "s" },
        m.lines_shipped,
        human_bytes(m.bytes_shipped as f64),
        human_bytes(m.backlog_bytes as f64)
    );
    // logferry_broker_up turns 0 when librdkafka reports all brokers down, and 1 again at
    // the next acknowledgement or broker connection.
    if m.brokers_down > 0 {
        s.push_str(&format!(", brokers down in {} section(s)", m.brokers_down));
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

    #[test]
    fn summary_is_one_line() {
        let m = Summary {
            sections: 2,
            lines_shipped: 7,
            bytes_shipped: 0,
            backlog_bytes: 2048,
            brokers_down: 1,
        };
        let s = summary(&m);
        assert_eq!(
            s,
            "2 sections running, 7 lines (0 B) shipped, backlog 2.0 KiB, brokers down in 1 section(s)"
        );
        let one = summary(&Summary {
            sections: 1,
            lines_shipped: 1520,
            bytes_shipped: 217_395,
            ..Summary::default()
        });
        assert_eq!(
            one,
            "1 section running, 1520 lines (212.3 KiB) shipped, backlog 0 B"
        );
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
