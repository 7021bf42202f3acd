// IncrementalAlterConfigs: v0-1. SET, DELETE, APPEND and SUBTRACT (list configs only) on the explicit configs of
// topics and the dynamic configs of this broker ("" = the cluster default); validated as Kafka validates
// (meta/configs.ts), stored in the metadata log and in effect once durable. validateOnly checks and stores nothing.
import * as codec from "../protocol/messages/incremental-alter-configs.ts";
import { alterConfigs } from "../meta/configs.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.IncrementalAlterConfigsRequest, codec.IncrementalAlterConfigsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 1,
  standby(req) {
    const responses = (req.resources ?? []).map((r) => ({ errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: "this node is the standby; the primary changes configs", resourceType: r.resourceType, resourceName: r.resourceName }));
    return { throttleTimeMs: 0, responses };
  },
  async handle(req, ctx) {
    const b = ctx.broker;
    const reqs = req.resources.map((r) => ({ resourceType: r.resourceType, resourceName: r.resourceName, ops: r.configs.map((c) => ({ name: c.name, op: c.configOperation, value: c.value })) }));
    const responses = await alterConfigs(b, reqs, true, req.validateOnly, (line) => b.logger.info(`${line} (IncrementalAlterConfigs from ${ctx.remote})`));
    return { throttleTimeMs: 0, responses };
  },
});
