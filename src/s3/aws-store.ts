// The ObjectStore port on @aws-sdk/client-s3 (notes/bun-platform.md §6): checksums only WHEN_REQUIRED (third-party
// stores reject the SDK's default CRC headers), path-style addressing whenever --s3-endpoint is set, explicit
// connect/request timeouts, and every GetObject body consumed. Credentials come from the SDK's default chain
// (environment, web identity / IRSA, instance profile). SDK errors become the port's typed errors here and only here.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { ObjectNotFound, ObjectStoreError, PreconditionFailed, type ByteRange, type GetResult, type ListOptions, type ListResult, type ObjectStore, type PutConditions, type StoredObject } from "./store.ts";

export interface AwsStoreOptions {
  bucket: string;
  region: string | null;
  endpoint: string | null;
  /** Per-request timeout; the SDK retries on top of it (maxAttempts). */
  requestTimeoutMs?: number;
  maxAttempts?: number;
}

const NOT_RETRYABLE = new Set(["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket", "InvalidBucketName", "AllAccessDisabled", "CredentialsProviderError", "InvalidArgument"]);

export class AwsObjectStore implements ObjectStore {
  readonly describe: string;
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(opts: AwsStoreOptions) {
    this.bucket = opts.bucket;
    const region = opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
    this.describe = `bucket ${JSON.stringify(opts.bucket)} at ${opts.endpoint ?? `the AWS endpoint of ${region}`}`;
    this.client = new S3Client({
      region,
      endpoint: opts.endpoint ?? undefined,
      forcePathStyle: opts.endpoint !== null,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: opts.maxAttempts ?? 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: opts.requestTimeoutMs ?? 60_000 },
    });
  }

  async put(key: string, body: Uint8Array, cond: PutConditions = {}): Promise<{ etag: string }> {
    const out = await this.call(`PUT ${key}`, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length, IfMatch: cond.ifMatch, IfNoneMatch: cond.ifNoneMatch })),
    );
    return { etag: out.ETag ?? "" };
  }

  async get(key: string, range?: ByteRange, ifMatch?: string): Promise<GetResult> {
    const header = range === undefined ? undefined : "suffix" in range ? `bytes=-${range.suffix}` : `bytes=${range.start}-${range.end - 1}`;
    return this.call(`GET ${key}${header ? ` ${header}` : ""}`, async () => {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: header, IfMatch: ifMatch }));
      // Always consume the body, or the socket pool starves (aws-sdk-js-v3#3560).
      const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
      const total = /\/(\d+)$/.exec(out.ContentRange ?? "")?.[1];
      return { body, etag: out.ETag ?? "", size: total !== undefined ? Number(total) : body.length };
    });
  }

  async head(key: string): Promise<StoredObject | null> {
    try {
      const out = await this.call(`HEAD ${key}`, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return { key, size: out.ContentLength ?? 0, etag: out.ETag ?? "" };
    } catch (e) {
      if (e instanceof ObjectNotFound) return null;
      throw e;
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const result: ListResult = { objects: [], prefixes: [], pages: 0 };
    let token: string | undefined;
    do {
      const out = await this.call(`LIST ${prefix}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: opts.delimiter, StartAfter: token ? undefined : opts.startAfter, ContinuationToken: token, MaxKeys: opts.pageSize })),
      );
      result.pages!++;
      for (const o of out.Contents ?? []) result.objects.push({ key: o.Key!, size: o.Size ?? 0, etag: o.ETag ?? "" });
      for (const p of out.CommonPrefixes ?? []) result.prefixes.push(p.Prefix!);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return result;
  }

  async delete(key: string): Promise<void> {
    await this.call(`DELETE ${key}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  /** Runs one SDK call, translating its failure into the port's errors. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.translate(what, e);
    }
  }

  private translate(what: string, e: unknown): Error {
    const err = e as { name?: string; message?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
    const status = err.$metadata?.httpStatusCode;
    const code = err.Code ?? err.name ?? "Error";
    const msg = `${what} on ${this.describe}: ${code}${status ? ` (HTTP ${status})` : ""}${err.message && err.message !== code ? `: ${err.message}` : ""}`;
    if (code === "NoSuchBucket") return new ObjectStoreError(msg, false);
    if (status === 404 || code === "NoSuchKey" || code === "NotFound") return new ObjectNotFound(msg);
    // 416: a ranged GET past the end of an object that was replaced by a smaller one (MinIO answers 416 before 412).
    if (status === 412 || status === 416 || code === "PreconditionFailed") return new PreconditionFailed(msg);
    if (NOT_RETRYABLE.has(code) || status === 403 || status === 400 || status === 401) return new ObjectStoreError(msg, false);
    return new ObjectStoreError(msg, true); // network errors, timeouts, throttling, 5xx, 409 conflicts
  }
}
