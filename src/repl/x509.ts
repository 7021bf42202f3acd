// A small X.509 v3 certificate builder for the replication link's mutual TLS: node:crypto makes the ECDSA P-256
// keys and signs, but has no certificate builder, and the distroless image has no openssl. Only what the link needs:
// a self-signed CA, and certificates it signs for the nodes (serverAuth + clientAuth, subject alternative names).
//
// DER, as RFC 5280 lays it out (every SEQUENCE below is tag 0x30, lengths in DER's definite form):
//   Certificate     = SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
//   TBSCertificate  = SEQUENCE { [0] EXPLICIT version 2 (v3), serialNumber INTEGER (16 random bytes, positive),
//                                signature AlgorithmIdentifier, issuer Name, validity SEQUENCE { notBefore, notAfter },
//                                subject Name, subjectPublicKeyInfo (node:crypto's SPKI DER, as is),
//                                [3] EXPLICIT SEQUENCE OF Extension }
//   AlgorithmIdentifier = SEQUENCE { OID 1.2.840.10045.4.3.2 ecdsa-with-SHA256 } (no parameters)
//   Name            = SEQUENCE OF SET OF SEQUENCE { OID 2.5.4.3 (CN) | 2.5.4.10 (O), UTF8String }
//   Time            = UTCTime YYMMDDHHMMSSZ for 1950-2049, else GeneralizedTime YYYYMMDDHHMMSSZ
//   Extension       = SEQUENCE { OID, BOOLEAN TRUE when critical, OCTET STRING holding the value's DER }:
//     basicConstraints 2.5.29.19 (critical) SEQUENCE { BOOLEAN TRUE } for the CA, empty for a node
//     keyUsage 2.5.29.15 (critical) BIT STRING: keyCertSign + cRLSign (CA), digitalSignature (node)
//     extKeyUsage 2.5.29.37 SEQUENCE OF OID: serverAuth 1.3.6.1.5.5.7.3.1, clientAuth 1.3.6.1.5.5.7.3.2 (node)
//     subjectAltName 2.5.29.17 SEQUENCE OF [2] dNSName IA5String | [7] iPAddress OCTET STRING (node)
//     subjectKeyIdentifier 2.5.29.14 OCTET STRING: SHA-1 of the public key bits (RFC 5280 §4.2.1.2 method 1)
//     authorityKeyIdentifier 2.5.29.35 SEQUENCE { [0] the issuer's key identifier }
//   signatureValue  = node:crypto's ECDSA signature over the TBSCertificate DER (DER-encoded r, s), 0 unused bits
// test/repl/pki.test.ts checks the output with `openssl x509 -text` and real TLS handshakes.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";

// --- DER encoding ----------------------------------------------------------------------------------------------

function len(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

function tlv(tag: number, body: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from([tag, ...len(body.length)]), body]);
}

const seq = (...items: Uint8Array[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Uint8Array[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);
const octets = (b: Uint8Array) => tlv(0x04, b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));

function integer(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && !(b[i + 1]! & 0x80)) i++; // minimal form
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Uint8Array {
  const parts = dotted.split(".").map(Number);
  const out = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const bytes = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift(0x80 | (v & 0x7f));
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A BIT STRING of whole bytes (signatures, keys). */
const bits = (b: Uint8Array) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));

/** A named-bit BIT STRING (keyUsage) from one byte of flags, trailing zero bits dropped as DER requires. */
function namedBits(flags: number): Uint8Array {
  let unused = 0;
  while (unused < 7 && !(flags & (1 << unused))) unused++;
  return tlv(0x03, Buffer.from([unused, flags]));
}

