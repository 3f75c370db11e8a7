//! Shared test harness: a real broker (librdkafka's mock cluster), an in-process agent, and
//! an rdkafka consumer that reads a topic back for content comparison.

use logferry::agent::Agent;
use logferry::config::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub type Mock = MockCluster<'static, rdkafka::producer::DefaultProducerContext>;

/// A 3-broker mock cluster with `topic` created at replication factor 3.
pub fn mock_cluster(topic: &str) -> Mock {
    let m = MockCluster::new(3).expect("mock cluster");
    m.create_topic(topic, 1, 3).expect("create topic");
    m
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A temp dir with `logs/` and `state/`.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
    pub logs: PathBuf,
    pub state: PathBuf,
}

pub fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().expect("tempdir");
    let logs = tmp.path().join("logs");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&logs).expect("mkdir logs");
    Dirs { tmp, logs, state }
}

/// Config text for one section shipping `logs/access.log*` (the seed's regex) to `topic`.
pub fn config_text(d: &Dirs, bootstrap: &str, topic: &str, extra: &str) -> String {
    let logs = d.logs.display();
    format!(
        r#"
[agent]
state_dir = "{state}"
host = "test-host"
rescan_interval_ms = 200
shutdown_timeout_ms = 5000
metrics_listen = "127.0.0.1:0"

[output]
brokers = "{bootstrap}"

[topic.access]
log_base_path = "{logs}"
base_log_fullpath = "{logs}/access.log"
log_name_regx = '{logs}/access.log.*(?<!swp$)'
topic = "{topic}"
rotate_wait_ms = 300
sender_waiting_max_ms = 5
{extra}
"#,
        state = d.state.display(),
    )
}

pub fn config(d: &Dirs, bootstrap: &str, topic: &str, extra: &str) -> Config {
    Config::parse(&config_text(d, bootstrap, topic, extra), d.tmp.path()).expect("valid config")
}

pub async fn start_agent(cfg: Config) -> Agent {
    Agent::start(cfg).await.expect("agent starts")
}

pub fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    let mut buf = Vec::new();
    for l in lines {
        buf.extend_from_slice(l.as_bytes());
        buf.push(b'\n');
    }
    f.write_all(&buf).expect("append");
}

pub fn lines(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| {
            format!(
                "{prefix} line {i:06} GET /api/v1/items?id={i} 200 {}",
                "x".repeat(i % 17)
            )
        })
        .collect()
}

/// Read `topic` partition 0 from the beginning until at least `want` distinct messages
/// arrived (or `timeout`), then up to the high watermark so that duplicates show too.
pub fn read_topic(bootstrap: &str, topic: &str, want: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    read_topic_with(c, topic, want, timeout)
}

/// [`read_topic`] with a client configuration of the caller's (security settings).
pub fn read_topic_with(
    mut client: ClientConfig,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    let c: BaseConsumer = client
        .set("group.id", "logferry-test-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.message.max.bytes", "10485760")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut next_offset = 0i64;
    let mut distinct = std::collections::HashSet::new();
    loop {
        if distinct.len() >= want {
            if let Ok((_, high)) = c.fetch_watermarks(topic, 0, Duration::from_secs(5)) {
                if next_offset >= high {
                    break;
                }
            }
        }
        if Instant::now() > deadline {
            break;
        }
        // Errors are transient here (e.g. a child's broker not listening yet): keep polling.
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            next_offset = m.offset() + 1;
            let p = m.payload().unwrap_or_default().to_vec();
            distinct.insert(p.clone());
            out.push(p);
        }
    }
    out
}

pub fn as_strings(msgs: &[Vec<u8>]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect()
}

/// Wait until `f` holds, polling (the agent has no event to subscribe to from outside).
pub async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Offsets of the section's checkpoint file, by path.
pub fn checkpoint_offsets(state: &Path, name: &str) -> Vec<(String, u64)> {
    checkpoint_entries(state, name)
        .into_iter()
        .map(|(_, path, offset)| (path, offset))
        .collect()
}

/// Compare shipped lines with what was written; on mismatch report the first difference,
/// missing lines and duplicates instead of two huge vectors.
#[track_caller]
pub fn assert_lines(got: &[String], expected: &[String]) {
    if got == expected {
        return;
    }
    let first = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    let want: std::collections::HashSet<&String> = expected.iter().collect();
    let have: std::collections::HashSet<&String> = got.iter().collect();
    let missing: Vec<&&String> = want.difference(&have).take(5).collect();
    let extra: Vec<&&String> = have.difference(&want).take(5).collect();
    let dups = got.len() - have.len();
    panic!(
        "shipped {} lines, expected {}; first difference at index {first}: got {:?}, expected {:?}; \
         {} missing (e.g. {missing:?}); {} unexpected (e.g. {extra:?}); {dups} duplicates",
        got.len(),
        expected.len(),
        got.get(first),
        expected.get(first),
        want.difference(&have).count(),
        have.difference(&want).count(),
    );
}

