// A TCP proxy a test can break: every connection to it is forwarded to the target until break() cuts them all and
// refuses new ones (as a network partition between one process and a server would look from the client side);
// heal() lets connections through again. 127.0.0.1, random port; stop() closes everything.
import type { Socket, TCPSocketListener } from "bun";

interface Side {
  peer: Socket<Side> | null;
  /** Bytes for the peer that arrived before it was connected, or that it did not take yet. */
  pending: Uint8Array[];
}

function forward(to: Socket<Side> | null, from: Side, chunk: Uint8Array): void {
  if (!to || from.pending.length) {
    from.pending.push(chunk.slice());
    return;
  }
  const n = to.write(chunk);
  if (n < chunk.length) from.pending.push(chunk.slice(Math.max(0, n)));
}

function flush(to: Socket<Side>, from: Side): void {
  while (from.pending.length) {
    const head = from.pending[0]!;
    const n = to.write(head);
    if (n < head.length) {
      from.pending[0] = head.slice(Math.max(0, n));
      return;
    }
    from.pending.shift();
  }
}

export class TcpProxy {
  private server: TCPSocketListener<Side> | null = null;
  private readonly sockets = new Set<Socket<Side>>();
  broken = false;

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  get port(): number {
    return this.server!.port;
  }

  start(): this {
    const proxy = this;
    this.server = Bun.listen<Side>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          if (proxy.broken) return void client.end();
          const c: Side = { peer: null, pending: [] };
          client.data = c;
          proxy.sockets.add(client);
          void Bun.connect<Side>({
            hostname: proxy.targetHost,
            port: proxy.targetPort,
            socket: {
              open(upstream) {
                upstream.data = { peer: client, pending: [] };
                proxy.sockets.add(upstream);
                c.peer = upstream;
                flush(upstream, c);
              },
              data(upstream, chunk) {
                forward(client, upstream.data, chunk);
              },
              drain(upstream) {
                flush(client, upstream.data);
              },
              close(upstream) {
                proxy.sockets.delete(upstream);
                client.end();
              },
              connectError() {
                client.end();
              },
            },
          }).catch(() => client.end());
        },
        data(client, chunk) {
          forward(client.data.peer, client.data, chunk);
        },
        drain(client) {
          if (client.data.peer) flush(client.data.peer, client.data);
        },
        close(client) {
          proxy.sockets.delete(client);
          client.data?.peer?.end();
        },
      },
    });
    return this;
  }

  /** Cuts every connection and refuses new ones. */
  break(): void {
    this.broken = true;
    for (const s of this.sockets) s.end();
    this.sockets.clear();
  }

  heal(): void {
    this.broken = false;
  }

  stop(): void {
    this.break();
    this.server?.stop(true);
  }
}
