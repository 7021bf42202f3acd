// What this node knows of its own place in the replicated pair, kept in <data-dir>/replication.json (written whole,
// fsync'd): the newest lease epoch it has seen (a fresh lease starts above it, so epochs never go back), the epoch
// in which it was primary last (as holder of that lease it may take over again: its data has everything it
// acknowledged), and the session token of the primary whose stream its data follows (so it may take over when the
// lease lists it as in sync with that token). The token is cleared before a session replaces the data and written
// again once the data is the primary's, so a crash in between never leaves a token over foreign data. `synced` is the
// token of a stream this node has caught up with (LIVE applied): a full session starts from an empty WAL, and until
// its backfill is done this node holds only part of what the primary acknowledged, so it may resume the session
// (token) but not take over (synced).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileDurably } from "../meta/durable-file.ts";

export interface Term {
  maxEpoch: number;
  primaryEpoch: number | null;
  token: { epoch: number; stream: string } | null;
  synced: { epoch: number; stream: string } | null;
}

const file = (dataDir: string) => join(dataDir, "replication.json");

export function readTerm(dataDir: string): Term {
  const path = file(dataDir);
  if (!existsSync(path)) return { maxEpoch: 0, primaryEpoch: null, token: null, synced: null };
  const t = JSON.parse(readFileSync(path, "utf8")) as Partial<Term>;
  // A file from before `synced` existed: its token was written only for data that held the whole stream.
  return { maxEpoch: t.maxEpoch ?? 0, primaryEpoch: t.primaryEpoch ?? null, token: t.token ?? null, synced: t.synced === undefined ? (t.token ?? null) : t.synced };
}

export function writeTerm(dataDir: string, t: Term): void {
  writeFileDurably(file(dataDir), JSON.stringify(t));
}
