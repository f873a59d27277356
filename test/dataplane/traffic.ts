// The traffic the transparency tests send: one server with a port per kind of behaviour,
// and one client that runs a single measurement and prints it as JSON. Both run inside
// network namespaces as the app's uid (node cannot enter a namespace itself), so they
// are scripts, written out once and run with the test's own node.
//
// Every kind is modelled on data-plane reports against other meshes: a client that
// half-closes at once, a server that speaks first, a server or client that aborts with a
// reset, many connections held at once.

import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Netns } from './envoy.js';
import { startInNetns } from './netns.js';

/** The server's ports, one per behaviour. */
export const TRAFFIC_PORTS = Object.freeze({
  /** Reads to end of stream, then answers `from <peer> got <n>` and a fixed body, then FIN. */
  echo: 7001,
  /** Speaks first: a banner line as soon as the connection is accepted (SMTP-like). */
  banner: 7002,
  /** Sends part of an answer, then resets the connection (RST). */
  abort: 7003,
  /** Sends one byte and holds the connection until the client closes it. */
  hold: 7004,
  /** Records how each connection ended (FIN or reset) and after how many bytes. */
  observe: 7005,
  /** Answers the observe port's records as JSON. */
  report: 7006,
  /** Speaks first and half-closes at once, then reads to end of stream and records it as observe does. */
  speakAndClose: 7007,
  /** Like echo; the server pod excludes it from its inbound redirect. */
  excluded: 7009,
});

/** Size of the echo answer's body, in bytes: larger than any socket buffer on the path. */
export const ECHO_BODY_BYTES = 256 * 1024;
/** Bytes the abort port sends before its reset. */
export const ABORT_AFTER_BYTES = 64 * 1024;

// Deterministic bytes both sides can produce, so the client checks every byte it got.
const BODY = `function body(n) { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 255; return b; }`;

const SERVER = `
const net = require('node:net');
${BODY}
const P = ${JSON.stringify(TRAFFIC_PORTS)};
const answer = body(${ECHO_BODY_BYTES});
const records = [];
const echo = (s) => {
  let got = 0;
  s.on('data', (d) => (got += d.length));
  s.on('end', () => { s.write('from ' + s.remoteAddress + ' got ' + got + '\\n'); s.end(answer); });
};
const handlers = {
  [P.echo]: echo,
  [P.excluded]: echo,
  [P.banner]: (s) => { s.write('220 splice-test ready\\r\\n'); s.resume(); s.on('end', () => s.end()); },
  [P.abort]: (s) => { s.resume(); s.write(body(${ABORT_AFTER_BYTES}), () => setTimeout(() => s.resetAndDestroy(), 100)); },
  [P.hold]: (s) => { s.write('+'); s.resume(); s.on('end', () => s.end()); },
  [P.observe]: (s) => {
    let got = 0;
    let done = false;
    const record = (end) => { if (!done) { done = true; records.push({ from: s.remoteAddress, got, end }); } };
    s.on('data', (d) => (got += d.length));
    s.on('end', () => { record('FIN'); s.end(); });
    s.on('error', (e) => record(e.code || e.message));
    s.on('close', () => record('close'));
  },
  [P.report]: (s) => s.end(JSON.stringify(records)),
  [P.speakAndClose]: (s) => {
    let got = 0;
    s.on('data', (d) => (got += d.length));
    s.on('end', () => { records.push({ from: s.remoteAddress, got, end: 'FIN' }); s.destroy(); });
    s.end(answer);
  },
};
// Only this one keeps reading after its own FIN; the others close when the client does.
const halfOpen = new Set([String(P.speakAndClose)]);
let listening = 0;
const ports = Object.keys(handlers);
for (const port of ports) {
  const server = net.createServer({ allowHalfOpen: halfOpen.has(port) }, (s) => { s.on('error', () => {}); handlers[port](s); });
  server.listen({ port: Number(port), host: '::', backlog: 4096 }, () => ++listening === ports.length && console.log('ready'));
}
`;

