// `klite` (serve): every flag of config.ts with its KLITE_ variable and default in --help. Bad values exit 1 with
// a message naming the flag. SIGTERM/SIGINT stop gracefully (exit 0); a second signal exits at once.
import { defineCommand, type ArgsDef } from "citty";
import { ConfigError, FLAGS, envName, resolveConfig } from "../config.ts";
import { Broker, VERSION } from "../broker/broker.ts";
import { createLogger } from "../logger.ts";
import { podRoleObservers } from "../broker/wiring-k8s.ts";

/** What a flag's value looks like, for --help and for "expects a value" errors. */
function valueHint(f: { kind: string; options?: readonly string[] }): string {
  if (f.kind === "enum") return f.options!.join("|");
  return ({ bool: "true|false", hostport: "host[:port]", addr: "host:port" } as Record<string, string>)[f.kind] ?? f.kind;
}

export const serveArgs: ArgsDef = Object.fromEntries(
  Object.entries(FLAGS).map(([name, f]) => [
    name,
    {
      type: "string",
      description: `${f.description} [${envName(name)}]${"default" in f && f.default !== undefined ? ` (default: ${f.default})` : ""}`,
      valueHint: valueHint(f),
    },
  ]),
);

/**
 * Spells boolean flags out so the parser never takes the next argument for their value: `--auto-create-topics`
 * → `=true`, `--auto-create-topics false` → `=false`, `--no-auto-create-topics` → `=false`. Other values
 * (`--auto-create-topics=maybe`) are left for the config to refuse, naming the flag.
 */
export function joinBooleanValues(argv: string[]): string[] {
  const bools = new Set(Object.entries(FLAGS).filter(([, f]) => f.kind === "bool").map(([name]) => name));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith("--") ? a.slice(2) : "";
    const next = argv[i + 1];
    if (bools.has(name)) {
      const value = next === "true" || next === "false" ? next : "true";
      if (value === next) i++;
      out.push(`${a}=${value}`);
    } else if (name.startsWith("no-") && bools.has(name.slice(3))) {
      out.push(`--${name.slice(3)}=false`);
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Flags on the command line that klite does not know (citty would silently ignore them). */
export function unknownFlags(rawArgs: string[], known: Iterable<string>): string[] {
  const names = new Set([...known, "help", "h", "version", "v"]);
  const unknown: string[] = [];
  for (const a of rawArgs) {
    if (!a.startsWith("-") || a === "-" || a === "--" || /^-\d/.test(a)) continue; // values such as -3
    const name = a.replace(/^--?/, "").replace(/=.*$/, "");
    if (names.has(name) || (name.startsWith("no-") && names.has(name.slice(3)))) continue;
    unknown.push(name);
  }
  return unknown;
}

/**
 * The first flag that expects a value but has none: followed by another flag or by nothing (`--listen --data-dir x`,
 * a trailing `--data-dir`). Returns the message naming it, or null. `valueFlags` maps names to their value hint.
 */
export function missingValue(rawArgs: string[], valueFlags: ReadonlyMap<string, string>): string | null {
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (!a.startsWith("--") || a.includes("=")) continue;
    const hint = valueFlags.get(a.slice(2));
    if (hint === undefined) continue;
    const next = rawArgs[i + 1];
    const what = hint ? `a value (${hint})` : "a value";
    if (next === undefined) return `flag ${a} expects ${what} but none was given`;
    if (/^--?[A-Za-z]/.test(next)) return `flag ${a} expects ${what} but is followed by ${next}`;
    i++;
  }
  return null;
}

const VALUE_FLAGS: ReadonlyMap<string, string> = new Map(
  Object.entries(FLAGS)
    .filter(([, f]) => f.kind !== "bool")
    .map(([name, f]) => [name, f.kind === "string" ? "" : valueHint(f)]),
);

/** Every value given to --name (as `--name v` or `--name=v`), in order. */
export function repeatedValues(rawArgs: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === `--${name}` && i + 1 < rawArgs.length) out.push(rawArgs[++i]!);
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

export function fail(message: string): never {
  process.stderr.write(`klite: ${message}\n`);
  process.exit(1);
}

export const serve = defineCommand({
  meta: { name: "klite", version: VERSION, description: "A Kafka-compatible broker in one executable" },
  args: serveArgs,
  async run({ args, rawArgs }) {
    const unknown = unknownFlags(rawArgs, Object.keys(FLAGS));
    if (unknown.length) fail(`unknown flag --${unknown[0]} (see klite --help)`);
    const missing = missingValue(rawArgs, VALUE_FLAGS);
    if (missing) fail(`${missing} (see klite --help)`);
    const positional = (args._ as string[]).filter((a) => a !== "serve");
    if (positional.length) fail(`unexpected argument ${JSON.stringify(positional[0])} (see klite --help)`);
    let config;
    try {
      const flags: Record<string, string | undefined> = {};
      for (const name of Object.keys(FLAGS)) {
        const v = (args as Record<string, unknown>)[name];
        if (v === true) flags[name] = "true"; // bare boolean flag
        else if (typeof v === "string") flags[name] = v;
      }
      // citty keeps only the last of a repeated flag: a "list" flag collects every occurrence itself.
      for (const [name, f] of Object.entries(FLAGS)) {
        if (f.kind === "list" && flags[name] !== undefined) flags[name] = repeatedValues(rawArgs, name).join(",");
      }
      config = resolveConfig(flags);
    } catch (e) {
      if (e instanceof ConfigError) fail(e.message);
      throw e;
    }
    const logger = createLogger(config.logLevel);
    let broker: Broker;
    try {
      broker = await Broker.start(config, logger, { observers: await podRoleObservers(config, process.env, logger) });
    } catch (e) {
      // A flag whose value turned out unusable (address in use, data dir not writable) reads like a bad flag.
      if (e instanceof ConfigError) fail(e.message);
      logger.error(`start failed: ${(e as Error).message}`);
      process.exit(1);
    }
    let signals = 0;
    const onSignal = (sig: string) => {
      if (++signals > 1) {
        logger.warn(`${sig} again: exiting without waiting`);
        process.exit(1);
      }
      logger.info(`${sig} received`);
      broker.stop().then(
        () => process.exit(0),
        (e) => {
          logger.error(`shutdown failed: ${(e as Error).message}`);
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
  },
});
