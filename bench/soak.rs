//! Soak test (outside `cargo test`; run through `bench/soak.sh`): N rounds of writing with
//! rotation (rename and copytruncate) while `logferry run` is killed with -9 at a random
//! moment, and now and then the broker (`logferry broker`, flush = "ack") is killed -9 and
//! restarted too. Each round ends with a marker line; once the marker is in the topic every
//! line written before it must be there. Prints lost / duplicated / reordered per round and
//! in total; exits 1 if anything was lost or reordered.
//!
//! Usage: soak --bin PATH/TO/logferry [--rounds N] [--seed S] [--dir DIR]

use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "soak";

struct Args {
    bin: PathBuf,
    rounds: usize,
    seed: u64,
    dir: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        bin: PathBuf::new(),
        rounds: 1000,
        seed: 1,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--bin" => a.bin = PathBuf::from(v),
            "--rounds" => a.rounds = v.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--seed" => a.seed = v.parse().map_err(|e| format!("--seed: {e}"))?,
            "--dir" => a.dir = Some(PathBuf::from(v)),
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if a.bin.as_os_str().is_empty() {
        return Err("--bin PATH (the logferry binary) is required".into());
    }
    Ok(a)
}

/// The application writing logs: numbered lines, each tagged with the generation of the file
/// it went into (a rename or copytruncate starts a new generation).
struct Writer {
    logs: PathBuf,
    seq: u64,
    generation: u64,
    rotations: u64,
    /// Rotated files below this number were deleted.
    pruned: u64,
    /// seq → generation, for every line written.
    written: Vec<u64>,
}

impl Writer {
    fn base(&self) -> PathBuf {
        self.logs.join("access.log")
    }

    fn write(&mut self, n: usize, pad: usize) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(n * 64);
        for _ in 0..n {
            writeln!(
                buf,
                "g{} s{} {}",
                self.generation,
                self.seq,
                "w".repeat((self.seq as usize * 7 + pad) % 90)
            )?;
            self.written.push(self.generation);
            self.seq += 1;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.base())?
            .write_all(&buf)
    }

    fn rotate(&mut self, copytruncate: bool) -> std::io::Result<()> {
        if !self.base().exists() {
            return Ok(());
        }
        self.rotations += 1;
        let to = self.logs.join(format!("access.log.{:06}", self.rotations));
        if copytruncate {
            std::fs::copy(self.base(), &to)?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(self.base())?
                .set_len(0)?;
        } else {
            std::fs::rename(self.base(), &to)?;
        }
        self.generation += 1;
        Ok(())
    }

    /// Keep the directory small: delete rotated files older than the newest few, once the
    /// round's marker (written after them) was seen; the agent must not mind.
    fn prune(&mut self, keep: u64) {
        let oldest_kept = self.rotations.saturating_sub(keep);
        for r in self.pruned..oldest_kept {
            let _ = std::fs::remove_file(self.logs.join(format!("access.log.{r:06}")));
        }
        self.pruned = self.pruned.max(oldest_kept);
    }
}

fn spawn(bin: &Path, args: &[&str], log: &Path) -> std::io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Command::new(bin)
        .args(args)
        .env("LOGFERRY_LOG", "info,librdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
}

fn kill9(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}

fn term(c: &mut Child) {
    unsafe {
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
    let _ = c.wait();
}

/// What the topic told us so far.
#[derive(Default)]
struct Seen {
    /// seq → times seen
    count: HashMap<u64, u32>,
    /// generation → highest seq first seen in it
    last_in_gen: HashMap<u64, u64>,
    dups: u64,
    reordered: u64,
    markers: Vec<u64>,
}

impl Seen {
    fn take(&mut self, payload: &[u8]) {
        let s = String::from_utf8_lossy(payload);
        if let Some(r) = s.strip_prefix("marker ") {
            if let Ok(r) = r.trim().parse() {
                self.markers.push(r);
            }
            return;
        }
        let mut parts = s.split(' ');
        let g = parts
            .next()
            .and_then(|g| g.strip_prefix('g'))
            .and_then(|g| g.parse::<u64>().ok());
        let q = parts
            .next()
            .and_then(|q| q.strip_prefix('s'))
            .and_then(|q| q.parse::<u64>().ok());
        let (Some(g), Some(q)) = (g, q) else {
            eprintln!("unexpected message {s:?}");
            return;
        };
        let c = self.count.entry(q).or_insert(0);
        *c += 1;
        if *c > 1 {
            self.dups += 1;
            return;
        }
        let last = self.last_in_gen.entry(g).or_insert(q);
        if q < *last {
            self.reordered += 1;
        }
        *last = (*last).max(q);
    }
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    match run(&a) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    }
}

