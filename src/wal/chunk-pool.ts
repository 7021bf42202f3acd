// The chunk pool: written WAL groups kept in memory for tail reads, in a bounded set of reusable slabs.
//
// A group is copied once, into a region of the current slab; the WAL writes it from there (one pwrite) and, once
// it is durable, registers the region as a chunk that reads return views of. Slabs are allocated as they are first
// needed, up to --chunk-pool-memory, then reused oldest first, dropping the chunks they held (those batches are
// then read from the segment files). So the pool's memory is bounded and stays warm, and no buffer per group is
// left for the garbage collector: before slabs, every group was its own allocation, freed whenever the GC got to it
// (RSS several times the pool, 10-25 ms pauses to free them).
//
// A view stays valid while the WAL writes nothing, i.e. until the current event-loop turn's microtasks have run
// (the WAL reserves space only at the start of a turn, see Wal.writeGroup). Readers copy what they keep at once: a
// fetch into its read pages (log/read.ts), the S3 flusher into the object it builds.

export interface Chunk {
  segment: number;
  /** File position of the chunk's first byte. */
  pos: number;
  buf: Uint8Array;
}

/** A region reserved for one group: `chunk` names it once it is written (-1: not pooled, never readable). */
export interface Reservation {
  buf: Uint8Array;
  chunk: number;
}

const MIN_SLAB = 64 * 1024;
const MAX_SLAB = 4 * 1024 * 1024;

export class ChunkPool {
  /** Largest group the pool holds; the WAL seals groups at this size. */
  readonly slabBytes: number;
  private readonly maxSlabs: number;
  private readonly slabs: Uint8Array[] = [];
  /** Chunk ids living in each slab, dropped when the slab is reused. */
  private readonly slabChunks: number[][] = [];
  private current = -1;
  private used = 0;
  private readonly chunks = new Map<number, Chunk>();
  /** Reserved and not yet committed: chunk id → slab. */
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
   * Room for a group of n bytes. Moving to the next slab drops the chunks it held. A group larger than a slab
   * gets a buffer of its own, which is written but not kept.
   */
  reserve(n: number): Reservation {
    if (n > this.slabBytes) return { buf: new Uint8Array(n), chunk: -1 };
    if (this.current < 0 || this.used + n > this.slabBytes) this.nextSlab();
    const buf = this.slabs[this.current]!.subarray(this.used, this.used + n);
    this.used += n;
    const chunk = this.nextChunk++;
    this.pending.set(chunk, this.current);
    this.slabChunks[this.current]!.push(chunk);
    return { buf, chunk };
  }

  /** The reserved region is durable at `pos` of `segment`: reads may use it until its slab is reused. */
  commit(r: Reservation, segment: number, pos: number): void {
    if (r.chunk < 0 || !this.pending.delete(r.chunk)) return; // not pooled, or its slab went meanwhile
    this.chunks.set(r.chunk, { segment, pos, buf: r.buf });
    this.bytes += r.buf.length;
  }

  get(chunk: number): Chunk | undefined {
    return this.chunks.get(chunk);
  }

  /** Forgets every chunk of a segment (it is being deleted). */
  dropSegment(segment: number): void {
    for (const [id, c] of this.chunks) if (c.segment === segment) this.drop(id);
  }

  private nextSlab(): void {
    const next = (this.current + 1) % this.maxSlabs;
    if (next === this.slabs.length) {
      this.slabs.push(new Uint8Array(this.slabBytes));
      this.slabChunks.push([]);
    } else {
      for (const id of this.slabChunks[next]!) this.drop(id);
      this.slabChunks[next] = [];
    }
    this.current = next;
    this.used = 0;
  }

  private drop(id: number): void {
    this.pending.delete(id);
    const c = this.chunks.get(id);
    if (!c) return;
    this.chunks.delete(id);
    this.bytes -= c.buf.length;
  }
}
