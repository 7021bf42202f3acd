// What a new user trips over at start, with the compiled binary: every start error names the flag, the value and
// the reason (address in use, a data dir that is a file, not writable or read-only, a flag without its value),
// --help reads cleanly in a pipe, and a client set up for SASL or TLS gets a log line saying so.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { spawnBroker, waitFor, type SpawnedBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";

let dir: string;
let exe: string;
let running: SpawnedBroker;

function runExe(args: string[], opts: { env?: Record<string, string>; wrap?: string[] } = {}) {
  const p = Bun.spawnSync([...(opts.wrap ?? []), exe, ...args], { cwd: dir, env: { PATH: "/usr/bin:/bin", ...opts.env }, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

const isRoot = process.getuid?.() === 0;
const has = (bin: string) => Bun.which(bin) !== null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "klite-start-"));
  chmodSync(dir, 0o755); // other users may run the copy (the permission test)
  exe = join(dir, "klite");
  copyFileSync(await ensureBinary(), exe);
  chmodSync(exe, 0o755);
  running = await spawnBroker({ command: [exe], args: ["--health-addr", "127.0.0.1:0"], dataDir: join(dir, "running") });
}, 120_000);

afterAll(async () => {
  running?.kill("SIGTERM");
  await running?.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe("start errors name the flag, the value and the reason", () => {
  test("a listen address in use", () => {
    const r = runExe(["--listen", `127.0.0.1:${running.port}`, "--data-dir", join(dir, "d1")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`--listen 127.0.0.1:${running.port} (KLITE_LISTEN): address already in use`);
  });

  test("a health address in use", () => {
    const r = runExe(["--listen", "127.0.0.1:0", "--health-addr", `127.0.0.1:${running.port}`, "--data-dir", join(dir, "d2")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`--health-addr 127.0.0.1:${running.port} (KLITE_HEALTH_ADDR): address already in use`);
  });

  test("a data dir that is a file, or below a file", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "not a directory\n");
    let r = runExe(["--listen", "127.0.0.1:0", "--data-dir", file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`--data-dir ${file} (KLITE_DATA_DIR): it is a file, not a directory`);
    r = runExe(["--listen", "127.0.0.1:0", "--data-dir", join(file, "data")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`--data-dir ${join(file, "data")} (KLITE_DATA_DIR): a part of the path is a file`);
  });

  test.skipIf(!isRoot || !has("setpriv"))("a data dir the user cannot write to (run as nobody)", () => {
    const owned = join(dir, "root-owned");
    mkdirSync(owned, { mode: 0o755 });
    const r = runExe(["--listen", "127.0.0.1:0", "--data-dir", owned], { wrap: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`--data-dir ${owned} (KLITE_DATA_DIR): permission denied: the user klite runs as (uid 65534) cannot write there`);
  });

  test.skipIf(!isRoot || !has("unshare"))("a data dir on a read-only file system (a private read-only tmpfs mount)", () => {
    const ro = join(dir, "ro");
    mkdirSync(ro);
    const script = `mount -t tmpfs -o ro tmpfs '${ro}' && exec "$0" --listen 127.0.0.1:0 --data-dir '${ro}/data'`;
    const r = runExe([], { wrap: ["unshare", "-m", "sh", "-c", script] }); // $0 is the executable runExe appends
    expect(r.code).toBe(1);
    expect(r.err).toContain(`--data-dir ${ro}/data (KLITE_DATA_DIR): read-only file system`);
  });

  test("a flag that expects a value followed by another flag, or by nothing", () => {
    let r = runExe(["--listen", "--data-dir", join(dir, "d3")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("flag --listen expects a value (host:port) but is followed by --data-dir");
    r = runExe(["--listen", "127.0.0.1:0", "--data-dir"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("flag --data-dir expects a value but none was given");
    r = runExe(["--log-level", "--listen", "127.0.0.1:0"]);
    expect(r.err).toContain("flag --log-level expects a value (silent|error|warn|info|debug|trace) but is followed by --listen");
  });
});

describe("--help", () => {
  test("in a pipe: no colour codes and no line padded with trailing spaces", () => {
    for (const args of [["--help"], ["bench", "--help"]]) {
      const r = runExe(args);
      expect(r.code).toBe(0);
      expect(r.out).toContain("--");
      expect(r.out).not.toContain("\u001b[");
      expect(r.out.split("\n").filter((l) => / $/.test(l))).toEqual([]);
    }
  });

  test.skipIf(!has("script"))("in a terminal: coloured, unless NO_COLOR is set", () => {
    const inTty = (env: Record<string, string>) =>
      Bun.spawnSync(["script", "-qec", `'${exe}' --help`, "/dev/null"], { cwd: dir, env: { PATH: "/usr/bin:/bin", ...env }, stdout: "pipe", timeout: 30_000 }).stdout.toString();
    expect(inTty({})).toContain("\u001b[");
    const plain = inTty({ NO_COLOR: "1" });
    expect(plain).toContain("--listen");
    expect(plain).not.toContain("\u001b[");
  });
});

describe("misconfigured clients get a log line saying what they speak", () => {
  async function closedWith(bytes: Uint8Array, expected: string): Promise<void> {
    const c = await RawClient.connect(running.port);
    c.sendRaw(bytes);
    await c.closed;
    await waitFor(() => running.output().includes(expected), `log line "${expected}"`);
  }
  const frame = (payload: Uint8Array) => {
    const out = new Uint8Array(4 + payload.length);
    new DataView(out.buffer).setInt32(0, payload.length);
    out.set(payload, 4);
    return out;
  };

  test("SaslHandshake (the Java client with security.protocol=SASL_PLAINTEXT)", async () => {
    await closedWith(RawClient.frame(17, 1, { mechanism: "SCRAM-SHA-256" }, 1), "the client speaks SASL (SaslHandshake), but this broker has no SASL listener: configure the client with security.protocol=PLAINTEXT");
  });

  test("a bare SCRAM client-first message (what used to read as unknown API key 28204)", async () => {
    await closedWith(frame(new TextEncoder().encode("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")), "the client speaks SASL (a bare SCRAM authentication message, not a Kafka request)");
    expect(running.output()).not.toContain("unknown API key 28204");
  });

  test("a bare PLAIN message", async () => {
    await closedWith(frame(new TextEncoder().encode("\0alice\0secret")), "the client speaks SASL (a bare PLAIN authentication message, not a Kafka request)");
  });

  test("TLS to the plaintext listener", async () => {
    // A TLS record header (handshake, TLS 1.0 record version) where a Kafka size is expected.
    await closedWith(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), "the client speaks TLS (security.protocol SSL or SASL_SSL), but this listener is plaintext");
  });
});
