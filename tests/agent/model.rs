//! Model-based torture test: random sequences of file operations (append, partial line,
//! rotate by rename, rotate by copytruncate, a rename chain as RotatingFileHandler does, new
//! file, delete a shipped file, gzip a rotated file and delete it (logrotate `compress`),
//! move a queued file out of the directory (`olddir`), delete a queued file) and agent/broker
//! faults (graceful restart, kill -9, all brokers down, brokers up) run against a child
//! `logferry` and the bundled broker run as `logferry broker` (flush = "ack"; "down" is a
//! kill -9, "up" a restart on the same port), with an oracle of what each file holds. After the
//! sequence and a drain, the topic must hold every line of every file, in file order, with
//! duplicates only if the agent was killed.
//!
//! `LOGFERRY_MODEL_CASES=N` runs N cases (default 10, under a minute); failures are shrunk by
//! proptest and saved under `proptest-regressions/`; minimal failing sequences found while
//! writing this test are kept in [`regressions`] so they run on every `cargo test`.

use crate::util::ChildBroker;
use crate::util::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, FileFailurePersistence, TestRunner};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// How long the drain may take before the case fails as "lines never shipped".
const DRAIN: Duration = Duration::from_secs(30);
/// How long a delete waits for its file's lines to appear in the topic.
const SHIPPED_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// n complete lines to the base file (completing a pending partial line first).
    Append(u8),
    /// A fragment without a newline.
    AppendPartial,
    RotateRename,
    RotateCopyTruncate,
    /// A new rotated-looking file with n complete lines, written once.
    NewFile(u8),
    /// Delete the oldest rotated file once all its lines are in the topic.
    DeleteShipped,
    /// Rotate as Python's RotatingFileHandler: access.log.cN → access.log.c(N+1), newest
    /// first, then the base → access.log.c1.
    RotateChain,
    /// gzip the oldest rotated plain file to NAME.gz and delete it (logrotate `compress`),
    /// whether or not the agent runs or has shipped it.
    Compress,
    /// Move the oldest unshipped rotated file out of the directory (logrotate `olddir`) while
    /// the agent holds it; its lines must still ship.
    MoveOut,
    /// Delete the oldest unshipped rotated file while the agent holds it; its lines must
    /// still ship.
    DeleteQueued,
    Restart,
    Kill9,
    BrokerDown,
    BrokerUp,
    /// Let time pass (milliseconds), so faults land at different points of the work.
    Sleep(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..60).prop_map(Op::Append),
        2 => Just(Op::AppendPartial),
        2 => Just(Op::RotateRename),
        2 => Just(Op::RotateCopyTruncate),
        1 => (1u8..20).prop_map(Op::NewFile),
        1 => Just(Op::DeleteShipped),
        1 => Just(Op::RotateChain),
        1 => Just(Op::Compress),
        1 => Just(Op::MoveOut),
        1 => Just(Op::DeleteQueued),
        1 => Just(Op::Restart),
        2 => Just(Op::Kill9),
        1 => Just(Op::BrokerDown),
        1 => Just(Op::BrokerUp),
        3 => (0u8..150).prop_map(Op::Sleep),
    ]
}

/// One file as the oracle sees it.
#[derive(Debug, Default, Clone)]
struct FileModel {
    path: PathBuf,
    lines: Vec<String>,
    /// Bytes written after the last newline (base file only).
    partial: Option<String>,
    deleted: bool,
    /// gzip-compressed (its path ends in .gz): never written again.
    compressed: bool,
}

impl FileModel {
    /// The lines the agent must ship from this file: a trailing partial line counts once the
    /// file is finished (a newer file exists), i.e. for every file but the live base.
    fn expected(&self, finished: bool) -> Vec<String> {
        let mut l = self.lines.clone();
        if finished {
            if let Some(p) = &self.partial {
                l.push(p.clone());
            }
        }
        l
    }
}

