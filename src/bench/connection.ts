// One client connection of the load generator, built on the project's generated codecs. Requests are pipelined:
// any number may be in flight, responses come back in request order (Kafka's guarantee per connection) and are
// matched by correlation id. Frames queued during one event-loop turn go out in one socket write (Bun charges
// per write call, notes/bun-platform.md §1); a partial write keeps the tail and resumes on drain.
import type { Socket } from "bun";
import { Reader, Writer } from "../protocol/codec.ts";
import * as apiVersions from "../protocol/messages/api-versions.ts";
import { requestHeaderVersion, writeRequestHeader, type RequestHeader } from "../protocol/messages/request-header.ts";
import { readResponseHeader, responseHeaderVersion, type ResponseHeader } from "../protocol/messages/response-header.ts";
import { coalesceHead, Framer } from "../server/framer.ts";

/** The parts of a generated message module a client needs. */
export interface ApiCodec<Req, Resp> {
  API_KEY: number;
  API_NAME: string;
  VALID_VERSIONS: { min: number; max: number };
  REQUEST_FLEXIBLE_MIN: number;
  RESPONSE_FLEXIBLE_MIN: number;
  encodeRequest(w: Writer, m: Req, v: number): void;
  decodeResponse(r: Reader, v: number): Resp;
}

export class ConnectionError extends Error {
  override name = "ConnectionError";
}

interface Pending {
  correlationId: number;
  headerVersion: number;
  decode: (r: Reader) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

const COALESCE_BYTES = 256 * 1024;
const MAX_RESPONSE = 1 << 30;

export class KafkaConnection {
  private socket: Socket<undefined> | null = null;
  private readonly framer = new Framer(MAX_RESPONSE);
  private pending: Pending[] = [];
  private pendingHead = 0;
  private out: Uint8Array[] = [];
  private oneWay: (() => void)[] = []; // acks=0 produces: resolved once their bytes are handed to the kernel
  private flushScheduled = false;
  private blocked = false;
  private nextCorrelationId = 1;
  private closedErr: Error | null = null;
  private readonly header: RequestHeader;
  private readonly responseHeader: ResponseHeader = { correlationId: 0 };
  /** Versions the broker serves, by API key (from ApiVersions). */
  readonly versions = new Map<number, { min: number; max: number }>();

  private constructor(
    readonly host: string,
    readonly port: number,
    readonly clientId: string,
  ) {
    this.header = { requestApiKey: 0, requestApiVersion: 0, correlationId: 0, clientId };
  }

  /** Connects and negotiates versions with ApiVersions. */
  static async connect(host: string, port: number, clientId = "klite-bench"): Promise<KafkaConnection> {
    const c = new KafkaConnection(host, port, clientId);
    c.socket = await Bun.connect<undefined>({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => c.onData(chunk),
        drain: () => {
          c.blocked = false;
          c.flush();
        },
        close: () => c.fail(new ConnectionError(`connection to ${host}:${port} closed`)),
        error: (_s, e) => c.fail(new ConnectionError(`connection to ${host}:${port} failed: ${e.message}`)),
        connectError: (_s, e) => c.fail(new ConnectionError(`cannot connect to ${host}:${port}: ${e.message}`)),
      },
    });
    const resp = await c.send(apiVersions, 3, { clientSoftwareName: "klite-bench", clientSoftwareVersion: "1" });
    if (resp.errorCode !== 0) throw new ConnectionError(`ApiVersions failed with error ${resp.errorCode}`);
    for (const k of resp.apiKeys) c.versions.set(k.apiKey, { min: k.minVersion, max: k.maxVersion });
    return c;
  }

  get closed(): boolean {
    return this.closedErr !== null;
  }

  /** Requests sent whose response has not arrived yet. */
  get inFlight(): number {
    return this.pending.length - this.pendingHead;
  }

  /** The highest version both sides speak, capped at `atMost`; throws when there is none. */
  version(codec: ApiCodec<unknown, unknown>, atMost = codec.VALID_VERSIONS.max): number {
    const b = this.versions.get(codec.API_KEY);
    const v = Math.min(atMost, codec.VALID_VERSIONS.max, b?.max ?? -1);
    if (!b || v < b.min) throw new ConnectionError(`${codec.API_NAME}: no version in common with ${this.host}:${this.port}`);
    return v;
  }