const CLIENT = `
const net = require('node:net');
${BODY}
const P = ${JSON.stringify(TRAFFIC_PORTS)};
const req = JSON.parse(process.env.SPLICE_TRAFFIC);
const done = (r) => process.stdout.write(JSON.stringify(r), () => process.exit(0));
// Whatever happens, the client ends on its own.
setTimeout(() => done({ error: 'timeout' }), req.timeoutMs);
const now = () => Number(process.hrtime.bigint()) / 1e6;

// Connects and follows one connection to its end: bytes in, and FIN or the error code.
function follow(port, onConnect) {
  return new Promise((resolve) => {
    const s = net.connect({ host: req.host, port });
    const chunks = [];
    let settled = false;
    const finish = (end) => {
      if (settled) return;
      settled = true;
      resolve({ data: Buffer.concat(chunks), end });
    };
    s.on('connect', () => onConnect(s));
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => finish('FIN'));
    s.on('error', (e) => finish(e.code || e.message));
    s.on('close', () => finish('close'));
  });
}

async function main() {
  if (req.op === 'echo') {
    // The request and the FIN leave together: end() right after write().
    const r = await follow(req.port ?? P.echo, (s) => { s.write('x'.repeat(1000)); s.end(); });
    const nl = r.data.indexOf(10);
    const header = nl < 0 ? r.data.toString() : r.data.subarray(0, nl).toString();
    const bodyGot = nl < 0 ? Buffer.alloc(0) : r.data.subarray(nl + 1);
    return done({ header, bodyBytes: bodyGot.length, bodyIntact: bodyGot.equals(body(${ECHO_BODY_BYTES})), end: r.end });
  }
  if (req.op === 'late-send') {
    // The server's answer and FIN come first; the request goes after them, then the FIN.
    const before = await report();
    const r = await new Promise((resolve) => {
      const s = net.connect({ host: req.host, port: P.speakAndClose, allowHalfOpen: true });
      const chunks = [];
      s.on('data', (d) => chunks.push(d));
      s.on('end', () => { s.end('y'.repeat(1000)); resolve({ data: Buffer.concat(chunks) }); });
      s.on('error', (e) => resolve({ data: Buffer.concat(chunks), error: e.code || e.message }));
    });
    for (let i = 0; i < 50; i++) {
      const after = await report();
      if (after.length > before.length) {
        return done({ bodyIntact: r.data.equals(body(${ECHO_BODY_BYTES})), bodyBytes: r.data.length, error: r.error, serverSaw: after[after.length - 1] });
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    return done({ bodyBytes: r.data.length, error: r.error ?? 'the server recorded nothing' });
  }
  if (req.op === 'banner') {
    // Waits for the banner, then closes: how long a server-first greeting takes.
    const s = net.connect({ host: req.host, port: P.banner });
    let t0;
    s.on('connect', () => (t0 = now()));
    s.once('data', (d) => { const ms = now() - t0; s.destroy(); done({ banner: d.toString().trim(), firstByteMs: ms }); });
    s.on('error', (e) => done({ error: e.code || e.message }));
    return;
  }
  if (req.op === 'abort') {
    const r = await follow(P.abort, () => {});
    return done({ bytes: r.data.length, intact: r.data.equals(body(${ABORT_AFTER_BYTES}).subarray(0, r.data.length)), end: r.end });
  }
  if (req.op === 'client-abort') {
    // Sends, then resets instead of closing; the server's record says what it saw.
    const before = await report();
    await new Promise((resolve) => {
      const s = net.connect({ host: req.host, port: P.observe }, () => {
        s.write(body(32 * 1024), () => setTimeout(() => { s.resetAndDestroy(); resolve(); }, 200));
      });
      s.on('error', () => resolve());
    });
    for (let i = 0; i < 50; i++) {
      const after = await report();
      if (after.length > before.length) return done({ serverSaw: after[after.length - 1] });
      await new Promise((r) => setTimeout(r, 100));
    }
    return done({ error: 'the server recorded nothing' });
  }
  if (req.op === 'hold') {
    const t0 = now();
    const sockets = [];
    const state = { open: 0, failed: 0, closedEarly: 0, errors: {} };
    let holding = false;
    const opened = await Promise.all(Array.from({ length: req.n }, () => new Promise((resolve) => {
      const s = net.connect({ host: req.host, port: P.hold });
      sockets.push(s);
      let got = false;
      s.once('data', () => { got = true; state.open++; resolve(true); });
      s.on('error', (e) => { state.errors[e.code] = (state.errors[e.code] || 0) + 1; });
      s.on('close', () => {
        if (!got) { state.failed++; resolve(false); } else if (holding) state.closedEarly++;
      });
    })));
    const allOpenMs = now() - t0;
    holding = true;
    await new Promise((r) => setTimeout(r, req.holdMs));
    const held = state.open - state.closedEarly;
    holding = false;
    for (const s of sockets) s.destroy();
    return done({ requested: req.n, opened: opened.filter(Boolean).length, held, failed: state.failed, closedEarly: state.closedEarly, errors: state.errors, allOpenMs });
  }
  done({ error: 'unknown op ' + req.op });
}

function report() {
  return new Promise((resolve) => {
    const s = net.connect({ host: req.host, port: P.report });
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (text += d));
    s.on('end', () => resolve(JSON.parse(text || '[]')));
    s.on('error', () => resolve([]));
  });
}

main().catch((e) => done({ error: String(e) }));
`;

/** Writes the two scripts into `dir` (readable by the app's uid); returns their paths. */
export async function writeTrafficScripts(dir: string): Promise<{ server: string; client: string }> {
  const server = join(dir, 'traffic-server.cjs');
  const client = join(dir, 'traffic-client.cjs');
  await writeFile(server, SERVER, { mode: 0o644 });
  await writeFile(client, CLIENT, { mode: 0o644 });
  return { server, client };
}

/** Starts the traffic server in `ns` as `uid`, on every port above, IPv4 and IPv6. */
export function startTrafficServer(ns: Netns, script: string, uid: number): Promise<ChildProcess> {
  return startInNetns(ns.name, 'setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, script]);
}

export type TrafficOp =
  | { op: 'echo'; port?: number }
  | { op: 'banner' | 'abort' | 'client-abort' | 'late-send' }
  | { op: 'hold'; n: number; holdMs: number };

export type TrafficResult = Record<string, unknown> & { error?: string };

/** Runs one client measurement in `ns` as `uid` against `host`; its own time limit is `timeoutMs`. */
export async function traffic(ns: Netns, script: string, uid: number, host: string, op: TrafficOp, timeoutMs = 20_000): Promise<TrafficResult> {
  const env = { ...process.env, SPLICE_TRAFFIC: JSON.stringify({ ...op, host, timeoutMs }) };
  const r = await ns.exec('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, script], { env, timeoutMs: timeoutMs + 10_000 });
  if (r.code !== 0) throw new Error(`traffic client ${op.op} to ${host} failed (${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as TrafficResult;
}
