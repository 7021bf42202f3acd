// The fuzzer behind test/fuzz/fuzz.test.ts and scripts/fuzz: request frames captured from real clients
// (test/fuzz/corpus/, scripts/fuzz-capture.ts), mutated at the byte level and through the generated codecs
// (field-aware: a decoded request with one field changed, re-encoded, or encoded at another version), sent to a broker
// running as its own process. A frame fails the run when the broker
//   - logs a handler exception ("internal error": a bug; a frame that does not parse may close its connection, that
//     is the protocol's answer),
//   - answers with a response that does not decode for the request's API and version,
//   - stops answering a healthy connection, or exits.
// Each connection carries one frame at a time, so a log line naming a connection names the frame. A failure carries
// the frame as hex; saved under test/fuzz/regressions/, it is replayed by the test before anything random.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { Reader, Writer } from "../../src/protocol/codec.ts";
import { crc32c } from "../../src/protocol/crc32c.ts";
import { CODECS, type ApiKey } from "../../src/protocol/messages/index.ts";
import { readRequestHeader, requestHeaderVersion, writeRequestHeader } from "../../src/protocol/messages/request-header.ts";
import { readResponseHeader, responseHeaderVersion } from "../../src/protocol/messages/response-header.ts";
import { HANDLERS } from "../../src/handlers/index.ts";

export const FUZZ_DIR = import.meta.dir;
export const CORPUS_DIR = join(FUZZ_DIR, "corpus");
export const REGRESSIONS_DIR = join(FUZZ_DIR, "regressions");

type Codec = (typeof CODECS)[ApiKey];

export interface Seed {
  source: string;
  /** The frame without its size prefix: header and body. */
  frame: Uint8Array;
}

/** Every frame of the captured corpus (and the saved regression frames, source "regression"). */
export function loadCorpus(): Seed[] {
  const seeds: Seed[] = [];
  for (const f of readdirSync(CORPUS_DIR).filter((x) => x.endsWith(".frames")).sort()) {
    const buf = readFileSync(join(CORPUS_DIR, f));
    for (let pos = 0; pos + 4 <= buf.length; ) {
      const size = buf.readInt32BE(pos);
      seeds.push({ source: f.replace(/\.frames$/, ""), frame: new Uint8Array(buf.subarray(pos + 4, pos + 4 + size)) });
      pos += 4 + size;
    }
  }
  return seeds;
}

/** Frames saved from failed runs (hex, one file each): replayed first. */
export function loadRegressions(): Seed[] {
  if (!existsSync(REGRESSIONS_DIR)) return [];
  return readdirSync(REGRESSIONS_DIR)
    .filter((f) => f.endsWith(".hex"))
    .sort()
    .map((f) => ({ source: `regression ${f}`, frame: Uint8Array.from(Buffer.from(readFileSync(join(REGRESSIONS_DIR, f), "utf8").replace(/\s+/g, ""), "hex")) }));
}

// --- randomness (seeded, so a run can be repeated) -------------------------------------------------------------

export class Rng {
  constructor(private s: number) {}
  next(): number {
    // mulberry32
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// --- byte-level mutation --------------------------------------------------------------------------------------

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0x100];

function setBE(b: Uint8Array, pos: number, width: number, v: number): void {
  for (let i = width - 1; i >= 0; i--) {
    if (pos + i < b.length) b[pos + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}

/** Re-seals a record batch found at pos (magic 2 there) with a valid CRC: damage behind the CRC reaches validation. */
function resealBatches(b: Uint8Array): void {
  for (let pos = 0; pos + 61 <= b.length; pos++) {
    if (b[pos + 16] !== 2) continue;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const size = dv.getInt32(pos + 8) + 12;
    if (size < 61 || pos + size > b.length) continue;
    dv.setUint32(pos + 17, crc32c(b, pos + 21, pos + size));
    return;
  }
}

export function mutateBytes(frame: Uint8Array, rng: Rng, other: Uint8Array): Uint8Array {
  let b = frame.slice();
  // The first 8 bytes (API key, version, correlation id) usually stay, so most frames reach a handler.
  const from = rng.chance(0.9) ? Math.min(8, b.length) : 0;
  const span = Math.max(1, b.length - from);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = from + rng.int(span);
    switch (rng.int(8)) {
      case 0:
        if (at < b.length) b[at]! ^= 1 << rng.int(8);
        break;
      case 1:
        if (at < b.length) b[at] = rng.int(256);
        break;
      case 2:
        setBE(b, at, rng.pick([1, 2, 4, 8]), rng.pick(INTERESTING));
        break;
      case 3: {
        const n = 1 + rng.int(16);
        const ins = Uint8Array.from({ length: n }, () => rng.int(256));
        b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
        break;
      }
      case 4: {
        const n = 1 + rng.int(Math.max(1, Math.min(64, b.length - at)));
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + n)]);
        break;
      }
      case 5:
        b = b.slice(0, at); // truncated
        break;
      case 6: {
        const cut = rng.int(other.length + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...other.subarray(cut)]); // spliced with another frame
        break;
      }
      default: {
        const n = 1 + rng.int(Math.max(1, Math.min(256, b.length - at)));
        const chunk = b.slice(at, at + n);
        b = Uint8Array.from([...b.subarray(0, at), ...chunk, ...chunk, ...b.subarray(at)]); // a duplicated run
      }
    }
  }
  if (rng.chance(0.5)) resealBatches(b);
  return b;
}

