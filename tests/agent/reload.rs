//! SIGHUP reload and directories that appear after start.

use crate::util::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn second_section(d: &Dirs, topic: &str) -> String {
    let other = d.tmp.path().join("other");
    format!(
        "\n[topic.other]\nlog_base_path = \"{o}\"\nbase_log_fullpath = \"{o}/app.log\"\ntopic = \"{topic}\"\nsender_waiting_max_ms = 5\n",
        o = other.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_and_changes_sections_and_rejects_a_bad_config() {
    init_logs();
    let mock = MockPair::new();
    let d = dirs();
    let bootstrap = mock.0.bootstrap_servers();
    let base = d.logs.join("access.log");
    let cfg = config_file(&d, &config_text(&d, &bootstrap, "reload-a", ""));
    let mut child = spawn_agent(&d, &cfg);
    let a1 = lines("a1", 0..200);
    append(&base, &a1);
    assert_lines(
        &as_strings(&read_topic(&bootstrap, "reload-a", 200, T)),
        &a1,
    );

    // Add a section (its directory does not exist yet) and change the first one's batch size.
    let text = config_text(&d, &bootstrap, "reload-a", "sender_batch_num_messages = 7")
        + &second_section(&d, "reload-b");
    std::fs::write(&cfg, text).expect("config");
    hup(&child);
    let log_path = d.tmp.path().join("agent.log");
    wait_for("reload", T, || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("config reloaded")
    })
    .await;
    let a2 = lines("a2", 0..300);
    append(&base, &a2);
    std::fs::create_dir_all(d.tmp.path().join("other")).expect("mkdir");
    let b = lines("b", 0..100);
    append(&d.tmp.path().join("other/app.log"), &b);
    assert_lines(&as_strings(&read_topic(&bootstrap, "reload-b", 100, T)), &b);

    // An invalid config is rejected; the running one goes on.
    std::fs::write(&cfg, "[agent]\nstate_dirr = 1\n").expect("config");
    hup(&child);
    // The signal is handled while lines ship: wait for its outcome, not for the lines.
    wait_for("reload rejected", T, || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("reload rejected")
    })
    .await;
    let a3 = lines("a3", 0..100);
    append(&base, &a3);
    let mut expected = a1;
    expected.extend(a2);
    expected.extend(a3);
    let got = as_strings(&read_topic(&bootstrap, "reload-a", expected.len(), T));
    let status = terminate(&mut child);
    let log = std::fs::read_to_string(d.tmp.path().join("agent.log")).unwrap_or_default();
    assert!(status.success(), "{log}");
    assert_lines(&got, &expected);
    assert!(
        log.contains("reload rejected") && log.contains("state_dirr"),
        "{log}"
    );
    assert!(
        log.contains("does not exist yet") && log.contains("directory appeared"),
        "{log}"
    );
}

/// A mock cluster with the topics used here.
struct MockPair(Mock);

impl MockPair {
    fn new() -> MockPair {
        let m = mock_cluster("reload-a");
        m.create_topic("reload-b", 1, 3).expect("topic");
        MockPair(m)
    }
}

fn hup(child: &std::process::Child) {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
}
