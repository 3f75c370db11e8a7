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
    pub authorization_denied: Family<Labels, Counter>,
    pub authentication_failures: Family<Labels, Counter>,
    pub tls_handshake_failures: Family<Labels, Counter>,
    pub acl_generation: Gauge,
    pub acl_bindings: Gauge,
    pub acl_last_reload_success: Gauge,
    pub acl_reload_failures: Counter,
    /// Topic label values used by `authorization_denied` (client-chosen names: bounded).
    denied_topics: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Distinct topic names labelled in `authorization_denied`; later ones count as "_other".
const MAX_DENIED_TOPIC_LABELS: usize = 1000;

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
            authorization_denied: Family::default(),
            authentication_failures: Family::default(),
            tls_handshake_failures: Family::default(),
            acl_generation: Gauge::default(),
            acl_bindings: Gauge::default(),
            acl_last_reload_success: Gauge::default(),
            acl_reload_failures: Counter::default(),
            denied_topics: Default::default(),
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
        reg.register(
            "logferry_broker_authorization_denied",
            "Requests (per topic or resource) refused by the ACLs, by operation and topic",
            self.authorization_denied.clone(),
        );
        reg.register(
            "logferry_broker_authentication_failures",
            "SASL authentications refused, by mechanism",
            self.authentication_failures.clone(),
        );
        reg.register(
            "logferry_broker_tls_handshake_failures",
            "TLS handshakes that failed or timed out, by listener",
            self.tls_handshake_failures.clone(),
        );
        reg.register(
            "logferry_broker_acl_generation",
            "Generation of the ACLs in force (bumped by every change)",
            self.acl_generation.clone(),
        );
        reg.register(
            "logferry_broker_acl_bindings",
            "ACL bindings in force (one per rule and operation)",
            self.acl_bindings.clone(),
        );
        reg.register(
            "logferry_broker_acl_last_reload_success",
            "1 if the last read of the ACL source gave valid rules, 0 if the last good ones stay",
            self.acl_last_reload_success.clone(),
        );
        reg.register(
            "logferry_broker_acl_reload_failures",
            "Reads of the ACL source that were unreadable or invalid (the last good rules stayed)",
            self.acl_reload_failures.clone(),
        );
    }

    /// A request refused by the ACLs.
    pub fn denied(&self, operation: &str, topic: &str) {
        let topic = {
            let mut seen = self.denied_topics.lock().unwrap_or_else(|p| p.into_inner());
            if seen.contains(topic) || seen.len() < MAX_DENIED_TOPIC_LABELS {
                seen.insert(topic.to_string());
                topic.to_string()
            } else {
                "_other".to_string()
            }
        };
        self.authorization_denied
            .get_or_create(&vec![
                ("operation", operation.to_string()),
                ("topic", topic),
            ])
            .inc();
    }

    pub fn authentication_failed(&self, mechanism: &str) {
        self.authentication_failures
            .get_or_create(&vec![("mechanism", mechanism.to_string())])
            .inc();
    }

    pub fn tls_handshake_failed(&self, listener: &str) {
        self.tls_handshake_failures
            .get_or_create(&vec![("listener", listener.to_string())])
            .inc();
    }

    pub fn acl_reloaded(&self, ok: bool) {
        self.acl_last_reload_success.set(i64::from(ok));
        if !ok {
            self.acl_reload_failures.inc();
        }
    }

    pub fn acl_installed(&self, generation: u64, bindings: usize) {
        self.acl_generation.set(generation as i64);
        self.acl_bindings.set(bindings as i64);
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
