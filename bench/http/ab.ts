// Two builds of splice under the same load, in alternating rounds: what one change to the
// webhook's per-request work is worth, read as the ratio of adjacent rounds (the machine's
// noise lands on both). Not a section of `npm run bench`: a tool for deciding whether a
// change stays.
//
//   git worktree add /tmp/splice-base <commit> && (cd /tmp/splice-base && npm ci)
//   node dist/bench/http/ab.js --base /tmp/splice-base/bin/splice.js [--rounds 8] [--seconds 4]
//
// "new" is this checkout's bin/splice.js. Prints each round and the median of new / base.
import { parseArgs } from 'node:util';
import { median } from '../lib/stats.js';
import { reviewBodies } from '../pods.js';
import { autocannon, writeHar } from './autocannon.js';
import { cpuSeconds } from '../lib/proc.js';
import { SPLICE_BIN } from '../lib/paths.js';
import { startSplice, type Server } from './servers.js';

const { values } = parseArgs({ options: { base: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' } }, strict: true });
if (!values.base) throw new Error('--base PATH (the bin/splice.js of the build to compare with) is required');
const rounds = Number(values.rounds ?? '8');
const seconds = Number(values.seconds ?? '4');
const connections = Number(values.connections ?? '10');

const bodies = reviewBodies();
const servers: Array<[string, Server]> = [
  ['base', await startSplice([], values.base)],
  ['new', await startSplice([], SPLICE_BIN)],
];
try {
  const hars = new Map(servers.map(([name, s]) => [name, writeHar(s.origin, bodies)]));
  const rates: Record<string, number[]> = { base: [], new: [] };
  const cpuPerRequestUs: Record<string, number[]> = { base: [], new: [] };
  for (const [name, s] of servers) await autocannon({ origin: s.origin, har: hars.get(name) ?? '', connections, seconds: 2 });
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so neither always follows the other.
    const order = r % 2 === 0 ? servers : [...servers].reverse();
    for (const [name, s] of order) {
      const cpu0 = cpuSeconds(s.pid);
      const res = await autocannon({ origin: s.origin, har: hars.get(name) ?? '', connections, seconds });
      const cpu = cpuSeconds(s.pid) - cpu0;
      rates[name]?.push(res.perSecond);
      cpuPerRequestUs[name]?.push((cpu / (res.perSecond * res.seconds)) * 1e6);
      process.stdout.write(`round ${r + 1} ${name}: ${Math.round(res.perSecond)} req/s, ${Math.round((cpu / (res.perSecond * res.seconds)) * 1e6)} µs CPU a request${res.failed ? `, ${res.failed} FAILED` : ''}\n`);
    }
  }
  const ratios = (rates.new ?? []).map((n, i) => n / (rates.base?.[i] ?? Number.NaN));
  const cpuRatios = (cpuPerRequestUs.new ?? []).map((n, i) => n / (cpuPerRequestUs.base?.[i] ?? Number.NaN));
  process.stdout.write(
    `new / base throughput: median ${median(ratios).toFixed(3)} (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')})\n` +
      `new / base CPU a request: median ${median(cpuRatios).toFixed(3)} (base ${Math.round(median(cpuPerRequestUs.base ?? []))} µs, new ${Math.round(median(cpuPerRequestUs.new ?? []))} µs)\n`,
  );
} finally {
  for (const [, s] of servers) await s.stop();
}