/// Write the config to a file in the temp dir and return its path (for child processes).
pub fn config_file(d: &Dirs, text: &str) -> PathBuf {
    let p = d.tmp.path().join("logferry.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

/// `logferry run --config FILE` as a child process (stderr captured to a file in the tmp dir).
pub fn spawn_agent(d: &Dirs, config: &Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.tmp.path().join("agent.log"))
        .expect("agent log");
    std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
        .args(["run", "--config"])
        .arg(config)
        // LF_TEST_LOG=debug,librdkafka=warn: the agent's log level when a test needs its story.
        .env(
            "LOGFERRY_LOG",
            std::env::var("LF_TEST_LOG").unwrap_or_else(|_| "info,librdkafka=warn".into()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn logferry")
}

/// How long a child logferry may take to exit after SIGTERM: its shutdown is bounded by
/// `shutdown_timeout_ms` (5 s in these tests), so this is a hang, not a slow stop.
pub const EXIT_WAIT: Duration = Duration::from_secs(60);

/// SIGTERM and wait; returns the exit status. A child still running after [`EXIT_WAIT`]
/// fails the test with its threads' stacks instead of hanging the run (CI once timed out on
/// such a wait with nothing to show).
pub fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    wait_or_dump(child, EXIT_WAIT, "SIGTERM")
}

/// Wait up to `limit` for `child` to exit after `what`; past it, print every thread's stack
/// (gdb, when installed; itself bounded), kill -9 it and panic.
pub fn wait_or_dump(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => {
                // A child's exit has no event to wait on with a deadline short of a
                // signalfd; polling at 10 ms costs nothing here.
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) => break,
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
    }
    let pid = child.id();
    let stacks = std::process::Command::new("timeout")
        .args(["60", "gdb", "-p", &pid.to_string(), "-batch"])
        .args(["-ex", "thread apply all bt"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("(no stacks: gdb: {e})"));
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "pid {pid} did not exit within {} s of {what}; its threads:\n{stacks}",
        limit.as_secs()
    );
}

/// What process `pid`'s descriptors point at (/proc/PID/fd links; empty once it is gone).
pub fn fd_targets(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Full checkpoint entries: (ino, path, offset).
/// (inode, path, offset) of the files a checkpoint still ships from (gone records excluded).
pub fn checkpoint_entries(state: &Path, name: &str) -> Vec<(u64, String, u64)> {
    checkpoint_files(state, name)
        .into_iter()
        .filter(|f| !f.gone)
        .map(|f| (f.id.ino, f.path, f.offset))
        .collect()
}

/// Every entry of a section's checkpoint, as written.
pub fn checkpoint_files(
    state: &Path,
    name: &str,
) -> Vec<logferry::agent::checkpoint::FileCheckpoint> {
    let Ok(bytes) = std::fs::read(state.join(name)) else {
        return Vec::new();
    };
    serde_json::from_slice::<logferry::agent::checkpoint::SectionCheckpoint>(&bytes)
        .map(|cp| cp.files)
        .unwrap_or_default()
}

/// A plain HTTP/1.0 GET (for /metrics and /healthz); returns (status, body).
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics endpoint");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("request");
    http_response(s)
}

/// `METHOD path` with a JSON body and an optional `Authorization` header: (status, body).
pub fn http_send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the console");
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    http_response(s)
}

/// Reads an HTTP/1.0 answer to its end: (status, body).
fn http_response(mut s: std::net::TcpStream) -> (u16, String) {
    use std::io::Read;
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("response");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of one sample line `name{labels} value` in a scrape.
pub fn sample(scrape: &str, name_and_labels: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Take all three brokers of the mock cluster down, or bring them back.
pub fn brokers(mock: &Mock, up: bool) {
    for b in 1..=3 {
        if up {
            mock.broker_up(b).expect("broker up");
        } else {
            mock.broker_down(b).expect("broker down");
        }
    }
}

/// A small tmpfs mounted for a disk-full test; unmounted (lazily, so a process still holding
/// a file there cannot make it fail) when dropped.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_kib` at `dir` (created). Err with the reason when mounting is
    /// not permitted here (no root, or a sandbox without CAP_SYS_ADMIN): the caller skips.
    pub fn mount(dir: &Path, size_kib: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// Fills the file system with a ballast file until ENOSPC; returns its path.
    pub fn fill(&self) -> PathBuf {
        let p = self.dir.join("ballast");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .expect("ballast");
        let chunk = vec![0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("ballast write: {e}"),
            }
        }
        // Small writes may still fit in the last partial page: take single bytes too.
        while let Ok(1) = f.write(&[0u8]) {}
        p
    }

    /// Frees the space again.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.dir.join("ballast"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// High watermark of partition 0 of `topic` (0 if it can't be read).
pub fn high_watermark(bootstrap: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    c.fetch_watermarks(topic, 0, Duration::from_secs(10))
        .map(|(_, h)| h)
        .unwrap_or(0)
}
