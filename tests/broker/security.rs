//! Security (issue 14) as real clients see it: librdkafka over SASL_SSL (SCRAM-SHA-512,
//! SCRAM-SHA-256, PLAIN) and mutual TLS against certificates made at test time; the seed's
//! IP / client.id / group.id rules; Kafka's refusal codes with nothing written; the ACL file
//! changed under a producer at full speed, an invalid file, the last good copy at start; the
//! ACL admin APIs; `logferry broker user add` and SIGHUP.

use crate::util::pki::Pki;
use crate::util::{test_config, wait_until, ChildBroker, InProc, Raw};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use logferry_broker::auth::credentials::add_user;
use logferry_broker::{BrokerConfig, ListenerConfig, SaslMechanism, SecurityProtocol};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::TopicPartitionList;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REFRESH_MS: u64 = 300;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;

/// A broker with every kind of listener, two SASL users and an ACL file.
struct Secured {
    broker: InProc,
    pki: Pki,
    dir: PathBuf,
    acl: PathBuf,
}

fn listener(name: &str, protocol: SecurityProtocol, pki: &Pki, client_ca: bool) -> ListenerConfig {
    let tls = protocol.tls();
    ListenerConfig {
        name: name.into(),
        listen: "127.0.0.1:0".into(),
        advertised: None,
        security_protocol: protocol,
        tls_cert: tls.then(|| pki.server_cert.clone()),
        tls_key: tls.then(|| pki.server_key.clone()),
        tls_client_ca: client_ca.then(|| pki.ca.clone()),
        sasl_mechanisms: vec![
            SaslMechanism::ScramSha512,
            SaslMechanism::ScramSha256,
            SaslMechanism::Plain,
        ],
    }
}

fn secured_config(dir: &Path, pki: &Pki, acl: &Path) -> BrokerConfig {
    BrokerConfig {
        data_dir: Some(dir.join("data")),
        listener: vec![
            listener("sasl_ssl", SecurityProtocol::SaslSsl, pki, false),
            listener("mtls", SecurityProtocol::Ssl, pki, true),
            listener("tls", SecurityProtocol::Ssl, pki, false),
        ],
        credentials_file: Some(dir.join("users.toml")),
        super_users: vec!["User:admin".into()],
        acl_enabled: true,
        acl_file: Some(acl.to_path_buf()),
        acl_refresh_ms: REFRESH_MS,
        ..test_config(1)
    }
}

impl Secured {
    fn start(dir: &Path, acl_text: &str) -> Secured {
        let pki = Pki::new(&dir.join("pki"));
        add_user(&dir.join("users.toml"), "alice", "alice-secret").expect("alice");
        add_user(&dir.join("users.toml"), "bob", "bob-secret").expect("bob");
        add_user(&dir.join("users.toml"), "admin", "admin-secret").expect("admin");
        let acl = dir.join("acl.toml");
        std::fs::write(&acl, acl_text).expect("acl file");
        let cfg = secured_config(dir, &pki, &acl);
        let broker = InProc::start(cfg, &dir.join("data"));
        Secured {
            broker,
            pki,
            dir: dir.to_path_buf(),
            acl,
        }
    }

    fn handle(&self) -> &logferry_broker::BrokerHandle {
        self.broker.handle.as_ref().expect("running")
    }

    fn addr(&self, listener: &str) -> String {
        self.handle()
            .listener_addr(listener)
            .expect("listener")
            .to_string()
    }

    /// librdkafka settings for SASL_SSL as `user`.
    fn sasl(&self, mechanism: &str, user: &str, password: &str) -> Vec<(String, String)> {
        vec![
            ("bootstrap.servers".into(), self.addr("sasl_ssl")),
            ("security.protocol".into(), "SASL_SSL".into()),
            ("sasl.mechanisms".into(), mechanism.into()),
            ("sasl.username".into(), user.into()),
            ("sasl.password".into(), password.into()),
            ("ssl.ca.location".into(), self.pki.ca.display().to_string()),
        ]
    }

