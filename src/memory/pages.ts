// Read pages: the reused buffers fetch responses are built in. A fetch copies the batches it returns into pages (from
// the chunk pool's memory, with one pread per run of contiguous WAL entries, or from an S3 body); the response is
// then written to the socket as slices of those pages, and the pages come back to the pool once the socket has taken
// the bytes (or the connection is gone). So reading creates no garbage per batch or per response, and the memory in
// flight is bounded twice: by the pool (a share of --memory-limit) and per connection (an Account), so one client that
// does not read cannot hold the memory every other client reads with.
//
// Pages are fixed-size and belong to one response each; a response of 55 MiB is ~900 of them, a tail fetch of one
// small batch one. They are allocated as needed up to the pool's size and then reused (never freed).
//
// Who gets pages (so that clients that stop reading cannot starve the others):
//   - a connection holds at most its Account's cap (a share of the pool);
//   - and at most as much as would stay free for everyone else: the more the pool is taken, the less each
//     connection may add, so N stuck connections leave about 2^-N of the pool, never nothing at once;
//   - an eighth of the pool is kept back for a fetch's first batch on a connection that holds nothing else (KIP-74's
//     "at least one batch"): a client that reads its responses always gets one batch, whatever others hold.

export const PAGE_BYTES = 64 * 1024;

/** Memory one connection's responses hold. */
export class Account {
  held = 0;
  constructor(readonly cap: number) {}
}

export class PagePool {
  private readonly free: Uint8Array[] = [];
  private allocated = 0;
  /** Bytes of pages handed out and not yet given back. */
  inUse = 0;
  /** Bytes only a first batch may use. */
  readonly reserve: number;
  private waiters: (() => void)[] = [];

  constructor(readonly maxBytes: number) {
    this.reserve = Math.floor(maxBytes / 8);
  }

  /** Bytes of pages that exist (handed out or free). */
  get allocatedBytes(): number {
    return this.allocated * PAGE_BYTES;
  }

  /** How many more pages `account` may take now (`first`: a first batch on a connection holding nothing else). */
  available(account: Account, first: boolean): number {
    if (first) return Math.max(0, Math.floor((this.maxBytes - this.inUse) / PAGE_BYTES));
    const free = this.maxBytes - this.reserve - this.inUse;
    const fair = Math.floor((free - account.held) / (2 * PAGE_BYTES));
    const share = Math.floor((account.cap - account.held) / PAGE_BYTES);
    return Math.max(0, Math.min(fair, share));
  }

  /** A page for `account`, or null when the rules above give it none. */
  take(account: Account, first = false): Uint8Array | null {
    if (this.available(account, first) < 1) return null;
    let page = this.free.pop();
    if (page === undefined) {
      page = new Uint8Array(PAGE_BYTES);
      this.allocated++;
    }
    this.inUse += PAGE_BYTES;
    account.held += PAGE_BYTES;
    return page;
  }

  give(pages: readonly Uint8Array[], account: Account): void {
    if (pages.length === 0) return;
    for (const p of pages) this.free.push(p);
    this.inUse -= pages.length * PAGE_BYTES;
    account.held -= pages.length * PAGE_BYTES;
    const w = this.waiters;
    if (w.length) {
      this.waiters = [];
      for (const fn of w) fn();
    }
  }

  /** Resolves when pages are given back (a fetch that got none waits for this, bounded by its max wait). */
  whenFree(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== done);
        resolve();
      }, ms);
      this.waiters.push(done);
    });
  }
}

/**
 * One response's records, written into pages. Records of one partition go in one after another (`begin`, then
 * `copy`/`region`, then `end` for the slices that hold them); a partition's bytes may span pages (the wire does not
 * care where a slice ends). `release` gives every page back; until then the slices stay valid.
 */
export class PageSink {
  private readonly pages: Uint8Array[] = [];
  private page: Uint8Array | null = null;
  private used = 0;
  private sliceStart = 0;
  private slices: Uint8Array[] = [];
  private released = false;
  /** Bytes written so far, over all partitions. */
  bytes = 0;
  /**
   * Set while the fetch's first batch is read: if the connection holds nothing but this response, pages may then come
   * from the pool's reserve and past the connection's share (never past the pool): KIP-74's "at least one batch".
   */
  overdraft = false;

  constructor(private readonly pool: PagePool, readonly account: Account) {}

  /** Whether pages may come from the reserve now: the first batch, on a connection holding only this response. */
  private get first(): boolean {
    return this.overdraft && this.account.held === this.pages.length * PAGE_BYTES;
  }

  /** Bytes that can be written now: the current page's room and the pages still to be had. */
  capacity(overdraft = this.overdraft): number {
    if (this.released) return 0;
    const first = overdraft && this.account.held === this.pages.length * PAGE_BYTES;
    return this.room + this.pool.available(this.account, first) * PAGE_BYTES;
  }

  /** Whether n more bytes can be written now. */
  fits(n: number): boolean {
    return n <= this.room || this.capacity() >= n;
  }

  /** Resolves when pages come back to the pool, or after ms. */
  whenFree(ms: number): Promise<void> {
    return this.pool.whenFree(ms);
  }

  /** Bytes left in the current page. */
  get room(): number {
    return this.page === null ? 0 : PAGE_BYTES - this.used;
  }

  private closeSlice(): void {
    if (this.page !== null && this.used > this.sliceStart) this.slices.push(this.page.subarray(this.sliceStart, this.used));
    this.sliceStart = this.used;
  }

  private nextPage(): boolean {
    if (this.released) return false;
    const p = this.pool.take(this.account, this.first);
    if (p === null) return false;
    this.closeSlice();
    this.pages.push(p);
    this.page = p;
    this.used = 0;
    this.sliceStart = 0;
    return true;
  }

  /** Starts a partition's records. */
  begin(): void {
    this.slices = [];
    this.sliceStart = this.used;
  }

  /** The slices holding what was written since begin(). */
  end(): Uint8Array[] {
    this.closeSlice();
    const s = this.slices;
    this.slices = [];
    return s;
  }

  /**
   * Room for n contiguous bytes (n <= PAGE_BYTES), in the current page or a new one; returns the page and the offset
   * to write at, or null when no page can be had. Call `commit(k)` with the bytes actually kept (k <= n).
   */
  region(n: number): { buf: Uint8Array; at: number } | null {
    if (n > PAGE_BYTES) throw new RangeError(`region of ${n} bytes is larger than a page`);
    if (this.room < n && !this.nextPage()) return null;
    return { buf: this.page!, at: this.used };
  }

  commit(k: number): void {
    this.used += k;
    this.bytes += k;
  }

  /** Copies src in (spanning pages as needed); check fits() first: false when it did not all fit (what did fit stays). */
  copy(src: Uint8Array): boolean {
    let o = 0;
    while (o < src.length) {
      if (this.room === 0 && !this.nextPage()) return false;
      const n = Math.min(this.room, src.length - o);
      this.page!.set(src.subarray(o, o + n), this.used);
      this.used += n;
      this.bytes += n;
      o += n;
    }
    return true;
  }

  /** Gives every page back; the slices handed out must not be used after this. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.pool.give(this.pages, this.account);
    this.pages.length = 0;
    this.page = null;
  }

  get pageCount(): number {
    return this.pages.length;
  }
}
