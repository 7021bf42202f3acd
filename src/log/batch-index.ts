// Per-partition index of durable batches, in offset order: where each batch lives (WAL segment, file position,
// size, memory chunk) and its offset range and max timestamp. Struct-of-arrays over typed arrays, so a partition
// with millions of batches costs ~44 bytes each and no objects. Prefix drops (log start moves) are O(1) amortized.
// An empty index shares zero-length arrays, so a partition that never got data costs no index memory.

const NO_F64 = new Float64Array(0);
const NO_I32 = new Int32Array(0);
const FIRST_CAP = 32;

export class BatchIndex {
  private cap = 0;
  private head = 0; // first live slot
  private tail = 0; // one past the last live slot
  base = NO_F64;
  last = NO_F64;
  maxTs = NO_F64;
  pos = NO_F64;
  seg = NO_I32;
  size = NO_I32;
  chunk = NO_I32;

  get length(): number {
    return this.tail - this.head;
  }

  /** Slot number of the i-th live batch. */
  slot(i: number): number {
    return this.head + i;
  }

  push(base: number, last: number, maxTs: number, seg: number, pos: number, size: number, chunk: number): void {
    if (this.tail === this.cap) this.grow();
    const t = this.tail++;
    this.base[t] = base;
    this.last[t] = last;
    this.maxTs[t] = maxTs;
    this.seg[t] = seg;
    this.pos[t] = pos;
    this.size[t] = size;
    this.chunk[t] = chunk;
  }

  private grow(): void {
    const live = this.tail - this.head;
    const cap = this.cap === 0 ? FIRST_CAP : live * 2 < this.cap ? this.cap : this.cap * 2;
    const move = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(this.head, this.tail));
      return b;
    };
    this.base = move(this.base, (n) => new Float64Array(n));
    this.last = move(this.last, (n) => new Float64Array(n));
    this.maxTs = move(this.maxTs, (n) => new Float64Array(n));
    this.pos = move(this.pos, (n) => new Float64Array(n));
    this.seg = move(this.seg, (n) => new Int32Array(n));
    this.size = move(this.size, (n) => new Int32Array(n));
    this.chunk = move(this.chunk, (n) => new Int32Array(n));
    this.cap = cap;
    this.head = 0;
    this.tail = live;
  }

  /** Slot of the first batch whose last offset is >= offset, or -1 when there is none. */
  find(offset: number): number {
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.last[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.tail ? lo : -1;
  }

  get end(): number {
    return this.tail;
  }
  get start(): number {
    return this.head;
  }

  /** Drops every batch whose last offset is below offset. */
  dropBefore(offset: number): void {
    while (this.head < this.tail && this.last[this.head]! < offset) this.head++;
    if (this.head === this.tail) this.head = this.tail = 0;
  }

  /** Drops every batch stored in WAL segments up to and including segment id; returns the first offset kept. */
  dropSegmentsUpTo(segment: number): number | null {
    let dropped: number | null = null;
    while (this.head < this.tail && this.seg[this.head]! <= segment) {
      dropped = this.last[this.head]! + 1;
      this.head++;
    }
    if (this.head === this.tail) this.head = this.tail = 0;
    return dropped;
  }

  /** Whether any batch lives in the given WAL segment or an older one. */
  hasSegmentUpTo(segment: number): boolean {
    return this.head < this.tail && this.seg[this.head]! <= segment;
  }
}
