// One client connection, independent of the transport: bytes in (onData), bytes out (Transport.write).
// Requests may be pipelined: each is decoded and handed to its handler as it arrives (so appends keep arrival
// order), handlers run concurrently, and responses go out strictly in request order. Finished responses are
// written once per event-loop turn; a partial write waits for drain. A fetch response goes out as pieces: its
// encoded fields and the read pages holding its records (no copy), which go back to the pool once the socket has
// taken them, or at once when the connection closes.
// Memory (budget.ts): while this connection holds too much (requests in flight, response bytes queued, read pages)
// or the broker as a whole does, received frames wait undecoded and the socket is paused, so what a client that
// does not read its responses can make the broker hold stays bounded.
//
// What closes the connection (with a log line; every other connection is unaffected): a frame over the size
// limit, a request that does not decode, an unknown API key, an unsupported version of anything but
// ApiVersions, and an exception in a handler (a bug).
import { DecodeError, EncodeError, Reader, Writer } from "../protocol/codec.ts";
import { ErrorCode } from "../protocol/errors.ts";
import * as apiVersionsCodec from "../protocol/messages/api-versions.ts";
import { readRequestHeader, requestHeaderVersion, type RequestHeader } from "../protocol/messages/request-header.ts";
import { responseHeaderVersion, writeResponseHeader, type ResponseHeader } from "../protocol/messages/response-header.ts";
import type { BrokerContext, Handler, RequestContext } from "../handlers/handler.ts";
import type { Logger } from "../logger.ts";
import { Account, PageSink } from "../memory/pages.ts";
import type { ServerBudget } from "./budget.ts";
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
/** Queued frames smaller than this are merged into one write (up to COALESCE_BYTES); read pages go out as they are. */
const SMALL_PIECE = 16 * 1024;
const COALESCE_BYTES = 64 * 1024;
const API_VERSIONS = 18;

interface Slot {
  out: Uint8Array | Uint8Array[] | null;
  ready: boolean;
  /** Request bytes this request holds until answered. */
  bytes: number;
  /** Read pages its response is built in, given back once written. */
  sinks: PageSink[] | null;
}

