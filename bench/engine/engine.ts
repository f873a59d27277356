// Section 5: the engine alone, on one core (bench/engine/loop.ts in a child process
// pinned like the servers): what splice could answer if HTTP, TLS and logging cost
// nothing. Informative, the starting point for profiling the engine.

import type { Figure } from '../lib/figure.js';
import { size } from '../lib/options.js';
import { compiled } from '../lib/paths.js';
import { foreignLoad, foreignNote, runJson, SERVER_CORE } from '../lib/proc.js';
import { round } from '../lib/stats.js';

interface LoopResult {
  reviews: number;
  seconds: number;
  perSecond: number;
  usPerReview: number;
}

export async function engine(): Promise<Figure[]> {
  const seconds = size(5, 1);
  const warmup = size(2, 1);
  const foreign = foreignLoad();
  const run = await runJson(
    SERVER_CORE,
    process.execPath,
    [compiled('engine/loop.js'), '--seconds', String(seconds), '--warmup', String(warmup), '--pod', 'typical'],
    (seconds + warmup) * 1000 + 60_000,
  );
  const others = foreign.end(run.cpuSeconds);
  const r = run.value as LoopResult;
  return [
    {
      section: 'engine',
      name: 'injectPod, typical pod, one core',
      value: Math.round(r.perSecond),
      unit: 'reviews/s',
      detail: `${r.reviews.toLocaleString('en-US')} reviews in ${r.seconds.toFixed(1)} s after ${warmup} s of warm-up: ${round(r.usPerReview, 1)} µs each; ${foreignNote(others)}; profile with node --cpu-prof dist/bench/engine/loop.js`,
    },
  ];
}
