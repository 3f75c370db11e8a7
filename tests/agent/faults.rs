//! Broker outages, bad input and bad configuration.

use crate::util::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn file_size(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_start_and_in_the_middle_nothing_lost_checkpoint_waits() {
    init_logs();
    let mock = mock_cluster("outage");
    let d = dirs();
    let base = d.logs.join("access.log");
    brokers(&mock, false);
    let a = lines("before-start", 0..300);
    append(&base, &a);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "outage", "")).await;
    // The agent has read the lines but nothing is acknowledged: the checkpoint must not move.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        checkpoint_offsets(&d.state, "topic_access")
            .iter()
            .all(|(_, off)| *off == 0),
        "checkpoint moved without acks: {:?}",
        checkpoint_offsets(&d.state, "topic_access")
    );
    brokers(&mock, true);
    assert_lines(
        &as_strings(&read_topic(&mock.bootstrap_servers(), "outage", 300, T)),
        &a,
    );
    let size_a = file_size(&base);
    wait_for("checkpoint after recovery", T, || {
        checkpoint_offsets(&d.state, "topic_access")
            .iter()
            .any(|(_, off)| *off == size_a)
    })
    .await;
    brokers(&mock, false);
    let b = lines("during-outage", 0..2000);
    append(&base, &b);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        checkpoint_offsets(&d.state, "topic_access"),
        vec![(base.display().to_string(), size_a)],
        "checkpoint stays at the last acknowledged line during the outage"
    );
    brokers(&mock, true);
    let mut expected = a;
    expected.extend(b);
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "outage",
        expected.len(),
        T,
    ));
    let m = agent.metrics().render();
    agent.stop().await;
    assert_lines(&got, &expected);
    assert!(
        m.contains("logferry_broker_up{section=\"access\",topic=\"outage\"} 1"),
        "{m}"
    );
}

/// The topic's metadata carries an error (here TOPIC_AUTHORIZATION_FAILED): librdkafka fails
/// the first lines by delivery report, then refuses every later send at once, with nothing in
/// flight. Each refusal must restart the section after its backoff (no report will ever come
/// to do it); once the error clears, every line ships in order. The refusal count rising
/// twice after the first means two retries were refused with nothing in flight: a section
/// stalled by the first one would never count a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_at_send_with_nothing_in_flight_retries_until_the_topic_is_usable() {
    init_logs();
    let mock = mock_cluster("refused");
    mock.topic_error(
        "refused",
        rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )
    .expect("topic error");
    let d = dirs();
    let base = d.logs.join("access.log");
    let expected = lines("refused", 0..500);
    append(&base, &expected);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "refused", "")).await;
    let refused = || {
        sample(
            &agent.metrics().render(),
            "logferry_send_errors_total{section=\"access\",topic=\"refused\",reason=\"TopicAuthorizationFailed\"}",
        )
        .unwrap_or(0.0)
    };
    wait_for("a first refusal", T, || refused() >= 1.0).await;
    for n in 0..2 {
        let seen = refused();
        wait_for(&format!("retry {n} refused"), T, || refused() > seen).await;
    }
    mock.topic_error(
        "refused",
        rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR,
    )
    .expect("clear topic error");
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "refused",
        expected.len(),
        T,
    ));
    agent.stop().await;
    assert_lines(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_shipped_as_bytes_or_counted() {
    init_logs();
    let mock = mock_cluster("bad");
    let d = dirs();
    // Oldest first: a file with odd bytes, one with a 5 MiB line, one with no trailing
    // newline; then the base file.
    let odd: Vec<Vec<u8>> = vec![
        b"\xff\xfe invalid utf-8 \xc3\x28".to_vec(),
        b"nul\x00in\x00the\x00middle".to_vec(),
        b"crlf line".to_vec(),
        b"".to_vec(),
        "utf-8 ok: \u{65e5}\u{5fd7}".as_bytes().to_vec(),
    ];
    let mut body = Vec::new();
    for (i, l) in odd.iter().enumerate() {
        body.extend_from_slice(l);
        body.extend_from_slice(if i == 2 { b"\r\n" } else { b"\n" });
    }
    let p1 = d.logs.join("access.log.3");
    std::fs::write(&p1, &body).expect("write");
    // librdkafka's mock keeps only the newest 5 MiB of a partition (rdkafka_mock.c), so the
    // long line is 4 MiB here; the bundled-broker test ships a 5 MiB one.
    let big: Vec<u8> = (0..4 * 1024 * 1024 + 123)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let mut big_file = big.clone();
    big_file.push(b'\n');
    big_file.extend_from_slice(b"after the big line\n");
    let p2 = d.logs.join("access.log.2");
    std::fs::write(&p2, &big_file).expect("write");
    let p3 = d.logs.join("access.log.1");
    std::fs::write(&p3, b"complete line\nlast line without newline").expect("write");
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    for (i, p) in [&p1, &p2, &p3].iter().enumerate() {
        let f = std::fs::File::options().write(true).open(p).expect("open");
        f.set_modified(past + Duration::from_secs(i as u64))
            .expect("mtime");
    }
    append(&d.logs.join("access.log"), &["base".to_string()]);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "bad", "")).await;
    let mut expected: Vec<Vec<u8>> = odd.clone();
    let max = 1_000_000;
    for chunk in big.chunks(max) {
        expected.push(chunk.to_vec());
    }
    expected.push(b"after the big line".to_vec());
    expected.push(b"complete line".to_vec());
    expected.push(b"last line without newline".to_vec());
    expected.push(b"base".to_vec());
    let got = read_topic(&mock.bootstrap_servers(), "bad", expected.len(), T);
    let m = agent.metrics().render();
    agent.stop().await;
    assert_eq!(
        got.len(),
        expected.len(),
        "message count; agent metrics:\n{m}"
    );
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            g == e,
            "message {i} differs: got {} bytes, expected {} bytes",
            g.len(),
            e.len()
        );
    }
    assert!(
        m.contains("logferry_lines_split_total{section=\"access\",topic=\"bad\"} 4"),
        "{m}"
    );
}

