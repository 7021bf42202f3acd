// The comparison's outputs: a markdown table (each klite figure beside Kafka's with the ratio), the targets of
// issue 5 judged on those ratios, a JSON file with every raw figure, and an SVG chart of how many times better or
// worse klite is per row. With several rounds, each figure is the median of the rounds.
export type Side = "klite" | "kafka";
/** key -> side -> what was measured (klite bench summaries, tool summaries, numbers). */
export type Measurements = Record<string, Partial<Record<Side, unknown>>>;

interface Row {
  workload: string;
  generator: string;
  unit: string;
  better: "higher" | "lower";
  klite: number | null;
  kafka: number | null;
  kliteNote: string;
  kafkaNote: string;
}

const median = (xs: number[]): number | null => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

const get = (o: unknown, path: string): number => {
  let x = o;
  for (const k of path.split(".")) x = (x as Record<string, unknown> | null | undefined)?.[k];
  return typeof x === "number" ? x : NaN;
};

const fmt = (n: number | null, unit: string): string => {
  if (n === null) return "–";
  if (unit === "ms") return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US");
  if (unit === "MiB") return n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US");
  return Math.round(n).toLocaleString("en-US");
};

function ratioOf(r: Row): number | null {
  return r.klite !== null && r.kafka !== null && r.kafka > 0 ? r.klite / r.kafka : null;
}

/** How many times better klite is (> 1) or worse (< 1), whatever the direction of the unit. */
function advantage(r: Row): number | null {
  const q = ratioOf(r);
  return q === null || q === 0 ? null : r.better === "higher" ? q : 1 / q;
}

const PRODUCE: [string, string][] = [
  ["acks1-p1", "acks=1, 1 partition"],
  ["acksall-p1", "acks=all, 1 partition"],
  ["acks1-p8", "acks=1, 8 partitions"],
  ["acksall-p8", "acks=all, 8 partitions"],
];

