//! Benchmark probe (a real rdkafka client), driven by bench/harness.py:
//!
//! `bench-probe watch --brokers B --topic T [--interval-ms 10]`
//!     polls partition 0's high watermark and prints `<unix_ns> <hwm>` each time it changes,
//!     until stdin closes, the process is killed, or (with `--until N`) it reaches N. The harness times "done" (hwm == lines)
//!     and "first line shipped" (hwm >= 1) from these lines.
//!
//! `bench-probe latency --brokers B --topic T --count N [--timeout-s S]`
//!     consumes partition 0 from the beginning; every payload starts with the writer's
//!     `<unix_ns> ` stamp; prints one JSON object with the receive − write latency
//!     percentiles, how many lines arrived, and how many arrived out of stamp order.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn consumer(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-probe")
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "true")
        .set("fetch.wait.max.ms", "10")
        .set("fetch.min.bytes", "1")
        .set("fetch.error.backoff.ms", "10")
        // Scenario 6 restarts the broker: the probe must see it within 100 ms, not after
        // librdkafka's default reconnect backoff (up to 10 s), or it times the probe.
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "100")
        .set("log_level", "3")
        .create()
        .unwrap_or_else(|e| {
            eprintln!("bench-probe: consumer: {e}");
            std::process::exit(2)
        })
}

/// Creates `topic` if missing: a producer's metadata request asks for auto-creation (the
/// consumer's does not), which `logferry broker` honours with one partition.
fn ensure_topic(brokers: &str, topic: &str) {
    let p: BaseProducer = match ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "true")
        .set("log_level", "3")
        .create()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench-probe: producer: {e}");
            return;
        }
    };
    for _ in 0..50 {
        if let Ok(md) = p
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(2))
        {
            if md
                .topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn watch(brokers: &str, topic: &str, interval: Duration, until: Option<i64>) {
    ensure_topic(brokers, topic);
    let c = consumer(brokers);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        if until.is_some() {
            return; // runs until the high watermark reaches `until`
        }
        let mut sink = [0u8; 64];
        while let Ok(n) = std::io::stdin().read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        s.store(true, Ordering::Relaxed);
    });
    let mut last = -1i64;
    let out = std::io::stdout();
    while !stop.load(Ordering::Relaxed) {
        if let Ok((_, high)) = c.fetch_watermarks(topic, 0, Duration::from_secs(2)) {
            if high != last {
                last = high;
                let mut o = out.lock();
                if writeln!(o, "{} {}", now_ns(), high)
                    .and_then(|_| o.flush())
                    .is_err()
                    || until.is_some_and(|n| high >= n)
                {
                    return;
                }
            }
        }
        std::thread::sleep(interval);
    }
}

fn latency(brokers: &str, topic: &str, count: usize, timeout: Duration) {
    ensure_topic(brokers, topic);
    let c = consumer(brokers);
    let mut tpl = TopicPartitionList::new();
    let _ = tpl.add_partition_offset(topic, 0, Offset::Beginning);
    if let Err(e) = c.assign(&tpl) {
        eprintln!("bench-probe: assign: {e}");
        std::process::exit(2);
    }
    let deadline = Instant::now() + timeout;
    let mut lat: Vec<u64> = Vec::with_capacity(count);
    let mut disorder = 0u64;
    let mut last_stamp = 0u64;
    while lat.len() < count && Instant::now() < deadline {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let t = now_ns();
                let stamp = m
                    .payload()
                    .and_then(|p| p.split(|b| *b == b' ').next())
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| s.parse::<u64>().ok());
                if let Some(s) = stamp {
                    if s < last_stamp {
                        disorder += 1;
                    }
                    last_stamp = s;
                    lat.push(t.saturating_sub(s));
                }
            }
            Some(Err(e)) => eprintln!("bench-probe: {e}"),
            None => {}
        }
    }
    let n = lat.len();
    lat.sort_unstable();
    let pct = |q: f64| -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        lat[i] as f64 / 1e6
    };
    println!(
        "{{\"received\": {n}, \"expected\": {count}, \"out_of_order\": {disorder}, \"p50_ms\": {:.3}, \"p90_ms\": {:.3}, \"p99_ms\": {:.3}, \"p999_ms\": {:.3}, \"max_ms\": {:.3}}}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        if n == 0 { f64::NAN } else { lat[n - 1] as f64 / 1e6 }
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let brokers = arg(&args, "--brokers").unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = arg(&args, "--topic").unwrap_or_else(|| "bench".into());
    match args.first().map(String::as_str) {
        Some("watch") => {
            let ms = arg(&args, "--interval-ms")
                .and_then(|s| s.parse().ok())
                .unwrap_or(10);
            let until = arg(&args, "--until").and_then(|s| s.parse().ok());
            watch(&brokers, &topic, Duration::from_millis(ms), until);
        }
        Some("latency") => {
            let count = arg(&args, "--count")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let secs = arg(&args, "--timeout-s")
                .and_then(|s| s.parse().ok())
                .unwrap_or(120);
            latency(&brokers, &topic, count, Duration::from_secs(secs));
        }
        _ => {
            eprintln!("usage: bench-probe watch|latency --brokers B --topic T [--count N] [--timeout-s S] [--interval-ms MS]");
            std::process::exit(2);
        }
    }
}
