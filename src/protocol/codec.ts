// Primitive Kafka wire types: a Writer that appends into one growing buffer and a Reader that
// returns views (subarray) of the buffer it reads. Synchronous; int64 as bigint, everything else as number.
// Generated message codecs (src/protocol/messages/*) are built on these.

export type Uuid = string; // 32 lowercase hex digits
export const ZERO_UUID: Uuid = "00000000000000000000000000000000";

/**
 * A `records` field: decoded as one view; encoded from one buffer or from a list of stored batches laid back to
 * back (so a fetch response is assembled without first concatenating its batches).
 */
export type RecordsData = Uint8Array | readonly Uint8Array[];

export class DecodeError extends Error {
  override name = "DecodeError";
}

/** A value the wire format cannot carry (a classic string over 32767 bytes: Kafka refuses to write it too). */
export class EncodeError extends Error {
  override name = "EncodeError";
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const textDecoder = new TextDecoder("utf-8", { fatal: false });
const textEncoder = new TextEncoder();

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export class Writer {
  buf: Uint8Array;
  dv: DataView;
  pos = 0;
  /**
   * Splice mode (null: off): a `records` field given as a list of buffers is not copied; the bytes written so far
   * and those buffers are appended here instead, so a response is written to the socket as pieces (finishPieces).
   */
  pieces: Uint8Array[] | null = null;
  private mark = 0;
  /** Bytes of spliced buffers. */
  spliced = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.dv = new DataView(this.buf.buffer);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }

  /** The bytes written so far (a view, not a copy). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** In splice mode: every piece in order, the last written bytes included. Earlier pieces stay valid as views. */
  finishPieces(): Uint8Array[] {
    const out = this.pieces ?? [];
    if (this.pos > this.mark) out.push(this.buf.subarray(this.mark, this.pos));
    this.mark = this.pos;
    return out;
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }
  i8(v: number): void {
    this.ensure(1);
    this.dv.setInt8(this.pos, v);
    this.pos += 1;
  }
  i16(v: number): void {
    this.ensure(2);
    this.dv.setInt16(this.pos, v);
    this.pos += 2;
  }
  u16(v: number): void {
    this.ensure(2);
    this.dv.setUint16(this.pos, v);
    this.pos += 2;
  }
  i32(v: number): void {
    this.ensure(4);
    this.dv.setInt32(this.pos, v);
    this.pos += 4;
  }
  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.pos, v);
    this.pos += 4;
  }
  i64(v: bigint): void {
    this.ensure(8);
    this.dv.setBigInt64(this.pos, v);
    this.pos += 8;
  }
  /** int64 from a JS number (exact up to 2^53). */
  i64n(v: number): void {
    this.ensure(8);
    this.dv.setInt32(this.pos, Math.floor(v / 4294967296));
    this.dv.setUint32(this.pos + 4, v >>> 0);
    this.pos += 8;
  }
  f64(v: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.pos, v);
    this.pos += 8;
  }
  uvarint(v: number): void {
    this.ensure(5);
    v >>>= 0;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }
  /** Zig-zag signed varint (int32 range). */
  varint(v: number): void {
    this.uvarint((v << 1) ^ (v >> 31));
  }
  /** Zig-zag signed varlong (exact for |v| < 2^53). */
  varlong(v: number): void {
    this.ensure(10);
    let z = v >= 0 ? v * 2 : -v * 2 - 1;
    while (z >= 0x80) {
      this.buf[this.pos++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    this.buf[this.pos++] = z;
  }
  uuid(v: Uuid): void {
    this.ensure(16);
    for (let i = 0; i < 16; i++) this.buf[this.pos++] = parseInt(v.substr(i * 2, 2), 16);
  }
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  private utf8(s: string, len: number): void {
    this.ensure(len);
    if (len === s.length) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      this.pos += textEncoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + len)).written;
    }
  }
  string(s: string): void {
    const len = utf8Length(s);
    if (len > 0x7fff) throw new EncodeError(`a string of ${len} bytes does not fit an int16 length`);
    this.i16(len);
    this.utf8(s, len);
  }
  nullableString(s: string | null): void {
    if (s === null) this.i16(-1);
    else this.string(s);
  }
  compactString(s: string): void {
    const len = utf8Length(s);
    this.uvarint(len + 1);
    this.utf8(s, len);
  }
  compactNullableString(s: string | null): void {
    if (s === null) this.uvarint(0);
    else this.compactString(s);
  }
  bytes(b: Uint8Array): void {
    this.i32(b.length);
    this.raw(b);
  }
  nullableBytes(b: Uint8Array | null): void {
    if (b === null) this.i32(-1);
    else this.bytes(b);
  }
  compactBytes(b: Uint8Array): void {
    this.uvarint(b.length + 1);
    this.raw(b);
  }
  compactNullableBytes(b: Uint8Array | null): void {
    if (b === null) this.uvarint(0);
    else this.compactBytes(b);
  }
  /** A nullable `records` field, classic (int32 length) or compact (uvarint length + 1). */
  records(r: RecordsData | null, compact: boolean): void {
    if (r === null) {
      if (compact) this.uvarint(0);
      else this.i32(-1);
      return;
    }
    if (r instanceof Uint8Array) {
      if (compact) this.compactBytes(r);
      else this.bytes(r);
      return;
    }
    let n = 0;
    for (const b of r) n += b.length;
    if (compact) this.uvarint(n + 1);
    else this.i32(n);
    if (this.pieces !== null && n > 0) {
      // The bytes so far are final: a view of them goes first (a later ensure() moves on to a new buffer).
      if (this.pos > this.mark) this.pieces.push(this.buf.subarray(this.mark, this.pos));
      for (const b of r) if (b.length) this.pieces.push(b);
      this.mark = this.pos;
      this.spliced += n;
      return;
    }
    this.ensure(n);
    for (const b of r) {
      this.buf.set(b, this.pos);
      this.pos += b.length;
    }
  }
}