function rows(rounds: Measurements[], sizes: { klite: number; kafkaJars: number | null; jre: number | null }): Row[] {
  const out: Row[] = [];
  // A figure from each round, medianed; `from` picks the measurement of a side in a round.
  const fig = (key: string, side: Side, path: string): number | null => median(rounds.map((m) => get(m[key]?.[side], path)));
  const add = (workload: string, generator: string, unit: string, better: Row["better"], k: [string, string, string?], f: [string, string, string?], notes: (side: Side, key: string) => string = () => "") => {
    const [kKey, kPath] = k;
    const [fKey, fPath] = f;
    out.push({ workload, generator, unit, better, klite: fig(kKey, "klite", kPath), kafka: fig(fKey, "kafka", fPath), kliteNote: notes("klite", kKey), kafkaNote: notes("kafka", fKey) });
  };
  const ackNote = (side: Side, key: string) => {
    const p99 = fig(key, side, "latencyMs.p99");
    return p99 === null ? "" : `p99 ack ${fmt(p99, "ms")} ms`;
  };
  for (const flush of [false, true]) {
    for (const [id, label] of PRODUCE) {
      const name = `produce 1 KiB, ${label}, unlimited${flush ? " — Kafka with flush.messages=1" : ""}`;
      for (const [gen, genName] of [["klite-bench", "klite bench"], ["producer-perf", "ProducerPerformance"]] as const) {
        add(name, genName, "records/s", "higher", [`produce-${id}:${gen}`, "recordsPerSec"], [`produce-${id}${flush ? "-flush" : ""}:${gen}`, "recordsPerSec"], ackNote);
      }
    }
  }
  const kcatNote = (side: Side, key: string) => {
    const sec = fig(key, side, "seconds");
    return sec === null ? "" : `${fmt(sec, "ms")} s`;
  };
  add("produce kcat, 1 MB batches of 100-byte records, 1 partition, acks=1 — fresh broker", "kcat", "records/s", "higher", ["kcat-fresh", "recordsPerSec"], ["kcat-fresh", "recordsPerSec"], kcatNote);
  add("produce kcat, 1 MB batches of 100-byte records, 1 partition, acks=1 — after the produce workloads", "kcat", "records/s", "higher", ["kcat-aged", "recordsPerSec"], ["kcat-aged", "recordsPerSec"], kcatNote);
  // The acknowledgement's p99 beside: a record is consumed as soon as it is acknowledged, so the two move together.
  const e2eNote = (side: Side, key: string) => {
    const p50 = fig(key, side, "consume.e2eLatencyMs.p50");
    const rate = fig(key, side, "produce.recordsPerSec");
    const ack = fig(key, side, "produce.latencyMs.p99");
    return p50 === null ? "" : `p50 ${fmt(p50, "ms")} ms at ${fmt(rate, "")} rec/s, p99 ack ${fmt(ack, "ms")} ms`;
  };
  for (const flush of [false, true]) {
    const name = `end-to-end latency p99, 20,000 records/s, 1 partition, acks=all${flush ? " — Kafka with flush.messages=1" : ""}`;
    add(name, "klite bench", "ms", "lower", ["e2e:klite-bench", "consume.e2eLatencyMs.p99"], [`e2e${flush ? "-flush" : ""}:klite-bench`, "consume.e2eLatencyMs.p99"], e2eNote);
  }
  const tailNote = (side: Side) => {
    const p = fig("tail:klite-bench", side, "produce.recordsPerSec");
    return p === null ? "" : `producers ${fmt(p, "")} rec/s`;
  };
  add("consume from the tail while producing unlimited, 8 partitions", "klite bench", "records/s", "higher", ["tail:klite-bench", "consume.recordsPerSec"], ["tail:klite-bench", "consume.recordsPerSec"], tailNote);
  const mib = (side: Side, key: string) => {
    const x = fig(key, side, "mibPerSec");
    return x === null ? "" : `${fmt(x, "MiB")} MiB/s`;
  };
  add("consume from the beginning, 8 partitions", "klite bench", "records/s", "higher", ["beginning:klite-bench", "recordsPerSec"], ["beginning:klite-bench", "recordsPerSec"], mib);
  add("consume from the beginning, 8 partitions", "ConsumerPerformance", "records/s", "higher", ["beginning:consumer-perf", "recordsPerSec"], ["beginning:consumer-perf", "recordsPerSec"], mib);
  const scalar = (key: string, side: Side) => median(rounds.map((m) => Number(m[key]?.[side] ?? NaN)));
  const startup = (side: Side) => median(rounds.flatMap((m) => (m.startup?.[side] as number[] | undefined) ?? []));
  out.push({ workload: "idle RSS after start-up", generator: "–", unit: "MiB", better: "lower", klite: scalar("idleRss", "klite"), kafka: scalar("idleRss", "kafka"), kliteNote: "", kafkaNote: "heap 1 GiB (-Xms1G)" });
  out.push({ workload: "peak RSS under load", generator: "–", unit: "MiB", better: "lower", klite: scalar("peakRss", "klite"), kafka: scalar("peakRss", "kafka"), kliteNote: "", kafkaNote: "" });
  out.push({ workload: "start-up to first acknowledged produce (fresh data dir)", generator: "–", unit: "ms", better: "lower", klite: startup("klite"), kafka: startup("kafka"), kliteNote: "", kafkaNote: "after storage format" });
  out.push({
    workload: "executable size", generator: "–", unit: "MiB", better: "lower", klite: sizes.klite / 2 ** 20, kafka: sizes.kafkaJars === null ? null : sizes.kafkaJars / 2 ** 20,
    kliteNote: "single file, no runtime", kafkaNote: sizes.jre ? `jars; + ${fmt(sizes.jre / 2 ** 20, "MiB")} MiB Java runtime` : "jars; + a Java runtime",
  });
  return out;
}

interface Target {
  what: string;
  measured: string;
  met: boolean | null;
}

