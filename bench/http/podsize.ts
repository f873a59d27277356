// Section 3: how one review's latency grows with the pod. One HTTPS round trip at a
// time to `splice serve --local` (keep-alive, so no handshake in the figure), median
// of many after a warm-up, for pods with more and more env vars and containers. The
// engine alone (`injectPod` in this process) is timed on the same pods, which tells
// whether growth comes from the engine or from the transport (parsing, logging,
// serialising the answer); the ceiling server on the 2,000-env-var pod tells how much
// of the target Node itself spends on receiving and parsing such a body here.

import { performance } from 'node:perf_hooks';
import { DEFAULT_CONFIG } from '../../src/inject/config.js';
import { injectPod } from '../../src/inject/engine.js';
import type { JsonObject } from '../../src/inject/types.js';
import type { Figure } from '../lib/figure.js';
import { size } from '../lib/options.js';
import { median, quantile, round } from '../lib/stats.js';
import { reviewBody, sizedPod } from '../pods.js';
import { expectPatched, keepAliveAgent, postReview } from './client.js';
import { cpuSeconds, foreignLoad, foreignNote } from '../lib/proc.js';
import { startCeiling, startSplice, type Server } from './servers.js';

const ENV_COUNTS = [10, 100, 1000, 2000, 5000] as const;
const CONTAINER_COUNTS = [1, 10, 50] as const;
const TARGET_2000_MS = 5;
const TARGET_LINEAR = 10;

interface Sample {
  label: string;
  bytes: number;
  medianMs: number;
  p90Ms: number;
  engineMs: number;
  samples: number;
}

function engineMedian(pod: JsonObject, count: number): number {
  const input = { pod, namespace: { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} }, cluster: {}, config: DEFAULT_CONFIG };
  for (let i = 0; i < Math.min(count, 20); i++) injectPod(input);
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    injectPod(input);
    times.push(performance.now() - t);
  }
  return median(times);
}

export async function podSize(): Promise<Figure[]> {
  const warmup = size(30, 5);
  const wanted = size(200, 20);
  // A pod whose reviews are slow gets fewer samples rather than an unbounded run.
  const budgetMs = size(6000, 1500);
  const minimum = 15;
  const splice = await startSplice();
  const agent = keepAliveAgent(splice.ca);
  try {
    const measure = async (label: string, pod: JsonObject, server: Server = splice, via = agent): Promise<Sample> => {
      const body = Buffer.from(reviewBody(pod));
      await expectPatched(via, server.origin, body, label);
      for (let i = 0; i < warmup; i++) await postReview(via, server.origin, body);
      const times: number[] = [];
      const started = performance.now();
      while (times.length < wanted && (times.length < minimum || performance.now() - started < budgetMs)) {
        const reply = await postReview(via, server.origin, body);
        if (reply.status !== 200) throw new Error(`${label}: HTTP ${reply.status}`);
        times.push(reply.ms);
      }
      return { label, bytes: body.length, medianMs: median(times), p90Ms: quantile(times, 0.9), engineMs: engineMedian(pod, times.length), samples: times.length };
    };
    const foreign = foreignLoad();
    const serverBefore = cpuSeconds(splice.pid);
    const envs = new Map<number, Sample>();
    for (const n of ENV_COUNTS) envs.set(n, await measure(`${n.toLocaleString('en-US')} env vars`, sizedPod({ envVars: n })));
    const containers: Sample[] = [];
    for (const n of CONTAINER_COUNTS) containers.push(await measure(`${n} container${n === 1 ? '' : 's'}`, sizedPod({ containers: n })));
    const others = foreign.end(cpuSeconds(splice.pid) - serverBefore);
    const ceiling = await startCeiling();
    const ceilingAgent = keepAliveAgent(ceiling.ca);
    let reference: Sample;
    try {
      reference = await measure('2,000 env vars', sizedPod({ envVars: 2000 }), ceiling, ceilingAgent);
    } finally {
      ceilingAgent.destroy();
      await ceiling.stop();
    }

    const figure = (s: Sample): Figure => ({
      section: 'pod size',
      name: `review, ${s.label}`,
      value: round(s.medianMs, 3),
      unit: 'ms',
      detail: `${(s.bytes / 1024).toFixed(1)} KiB body; median of ${s.samples} round trips (p90 ${s.p90Ms.toFixed(3)} ms); engine alone ${s.engineMs.toFixed(3)} ms`,
    });
    const figures: Figure[] = [];
    for (const [n, s] of envs) {
      const f = figure(s);
      if (n === 2000) Object.assign(f, { target: `≤ ${TARGET_2000_MS} ms`, met: s.medianMs <= TARGET_2000_MS });
      figures.push(f);
    }
    const marginal = (from: number, to: number): string => {
      const a = envs.get(from);
      const b = envs.get(to);
      return a && b ? (((b.medianMs - a.medianMs) / (to - from)) * 1000).toFixed(2) : '?';
    };
    const big = envs.get(5000);
    const small = envs.get(100);
    if (big && small) {
      const growth = big.medianMs / small.medianMs;
      figures.push({
        section: 'pod size',
        name: '5,000 / 100 env vars',
        value: round(growth, 2),
        unit: '×',
        target: `≤ ${TARGET_LINEAR}× (linear)`,
        met: growth <= TARGET_LINEAR,
        detail:
          `the body grows ${(big.bytes / small.bytes).toFixed(1)}× in bytes; the engine alone grows ${(big.engineMs / small.engineMs).toFixed(1)}×; ` +
          `cost per 1,000 more env vars: ${marginal(1000, 2000)} ms from 1,000 to 2,000, ${marginal(2000, 5000)} ms from 2,000 to 5,000 (linear when these agree, quadratic when the second is well above the first); over all splice pods ${foreignNote(others)}`,
      });
    }
    for (const s of containers) figures.push(figure(s));
    figures.push({
      section: 'pod size',
      name: 'ceiling, 2,000 env vars',
      value: round(reference.medianMs, 3),
      unit: 'ms',
      detail: `the throughput section's bare fastify server (parses the body, answers a constant patch); median of ${reference.samples} round trips (p90 ${reference.p90Ms.toFixed(3)} ms)`,
    });
    return figures;
  } finally {
    agent.destroy();
    await splice.stop();
  }
}
