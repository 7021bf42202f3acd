// Why a request names no API this broker serves, in words a user can act on. The usual case is a client set up for
// SASL against a listener without it: Kafka clients send SaslHandshake (key 17) first, and librdkafka, seeing no
// SaslHandshake in ApiVersions, sends its mechanism's first message bare (Kafka 0.9's GSSAPI framing), whose first
// two bytes read as an API key: "n," of a SCRAM client-first message is key 28204, PLAIN's "\0u..." a small one.
import { CODECS } from "../protocol/messages/index.ts";

const SASL_HINT = "this broker has no SASL listener: configure the client with security.protocol=PLAINTEXT (no sasl.* settings)";
/** The Kerberos v5 mechanism OID (1.2.840.113554.1.2.2) as DER bytes, inside a GSSAPI initial token. */
const KRB5_OID = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];

function printable(b: number): boolean {
  return b >= 0x20 && b < 0x7f;
}

/** The SASL mechanism a bare (unframed) SASL message looks like, or null. */
export function bareSaslMechanism(frame: Uint8Array): string | null {
  const c = (i: number) => frame[i] ?? -1;
  // SCRAM client-first: a GS2 header "n,," / "y,," / "p=...," then "n=user,r=nonce".
  if ((c(0) === 0x6e || c(0) === 0x79) && c(1) === 0x2c) return "SCRAM";
  if (c(0) === 0x70 && c(1) === 0x3d) return "SCRAM";
  // PLAIN: [authzid] NUL authcid NUL passwd, all printable otherwise.
  if (frame.length <= 1024) {
    let nuls = 0;
    let ok = true;
    for (const b of frame) {
      if (b === 0) nuls++;
      else if (!printable(b)) ok = false;
    }
    if (ok && nuls === 2 && frame[frame.length - 1] !== 0) return "PLAIN";
  }
  // GSSAPI: an ASN.1 [APPLICATION 0] token carrying the Kerberos OID.
  if (c(0) === 0x60) {
    for (let i = 1; i + KRB5_OID.length <= Math.min(frame.length, 32); i++) {
      if (KRB5_OID.every((b, j) => frame[i + j] === b)) return "GSSAPI";
    }
  }
  return null;
}

/** The log line's reason for closing a connection whose request has API key `key`, which no handler serves. */
export function unservedRequest(frame: Uint8Array, key: number): string {
  if (key === 17 || key === 36) return `the client speaks SASL (${key === 17 ? "SaslHandshake" : "SaslAuthenticate"}), but ${SASL_HINT}`;
  const mech = bareSaslMechanism(frame);
  if (mech) return `the client speaks SASL (a bare ${mech} authentication message, not a Kafka request), but ${SASL_HINT}`;
  const known = (CODECS as Record<number, { API_NAME: string }>)[key];
  return known ? `API ${known.API_NAME} (key ${key}) is not supported by this broker` : `unknown API key ${key}`;
}
