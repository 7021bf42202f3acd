// Snappy, as Kafka batches carry it: a raw snappy block (librdkafka, KafkaJS) or the xerial framing the Java
// client writes: magic 82 'SNAPPY' 00, int32 version, int32 compatible version, then blocks of
// int32 compressed length + raw snappy block, all big-endian.
//
// Raw block: uvarint uncompressed length, then elements whose tag's low two bits say the kind:
// 00 literal (length-1 in the upper six bits; 60..63 mean 1..4 little-endian length bytes follow),
// 01 copy with 3-bit length-4 and 11-bit offset, 10 copy with 6-bit length-1 and 16-bit offset, 11 with 32-bit offset.

export class SnappyError extends Error {
  override name = "SnappyError";
}

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];

function isXerial(b: Uint8Array): boolean {
  if (b.length < 16) return false;
  for (let i = 0; i < 8; i++) if (b[i] !== XERIAL_MAGIC[i]) return false;
  return true;
}

/** What our codecs throw when the output would pass its bound (the code node:zlib uses for maxOutputLength). */
export function outputTooLarge(bytes: number, maxBytes: number): Error {
  return Object.assign(new Error(`output of ${bytes} bytes exceeds the bound of ${maxBytes}`), { code: "ERR_BUFFER_TOO_LARGE" });
}

function rawUncompressedLength(b: Uint8Array, pos: number, end: number): [number, number] {
  let v = 0;
  let shift = 0;
  while (pos < end) {
    const c = b[pos++]!;
    v += (c & 0x7f) * 2 ** shift;
    if (c < 0x80) return [v, pos];
    shift += 7;
    if (shift > 32) break;
  }
  throw new SnappyError("bad snappy length preamble");
}

/** Decodes one raw snappy block b[pos, end) into out at outPos; returns the new outPos. */
function decodeRaw(b: Uint8Array, pos: number, end: number, out: Uint8Array, outPos: number, outEnd: number): number {
  let o = outPos;
  while (pos < end) {
    const tag = b[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const n = len - 59;
        if (pos + n > end) throw new SnappyError("truncated literal length");
        len = 0;
        for (let i = 0; i < n; i++) len |= b[pos + i]! << (8 * i);
        len >>>= 0;
        pos += n;
      }
      len += 1;
      if (pos + len > end || o + len > outEnd) throw new SnappyError("literal overruns block");
      out.set(b.subarray(pos, pos + len), o);
      pos += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (pos >= end) throw new SnappyError("truncated copy");
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | b[pos++]!;
    } else if (kind === 2) {
      if (pos + 2 > end) throw new SnappyError("truncated copy");
      len = (tag >>> 2) + 1;
      offset = b[pos]! | (b[pos + 1]! << 8);
      pos += 2;
    } else {
      if (pos + 4 > end) throw new SnappyError("truncated copy");
      len = (tag >>> 2) + 1;
      offset = (b[pos]! | (b[pos + 1]! << 8) | (b[pos + 2]! << 16) | (b[pos + 3]! << 24)) >>> 0;
      pos += 4;
    }
    if (offset === 0 || offset > o - outPos || o + len > outEnd) throw new SnappyError("bad copy offset");
    // Byte by byte: a copy may overlap its own output (run-length style).
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]!;
  }
  return o;
}

export function snappyDecompress(b: Uint8Array, maxBytes = Infinity): Uint8Array {
  if (!isXerial(b)) {
    const [len, pos] = rawUncompressedLength(b, 0, b.length);
    if (len > maxBytes) throw outputTooLarge(len, maxBytes);
    const out = new Uint8Array(len);
    const o = decodeRaw(b, pos, b.length, out, 0, len);
    if (o !== len) throw new SnappyError("snappy block shorter than its preamble says");
    return out;
  }
  // Xerial framing: first size every block, then decode into one buffer.
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const blocks: [number, number, number][] = [];
  let total = 0;
  for (let p = 16; p < b.length; ) {
    if (p + 4 > b.length) throw new SnappyError("truncated xerial block length");
    const n = dv.getInt32(p);
    p += 4;
    if (n < 0 || p + n > b.length) throw new SnappyError("truncated xerial block");
    const [len, start] = rawUncompressedLength(b, p, p + n);
    blocks.push([start, p + n, len]);
    total += len;
    if (total > maxBytes) throw outputTooLarge(total, maxBytes);
    p += n;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const [start, end, len] of blocks) {
    const e = decodeRaw(b, start, end, out, o, o + len);
    if (e !== o + len) throw new SnappyError("xerial block shorter than its preamble says");
    o = e;
  }
  return out;
}

const BLOCK = 1 << 16;

function writeUvarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

/** Greedy LZ77 with a 4-byte hash, one 64 KiB block at a time (offsets stay below 2^16). */
function encodeRaw(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  writeUvarint(out, src.length);
  const table = new Int32Array(1 << 14);
  const literal = (from: number, to: number) => {
    let n = to - from;
    while (n > 0) {
      const len = Math.min(n, 65536);
      if (len <= 60) out.push((len - 1) << 2);
      else if (len <= 256) out.push(60 << 2, len - 1);
      else out.push(61 << 2, (len - 1) & 0xff, (len - 1) >>> 8);
      for (let i = from; i < from + len; i++) out.push(src[i]!);
      from += len;
      n -= len;
    }
  };
  for (let blockStart = 0; blockStart < src.length; blockStart += BLOCK) {
    const blockEnd = Math.min(src.length, blockStart + BLOCK);
    table.fill(-1);
    let lit = blockStart;
    let i = blockStart;
    while (i + 4 <= blockEnd) {
      const v = src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24);
      const h = Math.imul(v, 0x1e35a7bd) >>> 18;
      const cand = table[h]!;
      table[h] = i;
      if (cand >= blockStart && i - cand < BLOCK && src[cand] === src[i] && src[cand + 1] === src[i + 1] && src[cand + 2] === src[i + 2] && src[cand + 3] === src[i + 3]) {
        let len = 4;
        while (i + len < blockEnd && src[cand + len] === src[i + len]) len++;
        literal(lit, i);
        const offset = i - cand;
        let rest = len;
        while (rest > 0) {
          const l = rest > 64 ? (rest - 64 < 4 ? rest - 4 : 64) : rest;
          out.push(((l - 1) << 2) | 2, offset & 0xff, offset >>> 8);
          rest -= l;
        }
        i += len;
        lit = i;
      } else {
        i++;
      }
    }
    literal(lit, blockEnd);
  }
  return Uint8Array.from(out);
}

/** Compresses with the xerial framing (what the Java client writes; every client reads it). */
export function snappyCompress(src: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 16;
  for (let p = 0; p < src.length || p === 0; p += 32 * 1024) {
    const block = encodeRaw(src.subarray(p, Math.min(src.length, p + 32 * 1024)));
    parts.push(block);
    total += 4 + block.length;
    if (src.length === 0) break;
  }
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(XERIAL_MAGIC, 0);
  dv.setInt32(8, 1);
  dv.setInt32(12, 1);
  let o = 16;
  for (const part of parts) {
    dv.setInt32(o, part.length);
    out.set(part, o + 4);
    o += 4 + part.length;
  }
  return out;
}

/** A raw snappy block, as librdkafka writes it. */
export function snappyCompressRaw(src: Uint8Array): Uint8Array {
  return encodeRaw(src);
}
