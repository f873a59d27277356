// `npm run bench`: every section in turn, then one table of figures against their
// targets and the same as JSON in bench/results/<date>.json. Targets are shown, never
// enforced: this is a measurement, not a test (CI does not run it).
//
//   SPLICE_BENCH_SKIP=cluster,memory   skip sections (ids below)
//   SPLICE_BENCH_QUICK=1               short rounds and small counts, to try the benchmark itself
//   SPLICE_BENCH_PROFILE=DIR           run every splice under --cpu-prof, profiles into DIR
//   npm run bench -- --node            only the burst through the splice Service, with splice
//                                      as pods on the real node (test/node/; root, ~5 minutes
//                                      more when the node's images must be rebuilt)
//
// Sections run one after the other: on two cores, one load at a time is already one
// core for the server and one for the load. The one exception is two memory figures
// that CPU contention cannot move (see STEPS).

import { performance } from 'node:perf_hooks';
import { discovery } from './discovery/discovery.js';
import { engine } from './engine/engine.js';
import { latency } from './http/latency.js';
import { memory } from './http/memory.js';
import { podSize } from './http/podsize.js';
import { throughput } from './http/throughput.js';
import type { Figure } from './lib/figure.js';
import { QUICK, skippedSections } from './lib/options.js';
import { pinningNote } from './lib/proc.js';
import { machine, machineLine, table, writeResults } from './lib/report.js';

interface Section {
  /** What SPLICE_BENCH_SKIP names. */
  id: string;
  title: string;
  run: () => Promise<Figure[]>;
}

// A step is one section, or sections that run side by side. Only figures that no
// amount of CPU contention can move share a step: the soak reports RSS growth and the
// namespace cache its RSS, both read from idle processes after a forced GC, so the
// namespace cache's API server can fill while the soak runs (the soak's req/s, printed
// as a detail only, is then lower, and its detail says how busy the machine was).
// This keeps the whole run inside its 10-minute budget.
type Step = Section | Section[];

const STEPS: Step[] = [
  { id: 'throughput', title: 'throughput: splice next to the ceiling', run: throughput },
  { id: 'latency', title: 'latency at 1,000 req/s, open loop', run: latency },
  { id: 'podsize', title: 'pod size scaling', run: podSize },
  { id: 'engine', title: 'the engine alone', run: engine },
  { id: 'discovery', title: 'service discovery at 1,000 Services (real Envoy)', run: discovery },
  // The cluster sections (bench/cluster/, against a real API server) are loaded only
  // when they run, so skipping them never starts anything of theirs.
  [
    { id: 'memory', title: 'memory over 1,000,000 reviews', run: memory },
    { id: 'cluster', title: 'RSS with 10,000 namespaces cached (real API server)', run: async () => (await import('./cluster/memory.js')).namespaceMemory() },
  ],
  { id: 'cluster', title: '1,000-replica burst (real control plane)', run: async () => (await import('./cluster/burst.js')).burst() },
];
// `--node`: the Service-backed burst alone, on the real node (its own budget: the node
// takes minutes to build and start, which the 10-minute run cannot spare).
const NODE_STEPS: Step[] = [{ id: 'node', title: '1,000-replica burst through the splice Service (real node)', run: async () => (await import('./cluster/node-run.js')).nodeBurstOnNode() }];
const onNode = process.argv.slice(2).includes('--node');
const steps = onNode ? NODE_STEPS : STEPS;
const SECTIONS: Section[] = steps.flat();

const now = new Date();
const m = machine(now);
const skipped = skippedSections();
// `cluster` is always a valid id, so scripts that skip it keep working whether or not
// the cluster sections are in the list yet.
const ids = new Set([...SECTIONS.map((s) => s.id), 'cluster']);
const unknown = [...skipped].filter((id) => !ids.has(id));
if (unknown.length > 0) process.stderr.write(`SPLICE_BENCH_SKIP: no section ${unknown.join(', ')} (sections: ${[...ids].join(', ')})\n`);

process.stdout.write(`splice benchmark${QUICK ? ' (SPLICE_BENCH_QUICK: short runs, numbers are a smoke test only)' : ''}\n${machineLine(m)}; ${pinningNote()}\n\n`);

const figures: Figure[] = [];
const errors: Array<{ section: string; error: string }> = [];
const timings: Record<string, number> = {};
const started = performance.now();
async function runSection(section: Section): Promise<string> {
  const t = performance.now();
  let line: string;
  try {
    figures.push(...(await section.run()));
    line = `${((performance.now() - t) / 1000).toFixed(0)} s`;
  } catch (e) {
    // One broken section must not cost the figures of the others.
    const error = e instanceof Error ? e.message : String(e);
    errors.push({ section: section.id, error });
    line = `FAILED after ${((performance.now() - t) / 1000).toFixed(0)} s: ${error}`;
  }
  timings[section.title] = Math.round((performance.now() - t) / 100) / 10;
  return line;
}

for (const step of steps) {
  const sections = [step].flat();
  for (const s of sections.filter((s) => skipped.has(s.id))) process.stdout.write(`- ${s.title}: skipped\n`);
  const running = sections.filter((s) => !skipped.has(s.id));
  if (running.length === 1 && running[0]) {
    process.stdout.write(`- ${running[0].title} …`);
    process.stdout.write(` ${await runSection(running[0])}\n`);
  } else if (running.length > 1) {
    process.stdout.write(`- side by side: ${running.map((s) => s.title).join('; ')} …\n`);
    const lines = await Promise.all(running.map(runSection));
    running.forEach((s, i) => process.stdout.write(`  - ${s.title}: ${lines[i]}\n`));
  }
}
const totalSeconds = Math.round((performance.now() - started) / 100) / 10;

process.stdout.write(`\n${table(figures, errors)}\n\n`);
const missed = figures.filter((f) => f.met === false).length;
const targets = figures.filter((f) => f.met !== undefined).length;
process.stdout.write(`${targets - missed} of ${targets} targets met; ${totalSeconds.toFixed(0)} s in all\n`);
const file = writeResults({ machine: m, quick: QUICK, skipped: [...skipped], figures, errors, sectionSeconds: timings, totalSeconds }, now);
process.stdout.write(`written to ${file}\n`);
// Exit code 0 even when targets are missed: the numbers are the result.
process.exitCode = errors.length > 0 ? 1 : 0;