// --- field-aware mutation through the generated codecs ----------------------------------------------------------

interface Parsed {
  key: number;
  version: number;
  correlationId: number;
  clientId: string | null;
  body: unknown;
}

function parse(frame: Uint8Array): Parsed | null {
  if (frame.length < 8) return null;
  const key = new DataView(frame.buffer, frame.byteOffset).getInt16(0);
  const codec = (CODECS as Record<number, Codec>)[key];
  if (!codec) return null;
  try {
    const r = new Reader(frame);
    const version = new DataView(frame.buffer, frame.byteOffset).getInt16(2);
    const h = readRequestHeader(r, requestHeaderVersion(codec.REQUEST_FLEXIBLE_MIN, version));
    const body = (codec.decodeRequest as (r: Reader, v: number) => unknown)(r, version);
    return { key, version, correlationId: h.correlationId, clientId: h.clientId ?? null, body };
  } catch {
    return null;
  }
}

function encode(p: Parsed): Uint8Array {
  const codec = (CODECS as Record<number, Codec>)[p.key]!;
  const w = new Writer(256);
  writeRequestHeader(w, { requestApiKey: p.key, requestApiVersion: p.version, correlationId: p.correlationId, clientId: p.clientId }, requestHeaderVersion(codec.REQUEST_FLEXIBLE_MIN, p.version));
  (codec.encodeRequest as (w: Writer, m: unknown, v: number) => void)(w, p.body, p.version);
  return w.finish().slice();
}

type Slot = { get(): unknown; set(v: unknown): void };

/** Every field of a decoded request (depth first), as get/set pairs. */
function slots(v: unknown, out: Slot[] = [], depth = 0): Slot[] {
  if (depth > 6 || v === null || typeof v !== "object" || v instanceof Uint8Array) return out;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    out.push({ get: () => o[k], set: (x) => (o[k] = x) });
    const x = o[k];
    if (Array.isArray(x)) for (const e of x.slice(0, 8)) slots(e, out, depth + 1);
    else slots(x, out, depth + 1);
  }
  return out;
}

const NUMBERS = [0, -1, 1, 2, 0x7fffffff, -0x80000000, 0x7fff, -0x8000, 255, 1000, 65536, 1e9];
const BIGINTS = [0n, -1n, 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 31n, 123456789n];
const STRINGS = ["", "a", "x".repeat(300), "ünïcødé-☃", "..", "__consumer_offsets", "a/b", "\u0000", "kjs", "java", "go"];

function mutateValue(v: unknown, rng: Rng): unknown {
  if (typeof v === "number") return rng.chance(0.7) ? rng.pick(NUMBERS) : v + rng.pick([-1, 1, 1000, -1000]);
  if (typeof v === "bigint") return rng.chance(0.7) ? rng.pick(BIGINTS) : v + BigInt(rng.pick([-1, 1, 1000]));
  if (typeof v === "boolean") return !v;
  if (typeof v === "string") return rng.chance(0.8) ? rng.pick(STRINGS) : v + v;
  if (v === null) return rng.chance(0.5) ? "" : null;
  if (v instanceof Uint8Array) return v.length ? mutateBytes(v, rng, v) : new Uint8Array(rng.int(100));
  if (Array.isArray(v)) {
    switch (rng.int(4)) {
      case 0:
        return [];
      case 1:
        return v.length ? Array.from({ length: 1 + rng.int(64) }, () => structuredCloneish(rng.pick(v))) : v;
      case 2:
        return v.slice().reverse();
      default:
        return v.slice(1);
    }
  }
  return v;
}

/** A deep copy that keeps Uint8Arrays and bigints. */
function structuredCloneish<T>(v: T): T {
  if (v instanceof Uint8Array) return v.slice() as T;
  if (Array.isArray(v)) return v.map(structuredCloneish) as T;
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, structuredCloneish(x)])) as T;
  return v;
}

