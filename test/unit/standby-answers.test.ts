// A standby serves no Kafka client, but answers every request: each handler either has a standby answer (its API's
// "not the leader / coordinator / controller" error in its own response shape) or is marked sameOnStandby. A new
// handler without either fails here. The answers are encoded with the generated codecs at every version, so a
// client reaching a standby never sees a connection reset.
import { expect, test } from "bun:test";
import { HANDLERS } from "../../src/handlers/index.ts";
import type { BrokerContext, RequestContext } from "../../src/handlers/handler.ts";
import { Reader, Writer } from "../../src/protocol/codec.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { testConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/logger.ts";
import * as produce from "../../src/protocol/messages/produce.ts";
import * as metadata from "../../src/protocol/messages/metadata.ts";
import * as fetchCodec from "../../src/protocol/messages/fetch.ts";

test("every handler has a standby answer or is marked sameOnStandby", () => {
  const missing = [...HANDLERS.values()].filter((h) => !h.standby && !h.sameOnStandby).map((h) => h.codec.API_NAME);
  expect(missing).toEqual([]);
});

const topic = { name: "orders", id: "0123456789abcdef0123456789abcdef", partitions: 2, configs: new Map() };
const broker = {
  config: testConfig(),
  clusterId: "c",
  nodeId: 2,
  advertised: { host: "127.0.0.1", port: 9093 },
  catalog: { all: () => [topic][Symbol.iterator](), topic: (n: string) => (n === "orders" ? topic : undefined), topicById: () => undefined },
  logger: silentLogger,
  apis: [],
  stopped: false,
  role: "standby",
  peer: { nodeId: 1, host: "127.0.0.1", port: 9092 },
} as unknown as BrokerContext;
const ctx = (apiVersion: number): RequestContext => ({ broker, apiVersion, correlationId: 1, clientId: "t", remote: "127.0.0.1:1", pages: () => { throw new Error("a standby reads nothing"); } });

/** The request bytes a client would send, decoded back as the handler gets them. */
function roundTrip<T>(codec: { decodeRequest(r: Reader, v: number): T }, encode: (w: Writer) => void, v: number): T {
  const w = new Writer(256);
  encode(w);
  return codec.decodeRequest(new Reader(w.finish()), v);
}

test("produce, fetch and metadata on a standby: NOT_LEADER_OR_FOLLOWER, and Metadata naming the primary it knows (no leader when it knows none)", () => {
  const h = HANDLERS.get(0)!;
  const preq = roundTrip(produce, (w) => produce.encodeRequest(w, { transactionalId: null, acks: -1, timeoutMs: 1000, topicData: [{ name: "orders", partitionData: [{ index: 1, records: null }] }] }, 9), 9);
  const presp = h.standby!(preq, ctx(9)) as produce.ProduceResponse;
  expect(presp.responses[0]!.partitionResponses[0]!.errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  expect(h.standby!({ ...preq, acks: 0 }, ctx(9))).toBeNull();

  const f = HANDLERS.get(1)!;
  const freq = { replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic: "orders", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [], rackId: "" };
  const fresp = f.standby!(freq, ctx(11)) as fetchCodec.FetchResponse;
  expect(fresp.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);

  // Knowing the primary (from the lease), the standby names it as every partition's leader; not knowing it, no leader.
  const m = HANDLERS.get(3)!;
  const mreq = { topics: [{ name: "orders" }, { name: "other" }], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false };
  const mresp = m.standby!(mreq, ctx(12)) as metadata.MetadataResponse;
  expect(mresp.brokers.map((b) => b.nodeId)).toEqual([2, 1]);
  expect(mresp.topics[0]!.partitions.map((p) => [p.leaderId, p.errorCode])).toEqual([[1, 0], [1, 0]]);
  expect(mresp.topics[1]!.errorCode).toBe(ErrorCode.LEADER_NOT_AVAILABLE);
  const alone = m.standby!(mreq, { ...ctx(12), broker: { ...broker, peer: null, catalog: broker.catalog, advertised: broker.advertised } as BrokerContext }) as metadata.MetadataResponse;
  expect(alone.brokers.map((b) => b.nodeId)).toEqual([2]);
  expect(alone.topics[0]!.partitions.map((p) => [p.leaderId, p.errorCode])).toEqual([[-1, ErrorCode.LEADER_NOT_AVAILABLE], [-1, ErrorCode.LEADER_NOT_AVAILABLE]]);
});

test("every standby answer encodes at every version its handler serves", async () => {
  // Requests decoded from an empty-ish body are not available generically, so each answer is built from a minimal
  // request object: the fields the standby answers read are all optional or arrays.
  const minimal: Record<string, unknown> = {
    topicData: [], topics: [], groups: [], groupsNames: [], coordinatorKeys: ["g"], key: "g", acks: -1, memberId: "m", groupId: "g", topicNames: [],
    includeTopicAuthorizedOperations: false, includeClusterAuthorizedOperations: false,
  };
  for (const h of HANDLERS.values()) {
    if (!h.standby) continue;
    for (let v = h.minVersion; v <= h.maxVersion; v++) {
      const resp = await h.standby(minimal, { ...ctx(v), broker: { ...broker, peer: null } as BrokerContext });
      if (resp === null) continue;
      const w = new Writer(256);
      h.codec.encodeResponse(w, resp, v);
      expect(w.pos).toBeGreaterThan(0);
    }
  }
});
