#!/usr/bin/env bun
// Generates src/protocol/messages/*.ts (one file per Kafka API, all versions in one encode/decode pair) and
// src/protocol/errors.ts from the official message definitions in ../shared/kafka-protocol.
//
//   bun scripts/gen-protocol.ts [--check] [--src <kafka-protocol dir>]
//
// --check regenerates in memory and exits 1 if any committed file differs. The definitions are reference data
// (Apache-2.0): they are read here, never copied into the project.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const argv = process.argv.slice(2);
const check = argv.includes("--check");
const srcArg = argv.indexOf("--src");
const SRC = srcArg >= 0 ? resolve(argv[srcArg + 1]!) : resolve(ROOT, "../shared/kafka-protocol");
const OUT = join(ROOT, "src/protocol/messages");

/** The APIs klite serves (DESIGN.md §2), key → name. Codecs cover every version the definition lists. */
const APIS: Record<number, string> = {
  0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
  10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups",
  16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
  21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch", 24: "AddPartitionsToTxn",
  25: "AddOffsetsToTxn", 26: "EndTxn", 28: "TxnOffsetCommit", 32: "DescribeConfigs", 33: "AlterConfigs",
  35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions", 42: "DeleteGroups",
  44: "IncrementalAlterConfigs", 47: "OffsetDelete", 50: "DescribeUserScramCredentials",
  51: "AlterUserScramCredentials", 60: "DescribeCluster", 61: "DescribeProducers", 65: "DescribeTransactions",
  66: "ListTransactions",
};

// ---------------------------------------------------------------------------------------------------------------
// Model

interface Range { min: number; max: number } // max = Infinity for "N+"; min > max for "none"
interface FieldDef {
  name: string; type: string; versions: string; nullableVersions?: string; default?: string;
  tag?: number; taggedVersions?: string; flexibleVersions?: string; fields?: FieldDef[];
}
interface MessageDef {
  apiKey?: number; type: string; name: string; validVersions: string; flexibleVersions: string;
  fields: FieldDef[]; commonStructs?: { name: string; fields: FieldDef[] }[];
}

function parseRange(s: string | undefined): Range {
  if (s === undefined || s === "none") return { min: 1, max: 0 };
  const t = s.trim();
  if (t.endsWith("+")) return { min: Number(t.slice(0, -1)), max: Infinity };
  const [a, b] = t.split("-");
  return { min: Number(a), max: b === undefined ? Number(a) : Number(b) };
}

function load(file: string): MessageDef {
  const text = readFileSync(join(SRC, "messages", file), "utf8");
  const stripped = text
    .split("\n")
    .map((line) => {
      // Strip // comments that are not inside a string.
      let inStr = false;
      for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c === '"' && line[i - 1] !== "\\") inStr = !inStr;
        if (!inStr && c === "/" && line[i + 1] === "/") return line.slice(0, i);
      }
      return line;
    })
    .join("\n");
  return JSON.parse(stripped) as MessageDef;
}

const lowerFirst = (s: string) => s[0]!.toLowerCase() + s.slice(1);
const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

const PRIMS: Record<string, { ts: string; read: string; write: string; zero: string }> = {
  bool: { ts: "boolean", read: "r.bool()", write: "w.bool", zero: "false" },
  int8: { ts: "number", read: "r.i8()", write: "w.i8", zero: "0" },
  int16: { ts: "number", read: "r.i16()", write: "w.i16", zero: "0" },
  uint16: { ts: "number", read: "r.u16()", write: "w.u16", zero: "0" },
  int32: { ts: "number", read: "r.i32()", write: "w.i32", zero: "0" },
  uint32: { ts: "number", read: "r.u32()", write: "w.u32", zero: "0" },
  int64: { ts: "bigint", read: "r.i64()", write: "w.i64", zero: "0n" },
  float64: { ts: "number", read: "r.f64()", write: "w.f64", zero: "0" },
  uuid: { ts: "Uuid", read: "r.uuid()", write: "w.uuid", zero: "ZERO_UUID" },
};
const BLOBS = new Set(["string", "bytes", "records"]);

// ---------------------------------------------------------------------------------------------------------------
// Code generation for one message (request, response or header)

class Gen {
  out: string[] = [];
  structs = new Map<string, FieldDef[]>(); // struct type name → fields
  common: Map<string, FieldDef[]>;
  valid: Range;
  flex: Range;