export function mutateFields(frame: Uint8Array, rng: Rng): Uint8Array | null {
  const p = parse(frame);
  if (!p) return null;
  if (rng.chance(0.2)) {
    // The same request at another version the broker serves (or just outside it).
    const h = HANDLERS.get(p.key);
    if (h) p.version = rng.chance(0.9) ? h.minVersion + rng.int(h.maxVersion - h.minVersion + 1) : rng.pick([h.minVersion - 1, h.maxVersion + 1]);
  }
  const all = slots(p.body);
  for (let i = 0, n = 1 + rng.int(3); i < n && all.length; i++) {
    const s = rng.pick(all);
    s.set(mutateValue(s.get(), rng));
  }
  try {
    return encode(p);
  } catch {
    return null; // a value the encoder cannot write (the wrong type for that version): not a wire frame
  }
}

export function mutate(seed: Seed, rng: Rng, corpus: readonly Seed[]): Uint8Array {
  if (rng.chance(0.5)) {
    const f = mutateFields(seed.frame, rng);
    if (f) return rng.chance(0.2) ? mutateBytes(f, rng, rng.pick(corpus).frame) : f;
  }
  return mutateBytes(seed.frame, rng, rng.pick(corpus).frame);
}

// --- sending ------------------------------------------------------------------------------------------------------

export type Outcome = { kind: "answered"; frame: Uint8Array } | { kind: "closed" } | { kind: "silent" };

/** One connection carrying one frame at a time. */
export class FuzzConnection {
  private buf = new Uint8Array(0);
  private waiter: ((o: Outcome) => void) | null = null;
  closed = false;
  localPort = 0;

  private constructor(private socket: Socket<undefined> | null) {}

  static async open(port: number): Promise<FuzzConnection> {
    let c: FuzzConnection;
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_s, chunk) => c.onData(chunk),
        close: () => c.onClose(),
        error: () => c.onClose(),
      },
    });
    c = new FuzzConnection(socket);
    c.localPort = (socket as unknown as { localPort: number }).localPort;
    return c;
  }

  private onData(chunk: Uint8Array): void {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    this.buf = b;
    if (this.buf.length < 4) return;
    const size = new DataView(this.buf.buffer, this.buf.byteOffset).getInt32(0);
    if (this.buf.length < 4 + size) return;
    const frame = this.buf.slice(4, 4 + size);
    this.buf = this.buf.slice(4 + size);
    this.settle({ kind: "answered", frame });
  }

  private onClose(): void {
    this.closed = true;
    this.settle({ kind: "closed" });
  }

  private settle(o: Outcome): void {
    const w = this.waiter;
    this.waiter = null;
    w?.(o);
  }

  /** Sends one frame; resolves with its response, the connection's close, or silence after waitMs. */
  send(frame: Uint8Array, waitMs: number): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ kind: "closed" });
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle({ kind: "silent" }), waitMs);
      this.waiter = (o) => {
        clearTimeout(timer);
        resolve(o);
      };
      const out = new Uint8Array(4 + frame.length);
      new DataView(out.buffer).setInt32(0, frame.length);
      out.set(frame, 4);
      for (let off = 0; off < out.length; ) {
        const n = this.socket!.write(out.subarray(off));
        if (n <= 0) break;
        off += n;
      }
    });
  }

  close(): void {
    this.socket?.end();
    this.socket = null;
    this.closed = true;
  }
}

/** A response that does not decode for the API and version the frame asked for is a bug; returns why, or null. */
export function checkResponse(request: Uint8Array, response: Uint8Array): string | null {
  if (request.length < 8) return null;
  const dv = new DataView(request.buffer, request.byteOffset);
  const key = dv.getInt16(0);
  const version = dv.getInt16(2);
  const correlationId = dv.getInt32(4);
  const codec = (CODECS as Record<number, Codec>)[key];
  const h = HANDLERS.get(key);
  if (!codec || !h) return null;
  const r = new Reader(response);
  try {
    const got = readResponseHeader(r, responseHeaderVersion(key, codec.RESPONSE_FLEXIBLE_MIN, key === 18 ? 0 : version)).correlationId;
    if (got !== correlationId) return `response correlation id ${got}, request ${correlationId}`;
    if (key === 18 && (version < h.minVersion || version > h.maxVersion)) return null; // answered in v0 (UNSUPPORTED_VERSION)
    (codec.decodeResponse as (r: Reader, v: number) => unknown)(r, version);
    return null;
  } catch (e) {
    return `the ${codec.API_NAME} v${version} response does not decode: ${(e as Error).message}`;
  }
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
