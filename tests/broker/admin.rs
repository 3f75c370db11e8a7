//! The admin APIs as librdkafka's admin client (and, for what it lacks, raw requests) uses
//! them: topic configs described, altered, persisted and applied (max.message.bytes on
//! produce, segment.bytes on rolls); partitions added; records and topics deleted; the
//! cluster described.

use crate::util::{test_config, InProc, Raw};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    OwnedResourceSpecifier, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::TopicPartitionList;
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client")
}

fn opts() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(T))
}

/// (value, source, read only) of every config of a resource.
fn describe(
    rt: &tokio::runtime::Runtime,
    a: &AdminClient<DefaultClientContext>,
    r: ResourceSpecifier<'_>,
) -> HashMap<String, (Option<String>, ConfigSource, bool)> {
    let res = rt
        .block_on(a.describe_configs([&r], &opts()))
        .expect("describe_configs");
    let res = res
        .into_iter()
        .next()
        .expect("one result")
        .expect("described");
    res.entries
        .into_iter()
        .map(|e| (e.name, (e.value, e.source, e.is_read_only)))
        .collect()
}

fn partitions(bootstrap: &str, topic: &str) -> Option<usize> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    let md = c.fetch_metadata(None, T).expect("metadata");
    md.topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
}

#[test]
fn topic_configs_partitions_records_and_deletion_through_librdkafka() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), dir.path());
    let bs = b.bootstrap();
    let a = admin(&bs);
    let rt = &b.rt;

    let topic = NewTopic::new("adm", 2, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    let r = rt
        .block_on(a.create_topics([&topic], &opts()))
        .expect("create");
    assert_eq!(r, vec![Ok("adm".to_string())]);
    let bad = NewTopic::new("adm-bad", 1, TopicReplication::Fixed(1)).set("no.such", "1");
    let r = rt
        .block_on(a.create_topics([&bad], &opts()))
        .expect("create");
    assert!(
        matches!(&r[0], Err((_, RDKafkaErrorCode::InvalidConfig))),
        "{r:?}"
    );

    let c = describe(rt, &a, ResourceSpecifier::Topic("adm"));
    assert_eq!(c["retention.ms"].0.as_deref(), Some("3600000"));
    assert_eq!(c["retention.ms"].1, ConfigSource::DynamicTopic);
    assert_eq!(c["segment.bytes"].0.as_deref(), Some("134217728"));
    assert_eq!(c["segment.bytes"].1, ConfigSource::Default);
    assert_eq!(c["cleanup.policy"].0.as_deref(), Some("delete"));
    assert_eq!(c["max.message.bytes"].0.as_deref(), Some("104857600"));
    let br = describe(rt, &a, ResourceSpecifier::Broker(0));
    assert_eq!(br["message.max.bytes"].0.as_deref(), Some("104857600"));
    assert!(br["log.segment.bytes"].2, "broker settings are read-only");

    // AlterConfigs replaces the set: retention.ms returns to the broker's value.
    let alter = AlterConfig::new(ResourceSpecifier::Topic("adm")).set("max.message.bytes", "2000");
    let r = rt
        .block_on(a.alter_configs([&alter], &opts()))
        .expect("alter");
    assert_eq!(r, vec![Ok(OwnedResourceSpecifier::Topic("adm".into()))]);
    let c = describe(rt, &a, ResourceSpecifier::Topic("adm"));
    assert_eq!(c["max.message.bytes"].0.as_deref(), Some("2000"));
    assert_eq!(c["retention.ms"].0.as_deref(), Some("-1"));
    let bad = AlterConfig::new(ResourceSpecifier::Topic("adm")).set("segment.bytes", "x");
    // (The rdkafka crate drops per-resource errors of AlterConfigs; the raw test checks the
    // code. Here: nothing changed.)
    rt.block_on(a.alter_configs([&bad], &opts()))
        .expect("alter");
    let c = describe(rt, &a, ResourceSpecifier::Topic("adm"));
    assert_eq!(c["segment.bytes"].0.as_deref(), Some("134217728"));
    assert_eq!(c["max.message.bytes"].0.as_deref(), Some("2000"));

    // max.message.bytes applies to produce: the big batch is refused, the small one stored.
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("acks", "all")
        .set("compression.type", "none")
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer");
    let big = "x".repeat(3000);
    let r = rt.block_on(p.send(
        FutureRecord::<(), _>::to("adm").partition(0).payload(&big),
        T,
    ));
    match r {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => panic!("big message: {other:?}"),
    }
    let r = rt.block_on(
        p.send(
            FutureRecord::<(), _>::to("adm")
                .partition(0)
                .payload("small"),
            T,
        ),
    );
    assert_eq!(r.expect("small message").offset, 0, "first stored offset");
    let r = rt.block_on(p.send(
        FutureRecord::<(), _>::to("adm").partition(0).payload("two"),
        T,
    ));
    assert_eq!(r.expect("second").offset, 1);

    // CreatePartitions.
    let np = NewPartitions::new("adm", 4);
    let r = rt
        .block_on(a.create_partitions([&np], &opts()))
        .expect("partitions");
    assert_eq!(r, vec![Ok("adm".to_string())]);
    assert_eq!(partitions(&bs, "adm"), Some(4));
    let shrink = NewPartitions::new("adm", 3);
    let r = rt
        .block_on(a.create_partitions([&shrink], &opts()))
        .expect("partitions");
    assert!(
        matches!(&r[0], Err((_, RDKafkaErrorCode::InvalidPartitions))),
        "{r:?}"
    );

    // DeleteRecords: the log start moves to 1.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("adm", 0, rdkafka::Offset::Offset(1))
        .expect("tpl");
    let r = rt
        .block_on(a.delete_records(&tpl, &opts()))
        .expect("delete records");
    let e = r.elements_for_topic("adm");
    assert_eq!(e[0].offset(), rdkafka::Offset::Offset(1));
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .create()
        .expect("consumer");
    assert_eq!(c.fetch_watermarks("adm", 0, T).expect("watermarks"), (1, 2));
    drop(c);

    // Settings and the log start survive a restart.
    drop(p);
    drop(a);
    b.shutdown();
    let b = InProc::start(test_config(1), dir.path());
    let bs = b.bootstrap();
    let a = admin(&bs);
    let rt = &b.rt;
    let c = describe(rt, &a, ResourceSpecifier::Topic("adm"));
    assert_eq!(c["max.message.bytes"].0.as_deref(), Some("2000"));
    assert_eq!(partitions(&bs, "adm"), Some(4));
    let cons: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .create()
        .expect("consumer");
    assert_eq!(
        cons.fetch_watermarks("adm", 0, T).expect("watermarks"),
        (1, 2)
    );
    drop(cons);

    // DeleteTopics: gone from metadata and from disk, also after a restart.
    let r = rt
        .block_on(a.delete_topics(&["adm"], &opts()))
        .expect("delete");
    assert_eq!(r, vec![Ok("adm".to_string())]);
    assert_eq!(partitions(&bs, "adm"), None);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("adm"))
        .collect();
    assert!(left.is_empty(), "directories left: {left:?}");
    drop(a);
    b.shutdown();
    let b = InProc::start(test_config(1), dir.path());
    assert_eq!(partitions(&b.bootstrap(), "adm"), None);
    b.shutdown();
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

