// DescribeLogDirs: v0-4. One log dir, the data dir, with each partition's bytes on this node's disk (what the WAL
// holds of it: with S3, older data lives only in the bucket, as with Kafka's tiered storage), and from v4 the file
// system's total and usable bytes. `topics` null describes every partition; unknown ones are left out, as in Kafka.
import { statfsSync } from "node:fs";
import { resolve } from "node:path";
import * as codec from "../protocol/messages/describe-log-dirs.ts";
import { ErrorCode } from "../protocol/errors.ts";
import type { TopicState } from "../log/partition.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DescribeLogDirsRequest, codec.DescribeLogDirsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 4,
  sameOnStandby: true, // describes this node's own disk
  handle(req, ctx) {
    const { log, catalog, config } = ctx.broker;
    const wanted: [TopicState, number[] | null][] = [];
    if (req.topics === null) {
      for (const m of catalog.all()) {
        const t = log.topic(m.name);
        if (t) wanted.push([t, null]);
      }
    } else {
      for (const rt of req.topics) {
        const t = log.topic(rt.topic);
        if (t) wanted.push([t, rt.partitions]);
      }
    }
    const topics = wanted.map(([t, only]) => ({
      name: t.meta.name,
      partitions: t.partitions
        .filter((p) => only === null || only.includes(p.id))
        .map((p) => ({ partitionIndex: p.id, partitionSize: BigInt(log.localBytes(p)), offsetLag: 0n, isFutureKey: false })),
    })).filter((t) => t.partitions.length > 0);
    const logDir = resolve(config.dataDir);
    let totalBytes = -1n;
    let usableBytes = -1n;
    try {
      const fs = statfsSync(logDir);
      totalBytes = BigInt(fs.blocks) * BigInt(fs.bsize);
      usableBytes = BigInt(fs.bavail) * BigInt(fs.bsize);
    } catch {
      // unknown: -1, as Kafka answers when it cannot tell
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, results: [{ errorCode: 0, logDir, topics, totalBytes, usableBytes }] };
  },
});