/// Reads the topic incrementally; keeps everything consumed so far.
struct TopicReader {
    /// Always set; an Option only so that drop can close it bounded.
    consumer: Option<BaseConsumer>,
    got: Vec<String>,
    bootstrap: String,
    topic: String,
}

impl TopicReader {
    fn new(bootstrap: &str, topic: &str) -> TopicReader {
        TopicReader {
            consumer: Some(TopicReader::consumer(bootstrap, topic)),
            got: Vec::new(),
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
        }
    }

    fn consumer(bootstrap: &str, topic: &str) -> BaseConsumer {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "model-reader")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("log_level", "0")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .expect("tpl");
        consumer.assign(&tpl).expect("assign");
        consumer
    }

    /// Start over from the beginning with a fresh consumer: a consumer that lived through
    /// "all brokers down" may sit on a stale fetch state; the topic itself is the truth.
    fn reread(&mut self) {
        let fresh = TopicReader::consumer(&self.bootstrap, &self.topic);
        if let Some(old) = self.consumer.replace(fresh) {
            close_bounded(old);
        }
        self.got.clear();
    }

    fn consumer_ref(&self) -> &BaseConsumer {
        self.consumer.as_ref().expect("a consumer until drop")
    }

    fn high_watermark(&self) -> i64 {
        self.consumer_ref()
            .fetch_watermarks(&self.topic, 0, Duration::from_secs(5))
            .map(|(_, h)| h)
            .unwrap_or(-1)
    }

    /// Consume for up to `d`, returning early once nothing arrives for a short while.
    fn pump(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            match self.consumer_ref().poll(Duration::from_millis(50)) {
                Some(Ok(m)) => self
                    .got
                    .push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()),
                Some(Err(_)) => std::thread::sleep(Duration::from_millis(20)),
                None => return,
            }
        }
    }

    fn wait_contains(&mut self, want: &[String], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut reread_at = Instant::now() + Duration::from_secs(5);
        loop {
            if Instant::now() > reread_at {
                self.reread();
                reread_at = Instant::now() + Duration::from_secs(5);
            }
            self.pump(Duration::from_millis(200));
            let have: HashSet<&String> = self.got.iter().collect();
            if want.iter().all(|l| have.contains(l)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
        }
    }
}

/// Drop a consumer on a thread of its own and wait for it a bounded time: librdkafka's
/// consumer close can block forever on a broker reference that never goes (rust-rdkafka#509,
/// librdkafka#4362); this reader is only the test's eyes, so a stuck close is reported and
/// left behind instead of hanging the run.
fn close_bounded(consumer: BaseConsumer) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(consumer);
        let _ = tx.send(());
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        eprintln!("model: a test consumer did not close within 30 s (left behind)");
    }
}

impl Drop for TopicReader {
    fn drop(&mut self) {
        if let Some(c) = self.consumer.take() {
            close_bounded(c);
        }
    }
}

struct World {
    d: Dirs,
    cfg: PathBuf,
    /// librdkafka's mock cluster aborts the process when a broker brought down comes back
    /// up and cannot re-listen (rdkafka_mock.c assertion), so the bundled broker stands in.
    broker: Option<ChildBroker>,
    listen: String,
    broker_args: Vec<String>,
    agent: Option<Child>,
    brokers_down: bool,
    /// Every file ever created, oldest first; index 0.. in creation order.
    files: Vec<FileModel>,
    /// Index in `files` of the current base file (None after a rename, until the next write).
    base: Option<usize>,
    seq: usize,
    rotations: usize,
    kills: usize,
    reader: TopicReader,
}

