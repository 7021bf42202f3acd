// A producer for the replication fault tests: one record per Produce request (acks=all, key "<prefix>-<n>"),
// sent to whichever node of a pair answers as primary, switching nodes on any error the way a client's metadata
// refresh would. It records every acknowledgement (key, partition, offset, which node, when on this process's
// clock), so a test can check that each one is in the log and when each node acknowledged.
import { buildBatch } from "../../src/protocol/records.ts";
import { RawClient } from "./raw-client.ts";
import { readTopic } from "./read-topic.ts";

export interface Ack {
  key: string;
  partition: number;
  offset: number;
  node: number;
  at: number;
}

const enc = new TextEncoder();

export class AckedProducer {
  readonly acks: Ack[] = [];
  errors = 0;
  private stopped = false;
  private done: Promise<void> = Promise.resolve();
  private n = 0;

  constructor(
    /** Kafka ports of the nodes to try, in turn. */
    private readonly ports: () => number[],
    private readonly topic: string,
    private readonly opts: { prefix?: string; intervalMs?: number; timeoutMs?: number; pin?: boolean; valueBytes?: number } = {},
  ) {}

  start(): this {
    this.done = this.run();
    return this;
  }

  private async run(): Promise<void> {
    let i = 0;
    let c: RawClient | null = null;
    let port = 0;
    while (!this.stopped) {
      const key = `${this.opts.prefix ?? "r"}-${this.n}`;
      try {
        const ports = this.ports();
        port = ports[i % ports.length]!;
        c ??= await RawClient.connect(port);
        const timeout = this.opts.timeoutMs ?? 15_000;
        const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: timeout, topicData: [{ name: this.topic, partitionData: [{ index: 0, records: buildBatch([{ key: enc.encode(key), value: this.opts.valueBytes ? new Uint8Array(this.opts.valueBytes).fill(7) : enc.encode(`value of ${key}`) }]) }] }] }, timeout);
        const p = r.responses[0].partitionResponses[0];
        if (p.errorCode !== 0) throw new Error(`error ${p.errorCode}`);
        this.acks.push({ key, partition: 0, offset: Number(p.baseOffset), node: port, at: performance.now() });
        this.n++;
        if (this.opts.intervalMs) await Bun.sleep(this.opts.intervalMs);
      } catch {
        this.errors++;
        c?.close();
        c = null;
        if (!this.opts.pin) i++;
        this.n++; // a failed record may or may not be in the log: never reuse its key
        await Bun.sleep(50);
      }
    }
    c?.close();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Throws unless every acknowledged record is in the topic (partition 0) once, at its acknowledged offset. */
  async verify(port: number): Promise<number> {
    const records = (await readTopic(port, this.topic)).get(0) ?? [];
    const at = new Map<string, number>();
    for (const r of records) {
      const k = new TextDecoder().decode(r.key ?? new Uint8Array());
      if (at.has(k)) throw new Error(`${k} is in the log twice`);
      at.set(k, r.offset);
    }
    const lost = this.acks.filter((a) => at.get(a.key) !== a.offset);
    if (lost.length) throw new Error(`${lost.length} of ${this.acks.length} acknowledged records missing or moved, e.g. ${lost.slice(0, 5).map((a) => `${a.key}@${a.offset}→${at.get(a.key)}`).join(", ")}`);
    return records.length;
  }
}
