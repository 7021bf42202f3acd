// The log's metadata-log records (see meta/records.ts for how records are typed and decoded):
//   log-start  {topic, partition, offset}   the partition's log start offset moved (WAL segments or S3 objects went)
//   producers  {topic, partition, states}  idempotent-producer state of batches whose WAL segment is going away
//                                          (format of a state: ProducerSnapshot in producer-state.ts)
//   lost       {topic, partition, start, end}  offsets start..end were damaged on disk with no second copy and the
//                                          broker was started with --accept-data-loss: reads of them get an error
//   wal-skip   {segment, from, to}          that damaged byte range of a WAL segment was accepted as lost: replay
//                                          passes over it
import type { Uuid } from "../protocol/codec.ts";
import { MetaRecordError, int, list, str, type RawRecord } from "../meta/records.ts";
import type { ProducerSnapshot } from "./producer-state.ts";

export type LogRecord =
  | { type: "log-start"; topic: Uuid; partition: number; offset: number }
  | { type: "producers"; topic: Uuid; partition: number; states: ProducerSnapshot[] }
  | { type: "lost"; topic: Uuid; partition: number; start: number; end: number }
  | { type: "wal-skip"; segment: number; from: number; to: number };

export const LOG_RECORD_TYPES = ["log-start", "producers", "lost", "wal-skip"] as const satisfies readonly LogRecord["type"][];

const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x);

function producerSnapshot(v: unknown): ProducerSnapshot | undefined {
  if (!Array.isArray(v) || v.length !== 4 || !isInt(v[0]) || !isInt(v[1]) || !isInt(v[2]) || !Array.isArray(v[3])) return undefined;
  const batches = v[3] as unknown[];
  if (!batches.every((b) => Array.isArray(b) && b.length === 4 && b.every(isInt))) return undefined;
  return v as ProducerSnapshot;
}

export function decodeLogRecord(r: RawRecord): LogRecord {
  switch (r.type) {
    case "log-start":
      return { type: "log-start", topic: str(r, "topic"), partition: int(r, "partition"), offset: int(r, "offset") };
    case "producers":
      return { type: "producers", topic: str(r, "topic"), partition: int(r, "partition"), states: list(r, "states", producerSnapshot, "[pid, epoch, lastAppend, batches]") };
    case "lost":
      return { type: "lost", topic: str(r, "topic"), partition: int(r, "partition"), start: int(r, "start"), end: int(r, "end") };
    case "wal-skip":
      return { type: "wal-skip", segment: int(r, "segment"), from: int(r, "from"), to: int(r, "to") };
  }
  throw new MetaRecordError(`not a log record: ${r.type}`);
}
