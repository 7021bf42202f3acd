// DescribeConfigs: v0-4, for topics and this broker ("" = the cluster default). Values, sources and synonyms
// resolve as Kafka resolves them (see meta/configs.ts); configs klite stores but does not act on are listed too.
// v0 reports isDefault instead of a source; synonyms from v1 when asked; type and documentation from v3.
import * as codec from "../protocol/messages/describe-configs.ts";
import { ConfigRefused, ConfigSource, describeResource, resolveResource } from "../meta/configs.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DescribeConfigsRequest, codec.DescribeConfigsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 4,
  sameOnStandby: true, // reads the catalog, which a standby keeps in step with the primary's, and this node's flags
  handle(req, ctx) {
    const b = ctx.broker;
    const results = req.resources.map((res): codec.DescribeConfigsResult => {
      const base = { resourceType: res.resourceType, resourceName: res.resourceName };
      try {
        const entries = describeResource(b, resolveResource(b, res.resourceType, res.resourceName, false), res.configurationKeys);
        const configs = entries.map((e): codec.DescribeConfigsResourceResult => ({
          name: e.name,
          value: e.value,
          readOnly: e.readOnly,
          isDefault: e.source === ConfigSource.DEFAULT_CONFIG,
          configSource: e.source,
          isSensitive: e.isSensitive,
          synonyms: req.includeSynonyms ? e.synonyms : [],
          configType: e.type,
          documentation: req.includeDocumentation ? e.doc : null,
        }));
        return { ...base, errorCode: 0, errorMessage: "", configs };
      } catch (e) {
        if (!(e instanceof ConfigRefused)) throw e;
        return { ...base, errorCode: e.code, errorMessage: e.message, configs: [] };
      }
    });
    return { throttleTimeMs: 0, results };
  },
});
