// Open-loop load at a fixed rate, for latency. Request i is due at start + i/rate,
// whatever happened to the requests before it, and its latency is measured from that
// due time to the last byte of its answer. A closed-loop generator (each connection
// waits for its answer before sending the next) sends fewer requests while the server
// stalls, so the stall shows up in one latency instead of in every request that should
// have been sent during it (coordinated omission); here each of those requests is late
// from its own due time, and the percentiles say so.
//
//   node dist/bench/http/openloop.js --origin https://127.0.0.1:P --ca CA.pem \
//     --bodies BODIES.json --rate 1000 --seconds 30 [--warmup 5] [--sockets 64]
//
// BODIES.json is a JSON array of request bodies, sent in turn. Prints one JSON object
// on stdout: counts and latency percentiles in milliseconds.

import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    origin: { type: 'string' },
    ca: { type: 'string' },
    bodies: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '0' },
    sockets: { type: 'string', default: '64' },
  },
  strict: true,
});
if (values.origin === undefined || values.ca === undefined || values.bodies === undefined) {
  process.stderr.write('usage: openloop --origin URL --ca FILE --bodies FILE [--rate N] [--seconds S] [--warmup S] [--sockets N]\n');
  process.exit(2);
}
const origin = new URL(values.origin);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
const bodies = (JSON.parse(readFileSync(values.bodies, 'utf8')) as string[]).map((b) => Buffer.from(b));
if (bodies.length === 0 || !(rate > 0) || !(seconds > 0)) throw new Error('need bodies, a positive rate and a positive duration');

// Enough sockets that a slow answer does not hold up the requests due after it: at
// 1,000 req/s, 64 sockets cover a 64 ms stall before requests queue in the agent (and
// a queued request is still timed from its due time). They are all opened before the
// warm-up and used in turn (fifo), so none sits idle long enough to be closed: a
// socket opened during the measurement would put TLS handshakes (about a millisecond
// of CPU each, on both sides) into the very stall that made the agent open it.
const sockets = Number(values.sockets);
const agent = new https.Agent({ keepAlive: true, maxSockets: sockets, scheduling: 'fifo', ca: readFileSync(values.ca, 'utf8') });
const seenSockets = new WeakSet<object>();

interface Phase {
  count: number;
  latencies: Float64Array;
  done: number;
  errors: number;
  non2xx: number;
  /** How late the generator itself sent requests (its own event loop), worst case. */
  worstSendLagMs: number;
  /** When request i was due: start + i * interval. */
  start: number;
  interval: number;
  /** Connections (and TLS handshakes) the agent had to open during the phase. */
  socketsOpened: number;
}

function send(phase: Phase, i: number, due: number): void {
  const body = bodies[i % bodies.length] as Buffer;
  const lag = performance.now() - due;
  if (lag > phase.worstSendLagMs) phase.worstSendLagMs = lag;
  const finish = (ok: boolean, status: number) => {
    phase.latencies[i] = performance.now() - due;
    if (!ok) phase.errors++;
    else if (status < 200 || status > 299) phase.non2xx++;
    phase.done++;
  };
  const req = https.request(
    {
      agent,
      method: 'POST',
      hostname: origin.hostname,
      port: origin.port,
      path: '/inject',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
    },
    (res) => {
      res.on('data', () => undefined);
      res.on('end', () => finish(true, res.statusCode ?? 0));
      res.on('error', () => finish(false, 0));
    },
  );
  req.on('socket', (socket) => {
    if (seenSockets.has(socket)) return;
    seenSockets.add(socket);
    phase.socketsOpened++;
  });
  req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  req.on('error', () => finish(false, 0));
  req.end(body);
}

/** Sends `count` requests at `rate`, resolves when all are answered or failed (or the deadline passes). */
function run(count: number): Promise<Phase> {
  const interval = 1000 / rate;
  const start = performance.now() + 20;
  const phase: Phase = { count, latencies: new Float64Array(count).fill(Number.NaN), done: 0, errors: 0, non2xx: 0, worstSendLagMs: 0, start, interval, socketsOpened: 0 };
  let next = 0;
  return new Promise((resolve) => {
    const deadline = setTimeout(() => resolve(phase), (count / rate) * 1000 + 15_000);
    const pump = () => {
      const now = performance.now();
      // Everything already due goes out now; each is still timed from its own due time.
      while (next < count && start + next * interval <= now) {
        send(phase, next, start + next * interval);
        next++;
      }
      if (next < count) setTimeout(pump, Math.max(0, start + next * interval - performance.now()));
    };
    const poll = setInterval(() => {
      if (phase.done === count) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve(phase);
      }
    }, 20);
    pump();
  });
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

// Every socket at once: the agent opens all of them, handshakes included, now.
await new Promise<void>((resolve) => {
  const opening: Phase = { count: sockets, latencies: new Float64Array(sockets), done: 0, errors: 0, non2xx: 0, worstSendLagMs: 0, start: 0, interval: 0, socketsOpened: 0 };
  for (let i = 0; i < sockets; i++) send(opening, i, performance.now());
  const poll = setInterval(() => {
    if (opening.done === sockets) {
      clearInterval(poll);
      resolve();
    }
  }, 10);
});
if (warmupSeconds > 0) await run(Math.round(rate * warmupSeconds));
const measured = await run(Math.round(rate * seconds));
// A request never answered by the deadline counts as late as the deadline: dropping it
// would hide exactly the stall this generator exists to show.
const unanswered = measured.count - measured.done;
const end = performance.now();
const latencies = measured.latencies.map((v, i) => (Number.isNaN(v) ? end - (measured.start + i * measured.interval) : v)).sort();
const round3 = (v: number) => Math.round(v * 1000) / 1000;
process.stdout.write(
  `${JSON.stringify({
    rate,
    seconds,
    sent: measured.count,
    answered: measured.done - measured.errors,
    errors: measured.errors,
    non2xx: measured.non2xx,
    unanswered,
    worstSendLagMs: round3(measured.worstSendLagMs),
    socketsOpened: measured.socketsOpened,
    p50: round3(percentile(latencies, 0.5)),
    p90: round3(percentile(latencies, 0.9)),
    p99: round3(percentile(latencies, 0.99)),
    p999: round3(percentile(latencies, 0.999)),
    max: round3(latencies[latencies.length - 1] ?? Number.NaN),
  })}\n`,
  // Requests still open past the deadline would keep the process alive.
  () => process.exit(0),
);
agent.destroy();
