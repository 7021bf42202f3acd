// One broker per data directory: <data-dir>/.lock holds the owner's pid. A lock whose process is gone (kill -9)
// is taken over; a live one refuses the start.
import { openSync, closeSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Locks this process holds (a lock file naming our own pid but absent here is a previous incarnation's). */
const held = new Set<string>();

export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, ".lock");
  if (held.has(path)) throw new DataDirLockedError(`data dir ${dataDir} is in use by process ${process.pid} (this one)`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      held.add(path);
      return () => {
        held.delete(path);
        try {
          if (readFileSync(path, "utf8").trim() === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DataDirLockedError(`data dir ${dataDir} is in use by process ${pid} (${path})`);
      }
      unlinkSync(path); // stale: its owner is gone
    }
  }
  throw new DataDirLockedError(`could not lock ${path}`);
}
