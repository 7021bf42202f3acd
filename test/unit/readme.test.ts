// The README documents every flag the broker accepts, with its default.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FLAGS } from "../../src/config.ts";
import { ROOT } from "../helpers/broker.ts";

test("every flag is in the README's flag table", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  expect(readme.startsWith("# klite\n\n```sh\nnpm install && npm start")).toBe(true);
  for (const [name, def] of Object.entries(FLAGS)) {
    const row = readme.split("\n").find((l) => l.startsWith(`| \`--${name}\``));
    expect(row).toBeDefined();
    if ("default" in def && def.default && def.default !== "0") expect(row).toContain(def.default);
  }
});
