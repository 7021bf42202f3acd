// Looking at and damaging a broker's files the way a failing disk would, for the corruption tests.
import { expect } from "bun:test";
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SEGMENT_HEADER, parseEntry, segmentFormat, type ParsedEntry } from "../../src/wal/entry.ts";
import { scanMetaLog } from "../../src/meta/metadata-log.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import { RawClient } from "./raw-client.ts";

const enc = new TextEncoder();

export interface StoredEntry extends ParsedEntry {
  file: string;
  segment: number;
}

/** Every intact entry of every WAL segment of a data dir, in order. */
export function walEntries(dataDir: string): StoredEntry[] {
  const dir = join(dataDir, "wal");
  const out: StoredEntry[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".wal")).sort()) {
    const buf = readFileSync(join(dir, f));
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const format = segmentFormat(buf);
    for (let pos = SEGMENT_HEADER; ; ) {
      const e = parseEntry(buf, dv, pos, format);
      if (typeof e !== "object") break;
      out.push({ ...e, file: join(dir, f), segment: Number(f.slice(0, 20)) });
      pos = e.end;
    }
  }
  return out;
}

/** Overwrites bytes of a file in place (flipped bits, a zeroed length, ...). */
export function overwrite(file: string, pos: number, bytes: number[] | Uint8Array): void {
  const b = Uint8Array.from(bytes);
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, b, 0, b.length, pos);
  } finally {
    closeSync(fd);
  }
}

/** Flips every bit of `n` bytes at pos (4 flipped bytes: issue 12's damage). */
export function flip(file: string, pos: number, n = 4): void {
  const buf = readFileSync(file);
  overwrite(file, pos, Array.from(buf.subarray(pos, pos + n), (x) => x ^ 0xff));
}

/** Topics t0..t5, created one by one, three records each. */
export async function sixTopics(port: number): Promise<void> {
  const c = await RawClient.connect(port);
  for (let i = 0; i < 6; i++) {
    const cr = await c.request(19, 7, { topics: [{ name: `t${i}`, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
    expect(cr.topics[0].errorCode).toBe(0);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: `t${i}`, partitionData: [{ index: 0, records: buildBatch([0, 1, 2].map((k) => ({ key: enc.encode(`t${i}-${k}`), value: enc.encode("v") }))) }] }] });
    expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
  }
  c.close();
}

/** Flips one byte inside the payload of the record that created topic `name`; returns its byte range. */
export function damageTopicRecord(dataDir: string, name: string): { path: string; from: number; to: number } {
  const path = join(dataDir, "metadata.log");
  const r = scanMetaLog(readFileSync(path)).records.find((x) => x.raw.type === "topic" && x.raw.name === name)!;
  flip(path, r.pos + 20, 1);
  return { path, from: r.pos, to: r.end };
}

export async function topicNames(port: number): Promise<string[]> {
  const c = await RawClient.connect(port);
  const md = await c.request(3, 12, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  c.close();
  return (md.topics as { name: string }[]).map((t) => t.name).sort();
}
