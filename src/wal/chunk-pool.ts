// The chunk pool: WAL groups kept in memory for tail reads, in a bounded set of reusable slabs.
//
// Each entry is copied once, when it is appended, into the region of the current slab that its group fills (a
// region grows with its group, up to the slab's end). The WAL writes the group from there (one pwrite) and, once it
// is durable, the region becomes a chunk that reads return views of. Slabs are allocated as they are first needed,
// up to --chunk-pool-memory, then reused oldest first, dropping the chunks they held (those batches are then read
// from the segment files). So the pool's memory is bounded and stays warm, and no buffer per group is left for the
// garbage collector. Copying at append (not when the group is written) lets the request that carried the batch go
// at once: a request buffer held until its group is written outlived young-generation collections and piled up as
// old garbage (RSS twice the pool after a minute of produce) until a full collection came.
//
// A slab holding a region not yet written (pending) is never reused: if the next slab has one, the group gets a
// buffer of its own (written, never readable from memory), as does a group larger than a slab. A failed group gives
// its region up (abandon). Readers copy what they keep at once (a fetch into its read pages, the S3 flusher into
// the object it builds), so a slab may be reused at any time.

export interface Chunk {
  segment: number;
  /** File position of the chunk's first byte. */
  pos: number;
  buf: Uint8Array;
}

/**
 * Where a group's bytes go: `buf` is the slab (or a buffer of the group's own) and the group fills it from `start`;
 * `chunk` names it once it is written (-1: not pooled, never readable).
 */
export interface Region {
  buf: Uint8Array;
  dv: DataView;
  start: number;
  /** Bytes filled so far. */
  used: number;
  /** Bytes it may grow to. */
  cap: number;
  chunk: number;
  slab: number;
  closed: boolean;
}

const MIN_SLAB = 64 * 1024;
const MAX_SLAB = 4 * 1024 * 1024;

export class ChunkPool {
  /** Largest group the pool holds; the WAL seals groups at this size. */
  readonly slabBytes: number;
  private readonly maxSlabs: number;
  private readonly slabs: Uint8Array[] = [];
  private readonly views: DataView[] = [];
  /** Chunk ids living in each slab, dropped when the slab is reused. */
  private readonly slabChunks: number[][] = [];
  /** Regions not yet written, per slab: such a slab is not reused. */
  private readonly slabPending: number[] = [];
  private current = -1;
  private used = 0;
  private open: Region | null = null;
  private readonly chunks = new Map<number, Chunk>();
  /** Regions not yet committed: chunk id → slab. */
  private readonly pending = new Map<number, number>();
  private nextChunk = 1;
  /** Bytes of live chunks. */
  bytes = 0;

  constructor(budgetBytes: number) {
    // Enough slabs that reusing one gives up a small part of the pool; at least two, so the newest data survives.
    this.slabBytes = Math.max(MIN_SLAB, Math.min(MAX_SLAB, Math.floor(budgetBytes / 16)));
    this.maxSlabs = Math.max(2, Math.floor(budgetBytes / this.slabBytes));
  }

  /** Memory the slabs take (allocated so far). */
  get allocatedBytes(): number {
    return this.slabs.length * this.slabBytes;
  }

  /**
   * A region for a new group whose first entry takes `first` bytes: where the current slab's free space starts, else
   * at the start of the next slab (dropping the chunks it held), else (a group larger than a slab, or the next slab
   * still holding a group not yet written) a buffer of its own. One region is open (growing) at a time.
   */
  region(first: number): Region {
    if (this.open !== null) this.close(this.open);
    if (first > this.slabBytes) return this.own(first);
    if (this.current < 0 || this.used + first > this.slabBytes) {
      const next = (this.current + 1) % this.maxSlabs;
      if (next < this.slabs.length && this.slabPending[next]! > 0) return this.own(this.slabBytes);
      this.nextSlab(next);
    }
    const r: Region = { buf: this.slabs[this.current]!, dv: this.views[this.current]!, start: this.used, used: 0, cap: this.slabBytes - this.used, chunk: this.nextChunk++, slab: this.current, closed: false };
    this.pending.set(r.chunk, this.current);
    this.slabPending[this.current]!++;
    this.slabChunks[this.current]!.push(r.chunk);
    this.open = r;
    return r;
  }

  private own(n: number): Region {
    const buf = new Uint8Array(n);
    return { buf, dv: new DataView(buf.buffer), start: 0, used: 0, cap: n, chunk: -1, slab: -1, closed: false };
  }

  /** Room for n more bytes of the region's group: the offset in r.buf to write them at, or -1 when it is full. */
  take(r: Region, n: number): number {
    if (r.closed || r.used + n > r.cap) return -1;
    const at = r.start + r.used;
    r.used += n;
    return at;
  }

  /** The group is complete: the slab's free space starts after it. Returns its bytes. */
  close(r: Region): Uint8Array {
    if (!r.closed) {
      r.closed = true;
      if (this.open === r) {
        this.open = null;
        this.used = r.start + r.used;
      }
    }
    return r.buf.subarray(r.start, r.start + r.used);
  }

  /** The region's group is durable at `pos` of `segment`: reads may use it until its slab is reused. */
  commit(r: Region, segment: number, pos: number): void {
    if (!this.settle(r)) return;
    const buf = r.buf.subarray(r.start, r.start + r.used);
    this.chunks.set(r.chunk, { segment, pos, buf });
    this.bytes += buf.length;
  }

  /** The region's group failed: its slab may be reused. */
  abandon(r: Region): void {
    this.close(r);
    this.settle(r);
  }

  private settle(r: Region): boolean {
    const slab = r.chunk < 0 ? undefined : this.pending.get(r.chunk);
    if (slab === undefined) return false;
    this.pending.delete(r.chunk);
    this.slabPending[slab]!--;
    return true;
  }

  get(chunk: number): Chunk | undefined {
    return this.chunks.get(chunk);
  }

  /** Forgets every chunk of a segment (it is being deleted). */
  dropSegment(segment: number): void {
    for (const [id, c] of this.chunks) if (c.segment === segment) this.drop(id);
  }

  private nextSlab(next: number): void {
    if (next === this.slabs.length) {
      const s = new Uint8Array(this.slabBytes);
      this.slabs.push(s);
      this.views.push(new DataView(s.buffer));
      this.slabChunks.push([]);
      this.slabPending.push(0);
    } else {
      for (const id of this.slabChunks[next]!) this.drop(id);
      this.slabChunks[next] = [];
    }
    this.current = next;
    this.used = 0;
  }

  private drop(id: number): void {
    const c = this.chunks.get(id);
    if (!c) return;
    this.chunks.delete(id);
    this.bytes -= c.buf.length;
  }
}
