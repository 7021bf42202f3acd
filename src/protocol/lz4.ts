// LZ4 frame format (what Kafka's lz4 codec is, for magic-2 batches): magic 04 22 4D 18, a frame descriptor
// (FLG, BD, optional content size and dictionary id, header checksum = second byte of xxh32 of the descriptor),
// then blocks (uint32 LE size, high bit set = stored uncompressed, optional xxh32 block checksum), an end mark
// of four zero bytes and an optional content checksum.
//
// Block format: sequences of token (literal length << 4 | match length - 4), extra length bytes (255 = more),
// literals, 16-bit LE offset, extra match length bytes. The last sequence has literals only.
import { outputTooLarge } from "./snappy.ts";

export class Lz4Error extends Error {
  override name = "Lz4Error";
}

const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;
const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
const u32 = (b: Uint8Array, i: number) => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;

export function xxh32(b: Uint8Array, seed = 0): number {
  let i = 0;
  const len = b.length;
  let h: number;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) >>> 0;
    let v2 = (seed + P2) >>> 0;
    let v3 = seed >>> 0;
    let v4 = (seed - P1) >>> 0;
    for (; i + 16 <= len; i += 16) {
      v1 = Math.imul(rotl((v1 + Math.imul(u32(b, i), P2)) >>> 0, 13), P1) >>> 0;
      v2 = Math.imul(rotl((v2 + Math.imul(u32(b, i + 4), P2)) >>> 0, 13), P1) >>> 0;
      v3 = Math.imul(rotl((v3 + Math.imul(u32(b, i + 8), P2)) >>> 0, 13), P1) >>> 0;
      v4 = Math.imul(rotl((v4 + Math.imul(u32(b, i + 12), P2)) >>> 0, 13), P1) >>> 0;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else {
    h = (seed + P5) >>> 0;
  }
  h = (h + len) >>> 0;
  for (; i + 4 <= len; i += 4) h = Math.imul(rotl((h + Math.imul(u32(b, i), P3)) >>> 0, 17), P4) >>> 0;
  for (; i < len; i++) h = Math.imul(rotl((h + Math.imul(b[i]!, P5)) >>> 0, 11), P1) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, P2) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, P3) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

function decodeBlock(b: Uint8Array, pos: number, end: number, out: Uint8Array, o: number): number {
  const start = o;
  while (pos < end) {
    const token = b[pos++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let c: number;
      do {
        if (pos >= end) throw new Lz4Error("truncated literal length");
        c = b[pos++]!;
        lit += c;
      } while (c === 255);
    }
    if (pos + lit > end || o + lit > out.length) throw new Lz4Error("literals overrun block");
    out.set(b.subarray(pos, pos + lit), o);
    pos += lit;
    o += lit;
    if (pos >= end) break; // last sequence: literals only
    if (pos + 2 > end) throw new Lz4Error("truncated match offset");
    const offset = b[pos]! | (b[pos + 1]! << 8);
    pos += 2;
    let mlen = (token & 15) + 4;
    if ((token & 15) === 15) {
      let c: number;
      do {
        if (pos >= end) throw new Lz4Error("truncated match length");
        c = b[pos++]!;
        mlen += c;
      } while (c === 255);
    }
    if (offset === 0 || offset > o - start || o + mlen > out.length) throw new Lz4Error("bad match");
    for (let i = 0; i < mlen; i++, o++) out[o] = out[o - offset]!;
  }
  return o;
}

const BLOCK_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

