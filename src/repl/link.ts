// The replication connection: frames (frames.ts) over mutual TLS with Bun.listen / Bun.connect. Both sides present
// the node certificate from the bucket and accept only a peer whose certificate chains to the bucket's CA:
// rejectUnauthorized is set explicitly and, because Bun has shipped releases that did not enforce it
// (notes/bun-platform.md §1), the handshake callback also closes any socket that is not authorized.
// Writes are Bun's unbuffered socket writes: what the kernel does not take is kept (copied) and sent on drain.
import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../logger.ts";
import { encodeFrame, FrameError, FrameReader, type Frame } from "./frames.ts";
import type { ReplicationPki } from "./pki.ts";

export interface LinkHandlers {
  /** A peer passed the TLS handshake (server side: a standby connected). */
  opened?(link: Link): void;
  frame(link: Link, f: Frame): void;
  /** The connection is gone (either side closed it, or a frame was malformed); called once. */
  closed(link: Link, why: string): void;
}

interface SocketData {
  link: Link | null;
}

export class Link {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private readonly reader = new FrameReader();
  private waiters: (() => void)[] = [];
  closed = false;
  closeReason = "";

  constructor(
    private readonly socket: Socket<SocketData>,
    private readonly handlers: LinkHandlers,
    readonly remote: string,
  ) {}

  /** Bytes accepted by send() that the kernel has not taken yet. */
  get queuedBytes(): number {
    return this.queued;
  }

  send(type: number, epoch: number, seq: number, payload?: Uint8Array): void {
    this.sendEncoded(encodeFrame(type, epoch, seq, payload));
  }

  /** Sends a frame already encoded (frames.ts). */
  sendEncoded(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.queue.length > 0) {
      this.queue.push(frame);
      this.queued += frame.length;
      return;
    }
    const n = this.socket.write(frame);
    if (n < 0) return this.close("write failed: connection closed");
    if (n < frame.length) {
      this.queue.push(frame.subarray(n));
      this.queued += frame.length - n;
    }
  }

  /** Resolves once everything sent so far went to the kernel (or the link closed). */
  drained(): Promise<void> {
    if (this.queued === 0 || this.closed) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  onDrain(): void {
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0]!;
      const n = this.socket.write(head);
      if (n < 0) return this.close("write failed: connection closed");
      this.queued -= Math.max(0, n);
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
    this.wake();
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    try {
      this.reader.push(chunk, (f) => {
        if (!this.closed) this.handlers.frame(this, f);
      });
    } catch (e) {
      if (e instanceof FrameError) this.close(`malformed frame from ${this.remote}: ${e.message}`);
      else throw e;
    }
  }

  close(why = "closed"): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = why;
    this.queue = [];
    this.queued = 0;
    this.wake();
    try {
      this.socket.end();
    } catch {
      // already gone
    }
    this.handlers.closed(this, why);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

function tlsOptions(pki: ReplicationPki, serverName?: string) {
  return { key: pki.key, cert: pki.cert, ca: pki.ca, requestCert: true, rejectUnauthorized: true, ...(serverName ? { serverName } : {}) };
}

function remoteOf(s: Socket<SocketData>): string {
  return `${s.remoteAddress}:${(s as unknown as { remotePort?: number }).remotePort ?? "?"}`;
}

function socketHandlers(handlers: LinkHandlers, logger: Logger, side: string, onLink?: (l: Link) => void) {
  return {
    handshake(socket: Socket<SocketData>, success: boolean, err: Error | null) {
      const remote = remoteOf(socket);
      if (!success || !socket.authorized) {
        logger.warn(`replication: refused the ${side} connection ${remote}: TLS ${err?.message ?? "peer certificate not authorized"}`);
        socket.data = { link: null };
        socket.end();
        return;
      }
      const link = new Link(socket, handlers, remote);
      socket.data = { link };
      onLink?.(link);
      handlers.opened?.(link);
    },
    data(socket: Socket<SocketData>, chunk: Uint8Array) {
      socket.data?.link?.onData(chunk);
    },
    drain(socket: Socket<SocketData>) {
      socket.data?.link?.onDrain();
    },
    close(socket: Socket<SocketData>) {
      socket.data?.link?.close("connection closed by the peer");
    },
    error(socket: Socket<SocketData>, err: Error) {
      logger.debug(`replication: socket error (${side} ${remoteOf(socket)}): ${err.message}`);
    },
  };
}

/** The primary's replication listener. */
export function listenLinks(host: string, port: number, pki: ReplicationPki, handlers: LinkHandlers, logger: Logger): TCPSocketListener<SocketData> {
  return Bun.listen<SocketData>({
    hostname: host === "" ? "0.0.0.0" : host,
    port,
    tls: tlsOptions(pki),
    socket: socketHandlers(handlers, logger, "incoming"),
  });
}

/** A standby's connection to the primary; resolves once the TLS handshake succeeded, rejects otherwise. */
export function connectLink(host: string, port: number, pki: ReplicationPki, handlers: LinkHandlers, logger: Logger, timeoutMs = 10_000): Promise<Link> {
  return new Promise<Link>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (r: Link | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (r instanceof Link) resolve(r);
      else reject(r);
    };
    const h = socketHandlers(
      {
        ...handlers,
        closed: (l, why) => {
          finish(new Error(why));
          handlers.closed(l, why);
        },
      },
      logger,
      "outgoing",
      (l) => finish(l),
    );
    Bun.connect<SocketData>({
      hostname: host,
      port,
      tls: tlsOptions(pki, host),
      socket: {
        ...h,
        handshake(socket, success, err) {
          h.handshake(socket, success, err);
          if (!socket.data?.link) finish(new Error(`TLS handshake with ${host}:${port} failed: ${err?.message ?? "not authorized"}`));
        },
        close(socket) {
          if (!socket.data?.link) finish(new Error(`connection to ${host}:${port} closed before the TLS handshake`));
          h.close(socket);
        },
        connectError(_socket, err) {
          finish(new Error(`cannot connect to ${host}:${port}: ${err.message}`));
        },
      },
    }).catch((e: Error) => finish(new Error(`cannot connect to ${host}:${port}: ${e.message}`)));
  });
}
