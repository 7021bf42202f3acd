// An in-memory ObjectStore twin for unit tests only (everything across a process boundary uses MinIO). The
// contract suite (test/s3/store-contract.test.ts) runs the same scenarios against it and MinIO, so it cannot drift.
import { ObjectNotFound, ObjectStoreError, PreconditionFailed, type ByteRange, type GetResult, type ListResult, type ObjectStore, type PutConditions, type StoredObject } from "../../src/s3/store.ts";

export class MemoryStore implements ObjectStore {
  readonly describe = "memory store";
  readonly objects = new Map<string, { body: Uint8Array; etag: string }>();
  private n = 0;
  /** Set to make every call fail as S3 being away would. */
  down = false;
  /** Set to behave like MinIO before 2025-09 (minio/minio#21526): If-Match on a missing key writes it anyway. */
  ifMatchCreatesMissing = false;
  calls = { put: 0, get: 0, head: 0, list: 0, delete: 0 };

  private check(): void {
    if (this.down) throw new ObjectStoreError("memory store is down", true);
  }

  async put(key: string, body: Uint8Array, cond: PutConditions = {}): Promise<{ etag: string }> {
    this.calls.put++;
    this.check();
    const cur = this.objects.get(key);
    if (cond.ifNoneMatch === "*" && cur) throw new PreconditionFailed(`${key} exists`);
    if (cond.ifMatch !== undefined) {
      if (!cur && !this.ifMatchCreatesMissing) throw new ObjectNotFound(`${key} does not exist`);
      if (cur && cur.etag !== cond.ifMatch) throw new PreconditionFailed(`${key} has another ETag`);
    }
    const etag = `"m${++this.n}"`;
    this.objects.set(key, { body: body.slice(), etag });
    return { etag };
  }

  async get(key: string, range?: ByteRange, ifMatch?: string): Promise<GetResult> {
    this.calls.get++;
    this.check();
    const o = this.objects.get(key);
    if (!o) throw new ObjectNotFound(`${key} does not exist`);
    if (ifMatch !== undefined && ifMatch !== o.etag) throw new PreconditionFailed(`${key} has another ETag`);
    const size = o.body.length;
    let start = 0;
    let end = size;
    if (range && "suffix" in range) start = Math.max(0, size - range.suffix);
    else if (range) {
      if (range.start >= size) throw new PreconditionFailed(`range ${range.start}- of ${key} is not satisfiable`);
      start = range.start;
      end = Math.min(size, range.end);
    }
    return { body: o.body.slice(start, end), etag: o.etag, size };
  }

  async head(key: string): Promise<StoredObject | null> {
    this.calls.head++;
    this.check();
    const o = this.objects.get(key);
    return o ? { key, size: o.body.length, etag: o.etag } : null;
  }

  async list(prefix: string, opts: { delimiter?: string; startAfter?: string } = {}): Promise<ListResult> {
    this.calls.list++;
    this.check();
    const out: ListResult = { objects: [], prefixes: [] };
    const prefixes = new Set<string>();
    for (const key of [...this.objects.keys()].sort()) {
      if (!key.startsWith(prefix) || (opts.startAfter !== undefined && key <= opts.startAfter)) continue;
      const rest = key.slice(prefix.length);
      const cut = opts.delimiter ? rest.indexOf(opts.delimiter) : -1;
      if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + 1));
      else out.objects.push({ key, size: this.objects.get(key)!.body.length, etag: this.objects.get(key)!.etag });
    }
    out.prefixes = [...prefixes].sort();
    return out;
  }

  async delete(key: string): Promise<void> {
    this.calls.delete++;
    this.check();
    this.objects.delete(key);
  }
}
