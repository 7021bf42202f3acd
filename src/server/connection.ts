// One client connection, independent of the transport: bytes in (onData), bytes out (Transport.write).
// Requests may be pipelined: each is decoded and handed to its handler as it arrives (so appends keep arrival
// order), handlers run concurrently, and responses go out strictly in request order. Finished responses are
// written once per event-loop turn; a partial write waits for drain. Reading pauses while too many requests are
// in flight or too many response bytes are queued.
//
// What closes the connection (with a log line; every other connection is unaffected): a frame over the size
// limit, a request that does not decode, an unknown API key, an unsupported version of anything but
// ApiVersions, and an exception in a handler (a bug).
import { DecodeError, Reader, Writer } from "../protocol/codec.ts";
import { ErrorCode } from "../protocol/errors.ts";
import * as apiVersionsCodec from "../protocol/messages/api-versions.ts";
import { readRequestHeader, requestHeaderVersion, type RequestHeader } from "../protocol/messages/request-header.ts";
import { responseHeaderVersion, writeResponseHeader, type ResponseHeader } from "../protocol/messages/response-header.ts";
import type { BrokerContext, Handler, RequestContext } from "../handlers/handler.ts";
import type { Logger } from "../logger.ts";
import { coalesceHead, FrameError, Framer } from "./framer.ts";
import { unservedRequest } from "./unserved.ts";

export interface Transport {
  /** Bytes the kernel took (may be fewer than asked), or -1 when closed. */
  write(data: Uint8Array, offset: number, length: number): number;
  pause(): void;
  resume(): void;
  close(): void;
  readonly remote: string;
}

const MAX_IN_FLIGHT = 1024;
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
const COALESCE_BYTES = 1024 * 1024;
const API_VERSIONS = 18;

interface Slot {
  out: Uint8Array | null;
  ready: boolean;
}