    /// librdkafka settings for mutual TLS with a certificate for `cn`.
    fn mtls(&self, cn: &str) -> Vec<(String, String)> {
        let (cert, key) = self.pki.issue(cn, cn, &[]);
        vec![
            ("bootstrap.servers".into(), self.addr("mtls")),
            ("security.protocol".into(), "SSL".into()),
            ("ssl.ca.location".into(), self.pki.ca.display().to_string()),
            (
                "ssl.certificate.location".into(),
                cert.display().to_string(),
            ),
            ("ssl.key.location".into(), key.display().to_string()),
        ]
    }

    fn plain(&self, client_id: &str) -> Vec<(String, String)> {
        vec![
            ("bootstrap.servers".into(), self.broker.bootstrap()),
            ("client.id".into(), client_id.into()),
        ]
    }

    fn metrics(&self) -> String {
        let mut reg = prometheus_client::registry::Registry::default();
        self.handle().register_metrics(&mut reg);
        self.handle().refresh_metrics();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("encode");
        out
    }

    /// The value of the sample whose line starts with `series` (0 if absent).
    fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    fn topic_on_disk(&self, topic: &str) -> bool {
        self.dir.join("data").join(format!("{topic}-0")).exists()
    }

    /// Replaces the ACL file and waits until the broker has the new generation.
    fn set_acl(&self, text: &str) -> Duration {
        let before = self.handle().acl_generation();
        let t = Instant::now();
        write_atomically(&self.acl, text);
        wait_until(Duration::from_secs(30), "the new ACLs in force", || {
            (self.handle().acl_generation() > before).then_some(())
        });
        t.elapsed()
    }
}

fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn client(settings: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in settings {
        c.set(k, v);
    }
    c
}

/// Produces `lines` (acks=all) and waits for each; the first error, if any.
fn produce(settings: &[(String, String)], topic: &str, lines: &[String]) -> Result<(), KafkaError> {
    let producer: FutureProducer = client(settings)
        .set("acks", "all")
        .set("message.timeout.ms", "8000")
        .create()
        .expect("producer");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let sends: Vec<_> = lines
            .iter()
            .map(|l| producer.send(FutureRecord::<(), _>::to(topic).payload(l), Duration::ZERO))
            .collect();
        for s in sends {
            s.await.map_err(|(e, _)| e)?;
        }
        Ok(())
    })
}

/// Reads `topic` from the beginning as group `group`: every line, or the first error.
fn consume(
    settings: &[(String, String)],
    group: &str,
    topic: &str,
    want: usize,
) -> Result<Vec<String>, KafkaError> {
    let consumer: BaseConsumer = client(settings)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < want {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => got.push(String::from_utf8_lossy(m.payload().unwrap_or(&[])).into()),
            Some(Err(e)) => return Err(e),
        }
    }
    Ok(got)
}

fn lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} line {i:05}")).collect()
}

fn is_code(e: &KafkaError, code: RDKafkaErrorCode) -> bool {
    e.rdkafka_error_code() == Some(code)
}

const SASL_ACL: &str = r#"
# alice writes and reads app.*, but never app.frozen; bob sees app.* and reads app.events only.
[[acl]]
permission = "allow"
operations = ["write", "read"]
topic_prefix = "app."
principal = "User:alice"

[[acl]]
permission = "deny"
operations = ["write"]
topic = "app.frozen"
principal = "User:alice"

[[acl]]
permission = "allow"
operations = ["read"]
group_prefix = "alice-"
principal = "User:alice"

[[acl]]
permission = "allow"
operations = ["read"]
topic = "app.events"
principal = "User:bob"

[[acl]]
permission = "allow"
operations = ["read"]
group = "bob-group"
principal = "User:bob"

[[acl]]
permission = "allow"
operations = ["describe"]
topic_prefix = "app."
principal = "User:bob"

[[acl]]
permission = "allow"
operations = ["write"]
topic = "mtls.lines"
principal = "User:CN=agent-01"
"#;