impl World {
    fn new() -> World {
        let topic = "model";
        let d = dirs();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let bcfg = d.tmp.path().join("broker.toml");
        std::fs::write(&bcfg, "[broker]\nflush = \"ack\"\n").expect("broker config");
        let broker_args = vec!["--config".to_string(), bcfg.display().to_string()];
        let cfg = config_file(&d, &config_text(&d, &listen, topic, ""));
        let reader = TopicReader::new(&listen, topic);
        let mut w = World {
            d,
            cfg,
            broker: None,
            listen,
            broker_args,
            agent: None,
            brokers_down: false,
            files: Vec::new(),
            base: None,
            seq: 0,
            rotations: 0,
            kills: 0,
            reader,
        };
        w.start_broker();
        w.agent = Some(spawn_agent(&w.d, &w.cfg));
        w
    }

    fn start_broker(&mut self) {
        let args: Vec<&str> = self.broker_args.iter().map(String::as_str).collect();
        self.broker = Some(ChildBroker::spawn_on(
            &self.listen,
            &self.d.tmp.path().join("broker"),
            &args,
        ));
    }

    fn base_path(&self) -> PathBuf {
        self.d.logs.join("access.log")
    }

    fn next_line(&mut self) -> String {
        self.seq += 1;
        format!("L{:06} {}", self.seq, "m".repeat(self.seq % 23))
    }

    fn base_index(&mut self) -> usize {
        if let Some(i) = self.base {
            return i;
        }
        self.files.push(FileModel {
            path: self.base_path(),
            ..FileModel::default()
        });
        let i = self.files.len() - 1;
        self.base = Some(i);
        i
    }

