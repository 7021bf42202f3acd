// One KafkaJS consumer-group member as its own process (run with bun), for klite's group tests:
//
//   bun member.ts --bootstrap H:P --topic T --group G [--client-id C] [--session-timeout-ms MS]
//
// It consumes with consumer.run / eachMessage (KafkaJS's default round-robin assigner, eager rebalancing, offsets
// committed after each batch) until SIGTERM, then disconnects (leaving the group). It prints the line protocol of
// test/helpers/group-members.ts: "assigned <p,..>" and "generation <id> <member id>" on each join, "revoked <p,..>"
// when a rebalance starts (KafkaJS revokes everything), "r <partition> <offset> <key>" per record,
// "committed <p>:<offset>,.." per acknowledged commit, and "closed".
import { parseArgs } from "node:util";
import { Kafka, logLevel } from "../../helpers/kafkajs.ts";

process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";
const { values: a } = parseArgs({
  options: {
    bootstrap: { type: "string", default: "127.0.0.1:9092" },
    topic: { type: "string" },
    group: { type: "string" },
    "client-id": { type: "string", default: "klite-kafkajs-member" },
    "session-timeout-ms": { type: "string", default: "10000" },
  },
});
const topic = a.topic!;
const out = (line: string) => process.stdout.write(`${line}\n`);
const csv = (ps: number[]) => (ps.length ? [...ps].sort((x, y) => x - y).join(",") : "-");

const kafka = new Kafka({ clientId: a["client-id"], brokers: [a.bootstrap!], logLevel: logLevel.ERROR });
const consumer = kafka.consumer({ groupId: a.group!, sessionTimeout: Number(a["session-timeout-ms"]), heartbeatInterval: 500, rebalanceTimeout: 20_000, maxWaitTimeInMs: 250, retry: { retries: 10 } });
let owned: number[] = [];
consumer.on(consumer.events.GROUP_JOIN, (e) => {
  owned = e.payload.memberAssignment[topic] ?? [];
  out(`assigned ${csv(owned)}`);
  out(`generation -1 ${e.payload.memberId}`); // KafkaJS does not expose the generation id
});
consumer.on(consumer.events.REBALANCING, () => {
  out(`revoked ${csv(owned)}`);
  owned = [];
});
consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
  const parts = e.payload.topics.flatMap((t) => t.partitions.map((p) => `${p.partition}:${p.offset}`));
  if (parts.length) out(`committed ${parts.join(",")}`);
});

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await consumer.disconnect();
  out("closed");
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    out(`r ${partition} ${message.offset} ${message.key?.toString() ?? "-"}`);
  },
});