#[test]
fn sasl_ssl_scram_allowed_refused_and_wrong_password() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Secured::start(d.path(), SASL_ACL);
    let alice = s.sasl("SCRAM-SHA-512", "alice", "alice-secret");
    let sent = lines("app.events", 200);
    produce(&alice, "app.events", &sent).expect("alice writes app.events");
    assert_eq!(
        consume(&alice, "alice-1", "app.events", sent.len()).expect("alice reads"),
        sent
    );
    // SCRAM-SHA-256 and PLAIN log in too; bob may read but not write.
    let bob256 = s.sasl("SCRAM-SHA-256", "bob", "bob-secret");
    assert_eq!(
        consume(&bob256, "bob-group", "app.events", sent.len()).expect("bob reads"),
        sent
    );
    let bob_plain = s.sasl("PLAIN", "bob", "bob-secret");
    let e = produce(&bob_plain, "app.events", &lines("bob", 1)).expect_err("bob may not write");
    assert!(
        is_code(&e, RDKafkaErrorCode::TopicAuthorizationFailed),
        "{e}"
    );

    // A topic not in the ACLs: refused with Kafka's code, nothing written, not even the topic.
    let e = produce(&alice, "other", &lines("other", 5)).expect_err("refused");
    assert!(
        is_code(&e, RDKafkaErrorCode::TopicAuthorizationFailed),
        "{e}"
    );
    assert!(!s.topic_on_disk("other"));
    // Fetch of a topic not granted: refused.
    produce(&alice, "app.private", &lines("private", 3)).expect("alice writes app.private");
    let e = consume(&bob256, "bob-group", "app.private", 1).expect_err("bob may not read it");
    assert!(
        is_code(&e, RDKafkaErrorCode::TopicAuthorizationFailed),
        "{e}"
    );
    // Deny beats allow: app.frozen matches alice's prefix allow and a deny.
    let e = produce(&alice, "app.frozen", &lines("frozen", 1)).expect_err("denied");
    assert!(
        is_code(&e, RDKafkaErrorCode::TopicAuthorizationFailed),
        "{e}"
    );
    assert!(!s.topic_on_disk("app.frozen"));
    assert!(
        s.metric(
            "logferry_broker_authorization_denied_total{operation=\"describe\",topic=\"other\"}"
        ) >= 1.0
    );
    assert!(
        s.metric(
            "logferry_broker_authorization_denied_total{operation=\"read\",topic=\"app.private\"}"
        ) >= 1.0
    );

    // A wrong password: refused at authentication, counted, nothing delivered.
    let before =
        s.metric("logferry_broker_authentication_failures_total{mechanism=\"SCRAM-SHA-512\"}");
    let wrong = s.sasl("SCRAM-SHA-512", "alice", "guess");
    assert!(produce(&wrong, "app.events", &lines("wrong", 1)).is_err());
    assert!(
        s.metric("logferry_broker_authentication_failures_total{mechanism=\"SCRAM-SHA-512\"}")
            > before
    );
    assert_eq!(
        consume(&alice, "alice-2", "app.events", sent.len()).expect("read again"),
        sent,
        "nothing of the refused clients was written"
    );
    s.broker.shutdown();
}

#[test]
fn mutual_tls_subject_is_the_principal() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Secured::start(d.path(), SASL_ACL);
    let sent = lines("mtls", 50);
    produce(&s.mtls("agent-01"), "mtls.lines", &sent).expect("CN=agent-01 writes");
    let e = produce(&s.mtls("intruder"), "mtls.lines", &lines("x", 1)).expect_err("other CN");
    assert!(
        is_code(&e, RDKafkaErrorCode::TopicAuthorizationFailed),
        "{e}"
    );
    // No client certificate: the handshake fails, counted.
    let no_cert = vec![
        ("bootstrap.servers".into(), s.addr("mtls")),
        ("security.protocol".into(), "SSL".into()),
        ("ssl.ca.location".into(), s.pki.ca.display().to_string()),
    ];
    assert!(produce(&no_cert, "mtls.lines", &lines("x", 1)).is_err());
    assert!(s.metric("logferry_broker_tls_handshake_failures_total{listener=\"mtls\"}") >= 1.0);
    let admin = s.sasl("SCRAM-SHA-512", "admin", "admin-secret");
    assert_eq!(
        consume(&admin, "admin", "mtls.lines", sent.len()).expect("super user reads"),
        sent
    );
    s.broker.shutdown();
}

/// The seed's rules on the plaintext listener: writes by client.id from one address, reads
/// by group.id.
const SEED_ACL: &str = r#"
[[acl]]
permission = "allow"
operations = ["write"]
topic = "nginx-access"
client_id = "shipper"
host = "127.0.0.1"