function targets(r: Row[]): Target[] {
  const find = (w: string, g: string) => r.find((x) => x.workload.startsWith(w) && x.generator === g);
  const t: Target[] = [];
  const ratioTarget = (what: string, row: Row | undefined, min: number) => {
    const q = row ? ratioOf(row) : null;
    t.push({ what, measured: q === null ? "not measured" : `${q.toFixed(2)}×`, met: q === null ? null : q >= min });
  };
  for (const g of ["klite bench", "ProducerPerformance"]) {
    ratioTarget(`produce 1 KiB acks=1 (1 partition), klite ≥ 1.0× Kafka default — ${g}`, find("produce 1 KiB, acks=1, 1 partition, unlimited", g), 1);
    ratioTarget(`produce 1 KiB acks=1 (1 partition), klite ≥ 3× Kafka flush.messages=1 — ${g}`, find("produce 1 KiB, acks=1, 1 partition, unlimited — Kafka", g), 3);
  }
  const e2e = find("end-to-end", "klite bench");
  t.push({ what: "end-to-end p99 at 20,000 records/s ≤ Kafka's", measured: e2e ? `${fmt(e2e.klite, "ms")} ms vs ${fmt(e2e.kafka, "ms")} ms` : "–", met: e2e?.klite != null && e2e.kafka != null ? e2e.klite <= e2e.kafka : null });
  const idle = find("idle RSS", "–");
  const q = idle ? ratioOf(idle) : null;
  t.push({ what: "idle RSS ≤ 1/4 of Kafka's", measured: q === null ? "–" : `${q.toFixed(2)}× (${fmt(idle!.klite, "MiB")} vs ${fmt(idle!.kafka, "MiB")} MiB)`, met: q === null ? null : q <= 0.25 });
  const st = find("start-up", "–");
  t.push({ what: "start-up to first acknowledged produce < 300 ms", measured: st?.klite != null ? `${fmt(st.klite, "ms")} ms` : "–", met: st?.klite != null ? st.klite < 300 : null });
  for (const age of ["fresh broker", "after the produce workloads"]) {
    ratioTarget(`kcat 1 MB batches (${age}), klite ≥ 1.5× Kafka`, r.find((x) => x.generator === "kcat" && x.workload.endsWith(age)), 1.5);
  }
  const fresh = r.find((x) => x.generator === "kcat" && x.workload.endsWith("fresh broker"))?.klite ?? null;
  const aged = r.find((x) => x.generator === "kcat" && x.workload.endsWith("produce workloads"))?.klite ?? null;
  t.push({ what: "no slowdown with age: kcat after the produce workloads within 10% of a fresh broker", measured: fresh && aged ? `${(aged / fresh).toFixed(2)}× (${fmt(aged, "")} vs ${fmt(fresh, "")} rec/s)` : "–", met: fresh && aged ? aged >= 0.9 * fresh : null });
  for (const g of ["klite bench", "ConsumerPerformance"]) ratioTarget(`consume from the beginning ≥ 1.0× Kafka — ${g}`, find("consume from the beginning", g), 1);
  const peak = find("peak RSS", "–");
  t.push({ what: "peak RSS over the whole compare ≤ Kafka's", measured: peak?.klite != null ? `${fmt(peak.klite, "MiB")} vs ${fmt(peak.kafka, "MiB")} MiB` : "–", met: peak?.klite != null && peak.kafka != null ? peak.klite <= peak.kafka : null });
  const tail = find("consume from the tail", "klite bench");
  const produced = tail ? Number(/producers ([\d,]+)/.exec(tail.kliteNote)?.[1]?.replace(/,/g, "") ?? NaN) : NaN;
  const keep = tail?.klite != null && produced > 0 ? tail.klite / produced : null;
  t.push({ what: "consume from the tail ≥ produce throughput (consumers keep up; within 2%)", measured: keep === null ? "–" : `consumers ${keep.toFixed(3)}× the producers' rate`, met: keep === null ? null : keep >= 0.98 });
  return t;
}

/** klite with its defaults in a memory cgroup beside klite unconfined: the same workloads, survival and peak RSS. */
function memoryLimited(rounds: Measurements[], r: Row[]): { lines: string[]; targets: Target[] } {
  const info = rounds.map((m) => m.memoryLimited?.klite as { skipped?: string; limitBytes: number; cgroup?: string } | undefined).find((x) => x);
  if (!info) return { lines: [], targets: [] };
  const limit = `${fmt(info.limitBytes / 2 ** 20, "MiB")} MiB`;
  if (info.skipped) {
    return { lines: [`Memory-limited run (klite in a ${limit} memory cgroup): skipped, ${info.skipped}.`], targets: [{ what: `survives every workload in a ${limit} cgroup`, measured: "not measured", met: null }] };
  }
  const cg = rounds.map((m) => ({ ...m, ...Object.fromEntries(Object.entries(m).filter(([k]) => k.startsWith("cg:")).map(([k, v]) => [k.slice(3), v])) }));
  const limited = rows(cg, { klite: 0, kafkaJars: null, jre: null });
  const survived = rounds.map((m) => m["cg:survived"]?.klite).filter((x) => x !== undefined);
  const ok = survived.length > 0 && survived.every((x) => x === true);
  const ooms = rounds.reduce((a, m) => a + Number(m["cg:oomKills"]?.klite ?? 0), 0);
  const lines = [`### klite in a ${limit} memory cgroup (cgroup ${info.cgroup}, default flags)`, "", `Survived every workload: ${ok ? "yes" : `**no** (OOM kills: ${ooms})`}.`, "",
    "| workload | load generator | klite | klite in the cgroup |", "|---|---|--:|--:|"];
  for (const x of limited) {
    if (x.generator === "–" && !x.workload.startsWith("peak") && !x.workload.startsWith("idle")) continue;
    if (x.workload.includes("Kafka with flush")) continue;
    const base = r.find((y) => y.workload === x.workload && y.generator === x.generator);
    const u = x.unit === "records/s" ? "rec/s" : x.unit;
    lines.push(`| ${x.workload} | ${x.generator} | ${fmt(base?.klite ?? null, x.unit)} ${u} | ${fmt(x.klite, x.unit)} ${u} |`);
  }
  const peak = limited.find((x) => x.workload.startsWith("peak"))?.klite ?? null;
  return { lines, targets: [{ what: `survives every workload in a ${limit} cgroup with the default flags`, measured: ok ? `yes, peak RSS ${fmt(peak, "MiB")} MiB` : `no (OOM kills ${ooms})`, met: ok }] };
}

