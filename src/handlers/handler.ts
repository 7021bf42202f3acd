// The handler contract. Each file in handlers/ exports one Handler for one Kafka API: its key, the versions it
// serves, the generated codec, and handle(request, ctx) → response, or null to send nothing (acks=0 produce).
// A thrown error is a bug: the server logs it with context and closes that one connection.
import type { Reader, Writer } from "../protocol/codec.ts";
import type { Catalog } from "../meta/catalog.ts";
import type { Log } from "../log/log.ts";
import type { Logger } from "../logger.ts";
import type { Config } from "../config.ts";
import type { GroupCoordinator } from "../groups/coordinator.ts";
import type { OffsetStore } from "../groups/offsets.ts";
import type { Role } from "../broker/roles.ts";
import type { MemoryPlan } from "../memory/budget.ts";
import type { PageSink } from "../memory/pages.ts";

/** A broker as clients know it (Metadata, DescribeCluster). */
export interface BrokerNode {
  nodeId: number;
  host: string;
  port: number;
}

export interface ApiCodec<Req, Resp> {
  API_KEY: number;
  API_NAME: string;
  REQUEST_FLEXIBLE_MIN: number;
  RESPONSE_FLEXIBLE_MIN: number;
  decodeRequest(r: Reader, v: number): Req;
  encodeResponse(w: Writer, m: Resp, v: number): void;
}

/** What handlers may use. Built by the composition root (broker/broker.ts); no module singletons. */
export interface BrokerContext {
  readonly config: Config;
  readonly clusterId: string;
  readonly nodeId: number;
  /** host:port given to clients in Metadata, DescribeCluster, FindCoordinator. */
  readonly advertised: { host: string; port: number };
  readonly catalog: Catalog;
  readonly log: Log;
  readonly groups: GroupCoordinator;
  readonly offsets: OffsetStore;
  readonly logger: Logger;
  /** The memory budget (--memory-limit and its shares). */
  readonly memory: MemoryPlan;
  /** Versions served per API key, computed from the registered handlers (ApiVersions answers from it). */
  readonly apis: readonly { key: number; min: number; max: number }[];
  /** True once shutdown began: long polls answer at once. */
  readonly stopped: boolean;
  /** "primary" serves clients; a "standby" (replicated mode) answers every request with Handler.standby. */
  readonly role: Role;
  /** The other node of a replicated pair, as clients should know it (null when unknown or the same identity). */
  readonly peer: BrokerNode | null;
}

export interface RequestContext {
  readonly broker: BrokerContext;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  /** "ip:port" of the client, for log lines. */
  readonly remote: string;
  /**
   * Read pages for this request's response, drawn from the connection's share of the reads budget: records written
   * into them are sent without a copy and the pages go back once the socket has taken them (memory/pages.ts).
   */
  pages(): PageSink;
}

export interface Handler<Req = any, Resp = any> {
  readonly codec: ApiCodec<Req, Resp>;
  readonly minVersion: number;
  readonly maxVersion: number;
  handle(req: Req, ctx: RequestContext): Resp | null | Promise<Resp | null>;
  /**
   * The answer on a standby, which serves no client: the API's own "not the leader / not the coordinator / not the
   * controller" error in its response shape, so clients look for the primary (never a closed connection). Every
   * handler has one, except those marked `sameOnStandby` (ApiVersions); test/unit/standby-answers.test.ts checks.
   */
  standby?(req: Req, ctx: RequestContext): Resp | null | Promise<Resp | null>;
  /** handle() is correct on a standby too: it reads nothing that only a primary has. */
  readonly sameOnStandby?: true;
}

export function defineHandler<Req, Resp>(h: Handler<Req, Resp>): Handler<Req, Resp> {
  return h;
}