export class Connection {
  private readonly framer: Framer;
  private readonly slots: Slot[] = [];
  private slotHead = 0;
  private outQ: Uint8Array[] = [];
  private outBytes = 0;
  private writeScheduled = false;
  private blocked = false;
  private paused = false;
  /** Shutdown: no more requests are read from this connection. */
  private reading = true;
  private clientId: string | null = null;
  /** Each request's header is decoded into this one object (its fields are copied out at once). */
  private readonly header: RequestHeader = { requestApiKey: 0, requestApiVersion: 0, correlationId: 0, clientId: null };
  closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly broker: BrokerContext,
    private readonly handlers: ReadonlyMap<number, Handler>,
    private readonly logger: Logger,
  ) {
    this.framer = new Framer(broker.config.maxRequestSize);
  }

  /** Requests received whose response has not been written yet. */
  get inFlight(): number {
    return this.slots.length - this.slotHead;
  }

  /** Every request read is answered and every response handed to the socket (or the connection is gone). */
  get idle(): boolean {
    return this.closed || (this.inFlight === 0 && this.outQ.length === 0);
  }

  /** Shutdown: reads no more requests (those already read are still answered). */
  stopReading(): void {
    this.reading = false;
    if (this.closed || this.paused) return;
    this.paused = true;
    this.transport.pause();
  }

  onData(chunk: Uint8Array): void {
    if (this.closed || !this.reading) return;
    try {
      this.framer.push(chunk, (f) => this.onFrame(f));
    } catch (e) {
      if (e instanceof FrameError) this.closeWith(e.message);
      else throw e;
    }
    this.applyBackpressure();
  }

  onDrain(): void {
    this.blocked = false;
    this.writeOut();
  }

  onClose(): void {
    this.closed = true;
    this.outQ = [];
  }

  /** Closes the connection after logging why. */
  closeWith(reason: string, level: "warn" | "error" = "warn"): void {
    if (this.closed) return;
    this.logger[level](`closing connection from ${this.transport.remote}${this.clientId ? ` (client.id ${this.clientId})` : ""}: ${reason}`);
    this.closed = true;
    this.transport.close();
  }

  private onFrame(frame: Uint8Array): void {
    if (this.closed) return;
    if (frame.length < 8) {
      this.closeWith(`request of ${frame.length} bytes is too short for a request header`);
      return;
    }
    // The header's version depends on the API and its version, which lead every header: peek at them first.
    const r = new Reader(frame);
    const key = r.dv.getInt16(0);
    const version = r.dv.getInt16(2);
    const handler = this.handlers.get(key);
    if (!handler) {
      this.closeWith(unservedRequest(frame, key));
      return;
    }
    const codec = handler.codec;
    const supported = version >= handler.minVersion && version <= handler.maxVersion;
    const header = this.header;
    try {
      readRequestHeader(r, requestHeaderVersion(codec.REQUEST_FLEXIBLE_MIN, version), header);
    } catch {
      this.closeWith(`${codec.API_NAME} v${version} request header does not parse`);
      return;
    }
    const correlationId = header.correlationId;
    this.clientId = header.clientId ?? null;
    if (!supported) {
      if (key === API_VERSIONS) {
        // Answer in v0, which every client can read, with the versions we do serve.
        const slot = this.newSlot();
        this.finish(slot, encodeFrame(apiVersionsCodec, { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: this.broker.apis.map((a) => ({ apiKey: a.key, minVersion: a.min, maxVersion: a.max })) }, 0, correlationId, 0));
        return;
      }
      this.closeWith(`${codec.API_NAME} v${version} is not supported (versions ${handler.minVersion}-${handler.maxVersion})`);
      return;
    }
    let req: unknown;
    try {
      req = codec.decodeRequest(r, version);
    } catch (e) {
      if (e instanceof DecodeError) {
        this.closeWith(`${codec.API_NAME} v${version} request does not parse: ${e.message}`);
        return;
      }
      throw e;
    }
    const ctx: RequestContext = { broker: this.broker, apiVersion: version, correlationId, clientId: this.clientId, remote: this.transport.remote };
    const slot = this.newSlot();
    const headerVersion = responseHeaderVersion(key, codec.RESPONSE_FLEXIBLE_MIN, version);
    const done = (resp: unknown) => {
      if (this.closed) return;
      this.finish(slot, resp === null ? null : encodeFrame(codec, resp, version, correlationId, headerVersion));
    };
    const bug = (e: unknown) => {
      this.logger.error(`${codec.API_NAME} v${version} from ${this.transport.remote} (client.id ${this.clientId}) failed: ${(e as Error)?.stack ?? e}`);
      this.closeWith(`internal error in ${codec.API_NAME}`, "error");
    };
    try {
      const result = this.broker.role === "standby" && handler.standby ? handler.standby(req, ctx) : handler.handle(req, ctx);
      if (result instanceof Promise) result.then(done, bug);
      else done(result);
    } catch (e) {
      bug(e);
    }
  }

  private newSlot(): Slot {
    const s: Slot = { out: null, ready: false };
    this.slots.push(s);
    return s;
  }

  private finish(slot: Slot, out: Uint8Array | null): void {
    slot.out = out;
    slot.ready = true;
    // Release every finished response at the head of the line, in request order.
    while (this.slotHead < this.slots.length && this.slots[this.slotHead]!.ready) {
      const s = this.slots[this.slotHead++]!;
      if (s.out) {
        this.outQ.push(s.out);
        this.outBytes += s.out.length;
      }
    }
    if (this.slotHead > 1024 && this.slotHead * 2 > this.slots.length) {
      this.slots.splice(0, this.slotHead);
      this.slotHead = 0;
    }
    if (this.outQ.length && !this.writeScheduled && !this.blocked) {
      this.writeScheduled = true;
      setImmediate(() => {
        this.writeScheduled = false;
        this.writeOut();
      });
    }
    this.applyBackpressure();
  }

  private writeOut(): void {
    while (!this.closed && !this.blocked && this.outQ.length > 0) {
      const buf = coalesceHead(this.outQ, COALESCE_BYTES);
      const wrote = this.transport.write(buf, 0, buf.length);
      if (wrote < 0) {
        this.onClose();
        return;
      }
      this.outBytes -= wrote;
      if (wrote < buf.length) {
        this.outQ[0] = buf.subarray(wrote);
        this.blocked = true; // resumes from drain
        break;
      }
      this.outQ.shift();
    }
    this.applyBackpressure();
  }

  private applyBackpressure(): void {
    if (this.closed) return;
    const over = this.inFlight > MAX_IN_FLIGHT || this.outBytes > MAX_QUEUED_BYTES;
    if (over && !this.paused) {
      this.paused = true;
      this.transport.pause();
    } else if (!over && this.paused && this.reading && this.inFlight <= MAX_IN_FLIGHT / 2 && this.outBytes <= MAX_QUEUED_BYTES / 2) {
      this.paused = false;
      this.transport.resume();
    }
  }
}

const responseHeader: ResponseHeader = { correlationId: 0 };

/** A whole response frame: size, response header (`headerVersion`: see responseHeaderVersion), body. */
export function encodeFrame<Resp>(codec: { encodeResponse(w: Writer, m: Resp, v: number): void }, resp: Resp, version: number, correlationId: number, headerVersion: number): Uint8Array {
  const w = new Writer(1024);
  w.i32(0);
  responseHeader.correlationId = correlationId; // synchronous: the shared object is free again on return
  writeResponseHeader(w, responseHeader, headerVersion);
  codec.encodeResponse(w, resp, version);
  w.dv.setInt32(0, w.pos - 4);
  return w.finish();
}
