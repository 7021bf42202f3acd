import { describe, expect, test } from "bun:test";
import { FrameError, Framer } from "../../src/server/framer.ts";
import { ConfigError, parseAddr, parseDuration, parseSize, resolveConfig } from "../../src/config.ts";
import { joinBooleanValues } from "../../src/cli/serve.ts";

function frames(sizes: number[]): Uint8Array {
  const total = sizes.reduce((a, s) => a + 4 + s, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let o = 0;
  sizes.forEach((s, i) => {
    dv.setInt32(o, s);
    out.fill(i + 1, o + 4, o + 4 + s);
    o += 4 + s;
  });
  return out;
}

describe("framer", () => {
  test("frames split at every possible byte boundary come out whole and in order", () => {
    const data = frames([5, 0, 300, 1]);
    for (let cut = 1; cut < data.length; cut += 7) {
      const f = new Framer(1000);
      const got: number[][] = [];
      f.push(data.subarray(0, cut), (x) => got.push([x.length, x[0] ?? 0]));
      f.push(data.subarray(cut), (x) => got.push([x.length, x[0] ?? 0]));
      expect(got).toEqual([[5, 1], [0, 0], [300, 3], [1, 4]]);
    }
  });

  test("byte-at-a-time delivery works", () => {
    const data = frames([10, 20]);
    const f = new Framer(100);
    const got: number[] = [];
    for (let i = 0; i < data.length; i++) f.push(data.subarray(i, i + 1), (x) => got.push(x.length));
    expect(got).toEqual([10, 20]);
  });

  test("oversized and negative sizes are refused", () => {
    expect(() => new Framer(100).push(frames([101]), () => {})).toThrow(FrameError);
    expect(() => new Framer(100).push(new Uint8Array([0x80, 0, 0, 0]), () => {})).toThrow(FrameError);
  });
});

describe("config", () => {
  test("durations, sizes and addresses", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("5s")).toBe(5000);
    expect(parseDuration("2m")).toBe(120000);
    expect(parseDuration("7d")).toBe(7 * 86400000);
    expect(parseDuration("fast")).toBeNull();
    expect(parseSize("64MiB")).toBe(64 * 1024 * 1024);
    expect(parseSize("1GB")).toBe(1e9);
    expect(parseSize("1048576")).toBe(1048576);
    expect(parseSize("lots")).toBeNull();
    expect(parseAddr(":9092")).toEqual({ host: "", port: 9092 });
    expect(parseAddr("[::1]:9")).toEqual({ host: "::1", port: 9 });
    expect(parseAddr("host")).toBeNull();
  });

  test("defaults, environment variables, and flags winning over them", () => {
    const d = resolveConfig({}, {});
    expect(d.listen).toEqual({ host: "", port: 9092 });
    expect(d.dataDir).toBe("./data");
    expect(d.walSyncIntervalMs).toBe(0);
    expect(d.walSegmentMaxBytes).toBe(64 * 1024 * 1024);
    expect(d.maxRequestSize).toBe(100 * 1024 * 1024);
    expect(d.autoCreateTopics).toBe(true);
    const e = resolveConfig({ "default-partitions": "6" }, { KLITE_DEFAULT_PARTITIONS: "3", KLITE_AUTO_CREATE_TOPICS: "false", KLITE_ADVERTISED_ADDR: "broker.example:19092" });
    expect(e.defaultPartitions).toBe(6);
    expect(e.autoCreateTopics).toBe(false);
    expect(e.advertisedAddr).toEqual({ host: "broker.example", port: 19092 });
  });

  test("a bad value names the flag and its variable", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ "wal-sync-interval": "soon" }, /--wal-sync-interval \(KLITE_WAL_SYNC_INTERVAL\)/],
      [{ "node-id": "-1" }, /--node-id/],
      [{ listen: "nowhere" }, /--listen/],
      [{ "auto-create-topics": "maybe" }, /--auto-create-topics/],
      [{ "log-level": "loud" }, /--log-level/],
      [{ "max-request-size": "12 parsecs" }, /--max-request-size/],
      [{ "cluster-id": "has spaces" }, /--cluster-id/],
      [{ "wal-max-disk-size": "1MiB" }, /--wal-max-disk-size/],
    ];
    for (const [flags, re] of cases) {
      expect(() => resolveConfig(flags, {})).toThrow(ConfigError);
      expect(() => resolveConfig(flags, {})).toThrow(re);
    }
  });
});

describe("command line", () => {
  test("a boolean flag never swallows the next flag; true/false after it is its value; --no- negates", () => {
    expect(joinBooleanValues(["--auto-create-topics", "--listen", ":9092"])).toEqual(["--auto-create-topics=true", "--listen", ":9092"]);
    expect(joinBooleanValues(["--auto-create-topics", "false", "--listen", ":9092"])).toEqual(["--auto-create-topics=false", "--listen", ":9092"]);
    expect(joinBooleanValues(["--listen", ":9092", "--no-auto-create-topics"])).toEqual(["--listen", ":9092", "--auto-create-topics=false"]);
    expect(joinBooleanValues(["--auto-create-topics=maybe"])).toEqual(["--auto-create-topics=maybe"]);
    const flags = { "auto-create-topics": "false" };
    expect(resolveConfig(flags, {}).autoCreateTopics).toBe(false);
    expect(() => resolveConfig({ "auto-create-topics": "maybe" }, {})).toThrow("--auto-create-topics");
  });
});
