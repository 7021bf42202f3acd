// Record-batch compression codecs (attributes bits 0-2). gzip and zstd are built into Bun; snappy and lz4 are ours.
// The broker stores batches as produced; it decompresses only to look inside (ListOffsets by timestamp,
// compaction), and compresses only for its own load generator and tests.
import { gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { lz4Compress, lz4Decompress } from "./lz4.ts";
import { snappyCompress, snappyDecompress } from "./snappy.ts";

export const Compression = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionName = keyof typeof Compression;

export class CompressionError extends Error {
  override name = "CompressionError";
  /** The data decompresses to more than the bound it was given. */
  tooLarge = false;
}

/** Decompresses a batch body; more than maxBytes of output is an error (tooLarge) before it is allocated. */
export function decompress(codec: number, data: Uint8Array, maxBytes = Infinity): Uint8Array {
  const bound = Number.isFinite(maxBytes) ? { maxOutputLength: maxBytes } : undefined;
  try {
    switch (codec) {
      case 0:
        return data;
      case 1:
        return new Uint8Array(gunzipSync(data, bound));
      case 2:
        return snappyDecompress(data, maxBytes);
      case 3:
        return lz4Decompress(data, maxBytes);
      case 4:
        return new Uint8Array(zstdDecompressSync(data, bound));
    }
  } catch (e) {
    const err = new CompressionError(`cannot decompress ${codecName(codec)} data: ${(e as Error).message}`);
    err.tooLarge = (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
    throw err;
  }
  throw new CompressionError(`unknown compression codec ${codec}`);
}


export function compress(codec: number, data: Uint8Array): Uint8Array {
  switch (codec) {
    case 0:
      return data;
    case 1:
      return new Uint8Array(gzipSync(data));
    case 2:
      return snappyCompress(data);
    case 3:
      return lz4Compress(data);
    case 4:
      return new Uint8Array(zstdCompressSync(data));
  }
  throw new CompressionError(`unknown compression codec ${codec}`);
}

export function codecName(codec: number): string {
  return (Object.keys(Compression) as CompressionName[]).find((k) => Compression[k] === codec) ?? `codec-${codec}`;
}
