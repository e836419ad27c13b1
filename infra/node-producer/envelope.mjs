// sqsq's wire format in JavaScript: build a message body and sign it as `sqsq schema` describes.
//
// The rules come from the schema (envelope version, signed fields, signing domain); the few that are code
// (canonical JSON as Python's json.dumps writes it) are below, held to sqsq's own verifier by
// tests/integration/test_node_producer.py.

import { createHmac, randomUUID } from "node:crypto";

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const MIN_SECRET_BYTES = 32;

// Python's float repr: shortest round-trip digits, ".0" when whole, exponent form below 1e-4 or from 1e16 up,
// with a sign and at least two exponent digits (1e-05, 1.5e+16).
export function pyFloat(x) {
  if (!Number.isFinite(x)) throw new RangeError("NaN and infinite numbers cannot travel as JSON");
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = x.toExponential().split("e"); // no argument: the shortest digits that round-trip
  const exp = Number(expText);
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  return `${sign}${whole}.${digits.slice(exp + 1) || "0"}`;
}

// A number as the worker reads it back from the body JSON.stringify wrote: an integer literal stays an int
// (Python ints print as digits), anything else is a Python float.
function pyNumber(x) {
  const text = JSON.stringify(x);
  return /^-?\d+$/.test(text) ? text : pyFloat(x);
}

// JSON string with every character outside U+0020..U+007E as \uXXXX (lowercase hex, UTF-16 code units).
function asciiString(s) {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function byCodePoint(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

// Python's json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True) of a JSON value.
export function canonicalJson(value) {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return pyNumber(value);
  if (typeof value === "string") return asciiString(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort(byCodePoint);
    return `{${keys.map((k) => `${asciiString(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  throw new TypeError(`a ${typeof value} is not a JSON value`);
}

function checkFinite(value, path) {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new RangeError(`${path}: NaN and infinite numbers cannot travel as JSON; send a finite value`);
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) checkFinite(v, `${path}.${k}`);
  }
}

/** Parse SQSQ_SIGNING_KEYS ("keyid:base64secret,..."): the first key signs. Never echoes a secret. */
export function parseSigningKeys(spec) {
  const keys = [];
  spec.split(",").map((e) => e.trim()).filter(Boolean).forEach((entry, i) => {
    const at = entry.indexOf(":");
    const keyId = at < 0 ? "" : entry.slice(0, at);
    if (!KEY_ID.test(keyId)) throw new Error(`signing keys: entry ${i + 1} needs keyid:base64secret (1-64 of A-Z a-z 0-9 . _ -)`);
    const secret = Buffer.from(entry.slice(at + 1).trim(), "base64");
    if (secret.length < MIN_SECRET_BYTES) throw new Error(`signing keys: key ${keyId}: the secret must be at least ${MIN_SECRET_BYTES} bytes`);
    keys.push({ keyId, secret });
  });
  if (keys.length === 0) throw new Error("signing keys: no key given; write keyid:base64secret");
  return keys;
}

/**
 * Build an envelope object for `task` from `sqsq schema` output.
 * @param {object} schema the JSON `sqsq schema APP` printed
 * @param {string} task a registered task name listed in schema.tasks
 * @param {object} args the task's arguments (not validated here: the worker validates and records errors)
 * @param {{id?: string, sentAt?: number}} options a fixed id or send time (default: a UUID4, now)
 */
export function buildEnvelope(schema, task, args, { id, sentAt } = {}) {
  if (!schema.tasks || !(task in schema.tasks)) {
    throw new Error(`task ${JSON.stringify(task)} is not in the schema; it lists ${Object.keys(schema.tasks || {}).join(", ")}`);
  }
  if (!args || typeof args !== "object" || Array.isArray(args)) throw new TypeError("args must be a JSON object");
  checkFinite(args, "args");
  return {
    v: schema.envelope.properties.v.const,
    id: id ?? randomUUID(),
    task,
    args: JSON.parse(JSON.stringify(args)), // what the body will carry (drops undefined, applies toJSON)
    sent_at: sentAt ?? Date.now() / 1000,
    generation: 0,
  };
}

/** The bytes a signature covers: the schema's domain, then canonical JSON of the signed fields. */
export function canonicalBytes(schema, envelope) {
  const rule = schema.signing.rule;
  const parts = rule.signed_fields.map((name) => {
    const value = name === "sent_at" ? pyFloat(envelope.sent_at) : canonicalJson(envelope[name]); // a Python float
    return [name, value];
  });
  parts.sort(([a], [b]) => byCodePoint(a, b));
  return Buffer.from(rule.domain + `{${parts.map(([k, v]) => `${asciiString(k)}:${v}`).join(",")}}`, "ascii");
}

/** A copy of `envelope` with kid and sig (base64 HMAC-SHA256) under the first key. */
export function sign(schema, envelope, keys) {
  const [key] = keys;
  const unsigned = { ...envelope, kid: key.keyId };
  const sig = createHmac("sha256", key.secret).update(canonicalBytes(schema, unsigned)).digest("base64");
  return { ...unsigned, sig };
}

/** The SQS message body: JSON, with U+FFFE/U+FFFF (which SQS refuses) as \u escapes. */
export function toBody(envelope) {
  return JSON.stringify(envelope).replace(/[\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
