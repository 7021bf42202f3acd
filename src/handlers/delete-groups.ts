// DeleteGroups: v0-2. Only empty groups: their offsets and metadata go; a group with members is NON_EMPTY_GROUP,
// an unknown one GROUP_ID_NOT_FOUND.
import * as codec from "../protocol/messages/delete-groups.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DeleteGroupsRequest, codec.DeleteGroupsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 2,
  standby(req) {
    return { throttleTimeMs: 0, results: req.groupsNames.map((groupId) => ({ groupId, errorCode: ErrorCode.NOT_COORDINATOR })) };
  },
  async handle(req, ctx) {
    const { groups, offsets, logger } = ctx.broker;
    const results = await Promise.all(
      req.groupsNames.map(async (groupId) => {
        const g = groups.group(groupId);
        if (!g || g.is("Dead")) return { groupId, errorCode: ErrorCode.GROUP_ID_NOT_FOUND };
        if (!g.is("Empty")) return { groupId, errorCode: ErrorCode.NON_EMPTY_GROUP };
        try {
          await offsets.deleteGroup(groupId);
          await groups.deleteGroup(g);
        } catch {
          return { groupId, errorCode: ErrorCode.KAFKA_STORAGE_ERROR };
        }
        logger.info(`deleted group ${groupId} for ${ctx.remote}`);
        return { groupId, errorCode: 0 };
      }),
    );
    return { throttleTimeMs: 0, results };
  },
});
