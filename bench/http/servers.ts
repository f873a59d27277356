// The two servers under load, each a child process pinned to the server core:
// `splice serve --local` (the real webhook, started as users start it) and the ceiling
// (bench/http/ceiling.ts). Started the same way so the comparison is fair.

import * as http from 'node:http';
import { mkdirSync } from 'node:fs';
import { compiled, SPLICE_BIN } from '../lib/paths.js';
import { freePort, SERVER_CORE, start, waitFor, type Child } from '../lib/proc.js';
import { firstSample } from '../../test/support/metrics.js';

export interface Server {
  name: 'splice' | 'ceiling';
  /** `https://127.0.0.1:port`, without the path. */
  origin: string;
  /** PEM of the certificate that signs (or is) the serving certificate. */
  ca: string;
  pid: number;
  /** splice's plain-HTTP port (/metrics, /readyz). */
  metricsOrigin?: string;
  stop(): Promise<void>;
}

function certificateIn(text: string): string | undefined {
  return /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(text)?.[0];
}

export function httpGet(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

// SPLICE_BENCH_PROFILE=DIR runs every splice and ceiling under --cpu-prof, writing one
// .cpuprofile per server into DIR when it stops (open in Chrome DevTools); comparing
// the two shows what splice adds per request.
function profileArgs(): string[] {
  const dir = process.env.SPLICE_BENCH_PROFILE;
  if (!dir) return [];
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}

async function ready(child: Child, what: string, check: () => Promise<boolean>): Promise<void> {
  await waitFor(
    what,
    async () => {
      if (child.process.exitCode !== null) throw new Error(`${what} exited: ${child.stderr().slice(-2000)}`);
      return (await check()) ? true : undefined;
    },
    20_000,
  ).catch((e: unknown) => {
    void child.stop();
    throw e;
  });
}

/**
 * `splice serve --local` on free ports. Its decision log goes to a pipe this process
 * drains and drops, as a container runtime reads a container's stdout (a pipe, not
 * /dev/null: writing a line there costs what it costs in a pod). `nodeArgs` go to node
 * before the script (e.g. a preload); `bin` is the splice to run.
 */
export async function startSplice(nodeArgs: string[] = [], bin = SPLICE_BIN): Promise<Server> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = start(
    SERVER_CORE,
    process.execPath,
    [...profileArgs(), ...nodeArgs, bin, 'serve', '--local', '--port', String(port), '--metrics-port', String(metricsPort)],
    ['ignore', 'pipe', 'pipe'],
  );
  child.process.stdout?.resume();
  const metricsOrigin = `http://127.0.0.1:${metricsPort}`;
  await ready(child, 'splice serve --local', async () => {
    if (certificateIn(child.stderr()) === undefined) return false;
    return (await httpGet(`${metricsOrigin}/readyz`).catch(() => ({ status: 0 }))).status === 200;
  });
  return {
    name: 'splice',
    origin: `https://127.0.0.1:${port}`,
    ca: certificateIn(child.stderr()) ?? '',
    pid: child.pid,
    metricsOrigin,
    stop: () => child.stop(),
  };
}

/**
 * The ceiling (bench/http/ceiling.ts) on a free port, pinned to the server core unless
 * `unpinned` (the burst, where splice is not pinned either); `extraArgs` go to it. It
 * offers h2 and HTTP/1.1, as splice's webhook server does.
 */
export async function startCeiling(o: { unpinned?: boolean; extraArgs?: string[] } = {}): Promise<Server> {
  const port = await freePort();
  const args = [...profileArgs(), compiled('http/ceiling.js'), '--port', String(port), '--http2', ...(o.extraArgs ?? [])];
  const child = o.unpinned ? start(-1, process.execPath, args, ['ignore', 'pipe', 'pipe'], false) : start(SERVER_CORE, process.execPath, args);
  let out = '';
  child.process.stdout?.setEncoding('utf8');
  child.process.stdout?.on('data', (chunk: string) => (out += chunk));
  await ready(child, 'the ceiling server', async () => out.includes('"listening"') && certificateIn(child.stderr()) !== undefined);
  return {
    name: 'ceiling',
    // Where it says it listens (--host in extraArgs may have moved it off loopback).
    origin: (JSON.parse(out.split('\n').find((l) => l.includes('"listening"')) ?? '{}') as { listening?: string }).listening ?? `https://127.0.0.1:${port}`,
    ca: certificateIn(child.stderr()) ?? '',
    pid: child.pid,
    stop: () => child.stop(),
  };
}

/** A value of one of splice's Prometheus series (the first sample of `name`). */
export async function metric(server: Server, name: string): Promise<number | undefined> {
  if (server.metricsOrigin === undefined) return undefined;
  return firstSample((await httpGet(`${server.metricsOrigin}/metrics`)).text, name);
}
