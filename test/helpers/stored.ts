// What the broker stores, read over the wire with our own codec (CreateTopics, Fetch v12): every batch of a
// partition with its codec and CRC check, and its records. Suites use it to prove that what a real client produced
// is stored intact (never re-encoded) before they read it back with that client.
import { expect } from "bun:test";
import { RawClient } from "./raw-client.ts";
import { Attr, batches, batchIsIntact, decodeRecords, type Record } from "../../src/protocol/records.ts";

export const CODECS = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CodecName = keyof typeof CODECS;

export interface StoredBatch {
  baseOffset: number;
  codec: number;
  attributes: number;
  intact: boolean;
  count: number;
}

export interface StoredPartition {
  highWatermark: number;
  batches: StoredBatch[];
  records: Record[];
}

export async function createTopic(port: number, name: string, partitions: number): Promise<void> {
  const c = await RawClient.connect(port);
  try {
    const res = await c.request(19, 7, { topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
    expect(res?.topics?.[0]?.errorCode).toBe(0);
  } finally {
    c.close();
  }
}

/** Every batch of one partition as the broker serves it, from offset 0 to the high watermark. */
export async function readStored(port: number, topic: string, partition: number): Promise<StoredPartition> {
  const c = await RawClient.connect(port);
  try {
    const out: StoredPartition = { highWatermark: -1, batches: [], records: [] };
    let offset = 0;
    for (let round = 0; round < 100_000; round++) {
      const f = await c.request(1, 12, {
        replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
        topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: BigInt(offset), lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
        forgottenTopicsData: [], rackId: "",
      });
      if (!f) throw new Error(`fetch ${topic}-${partition}@${offset}: connection closed`);
      const pd = f.responses[0].partitions[0];
      if (pd.errorCode !== 0) throw new Error(`fetch ${topic}-${partition}@${offset}: error ${pd.errorCode}`);
      out.highWatermark = Number(pd.highWatermark);
      if (offset >= out.highWatermark) return out;
      const data = pd.records as Uint8Array | null;
      if (!data || data.length === 0) throw new Error(`fetch ${topic}-${partition}@${offset} returned no records below the high watermark ${out.highWatermark}`);
      let progressed = false;
      for (const b of batches(data)) {
        const intact = batchIsIntact(data, b.pos, b.pos + b.size);
        out.batches.push({ baseOffset: b.baseOffset, codec: b.header.attributes & Attr.compressionMask, attributes: b.header.attributes, intact, count: b.header.recordsCount });
        if (!intact) throw new Error(`${topic}-${partition}: batch at offset ${b.baseOffset} fails its CRC`);
        out.records.push(...decodeRecords(data, b.pos));
        offset = b.baseOffset + b.header.lastOffsetDelta + 1;
        progressed = true;
      }
      if (!progressed) throw new Error(`fetch ${topic}-${partition}@${offset} returned no whole batch`);
    }
    throw new Error(`${topic}-${partition}: too many fetches`);
  } finally {
    c.close();
  }
}

/**
 * Reads partition p of a topic whose `count` records were spread round-robin over `partitions` and checks that its
 * batches are exactly what the producer sent: the producer's codec on every one (and some batching when compressed),
 * valid CRCs, CreateTime, offsets back to back from 0, and the partition's share of the records.
 */
export async function expectStoredIntact(port: number, topic: string, p: number, partitions: number, count: number, codec: CodecName): Promise<StoredPartition> {
  const s = await readStored(port, topic, p);
  const want = Math.floor(count / partitions) + (p < count % partitions ? 1 : 0);
  expect(s.highWatermark).toBe(want);
  expect(s.batches.length).toBeGreaterThan(0);
  const codecs = [...new Set(s.batches.map((b) => b.codec))];
  if (codecs.length !== 1 || codecs[0] !== CODECS[codec]) throw new Error(`${topic}-${p}: stored batches have codec(s) ${codecs.join(",")}, expected ${CODECS[codec]} (${codec}) on every one`);
  expect(s.batches.every((b) => b.intact && (b.attributes & Attr.logAppendTime) === 0)).toBe(true);
  let next = 0;
  for (const b of s.batches) {
    expect(b.baseOffset).toBe(next);
    next += b.count;
  }
  expect(next).toBe(want);
  if (codec !== "none") expect(s.batches.some((b) => b.count > 1)).toBe(true);
  expect(s.records.length).toBe(want);
  s.records.forEach((r, k) => {
    if (r.offset !== k) throw new Error(`${topic}-${p}@${k}: stored offset ${r.offset}`);
  });
  return s;
}