function time(d: Date): Uint8Array {
  const y = d.getUTCFullYear();
  const p = (n: number) => String(n).padStart(2, "0");
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${p(y % 100)}${rest}`, "ascii"));
  return tlv(0x18, Buffer.from(`${y}${rest}`, "ascii"));
}

// --- certificates ----------------------------------------------------------------------------------------------

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const KEY_CERT_SIGN = 0x04;
const CRL_SIGN = 0x02;
const DIGITAL_SIGNATURE = 0x80;

function name(cn: string, org = "klite"): Uint8Array {
  return seq(set(seq(oid("2.5.4.10"), utf8(org))), set(seq(oid("2.5.4.3"), utf8(cn))));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** The public key bits inside an SPKI (what the key identifier hashes). */
function keyId(spki: Uint8Array): Uint8Array {
  // SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING }: the BIT STRING is the last element; skip its tag, length and
  // unused-bits byte. For P-256 keys (a 65-byte point) the BIT STRING is 68 bytes: tag, length 66, 0, point.
  const bitString = spki.subarray(spki.length - 68);
  if (bitString[0] !== 0x03 || bitString[1] !== 0x42) throw new Error("not a P-256 public key");
  return createHash("sha1").update(bitString.subarray(3)).digest();
}

function subjectAltNames(sans: readonly string[]): Uint8Array {
  const names = sans.map((s) => {
    const v = isIP(s);
    if (v === 4) return tlv(0x87, Buffer.from(s.split(".").map(Number)));
    if (v === 6) return tlv(0x87, ipv6Bytes(s));
    return tlv(0x82, Buffer.from(s, "ascii"));
  });
  return seq(...names);
}

function ipv6Bytes(s: string): Uint8Array {
  const [head, tail] = s.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || "0", 16), i * 2));
  return out;
}

export interface Issued {
  /** PEM "CERTIFICATE". */
  cert: string;
  /** PEM PKCS#8 "PRIVATE KEY". */
  key: string;
}

export interface CertOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  /** For a node certificate: DNS names and IP addresses. */
  sans?: readonly string[];
  /** The CA that signs it; absent for the self-signed CA itself. */
  issuer?: Issued;
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function derOf(pemText: string): Uint8Array {
  return Buffer.from(pemText.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
}

/** The elements of the DER SEQUENCE at b[0], as raw TLVs. */
function elements(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const header = (at: number): [number, number] => {
    const l = b[at + 1]!;
    if (l < 0x80) return [2, l];
    let n = 0;
    for (let i = 0; i < (l & 0x7f); i++) n = n * 256 + b[at + 2 + i]!;
    return [2 + (l & 0x7f), n];
  };
  const [h, total] = header(0);
  for (let at = h; at < h + total; ) {
    const [eh, el] = header(at);
    out.push(b.subarray(at, at + eh + el));
    at += eh + el;
  }
  return out;
}

/** The subject Name (raw DER) and key identifier of a CA certificate: what the certificates it signs name as issuer. */
function issuerOf(ca: Issued): { name: Uint8Array; keyId: Uint8Array; key: KeyObject } {
  const key = createPrivateKey(ca.key);
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const tbs = elements(elements(derOf(ca.cert))[0]!);
  return { name: tbs[5]!, keyId: keyId(spki), key }; // [0] version, serial, algorithm, issuer, validity, subject
}

/** Issues a certificate: a self-signed CA without `issuer`, else a node certificate signed by it. */
export function issue(o: CertOptions): Issued {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const subject = name(o.commonName);
  const ownId = keyId(spki);
  const signer = o.issuer ? issuerOf(o.issuer) : { name: subject, keyId: ownId, key: privateKey };
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and never a leading zero
  const exts = o.issuer
    ? [
        extension("2.5.29.19", true, seq()),
        extension("2.5.29.15", true, namedBits(DIGITAL_SIGNATURE)),
        extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))),
        ...(o.sans?.length ? [extension("2.5.29.17", false, subjectAltNames(o.sans))] : []),
      ]
    : [extension("2.5.29.19", true, seq(bool(true))), extension("2.5.29.15", true, namedBits(KEY_CERT_SIGN | CRL_SIGN))];
  exts.push(extension("2.5.29.14", false, octets(ownId)), extension("2.5.29.35", false, seq(tlv(0x80, signer.keyId))));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_SHA256,
    signer.name,
    seq(time(o.notBefore), time(o.notAfter)),
    subject,
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = sign("sha256", tbs, { key: signer.key, dsaEncoding: "der" });
  const cert = seq(tbs, ECDSA_SHA256, bits(signature));
  return { cert: pem("CERTIFICATE", cert), key: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

export { derOf };
