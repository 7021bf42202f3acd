// Opening the metadata log when it holds damage that is not a torn tail (issue 12 case 9: one changed byte used to
// drop every record after it, and the topics created after it with them).
//   - With the S3 tier, the image it uploaded last is the second copy: when it was taken after the damaged records
//     were written (its meta-image record says up to where in this very file), the file is rebuilt as that image
//     plus every intact record written after it. Nothing is lost.
//   - Otherwise the start is refused, naming the file, the bytes and what the damaged records still say; with
//     --accept-data-loss the damaged records are dropped (said loudly) and every intact record before and after
//     them is kept.
import { writeFileDurably } from "./durable-file.ts";
import { encodeMetaWrite, MetaLogCorruption, MetadataLog, scanMetaLog, type MetaDamage, type MetaScan, type RawRecord } from "./metadata-log.ts";
import type { MetaRecord } from "./records.ts";
import type { Logger } from "../logger.ts";

export interface MetaRecoveryOptions {
  /** The second copy's image (the S3 tier's upload), null when there is none. */
  image: (() => Promise<Uint8Array | null>) | null;
  acceptDataLoss: boolean;
}

/** The broker must not start: acknowledged data is damaged on disk and nothing holds a second copy. */
export class DataLossError extends Error {
  override name = "DataLossError";
}

const own = (r: RawRecord) => r.type === "meta-file" || r.type === "meta-image";

function describe(d: MetaDamage): string {
  return `bytes ${d.from}-${d.to} (${d.unverified.join("; ")})`;
}

/** MetadataLog.open, restoring, refusing or (accepted) dropping damaged records first. */
export async function openMetadataLog(path: string, logger: Logger, opts: MetaRecoveryOptions): Promise<MetadataLog<MetaRecord>> {
  try {
    return MetadataLog.open(path, logger);
  } catch (e) {
    if (!(e instanceof MetaLogCorruption)) throw e;
    const records = await repair(e.scan, path, logger, opts);
    writeFileDurably(path, encodeMetaWrite([{ type: "meta-file", id: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex") }, ...records]));
    return MetadataLog.open(path, logger);
  }
}

/** The records the rebuilt file holds (owners' records only), or a DataLossError. */
async function repair(scan: MetaScan, path: string, logger: Logger, opts: MetaRecoveryOptions): Promise<RawRecord[]> {
  const bad = scan.damages.filter((d) => !d.torn);
  const cut = scan.damages.find((d) => d.torn)?.from ?? Infinity;
  const intact = scan.records.filter((r) => r.pos < cut);
  const worst = Math.max(...bad.map((d) => d.to));
  let why = "No S3 tier holds a copy.";
  const img = opts.image ? await opts.image() : null;
  if (opts.image) {
    const copy = img ? scanMetaLog(img) : null;
    const at = copy?.image;
    if (!copy || copy.damages.length) why = "The S3 tier holds no usable copy of it.";
    else if (!at || at.file !== scan.generation) why = "The S3 tier's copy is of an earlier version of this file.";
    else if (at.at < worst) why = "The S3 tier's copy was taken before the damaged records were written.";
    else {
      const after = intact.filter((r) => r.pos >= at.at && !own(r.raw)).map((r) => r.raw);
      logger.warn(`metadata log ${path}: ${bad.map(describe).join(", ")} fail their checksums; restored from the S3 tier's copy (state up to byte ${at.at}) plus the ${after.length} records written after it`);
      return [...copy.records.filter((r) => !own(r.raw)).map((r) => r.raw), ...after];
    }
  }
  const message =
    `metadata log corruption: ${path} ${bad.map(describe).join(", ")} ${bad.length === 1 ? "fails its" : "fail their"} checksums and intact records follow (not a torn write). ` +
    `${why} Restore the data dir from a backup, or start with --accept-data-loss to drop the damaged records (what they recorded is lost: a topic, a config, committed offsets...) and keep the ${intact.length} intact records before and after them.`;
  if (!opts.acceptDataLoss) throw new DataLossError(message);
  logger.error(`DATA LOSS (--accept-data-loss): ${path} ${bad.map(describe).join(", ")} dropped; the ${intact.length} intact records around them are kept`);
  return intact.filter((r) => !own(r.raw)).map((r) => r.raw);
}