function markdown(r: Row[], t: Target[], machine: Record<string, unknown>, limited: string[] = []): string {
  const lines = [
    `| workload | load generator | klite | Apache Kafka ${machine.kafka} | klite / Kafka |`,
    "|---|---|--:|--:|--:|",
  ];
  for (const x of r) {
    const q = ratioOf(x);
    const cell = (v: number | null, note: string) => `${fmt(v, x.unit)} ${x.unit === "records/s" ? "rec/s" : x.unit}${note ? ` (${note})` : ""}`;
    lines.push(`| ${x.workload} | ${x.generator} | ${cell(x.klite, x.kliteNote)} | ${cell(x.kafka, x.kafkaNote)} | ${q === null ? "–" : `${q.toFixed(2)}×`} |`);
  }
  lines.push("", "| target | measured | met |", "|---|---|---|");
  for (const x of t) lines.push(`| ${x.what} | ${x.measured} | ${x.met === null ? "–" : x.met ? "yes" : "**no**"} |`);
  if (limited.length) lines.push("", ...limited);
  lines.push("", `Machine: ${machine.cpus}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}; Bun ${machine.bun}; ${machine.java}. ` +
    `${machine.quick ? "Quick run" : "Full run"}, ${machine.rounds} round(s) (medians), ${machine.minutes} min, ${String(machine.date).slice(0, 10)}.`);
  return `${lines.join("\n")}\n`;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The chart's row label: the workload in few words. */
function shortLabel(x: Row): string {
  const w = x.workload
    .replace("produce 1 KiB, ", "produce ")
    .replace(", unlimited", "")
    .replace(" — Kafka with flush.messages=1", " vs Kafka fsync")
    .replace("end-to-end latency p99, 20,000 records/s, 1 partition, acks=all", "end-to-end p99 at 20k rec/s")
    .replace(" while producing unlimited, 8 partitions", "")
    .replace("beginning, 8 partitions", "beginning")
    .replace(" (fresh data dir)", "");
  return x.generator === "–" ? w : `${w} · ${x.generator}`;
}

/** One bar per row with both figures: log2 of how many times better (right, green) or worse (left, red). */
function svg(r: Row[]): string {
  const bars = r.filter((x) => advantage(x) !== null);
  const W = 1100;
  const label = 470;
  const mid = label + (W - label) / 2;
  const D = 5; // doublings each way
  const unit = (W - label - 20) / 2 / D;
  const rowH = 22;
  const H = 50 + bars.length * rowH + 30;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">klite vs Apache Kafka: how many times better (right) or worse (left)</text>`];
  for (let d = -D; d <= D; d++) {
    const x = mid + d * unit;
    parts.push(`<line x1="${x}" y1="35" x2="${x}" y2="${H - 25}" stroke="${d === 0 ? "#333" : "#ddd"}"/>`, `<text x="${x}" y="${H - 10}" text-anchor="middle" fill="#555">${d === 0 ? "1×" : d > 0 ? `${2 ** d}×` : `1/${2 ** -d}`}</text>`);
  }
  bars.forEach((x, i) => {
    const a = advantage(x)!;
    const y = 40 + i * rowH;
    const len = Math.max(-D, Math.min(D, Math.log2(a))) * unit;
    parts.push(`<text x="${label - 8}" y="${y + 14}" text-anchor="end">${esc(shortLabel(x))}</text>`);
    parts.push(`<rect x="${len >= 0 ? mid : mid + len}" y="${y + 3}" width="${Math.max(1, Math.abs(len))}" height="${rowH - 6}" fill="${a >= 1 ? "#2e8b57" : "#c0392b"}"/>`);
    // The figure beside the bar's end, or inside it when the bar reaches the edge.
    const inside = Math.abs(len) > D * unit - 90;
    const tx = len >= 0 ? mid + len + (inside ? -4 : 4) : mid + len + (inside ? 4 : -4);
    const anchor = (len >= 0) !== inside ? "start" : "end";
    parts.push(`<text x="${tx}" y="${y + 14}" text-anchor="${anchor}" fill="${inside ? "white" : "#222"}">${a >= 1 ? `${a.toFixed(2)}× better` : `${(1 / a).toFixed(2)}× worse`}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

export function buildReport(rounds: Measurements[], machine: Record<string, unknown>, sizes: { klite: number; kafkaJars: number | null; jre: number | null }) {
  const r = rows(rounds, sizes);
  const t = targets(r);
  const ml = memoryLimited(rounds, r);
  t.push(...ml.targets);
  return {
    markdown: markdown(r, t, machine, ml.lines),
    svg: svg(r),
    json: { machine, sizes, rows: r.map((x) => ({ ...x, ratio: ratioOf(x) })), targets: t, rounds },
  };
}
