// DescribeCluster: v0-1. One broker, which is also the controller. v1 endpoint type 2 (controllers) is refused the
// way a Kafka broker listener refuses it.
import * as codec from "../protocol/messages/describe-cluster.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { CLUSTER_OPS } from "./metadata.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DescribeClusterRequest, codec.DescribeClusterResponse>({
  codec,
  minVersion: 0,
  maxVersion: 1,
  handle(req, ctx) {
    const b = ctx.broker;
    const endpointType = req.endpointType ?? 1;
    const base = { throttleTimeMs: 0, endpointType, clusterId: b.clusterId, controllerId: b.nodeId, clusterAuthorizedOperations: req.includeClusterAuthorizedOperations ? CLUSTER_OPS : -2147483648 };
    if (endpointType !== 1) {
      return { ...base, errorCode: ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, errorMessage: "The broker listener only describes brokers (endpoint type 1).", brokers: [] };
    }
    return { ...base, errorCode: 0, errorMessage: null, brokers: [{ brokerId: b.nodeId, host: b.advertised.host, port: b.advertised.port, rack: null }] };
  },
});