/// Files deleted while queued (brokers down, so nothing was shipped yet): the agent holds
/// a descriptor on every file it follows, so both ship completely and nothing is lost. Past
/// `max_open_files` a queued file is followed by name only: deleted before its turn, its
/// bytes are lost, and counted exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_deleted_while_queued_ship_fully_unless_past_max_open_files() {
    for max_open in [None, Some(1)] {
        init_logs();
        let topic = if max_open.is_some() { "del2" } else { "del" };
        let mock = mock_cluster(topic);
        let d = dirs();
        let past = std::time::SystemTime::now() - Duration::from_secs(60);
        let reading = d.logs.join("access.log.2");
        let a = lines("being-read", 0..3000);
        append(&reading, &a);
        let queued = d.logs.join("access.log.1");
        let q = lines("queued", 0..10);
        append(&queued, &q);
        for (i, p) in [&reading, &queued].iter().enumerate() {
            let f = std::fs::File::options().write(true).open(p).expect("open");
            f.set_modified(past + Duration::from_secs(i as u64))
                .expect("mtime");
        }
        let c = lines("base", 0..10);
        append(&d.logs.join("access.log"), &c);
        // Brokers down: the agent opens the oldest file, reads one batch and waits.
        brokers(&mock, false);
        let text = config_text(&d, &mock.bootstrap_servers(), topic, "");
        let text = match max_open {
            // Held: only the file being read; access.log.1 and access.log wait by name.
            Some(n) => text.replace("[output]", &format!("max_open_files = {n}\n[output]")),
            None => text,
        };
        let cfg = logferry::config::Config::parse(&text, d.tmp.path()).expect("config");
        let agent = start_agent(cfg).await;
        let m = agent.metrics().clone();
        let held = format!("logferry_open_files{{section=\"access\",topic=\"{topic}\"}}");
        let want = if max_open.is_some() { 1.0 } else { 3.0 };
        wait_for("the files discovered and held", T, || {
            sample(&m.render(), &held) == Some(want)
        })
        .await;
        let lost = file_size(&queued);
        std::fs::remove_file(&reading).expect("rm");
        std::fs::remove_file(&queued).expect("rm");
        brokers(&mock, true);
        let mut expected = a.clone();
        if max_open.is_none() {
            expected.extend(q);
        }
        expected.extend(c);
        let got = as_strings(&read_topic(
            &mock.bootstrap_servers(),
            topic,
            expected.len(),
            T,
        ));
        if max_open.is_some() {
            // The loss is counted once the deleted file has been missing from a few scans.
            wait_for("loss counted", T, || {
                sample(
                    &m.render(),
                    "logferry_bytes_lost_total{section=\"access\",topic=\"del2\",reason=\"deleted_before_read\"}",
                )
                .is_some()
            })
            .await;
        }
        let text = agent.metrics().render();
        agent.stop().await;
        assert_lines(&got, &expected);
        let counted = sample(
            &text,
            &format!("logferry_bytes_lost_total{{section=\"access\",topic=\"{topic}\",reason=\"deleted_before_read\"}}"),
        );
        match max_open {
            None => assert_eq!(counted, None, "nothing lost: {text}"),
            Some(_) => assert_eq!(
                counted,
                Some(lost as f64),
                "exactly the queued file: {text}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_file_is_reported_and_others_keep_shipping() {
    init_logs();
    let mock = mock_cluster("perm");
    let d = dirs();
    let root = unsafe { libc::geteuid() } == 0;
    let secret = d.logs.join("access.log.1");
    std::fs::write(&secret, "secret\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let c = lines("readable", 0..100);
    append(&d.logs.join("access.log"), &c);
    let cfg = config_file(&d, &config_text(&d, &mock.bootstrap_servers(), "perm", ""));
    // root reads anything; run the agent as nobody so the permission applies.
    for p in [d.tmp.path(), &d.logs] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::create_dir_all(&d.state).expect("state");
    std::fs::set_permissions(&d.state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let log_path = d.tmp.path().join("agent.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut cmd = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(env!("CARGO_BIN_EXE_logferry"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
    };
    let mut child = cmd
        .args(["run", "--config"])
        .arg(&cfg)
        .env("LOGFERRY_LOG", "info,librdkafka=warn")
        .stderr(log)
        .spawn()
        .expect("spawn");
    let got = as_strings(&read_topic(&mock.bootstrap_servers(), "perm", c.len(), T));
    let status = terminate(&mut child);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "{status:?}\n{log}");
    assert_lines(&got, &c);
    assert!(
        log.contains("cannot read file")
            && log.contains("access.log.1")
            && log.contains("ermission denied"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_agent_on_the_same_state_dir_fails_clearly() {
    let mock = mock_cluster("lock");
    let d = dirs();
    let text = config_text(&d, &mock.bootstrap_servers(), "lock", "");
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "lock", "")).await;
    let cfg = config_file(&d, &text);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    agent.stop().await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("locked by another logferry agent")
            && err.contains(&d.state.display().to_string()),
        "{err}"
    );
}

#[test]
fn check_lists_files_in_order_and_rejects_bad_config_naming_key_and_section() {
    let d = dirs();
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    for (i, name) in [
        "access.log.2015-09-01",
        "access.log.2015-09-02",
        "access.log",
    ]
    .iter()
    .enumerate()
    {
        let p = d.logs.join(name);
        std::fs::write(&p, format!("{name}\n")).expect("write");
        let f = std::fs::File::options().write(true).open(&p).expect("open");
        f.set_modified(past + Duration::from_secs(i as u64))
            .expect("mtime");
    }
    std::fs::write(d.logs.join("access.log.swp"), "x\n").expect("swp");
    let cfg = config_file(&d, &config_text(&d, "127.0.0.1:9", "t", ""));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let order: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("offset"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let l = d.logs.display().to_string();
    assert_eq!(
        order,
        vec![
            format!("{l}/access.log.2015-09-01"),
            format!("{l}/access.log.2015-09-02"),
            format!("{l}/access.log")
        ]
    );
    let bad = config_file(
        &d,
        &config_text(&d, "127.0.0.1:9", "t", "sender_batch_num_mesages = 5"),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .expect("check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("[topic.access]") && err.contains("sender_batch_num_mesages"),
        "{err}"
    );
}
