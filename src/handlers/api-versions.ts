// ApiVersions: v0-4. Answered from the registered handlers (ctx.broker.apis), so what is advertised is exactly
// what is implemented. An unsupported version is answered by the connection itself (v0, UNSUPPORTED_VERSION).
// Version notes: v3 adds the client software name/version (validated like Kafka) and flexible encoding.
import * as codec from "../protocol/messages/api-versions.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler } from "./handler.ts";

const SOFTWARE = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$/;

export default defineHandler<codec.ApiVersionsRequest, codec.ApiVersionsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 4,
  sameOnStandby: true,
  handle(req, ctx) {
    const apiKeys = ctx.broker.apis.map((a) => ({ apiKey: a.key, minVersion: a.min, maxVersion: a.max }));
    if (ctx.apiVersion >= 3 && (!SOFTWARE.test(req.clientSoftwareName ?? "") || !SOFTWARE.test(req.clientSoftwareVersion ?? ""))) {
      return { errorCode: ErrorCode.INVALID_REQUEST, apiKeys, throttleTimeMs: 0 };
    }
    return { errorCode: ErrorCode.NONE, apiKeys, throttleTimeMs: 0 };
  },
});