fn run(a: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let root = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let logs = root.join("logs");
    let state = root.join("state");
    let data = root.join("broker");
    std::fs::create_dir_all(&logs)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let broker_cfg = root.join("broker.toml");
    std::fs::write(&broker_cfg, "[broker]\nflush = \"ack\"\n")?;
    let agent_cfg = root.join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            r#"[agent]
state_dir = "{state}"
host = "soak"
metrics_listen = "127.0.0.1:0"
rescan_interval_ms = 200
shutdown_timeout_ms = 5000

[output]
brokers = "{listen}"

[topic.access]
log_base_path = "{logs}"
base_log_fullpath = "{logs}/access.log"
log_name_regx = '{logs}/access.log.*'
topic = "{TOPIC}"
rotate_wait_ms = 100
sender_waiting_max_ms = 5
"#,
            state = state.display(),
            logs = logs.display(),
        ),
    )?;
    let agent_log = root.join("agent.log");
    let broker_log = root.join("broker.log");
    let broker_args = [
        "broker",
        "--listen",
        &listen,
        "--data-dir",
        data.to_str().ok_or("data dir not utf-8")?,
        "--config",
        broker_cfg.to_str().ok_or("config path not utf-8")?,
    ];
    let agent_args = [
        "run",
        "--config",
        agent_cfg.to_str().ok_or("config path not utf-8")?,
    ];
    let mut broker = spawn(&a.bin, &broker_args, &broker_log)?;
    let mut agent = spawn(&a.bin, &agent_args, &agent_log)?;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &listen)
        .set("group.id", "soak-reader")
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "500")
        .set("log_level", "0")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;

    let writer = Arc::new(Mutex::new(Writer {
        logs: logs.clone(),
        seq: 0,
        generation: 0,
        rotations: 0,
        pruned: 0,
        written: Vec::new(),
    }));
    let mut seen = Seen::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(a.seed);
    let (mut t_lost, mut t_dups, mut t_reord, mut broker_restarts) = (0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    for round in 0..a.rounds {
        let (d0, r0) = (seen.dups, seen.reordered);
        // The application writes for a while, rotating now and then...
        let stop = Arc::new(AtomicBool::new(false));
        let w = writer.clone();
        let s = stop.clone();
        let wseed: u64 = rng.gen();
        let wthread = std::thread::spawn(move || -> std::io::Result<()> {
            let mut rng = rand::rngs::StdRng::seed_from_u64(wseed);
            while !s.load(Ordering::Relaxed) {
                let mut w = w.lock().map_err(|_| std::io::Error::other("poisoned"))?;
                w.write(rng.gen_range(1..200), rng.gen_range(0..90))?;
                let p: f64 = rng.gen();
                if p < 0.05 {
                    w.rotate(false)?;
                } else if p < 0.08 {
                    w.rotate(true)?;
                }
                drop(w);
                std::thread::sleep(Duration::from_millis(rng.gen_range(0..15)));
            }
            Ok(())
        });
        // ...and at a random moment of it the agent dies (and sometimes the broker too).
        let kill_at = rng.gen_range(20..400);
        let broker_too = rng.gen_bool(0.15);
        std::thread::sleep(Duration::from_millis(kill_at));
        kill9(&mut agent);
        if broker_too {
            kill9(&mut broker);
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..200)));
            broker = spawn(&a.bin, &broker_args, &broker_log)?;
            broker_restarts += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..100)));
        agent = spawn(&a.bin, &agent_args, &agent_log)?;
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..150)));
        stop.store(true, Ordering::Relaxed);
        wthread.join().map_err(|_| "writer panicked")??;
        // End of round: a marker after everything written; once it is in the topic, every
        // line before it must be too.
        let written_before = {
            let w = writer.lock().map_err(|_| "poisoned")?;
            let n = w.seq;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(w.base())?
                .write_all(format!("marker {round}\n").as_bytes())?;
            n
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !seen.markers.contains(&(round as u64)) {
            if Instant::now() > deadline {
                eprintln!("round {round}: marker not shipped within 120 s");
                break;
            }
            if let Ok(Some(status)) = agent.try_wait() {
                return Err(format!(
                    "round {round}: the agent exited ({status}); see {}",
                    agent_log.display()
                )
                .into());
            }
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                seen.take(m.payload().unwrap_or_default());
            }
        }
        // Rotated files whose lines are all in the topic (the marker came after them) may go.
        if round % 20 == 19 && seen.markers.contains(&(round as u64)) {
            writer.lock().map_err(|_| "poisoned")?.prune(5);
        }
        // Pick up duplicates already on their way.
        let settle = Instant::now() + Duration::from_millis(20);
        while Instant::now() < settle {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(5)) {
                seen.take(m.payload().unwrap_or_default());
            }
        }
        let lost = (0..written_before)
            .filter(|q| !seen.count.contains_key(q))
            .count() as u64;
        let (dups, reord) = (seen.dups - d0, seen.reordered - r0);
        t_lost = t_lost.max(lost);
        t_dups += dups;
        t_reord += reord;
        println!(
            "round {round}: written {written_before} lost {lost} duplicated {dups} reordered {reord} \
             (agent kill -9 at {kill_at} ms{})",
            if broker_too { ", broker kill -9" } else { "" }
        );
    }
    term(&mut agent);
    term(&mut broker);
    let w = writer.lock().map_err(|_| "poisoned")?;
    let never = (0..w.seq).filter(|q| !seen.count.contains_key(q)).count();
    println!(
        "TOTAL rounds {} lines written {} rotations {} broker restarts {broker_restarts} \
         lost {never} duplicated {t_dups} reordered {t_reord} in {:.0}s",
        a.rounds,
        w.seq,
        w.rotations,
        started.elapsed().as_secs_f64()
    );
    if never > 0 || t_lost > 0 || t_reord > 0 {
        println!("FAIL: logs kept in {}", root.display());
        // Keep the evidence.
        let _ = tmp.keep();
        return Ok(false);
    }
    Ok(true)
}