    fn write_base(&mut self, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.base_path())
            .expect("open base");
        f.write_all(bytes).expect("append");
    }

    fn apply(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::Append(n) => {
                let i = self.base_index();
                let mut buf = Vec::new();
                if let Some(p) = self.files[i].partial.take() {
                    buf.extend_from_slice(b"-done\n");
                    self.files[i].lines.push(format!("{p}-done"));
                }
                for _ in 0..n {
                    let l = self.next_line();
                    buf.extend_from_slice(l.as_bytes());
                    buf.push(b'\n');
                    self.files[i].lines.push(l);
                }
                self.write_base(&buf);
            }
            Op::AppendPartial => {
                let i = self.base_index();
                let frag = format!("P{:06}", {
                    self.seq += 1;
                    self.seq
                });
                let whole = match self.files[i].partial.take() {
                    Some(p) => format!("{p}{frag}"),
                    None => frag.clone(),
                };
                self.write_base(frag.as_bytes());
                self.files[i].partial = Some(whole);
            }
            Op::RotateRename => {
                let Some(i) = self.base.take() else {
                    return Ok(());
                };
                self.rotations += 1;
                let to = self
                    .d
                    .logs
                    .join(format!("access.log.{:04}", self.rotations));
                std::fs::rename(self.base_path(), &to).expect("rename");
                self.files[i].path = to;
            }
            Op::RotateCopyTruncate => {
                let Some(i) = self.base else { return Ok(()) };
                self.rotations += 1;
                let to = self
                    .d
                    .logs
                    .join(format!("access.log.{:04}", self.rotations));
                std::fs::copy(self.base_path(), &to).expect("copy");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(self.base_path())
                    .and_then(|f| f.set_len(0))
                    .expect("truncate");
                // The copy holds what the base held; the base starts over empty (same inode).
                let mut copy = std::mem::take(&mut self.files[i]);
                copy.path = to;
                self.files[i].path = self.base_path();
                self.files.push(copy);
                // Keep creation order: the copy's lines come before the truncated base's new
                // lines, which the oracle only checks per file anyway.
            }
            Op::NewFile(n) => {
                self.rotations += 1;
                let path = self
                    .d
                    .logs
                    .join(format!("access.log.new{:04}", self.rotations));
                let mut lines = Vec::new();
                let mut buf = Vec::new();
                for _ in 0..n {
                    let l = self.next_line();
                    buf.extend_from_slice(l.as_bytes());
                    buf.push(b'\n');
                    lines.push(l);
                }
                std::fs::write(&path, &buf).expect("new file");
                self.files.push(FileModel {
                    path,
                    lines,
                    ..FileModel::default()
                });
            }
            Op::DeleteShipped => {
                if self.agent.is_none() || self.brokers_down {
                    return Ok(());
                }
                let base = self.base;
                let Some(i) =
                    (0..self.files.len()).find(|&i| Some(i) != base && !self.files[i].deleted)
                else {
                    return Ok(());
                };
                // A trailing partial line ships only once a newer file exists; with no base
                // file this one may still be the newest, so it is not "fully shipped" yet.
                if self.base.is_none() && self.files[i].partial.is_some() {
                    return Ok(());
                }
                let want = self.files[i].expected(true);
                if !self.reader.wait_contains(&want, SHIPPED_WAIT) {
                    return Err(format!(
                        "{} was never fully shipped ({} lines) before its deletion{}",
                        self.files[i].path.display(),
                        want.len(),
                        self.agent_log_tail()
                    ));
                }
                std::fs::remove_file(&self.files[i].path).expect("delete shipped file");
                self.files[i].deleted = true;
            }
            Op::RotateChain => {
                let Some(i) = self.base.take() else {
                    return Ok(());
                };
                self.rotations += 1;
                let chain = |n: usize| self.d.logs.join(format!("access.log.c{n:02}"));
                let mut members: Vec<(usize, usize)> = self
                    .files
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !f.deleted)
                    .filter_map(|(k, f)| {
                        let name = f.path.file_name()?.to_str()?;
                        let n = name.strip_prefix("access.log.c")?.parse().ok()?;
                        Some((n, k))
                    })
                    .collect();
                members.sort();
                for &(n, k) in members.iter().rev() {
                    std::fs::rename(chain(n), chain(n + 1)).expect("chain rename");
                    self.files[k].path = chain(n + 1);
                }
                std::fs::rename(self.base_path(), chain(1)).expect("rename base");
                self.files[i].path = chain(1);
            }
            Op::Compress => {
                let base = self.base;
                let Some(i) = (0..self.files.len()).find(|&k| {
                    Some(k) != base && !self.files[k].deleted && !self.files[k].compressed
                }) else {
                    return Ok(());
                };
                let from = self.files[i].path.clone();
                let bytes = std::fs::read(&from).expect("read rotated file");
                let mut to = from.clone().into_os_string();
                to.push(".gz");
                let to = PathBuf::from(to);
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&bytes).expect("gzip");
                std::fs::write(&to, gz.finish().expect("gzip")).expect("write .gz");
                std::fs::remove_file(&from).expect("remove original");
                self.files[i].path = to;
                self.files[i].compressed = true;
            }
            Op::MoveOut | Op::DeleteQueued => {
                // Only while the agent holds the file and can ship it: with the agent down or
                // the brokers down, a kill -9 before it ships would lose it (counted, but not
                // what this operation checks).
                let Some(pid) = self.agent.as_ref().map(Child::id) else {
                    return Ok(());
                };
                if self.brokers_down {
                    return Ok(());
                }
                let base = self.base;
                let Some(i) = (0..self.files.len()).find(|&k| {
                    Some(k) != base && !self.files[k].deleted && !self.files[k].compressed
                }) else {
                    return Ok(());
                };
                let path = self.files[i].path.clone();
                if !holds(pid, &path) {
                    return Ok(());
                }
                if op == Op::MoveOut {
                    let old = self.d.tmp.path().join("old");
                    std::fs::create_dir_all(&old).expect("olddir");
                    let to = old.join(path.file_name().expect("name"));
                    std::fs::rename(&path, &to).expect("move out");
                    self.files[i].path = to;
                } else {
                    std::fs::remove_file(&path).expect("delete queued file");
                }
                // Out of the section's directory: it ships through the held descriptor, or
                // never. It ends with a complete line or is no longer the base, so all of it.
                let want = self.files[i].expected(true);
                self.files[i].deleted = true;
                if !self.reader.wait_contains(&want, SHIPPED_WAIT) {
                    return Err(format!(
                        "{} ({} lines) never fully shipped after it left the directory{}",
                        path.display(),
                        want.len(),
                        self.agent_log_tail()
                    ));
                }
            }
            Op::Restart => {
                if let Some(mut c) = self.agent.take() {
                    // With the brokers down the shutdown waits out shutdown_timeout_ms (5 s)
                    // and exits non-zero by design; either way it must not lose anything.
                    let _ = terminate(&mut c);
                }
                self.agent = Some(spawn_agent(&self.d, &self.cfg));
            }
            Op::Kill9 => {
                if let Some(mut c) = self.agent.take() {
                    c.kill().expect("kill -9");
                    c.wait().expect("reap");
                    self.kills += 1;
                }
                self.agent = Some(spawn_agent(&self.d, &self.cfg));
            }
            Op::BrokerDown => {
                if let Some(b) = self.broker.take() {
                    b.kill9();
                    // A broker crash fails in-flight deliveries: re-sending them is allowed.
                    self.kills += 1;
                }
                self.brokers_down = true;
            }
            Op::BrokerUp => {
                if self.broker.is_none() {
                    self.start_broker();
                }
                self.brokers_down = false;
            }
            Op::Sleep(ms) => std::thread::sleep(Duration::from_millis(u64::from(ms))),
        }
        Ok(())
    }

    fn agent_log(&self) -> String {
        std::fs::read_to_string(self.d.tmp.path().join("agent.log")).unwrap_or_default()
    }

    fn agent_log_tail(&self) -> String {
        let log = self.agent_log();
        // LF_TEST_TAIL=100000 (with LF_TEST_LOG=debug, tests/util/agent.rs) shows a failing
        // case's whole story.
        let lines = std::env::var("LF_TEST_TAIL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40);
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        format!(
            "\nagent log tail:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// Brokers up, agent running, the base's partial line completed; then wait until every
    /// line is in the topic and compare with the oracle.
    fn drain_and_check(&mut self) -> Result<(), String> {
        self.apply(Op::BrokerUp)?;
        if self.agent.is_none() {
            self.agent = Some(spawn_agent(&self.d, &self.cfg));
        }
        // A partial last line ships once its file is finished, i.e. once a newer file exists:
        // the application's next line (into a new base file after a rename) provides one.
        // (Without a base every file may be the one still written to; a copytruncate copy or
        // a new file is older than the base, or holds complete lines only.)
        if self.base.is_none_or(|i| self.files[i].partial.is_some()) {
            self.apply(Op::Append(1))?;
        }
        let base = self.base;
        let per_file: Vec<(String, Vec<String>)> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.display().to_string(), f.expected(Some(i) != base)))
            .collect();
        let all: Vec<String> = per_file.iter().flat_map(|(_, l)| l.clone()).collect();
        let complete = self.reader.wait_contains(&all, DRAIN);
        // Judge on one fresh read of the whole topic, a little later so late duplicates show.
        std::thread::sleep(Duration::from_millis(300));
        self.reader.reread();
        let high = self.reader.high_watermark();
        let deadline = Instant::now() + Duration::from_secs(10);
        while (self.reader.got.len() as i64) < high && Instant::now() < deadline {
            self.reader.pump(Duration::from_millis(200));
        }
        let got = &self.reader.got;
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, l) in got.iter().enumerate() {
            first.entry(l.as_str()).or_insert(i);
        }
        let dups = got.len() - first.len();
        let mut problems = Vec::new();
        if (got.len() as i64) < high {
            problems.push(format!(
                "topic high watermark {high}, only {} messages read back",
                got.len()
            ));
        }
        let missing: Vec<&String> = all
            .iter()
            .filter(|l| !first.contains_key(l.as_str()))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{} of {} lines never shipped (drain wait {}), e.g. {:?}",
                missing.len(),
                all.len(),
                if complete {
                    "saw them all"
                } else {
                    "timed out"
                },
                missing.iter().take(3).collect::<Vec<_>>()
            ));
        }
        let known: HashSet<&String> = all.iter().collect();
        let unknown: Vec<&String> = got.iter().filter(|l| !known.contains(l)).collect();
        if !unknown.is_empty() {
            problems.push(format!(
                "{} shipped lines were never written, e.g. {:?}",
                unknown.len(),
                unknown.iter().take(3).collect::<Vec<_>>()
            ));
        }
        for (path, lines) in &per_file {
            // First occurrences of a file's lines must come in the file's order.
            let pos: Vec<usize> = lines
                .iter()
                .filter_map(|l| first.get(l.as_str()).copied())
                .collect();
            if let Some(w) = pos.windows(2).position(|w| w[0] > w[1]) {
                problems.push(format!(
                    "{path}: reordered, line {:?} shipped before {:?}",
                    lines.get(w + 1),
                    lines.get(w)
                ));
            }
        }
        if self.kills == 0 && dups > 0 {
            problems.push(format!("{dups} duplicates without any kill -9"));
        }
        if let Some(mut c) = self.agent.take() {
            let _ = terminate(&mut c);
        }
        // A stop that hit the agent's own time limit (exit 70) still ends the case: its lines
        // are judged like any other. It is a bug to look into, so it is said on every case.
        let stuck = self
            .agent_log()
            .matches("stop did not finish in time")
            .count();
        if stuck > 0 {
            eprintln!("model: WARNING: {stuck} agent stop(s) hit the stop time limit (exit 70)");
        }
        eprintln!(
            "model case: {} files, {} lines, {} shipped, {dups} duplicates, {} kills, {} problems",
            per_file.len(),
            all.len(),
            got.len(),
            self.kills,
            problems.len()
        );
        if problems.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{}\nfiles: {:?}{}",
            problems.join("\n"),
            per_file
                .iter()
                .map(|(p, l)| (p.rsplit('/').next().unwrap_or(p).to_string(), l.len()))
                .collect::<Vec<_>>(),
            self.agent_log_tail()
        ))
    }
}