  /** Headers: the top-level decoder may fill a caller-owned object instead of allocating one per message. */
  constructor(private msg: MessageDef, private prefix: (n: string) => string, private into = false) {
    this.common = new Map((msg.commonStructs ?? []).map((s) => [s.name, s.fields]));
    this.valid = parseRange(msg.validVersions);
    this.flex = parseRange(msg.flexibleVersions);
  }

  /** A runtime condition "v in range", simplified against the message's valid versions. */
  cond(r: Range, v = "v"): string | null {
    const lo = r.min <= this.valid.min ? null : `${v} >= ${r.min}`;
    const hi = r.max >= this.valid.max ? null : `${v} <= ${r.max}`;
    if (r.min > r.max) return "false";
    if (lo && hi) return r.min === r.max ? `${v} === ${r.min}` : `${lo} && ${hi}`;
    return lo ?? hi;
  }

  flexCond(): string {
    if (this.flex.min > this.flex.max) return "false";
    return this.cond(this.flex) ?? "true";
  }

  elemType(f: FieldDef): string {
    return f.type.startsWith("[]") ? f.type.slice(2) : f.type;
  }

  isStruct(t: string): boolean {
    return !(t in PRIMS) && !BLOBS.has(t);
  }

  structFields(f: FieldDef): FieldDef[] {
    const t = this.elemType(f);
    return f.fields ?? this.common.get(t) ?? (() => { throw new Error(`${this.msg.name}: no struct ${t}`); })();
  }

  tsType(f: FieldDef): string {
    const t = this.elemType(f);
    const nullable = f.nullableVersions !== undefined;
    let base: string;
    if (t in PRIMS) base = PRIMS[t]!.ts;
    else if (t === "string") base = "string";
    else if (t === "bytes") base = "Uint8Array";
    else if (t === "records") base = "RecordsData";
    else base = this.prefix(t);
    if (f.type.startsWith("[]")) base = `${base}[]`;
    return nullable ? `${base} | null` : base;
  }

  defaultExpr(f: FieldDef): string {
    const t = this.elemType(f);
    const d = f.default;
    if (f.type.startsWith("[]")) return d === "null" ? "null" : "[]";
    if (d === "null") return "null";
    if (t in PRIMS) {
      if (d === undefined || d === "") return PRIMS[t]!.zero;
      if (t === "bool") return d;
      if (t === "int64") return `${BigInt(d)}n`;
      if (t === "uuid") return "ZERO_UUID";
      return String(Number(d));
    }
    if (t === "string") return JSON.stringify(d ?? "");
    if (t === "bytes" || t === "records") return f.nullableVersions ? "null" : "new Uint8Array(0)";
    return f.nullableVersions ? "null" : "undefined";
  }

  /** Whether the field may be left out when encoding (it has a usable default in every version). */
  optional(f: FieldDef): boolean {
    const r = parseRange(f.versions);
    const allVersions = r.min <= this.valid.min && r.max >= this.valid.max;
    return !allVersions || f.tag !== undefined || (this.isStruct(this.elemType(f)) && !f.type.startsWith("[]"));
  }

  collect(fields: FieldDef[], name: string): void {
    if (this.structs.has(name)) return;
    this.structs.set(name, fields);
    for (const f of fields) {
      const t = this.elemType(f);
      if (this.isStruct(t)) this.collect(this.structFields(f), t);
    }
  }

  readExpr(f: FieldDef, flexVar: string): string {
    const t = this.elemType(f);
    const isArray = f.type.startsWith("[]");
    const fieldFlex = f.flexibleVersions === "none" ? "false" : flexVar;
    const nullCond = f.nullableVersions ? (this.cond(parseRange(f.nullableVersions)) ?? "true") : "false";
    const one = (): string => {
      if (t in PRIMS) return PRIMS[t]!.read;
      if (t === "string") {
        const nn = `(${fieldFlex} ? r.compactString() : r.string())`;
        const nl = `(${fieldFlex} ? r.compactNullableString() : r.nullableString())`;
        return nullCond === "false" || isArray ? nn : nullCond === "true" ? nl : `(${nullCond} ? ${nl} : ${nn})`;
      }
      if (t === "bytes" || t === "records") {
        const nn = `(${fieldFlex} ? r.compactBytes() : r.bytes())`;
        const nl = `(${fieldFlex} ? r.compactNullableBytes() : r.nullableBytes())`;
        return nullCond === "false" || isArray ? nn : nullCond === "true" ? nl : `(${nullCond} ? ${nl} : ${nn})`;
      }
      return `read${this.prefix(t)}(r, v)`;
    };
    if (isArray) {
      const elem = one();
      return `readArray(r, ${fieldFlex}, ${nullCond}, () => ${elem})${f.nullableVersions ? "" : "!"}`;
    }
    if (this.isStruct(t) && f.nullableVersions) {
      return `(${nullCond} && r.i8() < 0 ? null : ${one()})`;
    }
    return one();
  }

