// The data directory as a start-up precondition: created when missing and proven writable (a probe file written,
// fsync'd and removed) before anything is opened in it, so a bad --data-dir stops the start with the flag and the
// reason ("not a directory", "permission denied", "read-only file system") instead of a raw errno later on.
import { closeSync, fsyncSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, envName } from "../config.ts";

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case "EEXIST":
      return "it is a file, not a directory";
    case "ENOTDIR":
      return "a part of the path is a file, not a directory";
    case "EACCES":
    case "EPERM":
      return `permission denied: the user klite runs as (uid ${process.getuid?.() ?? "?"}) cannot write there`;
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    default:
      return err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? err);
  }
}

function problem(dir: string, why: string): ConfigError {
  return new ConfigError(`--data-dir ${dir} (${envName("data-dir")}): ${why}; point --data-dir at a writable directory`);
}

/** Creates the data dir when missing and checks it is a writable directory; throws a ConfigError naming --data-dir. */
export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw problem(dir, reason(e));
  }
  if (!statSync(dir).isDirectory()) throw problem(dir, "it is a file, not a directory");
  const probe = join(dir, `.write-probe-${process.pid}`);
  try {
    const fd = openSync(probe, "w");
    try {
      writeSync(fd, "klite\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (e) {
    try {
      unlinkSync(probe);
    } catch {
      // never created
    }
    throw problem(dir, reason(e));
  }
}
