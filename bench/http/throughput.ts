// Section 1: throughput of splice next to the ceiling (a bare fastify HTTPS server
// answering with a constant patch), under the same closed-loop load of the same
// bodies. Rounds alternate (ceiling, splice, ceiling, splice, …) so that whatever else
// the machine does during the run lands on both; the ratio is taken per pair of
// adjacent rounds, then the median of those.

import type { Figure } from '../lib/figure.js';
import { size } from '../lib/options.js';
import { cpuSeconds, foreignLoad, foreignNote, pinningNote } from '../lib/proc.js';
import { median, round } from '../lib/stats.js';
import { reviewBodies } from '../pods.js';
import { autocannon, writeHar, type LoadResult } from './autocannon.js';
import { expectPatched, keepAliveAgent } from './client.js';
import { startCeiling, startSplice, type Server } from './servers.js';

const TARGET_RATIO = 0.7;
const CONNECTIONS = 10;

interface Round extends LoadResult {
  /** CPU the server used, as a share of its one core. */
  serverCpuShare: number;
  /** CPU anything else on the machine used meanwhile, as a share of one core. */
  foreignShare: number;
}

async function checkAnswers(server: Server, bodies: readonly string[]): Promise<void> {
  const agent = keepAliveAgent(server.ca);
  try {
    for (const [i, body] of bodies.entries()) await expectPatched(agent, server.origin, body, `body ${i} of the mix`);
  } finally {
    agent.destroy();
  }
}

async function load(server: Server, har: string, seconds: number): Promise<Round> {
  const before = cpuSeconds(server.pid);
  const foreign = foreignLoad();
  const result = await autocannon({ origin: server.origin, har, connections: CONNECTIONS, seconds });
  const serverCpu = cpuSeconds(server.pid) - before;
  return { ...result, serverCpuShare: serverCpu / result.seconds, foreignShare: foreign.end(serverCpu + result.loadCpuSeconds) };
}

const pct = (share: number) => `${Math.round(share * 100)}%`;

export async function throughput(): Promise<Figure[]> {
  const rounds = size(4, 2);
  const seconds = size(5, 2);
  const warmupSeconds = size(2, 1);
  const bodies = reviewBodies();
  const servers = [await startCeiling(), await startSplice()] as const;
  try {
    const hars = new Map<Server, string>();
    for (const server of servers) {
      await checkAnswers(server, bodies);
      hars.set(server, writeHar(server.origin, bodies));
      // Unrecorded: JIT, TLS sessions and the servers' pools settle first.
      await load(server, hars.get(server) ?? '', warmupSeconds);
    }
    const results: Record<Server['name'], Round[]> = { ceiling: [], splice: [] };
    for (let r = 0; r < rounds; r++) {
      for (const server of servers) results[server.name].push(await load(server, hars.get(server) ?? '', seconds));
    }

    const ceiling = results.ceiling.map((x) => x.perSecond);
    const splice = results.splice.map((x) => x.perSecond);
    const ratios = splice.map((s, i) => s / (ceiling[i] ?? Number.NaN));
    const ratio = median(ratios);
    const all = [...results.ceiling, ...results.splice];
    const failed = all.reduce((n, x) => n + x.failed, 0);
    const describe = (list: Round[]) =>
      `rounds ${list.map((x) => Math.round(x.perSecond)).join(', ')} req/s; server CPU ${list.map((x) => pct(x.serverCpuShare)).join(', ')}; ` +
      `load generator CPU ${list.map((x) => pct(x.loadCpuShare)).join(', ')}; p99 under this load ${median(list.map((x) => x.latencyP99Ms))} ms`;
    const how =
      `${rounds} alternating rounds of ${seconds} s after ${warmupSeconds} s of warm-up each, autocannon CLI with ${CONNECTIONS} keep-alive HTTPS connections ` +
      `cycling ${bodies.length} AdmissionReviews (${pinningNote()}); in the worst round ${foreignNote(Math.max(...all.map((x) => x.foreignShare)))}` +
      `${failed > 0 ? `; ${failed} requests FAILED (errors, timeouts or non-2xx)` : ''}`;
    return [
      { section: 'throughput', name: 'ceiling (bare fastify HTTPS, constant patch)', value: Math.round(median(ceiling)), unit: 'req/s', detail: describe(results.ceiling) },
      { section: 'throughput', name: 'splice serve --local', value: Math.round(median(splice)), unit: 'req/s', detail: describe(results.splice) },
      {
        section: 'throughput',
        name: 'splice / ceiling',
        value: round(ratio, 3),
        unit: '×',
        target: `≥ ${TARGET_RATIO.toFixed(2)}`,
        met: ratio >= TARGET_RATIO,
        detail: `median of per-round ratios ${ratios.map((x) => x.toFixed(2)).join(', ')}; ${how}`,
      },
    ];
  } finally {
    for (const server of servers) await server.stop();
  }
}
