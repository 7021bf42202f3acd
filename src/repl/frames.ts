// The replication stream's byte format: frames over one mutual-TLS connection, the standby connecting to the
// primary's --replication-advertised-addr. Big-endian:
//
//   0   u32  length of everything after this field (17 + payload bytes; at most MAX_FRAME)
//   4   u8   type (below)
//   5   u32  epoch: the lease epoch of the primary's term (a standby's frames carry the epoch it follows)
//   9   u64  sequence: the primary numbers its frames from 1 per session; an ACK names the highest frame the standby
//            holds durably (cumulative); HELLO carries 0
//   17  u32  CRC-32C of the payload
//   21  ...  payload
//
// Types and payloads:
//   standby → primary
//     1  HELLO     JSON { id, clusterId, token: { epoch, stream } | null, lastSeq, kafka: { nodeId, host, port } }:
//                  who it is, the session its data belongs to, and the last WAL sequence it holds durably
//    16  ACK       no payload
//   primary → standby
//     2  WELCOME   JSON { mode: "incremental" | "full", epoch, stream, fromSeq, primary: { id, kafka } }: "full" means
//                  drop your state, a SNAPSHOT follows; WAL frames start at fromSeq either way
//     3  REFUSE    JSON { reason }; the primary closes the connection after it
//     4  SNAPSHOT  a metadata-log image (records in metadata-log.ts format): the primary's metadata at session start
//     5  META      metadata-log records (metadata-log.ts format), in the order the primary wrote them
//     6  WAL       WAL entries (wal/entry.ts format) with increasing sequence numbers, as the primary wrote them
//     7  LIVE      no payload: backfill done, every later group is streamed as it is written (the standby counts as
//                  in sync once it has acknowledged this frame)
//     8  PING      no payload: sent when the stream is idle, so a standby can tell a silent primary from a dead one
//     9  GOODBYE   no payload: the primary is stopping gracefully; read the lease now
// A frame that is too long, too short, of an unknown type or with a bad CRC closes the connection; the standby then
// reconnects and the primary backfills what it missed.
import { crc32c } from "../protocol/crc32c.ts";

export const FrameType = {
  HELLO: 1,
  WELCOME: 2,
  REFUSE: 3,
  SNAPSHOT: 4,
  META: 5,
  WAL: 6,
  LIVE: 7,
  PING: 8,
  GOODBYE: 9,
  ACK: 16,
} as const;

export type FrameTypeName = keyof typeof FrameType;
const KNOWN = new Set<number>(Object.values(FrameType));

export const FRAME_HEADER = 21;
export const MAX_FRAME = 256 * 1024 * 1024;

export interface Frame {
  type: number;
  epoch: number;
  seq: number;
  payload: Uint8Array;
}

export class FrameError extends Error {
  override name = "FrameError";
}

export function encodeFrame(type: number, epoch: number, seq: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, FRAME_HEADER - 4 + payload.length);
  out[4] = type;
  dv.setUint32(5, epoch);
  dv.setUint32(9, Math.floor(seq / 4294967296));
  dv.setUint32(13, seq >>> 0);
  dv.setUint32(17, crc32c(payload));
  out.set(payload, FRAME_HEADER);
  return out;
}

export const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), "utf8");
export const unjson = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b).toString("utf8")) as T;

/** Reassembles frames from socket chunks; throws FrameError on anything malformed. */
export class FrameReader {
  private buf: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array, onFrame: (f: Frame) => void): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let pos = 0;
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    while (this.buf.length - pos >= 4) {
      const len = dv.getUint32(pos);
      if (len < FRAME_HEADER - 4 || len > MAX_FRAME) throw new FrameError(`frame length ${len} out of range`);
      if (this.buf.length - pos < 4 + len) break;
      const type = this.buf[pos + 4]!;
      if (!KNOWN.has(type)) throw new FrameError(`unknown frame type ${type}`);
      const payload = this.buf.subarray(pos + FRAME_HEADER, pos + 4 + len);
      if (crc32c(payload) !== dv.getUint32(pos + 17)) throw new FrameError(`frame of type ${type} has a bad CRC`);
      onFrame({ type, epoch: dv.getUint32(pos + 5), seq: dv.getUint32(pos + 9) * 4294967296 + dv.getUint32(pos + 13), payload });
      pos += 4 + len;
    }
    // Keep only the partial tail; copy a small one so it does not pin a whole socket chunk.
    const rest = this.buf.subarray(pos);
    this.buf = rest.length < 65536 ? rest.slice() : rest;
  }
}