  writeStmt(f: FieldDef, val: string, flexVar: string, ind: string, w = "w"): string[] {
    const t = this.elemType(f);
    const isArray = f.type.startsWith("[]");
    const fieldFlex = f.flexibleVersions === "none" ? "false" : flexVar;
    const nullCond = f.nullableVersions ? (this.cond(parseRange(f.nullableVersions)) ?? "true") : "false";
    const one = (x: string): string => {
      if (t in PRIMS) return `${w}.${PRIMS[t]!.write.slice(2)}(${x})`;
      if (t === "string") {
        if (isArray) return `(${fieldFlex} ? ${w}.compactString(${x}) : ${w}.string(${x}))`;
        const nn = `(${fieldFlex} ? ${w}.compactString(${x} ?? "") : ${w}.string(${x} ?? ""))`;
        const nl = `(${fieldFlex} ? ${w}.compactNullableString(${x} ?? null) : ${w}.nullableString(${x} ?? null))`;
        return nullCond === "false" ? nn : nullCond === "true" ? nl : `(${nullCond} ? ${nl} : ${nn})`;
      }
      if (t === "records") return `${w}.records(${x} ?? null, ${fieldFlex})`;
      if (t === "bytes") {
        if (isArray) return `(${fieldFlex} ? ${w}.compactBytes(${x}) : ${w}.bytes(${x}))`;
        const nn = `(${fieldFlex} ? ${w}.compactBytes(${x} ?? EMPTY) : ${w}.bytes(${x} ?? EMPTY))`;
        const nl = `(${fieldFlex} ? ${w}.compactNullableBytes(${x} ?? null) : ${w}.nullableBytes(${x} ?? null))`;
        return nullCond === "false" ? nn : nullCond === "true" ? nl : `(${nullCond} ? ${nl} : ${nn})`;
      }
      return `write${this.prefix(t)}(${w}, ${x}, v)`;
    };
    if (isArray) return [`${ind}writeArray(${w}, ${fieldFlex}, ${nullCond}, ${val}, (x) => ${one("x")});`];
    if (this.isStruct(t)) {
      if (f.nullableVersions) {
        return [`${ind}if (${val} == null) ${w}.i8(-1);`, `${ind}else { ${w}.i8(1); ${one(val)}; }`];
      }
      return [`${ind}${one(`${val} ?? ${this.defaultStructExpr(f)}`)};`];
    }
    if (t in PRIMS) return [`${ind}${one(`${val} ?? ${this.defaultExpr(f)}`)};`];
    return [`${ind}${one(val)};`];
  }

  defaultStructExpr(f: FieldDef): string {
    return `({} as ${this.prefix(this.elemType(f))})`;
  }

