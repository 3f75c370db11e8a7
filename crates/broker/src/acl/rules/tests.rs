use super::*;

fn who<'a>(user: &'a str, client_id: &'a str, groups: &'a [&'a str], ip: &str) -> Requester<'a> {
    Requester {
        user,
        client_id,
        groups,
        ip: ip.parse().expect("ip"),
    }
}

/// The seed's example, translated: the log shipper on 10.1.0.0/16 writes nginx-access by its
/// client.id, the billing consumers read it by group.id, nobody else does anything.
const SEED: &str = r#"
[[acl]]
permission = "allow"
operations = ["write"]
topic = "nginx-access"
client_id = "logferry-web"
host = "10.1.0.0/16"

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

#[test]
fn seed_rules_ip_client_id_and_group_id() {
    let acl = parse(SEED).expect("valid");
    let t = ResourceType::Topic;
    assert!(acl
        .check(
            Op::Write,
            t,
            "nginx-access",
            &who("ANONYMOUS", "logferry-web", &[], "10.1.2.3")
        )
        .allowed());
    // Wrong address, wrong client.id, other topic: denied.
    let v = acl.check(
        Op::Write,
        t,
        "nginx-access",
        &who("ANONYMOUS", "logferry-web", &[], "10.2.0.1"),
    );
    assert_eq!(v, Verdict::NoMatchingAllow);
    assert!(!acl
        .check(
            Op::Write,
            t,
            "nginx-access",
            &who("ANONYMOUS", "other", &[], "10.1.2.3")
        )
        .allowed());
    assert!(!acl
        .check(
            Op::Write,
            t,
            "secrets",
            &who("ANONYMOUS", "logferry-web", &[], "10.1.2.3")
        )
        .allowed());
    // Read by group.id, or by a client.id equal to the group (the seed's default).
    assert!(acl
        .check(
            Op::Read,
            t,
            "nginx-access",
            &who("ANONYMOUS", "rdkafka", &["billing"], "10.9.9.9")
        )
        .allowed());
    assert!(acl
        .check(
            Op::Read,
            t,
            "nginx-access",
            &who("ANONYMOUS", "billing", &[], "10.9.9.9")
        )
        .allowed());
    assert!(!acl
        .check(
            Op::Read,
            t,
            "nginx-access",
            &who("ANONYMOUS", "rdkafka", &["other"], "10.9.9.9")
        )
        .allowed());
    // Write implies describe; read does not imply write.
    assert!(acl
        .check(
            Op::Describe,
            t,
            "nginx-access",
            &who("ANONYMOUS", "logferry-web", &[], "10.1.0.1")
        )
        .allowed());
    assert!(!acl
        .check(
            Op::Write,
            t,
            "nginx-access",
            &who("ANONYMOUS", "billing", &[], "10.1.0.1")
        )
        .allowed());
    assert!(acl
        .check(
            Op::Read,
            ResourceType::Group,
            "billing",
            &who("x", "y", &[], "1.2.3.4")
        )
        .allowed());
}

#[test]
fn deny_wins_prefixes_and_wildcards() {
    let acl = parse(
        r#"
[[acl]]
permission = "allow"
operations = ["all"]
topic_prefix = "logs."
principal = "User:alice"

[[acl]]
permission = "deny"
operations = ["write"]
topic = "logs.audit"
principal = "User:*"

[[acl]]
permission = "allow"
operations = ["describe"]
topic = "*"
"#,
    )
    .expect("valid");
    let t = ResourceType::Topic;
    let alice = who("alice", "c", &[], "127.0.0.1");
    assert!(acl.check(Op::Write, t, "logs.app", &alice).allowed());
    assert_eq!(
        acl.check(Op::Write, t, "logs.audit", &alice),
        Verdict::DeniedByRule { rule: 2 }
    );
    // Denying write leaves describe and read alone.
    assert!(acl.check(Op::Read, t, "logs.audit", &alice).allowed());
    assert!(!acl.check(Op::Write, t, "other", &alice).allowed());
    let bob = who("bob", "c", &[], "127.0.0.1");
    assert!(acl.check(Op::Describe, t, "anything", &bob).allowed());
    assert!(!acl.check(Op::Read, t, "logs.app", &bob).allowed());
    assert!(acl.check_any(Op::Write, t, &alice));
    assert!(!acl.check_any(Op::Write, t, &bob));
}

#[test]
fn check_any_respects_covering_denies() {
    let acl = parse(
        r#"
[[acl]]
permission = "allow"
operations = ["write"]
topic = "a"

[[acl]]
permission = "deny"
operations = ["all"]
topic = "*"
host = "127.0.0.2"
"#,
    )
    .expect("valid");
    let t = ResourceType::Topic;
    assert!(acl.check_any(Op::Write, t, &who("u", "c", &[], "127.0.0.1")));
    assert!(!acl.check_any(Op::Write, t, &who("u", "c", &[], "127.0.0.2")));
}

#[test]
fn hosts_addresses_and_mapped_v4() {
    let h = HostMatch::parse("127.0.0.1").expect("ip");
    assert!(h.matches("127.0.0.1".parse().expect("ip")));
    assert!(!h.matches("127.0.0.2".parse().expect("ip")));
    assert!(h.matches("::ffff:127.0.0.1".parse().expect("ip")));
    let n = HostMatch::parse("10.0.0.0/8").expect("cidr");
    assert!(n.matches("10.200.1.1".parse().expect("ip")));
    assert_eq!(n.to_string(), "10.0.0.0/8");
    assert_eq!(h.to_string(), "127.0.0.1");
    assert!(HostMatch::parse("10.0.0.0/33").is_none());
    assert!(HostMatch::parse("host.example").is_none());
}

#[test]
fn invalid_files_are_refused_whole() {
    for (text, want) in [
        ("[[acl]]\npermission = \"maybe\"\noperations=[\"read\"]\ntopic=\"t\"", "permission"),
        ("[[acl]]\npermission = \"allow\"\noperations=[\"fly\"]\ntopic=\"t\"", "operation"),
        ("[[acl]]\npermission = \"allow\"\noperations=[]\ntopic=\"t\"", "empty"),
        ("[[acl]]\npermission = \"allow\"\noperations=[\"read\"]", "exactly one"),
        (
            "[[acl]]\npermission = \"allow\"\noperations=[\"read\"]\ntopic=\"t\"\ngroup=\"g\"",
            "exactly one",
        ),
        (
            "[[acl]]\npermission = \"allow\"\noperations=[\"read\"]\ntopic=\"t\"\nclient_id=\"a\"\ngroup_id=\"b\"",
            "at most one",
        ),
        (
            "[[acl]]\npermission = \"allow\"\noperations=[\"read\"]\ntopic=\"t\"\nprincipal=\"alice\"",
            "principal",
        ),
        (
            "[[acl]]\npermission = \"allow\"\noperations=[\"read\"]\ntopic=\"t\"\nhost=\"x\"",
            "host",
        ),
        ("[[acl]]\npermission = \"allow\"\noperations=[\"read\"]\ntopic=\"t\"\ncolour=1", "colour"),
        ("acl = 3", "TOML"),
        ("not toml [", "TOML"),
    ] {
        let e = parse(text).expect_err(text).to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
    assert_eq!(parse("").expect("empty is valid").bindings.len(), 0);
}
