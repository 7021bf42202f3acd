// becomePrimary(): what a node runs on top of its recovered rooms while it serves clients: the owners act on their
// state (producer ids continue after the last reserved block, group members get their session timeouts), the S3
// flusher, retention and compaction, and the expiry timers. The Kafka listener answers as a primary as soon as the
// role says so (broker.ts). A standby that is promoted comes here with the rooms it kept warm; a single broker
// comes here right after recovery. stepDown() undoes it (a graceful stop, or a primary that lost its lease).
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { Rooms } from "./wiring-rooms.ts";

const PRODUCER_EXPIRY_CHECK_MS = 10 * 60_000;
/** Kafka's offsets.retention.check.interval.ms default. */
const OFFSET_EXPIRY_CHECK_MS = 10 * 60_000;

export interface PrimaryRole {
  /**
   * Stops the primary's background work. With `flushToS3` (a graceful stop with no standby holding everything) all
   * unflushed data goes to S3 and the metadata log is uploaded, until the deadline; without it nothing more is
   * written to the bucket. Resolves true when the bucket holds everything (flushed and uploaded in time).
   */
  stepDown(opts: { flushToS3: boolean; deadline: number }): Promise<boolean>;
}

export function becomePrimary(rooms: Rooms, config: Config, logger: Logger): PrimaryRole {
  const { meta, log, groups, offsets, tier } = rooms;
  log.takeOver();
  meta.activate();
  tier?.start();
  const timers: ReturnType<typeof setInterval>[] = [];
  timers.push(setInterval(() => log.expireProducers(), PRODUCER_EXPIRY_CHECK_MS));
  const offsetCheck = Math.min(Math.max(config.offsetsRetentionMs / 2, 1000), OFFSET_EXPIRY_CHECK_MS);
  timers.push(setInterval(() => {
    offsets.expire(groups, config.offsetsRetentionMs).then(
      (emptied) => emptied.forEach((id) => groups.forgetEmpty(id)),
      (e: Error) => logger.error(`offset expiry failed: ${e.message}`),
    );
  }, offsetCheck));
  for (const t of timers) t.unref?.();
  let down: Promise<boolean> | null = null;
  return {
    stepDown(opts) {
      down ??= (async () => {
        for (const t of timers) clearInterval(t);
        groups.close();
        if (!tier) return false;
        if (opts.flushToS3) {
          await rooms.wal.drain(); // the flush reads what the WAL holds
          return await tier.stop(opts.deadline);
        }
        await tier.halt();
        return false;
      })();
      return down;
    },
  };
}
