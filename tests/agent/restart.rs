//! Restarts: graceful and kill -9. No line is lost; duplicates only of lines at or past the
//! checkpoint that was on disk when the agent died.

use crate::util::*;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_resumes_exactly_at_the_checkpoint() {
    init_logs();
    let mock = mock_cluster("restart");
    let d = dirs();
    let base = d.logs.join("access.log");
    let a = lines("a", 0..1000);
    append(&base, &a);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "restart", "")).await;
    assert_lines(
        &as_strings(&read_topic(&mock.bootstrap_servers(), "restart", 1000, T)),
        &a,
    );
    agent.stop().await;
    let size = std::fs::metadata(&base).expect("meta").len();
    assert_eq!(
        checkpoint_offsets(&d.state, "topic_access"),
        vec![(base.display().to_string(), size)],
        "final checkpoint at the end of the file"
    );
    let b = lines("b", 0..500);
    append(&base, &b);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "restart", "")).await;
    let mut expected = a;
    expected.extend(b);
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "restart",
        expected.len(),
        T,
    ));
    agent.stop().await;
    assert_lines(&got, &expected);
}

/// Where each written line lives: (inode, offset of its first byte).
type Origin = HashMap<String, (u64, u64)>;

struct Writer {
    base: std::path::PathBuf,
    next: usize,
    rotations: usize,
    written: Vec<String>,
    origin: Origin,
}

impl Writer {
    fn write(&mut self, n: usize) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.base)
            .expect("open");
        let meta = f.metadata().expect("meta");
        let mut off = meta.len();
        let mut buf = Vec::new();
        for _ in 0..n {
            let l = format!("k9 line {:07} {}", self.next, "y".repeat(self.next % 61));
            self.next += 1;
            self.origin.insert(l.clone(), (meta.ino(), off));
            off += l.len() as u64 + 1;
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
            self.written.push(l);
        }
        f.write_all(&buf).expect("write");
    }

    fn rotate(&mut self, dir: &Path) {
        self.rotations += 1;
        std::fs::rename(
            &self.base,
            dir.join(format!("access.log.{:03}", self.rotations)),
        )
        .expect("rotate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_20_rounds() {
    init_logs();
    let topic = "kill9";
    let mock = mock_cluster(topic);
    let bootstrap = mock.bootstrap_servers();
    let d = dirs();
    let cfg = config_file(&d, &kill_9_config(config_text(&d, &bootstrap, topic, "")));
    kill_9_rounds(&d, &cfg, &bootstrap, topic, true).await;
}

/// The same with `brokers = "bundled"`: each kill -9 also kills the in-process broker, which
/// must recover every record it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_agent_with_bundled_broker_loses_nothing_20_rounds() {
    init_logs();
    let topic = "kill9b";
    let d = dirs();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let text = config_text(&d, "bundled", topic, "")
        + &format!(
            "\n[broker]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n",
            d.tmp.path().join("broker").display()
        );
    let cfg = config_file(&d, &kill_9_config(text));
    kill_9_rounds(&d, &cfg, &format!("127.0.0.1:{port}"), topic, false).await;
}

/// Rounds last 0.1-0.6 s, shorter than the default checkpoint interval (1 s): every round
/// would re-send nearly all it shipped, and the mock cluster keeps only its newest ~5 MiB.
/// Checkpoints every 100 ms keep the re-sends (which the test checks) to what a kill costs.
fn kill_9_config(text: String) -> String {
    text.replacen("[agent]\n", "[agent]\ncheckpoint_interval_ms = 100\n", 1)
}

/// 20 rounds of: start a child agent, write and rotate, kill -9 at a random moment. Then a
/// final run drains everything. `broker_outlives_agent`: the topic's high watermark can be
/// read at each kill, so each duplicate is checked against the checkpoint of that kill.
async fn kill_9_rounds(
    d: &Dirs,
    cfg: &Path,
    bootstrap: &str,
    topic: &str,
    broker_outlives_agent: bool,
) {
    let bootstrap = bootstrap.to_string();
    let mut w = Writer {
        base: d.logs.join("access.log"),
        next: 0,
        rotations: 0,
        written: Vec::new(),
        origin: HashMap::new(),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x10f3);
    // (topic high watermark, checkpoint inode → offset) at each kill
    let mut kills: Vec<(i64, HashMap<u64, u64>)> = Vec::new();
    for _round in 0..20 {
        let mut child = spawn_agent(d, cfg);
        let steps = rng.gen_range(2..8);
        for _ in 0..steps {
            w.write(rng.gen_range(50..400));
            if rng.gen_bool(0.3) {
                w.rotate(&d.logs);
                w.write(rng.gen_range(1..50));
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(5..80))).await;
        }
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        let cp: HashMap<u64, u64> = checkpoint_entries(&d.state, "topic_access")
            .into_iter()
            .map(|(ino, _, off)| (ino, off))
            .collect();
        if broker_outlives_agent {
            kills.push((high_watermark(&bootstrap, topic), cp));
        }
    }
    // Final run: drain everything, stop cleanly.
    let mut child = spawn_agent(d, cfg);
    let got = as_strings(&read_topic(&bootstrap, topic, w.written.len(), T));
    let status = terminate(&mut child);
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");

    if got.iter().collect::<std::collections::HashSet<_>>().len() < w.written.len() {
        let log = std::fs::read_to_string(d.tmp.path().join("agent.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        eprintln!(
            "agent log tail:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        eprintln!(
            "checkpoint: {:?}",
            checkpoint_entries(&d.state, "topic_access")
        );
        for e in std::fs::read_dir(&d.logs).expect("ls") {
            let e = e.expect("entry");
            let m = e.metadata().expect("meta");
            eprintln!("file {:?} ino {} size {}", e.file_name(), m.ino(), m.len());
        }
    }
    // 1. Nothing lost, and first occurrences are in written order.
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<String> = got
        .iter()
        .filter(|l| seen.insert((*l).clone()))
        .cloned()
        .collect();
    assert_lines(&firsts, &w.written);
    // 2. Every duplicate is a line at or past the checkpoint on disk at the preceding kill.
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    let mut dups = 0;
    for (i, l) in got.iter().enumerate() {
        if first_at.contains_key(l.as_str()) {
            dups += 1;
            let (ino, off) = w.origin[l];
            let kill = kills.iter().rev().find(|(hw, _)| (*hw as usize) <= i);
            if let Some((_, cp)) = kill {
                if let Some(cp_off) = cp.get(&ino) {
                    assert!(
                        off >= *cp_off,
                        "duplicate {l:?} at offset {off} is before the checkpoint {cp_off}"
                    );
                }
            }
        } else {
            first_at.insert(l, i);
        }
    }
    eprintln!(
        "kill -9 x20 ({topic}): {} lines written through {} rotations, 0 lost, {dups} duplicates",
        w.written.len(),
        w.rotations
    );
}
