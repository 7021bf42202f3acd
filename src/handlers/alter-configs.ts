// AlterConfigs: v0-2. Replaces all explicit configs of each topic, or all dynamic configs of this broker ("" = the
// cluster default), as Kafka's legacy API does; validated as Kafka validates (meta/configs.ts), stored in the
// metadata log and in effect once durable. validateOnly checks and stores nothing.
import * as codec from "../protocol/messages/alter-configs.ts";
import { AlterOp, alterConfigs } from "../meta/configs.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.AlterConfigsRequest, codec.AlterConfigsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 2,
  standby(req) {
    const responses = (req.resources ?? []).map((r) => ({ errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: "this node is the standby; the primary changes configs", resourceType: r.resourceType, resourceName: r.resourceName }));
    return { throttleTimeMs: 0, responses };
  },
  async handle(req, ctx) {
    const b = ctx.broker;
    const reqs = req.resources.map((r) => ({ resourceType: r.resourceType, resourceName: r.resourceName, ops: r.configs.map((c) => ({ name: c.name, op: AlterOp.SET, value: c.value })) }));
    const responses = await alterConfigs(b, reqs, false, req.validateOnly, (line) => b.logger.info(`${line} (AlterConfigs from ${ctx.remote})`));
    return { throttleTimeMs: 0, responses };
  },
});
