// The metadata log in the bucket (<root>metadata.log): a snapshot image of every metadata owner (topics, configs,
// committed offsets, producer state, log start offsets, the S3 manifest) in the metadata log's own file format.
// Uploaded after flushes and periodically when anything changed (at most every minGapMs: a PUT a second all day
// would cost more than the data), and on shutdown after the last flush. A start with an empty data dir downloads it
// as its metadata.log; restore.ts then reconciles it with what the bucket really holds.
import type { Logger } from "../logger.ts";
import { writeFileDurably } from "../meta/durable-file.ts";
import { encodeMetaWrite, scanMetaLog } from "../meta/metadata-log.ts";
import { DataLossError } from "../meta/meta-recovery.ts";
import { metadataKey } from "./keys.ts";
import { ObjectNotFound, type ObjectStore } from "./store.ts";

/** What the uploader needs from the metadata log. */
export interface MetadataImage {
  image(): { buf: Uint8Array; records: number };
  readonly applied: number;
}

export class MetadataUploader {
  private uploadedAt = -1;
  private lastUpload = 0;
  private running: Promise<void> | null = null;
  private waiting = false;
  private stopped = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  uploads = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly root: string,
    private readonly meta: MetadataImage,
    private readonly logger: Logger,
    private readonly minGapMs = 1_000,
  ) {}

  /** Uploads every `intervalMs` when something changed. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => this.maybeUpload(), Math.max(this.minGapMs, intervalMs));
    this.timer.unref?.();
  }

  /** No more uploads on their own (shutdown calls upload() itself). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Uploads soon if anything changed since the last upload (at most once per minGapMs). */
  maybeUpload(): void {
    if (this.stopped || this.running || this.waiting || this.meta.applied === this.uploadedAt) return;
    const wait = this.lastUpload + this.minGapMs - Date.now();
    if (wait > 0) {
      this.waiting = true;
      setTimeout(() => {
        this.waiting = false;
        this.maybeUpload();
      }, wait).unref?.();
      return;
    }
    void this.upload().catch((e: Error) => this.logger.warn(`uploading the metadata log to S3 failed (will retry): ${e.message}`));
  }

  /** Uploads the current image now (after any upload in progress). */
  async upload(): Promise<void> {
    while (this.running) await this.running.catch(() => {});
    const applied = this.meta.applied;
    const { buf, records } = this.meta.image(); // consistent: taken synchronously
    this.lastUpload = Date.now();
    this.running = this.store.put(metadataKey(this.root), buf).then(() => {
      this.uploadedAt = applied;
      this.uploads++;
      this.logger.debug(`uploaded the metadata log to S3 (${records} records, ${buf.length} bytes)`);
    });
    try {
      await this.running;
    } finally {
      this.running = null;
    }
  }
}

/** The metadata log image the bucket holds (the second copy of a damaged local one), null when there is none. */
export async function fetchMetadataImage(store: ObjectStore, root: string): Promise<Uint8Array | null> {
  try {
    return (await store.get(metadataKey(root))).body;
  } catch (e) {
    if (e instanceof ObjectNotFound) return null;
    throw e;
  }
}

/**
 * Writes the bucket's metadata log into `path` (a fresh data dir), fsync'd. Null when the bucket has none. A damaged
 * copy is the only copy: the start is refused (DataLossError), or with acceptDataLoss only its intact records kept.
 */
export async function downloadMetadata(store: ObjectStore, root: string, path: string, acceptDataLoss = false): Promise<{ bytes: number } | null> {
  const body = await fetchMetadataImage(store, root);
  if (body === null) return null;
  const scan = scanMetaLog(body);
  if (scan.damages.length === 0) {
    writeFileDurably(path, body);
    return { bytes: body.length };
  }
  const where = `${store.describe} ${metadataKey(root)} bytes ${scan.damages.map((d) => `${d.from}-${d.to} (${d.unverified.join("; ")})`).join(", ")}`;
  if (!acceptDataLoss) throw new DataLossError(`the metadata log in S3 is damaged: ${where} fail their checksums, and it is the only copy (the data dir is empty). Start with --accept-data-loss to restore its ${scan.records.length} intact records without them.`);
  const kept = encodeMetaWrite(scan.records.map((r) => r.raw));
  writeFileDurably(path, kept);
  return { bytes: kept.length };
}
