// The S3 lease against a real MinIO: exactly one of two racing nodes acquires it; a holder renews and keeps it; a
// takeover with If-Match bumps the epoch and the deposed holder learns of it on its next write (412) and loses the
// lease for good; a holder that cannot write for a whole lease duration stops counting itself valid. Expiry is
// judged on the observer's own clock. Plus `klite doctor s3` and the start-time checks: they pass on MinIO and name
// the failing check on a store that ignores If-Match on missing keys (the MinIO bug the lease must not run on).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { HeldLease, LeaseObject, LeaseTaken, LeaseWatcher, leaseKey, type Clock, type LeaseBody } from "../../src/lease/lease.ts";
import { checkStore } from "../../src/lease/store-checks.ts";
import { silentLogger } from "../../src/logger.ts";
import { MemoryStore } from "../helpers/memory-store.ts";
import { minio, MINIO_PEER_NAME, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { BUN, ROOT } from "../helpers/broker.ts";
import { resolveConfig } from "../../src/config.ts";
import { repeatedValues } from "../../src/cli/serve.ts";

test("replication flags: needs --s3-bucket (naming both), lease intervals checked, --replication-tls-san repeatable", () => {
  expect(() => resolveConfig({ "replication-addr": ":9093" }, {})).toThrow(/--replication-addr.*--s3-bucket/);
  const c = resolveConfig({ "replication-addr": ":9093", "s3-bucket": "bkt", "replication-tls-san": "a.example,10.0.0.1" }, { KLITE_LEASE_DURATION: "20s" });
  expect([c.replicationAddr, c.leaseDurationMs, c.leaseRenewIntervalMs, c.leaseRetryIntervalMs, c.replicationAckTimeoutMs]).toEqual([{ host: "", port: 9093 }, 20_000, 5_000, 2_000, 5_000]);
  expect(c.replicationTlsSan).toEqual(["a.example", "10.0.0.1"]);
  expect(() => resolveConfig({ "replication-addr": ":9093", "s3-bucket": "bkt", "lease-renew-interval": "10s" }, {})).toThrow(/--lease-renew-interval.*half of --lease-duration/);
  expect(repeatedValues(["--replication-tls-san", "a", "--listen", ":1", "--replication-tls-san=b"], "replication-tls-san")).toEqual(["a", "b"]);
});

const body = (holder: string, epoch: number): LeaseBody => ({
  clusterId: "c1", holder, epoch, addr: "127.0.0.1:9093", kafka: { nodeId: 1, host: "127.0.0.1", port: 9092 }, inSync: [], released: false, flushed: false, renewedAt: "",
});

class FakeClock implements Clock {
  t = 1_000;
  now() {
    return this.t;
  }
}

test("a watcher calls the lease expired only after seeing one ETag for the whole duration, on its own clock", () => {
  const clock = new FakeClock();
  const w = new LeaseWatcher(15_000, clock);
  w.observe({ body: body("a", 1), etag: '"1"' });
  clock.t += 14_999;
  expect(w.expired()).toBe(false);
  w.observe({ body: body("a", 1), etag: '"2"' }); // renewed: the clock starts again
  clock.t += 14_999;
  expect(w.expired()).toBe(false);
  clock.t += 1;
  expect(w.expired()).toBe(true);
  w.observe({ body: { ...body("a", 1), released: true }, etag: '"3"' });
  expect(w.expired()).toBe(true); // released: no waiting
});

test("a holder is valid until the duration less a margin after the start of its last successful write", async () => {
  const store = new MemoryStore();
  const obj = new LeaseObject(store, "lease");
  const clock = new FakeClock();
  const got = await obj.create(body("a", 1));
  const lost: string[] = [];
  const held = new HeldLease(obj, got, clock.now(), { durationMs: 10_000, renewIntervalMs: 60_000, clock }, silentLogger, (r) => lost.push(r));
  clock.t += 8_999;
  expect(held.valid()).toBe(true);
  clock.t += 1;
  expect(held.valid()).toBe(false); // 10 s less the 1 s margin
  await held.update((b) => b); // a successful renewal started now
  expect(held.valid()).toBe(true);
  // Another node took over meanwhile: the next write gets a 412 and the lease is lost for good.
  const seen = await obj.read();
  await obj.replace(seen!, body("b", 2));
  await expect(held.update((b) => b)).rejects.toBeInstanceOf(LeaseTaken);
  expect(held.valid()).toBe(false);
  expect(lost.length).toBe(1);
  held.stop();
});

test("the store checks name the failing check on a store that writes a missing key despite If-Match", async () => {
  const good = await checkStore(new MemoryStore(), "p");
  expect(good.every((r) => r.ok)).toBe(true);
  const buggy = new MemoryStore();
  buggy.ifMatchCreatesMissing = true;
  const results = await checkStore(buggy, "p", { conditionalOnly: true });
  expect(results.length).toBe(3);
  const failed = results.filter((r) => !r.ok);
  expect(failed.map((r) => r.name)).toEqual(["PutObject If-Match on a missing key fails"]);
  expect(failed[0]!.detail).toContain("minio/minio#21526");
  expect([...buggy.objects.keys()]).toEqual([]); // scratch objects removed
});

const peerResult = await minio();
describeWithPeer(MINIO_PEER_NAME, peerResult, () => {
  let server: MinioServer;
  beforeAll(async () => {
    server = await startMinio();
    await server.createBucket("lease");
  });
  afterAll(async () => {
    await server?.stop();
  });

  test("two nodes race for a fresh lease: exactly one wins; a takeover bumps the epoch and fences the old holder", async () => {
    const obj = new LeaseObject(server.store("lease"), leaseKey("race"));
    const results = await Promise.allSettled([obj.create(body("a", 1)), obj.create(body("b", 1))]);
    expect(results.filter((r) => r.status === "fulfilled").length).toBe(1);
    expect(results.filter((r) => r.status === "rejected" && r.reason instanceof LeaseTaken).length).toBe(1);
    const seen = (await obj.read())!;
    // Two standbys that saw the same expired lease take it over at once: one wins.
    const takeovers = await Promise.allSettled([obj.replace(seen, body("a", seen.body.epoch + 1)), obj.replace(seen, body("b", seen.body.epoch + 1))]);
    expect(takeovers.filter((r) => r.status === "fulfilled").length).toBe(1);
    const now = (await obj.read())!;
    expect(now.body.epoch).toBe(2);
    // The deposed holder's renewal with its old ETag is refused.
    await expect(obj.replace(seen, body(seen.body.holder, 1))).rejects.toBeInstanceOf(LeaseTaken);
    expect(now.body.renewedAt).not.toBe("");
  });

  test("a holder renews on schedule; with S3 unreachable it stops being valid after the lease duration", async () => {
    const store = server.store("lease");
    const obj = new LeaseObject(store, leaseKey("renew"));
    const got = await obj.create(body("a", 1));
    const lost: string[] = [];
    const held = new HeldLease(obj, got, performance.now(), { durationMs: 1500, renewIntervalMs: 300 }, silentLogger, (r) => lost.push(r));
    await Bun.sleep(1000);
    const after = (await obj.read())!;
    expect(after.etag).not.toBe(got.etag); // renewed
    expect(held.valid()).toBe(true);
    held.stop();
    // Simulate S3 going away for the holder: point its writes at a dead endpoint.
    const dead = new LeaseObject(new MemoryStore(), obj.key);
    (dead.store as MemoryStore).down = true;
    const blind = new HeldLease(dead, after, performance.now(), { durationMs: 800, renewIntervalMs: 100 }, silentLogger, (r) => lost.push(r));
    await Bun.sleep(1000);
    expect(blind.valid()).toBe(false);
    expect(lost.some((r) => r.includes("not renewed for a whole lease duration"))).toBe(true);
    blind.stop();
  });

  test("klite doctor s3 passes every check on MinIO; a missing bucket fails naming it", async () => {
    const run = async (...args: string[]) => {
      const p = Bun.spawn([BUN, "src/main.ts", "doctor", "s3", ...args], { cwd: ROOT, env: { ...process.env, ...server.env }, stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { out, err, code };
    };
    const ok = await run("--s3-bucket", "lease", "--s3-endpoint", server.endpoint, "--s3-prefix", "doc");
    expect(ok.code).toBe(0);
    const lines = ok.out.trim().split("\n");
    expect(lines.filter((l) => l.startsWith("ok  ")).length).toBe(5);
    expect(ok.out).toContain("PutObject If-Match on a missing key fails (404)");
    expect(ok.out).toContain("all 5 checks passed");
    expect((await server.store("lease").list("doc/")).objects).toEqual([]); // nothing left behind
    const missing = await run("--s3-bucket", "no-such-bucket", "--s3-endpoint", server.endpoint);
    expect(missing.code).toBe(1);
    expect(missing.out + missing.err).toContain("no-such-bucket");
  });
});
