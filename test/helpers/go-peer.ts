// franz-go (github.com/twmb/franz-go, the Go client) as a test peer: test/peers/go/main.go, pinned by its go.mod and
// go.sum, built once with `go build` into PEERS_DIR/go-<hash of the three files>/ (modules come from the Go module
// proxy through the go command's own cache). A changed source gets a new directory.
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./broker.ts";
import { buildOnce, peer, run, which, type PeerResult } from "./peers.ts";

const SOURCE_DIR = join(ROOT, "test", "peers", "go");
const FILES = ["go.mod", "go.sum", "main.go"];
export const GO_PEER_NAME = "franz-go (v1.22.3)";

let binary: string | null = null;

async function install(): Promise<string> {
  if (!which("go")) throw new Error("go is not on PATH");
  const dir = await buildOnce("go", FILES.map((f) => join(SOURCE_DIR, f)), async (tmp) => {
    for (const f of FILES) copyFileSync(join(SOURCE_DIR, f), join(tmp, f));
    await run(["go", "build", "-o", "klite-go-peer", "."], { cwd: tmp, env: { GOFLAGS: "-mod=readonly" }, timeoutMs: 600_000 });
    if (!existsSync(join(tmp, "klite-go-peer"))) throw new Error("go build produced no klite-go-peer");
  });
  return join(dir, "klite-go-peer");
}

/** Finds or builds the Go peer; its path is the executable. */
export async function goClient(): Promise<PeerResult> {
  const r = await peer(GO_PEER_NAME, install);
  if (r.ok) binary = r.path;
  return r;
}

/** The command line that runs the Go peer with args. */
export function goCommand(args: string[]): string[] {
  if (!binary) throw new Error("the Go peer is not installed: await goClient() first");
  return [binary, ...args];
}
