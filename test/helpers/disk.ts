// Looking at and damaging a broker's files the way a failing disk would, for the corruption tests.
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SEGMENT_HEADER, parseEntry, segmentFormat, type ParsedEntry } from "../../src/wal/entry.ts";

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
