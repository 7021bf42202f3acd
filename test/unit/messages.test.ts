// Every generated codec, every version: encode → decode → encode gives identical bytes, for a message with
// every field at its default and for one with arrays and strings filled in.
import { describe, expect, test } from "bun:test";
import { Reader, Writer } from "../../src/protocol/codec.ts";
import { CODECS } from "../../src/protocol/messages/index.ts";
import { readRequestHeader, requestHeaderVersion, writeRequestHeader, type RequestHeader } from "../../src/protocol/messages/request-header.ts";
import { responseHeaderVersion, writeResponseHeader } from "../../src/protocol/messages/response-header.ts";

type AnyCodec = {
  API_NAME: string;
  VALID_VERSIONS: { min: number; max: number };
  encodeRequest(w: Writer, m: unknown, v: number): void;
  decodeRequest(r: Reader, v: number): unknown;
  encodeResponse(w: Writer, m: unknown, v: number): void;
  decodeResponse(r: Reader, v: number): unknown;
};

function roundTrip(enc: (w: Writer, m: unknown, v: number) => void, dec: (r: Reader, v: number) => unknown, msg: unknown, v: number) {
  const w1 = new Writer(8);
  enc(w1, msg, v);
  const bytes1 = w1.finish().slice();
  const r = new Reader(bytes1);
  const decoded = dec(r, v);
  expect(r.remaining()).toBe(0);
  const w2 = new Writer(8);
  enc(w2, decoded, v);
  expect(w2.finish()).toEqual(bytes1);
  return decoded;
}

describe("generated message codecs", () => {
  for (const [key, codec] of Object.entries(CODECS) as [string, AnyCodec][]) {
    test(`${codec.API_NAME} (key ${key}) round-trips at every version`, () => {
      for (let v = codec.VALID_VERSIONS.min; v <= codec.VALID_VERSIONS.max; v++) {
        roundTrip(codec.encodeRequest, codec.decodeRequest, {}, v);
        roundTrip(codec.encodeResponse, codec.decodeResponse, {}, v);
      }
    });
  }

  test("Produce request with topics, partitions and records at v3, v8 and v11", () => {
    const c = CODECS[0];
    for (const v of [3, 8, 11]) {
      const msg = { transactionalId: null, acks: -1, timeoutMs: 30000, topicData: [{ name: "t", partitionData: [{ index: 2, records: new Uint8Array([9, 8, 7]) }] }] };
      const d = roundTrip(c.encodeRequest as never, c.decodeRequest as never, msg, v) as typeof msg;
      expect(d.acks).toBe(-1);
      expect(d.topicData[0]!.name).toBe("t");
      expect([...(d.topicData[0]!.partitionData[0]!.records as Uint8Array)]).toEqual([9, 8, 7]);
    }
  });

  test("tagged fields survive a round trip (ApiVersions v3 finalized features epoch)", () => {
    const c = CODECS[18];
    const d = roundTrip(c.encodeResponse as never, c.decodeResponse as never, { errorCode: 0, apiKeys: [{ apiKey: 0, minVersion: 3, maxVersion: 11 }], finalizedFeaturesEpoch: 7n, supportedFeatures: [{ name: "x", minVersion: 1, maxVersion: 2 }] }, 3) as { finalizedFeaturesEpoch: bigint; supportedFeatures: { name: string }[] };
    expect(d.finalizedFeaturesEpoch).toBe(7n);
    expect(d.supportedFeatures[0]!.name).toBe("x");
  });

  test("a records field can be encoded from several batches", () => {
    const c = CODECS[1];
    const w = new Writer(8);
    const part = { partitionIndex: 0, errorCode: 0, highWatermark: 5n, records: [new Uint8Array([1, 2]), new Uint8Array([3])] };
    c.encodeResponse(w, { responses: [{ topic: "t", partitions: [part] }] } as never, 12);
    const d = c.decodeResponse(new Reader(w.finish()), 12);
    expect([...(d.responses[0]!.partitions[0]!.records as Uint8Array)]).toEqual([1, 2, 3]);
  });

  test("request and response headers: versions per API version, client id, tagged fields, decoded into a reused object", () => {
    expect(requestHeaderVersion(CODECS[0].REQUEST_FLEXIBLE_MIN, 8)).toBe(1);
    expect(requestHeaderVersion(CODECS[0].REQUEST_FLEXIBLE_MIN, 9)).toBe(2);
    expect(responseHeaderVersion(0, CODECS[0].RESPONSE_FLEXIBLE_MIN, 9)).toBe(1);
    expect(responseHeaderVersion(18, CODECS[18].RESPONSE_FLEXIBLE_MIN, 3)).toBe(0); // ApiVersions: always v0
    const w = new Writer(8);
    writeRequestHeader(w, { requestApiKey: 3, requestApiVersion: 12, correlationId: 42, clientId: "c" }, 2);
    // key, version, correlation id, client id as a classic int16-length string even in v2, one empty tag section
    expect([...w.finish()]).toEqual([0, 3, 0, 12, 0, 0, 0, 42, 0, 1, 99, 0]);
    const into: RequestHeader = { requestApiKey: 0, requestApiVersion: 0, correlationId: 0, clientId: null };
    expect(readRequestHeader(new Reader(w.finish()), 2, into)).toBe(into);
    expect(into).toEqual({ requestApiKey: 3, requestApiVersion: 12, correlationId: 42, clientId: "c" });
    const rw = new Writer(8);
    writeResponseHeader(rw, { correlationId: 7 }, 1);
    expect([...rw.finish()]).toEqual([0, 0, 0, 7, 0]);
  });
});
