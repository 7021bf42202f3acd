// Consumer groups with franz-go (v1.22.3, test/peers/go/main.go `group`): three members share 30,000 records over
// six partitions through a leave and a join, with franz-go's default balancer (cooperative-sticky, incremental) and
// with range (eager).
import { expect, test } from "bun:test";
import { GO_PEER_NAME, goClient, goCommand } from "../helpers/go-peer.ts";
import { groupBroker, shareWork, spawnMember } from "../helpers/group-members.ts";
import { describeWithPeer } from "../helpers/peers.ts";

const go = await goClient();

describeWithPeer(GO_PEER_NAME, go, () => {
  const broker = groupBroker();

  for (const balancer of ["cooperative-sticky", "range"]) {
    test(`${balancer}: three members share 30,000 records over six partitions through a leave and a join`, async () => {
      const b = broker();
      const name = `go-${balancer}`;
      const { members, protocols } = await shareWork({
        port: b.port,
        topic: name,
        group: name,
        label: `franz-go ${balancer}`,
        start: (n) => spawnMember(`go-${n}`, goCommand(["group", "--bootstrap", b.bootstrap, "--topic", name, "--group", name, "--balancer", balancer, "--client-id", `go-${n}`])),
      });
      expect(protocols).toEqual([balancer]);
      for (const m of members) {
        expect(m.commitFailures).toEqual([]); // commits happen before a rebalance may start (BlockRebalanceOnPoll)
        expect(m.stdout()).toContain("closed");
      }
    }, 300_000);
  }
});
