// Reads every record of a topic over the wire (Metadata, ListOffsets, Fetch with our own codec), checking each
// fetched batch's CRC on the way. For tests that verify what clients produced.
import { RawClient } from "./raw-client.ts";
import { batches, batchIsIntact, decodeRecords, type Record } from "../../src/protocol/records.ts";

export interface ReadRecord extends Record {
  partition: number;
  /** Compression codec of the batch it came in (attributes & 7). */
  codec: number;
}

export async function readTopic(port: number, topic: string, opts: { maxBytes?: number } = {}): Promise<Map<number, ReadRecord[]>> {
  const c = await RawClient.connect(port);
  try {
    const md = await c.request(3, 12, { topics: [{ name: topic, topicId: "00000000000000000000000000000000" }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    const t = md.topics[0];
    if (t.errorCode !== 0) throw new Error(`metadata for ${topic}: error ${t.errorCode}`);
    const out = new Map<number, ReadRecord[]>();
    for (const p of t.partitions) {
      // Two requests: a partition listed twice in one ListOffsets is INVALID_REQUEST, as in Kafka.
      const at = async (timestamp: bigint) => {
        const lo = await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: p.partitionIndex, timestamp }] }] });
        return Number(lo.topics[0].partitions[0].offset);
      };
      const hw = await at(-1n);
      const recs: ReadRecord[] = [];
      let offset = await at(-2n);
      while (offset < hw) {
        const f = await c.request(1, 12, {
          replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: opts.maxBytes ?? 4 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
          topics: [{ topic, partitions: [{ partition: p.partitionIndex, fetchOffset: BigInt(offset), partitionMaxBytes: opts.maxBytes ?? 4 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }],
          forgottenTopicsData: [], rackId: "",
        });
        const pd = f.responses[0].partitions[0];
        if (pd.errorCode !== 0) throw new Error(`fetch ${topic}-${p.partitionIndex}@${offset}: error ${pd.errorCode}`);
        const data = pd.records as Uint8Array | null;
        if (!data || data.length === 0) throw new Error(`fetch ${topic}-${p.partitionIndex}@${offset} returned nothing below hw ${hw}`);
        for (const b of batches(data)) {
          if (!batchIsIntact(data, b.pos, b.pos + b.size)) throw new Error(`batch at ${b.baseOffset} fails its CRC`);
          for (const r of decodeRecords(data, b.pos)) {
            if (r.offset < offset) continue;
            recs.push({ ...r, partition: p.partitionIndex, codec: b.header.attributes & 7 });
          }
          offset = b.baseOffset + b.header.lastOffsetDelta + 1;
        }
      }
      out.set(p.partitionIndex, recs);
    }
    return out;
  } finally {
    c.close();
  }
}

/** Where each key of a topic is: key → {p: partition, o: offset} (keys decoded as UTF-8; each must be unique). */
export async function keyPositions(port: number, topic: string): Promise<Map<string, { p: number; o: number }>> {
  const out = new Map<string, { p: number; o: number }>();
  const dec = new TextDecoder();
  for (const [p, recs] of await readTopic(port, topic)) {
    for (const r of recs) {
      const key = dec.decode(r.key!);
      if (out.has(key)) throw new Error(`key ${key} appears twice in ${topic}`);
      out.set(key, { p, o: r.offset });
    }
  }
  return out;
}
