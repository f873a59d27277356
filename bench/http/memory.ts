// Section 4 (memory, part 2): does splice keep anything per review? RSS of
// `splice serve --local` after a warm-up, then after a million reviews of the mix,
// each read from /proc/<pid>/status once the process has collected its garbage (forced
// through bench/http/settle.ts) and been left alone for a few seconds.
// Part 1, RSS with 10,000 namespaces cached, is bench/cluster/memory.ts.

import type { Figure } from '../lib/figure.js';
import { size } from '../lib/options.js';
import { compiled } from '../lib/paths.js';
import { cpuSeconds, foreignLoad, foreignNote, pinningNote, rssBytes, sleep } from '../lib/proc.js';
import { round } from '../lib/stats.js';
import { reviewBodies } from '../pods.js';
import { autocannon, writeHar } from './autocannon.js';
import { metric, startSplice, type Server } from './servers.js';

const TARGET_GROWTH_MB = 10;
const MB = 1024 * 1024;

async function settled(server: Server, ms: number): Promise<{ rss: number; heapUsed: number | undefined }> {
  process.kill(server.pid, 'SIGUSR2');
  await sleep(ms);
  return { rss: rssBytes(server.pid), heapUsed: await metric(server, 'splice_nodejs_heap_size_used_bytes') };
}

export async function memory(): Promise<Figure[]> {
  const reviews = size(1_000_000, 30_000);
  const warmup = size(10_000, 3_000);
  const settleMs = size(5_000, 2_000);
  const splice = await startSplice(['--expose-gc', '--import', compiled('http/settle.js')]);
  try {
    const har = writeHar(splice.origin, reviewBodies());
    const warm = await autocannon({ origin: splice.origin, har, connections: 10, amount: warmup });
    const before = await settled(splice, settleMs);
    const foreign = foreignLoad();
    const serverBefore = cpuSeconds(splice.pid);
    const run = await autocannon({ origin: splice.origin, har, connections: 10, amount: reviews });
    const others = foreign.end(cpuSeconds(splice.pid) - serverBefore + run.loadCpuSeconds);
    const after = await settled(splice, settleMs);
    const growth = (after.rss - before.rss) / MB;
    const heap = (v: number | undefined) => (v === undefined ? '?' : `${(v / MB).toFixed(1)} MB`);
    const failed = warm.failed + run.failed;
    return [
      {
        section: 'memory',
        name: 'RSS after warm-up',
        value: round(before.rss / MB, 1),
        unit: 'MB',
        detail: `${warmup.toLocaleString('en-US')} reviews of warm-up, then a forced full GC and ${settleMs / 1000} s idle; V8 heap used ${heap(before.heapUsed)}`,
      },
      {
        section: 'memory',
        name: `RSS after ${reviews.toLocaleString('en-US')} more reviews`,
        value: round(after.rss / MB, 1),
        unit: 'MB',
        detail: `${run.ok.toLocaleString('en-US')} answered in ${run.seconds.toFixed(0)} s (${Math.round(run.perSecond)} req/s, 10 connections; ${foreignNote(others)}; not a throughput figure: the namespace-cache section runs beside the soak, see bench/run.ts), then a forced full GC and ${settleMs / 1000} s idle; V8 heap used ${heap(after.heapUsed)}`,
      },
      {
        section: 'memory',
        name: `RSS growth over ${reviews.toLocaleString('en-US')} reviews`,
        value: round(growth, 1),
        unit: 'MB',
        target: `≤ ${TARGET_GROWTH_MB} MB`,
        met: growth <= TARGET_GROWTH_MB && failed === 0,
        detail: `VmRSS of the splice process; ${pinningNote()}${failed > 0 ? `; ${failed} requests FAILED` : ''}`,
      },
    ];
  } finally {
    await splice.stop();
  }
}
