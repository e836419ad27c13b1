#!/usr/bin/env node
// Send one sqsq task from Node.js with the official AWS SDK (@aws-sdk/client-sqs).
//
//   sqsq schema APP > schema.json
//   node send.mjs --schema schema.json --task tests.add --args '{"x": 1, "y": 2}'
//
// Prints {"id", "task", "queue_name", "message_id", "signed"} as one JSON line. The queue is the task's
// `queue_name` in the schema. AWS_ENDPOINT_URL (e.g. sqsq's local AWS), AWS_REGION/AWS_DEFAULT_REGION and the
// usual credential variables are read from the environment; SQSQ_SIGNING_KEYS signs the message (required when
// the schema says the app signs). --dry-run prints the body instead of sending it.
// Exit codes: 0 sent, 2 usage, 3 configuration (schema, task, keys), 4 AWS error.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { buildEnvelope, parseSigningKeys, sign, toBody } from "./envelope.mjs";

function fail(message, code) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

function options() {
  try {
    const { values } = parseArgs({
      options: {
        schema: { type: "string" },
        task: { type: "string" },
        args: { type: "string", default: "{}" },
        id: { type: "string" },
        "sent-at": { type: "string" },
        "delay-seconds": { type: "string", default: "0" },
        "dry-run": { type: "boolean", default: false },
      },
    });
    if (!values.schema || !values.task) throw new Error("--schema FILE and --task NAME are required");
    return values;
  } catch (err) {
    return fail(`${err.message}\nusage: node send.mjs --schema FILE --task NAME [--args JSON] [--delay-seconds S] [--dry-run]`, 2);
  }
}

async function main() {
  const opts = options();
  let schema, args, envelope;
  try {
    schema = JSON.parse(readFileSync(opts.schema, "utf8"));
  } catch (err) {
    return fail(`cannot read the schema ${opts.schema}: ${err.message}; write it with \`sqsq schema APP > FILE\``, 3);
  }
  try {
    args = JSON.parse(opts.args);
  } catch (err) {
    return fail(`--args is not JSON: ${err.message}`, 2);
  }
  try {
    const sentAt = opts["sent-at"] === undefined ? undefined : Number(opts["sent-at"]);
    envelope = buildEnvelope(schema, opts.task, args, { id: opts.id, sentAt });
    const spec = process.env.SQSQ_SIGNING_KEYS;
    if (spec) envelope = sign(schema, envelope, parseSigningKeys(spec));
    else if (schema.signing?.enabled) throw new Error("the app signs its messages: set SQSQ_SIGNING_KEYS (keyid:base64secret)");
  } catch (err) {
    return fail(err.message, 3);
  }
  const body = toBody(envelope);
  const queueName = schema.tasks[opts.task].queue_name;
  if (opts["dry-run"]) {
    process.stdout.write(`${body}\n`);
    return;
  }
  const sqs = new SQSClient({
    endpoint: process.env.AWS_ENDPOINT_URL || undefined,
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
  });
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
    const sent = await sqs.send(new SendMessageCommand({
      QueueUrl, MessageBody: body, DelaySeconds: Number(opts["delay-seconds"]),
    }));
    process.stdout.write(`${JSON.stringify({
      id: envelope.id, task: opts.task, queue_name: queueName, message_id: sent.MessageId, signed: "sig" in envelope,
    })}\n`);
  } catch (err) {
    return fail(`SQS refused the message for queue ${queueName}: ${err.name}: ${err.message}`, 4);
  }
}

await main();
