// A Kafka client (KafkaJS) as its own process, for the failover test and benchmark: it resolves the Service's FQDN
// through /etc/hosts like any client in the cluster (the test runs it with the cluster's hosts file mounted there).
//
//   bun client.ts produce --bootstrap HOST:PORT --topic T [--interval-ms 20]
//     Sends records "v-<n>" one at a time with acks=all until SIGTERM. Prints "ack <n> <partition> <offset> <ms>"
//     for each acknowledgement and "err <n> <ms> <message>" for each failed attempt (then sends n again), with
//     <ms> the wall clock; "closed" at the end.
//   bun client.ts consume --bootstrap HOST:PORT --topic T
//     Reads every partition from the beginning to its end offset at start; prints "r <partition> <offset> <value>".
import { parseArgs } from "node:util";
import { Kafka, logLevel } from "../helpers/kafkajs.ts";

process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";
const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    bootstrap: { type: "string" },
    topic: { type: "string" },
    "interval-ms": { type: "string", default: "20" },
  },
});
const out = (line: string) => process.stdout.write(`${line}\n`);
const topic = a.topic!;
const kafka = new Kafka({
  clientId: "klite-failover-client",
  brokers: [a.bootstrap!],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 10_000,
  // The client retries by itself below; KafkaJS only refreshes metadata and reconnects.
  retry: { retries: 0 },
});

if (positionals[0] === "produce") {
  const producer = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 0 } });
  let stopping = false;
  process.on("SIGTERM", () => (stopping = true));
  const interval = Number(a["interval-ms"]);
  let connected = false;
  let n = 0;
  while (!stopping) {
    try {
      if (!connected) {
        await producer.connect();
        connected = true;
      }
      const [r] = await producer.send({ topic, acks: -1, timeout: 10_000, messages: [{ value: `v-${n}` }] });
      out(`ack ${n} ${r!.partition} ${r!.baseOffset} ${Date.now()}`);
      n++;
      if (interval > 0) await Bun.sleep(interval);
    } catch (e) {
      out(`err ${n} ${Date.now()} ${String((e as Error).message).replace(/\s+/g, " ")}`);
      if (/disconnected|not connected|Connection|ECONNREFUSED|ECONNRESET|Closed/i.test(String((e as Error).message))) {
        await producer.disconnect().catch(() => {});
        connected = false;
      }
      await Bun.sleep(50);
    }
  }
  await producer.disconnect().catch(() => {});
  out("closed");
  process.exit(0);
} else if (positionals[0] === "consume") {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(ends.filter((p) => Number(p.high) > 0).map((p) => [p.partition, Number(p.high)]));
  const consumer = kafka.consumer({ groupId: `check-${Date.now()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    if (remaining.size === 0) resolve();
    void consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        out(`r ${partition} ${message.offset} ${message.value?.toString() ?? ""}`);
        if (Number(message.offset) + 1 >= (remaining.get(partition) ?? 0)) remaining.delete(partition);
        if (remaining.size === 0) resolve();
      },
    });
  });
  await done;
  await consumer.disconnect();
  out("closed");
  process.exit(0);
} else {
  process.stderr.write("usage: bun client.ts produce|consume --bootstrap HOST:PORT --topic T\n");
  process.exit(2);
}
