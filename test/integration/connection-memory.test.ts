// What a connection holds (read pages, queued responses, requests in flight) is bounded by its share of the budget
// while the client does not read, and goes back at once when the client goes away, whether it closes its socket
// (FIN) or is killed (RST), although the broker had stopped reading from it. In-process, so the broker's own
// accounting can be asked (Broker.connectionMemory).
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { startBroker, waitFor, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { buildBatch } from "../../src/protocol/records.ts";

const MiB = 1024 * 1024;
let b: TestBroker;

beforeAll(async () => {
  b = await startBroker({ memoryLimit: 1024 * MiB });
  const c = await RawClient.connect(b.port);
  const r = await c.request(19, 7, { topics: [{ name: "t", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
  const value = new Uint8Array(100 * 1024).fill(1);
  for (let i = 0; i < 24; i++) {
    const p = await c.request(0, 9, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: "t", partitionData: [{ index: 0, records: buildBatch(Array.from({ length: 9 }, () => ({ key: null, value }))) }] }] });
    expect(p.responses[0].partitionResponses[0].errorCode).toBe(0);
  }
  c.close();
});

afterAll(async () => {
  await b.stop();
  b.cleanup();
});

async function stuckClient(fetches: number): Promise<Socket<undefined>> {
  const s = await Bun.connect({ hostname: "127.0.0.1", port: b.port, socket: { data() {}, error() {} } });
  s.pause();
  for (let i = 0; i < fetches; i++) {
    s.write(
      RawClient.frame(1, 12, {
        replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 50 * MiB, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
        topics: [{ topic: "t", partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 20 * MiB, currentLeaderEpoch: -1, logStartOffset: -1n }] }],
        forgottenTopicsData: [], rackId: "",
      }, i + 1),
    );
  }
  return s;
}

for (const how of ["terminate", "end"] as const) {
  test(`a client that never reads holds at most its share (64 MiB of pages); when it goes away (${how === "end" ? "FIN" : "RST"}) all of it is released at once`, async () => {
    const share = b.broker.context.memory.readsPerConnection;
    expect(share).toBe(64 * MiB);
    const s = await stuckClient(50);
    await waitFor(() => b.broker.connectionMemory.pages > 32 * MiB, "the stuck client's responses to take pages");
    await Bun.sleep(500);
    const held = b.broker.connectionMemory;
    expect(held.pages).toBeLessThanOrEqual(share);
    // A second client is served meanwhile.
    const ok = await RawClient.connect(b.port);
    expect((await ok.request(18, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" }))?.errorCode).toBe(0);
    ok.close();
    if (how === "terminate") s.terminate();
    else s.end();
    await waitFor(() => {
      const m = b.broker.connectionMemory;
      return m.pages === 0 && m.queued === 0 && m.requests === 0;
    }, "the closed connection's memory to be released", 2000);
  }, 20_000);
}
