//! Backlog metrics, alerts, /healthz, promtool, `status`, `consume` and `lag`.

use crate::util::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_backlog_is_exact_alert_fires_once_runs_command_and_resolves() {
    init_logs();
    let mock = mock_cluster("mon");
    let d = dirs();
    let alerts = d.tmp.path().join("alerts.log");
    let cmd = format!(
        "(env | grep ^LOGFERRY_ | sort; echo ---) >> {}",
        alerts.display()
    );
    let text = config_text(
        &d,
        &mock.bootstrap_servers(),
        "mon",
        "backlog_alert_bytes = 20000",
    )
    .replace("[output]", &format!("alert_command = '{cmd}'\n\n[output]"));
    let cfg = logferry::config::Config::parse(&text, d.tmp.path()).expect("config");
    brokers(&mock, false);
    let base = d.logs.join("access.log");
    let lines_a = lines("unshipped", 0..500);
    append(&base, &lines_a);
    let size = std::fs::metadata(&base).expect("meta").len();
    let agent = start_agent(cfg).await;
    let addr = agent.metrics_addr().expect("metrics endpoint");
    let backlog = "logferry_backlog_bytes{section=\"access\",topic=\"mon\"}";
    let alert = "logferry_backlog_alert{section=\"access\",topic=\"mon\"}";
    wait_for("backlog = file size and alert firing", T, || {
        let m = http_get(addr, "/metrics").1;
        sample(&m, backlog) == Some(size as f64) && sample(&m, alert) == Some(1.0)
    })
    .await;
    let scrape_down = http_get(addr, "/metrics").1;
    assert_eq!(
        sample(
            &scrape_down,
            "logferry_broker_up{section=\"access\",topic=\"mon\"}"
        ),
        Some(0.0),
        "{scrape_down}"
    );
    let (code, body) = http_get(addr, "/healthz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("section access:"), "{body}");
    wait_for("alert command ran", T, || {
        std::fs::read_to_string(&alerts).is_ok_and(|s| s.contains("---"))
    })
    .await;
    let fired = std::fs::read_to_string(&alerts).expect("alerts");
    assert_eq!(
        fired,
        format!(
            "LOGFERRY_ALERT=firing\nLOGFERRY_BACKLOG_BYTES={size}\nLOGFERRY_BACKLOG_SECONDS=0\nLOGFERRY_SECTION=access\nLOGFERRY_TOPIC=mon\n---\n"
        )
    );
    std::fs::write(d.tmp.path().join("scrape-broker-down.txt"), &scrape_down).expect("save");
    promtool_check_metrics(&scrape_down);

    brokers(&mock, true);
    assert_lines(
        &as_strings(&read_topic(&mock.bootstrap_servers(), "mon", 500, T)),
        &lines_a,
    );
    wait_for("backlog drained and alert resolved", T, || {
        let m = http_get(addr, "/metrics").1;
        sample(&m, backlog) == Some(0.0) && sample(&m, alert) == Some(0.0)
    })
    .await;
    wait_for("resolved command ran", T, || {
        std::fs::read_to_string(&alerts).is_ok_and(|s| s.matches("---").count() == 2)
    })
    .await;
    let all = std::fs::read_to_string(&alerts).expect("alerts");
    assert!(all.ends_with("LOGFERRY_ALERT=resolved\nLOGFERRY_BACKLOG_BYTES=0\nLOGFERRY_BACKLOG_SECONDS=0\nLOGFERRY_SECTION=access\nLOGFERRY_TOPIC=mon\n---\n"), "{all}");
    wait_for("healthy", T, || http_get(addr, "/healthz").0 == 200).await;
    let m = http_get(addr, "/metrics").1;
    agent.stop().await;
    assert_eq!(
        sample(
            &m,
            "logferry_lines_shipped_total{section=\"access\",topic=\"mon\"}"
        ),
        Some(500.0)
    );
    assert_eq!(
        sample(
            &m,
            "logferry_bytes_shipped_total{section=\"access\",topic=\"mon\"}"
        ),
        Some((size - 500) as f64)
    );
    assert_eq!(
        sample(
            &m,
            "logferry_delivery_latency_seconds_count{section=\"access\",topic=\"mon\"}"
        ),
        Some(500.0)
    );
    // The alert fired exactly once and resolved exactly once.
    assert_eq!(all.matches("firing").count(), 1);
    assert_eq!(all.matches("resolved").count(), 1);
}

pub(crate) fn promtool_check_metrics(scrape: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed; .ci/run installs it");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_rules_file() {
    promtool_check_rules("logferry-rules.yml");
}

/// `promtool check rules` on a rules file of packaging/prometheus/.
pub(crate) fn promtool_check_rules(name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/prometheus")
        .join(name);
    let out = std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .expect("promtool (Debian package prometheus) must be installed; .ci/run installs it");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_broker_metrics_scrape_is_valid() {
    init_logs();
    let d = dirs();
    let text = config_text(&d, "bundled", "bm", "")
        + &format!(
            "\n[broker]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
            d.tmp.path().join("b").display()
        );
    let cfg = logferry::config::Config::parse(&text, d.tmp.path()).expect("config");
    let ls = lines("m", 0..100);
    append(&d.logs.join("access.log"), &ls);
    let agent = start_agent(cfg).await;
    let bootstrap = agent.bootstrap_servers().to_string();
    assert_lines(&as_strings(&read_topic(&bootstrap, "bm", 100, T)), &ls);
    let m = http_get(agent.metrics_addr().expect("endpoint"), "/metrics").1;
    agent.stop().await;
    assert_eq!(
        sample(
            &m,
            "logferry_broker_messages_in_total{topic=\"bm\",partition=\"0\"}"
        ),
        Some(100.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "logferry_broker_log_end_offset{topic=\"bm\",partition=\"0\"}"
        ),
        Some(100.0),
        "{m}"
    );
    assert!(
        m.contains("logferry_broker_requests_total{api=\"Produce\"}"),
        "{m}"
    );
    assert!(m.contains("logferry_broker_connections "), "{m}");
    promtool_check_metrics(&m);
}
