//! The end-to-end monitor (`[monitor]`, `logferry monitor`) against real brokers: librdkafka's
//! mock cluster (3 brokers, RF 3) with a broker down, a moved leader and slow responses; the
//! bundled broker with records deleted behind the consumer and a kill -9; the monitor itself
//! killed with -9; the agent's pipeline probe stopped and resumed. Every count is compared
//! with the truth read back from the topic or the producer's saved state.

use crate::util::*;
use logferry::agent::monitor::message::Payload;
use logferry::agent::monitor::streams::ProbeFilter;
use logferry::agent::monitor::{Monitor, MonitorOptions, Report};
use logferry::config::MonitorConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// Fast rounds and short timeouts, so that a test sees many rounds in a few seconds.
fn fast(topic: &str) -> MonitorConfig {
    MonitorConfig {
        topic: topic.to_string(),
        interval: Duration::from_millis(100),
        loss_timeout: Duration::from_millis(1_500),
        produce_timeout: Duration::from_millis(1_000),
        window: Duration::from_millis(3_000),
        partitions_per_broker: 2,
        topic_check_interval: Duration::from_millis(1_000),
        metrics_listen: None,
        ..MonitorConfig::default()
    }
}

async fn start(bootstrap: &str, cfg: MonitorConfig, state: &Path) -> Monitor {
    Monitor::start(MonitorOptions {
        bootstrap: bootstrap.to_string(),
        cfg,
        host: "test-host".to_string(),
        state_dir: Some(state.to_path_buf()),
        lock: true,
        alert: None,
        probe: ProbeFilter::All,
    })
    .await
    .expect("monitor starts")
}

