// The replication PKI: certificates from the project's own DER builder, read back by `openssl x509 -text` (fields as
// written) and `openssl verify` (the chain), then used for real mutual-TLS handshakes over Bun.listen/Bun.connect.
// A client with a certificate from a rogue CA, an expired certificate signed by the right CA, or no certificate at
// all is refused, and so is a server with a rogue certificate: Bun has shipped releases that did not enforce this
// (notes/bun-platform.md §1), so this test stays in the suite.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { generatePki, type ReplicationPki } from "../../src/repl/pki.ts";
import { issue } from "../../src/repl/x509.ts";
import { connectLink, listenLinks, type Link } from "../../src/repl/link.ts";
import { FrameType } from "../../src/repl/frames.ts";
import { silentLogger } from "../../src/logger.ts";

const dir = mkdtempSync(join(tmpdir(), "klite-pki-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { pki, caKey } = generatePki(["node.example.svc", "localhost", "127.0.0.1", "::1"]);

async function openssl(...args: string[]): Promise<{ out: string; code: number }> {
  const p = Bun.spawn(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out: out + err, code };
}

test("openssl reads the certificates as written and verifies the node certificate against the CA", async () => {
  writeFileSync(join(dir, "ca.pem"), pki.ca);
  writeFileSync(join(dir, "node.pem"), pki.cert);
  const ca = await openssl("x509", "-in", join(dir, "ca.pem"), "-noout", "-text");
  expect(ca.code).toBe(0);
  expect(ca.out).toContain("Version: 3 (0x2)");
  expect(ca.out).toContain("Signature Algorithm: ecdsa-with-SHA256");
  expect(ca.out).toContain("NIST CURVE: P-256");
  expect(ca.out).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
  expect(ca.out).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
  const node = await openssl("x509", "-in", join(dir, "node.pem"), "-noout", "-text");
  expect(node.code).toBe(0);
  expect(node.out).toContain("Issuer: O = klite, CN = klite replication CA");
  expect(node.out).toContain("Subject: O = klite, CN = klite replication");
  expect(node.out).toMatch(/Key Usage: critical\s+Digital Signature/);
  expect(node.out).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  expect(node.out).toContain("DNS:node.example.svc, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
  expect(node.out).toContain("Authority Key Identifier");
  const verify = await openssl("verify", "-CAfile", join(dir, "ca.pem"), join(dir, "node.pem"));
  expect(verify.out).toContain(": OK");
  expect(new X509Certificate(pki.cert).verify(new X509Certificate(pki.ca).publicKey)).toBe(true);
  // Validity: from an hour ago for a century (GeneralizedTime past 2049).
  const x = new X509Certificate(pki.cert);
  expect(Date.parse(x.validFrom)).toBeLessThan(Date.now() - 3_000_000);
  expect(Date.parse(x.validTo)).toBeGreaterThan(Date.now() + 99 * 365 * 86_400_000);
});

/** A listener on 127.0.0.1 that records what it accepted. */
function server(p: ReplicationPki) {
  const accepted: Link[] = [];
  const frames: number[] = [];
  const l = listenLinks("127.0.0.1", 0, p, { opened: (link) => accepted.push(link), frame: (_l, f) => frames.push(f.type), closed: () => {} }, silentLogger);
  return { port: l.port, accepted, frames, stop: () => l.stop(true) };
}

const connect = (port: number, p: ReplicationPki) => connectLink("127.0.0.1", port, p, { frame: () => {}, closed: () => {} }, silentLogger, 5_000);

test("mutual TLS with the bucket's material: the handshake succeeds and frames flow", async () => {
  const s = server(pki);
  const link = await connect(s.port, pki);
  link.send(FrameType.HELLO, 1, 0, new Uint8Array([1, 2, 3]));
  for (let i = 0; i < 100 && s.frames.length === 0; i++) await Bun.sleep(10);
  expect(s.frames).toEqual([FrameType.HELLO]);
  expect(s.accepted.length).toBe(1);
  link.close();
  s.stop();
});

/**
 * Connects with a client certificate the server must refuse. With TLS 1.3 the client may finish its side of the
 * handshake before the server judges its certificate, so what counts is the server's side: it never accepts the
 * link, and the client's connection ends.
 */
async function refusedClient(s: ReturnType<typeof server>, p: ReplicationPki): Promise<void> {
  const link = await connect(s.port, p).catch(() => null);
  for (let i = 0; i < 100 && link && !link.closed; i++) await Bun.sleep(10);
  expect(link === null || link.closed).toBe(true);
  expect(s.accepted.length).toBe(0);
}

test("a client certificate from a rogue CA, an expired one from the right CA, a forged one, or none, is refused", async () => {
  const s = server(pki);
  const rogue = generatePki(["127.0.0.1"]).pki;
  await refusedClient(s, { ...rogue, ca: pki.ca });
  const now = Date.now();
  const expired = issue({ commonName: "klite replication", notBefore: new Date(now - 2 * 86_400_000), notAfter: new Date(now - 86_400_000), sans: ["127.0.0.1"], issuer: { cert: pki.ca, key: caKey } });
  await refusedClient(s, { ...pki, cert: expired.cert, key: expired.key });
  const noCert = Bun.connect({ hostname: "127.0.0.1", port: s.port, tls: { ca: pki.ca, serverName: "127.0.0.1" }, socket: { data() {} } });
  await noCert.catch(() => null);
  await Bun.sleep(300);
  expect(s.accepted.length).toBe(0);
  // A forged certificate that names the right CA as issuer but is signed by another key.
  const forged = issue({ commonName: "klite replication", notBefore: new Date(now - 3600_000), notAfter: new Date(now + 86_400_000), sans: ["127.0.0.1"], issuer: { cert: pki.ca, key: generatePki([]).caKey } });
  await refusedClient(s, { ...pki, cert: forged.cert, key: forged.key });
  s.stop();
});

test("a server with a rogue certificate is refused by the connecting standby", async () => {
  const rogue = generatePki(["127.0.0.1"]).pki;
  const s = server({ ...rogue, ca: pki.ca });
  await expect(connect(s.port, pki)).rejects.toThrow();
  s.stop();
});
