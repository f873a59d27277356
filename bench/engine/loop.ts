// The engine alone, no HTTP: `injectPod` called in a loop for a fixed time on one pod
// already parsed, as the webhook hands it over. For profiling the engine in isolation:
//
//   node --cpu-prof dist/bench/engine/loop.js --seconds 10 [--pod typical|mix]
//
// Prints one JSON object on stdout: reviews done, seconds, reviews per second.

import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG } from '../../src/inject/config.js';
import { injectPod, type InjectInput } from '../../src/inject/engine.js';
import { podMix, typicalPod } from '../pods.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, warmup: { type: 'string', default: '2' }, pod: { type: 'string', default: 'typical' } },
  strict: true,
});
const pods = values.pod === 'mix' ? podMix().map((p) => p.pod) : [typicalPod()];
const inputs: InjectInput[] = pods.map((pod) => ({
  pod,
  namespace: { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} },
  cluster: {},
  config: DEFAULT_CONFIG,
}));
for (const input of inputs) {
  const d = injectPod(input);
  if (d.result !== 'inject') throw new Error(`a benchmark pod was not injected: ${d.result} ${JSON.stringify(d.reasons)}`);
}

// Something must consume each result, or the optimiser could drop work.
let ops = 0;
function loop(ms: number): { count: number; ms: number } {
  const started = performance.now();
  let count = 0;
  let now = started;
  while (now - started < ms) {
    // Checking the clock every call would be a measurable share of a ~50 µs review.
    for (let i = 0; i < 64; i++) {
      const d = injectPod(inputs[count % inputs.length] as InjectInput);
      if (d.result === 'inject') ops += d.patch.length;
      count++;
    }
    now = performance.now();
  }
  return { count, ms: now - started };
}

loop(Number(values.warmup) * 1000);
const { count, ms } = loop(Number(values.seconds) * 1000);
process.stdout.write(
  `${JSON.stringify({ pod: values.pod, reviews: count, seconds: ms / 1000, perSecond: count / (ms / 1000), usPerReview: (ms * 1000) / count, patchOps: ops > 0 })}\n`,
);
