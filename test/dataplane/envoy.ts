// Finds and runs the real Envoy for the dataplane tests, inside a network namespace the
// test owns, and runs small clients inside that namespace. Needs root (ip netns, iptables).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { JsonObject } from '../../src/inject/types.js';

export const ENVOY_VERSION = '1.40.0';
export const INSTALL_SCRIPT = 'test/dataplane/install-envoy.sh';

/** The Envoy binary: $ENVOY_BIN, else where install-envoy.sh puts it. */
export function envoyBinary(): string {
  const fromEnv = process.env.ENVOY_BIN ?? '';
  const bin = fromEnv !== '' ? fromEnv : join(homedir(), '.cache', 'splice', `envoy-${ENVOY_VERSION}`, 'envoy');
  if (!existsSync(bin)) {
    const origin = fromEnv !== '' ? ' (from ENVOY_BIN)' : '';
    throw new Error(`no Envoy at ${bin}${origin}: run \`bash ${INSTALL_SCRIPT}\` first, or set ENVOY_BIN`);
  }
  return bin;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`); never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 20_000, killSignal: 'SIGKILL', env: opts.env ?? process.env, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr: err && code === null ? `${stderr}${err.message}` : stderr });
      },
    );
  });
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** A network namespace with loopback up; `destroy` kills what `spawn` started in it. */
export class Netns {
  readonly #children: ChildProcess[] = [];

  private constructor(readonly name: string) {}

  static async create(name: string): Promise<Netns> {
    await must('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    try {
      await ns.must('ip', ['link', 'set', 'lo', 'up']);
    } catch (e) {
      await ns.destroy();
      throw e;
    }
    return ns;
  }

  exec(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  async must(cmd: string, args: string[]): Promise<string> {
    return must('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  /** A long-running process in the namespace (`ip netns exec` execs, so the pid is the program's). */
  spawn(cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.push(child);
    return child;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#children.map((c) => stop(c)));
    await run('ip', ['netns', 'del', this.name]);
  }
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Collects a child's stdout and stderr as text, for assertions and failure messages. */
export function capture(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { stdout: () => out, stderr: () => err };
}

export interface RunningEnvoy {
  child: ChildProcess;
  /** Access logs (stdout). */
  stdout: () => string;
  /** Envoy's own log (stderr). */
  stderr: () => string;
}

export function startEnvoy(ns: Netns, bin: string, bootstrap: JsonObject, baseId: number): RunningEnvoy {
  const child = ns.spawn(bin, [
    '--config-yaml', JSON.stringify(bootstrap),
    '--disable-hot-restart',
    '--base-id', String(baseId),
    '--concurrency', '1',
    '--log-level', 'info',
    // Access logs reach stdout through a buffer flushed every 10 s by default; the tests
    // wait for log lines, so flush sooner.
    '--file-flush-interval-msec', '200',
  ]);
  return { child, ...capture(child) };
}

/** The JSON access-log entries in what Envoy wrote to stdout so far (splice's bootstrap logs one per line). */
export function accessLogEntries(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls `check` until it returns a value, for at most `timeoutMs`; the error names `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  { timeoutMs = 20_000, intervalMs = 200 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export type ProbeRequest =
  | { kind: 'http'; host: string; port: number; path: string }
  | { kind: 'tcp'; host: string; port: number; send: string }
  | { kind: 'tls'; host: string; port: number; send: string; ca: string; cert?: string; key?: string; alpn?: string[]; servername?: string }
  /** A TLS client's first flight (its ClientHello) and then nothing: how long until the server closes. */
  | { kind: 'tls-stall'; host: string; port: number; alpn: string[]; servername: string; timeoutMs: number };

export interface ProbeResult {
  status?: number;
  contentType?: string;
  body?: string;
  /** TCP/TLS: what came back before the connection closed. */
  data?: string;
  /** TLS: the server certificate's subjectAltName, as node prints it ("URI:spiffe://…"). */
  peerSan?: string;
  peerFingerprint?: string;
  /** tls-stall: when the server closed the connection, in ms after the ClientHello. */
  closedAfterMs?: number;
  error?: string;
}

// Runs inside the namespace as its own process (node cannot enter a namespace itself).
// It exits on its own after 5 s whatever happens, so a probe never hangs a test.
const PROBE = `
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
const req = JSON.parse(process.env.SPLICE_PROBE);
// Exit only once stdout is written: a pipe takes large answers (a metrics scrape) in several writes.
const done = (r) => process.stdout.write(JSON.stringify(r), () => process.exit(0));
setTimeout(() => done({ error: 'timeout' }), req.timeoutMs ?? 5000);
if (req.kind === 'tls-stall') {
  // A real TLS client's first flight, caught on a local socket, is sent to the target;
  // then the client says nothing more, whatever the server answers.
  const grab = net.createServer((s) => s.once('data', (hello) => {
    s.destroy();
    grab.close();
    const sent = Date.now();
    const c = net.connect({ host: req.host, port: req.port }, () => c.write(hello));
    c.resume();
    c.on('error', () => {});
    c.on('close', () => done({ closedAfterMs: Date.now() - sent }));
  })).listen(0, '127.0.0.1', () => {
    tls.connect({ host: '127.0.0.1', port: grab.address().port, servername: req.servername, ALPNProtocols: req.alpn, rejectUnauthorized: false }).on('error', () => {});
  });
} else if (req.kind === 'http') {
  http.get({ host: req.host, port: req.port, path: req.path, agent: false }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (body += c));
    res.on('end', () => done({ status: res.statusCode, contentType: res.headers['content-type'] ?? '', body }));
  }).on('error', (e) => done({ error: e.code ?? e.message }));
} else {
  const r = { data: '' };
  const s = req.kind === 'tls'
    // The server's identity is a SPIFFE URI, not a host name: the chain is verified
    // against the CA here, and the caller checks the URI.
    ? tls.connect({ host: req.host, port: req.port, servername: req.servername, ca: req.ca, cert: req.cert, key: req.key, ALPNProtocols: req.alpn, checkServerIdentity: () => undefined })
    : net.connect({ host: req.host, port: req.port });
  s.setEncoding('utf8');
  s.on(req.kind === 'tls' ? 'secureConnect' : 'connect', () => {
    if (req.kind === 'tls') {
      const c = s.getPeerX509Certificate();
      r.peerSan = c?.subjectAltName ?? '';
      r.peerFingerprint = c?.fingerprint256 ?? '';
    }
    s.write(req.send);
  });
  s.on('data', (d) => { r.data += d; if (r.data.length >= req.send.length) { s.end(); done(r); } });
  s.on('error', (e) => done({ ...r, error: e.code ?? e.message }));
  s.on('close', () => done(r));
}
`;

/** Runs one client request inside the namespace, as `uid` if given (root otherwise). */
export async function probe(ns: Netns, req: ProbeRequest, uid?: number): Promise<ProbeResult> {
  const node = [process.execPath, '--input-type=module', '-e', PROBE];
  const [cmd, ...args] = uid === undefined ? node : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...node];
  const limit = 'timeoutMs' in req ? req.timeoutMs : 5_000;
  const r = await ns.exec(cmd as string, args, { env: { ...process.env, SPLICE_PROBE: JSON.stringify(req) }, timeoutMs: limit + 5_000 });
  if (r.code !== 0) throw new Error(`probe ${JSON.stringify(req.kind)} failed (${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as ProbeResult;
}
