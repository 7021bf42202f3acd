// `kcat -G` (balanced KafkaConsumer mode; kcat 1.7 on librdkafka 2.0.x, Debian): three members of a group share
// 30,000 records over six partitions through a leave (SIGTERM: kcat closes the consumer, committing and leaving) and
// a join. Offsets are auto-committed every 100 ms; every record line comes from -f 'r %p %o %k\n'.
import { expect, test } from "bun:test";
import { groupBroker, shareWork, spawnMember } from "../helpers/group-members.ts";
import { describeWithPeer, kcat } from "../helpers/peers.ts";

const peer = await kcat();

describeWithPeer("kcat -G", peer, () => {
  const KCAT = peer.ok ? peer.path : "kcat";
  const broker = groupBroker();

  test("three kcat -G members share 30,000 records over six partitions through a leave and a join", async () => {
    const b = broker();
    const name = "kcat-group";
    const { members, protocols } = await shareWork({
      port: b.port,
      topic: name,
      group: name,
      label: "kcat -G",
      start: (n) =>
        spawnMember(`kcat-${n}`, [
          KCAT, "-b", b.bootstrap, "-G", name, name, "-u", "-f", "r %p %o %k\\n",
          "-X", `client.id=kcat-${n}`, "-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=100",
          "-X", "session.timeout.ms=10000", "-X", "heartbeat.interval.ms=500",
        ]),
    });
    expect(protocols).toEqual(["range"]); // librdkafka's default, range,roundrobin
    for (const m of members) {
      // librdkafka logs errors as %0..%3 lines: a correct broker causes none.
      expect(m.stderr().split("\n").filter((l) => /^%[0-3]\|/.test(l))).toEqual([]);
      expect(await m.exited).toBe(0);
    }
  }, 300_000);
});