export class Connection {
  private readonly framer: Framer;
  private readonly slots: Slot[] = [];
  private slotHead = 0;
  private outQ: Uint8Array[] = [];
  private outBytes = 0;
  /** Bytes ever queued / written, so a response's pages go back when the byte count passes its end. */
  private queuedTotal = 0;
  private writtenTotal = 0;
  private releases: { at: number; sinks: PageSink[] }[] = [];
  /** Frames received but not yet taken (the connection is over its budget). */
  private pending: Uint8Array[] = [];
  private requestBytes = 0;
  private readonly account: Account;
  private readonly retry = () => this.pump();
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
    private readonly budget: ServerBudget,
  ) {
    this.framer = new Framer(broker.config.maxRequestSize);
    this.account = new Account(budget.perConnection);
  }

  /** Requests received whose response has not been written yet (taken or waiting). */
  get inFlight(): number {
    return this.slots.length - this.slotHead + this.pending.length;
  }

  /** Bytes this connection holds: read pages, queued responses, requests in flight or waiting (for tests and stats). */
  get heldBytes(): number {
    let waiting = 0;
    for (const f of this.pending) waiting += f.length;
    return this.account.held + this.outBytes + this.requestBytes + waiting;
  }

  /** Every request read is answered and every response handed to the socket (or the connection is gone). */
  get idle(): boolean {
    return this.closed || (this.inFlight === 0 && this.outQ.length === 0);
  }

  /** Shutdown: reads no more requests (those already read, waiting ones included, are still answered). */
  stopReading(): void {
    this.reading = false;
    if (this.closed || this.paused) return;
    this.paused = true;
    this.transport.pause();
  }

  onData(chunk: Uint8Array): void {
    if (this.closed || !this.reading) return;
    try {
      this.framer.push(chunk, (f) => this.pending.push(f));
    } catch (e) {
      if (e instanceof FrameError) this.closeWith(e.message);
      else throw e;
    }
    this.pump();
  }

  onDrain(): void {
    this.blocked = false;
    this.writeOut();
  }

  /** The socket is gone: everything this connection holds goes back now, also what handlers still finish later. */
  onClose(): void {
    if (this.closed && this.outQ.length === 0 && this.releases.length === 0 && this.pending.length === 0) return;
    this.closed = true;
    this.budget.queuedBytes -= this.outBytes;
    this.outBytes = 0;
    this.outQ = [];
    this.pending = [];
    for (const r of this.releases) for (const s of r.sinks) s.release();
    this.releases = [];
    for (let i = this.slotHead; i < this.slots.length; i++) {
      const s = this.slots[i]!;
      if (s.ready && s.sinks) for (const k of s.sinks) k.release();
    }
    this.budget.forget(this.retry);
    this.budget.changed();
  }

  /** Closes the connection after logging why. */
  closeWith(reason: string, level: "warn" | "error" = "warn"): void {
    if (this.closed) return;
    this.logger[level](`closing connection from ${this.transport.remote}${this.clientId ? ` (client.id ${this.clientId})` : ""}: ${reason}`);
    this.transport.close();
    this.onClose();
  }

  /** Why this connection may take no further request now (null: it may). */
  private overBudget(): "self" | "shared" | null {
    if (this.slots.length - this.slotHead >= MAX_IN_FLIGHT) return "self";
    const cap = this.budget.perConnection;
    if (this.outBytes >= cap || this.account.held >= cap) return "self";
    if (this.requestBytes > 0 && this.requestBytes >= this.budget.requestsPerConnection) return "self";
    // The broker as a whole is at its budget: only connections holding nothing go on (one request each).
    if (this.requestBytes > 0 && this.budget.requestsFull) return "shared";
    if ((this.outBytes > 0 || this.account.held > 0) && this.budget.responsesFull) return "shared";
    return null;
  }

  /** Takes waiting frames while the budget allows; pauses reading while any wait. */
  private pump(): void {
    while (!this.closed && this.pending.length > 0) {
      const over = this.overBudget();
      if (over !== null) {
        if (over === "shared") this.budget.wait(this.retry);
        break;
      }
      this.onFrame(this.pending.shift()!);
    }
    if (this.closed) return;
    const stop = !this.reading || this.pending.length > 0 || this.overBudget() !== null;
    if (stop && !this.paused) {
      this.paused = true;
      this.transport.pause();
    } else if (!stop && this.paused) {
      this.paused = false;
      this.transport.resume();
    }
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
    const slot = this.newSlot();
    slot.bytes = frame.length;
    this.requestBytes += frame.length;
    this.budget.requestBytes += frame.length;
    const pages = () => {
      const sink = new PageSink(this.budget.pages, this.account);
      (slot.sinks ??= []).push(sink);
      if (this.closed) sink.release();
      return sink;
    };
    const ctx: RequestContext = { broker: this.broker, apiVersion: version, correlationId, clientId: this.clientId, remote: this.transport.remote, pages };
    const headerVersion = responseHeaderVersion(key, codec.RESPONSE_FLEXIBLE_MIN, version);
    const done = (resp: unknown) => {
      if (this.closed) {
        this.answered(slot);
        return;
      }
      let out: ReturnType<typeof encodeFrame> | null = null;
      try {
        out = resp === null ? null : encodeFrame(codec, resp, version, correlationId, headerVersion, slot.sinks !== null);
      } catch (e) {
        if (!(e instanceof EncodeError)) throw e;
        // What the request asked to echo cannot go back (invalid UTF-8 grown past a string's limit): Kafka fails too.
        this.closeWith(`the ${codec.API_NAME} v${version} response cannot be encoded: ${e.message}`);
        this.answered(slot);
        return;
      }
      this.finish(slot, out);
    };
    const bug = (e: unknown) => {
      this.logger.error(`${codec.API_NAME} v${version} from ${this.transport.remote} (client.id ${this.clientId}) failed: ${(e as Error)?.stack ?? e}`);
      this.closeWith(`internal error in ${codec.API_NAME}`, "error");
      this.answered(slot);
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
    const s: Slot = { out: null, ready: false, bytes: 0, sinks: null };
    this.slots.push(s);
    return s;
  }

  /** The request's bytes are no longer held (its handler is done). */
  private answered(slot: Slot): void {
    if (this.closed && slot.sinks) for (const k of slot.sinks) k.release();
    if (slot.bytes === 0) return;
    this.requestBytes -= slot.bytes;
    this.budget.requestBytes -= slot.bytes;
    slot.bytes = 0;
    this.budget.changed();
  }

  private finish(slot: Slot, out: Uint8Array | Uint8Array[] | null): void {
    slot.out = out;
    slot.ready = true;
    this.answered(slot);
    // Release every finished response at the head of the line, in request order.
    while (this.slotHead < this.slots.length && this.slots[this.slotHead]!.ready) {
      const s = this.slots[this.slotHead++]!;
      let n = 0;
      if (s.out instanceof Uint8Array) {
        this.outQ.push(s.out);
        n = s.out.length;
      } else if (s.out) {
        for (const piece of s.out) {
          this.outQ.push(piece);
          n += piece.length;
        }
      }
      this.outBytes += n;
      this.budget.queuedBytes += n;
      this.queuedTotal += n;
      if (s.sinks) {
        if (n === 0) for (const k of s.sinks) k.release();
        else this.releases.push({ at: this.queuedTotal, sinks: s.sinks });
      }
      s.out = null;
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
    this.pump();
  }

  private writeOut(): void {
    while (!this.closed && !this.blocked && this.outQ.length > 0) {
      const buf = coalesceHead(this.outQ, COALESCE_BYTES, SMALL_PIECE);
      const wrote = this.transport.write(buf, 0, buf.length);
      if (wrote < 0) {
        this.onClose();
        return;
      }
      this.outBytes -= wrote;
      this.budget.queuedBytes -= wrote;
      this.writtenTotal += wrote;
      if (wrote < buf.length) {
        this.outQ[0] = buf.subarray(wrote);
        this.blocked = true; // resumes from drain
      } else {
        this.outQ.shift();
      }
      // Responses wholly taken by the socket give their pages back.
      while (this.releases.length > 0 && this.releases[0]!.at <= this.writtenTotal) {
        for (const k of this.releases.shift()!.sinks) k.release();
      }
    }
    this.budget.changed();
    this.pump();
  }
}

const responseHeader: ResponseHeader = { correlationId: 0 };

/**
 * A whole response frame: size, response header (`headerVersion`: see responseHeaderVersion), body. With `splice`,
 * records given as lists of buffers (read pages) are not copied: the frame is then the list of pieces to write in order.
 */
export function encodeFrame<Resp>(codec: { encodeResponse(w: Writer, m: Resp, v: number): void }, resp: Resp, version: number, correlationId: number, headerVersion: number, splice = false): Uint8Array | Uint8Array[] {
  const w = new Writer(1024);
  if (splice) w.pieces = [];
  w.i32(0);
  responseHeader.correlationId = correlationId; // synchronous: the shared object is free again on return
  writeResponseHeader(w, responseHeader, headerVersion);
  codec.encodeResponse(w, resp, version);
  if (w.spliced === 0) {
    w.dv.setInt32(0, w.pos - 4);
    return w.finish();
  }
  const pieces = w.finishPieces();
  const first = pieces[0]!;
  new DataView(first.buffer, first.byteOffset, 4).setInt32(0, w.pos + w.spliced - 4);
  return pieces;
}