[[acl]]
permission = "allow"
operations = ["write"]
topic = "raw-access"
client_id = "raw-test"
host = "127.0.0.1"

[[acl]]
permission = "allow"
operations = ["read"]
topic = "nginx-access"
group_id = "billing"

[[acl]]
permission = "allow"
operations = ["read"]
group = "billing"
"#;

fn raw_produce(r: &mut Raw, topic: &str, value: &str) -> i16 {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(crate::util::record_batch(
                    -1,
                    -1,
                    -1,
                    &[value],
                )))])]);
    let resp: ProduceResponse = r.call(ApiKey::Produce, 7, &req);
    resp.responses[0].partition_responses[0].error_code
}

#[test]
fn seed_rules_ip_client_id_and_group_id() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Secured::start(d.path(), SEED_ACL);
    let sent = lines("nginx", 100);
    produce(&s.plain("shipper"), "nginx-access", &sent).expect("shipper writes");
    let e = produce(&s.plain("someone"), "nginx-access", &lines("x", 1)).expect_err("client.id");
    assert!(
        is_code(&e, RDKafkaErrorCode::TopicAuthorizationFailed),
        "{e}"
    );
    // Same client.id, another address: 127.0.0.2 is refused, 127.0.0.1 allowed.
    let addr = s.broker.addr().to_string();
    let mut from2 = Raw::connect_from(&addr, "127.0.0.2");
    assert_eq!(
        raw_produce(&mut from2, "raw-access", "from .2"),
        TOPIC_AUTHORIZATION_FAILED
    );
    assert!(!s.topic_on_disk("raw-access"));
    let mut from1 = Raw::connect_from(&addr, "127.0.0.1");
    assert_eq!(raw_produce(&mut from1, "raw-access", "from .1"), 0);
    // Reads by group.id: billing reads every line in order; another group is refused.
    assert_eq!(
        consume(&s.plain("rdkafka"), "billing", "nginx-access", sent.len()).expect("billing"),
        sent
    );
    assert!(consume(&s.plain("rdkafka"), "other", "nginx-access", 1).is_err());
    s.broker.shutdown();
}

const LOAD_ACL: &str = r#"
[[acl]]
permission = "allow"
operations = ["write", "read"]
topic = "load"
client_id = "loader"

[[acl]]
permission = "allow"
operations = ["read"]
group = "loader"
client_id = "loader"
"#;

