// Runs one call of the official npm remove.bg client, unmodified, and prints one
// JSON line: {"resolved": VALUE} or {"rejected": VALUE}, exit 0. Run it behind
// the preload that sends api.remove.bg to a local server:
//   REMOVEBG_BASE=http://127.0.0.1:PORT node -r ./redirect-removebg.js run-removebg.js JOB
// JOB is JSON, on argv or else on stdin:
//   {"call": "file" | "base64", "apiKey": "...", "input": "/path/to/image",
//    "outputFile": "/path" (optional), "options": {"size": ..., ...} (optional),
//    "timeoutMs": 60000 (optional)}
// "file" passes the path (multipart upload); "base64" reads the file and passes
// its base64 (JSON body). It never hangs: past timeoutMs it prints
// {"timeout": ms} and exits 3; a crash inside the client (it throws from an
// async callback when a 200 answer is not JSON) prints {"crashed": ...}, exit 2.
'use strict';
const fs = require('fs');
const removebg = require('remove.bg');

function finish(code, payload) {
  process.stdout.write(`${JSON.stringify(payload)}\n`, () => process.exit(code));
}

// The client rejects with the answer's `errors` array, its raw body, or
// undefined when the request never got an answer; an Error would print as {}.
function plain(value) {
  if (value instanceof Error) return { error: value.name, message: value.message };
  return value === undefined ? null : value;
}

function readJob() {
  const text = process.argv[2] !== undefined ? process.argv[2] : fs.readFileSync(0, 'utf8');
  return JSON.parse(text);
}

function start(job) {
  const options = { ...job.options, apiKey: job.apiKey };
  if (job.outputFile) options.outputFile = job.outputFile;
  if (job.call === 'file') {
    return removebg.removeBackgroundFromImageFile({ ...options, path: job.input });
  }
  if (job.call === 'base64') {
    const base64img = fs.readFileSync(job.input).toString('base64');
    return removebg.removeBackgroundFromImageBase64({ ...options, base64img });
  }
  throw new Error(`unknown call ${JSON.stringify(job.call)}: use "file" or "base64"`);
}

process.on('uncaughtException', (err) => finish(2, { crashed: String(err.stack || err) }));
process.on('unhandledRejection', (err) => finish(2, { crashed: String((err && err.stack) || err) }));

const job = readJob();
const timeoutMs = job.timeoutMs || 60000;
const timer = setTimeout(() => finish(3, { timeout: timeoutMs }), timeoutMs);
start(job).then(
  (value) => { clearTimeout(timer); finish(0, { resolved: plain(value) }); },
  (reason) => { clearTimeout(timer); finish(0, { rejected: plain(reason) }); },
);
