// Issue 12 case 9 at the metadata log's level: one changed byte in the middle no longer drops every record after
// it. A torn tail (only the newest write, after a crash) is cut as before; other damage is restored from a second
// copy's image when that image was taken after the damaged records, else refused naming the file, the bytes and what
// the record still says; --accept-data-loss drops only the damaged records.
import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { MetadataLog, MetaLogCorruption, scanMetaLog } from "../../src/meta/metadata-log.ts";
import { DataLossError, openMetadataLog } from "../../src/meta/meta-recovery.ts";
import { Catalog } from "../../src/meta/catalog.ts";
import { silentLogger } from "../../src/logger.ts";
import { tempDir } from "../helpers/broker.ts";
import { flip } from "../helpers/disk.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A metadata log with topics t0..t(n-1), each created by its own write; returns the path and the log's image after them. */
async function topics(n: number, opts: { close?: boolean; imageAfter?: number } = {}) {
  const d = tempDir();
  dirs.push(d);
  const path = join(d, "metadata.log");
  const log = MetadataLog.open(path, silentLogger);
  const cat = new Catalog(log);
  log.replay();
  let image: Uint8Array | null = null;
  for (let i = 0; i < n; i++) {
    await cat.createTopic(`t${i}`, 1);
    if (opts.imageAfter === i) image = log.image().buf;
  }
  if (opts.close ?? true) await log.close();
  return { path, image };
}

/** Byte position of the record that created topic `name`. */
function recordOf(path: string, name: string): { pos: number; end: number } {
  const r = scanMetaLog(readFileSync(path)).records.find((x) => x.raw.type === "topic" && x.raw.name === name)!;
  return { pos: r.pos, end: r.end };
}

async function names(path: string): Promise<string[]> {
  const log = MetadataLog.open(path, silentLogger);
  const cat = new Catalog(log);
  log.replay();
  const out = [...cat.all()].map((t) => t.name).sort();
  await log.close();
  return out;
}

describe("metadata log damage", () => {
  test("one changed byte in a middle record (case 9): refused, naming the file, the bytes and the record", async () => {
    const { path } = await topics(6);
    const at = recordOf(path, "t2");
    flip(path, at.pos + 30, 1);
    expect(() => MetadataLog.open(path, silentLogger)).toThrow(MetaLogCorruption);
    const err = await openMetadataLog(path, silentLogger, { image: null, acceptDataLoss: false }).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(DataLossError);
    expect(err!.message).toContain(path);
    expect(err!.message).toContain(`bytes ${at.pos}-${at.end}`);
    expect(err!.message).toContain('"type":"topic"'); // what the damaged record still says
    expect(err!.message).toContain("No S3 tier holds a copy");
    expect(err!.message).toContain("--accept-data-loss");
  });

  test("--accept-data-loss drops only the damaged record: the topics created after it are kept", async () => {
    const { path } = await topics(6);
    flip(path, recordOf(path, "t2").pos + 30, 1);
    const log = await openMetadataLog(path, silentLogger, { image: null, acceptDataLoss: true });
    await log.close();
    expect(await names(path)).toEqual(["t0", "t1", "t3", "t4", "t5"]);
  });

  test("restored from a second copy's image taken after the damaged record: nothing lost", async () => {
    const { path, image } = await topics(6, { imageAfter: 3 });
    flip(path, recordOf(path, "t2").pos + 30, 1);
    const log = await openMetadataLog(path, silentLogger, { image: async () => image, acceptDataLoss: false });
    await log.close();
    expect(await names(path)).toEqual(["t0", "t1", "t2", "t3", "t4", "t5"]);
  });

  test("an image taken before the damaged record cannot restore it: refused", async () => {
    const { path, image } = await topics(6, { imageAfter: 1 });
    flip(path, recordOf(path, "t2").pos + 30, 1);
    await expect(openMetadataLog(path, silentLogger, { image: async () => image, acceptDataLoss: false })).rejects.toThrow(/taken before the damaged records/);
  });

  test("damage in the last record after a clean close is corruption too", async () => {
    const { path } = await topics(3);
    flip(path, recordOf(path, "t2").pos + 30, 1);
    expect(() => MetadataLog.open(path, silentLogger)).toThrow(MetaLogCorruption);
  });

  test("a torn tail after a crash (no clean close) is cut, as before", async () => {
    const { path } = await topics(3, { close: false });
    appendFileSync(path, new Uint8Array([0, 0, 0, 90, 1, 2, 3, 4, 5]));
    expect(await names(path)).toEqual(["t0", "t1", "t2"]);
  });
});