  emitStruct(name: string, fields: FieldDef[], top: boolean): void {
    const tname = top ? name : this.prefix(name);
    const out = this.out;
    out.push(`export interface ${tname} {`);
    for (const f of fields) out.push(`  ${lowerFirst(f.name)}${this.optional(f) ? "?" : ""}: ${this.tsType(f)};`);
    out.push(`}`, ``);

    const regular = fields.filter((f) => f.tag === undefined);
    const tagged = fields.filter((f) => f.tag !== undefined).sort((a, b) => a.tag! - b.tag!);
    const fx = this.flexCond();

    // Decoder
    const into = top && this.into;
    out.push(`${top ? "export " : ""}function read${tname}(r: Reader, v: number${into ? `, into?: ${tname}` : ""}): ${tname} {`);
    if (fx !== "false") out.push(`  const flex = ${fx};`);
    const flexVar = fx === "false" ? "false" : "flex";
    for (const f of fields) {
      out.push(`  let ${lowerFirst(f.name)}: ${this.tsType(f)}${this.optional(f) ? " | undefined" : ""} = ${this.defaultExpr(f) === "undefined" ? "undefined" : this.defaultExpr(f)};`);
    }
    for (const f of regular) {
      const c = this.cond(parseRange(f.versions));
      const stmt = `${lowerFirst(f.name)} = ${this.readExpr(f, flexVar)};`;
      out.push(c ? `  if (${c}) ${stmt}` : `  ${stmt}`);
    }
    if (fx !== "false") {
      out.push(`  if (flex) {`);
      out.push(`    const tags = r.uvarint();`);
      out.push(`    for (let i = 0; i < tags; i++) {`);
      out.push(`      const tag = r.uvarint();`);
      out.push(`      const size = r.uvarint();`);
      if (tagged.length) {
        out.push(`      switch (tag) {`);
        for (const f of tagged) {
          const c = this.cond(parseRange(f.taggedVersions));
          out.push(`        case ${f.tag}:`);
          out.push(`          if (${c ?? "true"}) { ${lowerFirst(f.name)} = ${this.readExpr(f, "true")}; break; }`);
          out.push(`          r.raw(size); break;`);
        }
        out.push(`        default: r.raw(size);`);
        out.push(`      }`);
      } else {
        out.push(`      void tag; r.raw(size);`);
      }
      out.push(`    }`);
      out.push(`  }`);
    }
    if (into) {
      out.push(`  if (into) {`);
      for (const f of fields) out.push(`    into.${lowerFirst(f.name)} = ${lowerFirst(f.name)};`);
      out.push(`    return into;`, `  }`);
    }
    out.push(`  return { ${fields.map((f) => lowerFirst(f.name)).join(", ")} }${fields.length ? "" : ""};`);
    out.push(`}`, ``);

    // Encoder
    out.push(`${top ? "export " : ""}function write${tname}(w: Writer, m: ${tname}, v: number): void {`);
    if (fx !== "false") out.push(`  const flex = ${fx};`);
    for (const f of regular) {
      const c = this.cond(parseRange(f.versions));
      const lines = this.writeStmt(f, `m.${lowerFirst(f.name)}`, flexVar, c ? "    " : "  ");
      if (c) out.push(`  if (${c}) {`, ...lines, `  }`);
      else out.push(...lines);
    }
    if (fx !== "false") {
      if (tagged.length) {
        out.push(`  if (flex) {`);
        out.push(`    let tags = 0;`);
        const conds: string[] = [];
        for (const f of tagged) {
          const c = this.cond(parseRange(f.taggedVersions)) ?? "true";
          const val = `m.${lowerFirst(f.name)}`;
          const isArr = f.type.startsWith("[]");
          const d = this.defaultExpr(f);
          const present = isArr
            ? `${val} != null && ${val}.length > 0`
            : d === "undefined" || d === "null"
              ? `${val} != null`
              : `${val} !== undefined && ${val} !== ${d}`;
          conds.push(`(${c}) && ${present}`);
          out.push(`    const t${f.tag} = ${conds[conds.length - 1]};`);
          out.push(`    if (t${f.tag}) tags++;`);
        }
        out.push(`    w.uvarint(tags);`);
        for (const f of tagged) {
          out.push(`    if (t${f.tag}) {`);
          out.push(`      const tw = new Writer(64);`);
          out.push(...this.writeStmt(f, `m.${lowerFirst(f.name)}`, "true", "      ", "tw"));
          out.push(`      w.uvarint(${f.tag}); w.uvarint(tw.pos); w.raw(tw.finish());`);
          out.push(`    }`);
        }
        out.push(`  }`);
      } else {
        out.push(`  if (flex) w.uvarint(0);`);
      }
    }
    out.push(`}`, ``);
  }

  run(topName: string): string {
    this.collect(this.msg.fields, topName);
    this.emitStruct(topName, this.msg.fields, true);
    for (const [name, fields] of this.structs) if (name !== topName) this.emitStruct(name, fields, false);
    return this.out.join("\n");
  }
}

// ---------------------------------------------------------------------------------------------------------------

const HEADER = (from: string[]) =>
  `// Generated by scripts/gen-protocol.ts from ${from.join(", ")} (Apache Kafka message definitions). Do not edit.\n`;

const HELPERS = `
const EMPTY = new Uint8Array(0);
void EMPTY; void readArray; void writeArray;
`;

