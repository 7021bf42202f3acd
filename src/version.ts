// klite's version (package.json) and the commit it was built from. `npm run build` / `npm run release` define
// KLITE_COMMIT (bun build --define); run from source, the commit is asked of git when --version wants it.
import pkg from "../package.json" with { type: "json" };

declare const KLITE_COMMIT: string | undefined;

export const VERSION: string = pkg.version;

/** The build's commit ("<12 hex>", "-dirty" when the tree had changes), or "unknown". */
export function commit(): string {
  if (typeof KLITE_COMMIT === "string") return KLITE_COMMIT;
  return gitCommit(import.meta.dir) ?? "unknown";
}

/** HEAD of the checkout holding `dir`, "-dirty" appended when tracked files differ; null outside git. */
export function gitCommit(dir: string): string | null {
  try {
    const head = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: dir, stdout: "pipe", stderr: "ignore" });
    if (head.exitCode !== 0) return null;
    const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: dir, stdout: "pipe", stderr: "ignore" });
    return head.stdout.toString().trim() + (dirty.stdout.toString().trim() ? "-dirty" : "");
  } catch {
    return null; // no git
  }
}

/** What `klite --version` prints. */
export function versionLine(): string {
  return `klite ${VERSION} (commit ${commit()})`;
}