/// Whether process `pid` has `path` open (a descriptor pointing at it in /proc/PID/fd).
fn holds(pid: u32, path: &std::path::Path) -> bool {
    fd_targets(pid).iter().any(|target| target == path)
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run_case(ops: &[Op]) -> Result<(), String> {
    let mut w = World::new();
    for &op in ops {
        w.apply(op)?;
    }
    w.drain_and_check()
}

/// Shrink steps for a failure: each step replays a case (seconds each), so CI keeps it small;
/// `LOGFERRY_MODEL_SHRINK=N` for a minimal sequence when investigating.
fn shrink_iters() -> u32 {
    std::env::var("LOGFERRY_MODEL_SHRINK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

fn cases() -> u32 {
    std::env::var("LOGFERRY_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

#[test]
fn random_operation_sequences_lose_and_reorder_nothing() {
    init_logs();
    let mut runner = TestRunner::new(PtConfig {
        cases: cases(),
        max_shrink_iters: shrink_iters(),
        // Shrunk failures are saved to tests/proptest-regressions/model.txt and replayed first.
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..PtConfig::default()
    });
    let started = Instant::now();
    let result = runner.run(&proptest::collection::vec(op(), 1..30), |ops| {
        run_case(&ops).map_err(|e| {
            eprintln!("model case failed: {ops:?}\n{e}");
            TestCaseError::fail(format!("{ops:?}\n{e}"))
        })
    });
    eprintln!(
        "model: {} cases in {:.1}s",
        cases(),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Minimal sequences that once failed (or that pin a tricky interleaving); each must pass.
#[test]
fn regressions() {
    init_logs();
    use Op::*;
    let cases: &[&[Op]] = &[
        // partial line, then rotation by rename: the fragment ships as the file's last line
        &[Append(3), AppendPartial, RotateRename, Append(2)],
        // copytruncate right after a partial line, then kill -9 and broker outage
        &[
            Append(5),
            AppendPartial,
            RotateCopyTruncate,
            Kill9,
            BrokerDown,
            Append(4),
            BrokerUp,
        ],
        // a newer file beside a base whose last line is incomplete: the base yields without
        // shipping the fragment, which the next write completes (found by this test)
        &[
            AppendPartial,
            Sleep(1),
            NewFile(2),
            DeleteShipped,
            Append(21),
        ],
        // the same, then kill -9, rotation and a new base (which may reuse the inode of the
        // deleted file still in the checkpoint)
        &[
            AppendPartial,
            Sleep(117),
            NewFile(2),
            DeleteShipped,
            Append(21),
            Kill9,
            RotateRename,
            Append(57),
            DeleteShipped,
        ],
        // copytruncate of a base ending in an incomplete line, nothing written after: the
        // copy finishes beside the empty base and its fragment ships (found by this test)
        &[Append(3), AppendPartial, RotateCopyTruncate],
        // delete a shipped file, restart, new file
        &[
            Append(10),
            RotateRename,
            Append(1),
            DeleteShipped,
            Restart,
            NewFile(3),
            Append(2),
        ],
        // copytruncate of a quiet base that had finished beside a newer file: the copy was
        // not recognised and shipped again (17 duplicates without a kill; found by this test).
        // It fails only when a scan sees the copy before the truncation, a narrow window; the
        // queue's unit test `copytruncate_of_a_quiet_base_that_finished_…` pins it exactly.
        &[
            Append(17),
            NewFile(18),
            Sleep(200),
            Sleep(200),
            DeleteShipped,
            RotateCopyTruncate,
            Append(27),
        ],
        // copytruncate twice, new lines, then the truncated file is renamed away and deleted
        // while held, before any scan saw it rewritten: its new lines waited for ever (and,
        // before f46531b, the section spun at 100 % CPU). Only its descriptor shows them; the
        // queue's unit test `a_held_file_rewritten_after_it_left_the_directory_…` pins the
        // reconciliation.
        &[
            Sleep(9),
            Append(5),
            Sleep(51),
            RotateCopyTruncate,
            RotateCopyTruncate,
            Append(26),
            RotateRename,
            AppendPartial,
            DeleteQueued,
        ],
        // a partial line in a file rotated, gzipped and deleted while the brokers are down,
        // then a restart: the .gz had been released as "already shipped" when the original
        // was read to its end (not acknowledged) and checkpointed so; after the restart
        // "P000001" was counted lost (about 1 run in 3). Pinned by the queue's unit test
        // `a_gz_of_a_file_read_to_its_end_but_not_acknowledged_…`.
        &[
            AppendPartial,
            Sleep(118),
            BrokerDown,
            Sleep(80),
            RotateChain,
            Append(15),
            NewFile(18),
            NewFile(1),
            Append(54),
            RotateCopyTruncate,
            RotateChain,
            DeleteQueued,
            MoveOut,
            Compress,
            Compress,
            Append(52),
            AppendPartial,
            Sleep(80),
            RotateRename,
            Append(45),
            Compress,
            Restart,
        ],
        // copytruncate whose copy is first seen empty and deleted (held) before a scan sees
        // its content: it was shipped again (40 duplicates), 9 runs in 10 with a CPU hog
        // beside the test, rarely without. Pinned by the queue's unit test
        // `a_copytruncate_copy_deleted_before_a_scan_saw_its_content_…`.
        &[
            RotateChain,
            RotateChain,
            Append(40),
            Sleep(110),
            RotateCopyTruncate,
            AppendPartial,
            NewFile(9),
            BrokerUp,
            DeleteQueued,
            Sleep(116),
            Sleep(59),
            Sleep(128),
            Append(44),
            RotateRename,
            Append(55),
            Compress,
            DeleteQueued,
            AppendPartial,
            RotateRename,
        ],
    ];
    for ops in cases {
        if let Err(e) = run_case(ops) {
            panic!("{ops:?}: {e}");
        }
    }
}
