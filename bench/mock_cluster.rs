//! Starts librdkafka's mock cluster (`rdkafka::mocking::MockCluster`) for benchmarks and
//! prints its bootstrap address on stdout. Topics named on the command line are created
//! with one partition. Runs until stdin is closed or the process is killed.
//!
//! `cargo run --release --example mock-cluster -- [--brokers N] [TOPIC ...]`

use rdkafka::mocking::MockCluster;
use std::io::{Read, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut brokers = 1;
    let mut topics = Vec::new();
    while let Some(a) = args.next() {
        if a == "--brokers" {
            brokers = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
        } else {
            topics.push(a);
        }
    }
    let cluster = match MockCluster::new(brokers) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mock cluster: {e}");
            std::process::exit(1);
        }
    };
    for t in &topics {
        if let Err(e) = cluster.create_topic(t, 1, brokers.min(3)) {
            eprintln!("create topic {t}: {e}");
            std::process::exit(1);
        }
    }
    println!("{}", cluster.bootstrap_servers());
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}