#[test]
fn incremental_alter_configs_and_describe_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), dir.path());
    let mut raw = Raw::connect(&b.bootstrap());
    let _: CreateTopicsResponse = raw.call(
        ApiKey::CreateTopics,
        4,
        &CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s("inc")))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]),
    );
    let alter = |ops: Vec<(&str, i8, Option<&str>)>| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("inc"))
                .with_configs(
                    ops.into_iter()
                        .map(|(k, op, v)| {
                            AlterableConfig::default()
                                .with_name(s(k))
                                .with_config_operation(op)
                                .with_value(v.map(s))
                        })
                        .collect(),
                ),
        ])
    };
    // SET two keys, APPEND to the list, then DELETE one: the rest stays (incremental).
    for (version, ops, want) in [
        (
            0,
            vec![
                ("retention.ms", 0, Some("60000")),
                ("segment.bytes", 0, Some("1048576")),
            ],
            0,
        ),
        (1, vec![("cleanup.policy", 2, Some("compact"))], 0),
        (1, vec![("segment.bytes", 1, None)], 0),
        (1, vec![("retention.ms", 2, Some("1"))], 40),
        (1, vec![("unknown.key", 0, Some("1"))], 40),
    ] {
        let r: IncrementalAlterConfigsResponse =
            raw.call(ApiKey::IncrementalAlterConfigs, version, &alter(ops));
        assert_eq!(r.responses[0].error_code, want, "{:?}", r.responses[0]);
    }
    let d: DescribeConfigsResponse = raw.call(
        ApiKey::DescribeConfigs,
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("inc"))
                .with_configuration_keys(Some(vec![
                    s("retention.ms"),
                    s("segment.bytes"),
                    s("cleanup.policy"),
                ])),
        ]),
    );
    let got: Vec<(String, String, i8)> = d.results[0]
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_deref().unwrap_or("").to_string(),
                c.config_source,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("cleanup.policy".into(), "delete,compact".into(), 1),
            ("retention.ms".into(), "60000".into(), 1),
            ("segment.bytes".into(), "134217728".into(), 5),
        ]
    );

    for v in 0..=1 {
        let c: DescribeClusterResponse = raw.call(
            ApiKey::DescribeCluster,
            v,
            &DescribeClusterRequest::default().with_endpoint_type(1),
        );
        assert_eq!(c.error_code, 0);
        assert_eq!(&*c.cluster_id, "logferry-bundled");
        assert_eq!(c.brokers.len(), 1);
        assert_eq!(c.brokers[0].port, b.addr().port() as i32);
    }
    drop(raw);
    b.shutdown();
}

