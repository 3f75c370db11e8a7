//! The broker's Prometheus metrics. Counters are bumped on the request path (atomics);
//! log end offsets and consumer lag are read from the log and the offset store when scraped.

use super::state::Broker;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn request_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

pub struct BrokerMetrics {
    pub messages_in: Family<Labels, Counter>,
    pub bytes_in: Family<Labels, Counter>,
    pub log_end_offset: Family<Labels, Gauge>,
    pub consumer_lag: Family<Labels, Gauge>,
    pub requests: Family<Labels, Counter>,
    pub request_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    pub connections: Gauge,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        BrokerMetrics {
            messages_in: Family::default(),
            bytes_in: Family::default(),
            log_end_offset: Family::default(),
            consumer_lag: Family::default(),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(request_histogram),
            connections: Gauge::default(),
        }
    }
}

impl BrokerMetrics {
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "logferry_broker_messages_in",
            "Records appended, by topic and partition",
            self.messages_in.clone(),
        );
        reg.register(
            "logferry_broker_bytes_in",
            "Record batch bytes appended",
            self.bytes_in.clone(),
        );
        reg.register(
            "logferry_broker_log_end_offset",
            "Next offset of each partition",
            self.log_end_offset.clone(),
        );
        reg.register(
            "logferry_broker_consumer_lag",
            "Log end offset minus the group's committed offset",
            self.consumer_lag.clone(),
        );
        reg.register(
            "logferry_broker_requests",
            "Requests answered, by API",
            self.requests.clone(),
        );
        reg.register(
            "logferry_broker_request_duration_seconds",
            "Time from decoding a request to its response being ready, by API",
            self.request_seconds.clone(),
        );
        reg.register(
            "logferry_broker_connections",
            "Open client connections",
            self.connections.clone(),
        );
    }

    pub fn appended(&self, topic: &str, partition: i32, records: i64, bytes: usize) {
        let l = vec![
            ("topic", topic.to_string()),
            ("partition", partition.to_string()),
        ];
        self.messages_in
            .get_or_create(&l)
            .inc_by(records.max(0) as u64);
        self.bytes_in.get_or_create(&l).inc_by(bytes as u64);
    }

    pub fn request(&self, api: &str, seconds: f64) {
        let l = vec![("api", api.to_string())];
        self.requests.get_or_create(&l).inc();
        self.request_seconds.get_or_create(&l).observe(seconds);
    }

    /// Read log end offsets and committed offsets into the gauges (called per scrape).
    pub fn refresh(&self, broker: &Broker) {
        let mut ends = std::collections::HashMap::new();
        for t in broker.topics.all() {
            for (i, p) in t.partitions.iter().enumerate() {
                let end = p.high_watermark();
                ends.insert((t.name.clone(), i as i32), end);
                self.log_end_offset
                    .get_or_create(&vec![
                        ("topic", t.name.clone()),
                        ("partition", i.to_string()),
                    ])
                    .set(end);
            }
        }
        for group in broker.offsets.groups() {
            for (topic, partition, c) in broker.offsets.all_for(&group) {
                if let Some(end) = ends.get(&(topic.clone(), partition)) {
                    self.consumer_lag
                        .get_or_create(&vec![
                            ("group", group.clone()),
                            ("topic", topic),
                            ("partition", partition.to_string()),
                        ])
                        .set((end - c.offset).max(0));
                }
            }
        }
    }
}
