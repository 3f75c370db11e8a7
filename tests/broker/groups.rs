//! Consumer-group rebalancing through librdkafka: members share the partitions, joins and
//! leaves redistribute them, and within a generation no message is read twice.

use crate::util::{test_config, wait_until, InProc, Raw};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest,
    ListGroupsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const TOPIC: &str = "shared";
const PARTITIONS: i32 = 6;
const GROUP: &str = "rebalance-group";
const PER_PARTITION: usize = 20;

type Assignments = Arc<Mutex<BTreeMap<usize, BTreeSet<i32>>>>;

/// (consumer id, partition, offset, payload)
type Seen = (usize, i32, i64, String);

struct Member {
    id: usize,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

fn spawn_member(
    id: usize,
    bootstrap: String,
    assignments: Assignments,
    seen: mpsc::Sender<Seen>,
) -> Member {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", GROUP)
            .set("client.id", format!("member-{id}"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "300")
            .create()
            .expect("consumer");
        c.subscribe(&[TOPIC]).expect("subscribe");
        while !s.load(Ordering::Relaxed) {
            if let Some(m) = c.poll(Duration::from_millis(50)) {
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("member {id}: {e}");
                        continue;
                    }
                };
                let body =
                    String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf8");
                let _ = seen.send((id, m.partition(), m.offset(), body));
                // Commit before reading on, so the next owner starts after this message.
                c.commit_message(&m, CommitMode::Sync).expect("commit");
            }
            let parts: BTreeSet<i32> = c
                .assignment()
                .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
                .unwrap_or_default();
            assignments.lock().expect("lock").insert(id, parts);
        }
        assignments.lock().expect("lock").remove(&id);
        // Dropping the consumer closes it: LeaveGroup.
    });
    Member { id, stop, thread }
}

fn leave(m: Member) {
    m.stop.store(true, Ordering::Relaxed);
    m.thread.join().expect("member thread");
}

/// Waits until the live members' assignments are non-empty, disjoint and cover every
/// partition, and returns partition → owner.
fn settled(assignments: &Assignments, live: &[usize]) -> HashMap<i32, usize> {
    wait_until(Duration::from_secs(60), "a settled assignment", || {
        let a = assignments.lock().expect("lock");
        let mut owner = HashMap::new();
        for id in live {
            let parts = a.get(id)?;
            if parts.is_empty() {
                return None;
            }
            for p in parts {
                if owner.insert(*p, *id).is_some() {
                    return None;
                }
            }
        }
        if a.keys().any(|k| !live.contains(k)) || owner.len() != PARTITIONS as usize {
            return None;
        }
        Some(owner)
    })
}

/// Produces a phase's messages and checks that each is read exactly once, by its
/// partition's owner.
fn phase(
    producer: &ThreadedProducer<DefaultProducerContext>,
    seen: &mpsc::Receiver<Seen>,
    name: &str,
    owner: &HashMap<i32, usize>,
) {
    let mut expected = BTreeSet::new();
    for p in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            let v = format!("{name}-p{p}-{i}");
            producer
                .send(BaseRecord::<(), String>::to(TOPIC).partition(p).payload(&v))
                .expect("enqueue");
            expected.insert(v);
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    while got.len() < expected.len() {
        let (id, p, off, body) = seen
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "{name}: only {} of {} messages read",
                    got.len(),
                    expected.len()
                )
            });
        assert!(
            expected.contains(&body),
            "{name}: unexpected message {body} (p{p}@{off})"
        );
        assert_eq!(
            owner.get(&p),
            Some(&id),
            "{name}: {body} read by member {id}, not the owner"
        );
        assert!(
            got.insert(body.clone(), id).is_none(),
            "{name}: {body} read twice"
        );
    }
    // Nothing read twice after the last one either.
    if let Ok((id, p, off, body)) = seen.recv_timeout(Duration::from_millis(500)) {
        panic!("{name}: extra read by member {id}: {body} (p{p}@{off})");
    }
}

/// DescribeGroups/ListGroups over raw frames: a Stable group with `members` members, each
/// with an assignment.
fn describe_stable_group(bootstrap: &str, members: usize) {
    let mut raw = Raw::connect(bootstrap);
    let d: DescribeGroupsResponse = raw.call(
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_static_str(GROUP))]),
    );
    let g = &d.groups[0];
    assert_eq!(g.error_code, 0);
    assert_eq!(&*g.group_state, "Stable");
    assert_eq!(&*g.protocol_type, "consumer");
    assert_eq!(&*g.protocol_data, "range");
    assert_eq!(g.members.len(), members);
    assert!(g.members.iter().all(|m| !m.member_assignment.is_empty()));
    let l: ListGroupsResponse = raw.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default());
    assert!(l
        .groups
        .iter()
        .any(|x| &*x.group_id.0 == GROUP && &*x.group_state == "Stable"));
}

#[test]
fn members_share_partitions_and_rebalance_on_join_and_leave() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), dir.path());
    let bootstrap = b.bootstrap();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        .create()
        .expect("producer");
    // Create the topic through the admin API (consumers do not auto-create).
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin");
    let created =
        b.rt.block_on(admin.create_topics(
            &[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .expect("create topics");
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    drop(admin);
    let assignments: Assignments = Arc::default();
    let (tx, seen) = mpsc::channel();

    let m1 = spawn_member(1, bootstrap.clone(), assignments.clone(), tx.clone());
    let owner = settled(&assignments, &[1]);
    phase(&producer, &seen, "one", &owner);

    let m2 = spawn_member(2, bootstrap.clone(), assignments.clone(), tx.clone());
    let owner = settled(&assignments, &[1, 2]);
    assert_eq!(
        owner.values().filter(|&&o| o == 1).count(),
        3,
        "split 3/3: {owner:?}"
    );
    phase(&producer, &seen, "two", &owner);

    let m3 = spawn_member(3, bootstrap.clone(), assignments.clone(), tx.clone());
    let owner = settled(&assignments, &[1, 2, 3]);
    for id in [1, 2, 3] {
        assert_eq!(
            owner.values().filter(|&&o| o == id).count(),
            2,
            "split 2/2/2: {owner:?}"
        );
    }
    phase(&producer, &seen, "three", &owner);
    describe_stable_group(&bootstrap, 3);

    assert_eq!(m3.id, 3);
    leave(m3);
    let owner = settled(&assignments, &[1, 2]);
    phase(&producer, &seen, "after-leave", &owner);

    leave(m1);
    let owner = settled(&assignments, &[2]);
    phase(&producer, &seen, "last", &owner);

    leave(m2);
    drop(producer);
    b.shutdown();
}