#[test]
fn acl_change_under_load_invalid_file_and_backup() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Secured::start(d.path(), LOAD_ACL);
    let loader = s.plain("loader");
    // The producer at full speed, one connection, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, sent, loader) = (stop.clone(), sent.clone(), loader.clone());
        std::thread::spawn(move || {
            let mut batch = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let ls = lines(&format!("load-{batch:06}"), 2000);
                produce(&loader, "load", &ls)?;
                sent.fetch_add(ls.len() as u64, Ordering::Relaxed);
                batch += 1;
            }
            Ok::<u64, KafkaError>(batch)
        })
    };
    wait_until(Duration::from_secs(30), "load running", || {
        (sent.load(Ordering::Relaxed) > 0).then_some(())
    });
    let refused = produce(&loader, "late", &lines("late", 1)).expect_err("not yet allowed");
    assert!(is_code(
        &refused,
        RDKafkaErrorCode::TopicAuthorizationFailed
    ));
    // A change under load applies within one refresh period (plus the poll of this test).
    let took = s.set_acl(&format!(
        "{LOAD_ACL}\n[[acl]]\npermission = \"allow\"\noperations = [\"write\"]\ntopic = \"late\"\nclient_id = \"loader\"\n"
    ));
    eprintln!("ACL change in force after {took:?} (refresh period {REFRESH_MS} ms)");
    assert!(
        took < Duration::from_millis(REFRESH_MS * 2 + 1000),
        "{took:?}"
    );
    produce(&loader, "late", &lines("late", 10)).expect("allowed after the reload");
    // An invalid new file: counted, the last good rules stay.
    let gen = s.handle().acl_generation();
    let failures = s.metric("logferry_broker_acl_reload_failures_total");
    write_atomically(&s.acl, "[[acl]]\npermission = \"maybe\"\n");
    wait_until(Duration::from_secs(30), "the invalid file seen", || {
        (s.metric("logferry_broker_acl_reload_failures_total") > failures).then_some(())
    });
    assert_eq!(s.handle().acl_generation(), gen);
    assert_eq!(s.metric("logferry_broker_acl_last_reload_success"), 0.0);
    produce(&loader, "late", &lines("late", 10)).expect("still allowed");
    stop.store(true, Ordering::Relaxed);
    let batches = load
        .join()
        .expect("load thread")
        .expect("no delivery failed under load");
    eprintln!("{batches} batches of 2000 lines under load, none refused or lost");
    assert_eq!(
        s.metric("logferry_broker_authorization_denied_total{operation=\"write\",topic=\"load\"}"),
        0.0
    );
    let total = sent.load(Ordering::Relaxed) as usize;
    let read = consume(&loader, "loader", "load", total).expect("read back");
    for (i, l) in read.iter().enumerate() {
        assert_eq!(*l, format!("load-{:06} line {:05}", i / 2000, i % 2000));
    }
    // Restart with the source still invalid: the last good copy is in force.
    let dir = s.dir.clone();
    let cfg = secured_config(&dir, &s.pki, &s.acl);
    s.broker.shutdown();
    let again = InProc::start(cfg, &dir.join("data"));
    let plain = vec![
        ("bootstrap.servers".to_string(), again.bootstrap()),
        ("client.id".to_string(), "loader".to_string()),
    ];
    produce(&plain, "late", &lines("after restart", 1)).expect("backup rules in force");
    let e = produce(&plain, "elsewhere", &lines("x", 1)).expect_err("and only them");
    assert!(is_code(&e, RDKafkaErrorCode::TopicAuthorizationFailed));
    again.shutdown();
}

const ADMIN_ACL: &str = r#"
# The raw client (ANONYMOUS from 127.0.0.1) administers the ACLs.
[[acl]]
permission = "allow"
operations = ["admin", "describe"]
cluster = true
host = "127.0.0.1"
"#;

#[test]
fn acl_admin_apis_edit_the_file() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Secured::start(d.path(), ADMIN_ACL);
    let addr = s.broker.addr().to_string();
    let mut r = Raw::connect(&addr);
    assert_eq!(
        raw_produce(&mut r, "created", "before"),
        TOPIC_AUTHORIZATION_FAILED
    );
    let create = CreateAclsRequest::default().with_creations(vec![AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_static_str("created"))
        .with_resource_pattern_type(3)
        .with_principal(StrBytes::from_static_str("ClientId:raw-test"))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(4)
        .with_permission_type(3)]);
    let resp: CreateAclsResponse = r.call(ApiKey::CreateAcls, 2, &create);
    assert_eq!(
        resp.results[0].error_code, 0,
        "{:?}",
        resp.results[0].error_message
    );
    assert_eq!(raw_produce(&mut r, "created", "after"), 0);
    let text = std::fs::read_to_string(&s.acl).expect("acl file");
    assert!(
        text.contains("The raw client") && text.contains("\"created\""),
        "{text}"
    );
    let desc: DescribeAclsResponse = r.call(
        ApiKey::DescribeAcls,
        2,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(2)
            .with_resource_name_filter(None)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    assert_eq!(desc.resources.len(), 1);
    assert_eq!(&*desc.resources[0].resource_name, "created");
    assert_eq!(&*desc.resources[0].acls[0].principal, "ClientId:raw-test");
    let del: DeleteAclsResponse = r.call(
        ApiKey::DeleteAcls,
        2,
        &DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(2)
            .with_resource_name_filter(Some(StrBytes::from_static_str("created")))
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_pattern_type_filter(3)
            .with_operation(1)
            .with_permission_type(1)]),
    );
    assert_eq!(del.filter_results[0].matching_acls.len(), 1);
    assert_eq!(
        raw_produce(&mut r, "created", "deleted again"),
        TOPIC_AUTHORIZATION_FAILED
    );
    // Another address is not allowed to administer.
    let mut other = Raw::connect_from(&addr, "127.0.0.2");
    let resp: CreateAclsResponse = other.call(ApiKey::CreateAcls, 2, &create);
    assert_eq!(
        resp.results[0].error_code, 31,
        "CLUSTER_AUTHORIZATION_FAILED"
    );
    s.broker.shutdown();
}

