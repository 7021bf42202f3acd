// The Kafka listener: a thin Bun.listen adapter around Connection. New connections past --max-connections (or
// --max-connections-per-ip, or what the open-files limit leaves after the WAL's needs: fd-budget.ts) are closed at
// once, with a log line. Graceful stop: stop accepting and stop reading
// every connection (a request not read is never half-handled: the client sees the close and retries it), let every
// request already read finish and its response be written out (bounded by a deadline), then close the sockets.
import type { Socket, TCPSocketListener } from "bun";
import { ConfigError, envName, type FlagName } from "../config.ts";
import type { BrokerContext, Handler } from "../handlers/handler.ts";
import type { Logger } from "../logger.ts";
import { ConnectionCaps, ServerBudget } from "./budget.ts";
import { Connection } from "./connection.ts";
import { FdBudget } from "./fd-budget.ts";

interface SocketData {
  conn: Connection | null;
  ip: string;
}

export class KafkaListener {
  private server: TCPSocketListener<SocketData> | null = null;
  private readonly conns = new Map<Connection, Socket<SocketData>>();
  private stopping = false;
  readonly budget: ServerBudget;
  private readonly caps: ConnectionCaps;

  constructor(
    private readonly broker: BrokerContext,
    private readonly handlers: ReadonlyMap<number, Handler>,
    private readonly logger: Logger,
  ) {
    this.budget = new ServerBudget(broker.memory);
    this.caps = new ConnectionCaps(broker.config.maxConnections, broker.config.maxConnectionsPerIp, logger);
  }

  listen(host: string, port: number): { host: string; port: number } {
    const logger = this.logger;
    this.server = Bun.listen<SocketData>({
      hostname: host === "" ? "0.0.0.0" : host,
      port,
      socket: {
        open: (socket) => {
          const ip = socket.remoteAddress;
          if (this.stopping || !this.caps.admit(ip)) {
            socket.data = { conn: null, ip };
            if (this.stopping) socket.end(); // accepted just as the stop began
            else socket.terminate();
            return;
          }
          const remote = `${ip}:${(socket as unknown as { remotePort?: number }).remotePort ?? "?"}`;
          const transport = {
            write: (d: Uint8Array, o: number, l: number) => socket.write(d, o, l),
            pause: () => void socket.pause(),
            resume: () => void socket.resume(),
            close: () => socket.end(),
            remote,
          };
          const conn = new Connection(transport, this.broker, this.handlers, logger, this.budget);
          socket.data = { conn, ip };
          this.conns.set(conn, socket);
          logger.debug(`connection from ${remote}`);
        },
        data: (socket, chunk) => socket.data.conn?.onData(chunk),
        drain: (socket) => socket.data.conn?.onDrain(),
        close: (socket) => {
          const c = socket.data.conn;
          if (!c) return;
          socket.data.conn = null;
          this.caps.release(socket.data.ip);
          c.onClose();
          this.conns.delete(c);
        },
        error: (socket, err) => logger.debug(`socket error from ${socket.remoteAddress}: ${err.message}`),
      },
    });
    // Each connection is a file descriptor: keep what the WAL and the broker's own files need out of their reach.
    this.caps.fds = FdBudget.measure(() => this.broker.log.wal.openFiles);
    if (this.caps.fds) logger.info(`connections: ${this.caps.fds.describe()} (and at most --max-connections ${this.broker.config.maxConnections})`);
    return { host: this.server.hostname, port: this.server.port };
  }

  get connections(): number {
    return this.conns.size;
  }

  /**
   * Stops accepting and reading; waits (up to deadlineMs) until every request read is answered and its response
   * written to the socket; closes every socket. The first part is synchronous: no request is read once it returns.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    this.server?.stop(false);
    for (const conn of this.conns.keys()) conn.stopReading();
    const until = performance.now() + deadlineMs;
    let busy = 0;
    for (;;) {
      busy = 0;
      for (const conn of this.conns.keys()) if (!conn.idle) busy++;
      if (busy === 0 || performance.now() >= until) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    if (busy > 0) this.logger.warn(`shutdown: ${busy} connections still had requests or responses in flight after ${deadlineMs} ms; closing them`);
    for (const socket of this.conns.values()) socket.end();
    this.conns.clear();
    this.server?.stop(true);
    this.server = null;
  }
}

/** A failed bind as a start error naming the flag, the address and the reason ("address already in use", ...). */
export function bindError(flag: FlagName, host: string, port: number, e: unknown): ConfigError {
  const err = e as NodeJS.ErrnoException;
  const h = host === "" ? "0.0.0.0" : host;
  const addr = `${h.includes(":") ? `[${h}]` : h}:${port}`;
  let why: string;
  switch (err?.code) {
    case "EADDRINUSE":
      why = `address already in use (another process listens there: stop it or choose another port with --${flag})`;
      break;
    case "EADDRNOTAVAIL":
      why = "address not available (no network interface of this machine has it)";
      break;
    case "EACCES":
    case "EPERM":
      why = "permission denied (ports below 1024 need privileges)";
      break;
    default:
      why = `cannot listen there${err?.code ? ` (${err.code})` : ""}: ${err?.message ?? String(e)}`;
  }
  return new ConfigError(`--${flag} ${addr} (${envName(flag)}): ${why}`);
}
