// Every API klite serves: one file per API, each registering its key and versions. ApiVersions answers from this
// list, so what is advertised cannot drift from what is implemented.
import type { Handler } from "./handler.ts";
import apiVersions from "./api-versions.ts";
import createPartitions from "./create-partitions.ts";
import createTopics from "./create-topics.ts";
import deleteTopics from "./delete-topics.ts";
import describeCluster from "./describe-cluster.ts";
import fetch from "./fetch.ts";
import findCoordinator from "./find-coordinator.ts";
import initProducerId from "./init-producer-id.ts";
import listOffsets from "./list-offsets.ts";
import metadata from "./metadata.ts";
import produce from "./produce.ts";
import joinGroup from "./join-group.ts";
import syncGroup from "./sync-group.ts";
import heartbeat from "./heartbeat.ts";
import leaveGroup from "./leave-group.ts";
import offsetCommit from "./offset-commit.ts";
import offsetFetch from "./offset-fetch.ts";
import offsetDelete from "./offset-delete.ts";
import listGroups from "./list-groups.ts";
import describeGroups from "./describe-groups.ts";
import deleteGroups from "./delete-groups.ts";
import describeConfigs from "./describe-configs.ts";
import alterConfigs from "./alter-configs.ts";
import incrementalAlterConfigs from "./incremental-alter-configs.ts";
import deleteRecords from "./delete-records.ts";
import describeLogDirs from "./describe-log-dirs.ts";
import offsetForLeaderEpoch from "./offset-for-leader-epoch.ts";
import describeProducers from "./describe-producers.ts";

const ALL: Handler[] = [
  produce, fetch, listOffsets, metadata, apiVersions, createTopics, deleteTopics, initProducerId, createPartitions, describeCluster,
  findCoordinator, joinGroup, syncGroup, heartbeat, leaveGroup, offsetCommit, offsetFetch, offsetDelete, listGroups, describeGroups, deleteGroups,
  describeConfigs, alterConfigs, incrementalAlterConfigs, deleteRecords, describeLogDirs, offsetForLeaderEpoch, describeProducers,
];

export const HANDLERS: ReadonlyMap<number, Handler> = new Map(ALL.map((h) => [h.codec.API_KEY, h]));

export function supportedApis(handlers: ReadonlyMap<number, Handler> = HANDLERS): { key: number; min: number; max: number }[] {
  return [...handlers.values()].map((h) => ({ key: h.codec.API_KEY, min: h.minVersion, max: h.maxVersion })).sort((a, b) => a.key - b.key);
}
