// What the lease (and the rest of the S3 tier) needs the object store to really do, checked against the store
// itself with scratch objects under <prefix>/.klite-doctor/<random>/ (removed afterwards):
//   1. PutObject If-None-Match: * on an existing key fails with 412       (acquiring the lease: one winner)
//   2. PutObject If-Match with a stale ETag fails with 412                (renewing / taking over: one winner)
//   3. PutObject If-Match on a missing key fails                          (some MinIO releases wrote it anyway:
//                                                                          minio/minio#21526, fixed 2025-09)
//   4. a ranged GetObject returns exactly the bytes of the range          (reads from S3)
//   5. ListObjectsV2 paginates: every key, in order, over several pages   (restore, retention)
// `klite doctor s3` runs them all and prints one line each; a replicated broker runs the conditional-write ones
// (1-3) at start and refuses to start on a store that fails one, naming it.
import { clustersPrefix } from "../s3/keys.ts";
import { ObjectNotFound, PreconditionFailed, type ObjectStore } from "../s3/store.ts";

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What went wrong (or what was seen, for a pass). */
  detail: string;
}

interface Check {
  name: string;
  conditional: boolean;
  run(store: ObjectStore, dir: string): Promise<string>;
}

/** A failed expectation (the store works, but not as the lease needs). */
class Unexpected extends Error {}

async function refusal(p: Promise<unknown>): Promise<Error | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return e as Error;
  }
}

const bytes = (s: string) => new TextEncoder().encode(s);

const CHECKS: Check[] = [
  {
    name: "PutObject If-None-Match: * on an existing key fails with 412",
    conditional: true,
    async run(store, dir) {
      await store.put(`${dir}create`, bytes("first"), { ifNoneMatch: "*" });
      const e = await refusal(store.put(`${dir}create`, bytes("second"), { ifNoneMatch: "*" }));
      if (e === null) throw new Unexpected("the second create was accepted: two nodes could both acquire the lease");
      if (!(e instanceof PreconditionFailed)) throw e;
      return "412";
    },
  },
  {
    name: "PutObject If-Match with a stale ETag fails with 412",
    conditional: true,
    async run(store, dir) {
      const first = await store.put(`${dir}stale`, bytes("v1"));
      await store.put(`${dir}stale`, bytes("v2"), { ifMatch: first.etag });
      const e = await refusal(store.put(`${dir}stale`, bytes("v3"), { ifMatch: first.etag }));
      if (e === null) throw new Unexpected("a write with an outdated ETag was accepted: a deposed primary could renew its lease");
      if (!(e instanceof PreconditionFailed)) throw e;
      return "412";
    },
  },
  {
    name: "PutObject If-Match on a missing key fails",
    conditional: true,
    async run(store, dir) {
      const e = await refusal(store.put(`${dir}missing`, bytes("x"), { ifMatch: '"0123456789abcdef0123456789abcdef"' }));
      if (e === null) {
        throw new Unexpected("the write was accepted and created the key: this store ignores If-Match on missing keys (MinIO before 2025-09, minio/minio#21526); a deleted lease could be taken over by two nodes");
      }
      if (e instanceof ObjectNotFound) return "404";
      if (e instanceof PreconditionFailed) return "412";
      throw e;
    },
  },
  {
    name: "a ranged GetObject returns exactly the range",
    conditional: false,
    async run(store, dir) {
      const body = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff);
      await store.put(`${dir}range`, body);
      const got = await store.get(`${dir}range`, { start: 1000, end: 1100 });
      if (got.body.length !== 100) throw new Unexpected(`asked for 100 bytes, got ${got.body.length}`);
      if (!Buffer.from(got.body).equals(Buffer.from(body.subarray(1000, 1100)))) throw new Unexpected("the bytes returned are not those of the range");
      if (got.size !== body.length) throw new Unexpected(`object size reported as ${got.size}, not ${body.length}`);
      return "100 of 4096 bytes";
    },
  },
  {
    name: "ListObjectsV2 paginates",
    conditional: false,
    async run(store, dir) {
      const keys = Array.from({ length: 5 }, (_, i) => `${dir}list/${i}`);
      await Promise.all(keys.map((k) => store.put(k, bytes(k))));
      const listed = await store.list(`${dir}list/`, { pageSize: 2 });
      const got = listed.objects.map((o) => o.key);
      if (got.join() !== keys.join()) throw new Unexpected(`listed ${JSON.stringify(got)}, expected ${JSON.stringify(keys)}`);
      if (listed.pages !== undefined && listed.pages < 3) throw new Unexpected(`5 keys at 2 per page came in ${listed.pages} pages`);
      return `${got.length} keys in ${listed.pages ?? "?"} pages`;
    },
  },
];

/** Runs the checks (only the conditional-write ones with `conditionalOnly`); scratch objects are deleted after. */
export async function checkStore(store: ObjectStore, prefix: string, opts: { conditionalOnly?: boolean } = {}): Promise<CheckResult[]> {
  const dir = `${clustersPrefix(prefix)}.klite-doctor/${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}/`;
  const results: CheckResult[] = [];
  try {
    for (const c of CHECKS) {
      if (opts.conditionalOnly && !c.conditional) continue;
      try {
        results.push({ name: c.name, ok: true, detail: await c.run(store, dir) });
      } catch (e) {
        results.push({ name: c.name, ok: false, detail: (e as Error).message });
      }
    }
  } finally {
    const left = await store.list(dir).catch(() => ({ objects: [] }));
    await Promise.allSettled(left.objects.map((o) => store.delete(o.key)));
  }
  return results;
}
