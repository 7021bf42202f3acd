// What `klite bench` prints: a progress line a second (stderr) and a summary (text, or JSON with --json).
import type { Histogram, LatencySummary } from "./histogram.ts";
import type { BenchMode, BenchOptions } from "./run.ts";

export interface ProduceSummary {
  records: number;
  seconds: number;
  recordsPerSec: number;
  mibPerSec: number;
  latencyMs: LatencySummary;
  errors: number;
  lastError: string | null;
}

export interface ConsumeSummary {
  records: number;
  seconds: number;
  recordsPerSec: number;
  mibPerSec: number;
  /** produce-consume only. */
  e2eLatencyMs: LatencySummary | null;
  errors: number;
  lastError: string | null;
}

export interface BenchResult {
  mode: BenchMode;
  options: BenchOptions;
  produce: ProduceSummary | null;
  consume: ConsumeSummary | null;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));

function lat(h: Histogram): string {
  return h.count ? `p50 ${ms(h.quantile(0.5))} p99 ${ms(h.quantile(0.99))} max ${ms(h.maxMs)} ms` : "-";
}

export function progressLine(
  o: BenchOptions,
  elapsedS: number,
  intervalS: number,
  d: { sent: number; acked: number; consumed: number; consumedBytes: number },
  ack: Histogram | null,
  e2e: Histogram | null,
  errors: number,
): string {
  const parts = [`${elapsedS.toFixed(0).padStart(4)}s`];
  if (ack) {
    const rate = d.acked / intervalS;
    parts.push(`produced ${int(rate)} rec/s ${((rate * o.recordSize) / 1048576).toFixed(1)} MiB/s, ack ${lat(ack)}`);
  }
  if (o.mode !== "produce") {
    parts.push(`consumed ${int(d.consumed / intervalS)} rec/s ${(d.consumedBytes / intervalS / 1048576).toFixed(1)} MiB/s`);
  }
  if (e2e) parts.push(`e2e ${lat(e2e)}`);
  parts.push(`errors ${errors}`);
  return parts.join(" | ");
}

function latText(l: LatencySummary): string {
  return `p50 ${ms(l.p50)} ms, p95 ${ms(l.p95)} ms, p99 ${ms(l.p99)} ms, max ${ms(l.max)} ms`;
}

export function summaryText(r: BenchResult): string {
  const lines: string[] = [];
  const p = r.produce;
  if (p) {
    lines.push(`produce: ${int(p.records)} records in ${p.seconds.toFixed(1)} s: ${int(p.recordsPerSec)} records/s, ${p.mibPerSec.toFixed(1)} MiB/s`);
    lines.push(`  ack latency: ${latText(p.latencyMs)}`);
    lines.push(`  errors: ${p.errors}${p.lastError ? ` (last: ${p.lastError})` : ""}`);
  }
  const c = r.consume;
  if (c) {
    lines.push(`consume: ${int(c.records)} records in ${c.seconds.toFixed(1)} s: ${int(c.recordsPerSec)} records/s, ${c.mibPerSec.toFixed(1)} MiB/s`);
    if (c.e2eLatencyMs) lines.push(`  end-to-end latency: ${latText(c.e2eLatencyMs)}`);
    lines.push(`  errors: ${c.errors}${c.lastError ? ` (last: ${c.lastError})` : ""}`);
  }
  return lines.join("\n");
}

/** The JSON summary: numbers rounded to what they are worth. */
export function summaryJson(r: BenchResult): string {
  const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
  const fix = <T extends { seconds: number; recordsPerSec: number; mibPerSec: number }>(s: T | null) =>
    s && { ...s, seconds: round(s.seconds, 3), recordsPerSec: Math.round(s.recordsPerSec), mibPerSec: round(s.mibPerSec, 2) };
  return JSON.stringify({ mode: r.mode, options: r.options, produce: fix(r.produce), consume: fix(r.consume) }, null, 2);
}
