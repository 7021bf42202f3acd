// The ObjectStore contract, run against MinIO (through the real SDK adapter) and against the in-memory twin used by
// unit tests, so the twin cannot drift from S3's behaviour. Includes the conditional-write cases the lease and
// compaction rely on (If-Match on a missing key must fail: minio/minio#21526), pagination, and a burst of
// concurrent ranged GETs (GH oven-sh/bun#27557 saw bodies hang under 50-way concurrency).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MemoryStore } from "../helpers/memory-store.ts";
import { minio, MINIO_PEER_NAME, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { ObjectNotFound, PreconditionFailed, type ObjectStore } from "../../src/s3/store.ts";

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

function contract(name: string, storeOf: () => ObjectStore) {
  describe(name, () => {
    test("put, then get whole, by range and by suffix, with size and ETag", async () => {
      const s = storeOf();
      const body = bytes(1000);
      const { etag } = await s.put("c/a", body);
      expect(etag).not.toBe("");
      const whole = await s.get("c/a");
      expect(Buffer.from(whole.body).equals(Buffer.from(body))).toBe(true);
      expect(whole.etag).toBe(etag);
      expect(whole.size).toBe(1000);
      const mid = await s.get("c/a", { start: 100, end: 150 });
      expect([...mid.body]).toEqual([...body.subarray(100, 150)]);
      expect(mid.size).toBe(1000);
      const tail = await s.get("c/a", { suffix: 8 });
      expect([...tail.body]).toEqual([...body.subarray(992)]);
      expect(tail.size).toBe(1000);
      const more = await s.get("c/a", { suffix: 5000 }); // longer than the object: the whole object
      expect(more.body.length).toBe(1000);
    });

    test("If-None-Match * creates only; If-Match on a missing key fails; If-Match with a stale ETag fails", async () => {
      const s = storeOf();
      const first = await s.put("c/cond", bytes(10), { ifNoneMatch: "*" });
      expect(await rejects(s.put("c/cond", bytes(10, 2), { ifNoneMatch: "*" }))).toBeInstanceOf(PreconditionFailed);
      const missing = await rejects(s.put("c/never-written", bytes(3), { ifMatch: first.etag }));
      expect(missing instanceof ObjectNotFound || missing instanceof PreconditionFailed).toBe(true);
      expect(await s.head("c/never-written")).toBeNull();
      const second = await s.put("c/cond", bytes(20, 3), { ifMatch: first.etag });
      expect(second.etag).not.toBe(first.etag);
      expect(await rejects(s.put("c/cond", bytes(5), { ifMatch: first.etag }))).toBeInstanceOf(PreconditionFailed);
      expect((await s.get("c/cond")).body.length).toBe(20);
    });

    test("a ranged GET with If-Match fails once the object was replaced, even when the range no longer fits", async () => {
      const s = storeOf();
      const { etag } = await s.put("c/swap", bytes(500));
      expect((await s.get("c/swap", { start: 0, end: 10 }, etag)).body.length).toBe(10);
      await s.put("c/swap", bytes(50, 9));
      expect(await rejects(s.get("c/swap", { start: 0, end: 10 }, etag))).toBeInstanceOf(PreconditionFailed);
      expect(await rejects(s.get("c/swap", { start: 400, end: 410 }, etag))).toBeInstanceOf(PreconditionFailed);
    });

    test("missing keys: GET fails with ObjectNotFound, HEAD says null, DELETE succeeds", async () => {
      const s = storeOf();
      expect(await rejects(s.get("c/missing"))).toBeInstanceOf(ObjectNotFound);
      expect(await rejects(s.get("c/missing", { suffix: 10 }))).toBeInstanceOf(ObjectNotFound);
      expect(await s.head("c/missing")).toBeNull();
      await s.delete("c/missing");
      await s.put("c/del", bytes(7));
      expect((await s.head("c/del"))?.size).toBe(7);
      await s.delete("c/del");
      expect(await s.head("c/del")).toBeNull();
    });

    test("list: every page, in key order, with delimiter and startAfter", async () => {
      const s = storeOf();
      const keys = Array.from({ length: 1005 }, (_, i) => `l/p/${String(i).padStart(5, "0")}.obj`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, bytes(3))));
      await s.put("l/q/x", bytes(1));
      await s.put("l/top", bytes(1));
      const all = await s.list("l/p/");
      expect(all.objects.map((o) => o.key)).toEqual(keys);
      expect(all.objects[0]!.size).toBe(3);
      const after = await s.list("l/p/", { startAfter: keys[1000] });
      expect(after.objects.map((o) => o.key)).toEqual(keys.slice(1001));
      const dirs = await s.list("l/", { delimiter: "/" });
      expect(dirs.prefixes).toEqual(["l/p/", "l/q/"]);
      expect(dirs.objects.map((o) => o.key)).toEqual(["l/top"]);
    }, 120_000);

    test("50 concurrent ranged GETs all complete", async () => {
      const s = storeOf();
      const body = bytes(256 * 1024);
      const { etag } = await s.put("c/burst", body);
      const got = await Promise.all(Array.from({ length: 50 }, (_, i) => s.get("c/burst", { start: i * 1000, end: i * 1000 + 4096 }, etag)));
      got.forEach((g, i) => expect(Buffer.from(g.body).equals(Buffer.from(body.subarray(i * 1000, i * 1000 + 4096)))).toBe(true));
    }, 60_000);
  });
}

contract("ObjectStore contract: in-memory twin", () => new MemoryStore());

const peer = await minio();
let server: MinioServer | null = null;

describeWithPeer(MINIO_PEER_NAME, peer, () => {
  beforeAll(async () => {
    server = await startMinio();
    await server.createBucket("contract");
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });
  contract("ObjectStore contract: MinIO through @aws-sdk/client-s3", () => server!.store("contract"));
});
