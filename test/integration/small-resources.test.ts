// Issue 12 case 11: small machines. A data dir too small for the configured WAL segments stops the start with a
// message saying how much space it needs (not "ENOSPC ... write"); at a low open-files limit a flood of connections
// is refused before it takes the descriptors the WAL needs, so produce goes on while the WAL rotates.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, ROOT, spawnBroker, startBroker, type SpawnedBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { describeWithPeer, run, type PeerResult } from "../helpers/peers.ts";
import { buildBatch } from "../../src/protocol/records.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const mountPoint = mkdtempSync(join(tmpdir(), "klite-small-"));
const tmpfs: PeerResult = await run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mountPoint], { timeoutMs: 10_000 }).then(
  (): PeerResult => ({ ok: true, path: mountPoint }),
  (e: Error): PeerResult => ({ ok: false, reason: `cannot mount a tmpfs (root needed): ${e.message}` }),
);
afterAll(async () => {
  if (tmpfs.ok) await run(["umount", "-l", mountPoint]).catch(() => {});
  rmSync(mountPoint, { recursive: true, force: true });
});

describeWithPeer("a 64 MiB disk (tmpfs)", tmpfs, () => {
  test("with the default 64 MiB segments the start is refused, saying how much space it needs; smaller segments start", async () => {
    const dataDir = join(mountPoint, "data");
    const err = await startBroker({ dataDir }).then(() => null, (e: Error) => e);
    expect(err).not.toBeNull();
    expect(err!.message).toContain("--data-dir");
    expect(err!.message).toContain("--wal-segment-max-bytes");
    expect(err!.message).toMatch(/needs 129 MiB/);
    expect(err!.message).not.toContain("ENOSPC");
    const b = await startBroker({ dataDir, walSegmentMaxBytes: 8 * 1024 * 1024 });
    cleanup.push(async () => {
      await b.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const c = await RawClient.connect(b.port);
    expect((await c.request(18, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" })).errorCode).toBe(0);
    c.close();
  });
});

describe("a low open-files limit", () => {
  test("a connection flood is refused before the WAL runs out of descriptors: produce goes on through segment rotations", async () => {
    // ulimit -n 256 for the broker alone; 64 KiB segments so that the WAL rotates (and prepares files) all along.
    const b: SpawnedBroker = await spawnBroker({
      command: ["bash", "-c", 'ulimit -n 256 && exec "$0" "$@"', BUN, join(ROOT, "src/main.ts")],
      args: ["--wal-segment-max-bytes", "64KiB", "--log-level", "info"],
    });
    cleanup.push(async () => {
      b.kill("SIGKILL");
      await b.exited;
      rmSync(b.dataDir, { recursive: true, force: true });
    });
    const producer = await RawClient.connect(b.port);
    const cr = await producer.request(19, 7, { topics: [{ name: "fd", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
    expect(cr.topics[0].errorCode).toBe(0);
    const flood: RawClient[] = [];
    cleanup.push(() => flood.forEach((c) => c?.close()));
    const errors: number[] = [];
    for (let i = 0; i < 300; i++) {
      // Connections pile up (each one a descriptor) while every produce needs the WAL to keep preparing segments.
      for (let k = 0; k < 2; k++) flood.push(await RawClient.connect(b.port).catch(() => null as unknown as RawClient));
      const r = await producer.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "fd", partitionData: [{ index: 0, records: buildBatch([{ value: new Uint8Array(4000).fill(i & 255) }]) }] }] });
      const code = r?.responses[0].partitionResponses[0].errorCode ?? -1;
      if (code !== 0) errors.push(code);
    }
    expect(errors).toEqual([]);
    expect(b.output()).toContain("open-files limit 256");
    expect(b.output()).toMatch(/refusing connection .*open-files limit/);
    producer.close();
  }, 120_000);
});
