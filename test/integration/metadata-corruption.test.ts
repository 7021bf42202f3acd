// Issue 12 case 9 at the broker's level, without S3: one changed byte in the metadata log no longer makes the topics
// created after that record disappear with their records. The start is refused, naming the file and what the
// damaged record still says; with --accept-data-loss only what that record recorded is lost. (With S3, the bucket's
// copy restores it: test/s3/corruption.test.ts.)
import { afterEach, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { keyPositions } from "../helpers/read-topic.ts";
import { damageTopicRecord, sixTopics, topicNames } from "../helpers/disk.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

test("one changed byte in the metadata log (case 9): refused naming the file; accepted, the topics after it stay with their records", async () => {
  let b: TestBroker = await startBroker({ autoCreateTopics: false });
  const dataDir = b.dataDir;
  cleanup.push(() => b.cleanup());
  await sixTopics(b.port);
  await b.stop();
  const { path, from, to } = damageTopicRecord(dataDir, "t2");

  const err = await startBroker({ dataDir, autoCreateTopics: false }).then(() => null, (e: Error) => e);
  expect(err?.name).toBe("DataLossError");
  expect(err?.message).toContain(`metadata log corruption: ${path} bytes ${from}-${to}`);
  expect(err?.message).toContain("--accept-data-loss");

  b = await startBroker({ dataDir, autoCreateTopics: false, acceptDataLoss: true });
  cleanup.push(() => b.stop());
  expect(await topicNames(b.port)).toEqual(["t0", "t1", "t3", "t4", "t5"]);
  for (const t of ["t0", "t1", "t3", "t4", "t5"]) expect((await keyPositions(b.port, t)).size).toBe(3);
  await b.stop();
  // Accepted once: the next start is clean.
  b = await startBroker({ dataDir, autoCreateTopics: false });
  expect(await topicNames(b.port)).toEqual(["t0", "t1", "t3", "t4", "t5"]);
}, 60_000);