export class Reader {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.pos;
  }
  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new DecodeError(`need ${n} bytes at ${this.pos}, have ${this.end - this.pos}`);
    }
  }

  bool(): boolean {
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }
  i8(): number {
    this.need(1);
    return this.dv.getInt8(this.pos++);
  }
  i16(): number {
    this.need(2);
    const v = this.dv.getInt16(this.pos);
    this.pos += 2;
    return v;
  }
  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.dv.getInt32(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.dv.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }
  /** int64 as a JS number (exact up to 2^53). */
  i64n(): number {
    this.need(8);
    const v = this.dv.getInt32(this.pos) * 4294967296 + this.dv.getUint32(this.pos + 4);
    this.pos += 8;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.dv.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }
  uvarint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      v |= (b & 0x7f) << shift;
      if (b < 0x80) return v >>> 0;
      shift += 7;
      if (shift > 28) {
        this.need(1);
        const last = this.buf[this.pos++]!;
        if (last > 0x0f) throw new DecodeError("uvarint too long");
        return (v | (last << 28)) >>> 0;
      }
    }
  }
  varint(): number {
    const z = this.uvarint();
    return (z >>> 1) ^ -(z & 1);
  }
  /** Zig-zag varlong as a JS number (exact for |v| < 2^53). */
  varlong(): number {
    let z = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      z += (b & 0x7f) * mul;
      if (b < 0x80) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      mul *= 128;
    }
    throw new DecodeError("varlong too long");
  }
  uuid(): Uuid {
    this.need(16);
    let s = "";
    for (let i = 0; i < 16; i++) s += HEX[this.buf[this.pos++]!];
    return s;
  }
  /** A view of the next n bytes. */
  raw(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  utf8(n: number): string {
    this.need(n);
    const buf = this.buf;
    const start = this.pos;
    this.pos += n;
    if (n < 48) {
      let s = "";
      for (let i = start; i < start + n; i++) {
        const c = buf[i]!;
        if (c >= 0x80) return textDecoder.decode(buf.subarray(start, start + n));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return textDecoder.decode(buf.subarray(start, start + n));
  }
  string(): string {
    const n = this.i16();
    if (n < 0) throw new DecodeError("null string where non-null expected");
    return this.utf8(n);
  }
  nullableString(): string | null {
    const n = this.i16();
    return n < 0 ? null : this.utf8(n);
  }
  compactString(): string {
    const n = this.uvarint();
    if (n === 0) throw new DecodeError("null compact string where non-null expected");
    return this.utf8(n - 1);
  }
  compactNullableString(): string | null {
    const n = this.uvarint();
    return n === 0 ? null : this.utf8(n - 1);
  }
  bytes(): Uint8Array {
    const n = this.i32();
    if (n < 0) throw new DecodeError("null bytes where non-null expected");
    return this.raw(n);
  }
  nullableBytes(): Uint8Array | null {
    const n = this.i32();
    return n < 0 ? null : this.raw(n);
  }
  compactBytes(): Uint8Array {
    const n = this.uvarint();
    if (n === 0) throw new DecodeError("null compact bytes where non-null expected");
    return this.raw(n - 1);
  }
  compactNullableBytes(): Uint8Array | null {
    const n = this.uvarint();
    return n === 0 ? null : this.raw(n - 1);
  }
  /** Array length: classic int32 or compact uvarint+1; -1 means null. */
  arrayLength(flexible: boolean): number {
    const n = flexible ? this.uvarint() - 1 : this.i32();
    // Each element takes at least one byte: a length beyond what is left is corrupt, not a reason to allocate.
    if (n > this.end - this.pos) throw new DecodeError(`array length ${n} exceeds remaining ${this.end - this.pos} bytes`);
    return n;
  }
  /** Skips a tagged-field section the caller has no use for. */
  skipTaggedFields(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      const size = this.uvarint();
      this.raw(size);
    }
  }
}

/** An array field: classic (int32 count) or compact (uvarint count + 1); null only where the field is nullable. */
export function readArray<T>(r: Reader, flex: boolean, nullable: boolean, one: () => T): T[] | null {
  const n = r.arrayLength(flex);
  if (n < 0) {
    if (nullable) return null;
    throw new DecodeError("null array where non-null expected");
  }
  const a = new Array<T>(n);
  for (let i = 0; i < n; i++) a[i] = one();
  return a;
}

/** Writes an array field; a missing non-nullable array is written empty. */
export function writeArray<T>(w: Writer, flex: boolean, nullable: boolean, a: readonly T[] | null | undefined, one: (x: T) => void): void {
  if (a == null) {
    if (nullable) {
      if (flex) w.uvarint(0);
      else w.i32(-1);
      return;
    }
    a = [];
  }
  if (flex) w.uvarint(a.length + 1);
  else w.i32(a.length);
  for (let i = 0; i < a.length; i++) one(a[i]!);
}
