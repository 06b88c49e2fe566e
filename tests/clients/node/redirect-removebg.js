// Preload that points the npm remove.bg client at a local alphacut, in this
// process only and without touching node_modules:
//   REMOVEBG_BASE=http://127.0.0.1:PORT node -r ./redirect-removebg.js run-removebg.js JOB
//
// The client hard-codes https://api.remove.bg/v1.0/removebg and has no option
// to change it. It sends through unirest: JSON bodies go through `request`,
// multipart bodies through unirest's own form-data `submit()`. Both look up
// `https.request` on the module object when they send, so rebinding it here
// catches both: a call for api.remove.bg is re-issued as plain http to
// REMOVEBG_BASE, with the client's method, path and headers unchanged (the
// Host header `request` sets, api.remove.bg, travels as a proxy would keep it).
'use strict';
const http = require('http');
const https = require('https');

const REMOTE_HOST = 'api.remove.bg';
if (!process.env.REMOVEBG_BASE) {
  throw new Error('redirect-removebg.js: set REMOVEBG_BASE (e.g. http://127.0.0.1:8000)');
}
const base = new URL(process.env.REMOVEBG_BASE);
if (base.protocol !== 'http:') {
  throw new Error(`redirect-removebg.js: REMOVEBG_BASE must be http://, not ${base.href}`);
}
const prefix = base.pathname.replace(/\/+$/, '');

// TLS settings that mean nothing over plain http; `agent` above all, because
// `request` passes an https.Agent, which http.request refuses.
const TLS_ONLY = ['agent', '_defaultAgent', 'ca', 'cert', 'key', 'pfx', 'passphrase',
  'rejectUnauthorized', 'servername', 'ciphers', 'secureProtocol', 'secureOptions',
  'checkServerIdentity', 'minVersion', 'maxVersion', 'session', 'ALPNProtocols'];

// https.request takes (options[, cb]), (url[, cb]) or (url, options[, cb]).
function asOptions(args) {
  const [first, second, third] = args;
  if (typeof first !== 'string' && !(first instanceof URL)) {
    return { options: { ...first }, callback: second };
  }
  const url = new URL(first);
  const options = { hostname: url.hostname, port: url.port, path: url.pathname + url.search };
  if (typeof second === 'function') return { options, callback: second };
  return { options: { ...options, ...second }, callback: third };
}

function hostOf(options) {
  return String(options.hostname || options.host || '').replace(/:\d+$/, '').toLowerCase();
}

function redirect(original, isGet) {
  return function redirected(...args) {
    const { options, callback } = asOptions(args);
    if (hostOf(options) !== REMOTE_HOST) return original.apply(this, args);
    for (const name of TLS_ONLY) delete options[name];
    delete options.host;
    const local = {
      ...options,
      protocol: 'http:',
      hostname: base.hostname,
      port: base.port || 80,
      path: prefix + (options.path || '/'),
    };
    const request = http.request(local, callback);
    if (isGet) request.end();
    return request;
  };
}

https.request = redirect(https.request, false);
https.get = redirect(https.get, true);
