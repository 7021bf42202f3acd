// File descriptors as a budget (issue 12 case 11): at a low open-files limit a flood of connections must not take the
// descriptors the WAL needs to prepare its next segment (EMFILE there fails every produce). Each connection is one
// descriptor, so connections are admitted only while the limit (RLIMIT_NOFILE, read from /proc/self/limits) leaves
// room after what the broker holds for itself at start (measured from /proc/self/fd), the WAL's segment files as
// they come and go, and a fixed reserve for what opens files briefly (the next WAL segment and its temp file,
// metadata-log compaction, the S3 client's sockets, health probes). Linux only; elsewhere nothing is limited here
// (--max-connections still is).
import { readdirSync, readFileSync } from "node:fs";

/** Descriptors kept free for the broker's own short-lived files and sockets. */
export const FD_RESERVE = 128;

/** The soft open-files limit, null when it cannot be read (not Linux) or is unlimited. */
export function openFilesLimit(): number | null {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (!m || m[1] === "unlimited") return null;
    const n = Number(m[1]);
    return Number.isSafeInteger(n) ? n : null;
  } catch {
    return null;
  }
}

/** Descriptors open in this process right now, null when that cannot be read. */
export function openDescriptors(): number | null {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return null;
  }
}

export class FdBudget {
  private constructor(
    readonly limit: number,
    /** Descriptors neither connections nor WAL segments held when the listener opened (runtime, files, sockets). */
    private readonly base: number,
    private readonly walFiles: () => number,
  ) {}

  /** The budget for this process, null when the limit cannot be known. Call before any connection is accepted. */
  static measure(walFiles: () => number): FdBudget | null {
    const limit = openFilesLimit();
    const open = openDescriptors();
    if (limit === null || open === null) return null;
    return new FdBudget(limit, Math.max(0, open - walFiles()), walFiles);
  }

  /** Connections the limit leaves room for right now. */
  get connections(): number {
    return Math.max(0, this.limit - FD_RESERVE - this.base - this.walFiles());
  }

  describe(): string {
    return `open-files limit ${this.limit}: ${this.base} held at start, ${this.walFiles()} WAL segment files, ${FD_RESERVE} kept in reserve, room for ${this.connections} connections`;
  }
}