function genApi(key: number, name: string, files: Map<string, MessageDef>): string {
  const req = files.get(`${name}Request`);
  const resp = files.get(`${name}Response`);
  if (!req || !resp) throw new Error(`missing definitions for ${name}`);
  if (req.apiKey !== key) throw new Error(`${name}: apiKey ${req.apiKey} != ${key}`);
  const parts: string[] = [];
  for (const [msg, other] of [[req, resp], [resp, req]] as const) {
    const otherNames = new Set<string>();
    const walk = (fs: FieldDef[]) => fs.forEach((f) => { const t = f.type.replace("[]", ""); otherNames.add(t); if (f.fields) walk(f.fields); });
    walk(other.fields);
    (other.commonStructs ?? []).forEach((s) => otherNames.add(s.name));
    // Struct names are prefixed with the message name only where the request and response both use the name.
    const prefix = (n: string) => (otherNames.has(n) ? `${msg.name}${n}` : n);
    parts.push(new Gen(msg, prefix).run(msg.name));
  }
  const valid = parseRange(req.validVersions);
  const reqFlex = parseRange(req.flexibleVersions);
  const respFlex = parseRange(resp.flexibleVersions);
  const flexMin = (r: Range) => (r.min > r.max ? "Infinity" : String(r.min));
  return [
    HEADER([`${name}Request.json`, `${name}Response.json`]),
    `import { DecodeError, Reader, Writer, ZERO_UUID, readArray, writeArray, type RecordsData, type Uuid } from "../codec.ts";`,
    `void DecodeError; void ZERO_UUID;`,
    `export type { RecordsData, Uuid };`,
    ``,
    `export const API_KEY = ${key};`,
    `export const API_NAME = "${name}";`,
    `/** Versions the definition describes (the handler registers the subset it serves). */`,
    `export const VALID_VERSIONS = { min: ${valid.min}, max: ${valid.max} } as const;`,
    `/** First flexible version of the request and of the response (Infinity: none). */`,
    `export const REQUEST_FLEXIBLE_MIN = ${flexMin(reqFlex)};`,
    `export const RESPONSE_FLEXIBLE_MIN = ${flexMin(respFlex)};`,
    HELPERS,
    ...parts,
    `export const decodeRequest = read${req.name};`,
    `export const encodeRequest = write${req.name};`,
    `export const decodeResponse = read${resp.name};`,
    `export const encodeResponse = write${resp.name};`,
    ``,
  ].join("\n");
}

function genHeader(msg: MessageDef): string {
  const valid = parseRange(msg.validVersions);
  const request = msg.name === "RequestHeader";
  const versionFn = request
    ? [
        `/** The request header version of an API version: ${valid.max} when the API version is flexible, else 1 (v0 is only`,
        ` * ControlledShutdown v0's, which has no client id). \`flexibleMin\` is the API module's REQUEST_FLEXIBLE_MIN. */`,
        `export function requestHeaderVersion(flexibleMin: number, apiVersion: number): number {`,
        `  return apiVersion >= flexibleMin ? ${valid.max} : 1;`,
        `}`,
      ]
    : [
        `/** The response header version of an API version: ${valid.max} when the response is flexible, else 0. ApiVersions`,
        ` * (key 18) always answers with v0, so a client that sent a version the broker does not know can read the error.`,
        ` * \`flexibleMin\` is the API module's RESPONSE_FLEXIBLE_MIN. */`,
        `export function responseHeaderVersion(apiKey: number, flexibleMin: number, apiVersion: number): number {`,
        `  return apiKey !== 18 && apiVersion >= flexibleMin ? ${valid.max} : 0;`,
        `}`,
      ];
  return [
    HEADER([`${msg.name}.json`]),
    `import { DecodeError, Reader, Writer, ZERO_UUID, readArray, writeArray, type Uuid } from "../codec.ts";`,
    `void DecodeError; void ZERO_UUID;`,
    `export type { Uuid };`,
    HELPERS,
    new Gen(msg, (n) => n, true).run(msg.name),
    ...versionFn,
    ``,
  ].join("\n");
}

/** Data types carried inside other messages (the consumer protocol's subscription and assignment). */
function genData(msgs: MessageDef[], what: string): string {
  const parts = msgs.map((msg) => {
    const others = new Set<string>();
    const walk = (fs: FieldDef[]) => fs.forEach((f) => { others.add(f.type.replace("[]", "")); if (f.fields) walk(f.fields); });
    for (const o of msgs) if (o !== msg) walk(o.fields);
    return new Gen(msg, (n) => (others.has(n) ? `${msg.name}${n}` : n)).run(msg.name);
  });
  return [
    HEADER(msgs.map((m) => `${m.name}.json`)),
    `// ${what}`,
    `import { DecodeError, Reader, Writer, ZERO_UUID, readArray, writeArray, type Uuid } from "../codec.ts";`,
    `void DecodeError; void ZERO_UUID;`,
    `export type { Uuid };`,
    HELPERS,
    ...parts,
  ].join("\n");
}

