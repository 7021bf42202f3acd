// MinIO as a test peer: built once with `go install github.com/minio/minio@<pinned>` into PEERS_DIR/minio-<version>/
// (the build takes minutes on 2 cores), then started per test file on 127.0.0.1 with a random port and a temp dir,
// and stopped by pid. Buckets are created through the S3 API. The pinned version returns 404 for a PutObject with
// If-Match on a missing key (minio/minio#21526, fixed 2025-08); the contract suite keeps a test of exactly that.
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { tempDir } from "./broker.ts";
import { freePort, goInstall, peer, type PeerResult } from "./peers.ts";
import { AwsObjectStore } from "../../src/s3/aws-store.ts";
import { s3Config, type S3Config } from "../../src/config.ts";

export const MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c";
export const MINIO_PEER_NAME = `minio (${MINIO_VERSION})`;
export const MINIO_USER = "klite-test";
export const MINIO_PASSWORD = "klite-test-secret";

let binary: string | null = null;

function install(): Promise<string> {
  return goInstall(`minio-${MINIO_VERSION}`, `github.com/minio/minio@${MINIO_VERSION}`);
}

export async function minio(): Promise<PeerResult> {
  const r = await peer(MINIO_PEER_NAME, install);
  if (r.ok) binary = r.path;
  return r;
}

export interface MinioServer {
  endpoint: string;
  port: number;
  dir: string;
  readonly pid: number;
  /** Environment a broker needs to reach it (credentials for the SDK's default chain). */
  env: Record<string, string>;
  createBucket(name: string): Promise<void>;
  /** A store on a bucket, for inspecting what the broker wrote. */
  store(bucket: string): AwsObjectStore;
  /** Kills it (SIGKILL by pid) and waits for the exit; the data dir stays. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  restart(): Promise<void>;
  /** Kills it and removes its data dir. */
  stop(): Promise<void>;
}

export const S3_ENV = { AWS_ACCESS_KEY_ID: MINIO_USER, AWS_SECRET_ACCESS_KEY: MINIO_PASSWORD, AWS_REGION: "us-east-1" };

/** Sets the credentials in this process's environment, for in-process brokers (the SDK reads them per client). */
export function useMinioCredentials(): void {
  Object.assign(process.env, S3_ENV);
}

export async function startMinio(): Promise<MinioServer> {
  if (!binary) throw new Error("MinIO is not installed: await minio() first");
  const dir = tempDir("klite-minio-");
  const port = freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let proc: Subprocess<"ignore", "ignore", "pipe"> | null = null;
  const launch = async () => {
    const console = freePort();
    proc = Bun.spawn([binary!, "server", join(dir, "data"), "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${console}`, "--quiet"], {
      env: { ...process.env, MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD, MINIO_BROWSER: "off", MINIO_UPDATE: "off" },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`MinIO exited with ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
      const ok = await fetch(`${endpoint}/minio/health/ready`).then((r) => r.status === 200, () => false);
      if (ok) return;
      await Bun.sleep(100);
    }
    proc.kill("SIGKILL");
    throw new Error(`MinIO did not become ready on ${endpoint}`);
  };
  await launch();
  const kill = async () => {
    const p = proc as Subprocess | null;
    if (!p || p.exitCode !== null) return;
    process.kill(p.pid, "SIGKILL");
    await p.exited;
  };
  return {
    endpoint,
    port,
    dir,
    get pid() {
      return (proc as Subprocess | null)?.pid ?? -1;
    },
    env: { ...S3_ENV },
    async createBucket(name) {
      const client = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: { accessKeyId: MINIO_USER, secretAccessKey: MINIO_PASSWORD } });
      await client.send(new CreateBucketCommand({ Bucket: name }));
      client.destroy();
    },
    store(bucket) {
      useMinioCredentials();
      return new AwsObjectStore({ bucket, region: "us-east-1", endpoint, maxAttempts: 1 });
    },
    kill,
    restart: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Broker config overrides for an in-process broker on a MinIO bucket. */
export function s3Overrides(server: MinioServer, bucket: string, more: Partial<S3Config> = {}): { s3: S3Config } {
  useMinioCredentials();
  return { s3: s3Config(bucket, { region: "us-east-1", endpoint: server.endpoint, ...more }) };
}

/** Flags (and env) for a spawned broker on a MinIO bucket. */
export function s3Flags(server: MinioServer, bucket: string): string[] {
  return ["--s3-bucket", bucket, "--s3-endpoint", server.endpoint, "--s3-region", "us-east-1"];
}
