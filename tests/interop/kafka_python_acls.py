"""kafka-python's ACL admin API against a logferry broker, for tests/agent/console.rs (the web
console's ACL edits go through the same store as Kafka's CreateAcls/DeleteAcls).

Usage: kafka_python_acls.py BOOTSTRAP describe TOPIC
         prints one line per ACL on the literal topic: PRINCIPAL HOST OPERATION PERMISSION
       kafka_python_acls.py BOOTSTRAP create TOPIC PRINCIPAL OPERATION
         adds an ALLOW of OPERATION (READ, WRITE, ...) on the literal topic
Exits 1 on any error.
"""

import sys

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

bootstrap, command, topic = sys.argv[1:4]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="console-acl-test")
if command == "describe":
    flt = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL),
    )
    acls, err = admin.describe_acls(flt)
    if err.errno != 0:
        sys.exit(f"describe_acls: {err}")
    for a in acls:
        print(a.principal, a.host, a.operation.name, a.permission_type.name)
elif command == "create":
    principal, operation = sys.argv[4:6]
    pattern = ResourcePattern(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL)
    acl = ACL(principal, "*", ACLOperation[operation], ACLPermissionType.ALLOW, pattern)
    res = admin.create_acls([acl])
    if res["failed"] or len(res["succeeded"]) != 1:
        sys.exit(f"create_acls: {res!r}")
    print("created")
else:
    sys.exit(f"unknown command {command}")
admin.close()
