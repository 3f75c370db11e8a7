//! `[broker]` config parsing (one loader for every command, relative paths against the config
//! file) and the interval flush mode.

use crate::util::{test_config, InProc};
use logferry::config::{BrokerConfig, Config, ConfigError, Mode};
use logferry_broker::Flush;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn load_config(path: &Path) -> Result<BrokerConfig, ConfigError> {
    Config::load_as(path, Mode::BrokerOnly).map(|c| c.broker)
}

#[test]
fn broker_section_is_read_from_a_full_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logferry.toml");
    std::fs::write(
        &path,
        r#"
[output]
brokers = "bundled"

[broker]
listen = "127.0.0.1:0"
num_partitions = 3
flush = 250
retention_bytes = 1000000
segment_bytes = 65536
"#,
    )
    .expect("write");
    let cfg = load_config(&path).expect("parse");
    assert_eq!(cfg.num_partitions, 3);
    assert_eq!(cfg.flush, Flush::IntervalMs(250));
    assert_eq!(cfg.retention_bytes, Some(1_000_000));
    assert_eq!(cfg.segment_bytes, 65536);

    std::fs::write(&path, "[broker]\nflush = \"ack\"\nbogus = 1\n").expect("write");
    let err = load_config(&path).expect_err("unknown key rejected");
    assert!(err.to_string().contains("bogus"), "{err}");
    std::fs::write(&path, "[output]\nbrokers = \"x:9092\"\n").expect("write");
    assert_eq!(
        load_config(&path).expect("defaults").flush,
        Flush::default()
    );
}

#[test]
fn interval_flush_acks_and_serves_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(1);
    cfg.flush = Flush::IntervalMs(20);
    let b = InProc::start(cfg, dir.path());
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("acks", "all")
        .create()
        .expect("producer");
    for i in 0..100 {
        let v = format!("interval-{i:03}");
        p.send(BaseRecord::<(), String>::to("iv").payload(&v))
            .expect("enqueue");
    }
    p.flush(Duration::from_secs(20)).expect("all acknowledged");
    drop(p);
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("group.id", "iv-reader")
        .create()
        .expect("consumer");
    {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("iv", 0, Offset::Beginning)
            .expect("tpl");
        c.assign(&tpl).expect("assign");
        let mut got = Vec::new();
        while got.len() < 100 {
            if let Some(m) = c.poll(Duration::from_secs(10)) {
                let m = m.expect("message");
                got.push(
                    String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf8"),
                );
            } else {
                panic!("timed out after {} messages", got.len());
            }
        }
        let want: Vec<String> = (0..100).map(|i| format!("interval-{i:03}")).collect();
        assert_eq!(got, want);
    }
    drop(c);
    b.shutdown();
}

/// Regression: `logferry broker --config DIR/config.toml` run from another directory put its
/// data under `./.logferry/broker` of the working directory, while `logferry run` resolved the
/// same key against the config file's directory.
#[test]
fn broker_data_dir_resolves_against_the_config_file_not_the_working_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf_dir = tmp.path().join("etc");
    let cwd = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&conf_dir).expect("mkdir");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    let conf = conf_dir.join("config.toml");
    std::fs::write(
        &conf,
        "[broker]\nlisten = \"127.0.0.1:0\"\ndata_dir = \".logferry/broker\"\n",
    )
    .expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_logferry"))
        .current_dir(&cwd)
        .args(["broker", "--config"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // Drain stderr to the end: a closed pipe would fail the broker's next log line.
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            eprintln!("[child] {line}");
            if line.contains("listening on") {
                let _ = tx.send(());
            }
        }
    });
    let listening = rx.recv_timeout(Duration::from_secs(30)).is_ok();
    // SAFETY: a signal to our own child process, which has not been reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    let _ = reader.join();
    assert!(listening, "the broker started");
    assert!(status.success(), "clean stop: {status}");
    assert!(
        conf_dir.join(".logferry/broker/.lock").exists(),
        "data under the config file's directory"
    );
    assert!(
        !cwd.join(".logferry").exists(),
        "nothing under the working directory"
    );
    // The agent's loader agrees.
    let agent = Config::parse_as(
        &std::fs::read_to_string(&conf).expect("read"),
        &conf_dir,
        Mode::BrokerOnly,
    )
    .expect("valid");
    assert_eq!(agent.bundled_data_dir(), conf_dir.join(".logferry/broker"));
}

/// Regression: `consume`/`lag --brokers bundled --config packaging/broker.toml` failed with
/// "no [topic.NAME] section"; a broker-only config is enough to find the broker.
#[test]
fn client_commands_accept_a_broker_only_config() {
    let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/broker.toml");
    assert_eq!(
        logferry::config::resolve_brokers("bundled", Some(&packaged)).expect("broker-only"),
        "127.0.0.1:9092"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), &dir.path().join("data"));
    let conf = dir.path().join("broker.toml");
    std::fs::write(&conf, format!("[broker]\nlisten = \"{}\"\n", b.bootstrap())).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_logferry"))
        .args(["lag", "--brokers", "bundled", "--config"])
        .arg(&conf)
        .output()
        .expect("run lag");
    assert!(
        out.status.success(),
        "lag with a broker-only config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.shutdown();
}
