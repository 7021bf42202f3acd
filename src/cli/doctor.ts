// `klite doctor s3`: checks that the configured object store really does what klite relies on (the conditional
// writes the lease needs, ranged reads, paginated listings; see lease/store-checks.ts), with the same --s3-* flags
// and KLITE_S3_* variables as the broker and the AWS SDK's credential chain. One line per check; exit 1 on any
// failure, so it can run in an init container or a CI job before replicated mode is turned on.
import { defineCommand, type ArgsDef } from "citty";
import { ConfigError, FLAGS, envName, resolveConfig } from "../config.ts";
import { checkStore } from "../lease/store-checks.ts";
import { fail, unknownFlags } from "./serve.ts";

const S3_FLAGS = Object.entries(FLAGS).filter(([name]) => ["s3-bucket", "s3-region", "s3-endpoint", "s3-prefix"].includes(name));

const s3Args: ArgsDef = Object.fromEntries(
  S3_FLAGS.map(([name, f]) => [name, { type: "string", description: `${f.description} [${envName(name)}]`, valueHint: f.kind }]),
);

const s3 = defineCommand({
  meta: { name: "s3", description: "Check that the S3 store does what the lease and the S3 tier rely on" },
  args: s3Args,
  async run({ args, rawArgs }) {
    const unknown = unknownFlags(rawArgs, S3_FLAGS.map(([n]) => n));
    if (unknown.length) fail(`unknown flag --${unknown[0]} (see klite doctor s3 --help)`);
    let config;
    try {
      const flags: Record<string, string> = {};
      for (const [name] of S3_FLAGS) if (typeof (args as Record<string, unknown>)[name] === "string") flags[name] = (args as Record<string, string>)[name]!;
      config = resolveConfig(flags);
    } catch (e) {
      if (e instanceof ConfigError) fail(e.message);
      throw e;
    }
    if (!config.s3) fail(`no bucket to check: give --s3-bucket (${envName("s3-bucket")})`);
    const { AwsObjectStore } = await import("../s3/aws-store.ts");
    const store = new AwsObjectStore({ bucket: config.s3.bucket, region: config.s3.region, endpoint: config.s3.endpoint, maxAttempts: 1, requestTimeoutMs: 15_000 });
    console.log(`checking S3 ${store.describe}${config.s3.prefix ? ` under prefix ${JSON.stringify(config.s3.prefix)}` : ""}`);
    let results;
    try {
      results = await checkStore(store, config.s3.prefix);
    } catch (e) {
      fail(`cannot use S3 ${store.describe}: ${(e as Error).message}`);
    }
    for (const r of results) console.log(`${r.ok ? "ok  " : "FAIL"}  ${r.name}${r.ok ? ` (${r.detail})` : `: ${r.detail}`}`);
    const failed = results.filter((r) => !r.ok).length;
    console.log(failed ? `${failed} of ${results.length} checks failed: replicated mode (--replication-addr) will refuse to start on this store` : `all ${results.length} checks passed`);
    process.exit(failed ? 1 : 0);
  },
});

export const doctor = defineCommand({
  meta: { name: "doctor", description: "Check the environment klite runs in" },
  subCommands: { s3 },
});
