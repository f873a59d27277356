// Section 2: splice's latency at a fixed 1,000 reviews/s, open loop (bench/http/openloop.ts
// in its own process on the load core): each latency counts from the moment the
// request was due, so a stall in splice shows in every request it delayed.

import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Figure } from '../lib/figure.js';
import { compiled } from '../lib/paths.js';
import { size } from '../lib/options.js';
import { cpuSeconds, foreignLoad, foreignNote, LOAD_CORE, pinningNote, runJson } from '../lib/proc.js';
import { reviewBodies } from '../pods.js';
import { writeBodies } from './autocannon.js';
import { startSplice } from './servers.js';

const RATE = 1000;
const SOCKETS = 64;
const TARGET_P99_MS = 5;

interface OpenLoopResult {
  sent: number;
  answered: number;
  errors: number;
  non2xx: number;
  unanswered: number;
  worstSendLagMs: number;
  socketsOpened: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export async function latency(): Promise<Figure[]> {
  const seconds = size(30, 3);
  const warmup = size(5, 1);
  const bodiesFile = writeBodies('latency-bodies', reviewBodies());
  const splice = await startSplice();
  try {
    const caFile = `${bodiesFile}.ca.pem`;
    writeFileSync(caFile, splice.ca);
    const foreign = foreignLoad();
    const serverBefore = cpuSeconds(splice.pid);
    const started = performance.now();
    const run = await runJson(
      LOAD_CORE,
      process.execPath,
      [compiled('http/openloop.js'), '--origin', splice.origin, '--ca', caFile, '--bodies', bodiesFile, '--rate', String(RATE), '--seconds', String(seconds), '--warmup', String(warmup), '--sockets', String(SOCKETS)],
      (seconds + warmup) * 1000 + 60_000,
    );
    const serverCpu = cpuSeconds(splice.pid) - serverBefore;
    // Over warm-up and measurement alike: how close to saturation 1,000 req/s keeps it.
    const serverShare = serverCpu / ((performance.now() - started) / 1000);
    const others = foreign.end(run.cpuSeconds + serverCpu);
    const r = run.value as OpenLoopResult;
    const trouble = r.errors + r.non2xx + r.unanswered;
    const detail =
      `open loop, ${r.sent} requests due every ${1000 / RATE} ms for ${seconds} s after ${warmup} s of warm-up, latency from each request's due time; ` +
      `p90 ${r.p90} ms, p99.9 ${r.p999} ms; generator's worst send lag ${r.worstSendLagMs} ms; ${r.socketsOpened} connections opened during the measurement (${SOCKETS} opened before the warm-up); splice kept its core ${Math.round(serverShare * 100)}% busy; ${pinningNote()}; ${foreignNote(others)}` +
      (trouble > 0 ? `; ${r.errors} errors, ${r.non2xx} non-2xx, ${r.unanswered} unanswered (counted as late as the deadline)` : '');
    return [
      { section: 'latency', name: `p50 at ${RATE.toLocaleString('en-US')} req/s`, value: r.p50, unit: 'ms', detail },
      { section: 'latency', name: `p99 at ${RATE.toLocaleString('en-US')} req/s`, value: r.p99, unit: 'ms', target: `≤ ${TARGET_P99_MS} ms`, met: r.p99 <= TARGET_P99_MS && trouble === 0 },
      { section: 'latency', name: `max at ${RATE.toLocaleString('en-US')} req/s`, value: r.max, unit: 'ms' },
    ];
  } finally {
    await splice.stop();
  }
}
