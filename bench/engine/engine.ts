// Section 5: the engine alone, on one core (bench/engine/loop.ts in a child process
// pinned like the servers): what splice could answer if HTTP, TLS and logging cost
// nothing. Informative, the starting point for profiling the engine.

import { DEFAULT_CONFIG } from '../../src/inject/config.js';
import { renderBootstrap } from '../../src/inject/bootstrap.js';
import { parseBootstrapInput } from '../../src/inject/bootstrap-input.js';
import { injectPod } from '../../src/inject/engine.js';
import type { Figure } from '../lib/figure.js';
import { typicalPod } from '../pods.js';
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

/**
 * What an injected pod weighs: every pod is stored in etcd and sent to every pod watcher
 * (kubelets, controllers), so splice's additions are paid across the cluster, at every
 * replica. The typical pod as JSON, before and after, and the patch that makes one of the
 * other (the answer's largest part).
 */
function injectedSize(): Figure[] {
  const pod = typicalPod();
  const decision = injectPod({ pod, namespace: { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} }, cluster: {}, config: DEFAULT_CONFIG });
  if (decision.result !== 'inject') throw new Error(`the typical pod was not injected: ${decision.result}`);
  const input = JSON.stringify(pod).length;
  const injectedJson = JSON.stringify(decision.pod);
  const injected = injectedJson.length;
  const patch = JSON.stringify(decision.patch).length;
  // The bootstrap's input as it travels in splice-init's args, and the bootstrap it renders in the pod.
  const inputText = JSON.parse(injectedJson.match(/"--bootstrap-input",("(?:[^"\\]|\\.)*")/)?.[1] ?? '""') as string;
  const rendered = inputText === '' ? 0 : JSON.stringify(renderBootstrap(parseBootstrapInput(inputText.replace('$(POD_IP)', '10.0.0.1')))).length;
  return [
    {
      section: 'engine',
      name: 'typical pod injected, as JSON',
      value: injected,
      unit: 'bytes',
      detail: `the input is ${input.toLocaleString('en-US')} bytes: ${(injected / input).toFixed(2)}× (+${(injected - input).toLocaleString('en-US')}); the JSON Patch ${patch.toLocaleString('en-US')} bytes. The Envoy bootstrap travels as its input, ${inputText.length.toLocaleString('en-US')} bytes in splice-init's args, which splice-init renders into the ${rendered.toLocaleString('en-US')}-byte file the proxy reads (a memory volume of the pod, never stored in etcd)`,
    },
  ];
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
    ...injectedSize(),
    {
      section: 'engine',
      name: 'injectPod, typical pod, one core',
      value: Math.round(r.perSecond),
      unit: 'reviews/s',
      detail: `${r.reviews.toLocaleString('en-US')} reviews in ${r.seconds.toFixed(1)} s after ${warmup} s of warm-up: ${round(r.usPerReview, 1)} µs each; ${foreignNote(others)}; profile with node --cpu-prof dist/bench/engine/loop.js`,
    },
  ];
}
