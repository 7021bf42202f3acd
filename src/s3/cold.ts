// The log's ColdStore on S3: finds the object holding an offset in the manifest and reads it through the
// ObjectReader. Retention and compaction swap objects while reads are in flight, so a read that finds its object
// gone looks the offset up again (the manifest changes synchronously, before the old object is deleted); after a
// few rounds, or on any other store error, it fails with ColdReadError, which clients see as a retriable error.
import { ColdReadError, type ColdStore, type OffsetAndTimestamp } from "../log/log.ts";
import type { Partition } from "../log/partition.ts";
import { CorruptBatchError, decodeRecords } from "../protocol/records.ts";
import type { Manifest } from "./manifest.ts";
import type { ObjectReader } from "./reader.ts";
import { ObjectNotFound, PreconditionFailed } from "./store.ts";
import { ObjectFormatError } from "./object.ts";

const LOOKUP_ROUNDS = 4;

export class ColdReads implements ColdStore {
  constructor(private readonly manifest: Manifest, private readonly reader: ObjectReader) {}

  end(p: Partition): number {
    return this.manifest.of(p).end;
  }

  maxTimestamp(p: Partition): number {
    let m = -1;
    for (const e of this.manifest.of(p).entries) if (e.maxTs > m) m = e.maxTs;
    return m;
  }

  read(p: Partition, offset: number, maxBytes: number, minOne: boolean): Promise<{ records: Uint8Array[]; bytes: number } | null> {
    return this.retrying(p, offset, async () => {
      const po = this.manifest.of(p);
      for (let i = po.find(offset); i < po.entries.length; ) {
        const e = po.entries[i]!;
        const r = await this.reader.read(e.key, offset, maxBytes, minOne, e.batches, e.etag);
        if (r !== null) return { records: [r.data], bytes: r.bytes };
        // Nothing at or after offset in this object (compacted away): the next one has what follows. The entry
        // list may have changed during the GETs, so find the next one again.
        i = po.find(e.last + 1);
      }
      return null;
    });
  }

  offsetForTimestamp(p: Partition, ts: number): Promise<OffsetAndTimestamp | null> {
    return this.retrying(p, ts, async () => {
      for (const e of [...this.manifest.of(p).entries]) {
        if (e.maxTs < ts) continue;
        const f = await this.reader.footer(e.key, e.batches, e.etag);
        for (let j = f.footer.findTimestamp(ts); j < f.footer.count; j++) {
          if (f.footer.maxTs[j]! < ts) continue;
          const batch = await this.reader.batches(e.key, f, j, j + 1);
          for (const r of decodeRecords(batch)) {
            // The log start may have moved during the GETs; records below it no longer exist for clients.
            if (r.timestamp >= ts && r.offset >= p.logStartOffset) return { offset: r.offset, timestamp: r.timestamp };
          }
        }
      }
      return null;
    });
  }

  /** Runs a lookup, starting over when an object it used was replaced or deleted meanwhile. */
  private async retrying<T>(p: Partition, at: number, lookup: () => Promise<T>): Promise<T> {
    for (let round = 1; ; round++) {
      try {
        return await lookup();
      } catch (e) {
        if (e instanceof CorruptBatchError) throw e; // the bytes are there but damaged: asking again will not help
        // A footer or layout that does not hold together is damage too (the ETag pins the version read).
        if (e instanceof ObjectFormatError) throw new CorruptBatchError(`reading ${p} at ${at} from S3: ${e.message}`, at);
        const replaced = e instanceof ObjectNotFound || e instanceof PreconditionFailed;
        if (replaced && round < LOOKUP_ROUNDS) {
          for (const en of this.manifest.of(p).entries) this.reader.invalidate(en.key);
          continue;
        }
        throw new ColdReadError(`reading ${p} at ${at} from S3: ${(e as Error).message}`);
      }
    }
  }
}
