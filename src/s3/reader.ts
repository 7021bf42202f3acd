// Reads batches out of data objects: the footer with one ranged GET of the object's tail (cached in memory
// afterwards, LRU within a byte budget), a binary search in it, then one ranged GET for exactly the batches wanted.
// Every data GET carries If-Match with the ETag the footer came from: if compaction replaced the object meanwhile
// the GET fails instead of returning bytes from the wrong layout, and the footer is fetched again.
import { batchBaseOffset, batchIsIntact, CorruptBatchError } from "../protocol/records.ts";
import { decodeFooter, footerBytes, ObjectFormatError, type Footer } from "./object.ts";
import { PreconditionFailed, type ObjectStore } from "./store.ts";

export interface CachedFooter {
  footer: Footer;
  etag: string;
  size: number;
}

/** Tail bytes to ask for when the batch count is unknown: footers of up to ~1800 batches in one GET. */
const DEFAULT_TAIL = 64 * 1024;
const REPLACED_RETRIES = 3;
const EMPTY = new Uint8Array(0);

export class ObjectReader {
  private readonly footers = new Map<string, CachedFooter & { bytes: number }>();
  private readonly loading = new Map<string, Promise<CachedFooter>>();
  private cachedBytes = 0;
  /** GETs issued, for tests and the benchmark. */
  gets = 0;

  constructor(private readonly store: ObjectStore, private readonly budgetBytes = 64 * 1024 * 1024) {}

  /**
   * The footer of `key`; `batches` (when known) sizes the tail GET exactly. With `etag` (what the manifest says the
   * object is), a cached footer of another version is fetched again: compaction rewrote the object, and an old
   * footer could claim the object ends before offsets the new one holds, so no GET would ever notice.
   */
  footer(key: string, batches?: number, etag?: string): Promise<CachedFooter> {
    let hit = this.footers.get(key);
    if (hit && etag !== undefined && hit.etag !== etag) {
      this.invalidate(key);
      hit = undefined;
    }
    if (hit) {
      this.footers.delete(key); // most recently used goes last
      this.footers.set(key, hit);
      return Promise.resolve(hit);
    }
    let p = this.loading.get(key);
    if (!p) {
      p = this.load(key, batches).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  private async load(key: string, batches?: number): Promise<CachedFooter> {
    this.gets++;
    const tail = await this.store.get(key, { suffix: batches ? footerBytes(batches) : DEFAULT_TAIL });
    let f = decodeFooter(tail.body, tail.size);
    if ("need" in f) {
      // More batches than guessed: one more GET for the whole footer, of the same object version.
      this.gets++;
      const more = await this.store.get(key, { suffix: f.need }, tail.etag);
      f = decodeFooter(more.body, tail.size);
      if ("need" in f) throw new ObjectFormatError(`footer of ${key} needs ${f.need} bytes, got ${more.body.length}`);
    }
    const cached = { footer: f, etag: tail.etag, size: tail.size, bytes: 64 + f.count * 44 };
    this.footers.set(key, cached);
    this.cachedBytes += cached.bytes;
    while (this.cachedBytes > this.budgetBytes && this.footers.size > 1) this.invalidate(this.footers.keys().next().value as string);
    return cached;
  }

  /** Forgets a footer (the object was replaced or deleted). */
  invalidate(key: string): void {
    const c = this.footers.get(key);
    if (!c) return;
    this.footers.delete(key);
    this.cachedBytes -= c.bytes;
  }

  /**
   * Batches i..j-1 of the object the footer describes: one ranged GET, checked against the footer and every batch's
   * CRC (cut short before a damaged batch; CorruptBatchError when the first one is).
   */
  async batches(key: string, f: CachedFooter, i: number, j: number): Promise<Uint8Array> {
    if (j <= i) return EMPTY;
    const start = f.footer.pos[i]!;
    const end = f.footer.pos[j - 1]! + f.footer.size[j - 1]!;
    this.gets++;
    const r = await this.store.get(key, { start, end }, f.etag);
    if (r.body.length !== end - start || batchBaseOffset(r.body) !== f.footer.base[i]) {
      throw new ObjectFormatError(`${key} bytes ${start}-${end} do not hold the batch at ${f.footer.base[i]} its footer describes`);
    }
    // Every batch's CRC is checked before it is served: damage in the bucket is an error, never bytes passed on. The
    // intact batches before a damaged one are served; the reader asking for the damaged one next gets the error.
    for (let k = i, pos = 0; k < j; pos += f.footer.size[k]!, k++) {
      if (batchIsIntact(r.body, pos, pos + f.footer.size[k]!)) continue;
      if (k > i) return r.body.subarray(0, pos);
      throw new CorruptBatchError(`${key}: the batch at offset ${f.footer.base[k]} (bytes ${start + pos}-${start + pos + f.footer.size[k]!}) fails its CRC`, f.footer.base[k]!);
    }
    return r.body;
  }

  /**
   * Batches of `key` from the first one whose last offset is >= offset, up to maxBytes (with minOne at least one).
   * null when the object holds nothing at or after offset; bytes 0 when the first batch does not fit maxBytes.
   */
  async read(key: string, offset: number, maxBytes: number, minOne: boolean, batches?: number, etag?: string): Promise<{ data: Uint8Array; bytes: number } | null> {
    for (let attempt = 0; ; attempt++) {
      const f = await this.footer(key, batches, attempt === 0 ? etag : undefined);
      const { footer } = f;
      const i = footer.find(offset);
      if (i >= footer.count) return null;
      let j = i;
      let bytes = 0;
      while (j < footer.count && (bytes + footer.size[j]! <= maxBytes || (minOne && j === i))) bytes += footer.size[j++]!;
      try {
        const data = await this.batches(key, f, i, j);
        return { data, bytes: data.length < bytes ? data.length : bytes };
      } catch (e) {
        if (!(e instanceof PreconditionFailed) || attempt >= REPLACED_RETRIES) throw e;
        this.invalidate(key); // replaced by compaction: read its new footer
      }
    }
  }
}
