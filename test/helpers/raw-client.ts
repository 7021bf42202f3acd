// A minimal Kafka client over our generated codecs, for tests that must control the exact bytes (bad input,
// protocol edge cases). One TCP connection; requests are answered in order.
import type { Socket } from "bun";
import { Reader, Writer } from "../../src/protocol/codec.ts";
import { CODECS, type ApiKey } from "../../src/protocol/messages/index.ts";
import { requestHeaderVersion, writeRequestHeader } from "../../src/protocol/messages/request-header.ts";
import { readResponseHeader, responseHeaderVersion } from "../../src/protocol/messages/response-header.ts";

type Codec = (typeof CODECS)[ApiKey];

export class RawClient {
  private buf: Uint8Array = new Uint8Array(0);
  private chunks: Uint8Array[] = [];
  private have = 0;
  private need = 0;
  private waiting: ((frame: Uint8Array) => void)[] = [];
  /** Frames that arrived while nobody waited (pipelined responses), handed out in order by nextFrame. */
  private unclaimed: Uint8Array[] = [];
  private closedResolve!: () => void;
  readonly closed: Promise<void> = new Promise((r) => (this.closedResolve = r));
  isClosed = false;
  private corr = 1;

  private constructor(private socket: Socket<undefined>) {}

  static async connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    let client: RawClient;
    const socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data(_s, chunk) {
          client.onData(chunk);
        },
        close() {
          client.isClosed = true;
          client.closedResolve();
        },
        error() {},
      },
    });
    client = new RawClient(socket);
    return client;
  }

  private onData(chunk: Uint8Array): void {
    // Large responses arrive in many chunks: keep them until the frame is complete, then join them once.
    if (this.need > 0) {
      this.chunks.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) return;
      chunk = Buffer.concat(this.chunks);
      this.chunks = [];
      this.need = 0;
    }
    const b = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = b;
    if (this.buf.length >= 4) {
      const size = new DataView(this.buf.buffer, this.buf.byteOffset).getInt32(0);
      if (this.buf.length < 4 + size) {
        this.chunks = [this.buf];
        this.have = this.buf.length;
        this.need = 4 + size;
        this.buf = new Uint8Array(0);
        return;
      }
    }
    while (this.buf.length >= 4) {
      const size = new DataView(this.buf.buffer, this.buf.byteOffset).getInt32(0);
      if (this.buf.length < 4 + size) break;
      const frame = this.buf.slice(4, 4 + size);
      this.buf = this.buf.slice(4 + size);
      const w = this.waiting.shift();
      if (w) w(frame);
      else this.unclaimed.push(frame);
    }
  }

  /** Sends raw bytes as they are. */
  sendRaw(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const n = this.socket.write(bytes.subarray(off));
      if (n <= 0) break;
      off += n;
    }
  }

  /** Waits for the next response frame (without its size), or null if the connection closes first. */
  nextFrame(timeoutMs = 5000): Promise<Uint8Array | null> {
    const ready = this.unclaimed.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), timeoutMs);
      this.waiting.push((f) => {
        clearTimeout(t);
        resolve(f);
      });
      void this.closed.then(() => {
        clearTimeout(t);
        resolve(null);
      });
    });
  }

  /** Encodes a request frame for api `key` at `version`. */
  static frame(key: ApiKey, version: number, body: unknown, correlationId: number, clientId: string | null = "raw-test"): Uint8Array {
    const codec = CODECS[key] as Codec;
    const w = new Writer(256);
    w.i32(0);
    writeRequestHeader(w, { requestApiKey: key, requestApiVersion: version, correlationId, clientId }, requestHeaderVersion(codec.REQUEST_FLEXIBLE_MIN, version));
    (codec.encodeRequest as (w: Writer, m: unknown, v: number) => void)(w, body, version);
    w.dv.setInt32(0, w.pos - 4);
    return w.finish().slice();
  }

  /** Sends a request and decodes its response (null when the broker closed the connection instead). */
  async request<T = any>(key: ApiKey, version: number, body: unknown, timeoutMs = 10_000): Promise<T | null> {
    const corr = this.corr++;
    const pending = this.nextFrame(timeoutMs);
    this.sendRaw(RawClient.frame(key, version, body, corr));
    const frame = await pending;
    if (!frame) return null;
    return RawClient.decodeResponse(key, version, frame, corr) as T;
  }

  static decodeResponse(key: ApiKey, version: number, frame: Uint8Array, corr?: number): unknown {
    const codec = CODECS[key] as Codec;
    const r = new Reader(frame);
    const got = readResponseHeader(r, responseHeaderVersion(key, codec.RESPONSE_FLEXIBLE_MIN, version)).correlationId;
    if (corr !== undefined && got !== corr) throw new Error(`correlation id ${got}, expected ${corr}`);
    return (codec.decodeResponse as (r: Reader, v: number) => unknown)(r, version);
  }

  close(): void {
    this.socket.end();
  }
}