#[test]
fn user_command_and_sighup() {
    let d = tempfile::tempdir().expect("tmp");
    let pki = Pki::new(&d.path().join("pki"));
    std::fs::write(d.path().join("acl.toml"), SASL_ACL).expect("acl");
    let config = d.path().join("broker.toml");
    std::fs::write(
        &config,
        format!(
            r#"[broker]
listen = "127.0.0.1:0"
credentials_file = "users.toml"
acl_enabled = true
acl_file = "acl.toml"
acl_refresh_ms = 3600000

[[broker.listener]]
name = "sasl_ssl"
listen = "127.0.0.1:0"
security_protocol = "SASL_SSL"
tls_cert = "{}"
tls_key = "{}"
"#,
            pki.server_cert.display(),
            pki.server_key.display()
        ),
    )
    .expect("config");
    let add = |name: &str, pw: &str| run_user(&config, &["add", name], &format!("{pw}\n"));
    add("carol", "carol-secret");
    let users = std::fs::read_to_string(d.path().join("users.toml")).expect("users");
    assert!(
        users.contains("[user.carol") && !users.contains("carol-secret"),
        "{users}"
    );
    let b = ChildBroker::spawn(
        d.path().join("data").as_path(),
        &["--config", config.to_str().expect("utf8")],
    );
    let sasl_addr = wait_until(Duration::from_secs(10), "the sasl_ssl listener", || {
        b.lines
            .lock()
            .expect("lines")
            .iter()
            .find(|l| l.contains("sasl_ssl") && l.contains("listening on"))
            .and_then(|l| l.split("listening on ").nth(1))
            .map(|a| a.split_whitespace().next().unwrap_or("").to_string())
    });
    let as_user = |u: &str, pw: &str| -> Vec<(String, String)> {
        vec![
            ("bootstrap.servers".into(), sasl_addr.clone()),
            ("security.protocol".into(), "SASL_SSL".into()),
            ("sasl.mechanisms".into(), "SCRAM-SHA-512".into()),
            ("sasl.username".into(), u.into()),
            ("sasl.password".into(), pw.into()),
            ("ssl.ca.location".into(), pki.ca.display().to_string()),
        ]
    };
    // carol has no ACL: she logs in (refused per topic, not at authentication).
    let e =
        produce(&as_user("carol", "carol-secret"), "app.x", &lines("c", 1)).expect_err("no ACL");
    assert!(
        is_code(&e, RDKafkaErrorCode::TopicAuthorizationFailed),
        "{e}"
    );
    // alice is added after the start; the refresh period is an hour: SIGHUP rereads now.
    add("alice", "alice-secret");
    std::fs::write(d.path().join("acl.toml"), SASL_ACL).expect("same acl");
    unsafe {
        libc::kill(b.child.id() as libc::pid_t, libc::SIGHUP);
    }
    wait_until(Duration::from_secs(10), "SIGHUP handled", || {
        b.log_contains("SIGHUP").then_some(())
    });
    wait_until(Duration::from_secs(10), "alice loaded", || {
        b.log_contains("users=2").then_some(())
    });
    produce(
        &as_user("alice", "alice-secret"),
        "app.events",
        &lines("a", 3),
    )
    .expect("alice");
    run_user(&config, &["remove", "alice"], "");
    assert!(!std::fs::read_to_string(d.path().join("users.toml"))
        .expect("users")
        .contains("[user.alice"));
    b.terminate();
}

fn run_user(config: &Path, args: &[&str], stdin: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_logferry"))
        .args(["broker", "user"])
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("logferry broker user");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("password");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "logferry broker user {args:?}: {out:?}"
    );
}

/// kcat with `settings` as -X options.
fn kcat(
    settings: &[(String, String)],
    args: &[&str],
    stdin: Option<&Path>,
) -> std::process::Output {
    let mut c = std::process::Command::new("kcat");
    for (k, v) in settings {
        if k == "bootstrap.servers" {
            c.args(["-b", v]);
        } else {
            c.args(["-X", &format!("{k}={v}")]);
        }
    }
    c.args(args);
    if let Some(f) = stdin {
        c.stdin(std::fs::File::open(f).expect("input"));
    }
    c.output().expect("kcat (apt-get install kcat)")
}