/// Waits for a report that satisfies `f`, and returns it.
async fn report_where(m: &Monitor, what: &str, mut f: impl FnMut(&Report) -> bool) -> Report {
    let deadline = Instant::now() + T;
    loop {
        if let Some(r) = m.report() {
            if f(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {r:#?}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: no report"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn consumed(r: &Report) -> BTreeMap<i32, u64> {
    r.snapshot
        .partitions
        .iter()
        .map(|p| (p.partition, p.consumed))
        .collect()
}

/// Every partition has consumed at least `n` more canaries than in `since`, and no gap is
/// open: whatever happened before is settled (lost or not).
fn settled_after(r: &Report, since: &BTreeMap<i32, u64>, n: u64) -> bool {
    r.snapshot.partitions.len() >= since.len().max(1)
        && r.snapshot.partitions.iter().all(|p| {
            p.consumed >= since.get(&p.partition).copied().unwrap_or(0) + n && p.missing == 0
        })
}

fn sum(r: &Report, f: impl Fn(&logferry::agent::monitor::figures::PartitionRow) -> u64) -> u64 {
    r.snapshot.partitions.iter().map(f).sum()
}

/// Every canary of `producer` in `topic`, read from the beginning up to the high watermarks:
/// (partition, seq, attempt) → copies.
fn canaries_in_topic(
    bootstrap: &str,
    topic: &str,
    producer: &str,
    partitions: &[i32],
) -> BTreeMap<(i32, u64, u32), u64> {
    let from: Vec<(i32, Offset)> = partitions.iter().map(|p| (*p, Offset::Beginning)).collect();
    canaries_from(bootstrap, topic, producer, &from)
}

/// As [`canaries_in_topic`], from the given offsets.
fn canaries_from(
    bootstrap: &str,
    topic: &str,
    producer: &str,
    from: &[(i32, Offset)],
) -> BTreeMap<(i32, u64, u32), u64> {
    let partitions: Vec<i32> = from.iter().map(|(p, _)| *p).collect();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "logferry-test-truth")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    let mut high = BTreeMap::new();
    let mut done = BTreeSet::new();
    for &(p, off) in from {
        let (_, h) = c
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        high.insert(p, h);
        if h == 0 || off == Offset::Offset(h) {
            done.insert(p);
        }
        tpl.add_partition_offset(topic, p, off).expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut out = BTreeMap::new();
    let deadline = Instant::now() + T;
    while done.len() < partitions.len() {
        assert!(
            Instant::now() < deadline,
            "reading the topic back timed out"
        );
        let Some(Ok(m)) = c.poll(Duration::from_millis(200)) else {
            continue;
        };
        if m.offset() + 1 >= high[&m.partition()] {
            done.insert(m.partition());
        }
        if let Ok(Payload::Canary(k)) = Payload::decode(m.payload().unwrap_or_default()) {
            if k.producer == producer {
                *out.entry((m.partition(), k.seq, k.attempt)).or_insert(0) += 1;
            }
        }
    }
    out
}

fn producer_state(state: &Path) -> logferry::agent::monitor::produce::ProducerState {
    serde_json::from_slice(&std::fs::read(state.join("producer.json")).expect("producer.json"))
        .expect("producer state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_cluster_broker_down_costs_exactly_its_partitions_and_nothing_is_lost() {
    init_logs();
    let mock = mock_cluster("unused");
    mock.create_topic("mon", 6, 3).expect("topic");
    // The mock places leaders at random; a real cluster's preferred leaders are spread (the
    // monitor reports a broker leading nothing, it cannot move leaders itself).
    for p in 0..6 {
        mock.partition_leader("mon", p, Some(p % 3 + 1))
            .expect("leader");
    }
    let d = dirs();
    let m = start(&mock.bootstrap_servers(), fast("mon"), &d.state).await;
    let healthy = report_where(&m, "six healthy partitions", |r| {
        r.snapshot.partitions.len() == 6
            && r.snapshot.brokers.len() == 3
            && r.snapshot
                .partitions
                .iter()
                .all(|p| p.leader.is_some() && p.consumed >= 5)
            && r.violations.is_empty()
    })
    .await;
    assert!(
        healthy.snapshot.brokers_without_leadership.is_empty(),
        "every broker leads a partition: {:?}",
        healthy.snapshot.partitions
    );
    let leaders: BTreeMap<i32, i32> = healthy
        .snapshot
        .partitions
        .iter()
        .map(|p| (p.partition, p.leader.expect("leader")))
        .collect();
    let down = leaders[&0];
    let led: BTreeSet<i32> = leaders
        .iter()
        .filter(|(_, l)| **l == down)
        .map(|(p, _)| *p)
        .collect();
    let failed_before: BTreeMap<i32, u64> = healthy
        .snapshot
        .partitions
        .iter()
        .map(|p| (p.partition, p.failed))
        .collect();

    mock.broker_down(down).expect("broker down");
    // Produce availability drops for exactly the partitions the broker leads.
    let r = report_where(&m, "the down broker's partitions failing", |r| {
        r.snapshot
            .partitions
            .iter()
            .filter(|p| led.contains(&p.partition))
            .all(|p| p.produce_availability < 0.99 && p.failed >= failed_before[&p.partition] + 2)
    })
    .await;
    for p in &r.snapshot.partitions {
        if !led.contains(&p.partition) {
            assert_eq!(
                (p.produce_availability, p.failed),
                (1.0, failed_before[&p.partition]),
                "partition {} (leader {:?}) is not on broker {down}",
                p.partition,
                p.leader
            );
        }
    }
    assert!(
        r.violations
            .iter()
            .any(|v| v.check == "produce_availability"),
        "{:?}",
        r.violations
    );

    mock.broker_up(down).expect("broker up");
    let back = consumed(&r);
    // Figures recover once the failures left the window; nothing was lost with acks=-1.
    let r = report_where(&m, "recovery", |r| {
        settled_after(r, &back, 20)
            && r.snapshot
                .partitions
                .iter()
                .all(|p| p.produce_availability == 1.0)
            && r.violations.is_empty()
    })
    .await;
    assert_eq!(sum(&r, |p| p.lost), 0, "{:#?}", r.snapshot.partitions);
    assert_eq!(sum(&r, |p| p.duplicated), 0);

    // A leader change is not loss either.
    let p0 = 0;
    let new_leader = (1..=3)
        .find(|b| *b != leaders[&p0])
        .expect("another broker");
    mock.partition_leader("mon", p0, Some(new_leader))
        .expect("move the leader");
    let moved = consumed(&r);
    let r = report_where(&m, "the moved leader in the metadata", |r| {
        r.snapshot.partitions[0].leader == Some(new_leader) && settled_after(r, &moved, 20)
    })
    .await;
    assert_eq!(sum(&r, |p| p.lost), 0, "{:#?}", r.snapshot.partitions);
    assert_eq!(sum(&r, |p| p.duplicated), 0);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_retries_without_idempotence_are_counted_as_duplicates_exactly() {
    init_logs();
    let mock = mock_cluster("unused");
    mock.create_topic("dups", 3, 3).expect("topic");
    let d = dirs();
    let mut cfg = fast("dups");
    cfg.partitions_per_broker = 1;
    cfg.produce_timeout = Duration::from_secs(30);
    cfg.loss_timeout = Duration::from_secs(30);
    cfg.librdkafka = [("enable.idempotence", "false"), ("retry.backoff.ms", "10")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let m = start(&mock.bootstrap_servers(), cfg, &d.state).await;
    let r = report_where(&m, "three partitions flowing", |r| {
        r.snapshot.partitions.len() == 3 && r.snapshot.partitions.iter().all(|p| p.consumed >= 3)
    })
    .await;
    let slow = r.snapshot.partitions[0].leader.expect("leader");
    // The connection breaks after the broker wrote a produce request and before the client
    // read its response: the client sends it again, and without idempotence the broker
    // writes it twice. Responses are slowed so that a request is always pending when the
    // broker goes down (a round every 100 ms, answers after 1 s).
    for _ in 0..20 {
        mock.broker_round_trip_time(slow, Duration::from_millis(1_000))
            .expect("rtt");
        tokio::time::sleep(Duration::from_millis(500)).await;
        mock.broker_down(slow).expect("down");
        mock.broker_round_trip_time(slow, Duration::ZERO)
            .expect("rtt");
        mock.broker_up(slow).expect("up");
        let since = m.report().map(|r| consumed(&r)).unwrap_or_default();
        let r = report_where(&m, "the partition flowing again", |r| {
            r.snapshot.partitions[0].consumed >= since.get(&0).copied().unwrap_or(0) + 3
        })
        .await;
        if sum(&r, |p| p.duplicated) > 0 {
            break;
        }
    }
    let r = report_where(&m, "the duplicates read", |r| {
        r.snapshot.partitions.len() == 3 && r.snapshot.partitions.iter().all(|p| p.consumed >= 5)
    })
    .await;
    let since = consumed(&r);
    let r = report_where(&m, "settled", |r| settled_after(r, &since, 10)).await;
    m.stop().await;
    let producer = producer_state(&d.state).producer;
    let truth = canaries_in_topic(&mock.bootstrap_servers(), "dups", &producer, &[0, 1, 2]);
    let copies: u64 = truth.values().map(|c| c - 1).sum();
    let dup = sum(&r, |p| p.duplicated);
    assert!(copies >= 1, "the broken connection caused a retry");
    // The report was taken while the monitor ran; anything consumed after it had no copies
    // (the slow broker was fast again).
    assert_eq!(dup, copies, "duplicated = extra copies in the log");
    assert_eq!(sum(&r, |p| p.lost), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_behind_the_consumer_are_counted_lost_exactly() {
    let dir = tempfile::tempdir().expect("tmp");
    let broker = logferry_broker::start(test_config(1), dir.path().join("broker"))
        .await
        .expect("bundled broker");
    let bootstrap = broker.bootstrap_servers();
    let state = dir.path().join("mon");
    let cfg = fast("deleted");
    // 1: the monitor (group G) runs and stops; its commit is where it stopped reading.
    let m = start(&bootstrap, cfg.clone(), &state).await;
    report_where(&m, "two partitions flowing", |r| {
        r.snapshot.partitions.len() == 2 && r.snapshot.partitions.iter().all(|p| p.consumed >= 5)
    })
    .await;
    m.stop().await;
    let before = producer_state(&state).next;
    // 2: the same producer keeps sending while group G is not reading (a second monitor on
    // the same state, in another group).
    let mut other = cfg.clone();
    other.group = Some("elsewhere".into());
    let m = start(&bootstrap, other, &state).await;
    report_where(&m, "canaries while G is away", |r| {
        r.snapshot.partitions.len() == 2 && r.snapshot.partitions.iter().all(|p| p.acked >= 5)
    })
    .await;
    m.stop().await;
    let st = producer_state(&state);
    let unread: BTreeMap<i32, u64> = st
        .next
        .iter()
        .map(|(p, n)| (*p, n - before.get(p).copied().unwrap_or(0)))
        .collect();
    // The truth: partition 0 holds one record per acknowledged sequence number (one
    // producer, no failed sends), so offset = seq; group G has not read the records from its
    // committed offset to `end` (the last round of phase 1 may be among them).
    let end = st.next[&0] as i64;
    let g: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "logferry-monitor-test-host")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("deleted", 0);
    let committed = g
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed");
    let Offset::Offset(at) = committed.elements()[0].offset() else {
        panic!("group G committed partition 0: {committed:?}");
    };
    let behind = (end - at) as u64;
    assert!(behind >= unread[&0], "{behind} < {}", unread[&0]);
    // 3: partition 0's records are deleted up to `end` (DeleteRecords), behind group G; the
    // broker refuses an offset past its high watermark, which may trail the last ack.
    let admin: rdkafka::admin::AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("deleted", 0, Offset::Offset(end))
        .expect("tpl");
    let deadline = Instant::now() + T;
    loop {
        let done = admin
            .delete_records(&tpl, &rdkafka::admin::AdminOptions::new())
            .await
            .expect("delete records");
        match done.elements()[0].error() {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "DeleteRecords: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (low, _) = g
        .fetch_watermarks("deleted", 0, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!(low, end, "partition 0 starts after the deleted records");
    // 4: group G resumes: its offset on partition 0 is below the log start.
    let m = start(&bootstrap, cfg.clone(), &state).await;
    let r = report_where(&m, "the deleted canaries counted", |r| {
        r.snapshot.partitions.len() == 2
            && r.snapshot
                .partitions
                .iter()
                .all(|p| p.consumed >= unread[&p.partition] + 5 && p.missing == 0)
    })
    .await;
    m.stop().await;
    let lost: BTreeMap<i32, u64> = r
        .snapshot
        .partitions
        .iter()
        .map(|p| (p.partition, p.lost))
        .collect();
    assert!(unread[&0] >= 5);
    assert_eq!(lost, BTreeMap::from([(0, behind), (1, 0)]));
    assert_eq!(sum(&r, |p| p.duplicated), 0);
    broker.shutdown().await.expect("broker stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_broker_kill9_with_interval_flush_loses_what_the_broker_lost() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("broker");
    let cfg_file = dir.path().join("broker.toml");
    std::fs::write(&cfg_file, "[broker]\nnum_partitions = 1\nflush = 1000\n").expect("config");
    let cfg_arg = cfg_file.to_str().expect("utf8 path").to_string();
    let b = ChildBroker::spawn(&data, &["--config", &cfg_arg]);
    let addr = b.addr.clone();
    let state = dir.path().join("mon");
    let mut cfg = fast("killed");
    cfg.loss_timeout = Duration::from_secs(3);
    cfg.produce_timeout = Duration::from_secs(2);
    let m = start(&addr, cfg, &state).await;
    let r = report_where(&m, "flowing", |r| {
        r.snapshot.partitions.len() == 2 && r.snapshot.partitions.iter().all(|p| p.consumed >= 5)
    })
    .await;
    b.kill9();
    let b = ChildBroker::spawn_on(&addr, &data, &["--config", &cfg_arg]);
    let since = consumed(&r);
    let r = report_where(&m, "back after the kill", |r| settled_after(r, &since, 15)).await;
    m.stop().await;
    // The truth: every sequence number the producer had acknowledged before its last save,
    // present in the log or not.
    // Consumers see records after the next flush (the high watermark is the flushed end):
    // the last round's canaries become readable within one flush interval.
    let st = producer_state(&state);
    let flushed = Instant::now() + Duration::from_millis(2_500);
    let missing = loop {
        let truth = canaries_in_topic(&addr, "killed", &st.producer, &[0, 1]);
        let mut missing = Vec::new();
        for (p, next) in &st.next {
            for seq in 0..*next {
                if !truth.keys().any(|(tp, s, _)| tp == p && *s == seq) {
                    missing.push((*p, seq));
                }
            }
        }
        if missing.is_empty() || Instant::now() > flushed {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(missing, vec![], "next {:?}", st.next);
    let missing = missing.len() as u64;
    // A process kill leaves the page cache: the broker lost nothing, and neither did the
    // monitor count anything lost.
    assert_eq!(sum(&r, |p| p.lost), missing, "{:#?}", r.snapshot.partitions);
    assert_eq!(missing, 0);
    b.terminate();
}

/// `logferry monitor` as a child process, with its /metrics address.
struct ChildMonitor {
    child: std::process::Child,
    metrics: std::net::SocketAddr,
}

impl ChildMonitor {
    fn spawn(bootstrap: &str, config: &Path, state: &Path) -> ChildMonitor {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
            .args([
                "monitor",
                "--brokers",
                bootstrap,
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state)
            .env("LOGFERRY_LOG", "info,librdkafka=warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn logferry monitor");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[monitor] {line}");
                if line.contains("metrics endpoint listening") {
                    if let Some(a) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("local="))
                        .and_then(|a| a.parse().ok())
                    {
                        let _ = tx.send(a);
                    }
                }
            }
        });
        let metrics = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("monitor reports its metrics address");
        ChildMonitor { child, metrics }
    }

    fn sample(&self, name_and_labels: &str) -> u64 {
        let (_, body) = http_get(self.metrics, "/metrics");
        sample(&body, name_and_labels).unwrap_or(0.0) as u64
    }
}

impl Drop for ChildMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_killed_with_sigkill_resumes_without_false_loss() {
    let dir = tempfile::tempdir().expect("tmp");
    let broker = logferry_broker::start(test_config(1), dir.path().join("broker"))
        .await
        .expect("bundled broker");
    let bootstrap = broker.bootstrap_servers();
    let config = dir.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nstate_dir = \"{}\"\n\n[monitor]\ntopic = \"restarts\"\ninterval_ms = 100\nloss_timeout_ms = 1000\nproduce_timeout_ms = 1000\nwindow_ms = 3000\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let state = dir.path().join("mon");
    let consumed = |m: &ChildMonitor, p: i32| {
        m.sample(&format!(
            "logferry_monitor_records_consumed_total{{topic=\"restarts\",partition=\"{p}\"}}"
        ))
    };
    for round in 0..3 {
        let m = ChildMonitor::spawn(&bootstrap, &config, &state);
        // Well past the loss timeout: 30 rounds on each partition.
        wait_for("30 canaries per partition", T, || {
            consumed(&m, 0) >= 30 && consumed(&m, 1) >= 30
        })
        .await;
        if round == 0 {
            let (_, scrape) = http_get(m.metrics, "/metrics");
            crate::monitoring::promtool_check_metrics(&scrape);
        }
        for p in 0..2 {
            for what in ["lost", "duplicated"] {
                let name = format!(
                    "logferry_monitor_records_{what}_total{{topic=\"restarts\",partition=\"{p}\"}}"
                );
                assert_eq!(m.sample(&name), 0, "round {round}: {name}");
            }
        }
        drop(m); // SIGKILL
    }
    // The producer's sequence numbers went on across the kills; the log holds each of them.
    let st = producer_state(&state);
    let truth = canaries_in_topic(&bootstrap, "restarts", &st.producer, &[0, 1]);
    for (p, next) in &st.next {
        // 30 consumed per run, some of them read again after a kill.
        assert!(*next >= 60, "partition {p}: {next}");
        for seq in 0..*next {
            assert!(
                truth.keys().any(|(tp, s, _)| tp == p && *s == seq),
                "partition {p} seq {seq} acknowledged but not in the log"
            );
        }
    }
    broker.shutdown().await.expect("broker stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_probe_alert_fires_when_the_agent_stops_and_resolves_when_it_is_back() {
    init_logs();
    let mock = mock_cluster("probe-data");
    mock.create_topic("logferry-monitor", 6, 3).expect("topic");
    let d = dirs();
    let alerts = d.tmp.path().join("alerts");
    let probe_keys = "\n[monitor]\nenabled = true\ninterval_ms = 100\nwindow_ms = 3000\nloss_timeout_ms = 2000\nmax_pipeline_latency_ms = 1500\nmetrics_listen = \"\"\n";
    let agent_cfg = || config(&d, &mock.bootstrap_servers(), "probe-data", probe_keys);
    let agent = start_agent(agent_cfg()).await;
    // An external monitor watching every host's heartbeats (ProbeFilter::All), with an
    // alert command like an operator's.
    let mut cfg = fast("logferry-monitor");
    cfg.max_pipeline_latency = Duration::from_millis(1_500);
    cfg.group = Some("external".into());
    let watcher = Monitor::start(MonitorOptions {
        bootstrap: mock.bootstrap_servers(),
        cfg,
        host: "watcher".into(),
        state_dir: Some(d.tmp.path().join("watcher")),
        lock: true,
        alert: Some(logferry::agent::alert::AlertCommand {
            command: format!(
                "echo \"$LOGFERRY_ALERT|$LOGFERRY_MONITOR_VIOLATIONS\" >> '{}'",
                alerts.display()
            ),
            timeout: Duration::from_secs(5),
        }),
        probe: ProbeFilter::All,
    })
    .await
    .expect("watcher starts");
    let pipeline = |r: &Report| {
        r.snapshot
            .pipeline
            .iter()
            .find(|p| p.host == "test-host")
            .cloned()
    };
    report_where(&watcher, "heartbeats of test-host", |r| {
        pipeline(r).is_some_and(|p| p.delay.is_some_and(|d| d < 1.0))
    })
    .await;
    // The agent's own monitor measures write → acknowledged and write → consumed.
    let own = agent.monitor().expect("in-agent monitor");
    let mut own_report = None;
    wait_for("the agent's own pipeline figures", T, || {
        own_report = own.report();
        own_report.as_ref().is_some_and(|r| {
            pipeline(r).is_some_and(|p| p.acked_p99.is_some() && p.consumed_p99.is_some())
        })
    })
    .await;

    let stopped = Instant::now();
    agent.stop().await;
    let read_alerts = || std::fs::read_to_string(&alerts).unwrap_or_default();
    wait_for("the pipeline alert", T, || {
        read_alerts().contains("firing|")
    })
    .await;
    let fired_after = stopped.elapsed();
    let text = read_alerts();
    assert!(
        text.contains("firing|pipeline of host test-host: delay"),
        "{text}"
    );
    assert!(!text.contains("produce availability"), "{text}");
    // The 1.5 s threshold plus an interval or two, within one window (3 s) of the stop on a
    // quiet machine; the bound is two windows so that a loaded CI machine (the whole suite
    // runs in parallel on 2 cores) does not fail it, while a missing alert still does.
    assert!(fired_after < Duration::from_secs(6), "{fired_after:?}");
    let r = watcher.report().expect("report");
    assert!(pipeline(&r).and_then(|p| p.delay).is_some_and(|d| d > 1.5));

    let agent = start_agent(agent_cfg()).await;
    wait_for("resolved", T, || read_alerts().contains("resolved|")).await;
    let r = report_where(&watcher, "the pipeline back", |r| {
        pipeline(r).is_some_and(|p| p.delay.is_some_and(|d| d < 1.0))
    })
    .await;
    // The probe's sequence resumed where it stopped: no heartbeat of the stop counted lost.
    assert_eq!(pipeline(&r).map(|p| p.lost), Some(0));
    agent.stop().await;
    watcher.stop().await;
}

#[test]
fn promtool_accepts_the_monitor_rules_file() {
    crate::monitoring::promtool_check_rules("logferry-monitor-rules.yml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_prints_the_table_and_exits_1_with_a_broker_down() {
    init_logs();
    let mock = mock_cluster("unused");
    mock.create_topic("once", 6, 3).expect("topic");
    let d = dirs();
    let config = d.tmp.path().join("monitor.toml");
    std::fs::write(
        &config,
        "[monitor]\ninterval_ms = 200\nproduce_timeout_ms = 1000\nloss_timeout_ms = 2000\n",
    )
    .expect("config");
    let once = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
            .args([
                "monitor",
                "--once",
                "--topic",
                "once",
                "--duration-ms",
                "3000",
            ])
            .args(["--brokers", &mock.bootstrap_servers()])
            .arg("--config")
            .arg(&config)
            .args(extra)
            .env("LOGFERRY_LOG", "warn,librdkafka=error")
            .output()
            .expect("logferry monitor --once");
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, json) = once(&["--json"]);
    assert_eq!(code, Some(0), "{json}");
    let healthy: serde_json::Value = serde_json::from_str(&json).expect("json report");
    let parts = healthy["snapshot"]["partitions"].as_array().expect("rows");
    assert_eq!(parts.len(), 6);
    let down = parts[0]["leader"].as_i64().expect("leader") as i32;
    let led: Vec<i64> = parts
        .iter()
        .filter(|p| p["leader"].as_i64() == Some(i64::from(down)))
        .map(|p| p["partition"].as_i64().expect("partition"))
        .collect();
    mock.broker_down(down).expect("down");
    let (code, table) = once(&[]);
    eprintln!("{table}");
    assert_eq!(code, Some(1), "{table}");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(2)
        .take(6)
        .map(|l| l.split_whitespace().collect())
        .collect();
    for r in &rows {
        let p: i64 = r[0].parse().expect("partition");
        assert_eq!(led.contains(&p), r[1] == down.to_string(), "{table}");
        let produce: f64 = r[2].parse().expect("produce availability");
        if led.contains(&p) {
            assert_eq!(produce, 0.0, "{table}");
        } else {
            assert_eq!(produce, 1.0, "{table}");
        }
        assert_eq!(r[6], "0", "nothing lost: {table}");
    }
    assert!(table.contains("SLA VIOLATED"), "{table}");
    mock.broker_up(down).expect("up");
}