function genErrors(): string {
  const errors = JSON.parse(readFileSync(join(SRC, "errors.json"), "utf8")) as { name: string; code: number; message: string | null }[];
  const lines = [
    HEADER(["errors.json"]),
    `/** Kafka error codes by name. */`,
    `export const ErrorCode = {`,
    ...errors.map((e) => `  ${e.name}: ${e.code},`),
    `} as const;`,
    `export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];`,
    ``,
    `/** Name and default message of each code. */`,
    `export const ERRORS: ReadonlyMap<number, { name: string; message: string | null }> = new Map([`,
    ...errors.map((e) => `  [${e.code}, { name: ${JSON.stringify(e.name)}, message: ${JSON.stringify(e.message)} }],`),
    `]);`,
    ``,
    `export function errorName(code: number): string {`,
    `  return ERRORS.get(code)?.name ?? \`UNKNOWN_ERROR_\${code}\`;`,
    `}`,
    ``,
  ];
  return lines.join("\n");
}

function genIndex(): string {
  const entries = Object.entries(APIS).sort((a, b) => Number(a[0]) - Number(b[0]));
  return [
    HEADER(["the message definitions"]),
    ...entries.map(([, n]) => `import * as ${lowerFirst(n)} from "./${kebab(n)}.ts";`),
    ``,
    `/** Every generated API codec module by API key. */`,
    `export const CODECS = {`,
    ...entries.map(([k, n]) => `  ${k}: ${lowerFirst(n)},`),
    `} as const;`,
    ``,
    `export type ApiKey = keyof typeof CODECS;`,
    ``,
    `export {`,
    ...entries.map(([, n]) => `  ${lowerFirst(n)},`),
    `};`,
    ``,
  ].join("\n");
}

function main(): void {
  if (!existsSync(join(SRC, "messages"))) {
    console.error(
      `gen-protocol: the Kafka message definitions are not at ${join(SRC, "messages")}.\n` +
        `They are Apache Kafka's protocol message JSON files (clients/src/main/resources/common/message/*.json in the\n` +
        `apache/kafka repository, Apache-2.0), kept in ../shared/kafka-protocol beside this checkout; point at another\n` +
        `copy with \`bun scripts/gen-protocol.ts --src <dir containing messages/ and errors.json>\`. The generated codecs\n` +
        `in src/protocol/messages/ are committed, so building, running and testing klite do not need them.`,
    );
    process.exit(2);
  }
  const files = new Map<string, MessageDef>();
  for (const f of readdirSync(join(SRC, "messages"))) {
    if (!f.endsWith(".json")) continue;
    const m = load(f);
    files.set(m.name, m);
  }
  const outputs = new Map<string, string>();
  for (const [k, n] of Object.entries(APIS)) outputs.set(join(OUT, `${kebab(n)}.ts`), genApi(Number(k), n, files));
  outputs.set(join(OUT, "request-header.ts"), genHeader(files.get("RequestHeader")!));
  outputs.set(join(OUT, "response-header.ts"), genHeader(files.get("ResponseHeader")!));
  outputs.set(join(OUT, "consumer-protocol.ts"), genData([files.get("ConsumerProtocolSubscription")!, files.get("ConsumerProtocolAssignment")!], "Each is written after an int16 version: JoinGroup protocol metadata and SyncGroup assignments of protocol type \"consumer\"."));
  outputs.set(join(OUT, "index.ts"), genIndex());
  outputs.set(join(ROOT, "src/protocol/errors.ts"), genErrors());

  let stale = 0;
  for (const [path, text] of outputs) {
    if (check) {
      const cur = existsSync(path) ? readFileSync(path, "utf8") : null;
      if (cur !== text) {
        console.error(`stale: ${path.slice(ROOT.length + 1)}`);
        stale++;
      }
    } else {
      mkdirSync(OUT, { recursive: true });
      writeFileSync(path, text);
    }
  }
  if (check) {
    if (stale) {
      console.error(`gen-protocol: ${stale} generated file(s) differ; run \`npm run gen\``);
      process.exit(1);
    }
    console.log(`gen-protocol: ${outputs.size} files up to date`);
  } else {
    console.log(`gen-protocol: wrote ${outputs.size} files`);
  }
}

main();
