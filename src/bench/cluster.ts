// What the load generator knows of the cluster: the brokers and each partition's leader (from Metadata), topic
// creation, and partition end offsets (ListOffsets). Producers and consumers open their own connections to the
// leaders, as separate clients would.
import { parseAddr } from "../config.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import * as createTopics from "../protocol/messages/create-topics.ts";
import * as listOffsets from "../protocol/messages/list-offsets.ts";
import * as metadata from "../protocol/messages/metadata.ts";
import type { Uuid } from "../protocol/codec.ts";
import { KafkaConnection } from "./connection.ts";

export interface BrokerAddress {
  nodeId: number;
  host: string;
  port: number;
}

export interface TopicInfo {
  name: string;
  id: Uuid;
  /** Leader node id of each partition, by partition index. */
  leaders: number[];
}

export class BenchError extends Error {
  override name = "BenchError";
}

class NotReady extends BenchError {}

/** "host:port"; an empty host means this machine. */
function parseHostPort(s: string): { host: string; port: number } {
  const a = parseAddr(s);
  if (!a) throw new BenchError(`bad broker address ${JSON.stringify(s)} (want host:port)`);
  return { host: a.host || "127.0.0.1", port: a.port };
}

export class Cluster {
  readonly brokers = new Map<number, BrokerAddress>();

  private constructor(
    private readonly admin: KafkaConnection,
    readonly clientId: string,
  ) {}

  /** Connects to the first reachable bootstrap address. */
  static async connect(bootstrap: string[], clientId = "klite-bench"): Promise<Cluster> {
    let last: Error | null = null;
    for (const b of bootstrap) {
      const { host, port } = parseHostPort(b);
      try {
        const c = new Cluster(await KafkaConnection.connect(host, port, clientId), clientId);
        await c.topic(null);
        return c;
      } catch (e) {
        last = e as Error;
      }
    }
    throw new BenchError(`no bootstrap broker reachable (${bootstrap.join(", ")}): ${last?.message}`);
  }

  /** Metadata for one topic (null: brokers only). Returns null when the topic does not exist. */
  async topic(name: string | null): Promise<TopicInfo | null> {
    const v = this.admin.version(metadata, 12);
    const resp = await this.admin.send(metadata, v, {
      topics: name === null ? [] : [{ name, topicId: "00000000000000000000000000000000" }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    this.brokers.clear();
    for (const b of resp.brokers) this.brokers.set(b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port });
    if (name === null) return null;
    const t = resp.topics.find((x) => x.name === name);
    if (!t || t.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return null;
    if (t.errorCode !== 0) throw new BenchError(`metadata for ${name}: ${errorName(t.errorCode)}`);
    const leaders: number[] = [];
    for (const p of t.partitions) leaders[p.partitionIndex] = p.errorCode === 0 ? p.leaderId : -1;
    return { name, id: t.topicId ?? "00000000000000000000000000000000", leaders };
  }

  /**
   * The topic, created with `partitions` partitions (and `configs`) when it does not exist; waits until every
   * partition has a leader.
   */
  async ensureTopic(name: string, partitions: number, configs: Record<string, string> = {}): Promise<TopicInfo> {
    let t = await this.topic(name);
    if (!t) {
      const v = this.admin.version(createTopics, 7);
      const resp = await this.admin.send(createTopics, v, {
        topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: Object.entries(configs).map(([k, val]) => ({ name: k, value: val })) }],
        timeoutMs: 30_000,
        validateOnly: false,
      });
      const r = resp.topics[0];
      if (r && r.errorCode !== 0 && r.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
        throw new BenchError(`cannot create topic ${name}: ${errorName(r.errorCode)}${r.errorMessage ? ` (${r.errorMessage})` : ""}`);
      }
    }
    const deadline = performance.now() + 30_000;
    for (;;) {
      t = await this.topic(name);
      if (t && t.leaders.length > 0 && t.leaders.every((l) => l >= 0 && this.brokers.has(l))) {
        await this.offsets(t, -1); // every leader serves its partition (Kafka's metadata can run ahead)
        return t;
      }
      if (performance.now() > deadline) throw new BenchError(`topic ${name} has no leader for every partition after 30 s`);
      await Bun.sleep(50);
    }
  }

  /** A new connection to a broker (each producer and consumer gets its own). */
  async open(nodeId: number): Promise<KafkaConnection> {
    const b = this.brokers.get(nodeId);
    if (!b) throw new BenchError(`unknown broker ${nodeId}`);
    return KafkaConnection.connect(b.host, b.port, this.clientId);
  }

  /**
   * End offsets (timestamp -1 = latest, -2 = earliest) of the partitions of a topic. A partition its leader does
   * not serve yet (a topic just created on Kafka) is asked again for up to 30 s.
   */
  async offsets(t: TopicInfo, timestamp: -1 | -2): Promise<number[]> {
    const deadline = performance.now() + 30_000;
    for (;;) {
      try {
        return await this.offsetsOnce(t, timestamp);
      } catch (e) {
        if (!(e instanceof NotReady) || performance.now() > deadline) throw e;
        await Bun.sleep(100);
      }
    }
  }

  private async offsetsOnce(t: TopicInfo, timestamp: -1 | -2): Promise<number[]> {
    const out: number[] = [];
    const byLeader = new Map<number, number[]>();
    t.leaders.forEach((l, p) => byLeader.set(l, [...(byLeader.get(l) ?? []), p]));
    for (const [leader, parts] of byLeader) {
      const c = await this.open(leader);
      try {
        const v = c.version(listOffsets, 8);
        const resp = await c.send(listOffsets, v, {
          replicaId: -1,
          isolationLevel: 0,
          topics: [{ name: t.name, partitions: parts.map((p) => ({ partitionIndex: p, currentLeaderEpoch: -1, timestamp: BigInt(timestamp), maxNumOffsets: 1 })) }],
          timeoutMs: 30_000,
        });
        for (const p of resp.topics[0]?.partitions ?? []) {
          if (p.errorCode !== 0) {
            const retriable = p.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER || p.errorCode === ErrorCode.LEADER_NOT_AVAILABLE || p.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
            throw new (retriable ? NotReady : BenchError)(`ListOffsets ${t.name}-${p.partitionIndex}: ${errorName(p.errorCode)}`);
          }
          out[p.partitionIndex] = Number(p.offset ?? p.oldStyleOffsets?.[0] ?? 0n);
        }
      } finally {
        c.close();
      }
    }
    return out;
  }

  close(): void {
    this.admin.close();
  }
}
