//! The agent against the bundled broker: started in-process by `brokers = "bundled"`, and
//! standalone (`logferry broker`) under an agent being killed.

use crate::util::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

fn bundled_config(d: &Dirs, extra: &str) -> logferry::config::Config {
    let text = config_text(d, "bundled", "bundled", extra)
        + &format!(
            "\n[broker]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
            d.tmp.path().join("broker").display()
        );
    logferry::config::Config::parse(&text, d.tmp.path()).expect("valid config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_broker_rotation_and_a_5_mib_line_ship_in_order() {
    init_logs();
    let d = dirs();
    let base = d.logs.join("access.log");
    let agent = start_agent(bundled_config(&d, "")).await;
    let bootstrap = agent.bootstrap_servers().to_string();
    let mut expected: Vec<Vec<u8>> = Vec::new();
    for round in 0..3 {
        let ls = lines(&format!("bundled-r{round}"), 0..2000);
        append(&base, &ls);
        expected.extend(ls.into_iter().map(String::into_bytes));
        std::fs::rename(&base, d.logs.join(format!("access.log.{round}"))).expect("rotate");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // A 5 MiB line (split into max_line_bytes pieces), then a normal line.
    let big: Vec<u8> = (0..5 * 1024 * 1024)
        .map(|i| b'A' + (i % 26) as u8)
        .collect();
    let mut body = big.clone();
    body.extend_from_slice(b"\nafter big\n");
    std::fs::write(&base, &body).expect("write big");
    expected.extend(big.chunks(1_000_000).map(<[u8]>::to_vec));
    expected.push(b"after big".to_vec());
    let got = read_topic(&bootstrap, "bundled", expected.len(), T);
    agent.stop().await;
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            g == e,
            "message {i}: got {} bytes, expected {} bytes",
            g.len(),
            e.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_broker_data_survives_agent_restart_and_resumes_at_checkpoint() {
    init_logs();
    let d = dirs();
    let base = d.logs.join("access.log");
    let a = lines("first", 0..3000);
    append(&base, &a);
    let agent = start_agent(bundled_config(&d, "")).await;
    let bootstrap = agent.bootstrap_servers().to_string();
    assert_lines(
        &as_strings(&read_topic(&bootstrap, "bundled", a.len(), T)),
        &a,
    );
    agent.stop().await;
    let b = lines("second", 0..1000);
    append(&base, &b);
    let agent = start_agent(bundled_config(&d, "")).await;
    let bootstrap = agent.bootstrap_servers().to_string();
    let mut expected = a;
    expected.extend(b);
    let got = as_strings(&read_topic(&bootstrap, "bundled", expected.len(), T));
    agent.stop().await;
    assert_lines(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_carry_host_path_offset_and_gone_files_leave_the_files_to_ship() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Headers;
    use rdkafka::Message;
    init_logs();
    let d = dirs();
    let rotated = d.logs.join("access.log.1");
    append(&rotated, &["first".to_string(), "second".to_string()]);
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&rotated)
        .and_then(|f| f.set_modified(past))
        .expect("mtime");
    append(&d.logs.join("access.log"), &["third".to_string()]);
    let agent = start_agent(bundled_config(&d, "headers = true\nmessage_key = \"k1\"")).await;
    let bootstrap = agent.bootstrap_servers().to_string();
    assert_eq!(read_topic(&bootstrap, "bundled", 3, T).len(), 3);
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "hdr")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("bundled", 0, rdkafka::Offset::Beginning)
        .expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    while got.len() < 3 {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let h = m.headers().expect("headers");
            let hv: Vec<(String, String)> = h
                .iter()
                .map(|x| {
                    (
                        x.key.to_string(),
                        String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect();
            got.push((
                m.key().map(<[u8]>::to_vec),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                hv,
            ));
        }
    }
    let r = rotated.display().to_string();
    let b = d.logs.join("access.log").display().to_string();
    let hdr = |path: &str, off: &str| {
        vec![
            ("host".to_string(), "test-host".to_string()),
            ("path".to_string(), path.to_string()),
            ("offset".to_string(), off.to_string()),
        ]
    };
    assert_eq!(
        got,
        vec![
            (Some(b"k1".to_vec()), "first".to_string(), hdr(&r, "0")),
            (Some(b"k1".to_vec()), "second".to_string(), hdr(&r, "6")),
            (Some(b"k1".to_vec()), "third".to_string(), hdr(&b, "0")),
        ]
    );
    // The rotated file is shipped; once deleted, it leaves the checkpoint.
    wait_for("rotated file in checkpoint", T, || {
        checkpoint_offsets(&d.state, "topic_access")
            .iter()
            .any(|(p, o)| *p == r && *o == 13)
    })
    .await;
    std::fs::remove_file(&rotated).expect("rm");
    // Gone from disk and shipped: it stays only as a "gone" record (to recognise a
    // compressed copy of it as already shipped), never as a file to ship.
    wait_for("rotated file recorded as gone", T, || {
        checkpoint_files(&d.state, "topic_access")
            .iter()
            .any(|f| f.path == r && f.gone && f.offset == 13)
    })
    .await;
    assert!(checkpoint_offsets(&d.state, "topic_access")
        .iter()
        .all(|(p, _)| *p != r));
    drop(c);
    agent.stop().await;
}
