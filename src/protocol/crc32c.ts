// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as record batches and the WAL use it.
// Slicing-by-16 over aligned 32-bit loads (~1.8 GB/s on Bun, see notes/bun-platform.md §4); bytewise elsewhere.
// Table and running value stay signed int32: a Uint32Array table yields doubles for entries >= 2^31, and JSC
// then deoptimised this loop over and over, depending on the data (55-90 MB/s for seconds in the broker).

const POLY = 0x82f63b78;
const T = new Int32Array(16 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[i] = c;
}
for (let i = 0; i < 256; i++) {
  for (let t = 1; t < 16; t++) {
    const prev = T[(t - 1) * 256 + i]!;
    T[t * 256 + i] = (prev >>> 8) ^ T[prev & 0xff]!;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Continues a CRC-32C over buf[start, end); pass the previous result as crc (0 to start). */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  let c = ~crc | 0;
  let i = start;
  // Bytewise until the absolute address is 4-byte aligned.
  while (i < end && ((buf.byteOffset + i) & 3) !== 0) c = T[(c ^ buf[i++]!) & 0xff]! ^ (c >>> 8);
  if (LITTLE_ENDIAN && end - i >= 16) {
    const words = new Int32Array(buf.buffer, buf.byteOffset + i, (end - i) >>> 2);
    const n16 = words.length >>> 2;
    let w = 0;
    for (let k = 0; k < n16; k++) {
      const a = words[w]! ^ c;
      const b = words[w + 1]!;
      const d = words[w + 2]!;
      const e = words[w + 3]!;
      w += 4;
      c =
        T[15 * 256 + (a & 0xff)]! ^
        T[14 * 256 + ((a >>> 8) & 0xff)]! ^
        T[13 * 256 + ((a >>> 16) & 0xff)]! ^
        T[12 * 256 + (a >>> 24)]! ^
        T[11 * 256 + (b & 0xff)]! ^
        T[10 * 256 + ((b >>> 8) & 0xff)]! ^
        T[9 * 256 + ((b >>> 16) & 0xff)]! ^
        T[8 * 256 + (b >>> 24)]! ^
        T[7 * 256 + (d & 0xff)]! ^
        T[6 * 256 + ((d >>> 8) & 0xff)]! ^
        T[5 * 256 + ((d >>> 16) & 0xff)]! ^
        T[4 * 256 + (d >>> 24)]! ^
        T[3 * 256 + (e & 0xff)]! ^
        T[2 * 256 + ((e >>> 8) & 0xff)]! ^
        T[256 + ((e >>> 16) & 0xff)]! ^
        T[e >>> 24]!;
    }
    i += n16 * 16;
  }
  while (i < end) c = T[(c ^ buf[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