  /** Sends a request and resolves with its decoded response. `sizeHint` pre-sizes the encode buffer. */
  send<Req, Resp>(codec: ApiCodec<Req, Resp>, version: number, body: Req, sizeHint = 256): Promise<Resp> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    const correlationId = this.enqueue(codec, version, body, sizeHint);
    return new Promise<Resp>((resolve, reject) => {
      this.pending.push({
        correlationId,
        headerVersion: responseHeaderVersion(codec.API_KEY, codec.RESPONSE_FLEXIBLE_MIN, version),
        decode: (r) => codec.decodeResponse(r, version),
        resolve: resolve as (v: unknown) => void,
        reject,
      });
    });
  }

  /** Sends a request that gets no response (Produce with acks=0); resolves once written to the socket. */
  sendOneWay<Req>(codec: ApiCodec<Req, unknown>, version: number, body: Req, sizeHint = 256): Promise<void> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    this.enqueue(codec, version, body, sizeHint);
    return new Promise<void>((resolve) => this.oneWay.push(resolve));
  }

  close(): void {
    this.socket?.end();
    this.fail(new ConnectionError("connection closed by the client"));
  }

  private enqueue<Req>(codec: ApiCodec<Req, unknown>, version: number, body: Req, sizeHint: number): number {
    const correlationId = this.nextCorrelationId++;
    const w = new Writer(sizeHint + 64 + this.clientId.length);
    w.i32(0);
    const h = this.header; // synchronous: reused for every request
    h.requestApiKey = codec.API_KEY;
    h.requestApiVersion = version;
    h.correlationId = correlationId;
    writeRequestHeader(w, h, requestHeaderVersion(codec.REQUEST_FLEXIBLE_MIN, version));
    codec.encodeRequest(w, body, version);
    w.dv.setInt32(0, w.pos - 4);
    this.out.push(w.finish());
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
    return correlationId;
  }

  private flush(): void {
    const s = this.socket;
    while (s && !this.blocked && !this.closedErr && this.out.length > 0) {
      const buf = coalesceHead(this.out, COALESCE_BYTES);
      const wrote = s.write(buf, 0, buf.length);
      if (wrote < 0) return this.fail(new ConnectionError(`connection to ${this.host}:${this.port} closed while writing`));
      if (wrote < buf.length) {
        this.out[0] = buf.subarray(wrote);
        this.blocked = true;
        return;
      }
      this.out.shift();
    }
    if (this.out.length === 0 && this.oneWay.length > 0) {
      const done = this.oneWay;
      this.oneWay = [];
      for (const f of done) f();
    }
  }

  private onData(chunk: Uint8Array): void {
    try {
      this.framer.push(chunk, (frame) => this.onFrame(frame));
    } catch (e) {
      this.fail(new ConnectionError(`bad response frame from ${this.host}:${this.port}: ${(e as Error).message}`));
      this.socket?.end();
    }
  }

  private onFrame(frame: Uint8Array): void {
    const p = this.pending[this.pendingHead];
    const r = new Reader(frame);
    let correlationId: number;
    try {
      correlationId = readResponseHeader(r, p?.headerVersion ?? 0, this.responseHeader).correlationId;
    } catch (e) {
      this.fail(new ConnectionError(`response header from ${this.host}:${this.port} does not parse: ${(e as Error).message}`));
      this.socket?.end();
      return;
    }
    if (!p || p.correlationId !== correlationId) {
      this.fail(new ConnectionError(`response with correlation id ${correlationId}, expected ${p?.correlationId ?? "none"}`));
      this.socket?.end();
      return;
    }
    this.pending[this.pendingHead++] = undefined as unknown as Pending;
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    let resp: unknown;
    try {
      resp = p.decode(r);
    } catch (e) {
      p.reject(e as Error);
      return;
    }
    p.resolve(resp);
  }

  private fail(e: Error): void {
    if (this.closedErr) return;
    this.closedErr = e;
    const waiting = this.pending.slice(this.pendingHead);
    this.pending = [];
    this.pendingHead = 0;
    this.out = [];
    for (const p of waiting) p.reject(e);
    const oneWay = this.oneWay;
    this.oneWay = [];
    for (const f of oneWay) f();
  }
}
