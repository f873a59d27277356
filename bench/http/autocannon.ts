// Closed-loop load with the autocannon CLI, in its own process on the load core:
// `--connections` keep-alive HTTPS connections, each sending its next request as soon
// as the previous answer arrives. The bodies of the mix go in as a HAR file, the one
// way the CLI cycles through several request bodies (each connection walks the list
// in order).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTOCANNON_BIN } from '../lib/paths.js';
import { LOAD_CORE, sampleCpu, start } from '../lib/proc.js';

let scratch: string | undefined;
function scratchDir(): string {
  if (scratch === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'splice-bench-'));
    scratch = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return scratch;
}

/** Writes `bodies` as POSTs to `origin`/inject in a HAR file; returns its path. */
export function writeHar(origin: string, bodies: readonly string[]): string {
  const entries = bodies.map((text) => ({
    request: {
      method: 'POST',
      url: `${origin}/inject`,
      headers: [{ name: 'content-type', value: 'application/json' }],
      postData: { mimeType: 'application/json', text },
    },
  }));
  const file = join(scratchDir(), `${origin.replace(/\W+/g, '-')}.har`);
  writeFileSync(file, JSON.stringify({ log: { version: '1.2', creator: { name: 'splice-bench', version: '1' }, entries } }));
  return file;
}

/** Writes `bodies` as a JSON array (for the open-loop generator); returns its path. */
export function writeBodies(name: string, bodies: readonly string[]): string {
  const file = join(scratchDir(), `${name}.json`);
  writeFileSync(file, JSON.stringify(bodies));
  return file;
}

export interface LoadResult {
  /** Answers with a 2xx status. */
  ok: number;
  /** Errors, timeouts and non-2xx answers: any of them makes the run suspect. */
  failed: number;
  seconds: number;
  perSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** CPU the load generator used, as a share of its one core (near 1: it may be the bottleneck). */
  loadCpuShare: number;
  loadCpuSeconds: number;
}

interface AutocannonJson {
  duration?: number;
  errors?: number;
  timeouts?: number;
  non2xx?: number;
  '2xx'?: number;
  latency?: { p50?: number; p99?: number };
}

export async function autocannon(o: { origin: string; har: string; connections: number; seconds?: number; amount?: number }): Promise<LoadResult> {
  const args = [AUTOCANNON_BIN, o.origin, '--har', o.har, '--connections', String(o.connections), '--json', '--no-progress', '--timeout', '10'];
  if (o.amount !== undefined) args.push('--amount', String(o.amount));
  else args.push('--duration', String(o.seconds ?? 10));
  // The guard for a run that does not end by itself: a duration run gets twice its
  // length; an amount run enough for 400 req/s, far below anything splice does.
  const timeoutMs = o.amount !== undefined ? 30_000 + (o.amount / 400) * 1000 : 30_000 + 2 * (o.seconds ?? 10) * 1000;

  const child = start(LOAD_CORE, process.execPath, args);
  let out = '';
  child.process.stdout?.setEncoding('utf8');
  child.process.stdout?.on('data', (chunk: string) => (out += chunk));
  const sampler = sampleCpu(child.pid);
  const killer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
  const code = await child.exited;
  const cpu = sampler.stop();
  clearTimeout(killer);
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (code !== 0 || line === undefined) throw new Error(`autocannon exited with ${code ?? 'a signal'}: ${child.stderr().slice(-2000)}`);
  const r = JSON.parse(line) as AutocannonJson;
  const seconds = r.duration ?? Number.NaN;
  const ok = r['2xx'] ?? 0;
  return {
    ok,
    failed: (r.errors ?? 0) + (r.timeouts ?? 0) + (r.non2xx ?? 0),
    seconds,
    perSecond: ok / seconds,
    latencyP50Ms: r.latency?.p50 ?? Number.NaN,
    latencyP99Ms: r.latency?.p99 ?? Number.NaN,
    loadCpuShare: cpu / seconds,
    loadCpuSeconds: cpu,
  };
}
