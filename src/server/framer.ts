// Kafka framing: every request is an int32 size followed by that many bytes. Frames are assembled across TCP
// chunks; a frame lying wholly inside one chunk is handed out as a view (no copy). A size beyond the limit, or
// negative, is refused before anything is allocated.

export class FrameError extends Error {
  override name = "FrameError";
}

export class Framer {
  private head = new Uint8Array(4);
  private headLen = 0;
  private partial: Uint8Array | null = null;
  private partialLen = 0;

  constructor(private readonly maxFrameSize: number) {}

  /** Feeds a chunk; calls onFrame for each complete frame (without its size prefix). Throws FrameError. */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.partial !== null) {
        const take = Math.min(this.partial.length - this.partialLen, n - pos);
        this.partial.set(chunk.subarray(pos, pos + take), this.partialLen);
        this.partialLen += take;
        pos += take;
        if (this.partialLen === this.partial.length) {
          const f = this.partial;
          this.partial = null;
          this.partialLen = 0;
          onFrame(f);
        }
        continue;
      }
      let size: number;
      if (this.headLen === 0 && n - pos >= 4) {
        size = ((chunk[pos]! << 24) | (chunk[pos + 1]! << 16) | (chunk[pos + 2]! << 8) | chunk[pos + 3]!) | 0;
        pos += 4;
      } else {
        while (this.headLen < 4 && pos < n) this.head[this.headLen++] = chunk[pos++]!;
        if (this.headLen < 4) return;
        const h = this.head;
        size = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) | 0;
        this.headLen = 0;
      }
      if (size < 0 || size > this.maxFrameSize) {
        // 0x16 0x03: a TLS handshake record, not a Kafka size.
        const tls = size >>> 16 === 0x1603 ? ": the client speaks TLS (security.protocol SSL or SASL_SSL), but this listener is plaintext" : "";
        throw new FrameError(`frame of ${size} bytes is outside 0..${this.maxFrameSize} (--max-request-size)${tls}`);
      }
      if (n - pos >= size) {
        onFrame(chunk.subarray(pos, pos + size));
        pos += size;
      } else {
        this.partial = new Uint8Array(size);
        this.partialLen = 0;
      }
    }
  }

  /** Bytes of an incomplete frame held (for diagnostics). */
  get pending(): number {
    return this.partial ? this.partialLen : this.headLen;
  }
}

/**
 * The next buffer to write from a queue of frames: when the head is small and more frames wait, the frames that
 * fit `limit` together (each at most `maxPiece`) are merged into one (in the queue too), so they go out in one write.
 */
export function coalesceHead(queue: Uint8Array[], limit: number, maxPiece = limit): Uint8Array {
  const head = queue[0]!;
  if (queue.length === 1 || head.length >= limit || head.length > maxPiece) return head;
  let n = 0;
  let k = 0;
  while (k < queue.length && n + queue[k]!.length <= limit && queue[k]!.length <= maxPiece) n += queue[k++]!.length;
  if (k < 2) return head;
  const merged = new Uint8Array(n);
  for (let i = 0, o = 0; i < k; o += queue[i]!.length, i++) merged.set(queue[i]!, o);
  queue.splice(0, k, merged);
  return merged;
}