/// `kcat -P -t TOPIC -X acks=all -l INPUT`: produce every line of a file.
fn kcat_produce(settings: &[(String, String)], topic: &str, input: &Path) -> std::process::Output {
    let input = input.to_str().expect("utf8 path");
    kcat(
        settings,
        &["-P", "-t", topic, "-X", "acks=all", "-l", input],
        None,
    )
}

#[test]
fn kcat_and_kafka_python_over_sasl_ssl_scram_512_and_mutual_tls() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Secured::start(d.path(), SASL_ACL);
    let alice = s.sasl("SCRAM-SHA-512", "alice", "alice-secret");
    let input = d.path().join("lines.txt");
    let sent = lines("kcat", 5000);
    std::fs::write(&input, sent.join("\n") + "\n").expect("input");
    let out = kcat_produce(&alice, "app.kcat", &input);
    assert!(out.status.success(), "{out:?}");
    let out = kcat(
        &alice,
        &["-C", "-t", "app.kcat", "-o", "beginning", "-e", "-q"],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        sent
    );
    // Refused produce and fetch: Kafka's error as kcat prints it; nothing written.
    let out = kcat_produce(&alice, "kcat.denied", &input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Topic authorization failed"),
        "{out:?}"
    );
    assert!(!s.topic_on_disk("kcat.denied"));
    let bob = s.sasl("SCRAM-SHA-512", "bob", "bob-secret");
    let out = kcat(
        &bob,
        &[
            "-C",
            "-t",
            "app.kcat",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-X",
            "group.id=bob-group",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Topic authorization failed") && out.stdout.is_empty(),
        "{out:?}"
    );
    // Wrong password.
    let wrong = s.sasl("SCRAM-SHA-512", "alice", "nope");
    let out = kcat(&wrong, &["-L", "-m", "5"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("invalid credentials"),
        "{out:?}"
    );
    // Mutual TLS.
    let mtls = s.mtls("agent-01");
    let out = kcat_produce(&mtls, "mtls.lines", &input);
    assert!(out.status.success(), "{out:?}");
    let intruder = s.mtls("intruder");
    let out = kcat_produce(&intruder, "mtls.lines", &input);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Topic authorization failed"),
        "{out:?}"
    );

    // kafka-python: the same over SASL_SSL SCRAM-SHA-512 and mutual TLS, and the ACL admin APIs.
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kafka_python_security.py");
    let (cert, key) = s.pki.issue("agent-01-py", "agent-01", &[]);
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([s.addr("sasl_ssl"), s.addr("mtls")])
        .args([&s.pki.ca, &cert, &key])
        .output()
        .expect("python3 (pip install kafka-python)");
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.broker.shutdown();
}

