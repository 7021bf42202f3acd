// A latency histogram: log-linear buckets over microseconds (exact below 128 µs, then 64 buckets per power of two,
// under 1.6% error), so millions of samples cost a fixed 16 KiB and percentiles are read without sorting.
const LINEAR = 128;
const SUB = 64;
const MAX_US = 0xffffffff; // ~71 minutes

function bucketOf(us: number): number {
  if (us < LINEAR) return us;
  const shift = 31 - Math.clz32(us) - 6; // >= 1
  return LINEAR + (shift - 1) * SUB + ((us >>> shift) - SUB);
}

/** The middle of a bucket, in µs. */
function valueOf(b: number): number {
  if (b < LINEAR) return b;
  const shift = Math.floor((b - LINEAR) / SUB) + 1;
  const low = ((b - LINEAR) % SUB) + SUB;
  return low * 2 ** shift + (2 ** shift - 1) / 2;
}

export class Histogram {
  private counts = new Float64Array(LINEAR + 26 * SUB);
  count = 0;
  private sumUs = 0;
  maxMs = 0;

  /** Records `n` samples of `ms` milliseconds. */
  record(ms: number, n = 1): void {
    const us = Math.min(MAX_US, Math.max(0, Math.round(ms * 1000)));
    this.counts[bucketOf(us)]! += n;
    this.count += n;
    this.sumUs += us * n;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  merge(o: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += o.counts[i]!;
    this.count += o.count;
    this.sumUs += o.sumUs;
    if (o.maxMs > this.maxMs) this.maxMs = o.maxMs;
  }

  /** The q-quantile (0..1) in milliseconds; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i) / 1000, this.maxMs);
    }
    return this.maxMs;
  }

  get meanMs(): number {
    return this.count ? this.sumUs / this.count / 1000 : 0;
  }

  summary(): LatencySummary {
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return { p50: r(this.quantile(0.5)), p95: r(this.quantile(0.95)), p99: r(this.quantile(0.99)), max: r(this.maxMs), mean: r(this.meanMs), samples: this.count };
  }
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  samples: number;
}
