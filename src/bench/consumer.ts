// A consumer of assigned partitions (no group), shaped like the Java client's fetcher: one Fetch in flight per
// broker (fetch.max.bytes 50 MiB, max.partition.fetch.bytes 1 MiB, fetch.max.wait 500 ms, min bytes 1). The next
// Fetch goes out as soon as a response's batch headers are read, before its records are walked, so the broker is
// never kept waiting for the consumer. Every batch's CRC is checked (as check.crcs does) and every record's value
// visited; a value that starts with a send time (float64 ms since the epoch) gives an end-to-end latency.
import * as fetch from "../protocol/messages/fetch.ts";
import { errorName } from "../protocol/errors.ts";
import { walkBatches } from "./batch.ts";
import type { Cluster, TopicInfo } from "./cluster.ts";
import type { KafkaConnection } from "./connection.ts";
import type { Histogram } from "./histogram.ts";

export const CONSUMER_DEFAULTS = { maxWaitMs: 500, maxBytes: 50 * 1024 * 1024, partitionMaxBytes: 1024 * 1024 };

export interface ConsumeStats {
  records: number;
  bytes: number;
  errors: number;
  lastError: string | null;
  /** When the first record arrived and when the last one did (performance.now()). */
  firstAt: number | null;
  lastAt: number;
  /** End-to-end latency of the stamped records (send time in epoch ms; warm-up records carry no stamp); null: not measured. */
  e2e: Histogram | null;
  e2eWindow: Histogram | null;
}

interface Node {
  conn: KafkaConnection;
  partitions: number[];
}

const EPOCH_NOW = () => performance.timeOrigin + performance.now();
const stamp = new DataView(new ArrayBuffer(8));

/** The float64 (big-endian) at buf[start], as the producer stamped it. */
function readStamp(buf: Uint8Array, start: number): number {
  for (let i = 0; i < 8; i++) stamp.setUint8(i, buf[start + i]!);
  return stamp.getFloat64(0);
}

export class Consumer {
  private readonly nodes: Node[] = [];
  private stopped = false;
  private wake: (() => void) | null = null;

  private constructor(
    private readonly topic: TopicInfo,
    private readonly offsets: number[],
    private readonly stats: ConsumeStats,
  ) {}

  /** A consumer of `partitions` starting at `offsets` (by partition index), with a connection per leader. */
  static async create(cluster: Cluster, topic: TopicInfo, partitions: number[], offsets: number[], stats: ConsumeStats): Promise<Consumer> {
    const c = new Consumer(topic, offsets.slice(), stats);
    const byLeader = new Map<number, number[]>();
    for (const p of partitions) byLeader.set(topic.leaders[p]!, [...(byLeader.get(topic.leaders[p]!) ?? []), p]);
    for (const [leader, parts] of byLeader) c.nodes.push({ conn: await cluster.open(leader), partitions: parts });
    return c;
  }

  /** Fetches until stop(); resolves when every broker's loop has ended. */
  run(): Promise<void> {
    return Promise.all(this.nodes.map((n) => this.loop(n))).then(() => {});
  }

  stop(): void {
    this.stopped = true;
    for (const n of this.nodes) n.conn.close();
  }

  private request(n: Node): Promise<fetch.FetchResponse> {
    const v = n.conn.version(fetch, 16);
    return n.conn.send(fetch, v, {
      replicaId: -1,
      maxWaitMs: CONSUMER_DEFAULTS.maxWaitMs,
      minBytes: 1,
      maxBytes: CONSUMER_DEFAULTS.maxBytes,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic: this.topic.name, topicId: this.topic.id, partitions: n.partitions.map((p) => ({ partition: p, currentLeaderEpoch: -1, fetchOffset: BigInt(this.offsets[p]!), lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: CONSUMER_DEFAULTS.partitionMaxBytes })) }],
      forgottenTopicsData: [],
      rackId: "",
    });
  }

  private async loop(n: Node): Promise<void> {
    const st = this.stats;
    let next = this.request(n);
    while (!this.stopped) {
      let resp: fetch.FetchResponse;
      try {
        resp = await next; // other brokers' fetches and the producers run meanwhile
      } catch (e) {
        if (this.stopped) return;
        st.errors++;
        st.lastError = (e as Error).message;
        return;
      }
      const now = performance.now();
      const epochNow = EPOCH_NOW();
      if (resp.errorCode) {
        st.errors++;
        st.lastError = `Fetch: ${errorName(resp.errorCode)}`;
        return;
      }
      // First pass: headers and CRCs, so the next offsets are known and the next fetch can go out.
      const bodies: Uint8Array[] = [];
      let got = 0;
      for (const t of resp.responses) {
        for (const pd of t.partitions) {
          if (pd.errorCode !== 0) {
            st.errors++;
            st.lastError = `Fetch ${this.topic.name}-${pd.partitionIndex}: ${errorName(pd.errorCode)}`;
            continue;
          }
          const records = pd.records as Uint8Array | null;
          if (!records || records.length === 0) continue;
          const p = pd.partitionIndex;
          const from = this.offsets[p]!;
          let intact = true;
          walkBatches(records, (b) => {
            if (!b.crcOk) {
              intact = false;
              st.errors++;
              st.lastError = `CRC mismatch in ${this.topic.name}-${p} at offset ${b.baseOffset}`;
              return;
            }
            if (b.lastOffset < from) return;
            got += b.lastOffset - Math.max(from, b.baseOffset) + 1;
            this.offsets[p] = b.lastOffset + 1;
          });
          if (intact) bodies.push(records);
        }
      }
      if (!this.stopped) next = this.request(n);
      if (got > 0) {
        st.records += got;
        st.firstAt ??= now;
        st.lastAt = now;
        this.wake?.();
      }
      // Second pass: every value (sizes; send times for the end-to-end latency).
      const e2e = st.e2e;
      for (const records of bodies) {
        walkBatches(
          records,
          () => {},
          (buf, start, end) => {
            st.bytes += end - start;
            if (e2e && end - start >= 8) {
              const sent = readStamp(buf, start);
              if (sent > 0 && sent <= epochNow) {
                e2e.record(epochNow - sent);
                st.e2eWindow?.record(epochNow - sent);
              }
            }
          },
          false,
        );
      }
    }
  }

  /** Resolves on the next fetch that brought records (or after ms). */
  waitForRecords(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }
}