export function lz4Decompress(b: Uint8Array, maxBytes = Infinity): Uint8Array {
  if (b.length < 7 || u32(b, 0) !== 0x184d2204) throw new Lz4Error("not an LZ4 frame");
  const flg = b[4]!;
  const bd = b[5]!;
  if (flg >> 6 !== 1) throw new Lz4Error("unsupported LZ4 frame version");
  const blockChecksum = (flg & 0x10) !== 0;
  const contentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const dictId = (flg & 0x01) !== 0;
  const blockMax = BLOCK_MAX[(bd >> 4) & 7]!;
  if (!blockMax) throw new Lz4Error("bad LZ4 block size");
  let pos = 6 + (contentSize ? 8 : 0) + (dictId ? 4 : 0) + 1; // descriptor + header checksum byte
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    if (pos + 4 > b.length) throw new Lz4Error("truncated LZ4 frame");
    const word = u32(b, pos);
    pos += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (pos + size > b.length) throw new Lz4Error("truncated LZ4 block");
    if (word & 0x80000000) {
      parts.push(b.subarray(pos, pos + size));
      total += size;
    } else {
      const out = new Uint8Array(blockMax);
      const n = decodeBlock(b, pos, pos + size, out, 0);
      parts.push(out.subarray(0, n));
      total += n;
    }
    pos += size + (blockChecksum ? 4 : 0);
    if (total > maxBytes) throw outputTooLarge(total, maxBytes);
  }
  void contentChecksum;
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Greedy LZ4 block compression of src[from, to) into out at o; returns the new o. */
function encodeBlock(src: Uint8Array, from: number, to: number, out: Uint8Array, o: number): number {
  const table = new Int32Array(1 << 12).fill(-1);
  let anchor = from;
  let i = from;
  const mflimit = to - 12; // a match must start at least 12 bytes before the end
  const writeLen = (n: number) => {
    while (n >= 255) {
      out[o++] = 255;
      n -= 255;
    }
    out[o++] = n;
  };
  while (i < mflimit) {
    const v = u32(src, i);
    const h = Math.imul(v, 2654435761) >>> 20;
    const cand = table[h]!;
    table[h] = i;
    if (cand >= from && i - cand <= 65535 && u32(src, cand) === v) {
      let len = 4;
      const maxLen = to - 5 - i; // the last 5 bytes are always literals
      while (len < maxLen && src[cand + len] === src[i + len]) len++;
      const lit = i - anchor;
      const ml = len - 4;
      out[o++] = (Math.min(lit, 15) << 4) | Math.min(ml, 15);
      if (lit >= 15) writeLen(lit - 15);
      out.set(src.subarray(anchor, i), o);
      o += lit;
      const offset = i - cand;
      out[o++] = offset & 0xff;
      out[o++] = offset >>> 8;
      if (ml >= 15) writeLen(ml - 15);
      i += len;
      anchor = i;
    } else {
      i++;
    }
  }
  const lit = to - anchor;
  out[o++] = Math.min(lit, 15) << 4;
  if (lit >= 15) writeLen(lit - 15);
  out.set(src.subarray(anchor, to), o);
  return o + lit;
}

/** LZ4 frame with 64 KiB independent blocks and no checksums beyond the header's. */
export function lz4Compress(src: Uint8Array): Uint8Array {
  const BLK = 64 << 10;
  const out = new Uint8Array(7 + src.length + Math.ceil(src.length / 255) + 16 * (Math.ceil(src.length / BLK) + 1) + 8);
  out.set([0x04, 0x22, 0x4d, 0x18], 0);
  out[4] = 0x60; // version 01, independent blocks
  out[5] = 0x40; // 64 KiB blocks
  out[6] = (xxh32(out.subarray(4, 6)) >>> 8) & 0xff;
  let o = 7;
  for (let p = 0; p < src.length; p += BLK) {
    const end = Math.min(src.length, p + BLK);
    const start = o + 4;
    const n = encodeBlock(src, p, end, out, start) - start;
    const dv = new DataView(out.buffer, out.byteOffset);
    if (n >= end - p) {
      // Incompressible: store the block as is.
      dv.setUint32(o, (end - p) | 0x80000000, true);
      out.set(src.subarray(p, end), start);
      o = start + (end - p);
    } else {
      dv.setUint32(o, n, true);
      o = start + n;
    }
  }
  out.fill(0, o, o + 4); // end mark
  o += 4;
  return out.slice(0, o);
}
