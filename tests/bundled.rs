//! The agent against the bundled broker: started in-process by `brokers = "bundled"`, and
//! standalone (`logferry broker`) under an agent being killed.

mod common;
use common::*;
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
