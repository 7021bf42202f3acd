#!/usr/bin/env bun
// klite's entry point. The first argument picks the command: `bench ...` runs the load generator, `doctor s3`
// checks the object store, `serve` (or
// nothing, or a flag) runs the broker. Only the first argument is looked at, so a flag value such as the ":9092"
// of `klite --listen :9092` is never taken for a command name.
import { renderUsage, runMain, type CommandDef } from "citty";
import { plainUsage } from "./cli/usage.ts";
import { bench } from "./cli/bench.ts";
import { doctor } from "./cli/doctor.ts";
import { joinBooleanValues, serve } from "./cli/serve.ts";
import { versionLine } from "./version.ts";

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  console.log(versionLine());
} else if (argv[0] === "bench" || argv[0] === "doctor") {
  await runMain(argv[0] === "bench" ? bench : doctor, { rawArgs: argv.slice(1), showUsage: async (cmd, parent) => console.log(`${plainUsage(await renderUsage(cmd, parent))}\n`) });
} else {
  // `klite --help` also lists the commands.
  const root = { ...serve, subCommands: { serve: { meta: { name: "serve", description: "Run the broker (the default)" } }, bench, doctor } } as CommandDef;
  await runMain(serve, {
    rawArgs: joinBooleanValues(argv[0] === "serve" ? argv.slice(1) : argv),
    showUsage: async (cmd, parent) => console.log(`${plainUsage(await renderUsage((cmd === serve ? root : cmd) as CommandDef, parent as CommandDef | undefined))}\n`),
  });
}
