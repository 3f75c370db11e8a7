// kafkajs checks of `logferry broker`: admin createTopics/listTopics, an acks=all producer, a
// consumer group that reads everything and commits, fetchOffsets = the log end, describeGroups,
// a restarted group member resuming at the committed offsets.
// Usage: node check.js HOST:PORT. Prints "PASS what" / "FAIL what"; exits 1 on any failure.
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const addr = process.argv[2];
const kafka = new Kafka({ clientId: 'kafkajs-check', brokers: [addr], logLevel: logLevel.NOTHING });
const topic = 'kafkajs-topic';
const groupId = 'kafkajs-group';
let failed = false;

function check(ok, what) {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${what}`);
  if (!ok) failed = true;
}

const sorted = (a) => [...a].sort();
const same = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

async function produce(prefix, n) {
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < n; i++) messages.push({ key: `k${i}`, value: `${prefix}-${String(i).padStart(5, '0')}` });
  const res = await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  check(res.every((r) => r.errorCode === 0), `producer acks=all ${n} messages`);
  return messages.map((m) => m.value);
}

// Runs a group member until `want` messages arrived (or 30 s), then leaves (committing).
async function consume(want) {
  const consumer = kafka.consumer({ groupId, rebalanceTimeout: 10000, sessionTimeout: 10000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  let done;
  const all = new Promise((resolve) => { done = resolve; });
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push(message.value.toString());
      if (got.length >= want) done();
    },
  });
  await Promise.race([all, new Promise((r) => setTimeout(r, 30000))]);
  // Anything read twice would show up now.
  await new Promise((r) => setTimeout(r, 500));
  await consumer.disconnect();
  return got;
}

async function main() {
  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  check(created === true, 'admin.createTopics');
  check((await admin.listTopics()).includes(topic), 'admin.listTopics lists it');

  const first = await produce('first', 300);
  const got = await consume(first.length);
  check(same(got, first), `consumer group reads all ${first.length} (got ${got.length})`);

  const ends = await admin.fetchTopicOffsets(topic);
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  const byPart = Object.fromEntries(committed[0].partitions.map((p) => [p.partition, p.offset]));
  check(ends.length === 3 && ends.every((e) => byPart[e.partition] === e.high),
    `admin.fetchOffsets = log end per partition (${JSON.stringify(byPart)})`);

  const groups = await admin.describeGroups([groupId]);
  const g = groups.groups[0];
  check(g.groupId === groupId && g.state === 'Empty' && g.protocolType === 'consumer',
    `admin.describeGroups (${g.state}, ${g.protocolType})`);

  const second = await produce('second', 30);
  const again = await consume(second.length);
  check(same(again, second), `restarted member resumes at the committed offsets (got ${again.length})`);
  await admin.disconnect();
}

main()
  .catch((e) => { check(false, `kafkajs: ${e && e.stack ? e.stack : e}`); })
  .finally(() => process.exit(failed ? 1 : 0));
