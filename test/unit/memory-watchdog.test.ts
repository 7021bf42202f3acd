// The memory watchdog asks for a full collection when the resident set runs ahead of what the pools hold (or nears
// the limit), and leaves the collector alone otherwise.
import { expect, test } from "bun:test";
import { startMemoryWatchdog } from "../../src/memory/watchdog.ts";
import { planMemory } from "../../src/memory/budget.ts";
import { silentLogger } from "../../src/logger.ts";
import { waitFor } from "../helpers/broker.ts";

const MiB = 1024 * 1024;
const plan = planMemory({ bytes: 1024 * MiB, source: "--memory-limit" }, 0);

test("garbage past half of what the pools hold, or a resident set near the limit, gets a full collection", async () => {
  let resident = 300 * MiB;
  const held = 200 * MiB; // with the runtime's ~96 MiB: 296 MiB live
  const w = startMemoryWatchdog(plan, () => held, silentLogger, { rss: () => resident, checkMs: 10, minGapMs: 50 });
  try {
    await Bun.sleep(200);
    expect(w.collections).toBe(0);
    resident = 500 * MiB; // more than 1.5 x live
    await waitFor(() => w.collections >= 1, "a collection for the garbage", 3000);
    resident = 300 * MiB;
    const after = w.collections;
    await Bun.sleep(200);
    expect(w.collections).toBe(after);
  } finally {
    w.stop();
  }
  const near = startMemoryWatchdog(plan, () => 700 * MiB, silentLogger, { rss: () => 950 * MiB, checkMs: 10, minGapMs: 50 }); // live, but near the limit
  try {
    await waitFor(() => near.collections >= 1, "a collection near the limit", 3000);
  } finally {
    near.stop();
  }
});
