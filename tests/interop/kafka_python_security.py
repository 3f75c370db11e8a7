"""kafka-python against a secured `logferry broker` (issue 14), run by tests/broker/security_tools.rs.

Usage: kafka_python_security.py SASL_SSL_ADDR MTLS_ADDR CA CLIENT_CERT CLIENT_KEY
Users (SCRAM): alice/alice-secret (writes and reads app.*), admin/admin-secret (super user).
The mTLS client certificate is CN=agent-01 (may write mtls.lines).
Prints PASS/FAIL per check; exits 1 on any failure.
"""

import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)

SASL, MTLS, CA, CERT, KEY = sys.argv[1:6]
failed = 0


def check(name, ok, detail=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)
    if not ok:
        failed += 1


def sasl(user, password):
    return dict(
        bootstrap_servers=SASL,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=user,
        sasl_plain_password=password,
        ssl_cafile=CA,
    )


lines = [f"kafka-python line {i:05}".encode() for i in range(500)]

# Allowed produce (acks=all) and fetch over SASL_SSL with SCRAM-SHA-512.
p = KafkaProducer(acks="all", **sasl("alice", "alice-secret"))
for v in lines:
    p.send("app.python", v)
p.flush()
p.close()
c = KafkaConsumer(consumer_timeout_ms=10000, **sasl("alice", "alice-secret"))
tp = TopicPartition("app.python", 0)
c.assign([tp])
c.seek_to_beginning(tp)
got = [m.value for m in c][: len(lines)]
c.close()
check("SASL_SSL SCRAM-SHA-512 produce + fetch, every line in order", got == lines, f"{len(got)} read")

# A topic outside the ACLs: refused with TOPIC_AUTHORIZATION_FAILED.
p = KafkaProducer(acks="all", max_block_ms=10000, **sasl("alice", "alice-secret"))
try:
    p.send("denied.python", b"x").get(timeout=15)
    check("produce to a topic outside the ACLs refused", False, "it was accepted")
except Exception as e:  # noqa: BLE001 - the class name is the check
    check("produce to a topic outside the ACLs refused", "TopicAuthorizationFailed" in type(e).__name__, repr(e))
p.close()

# Wrong password: SASL authentication fails.
try:
    p = KafkaProducer(acks="all", max_block_ms=5000, **sasl("alice", "wrong"))
    p.send("app.python", b"x").get(timeout=10)
    check("wrong password refused", False, "a message was accepted")
except Exception as e:  # noqa: BLE001
    check("wrong password refused", True, repr(e))

# Mutual TLS: the certificate's subject is the principal.
p = KafkaProducer(
    bootstrap_servers=MTLS,
    security_protocol="SSL",
    ssl_cafile=CA,
    ssl_certfile=CERT,
    ssl_keyfile=KEY,
    acks="all",
)
p.send("mtls.lines", b"from kafka-python over mutual TLS").get(timeout=15)
p.close()
check("mutual TLS produce as CN=agent-01", True)

# The ACL admin APIs as the super user.
admin = KafkaAdminClient(**sasl("admin", "admin-secret"))
pattern = ResourcePattern(ResourceType.TOPIC, "py.created", ACLResourcePatternType.LITERAL)
acl = ACL("User:bob", "*", ACLOperation.WRITE, ACLPermissionType.ALLOW, pattern)
res = admin.create_acls([acl])
check("CreateAcls", len(res["succeeded"]) == 1 and not res["failed"], repr(res))
flt = ACLFilter(
    principal=None,
    host=None,
    operation=ACLOperation.ANY,
    permission_type=ACLPermissionType.ANY,
    resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, "py.created", ACLResourcePatternType.LITERAL),
)
acls, err = admin.describe_acls(flt)
check(
    "DescribeAcls shows it",
    len(acls) == 1 and acls[0].principal == "User:bob" and acls[0].operation == ACLOperation.WRITE,
    f"{acls} {err}",
)
deleted = admin.delete_acls([flt])
check("DeleteAcls removes it", len(deleted[0][1]) == 1, repr(deleted))
acls, err = admin.describe_acls(flt)
check("DescribeAcls empty after delete", acls == [], repr(acls))
admin.close()

# Alice may not administer: CLUSTER_AUTHORIZATION_FAILED.
admin = KafkaAdminClient(**sasl("alice", "alice-secret"))
try:
    res = admin.create_acls([acl])
    check("CreateAcls refused to alice", not res["succeeded"], repr(res))
except Exception as e:  # noqa: BLE001
    check("CreateAcls refused to alice", "ClusterAuthorizationFailed" in type(e).__name__, repr(e))
admin.close()

print(f"{failed} failed")
sys.exit(1 if failed else 0)
