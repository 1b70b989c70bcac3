// KafkaJS 2.2.4 against a real logd (tests/kafka/kafkajs.sh starts it and
// sets KAFKA_BROKER and LOGD_NATIVE).  Run with: node --test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Kafka, CompressionTypes, logLevel } from 'kafkajs';

const broker = process.env.KAFKA_BROKER;
const native = process.env.LOGD_NATIVE;
const build = process.env.LOGD_BUILDDIR;
const kafka = new Kafka({ clientId: 'kafkajs-test', brokers: [broker],
  logLevel: logLevel.NOTHING, retry: { retries: 3 } });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(100);
  }
}
function logctl(...args) {
  return execFileSync(`${build}/tools/logctl`, ['-b', native, ...args],
    { encoding: 'utf8' });
}

test('admin: create, list, metadata, delete', async () => {
  const admin = kafka.admin();
  await admin.connect();
  assert.equal(await admin.createTopics({ topics: [{ topic: 'js-admin',
    numPartitions: 3 }] }), true);
  assert.ok((await admin.listTopics()).includes('js-admin'));
  const md = await admin.fetchTopicMetadata({ topics: ['js-admin'] });
  assert.equal(md.topics[0].partitions.length, 3);
  assert.match(logctl('describe', 'js-admin'), /3 partitions/);
  await admin.deleteTopics({ topics: ['js-admin'] });
  assert.ok(!(await admin.listTopics()).includes('js-admin'));
  await admin.disconnect();
});

test('producer: acks -1, gzip, idempotent; read back in order', async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'js-prod', numPartitions: 1 }] });
  await admin.disconnect();
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  const r1 = await p.send({ topic: 'js-prod', acks: -1,
    messages: [{ key: 'a', value: 'plain-1' }, { key: 'b', value: 'plain-2' }] });
  assert.equal(r1[0].errorCode, 0);
  assert.equal(r1[0].baseOffset, '0');
  const r2 = await p.send({ topic: 'js-prod', acks: -1,
    compression: CompressionTypes.GZIP,
    messages: [{ value: 'zipped-1' }, { value: 'zipped-2' }] });
  assert.equal(r2[0].baseOffset, '2');
  await p.disconnect();
  const c = kafka.consumer({ groupId: 'js-prod-reader' });
  await c.connect();
  await c.subscribe({ topic: 'js-prod', fromBeginning: true });
  const got = [];
  await c.run({ eachMessage: async ({ message }) => {
    got.push([message.offset, message.value.toString()]);
  } });
  await until('4 records', () => got.length >= 4);
  await c.disconnect();
  assert.deepEqual(got, [['0', 'plain-1'], ['1', 'plain-2'],
    ['2', 'zipped-1'], ['3', 'zipped-2']]);
});

test('two consumers split partitions, leave hands them over, commits resume', async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'js-group', numPartitions: 4 }] });
  const p = kafka.producer();
  await p.connect();
  const msgs = [];
  for (let i = 0; i < 200; i++) msgs.push({ key: 'k' + i, value: 'v' + i });
  await p.send({ topic: 'js-group', messages: msgs });
  const mk = (name, seen, parts) => {
    const c = kafka.consumer({ groupId: 'js-g', sessionTimeout: 10000,
      heartbeatInterval: 500 });
    c.on(c.events.GROUP_JOIN, (e) => {
      parts.length = 0;
      for (const pa of e.payload.memberAssignment['js-group'] || []) parts.push(pa);
    });
    return { c, run: async () => {
      await c.connect();
      await c.subscribe({ topic: 'js-group', fromBeginning: true });
      await c.run({ autoCommitInterval: 200, eachMessage: async ({ message }) => {
        seen.add(message.value.toString());
      } });
    } };
  };
  const s1 = new Set(), s2 = new Set(), a1 = [], a2 = [];
  const m1 = mk('one', s1, a1), m2 = mk('two', s2, a2);
  await m1.run();
  await m2.run();
  await until('both assigned', () => a1.length > 0 && a2.length > 0 &&
    a1.length + a2.length === 4);
  assert.deepEqual([...a1, ...a2].sort(), [0, 1, 2, 3]);
  await until('all 200 read', () => new Set([...s1, ...s2]).size === 200);
  await m1.c.disconnect();          // LeaveGroup: m2 takes over at once
  await until('m2 owns all four', () => a2.length === 4, 8000);
  await p.send({ topic: 'js-group', messages: [{ key: 'late', value: 'late' }] });
  await until('m2 reads the late record', () => s2.has('late'));
  await sleep(600);                 // an auto commit
  await m2.c.disconnect();
  // A restart resumes from the commits: only records produced since.
  await p.send({ topic: 'js-group', messages: [{ key: 'after', value: 'after' }] });
  const s3 = new Set(), a3 = [];
  const m3 = mk('three', s3, a3);
  await m3.run();
  await until('m3 reads the new record', () => s3.has('after'));
  await sleep(300);
  assert.equal(s3.size, 1, 'resumed from the commit: ' + [...s3].join(','));
  await m3.c.disconnect();
  const offs = await admin.fetchOffsets({ groupId: 'js-g', topics: ['js-group'] });
  const total = offs[0].partitions.reduce((n, x) => n + Number(x.offset), 0);
  assert.equal(total, 202);
  assert.match(logctl('group', 'js-g'), /js-group/);
  await admin.resetOffsets({ groupId: 'js-g', topic: 'js-group', earliest: true });
  const again = await admin.fetchOffsets({ groupId: 'js-g', topics: ['js-group'] });
  assert.ok(again[0].partitions.every((x) => x.offset === '0' || x.offset === '-1'));
  await p.disconnect();
  await admin.disconnect();
});

test('seek', async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'js-seek', numPartitions: 1 }] });
  await admin.disconnect();
  const p = kafka.producer();
  await p.connect();
  await p.send({ topic: 'js-seek', messages: [0, 1, 2, 3, 4, 5].map((i) =>
    ({ value: 's' + i })) });
  await p.disconnect();
  const c = kafka.consumer({ groupId: 'js-seeker' });
  await c.connect();
  await c.subscribe({ topic: 'js-seek', fromBeginning: true });
  const got = [];
  let sought = false;
  await c.run({ eachMessage: async ({ message }) => {
    got.push(message.offset);
    if (!sought && message.offset === '5') {
      sought = true;
      c.seek({ topic: 'js-seek', partition: 0, offset: '3' });
    }
  } });
  await until('the replay after seek', () => got.length >= 9);
  await c.disconnect();
  assert.deepEqual(got.slice(0, 9), ['0', '1', '2', '3', '4', '5', '3', '4', '5']);
});

test('a KafkaJS member and a kcat member in one group: error 23', async () => {
  // kcat (librdkafka) offers "range,roundrobin", KafkaJS "RoundRobinAssigner":
  // no protocol in common, so the second to join gets INCONSISTENT_GROUP_PROTOCOL.
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'js-mixed', numPartitions: 2 }] });
  await admin.disconnect();
  const c = kafka.consumer({ groupId: 'js-mixed-g' });
  await c.connect();
  await c.subscribe({ topic: 'js-mixed' });
  await c.run({ eachMessage: async () => {} });
  await sleep(1500);
  let out = '';
  try {
    out = execFileSync('timeout', ['8', 'kcat', '-b', broker, '-G', 'js-mixed-g',
      'js-mixed'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    out = String(e.stderr) + String(e.stdout);
  }
  await c.disconnect();
  assert.match(out, /Inconsistent group protocol|INCONSISTENT_GROUP_PROTOCOL/i, out);
});
