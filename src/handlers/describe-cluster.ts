// DescribeCluster: v0-1. This broker (and in replicated mode the other node); the primary is the controller. v1 endpoint type 2 (controllers) is refused the
// way a Kafka broker listener refuses it.
import * as codec from "../protocol/messages/describe-cluster.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { CLUSTER_OPS } from "./metadata.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DescribeClusterRequest, codec.DescribeClusterResponse>({
  codec,
  minVersion: 0,
  maxVersion: 1,
  sameOnStandby: true, // the same brokers; a standby names the primary as the controller
  handle(req, ctx) {
    const b = ctx.broker;
    const endpointType = req.endpointType ?? 1;
    const controllerId = b.role === "primary" ? b.nodeId : (b.peer?.nodeId ?? -1);
    const base = { throttleTimeMs: 0, endpointType, clusterId: b.clusterId, controllerId, clusterAuthorizedOperations: req.includeClusterAuthorizedOperations ? CLUSTER_OPS : -2147483648 };
    if (endpointType !== 1) {
      return { ...base, errorCode: ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, errorMessage: "The broker listener only describes brokers (endpoint type 1).", brokers: [] };
    }
    const brokers = [{ brokerId: b.nodeId, host: b.advertised.host, port: b.advertised.port, rack: null }];
    if (b.peer && b.peer.nodeId !== b.nodeId) brokers.push({ brokerId: b.peer.nodeId, host: b.peer.host, port: b.peer.port, rack: null });
    return { ...base, errorCode: 0, errorMessage: null, brokers };
  },
});
