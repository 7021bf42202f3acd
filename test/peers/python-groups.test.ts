// Consumer groups with confluent-kafka (python3-confluent-kafka on librdkafka 2.0.x, Debian; client.py `group`):
// three members share 30,000 records over six partitions through a leave and a join, with librdkafka's default
// assignors (range,roundrobin: eager) and with cooperative-sticky (incremental). KLITE_RDKAFKA_DEBUG=cgrp,fetch
// passes librdkafka debug contexts to the members (their stderr is shown when a test fails).
import { expect, test } from "bun:test";
import { join } from "node:path";
import { groupBroker, shareWork, spawnMember } from "../helpers/group-members.ts";
import { describeWithPeer, pythonConfluent } from "../helpers/peers.ts";

const CLIENT = join(import.meta.dir, "python", "client.py");
const py = await pythonConfluent();

describeWithPeer("confluent-kafka (python) groups", py, () => {
  const python = py.ok ? py.path : "python3";
  const broker = groupBroker();

  for (const assignor of ["range,roundrobin", "cooperative-sticky"]) {
    test(`${assignor}: three members share 30,000 records over six partitions through a leave and a join`, async () => {
      const b = broker();
      const name = `py-${assignor.split(",")[0]}`;
      const { members, protocols } = await shareWork({
        port: b.port,
        topic: name,
        group: name,
        label: `confluent-kafka ${assignor}`,
        start: (n) => spawnMember(`py-${n}`, [python, CLIENT, "group", "--bootstrap", b.bootstrap, "--topic", name, "--group", name, "--assignor", assignor, "--client-id", `py-${n}`, ...(process.env.KLITE_RDKAFKA_DEBUG ? ["--debug", process.env.KLITE_RDKAFKA_DEBUG] : [])]),
      });
      expect(protocols).toEqual([assignor.split(",")[0]!]); // the group ran with the first assignor every member had
      for (const m of members) expect(m.stdout()).toContain("closed"); // every member closed cleanly
    }, 300_000);
  }
});
