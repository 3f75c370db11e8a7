//! The packaged configs and `check` as the .deb's users meet them: the installed config must
//! pass `logferry check` on a host that has none of its logs yet.

use logferry::config::{Brokers, Config, Mode};
use std::path::Path;

fn packaging(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(file)
}

#[test]
fn packaged_config_is_valid_and_uses_the_state_directory() {
    let cfg = Config::load(&packaging("config.toml")).expect("packaging/config.toml");
    assert_eq!(cfg.agent.state_dir, Path::new("/var/lib/logferry"));
    assert_eq!(cfg.output.brokers, Brokers::Bundled);
    assert_eq!(
        cfg.broker.data_dir.as_deref(),
        Some(Path::new("/var/lib/logferry/broker"))
    );
    assert!(!cfg.sections.is_empty());
    // Less than the unit's TimeoutStopSec, so a clean shutdown is never SIGKILLed.
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/logferry.service"),
    )
    .expect("unit");
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim_end_matches('s').parse().ok())
        .expect("TimeoutStopSec=<N>s");
    assert!(cfg.agent.shutdown_timeout.as_secs() * 2 <= stop);
}

#[test]
fn packaged_broker_config_is_valid() {
    let b = Config::load_as(&packaging("broker.toml"), Mode::BrokerOnly)
        .expect("broker.toml")
        .broker;
    assert_eq!(b.listen, "127.0.0.1:9092");
}

#[test]
fn check_reports_a_missing_directory_as_a_warning_and_exits_0() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("not-yet");
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[agent]
state_dir = "{state}"
[output]
brokers = "127.0.0.1:9"
[topic.app]
log_base_path = "{dir}"
base_log_fullpath = "{dir}/app.log"
topic = "app"
"#,
            state = tmp.path().join("state").display(),
            dir = missing.display()
        ),
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .expect("run check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("WARNING directory"), "{text}");
    assert!(text.contains("(no matching files yet)"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
}

/// The directives the service's contract rests on (systemd-analyze verify in packaging/ci.sh
/// checks the syntax, not that these are there).
#[test]
fn units_carry_the_service_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let agent = std::fs::read_to_string(root.join("logferry.service")).expect("agent unit");
    for directive in [
        "Type=notify",
        "WatchdogSec=",
        // The shell's kill builtin: /bin/kill (procps) is not on a minimal system.
        "ExecReload=/bin/sh -c 'kill -HUP \"$1\"' logferry-reload $MAINPID",
        "Restart=on-failure",
        "User=logferry",
        "Group=logferry",
        "SupplementaryGroups=adm",
        "StateDirectory=logferry",
        "ConfigurationDirectory=logferry",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/logferry",
        "RestrictAddressFamilies=",
        "LimitNOFILE=",
        "ExecStart=/usr/bin/logferry run --config /etc/logferry/config.toml",
    ] {
        assert!(
            agent.lines().any(|l| l.starts_with(directive)),
            "logferry.service lacks {directive}"
        );
    }
    let broker = std::fs::read_to_string(root.join("logferry-broker.service")).expect("unit");
    for directive in [
        "StateDirectory=logferry-broker",
        "ExecStart=/usr/bin/logferry broker --config /etc/logferry/broker.toml --data-dir /var/lib/logferry-broker",
        "User=logferry",
        "ProtectSystem=strict",
    ] {
        assert!(
            broker.lines().any(|l| l.starts_with(directive)),
            "logferry-broker.service lacks {directive}"
        );
    }
}
