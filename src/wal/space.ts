// The start-up check of the data dir's free space against what the WAL will preallocate (issue 12 case 11): a disk
// too small for the configured segments is refused with a message saying how much it needs and which flags change
// that, instead of an ENOSPC from the middle of a write.
import { readdirSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, envName } from "../config.ts";
import type { Logger } from "../logger.ts";

/** Room kept for the metadata log (and its compaction's temporary copy) besides the WAL. */
const METADATA_ROOM = 1024 * 1024;

function mib(n: number): string {
  return n >= 1024 * 1024 ? `${Math.ceil(n / (1024 * 1024))} MiB` : `${Math.ceil(n / 1024)} KiB`;
}

/**
 * Throws a ConfigError naming --data-dir and --wal-segment-max-bytes when the free space cannot hold the segments the
 * start preallocates (the one written and the next one, less those already there), plus room for the metadata log.
 * Warns when the first rotation would not fit.
 */
export function checkFreeSpace(dataDir: string, walDir: string, segmentBytes: number, logger: Logger): void {
  let free: number;
  try {
    const st = statfsSync(dataDir);
    free = Number(st.bavail) * Number(st.bsize);
  } catch {
    return; // not knowable here: the writes will say
  }
  let segments = 0;
  try {
    segments = readdirSync(walDir).filter((f) => f.endsWith(".wal")).length;
  } catch {
    // no WAL yet
  }
  const need = Math.max(0, 2 - segments) * segmentBytes + METADATA_ROOM;
  const advice = `free some space, or start with a smaller --wal-segment-max-bytes (${envName("wal-segment-max-bytes")}, at least 64KiB)`;
  if (free < need) {
    throw new ConfigError(
      `--data-dir ${dataDir} (${envName("data-dir")}): ${mib(free)} free, but klite needs ${mib(need)} there to start with --wal-segment-max-bytes ${mib(segmentBytes)} ` +
        `(the WAL preallocates the segment it writes and the next one, plus room for the metadata log): ${advice}`,
    );
  }
  if (free < need + segmentBytes) {
    logger.warn(`data dir ${dataDir}: ${mib(free)} free; the WAL's next rotation needs another ${mib(segmentBytes)} (--wal-segment-max-bytes): produce will fail with KAFKA_STORAGE_ERROR once it does not fit (${advice})`);
  }
}