/// The closing note's figures (SECURITY_BENCH=1; not in CI): kcat producing 1,000,000 lines
/// with acks=all over plaintext, TLS and SASL_SSL (SCRAM-SHA-512) into one broker with ACLs
/// on, and the cost of one ACL check.
#[test]
fn bench_kcat_plaintext_tls_sasl_ssl_and_acl_check_cost() {
    if std::env::var("SECURITY_BENCH").as_deref() != Ok("1") {
        eprintln!("SECURITY_BENCH=1 runs it");
        return;
    }
    let n: usize = std::env::var("SECURITY_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let d = tempfile::tempdir().expect("tmp");
    let acl = r#"
[[acl]]
permission = "allow"
operations = ["write"]
topic_prefix = "bench."
"#;
    let s = Secured::start(d.path(), acl);
    let input = d.path().join("lines.txt");
    let mut text = String::with_capacity(n * 64);
    for i in 0..n {
        text.push_str(&format!(
            "{i:09} 127.0.0.1 - - \"GET /api/v1/items HTTP/1.1\" 200 512\n"
        ));
    }
    std::fs::write(&input, text).expect("input");
    let tls = vec![
        ("bootstrap.servers".to_string(), s.addr("tls")),
        ("security.protocol".to_string(), "SSL".to_string()),
        (
            "ssl.ca.location".to_string(),
            s.pki.ca.display().to_string(),
        ),
    ];
    let runs = [
        ("plaintext", s.plain("bench")),
        ("TLS", tls),
        (
            "SASL_SSL SCRAM-SHA-512",
            s.sasl("SCRAM-SHA-512", "alice", "alice-secret"),
        ),
    ];
    for (name, settings) in runs {
        let topic = format!("bench.{}", name.split(' ').next().unwrap_or(name));
        let t = Instant::now();
        let out = kcat_produce(&settings, &topic, &input);
        let secs = t.elapsed().as_secs_f64();
        assert!(out.status.success(), "{out:?}");
        eprintln!(
            "BENCH kcat -P {n} lines acks=all over {name}: {secs:.2} s, {:.0} lines/s",
            n as f64 / secs
        );
    }
    // One ACL check: 100 rules, the matching allow last (the worst case of a scan).
    let mut rules = String::new();
    for i in 0..99 {
        rules.push_str(&format!("[[acl]]\npermission = \"allow\"\noperations = [\"write\"]\ntopic = \"t{i}\"\nclient_id = \"c{i}\"\nhost = \"10.0.0.0/8\"\n"));
    }
    rules.push_str("[[acl]]\npermission = \"allow\"\noperations = [\"write\"]\ntopic_prefix = \"app.\"\nprincipal = \"User:alice\"\n");
    let set = logferry_broker::acl::rules::parse(&rules).expect("rules");
    let who = logferry_broker::acl::rules::Requester {
        user: "alice",
        client_id: "rdkafka",
        groups: &[],
        ip: "127.0.0.1".parse().expect("ip"),
    };
    let iters = 1_000_000u32;
    let t = Instant::now();
    let mut ok = 0u32;
    for _ in 0..iters {
        ok += u32::from(
            set.check(
                logferry_broker::acl::Op::Write,
                logferry_broker::acl::ResourceType::Topic,
                std::hint::black_box("app.logs"),
                &who,
            )
            .allowed(),
        );
    }
    assert_eq!(ok, iters);
    eprintln!(
        "BENCH ACL check (100 rules, match last): {:.0} ns per check",
        t.elapsed().as_nanos() as f64 / f64::from(iters)
    );
    s.broker.shutdown();
}

/// `acl_url`: the rules from a plain HTTP GET; a source that answers 500 keeps the last good
/// rules in force.
#[test]
fn acl_url_source_and_its_failure() {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("http server");
    let url = format!("http://{}/acl.toml", server.server_addr());
    let healthy = Arc::new(AtomicBool::new(true));
    let _served = {
        let healthy = healthy.clone();
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let resp = if healthy.load(Ordering::Relaxed) {
                    tiny_http::Response::from_string(LOAD_ACL)
                } else {
                    tiny_http::Response::from_string("down").with_status_code(500)
                };
                if req.respond(resp).is_err() {
                    break;
                }
            }
        })
    };
    let d = tempfile::tempdir().expect("tmp");
    let pki = Pki::new(&d.path().join("pki"));
    let cfg = BrokerConfig {
        acl_file: None,
        acl_url: Some(url),
        ..secured_config(d.path(), &pki, Path::new("unused"))
    };
    add_user(&d.path().join("users.toml"), "admin", "admin-secret").expect("admin");
    let b = InProc::start(cfg, &d.path().join("data"));
    let h = b.handle.as_ref().expect("running");
    let loader = vec![
        ("bootstrap.servers".to_string(), b.bootstrap()),
        ("client.id".to_string(), "loader".to_string()),
    ];
    produce(&loader, "load", &lines("from url", 3)).expect("rules from the URL");
    let gen = h.acl_generation();
    healthy.store(false, Ordering::Relaxed);
    let mut reg = prometheus_client::registry::Registry::default();
    h.register_metrics(&mut reg);
    wait_until(Duration::from_secs(30), "a failed read of the URL", || {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("encode");
        out.contains("logferry_broker_acl_last_reload_success 0")
            .then_some(())
    });
    assert_eq!(h.acl_generation(), gen);
    produce(&loader, "load", &lines("still", 3)).expect("last good rules");
    b.shutdown();
}
