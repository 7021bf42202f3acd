#!/usr/bin/env bun
// klite's entry point: `klite` serves; subcommands are added here as they exist.
import { runMain } from "citty";
import { serve } from "./cli/serve.ts";

await runMain(serve);
