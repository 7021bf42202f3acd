// The object-store port the S3 tier consumes: exactly the five S3 operations DESIGN.md §4 allows (PutObject with
// If-Match / If-None-Match, ranged GetObject, HeadObject, ListObjectsV2, DeleteObject), so AWS S3, MinIO, R2 and
// friends all work. aws-store.ts is the real adapter; tests also run the contract against an in-memory twin.
//
// Errors are typed so callers can tell "retry later" from "the object is not what you thought":
//   ObjectNotFound      the key does not exist (GET/HEAD/conditional PUT on a missing key)
//   PreconditionFailed  If-Match / If-None-Match did not hold, or a ranged GET no longer fits (object replaced)
//   ObjectStoreError    anything else; `retryable` is false for errors retrying cannot fix (access denied,
//                       no such bucket), true for network trouble, throttling and 5xx

export interface StoredObject {
  key: string;
  size: number;
  etag: string;
}

export interface GetResult {
  body: Uint8Array;
  etag: string;
  /** Size of the whole object (not just the range returned). */
  size: number;
}

/** A byte range: [start, end) from the front, or the last `suffix` bytes. */
export type ByteRange = { start: number; end: number } | { suffix: number };

export interface PutConditions {
  /** Write only if the current object has this ETag (fails with ObjectNotFound or PreconditionFailed otherwise). */
  ifMatch?: string;
  /** "*": write only if the key does not exist yet. */
  ifNoneMatch?: "*";
}

export interface ListResult {
  objects: StoredObject[];
  /** With a delimiter: the common prefixes ("directories") one level down. */
  prefixes: string[];
  /** How many ListObjectsV2 pages it took (when the store knows). */
  pages?: number;
}

export interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  /** Keys per page (S3's MaxKeys; default 1000). */
  pageSize?: number;
}

export interface ObjectStore {
  /** Where the store lives, for messages ("bucket b at endpoint e"). */
  readonly describe: string;
  put(key: string, body: Uint8Array, cond?: PutConditions): Promise<{ etag: string }>;
  /** The whole object or a range of it; with ifMatch, fails with PreconditionFailed when the object changed. */
  get(key: string, range?: ByteRange, ifMatch?: string): Promise<GetResult>;
  head(key: string): Promise<StoredObject | null>;
  /** Every key under prefix (all pages), in key order; with a delimiter, one level only. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Deleting a missing key succeeds (as S3 does). */
  delete(key: string): Promise<void>;
}

export class ObjectNotFound extends Error {
  override name = "ObjectNotFound";
}

export class PreconditionFailed extends Error {
  override name = "PreconditionFailed";
}

export class ObjectStoreError extends Error {
  override name = "ObjectStoreError";
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

/** Whether an error from a store call is worth retrying later (network, throttling, 5xx). */
export function isTransient(e: unknown): boolean {
  return e instanceof ObjectStoreError && e.retryable;
}