#[test]
fn consumer_offsets_is_internal_and_protected() {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), dir.path());
    let mut raw = Raw::connect(&b.bootstrap());
    let name = |n: &str| TopicName(s(n));
    // Listed as internal; names starting with __ are never auto-created.
    let m: MetadataResponse = raw.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name("__consumer_offsets"))),
                MetadataRequestTopic::default().with_name(Some(name("__other"))),
                MetadataRequestTopic::default().with_name(Some(name("plain"))),
            ]))
            .with_allow_auto_topic_creation(true),
    );
    let t = |n: &str| {
        m.topics
            .iter()
            .find(|t| t.name.as_ref().map(|x| &*x.0) == Some(n))
            .expect("topic in response")
    };
    assert!(t("__consumer_offsets").is_internal);
    assert_eq!(t("__consumer_offsets").error_code, 0);
    assert_eq!(t("__other").error_code, 3, "not auto-created");
    assert!(!t("plain").is_internal);
    let plain_id = t("plain").topic_id;

    // No produce to it, no DeleteRecords, no deletion.
    let p: ProduceResponse = raw.call(
        ApiKey::Produce,
        9,
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(name("__consumer_offsets"))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(crate::util::record_batch(-1, -1, -1, &["x"]))),
                ])]),
    );
    assert_eq!(p.responses[0].partition_responses[0].error_code, 17);
    let d: DeleteRecordsResponse = raw.call(
        ApiKey::DeleteRecords,
        2,
        &DeleteRecordsRequest::default().with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(name("__consumer_offsets"))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(-1),
                ]),
        ]),
    );
    assert_eq!(d.topics[0].partitions[0].error_code, 44, "policy violation");
    // DeleteTopics v6: the internal topic by name is refused, an ordinary one goes by id.
    let r: DeleteTopicsResponse = raw.call(
        ApiKey::DeleteTopics,
        6,
        &DeleteTopicsRequest::default().with_topics(vec![
            delete_topics_request::DeleteTopicState::default()
                .with_name(Some(name("__consumer_offsets"))),
            delete_topics_request::DeleteTopicState::default().with_topic_id(plain_id),
        ]),
    );
    assert_eq!(r.responses[0].error_code, 17);
    assert_eq!(r.responses[1].error_code, 0);
    assert_eq!(r.responses[1].name.as_ref().map(|n| &*n.0), Some("plain"));
    let all = MetadataRequest::default().with_topics(None);
    let m: MetadataResponse = raw.call(ApiKey::Metadata, 12, &all);
    let names: Vec<_> = m
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    assert_eq!(names, vec!["__consumer_offsets".to_string()]);
    drop(raw);
    b.shutdown();
}
