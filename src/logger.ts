// The logging port every room takes. The CLI backs it with consola at --log-level; tests may pass a silent one.
import { createConsola } from "consola";

export interface Logger {
  error(msg: string, ...rest: unknown[]): void;
  warn(msg: string, ...rest: unknown[]): void;
  info(msg: string, ...rest: unknown[]): void;
  debug(msg: string, ...rest: unknown[]): void;
}

const LEVELS: Record<string, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

export function createLogger(level: string, tag = "klite"): Logger {
  const c = createConsola({ level: LEVELS[level] ?? 3, formatOptions: { date: true, colors: false, compact: true } });
  return c.withTag(tag);
}

export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
