//! `logferry status` on a fixed state (golden file), its exit codes, and `consume` / `lag`
//! against the bundled broker with a committed group.

use crate::util::*;
use logferry::agent::checkpoint::{CheckpointStore, FileCheckpoint, SectionCheckpoint, VERSION};
use logferry::agent::identity::{DevIno, Fingerprint};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// "Now" for the fixed state, whole seconds, read once so every file's age is exact; the
/// `status` command run as a child sees (almost) the same clock.
fn now_secs() -> u64 {
    static NOW: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NOW.get_or_init(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

fn at(secs_before_now: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs() - secs_before_now)
}

fn write_file(p: &Path, body: &[u8], age: u64) -> FileCheckpoint {
    std::fs::write(p, body).expect("write");
    std::fs::File::options()
        .write(true)
        .open(p)
        .and_then(|f| f.set_modified(at(age)))
        .expect("mtime");
    let m = std::fs::metadata(p).expect("meta");
    let fp = Fingerprint::of_prefix(body);
    FileCheckpoint {
        id: DevIno {
            dev: m.dev(),
            ino: m.ino(),
        },
        fp_len: fp.len,
        fp_crc: fp.crc,
        path: p.display().to_string(),
        offset: 0,
        size: m.len(),
        mtime_ns: (now_secs() - age) as i128 * 1_000_000_000,
        codec: "plain".into(),
        gone: false,
    }
}

/// Two sections: `access` half shipped with a rotated file waiting, `errors` fully shipped.
fn fixed_state(d: &Dirs, extra: &str) -> logferry::config::Config {
    let errdir = d.tmp.path().join("err");
    std::fs::create_dir_all(&errdir).expect("mkdir");
    let mut rotated = write_file(&d.logs.join("access.log.1"), &vec![b'r'; 4000], 7200);
    rotated.offset = 1000;
    let base = write_file(&d.logs.join("access.log"), &vec![b'b'; 500], 60);
    let mut err = write_file(&errdir.join("error.log"), b"e\n", 30);
    err.offset = 2;
    let text = config_text(d, "127.0.0.1:9", "t", extra)
        + &format!(
            "\n[topic.errors]\nlog_base_path = \"{e}\"\nbase_log_fullpath = \"{e}/error.log\"\ntopic = \"errors\"\n",
            e = errdir.display()
        );
    let cfg = logferry::config::Config::parse(&text, d.tmp.path()).expect("config");
    for (name, topic, files) in [
        ("access", "t", vec![rotated, base]),
        ("errors", "errors", vec![err]),
    ] {
        CheckpointStore::new(&d.state, &format!("topic_{name}"))
            .save(&SectionCheckpoint {
                version: VERSION,
                section: name.into(),
                topic: topic.into(),
                files,
            })
            .expect("checkpoint");
    }
    cfg
}

#[test]
fn status_table_matches_golden_file() {
    let d = dirs();
    std::fs::create_dir_all(&d.state).expect("state");
    let cfg = fixed_state(
        &d,
        "backlog_alert_bytes = 1000000\nbacklog_alert_seconds = 86400",
    );
    let st = logferry::commands::status::collect(&cfg, at(0));
    let out = logferry::commands::status::render(&cfg, &st)
        .replace(&d.tmp.path().display().to_string(), "TMP");
    let golden = include_str!("golden/status.txt");
    assert_eq!(out, golden, "got:\n{out}");
    assert_eq!(logferry::commands::status::exit_code(&st), 0);
    // JSON carries the same figures.
    let json = serde_json::to_value(&st).expect("json");
    assert_eq!(json[0]["backlog_bytes"], 3500);
    assert_eq!(json[0]["backlog_files"], 2);
    assert_eq!(json[0]["oldest_unshipped_seconds"], 7200);
}

fn status_cli(cfg_path: &Path) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
        .args(["status", "--config"])
        .arg(cfg_path)
        .output()
        .expect("status");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn status_exit_codes_ok_over_threshold_error() {
    let d = dirs();
    std::fs::create_dir_all(&d.state).expect("state");
    fixed_state(&d, "");
    let errdir = d.tmp.path().join("err");
    let extra_errors = format!(
        "\n[topic.errors]\nlog_base_path = \"{e}\"\nbase_log_fullpath = \"{e}/error.log\"\ntopic = \"errors\"\n",
        e = errdir.display()
    );
    let write_cfg = |extra: &str| {
        config_file(
            &d,
            &(config_text(&d, "127.0.0.1:9", "t", extra) + &extra_errors),
        )
    };
    let (code, out) = status_cli(&write_cfg(""));
    assert_eq!(code, 0, "{out}");
    let (code, out) = status_cli(&write_cfg("backlog_alert_bytes = 3000"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FIRING"), "{out}");
    let (code, _) = status_cli(&write_cfg("backlog_alert_seconds = 3600"));
    assert_eq!(code, 1);
    std::fs::write(d.state.join("topic_errors"), b"{ not json").expect("corrupt");
    let (code, out) = status_cli(&write_cfg(""));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("ERROR") && out.contains("corrupt"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_and_lag_against_the_bundled_broker_with_a_committed_group() {
    init_logs();
    let d = dirs();
    let broker = logferry_broker::start(
        logferry_broker::BrokerConfig {
            listen: "127.0.0.1:0".into(),
            group_initial_rebalance_delay_ms: 0,
            ..Default::default()
        },
        d.tmp.path().join("broker"),
    )
    .await
    .expect("broker");
    let bootstrap = broker.bootstrap_servers();
    let ls = lines("c", 0..50);
    append(&d.logs.join("access.log"), &ls);
    let agent = start_agent(config(&d, &bootstrap, "cl", "")).await;
    assert_lines(
        &as_strings(&read_topic(&bootstrap, "cl", 50, Duration::from_secs(60))),
        &ls,
    );
    agent.stop().await;
    let b = bootstrap.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
            .args([
                "consume",
                "--brokers",
                &b,
                "--topic",
                "cl",
                "--group",
                "readers",
                "--from-beginning",
                "--count",
                "20",
            ])
            .output()
            .expect("consume")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(printed, ls[..20].to_vec());
    let b = bootstrap.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
            .args(["lag", "--brokers", &b, "--group", "readers"])
            .output()
            .expect("lag")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row: Vec<&str> = text
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row, vec!["readers", "cl", "0", "20", "50", "30"], "{text}");
    // And without --group: every group.
    let rows = tokio::task::spawn_blocking(move || logferry::commands::lag::lag(&bootstrap, None))
        .await
        .expect("join")
        .expect("lag");
    assert!(
        rows.iter().any(|r| r.group == "readers" && r.lag == 30),
        "{rows:?}"
    );
    broker.shutdown().await.expect("shutdown");
}
