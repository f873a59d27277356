// The proxy is transparent: the same client and server, with and without splice between
// them, see the same traffic. Each kind of traffic runs on every path a meshed pod has
//
//   mesh → mesh     A's app to B's app: A's proxy, mTLS, B's proxy
//   outside → mesh  D (no proxy) to B's app: B's proxy
//   mesh → outside  A's app to C (no proxy): A's proxy
//
// and on the baseline, D to C, where no proxy is involved at all; the result on every path
// must be the baseline's. Real Envoy, real iptables, network namespaces (mesh.ts). The
// counts and times are printed. Needs root.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ENVOY_VERSION, eventually, type Netns } from './envoy.js';
import { injectPod } from '../../src/inject/engine.js';
import { INJECTED_NAMES, KEYS } from '../../src/inject/keys.js';
import { APP_UID, B_EXCLUDED_INBOUND, IP, IP6, entries, logged, spiffeOf, startMesh, stat, userPod, type LogEntry, type Mesh, type MeshPod } from './mesh.js';
import { ABORT_AFTER_BYTES, ECHO_BODY_BYTES, TRAFFIC_PORTS, traffic, type TrafficOp, type TrafficResult } from './traffic.js';

/** Connections held at once on each path: past Envoy's default circuit breaker of 1,024. */
const CONNECTIONS = 1_500;
/** Half-closing requests per path: a protocol detection reading first lost about half of them. */
const HALF_CLOSE_ROUNDS = 20;
const BANNER_ROUNDS = 5;
/** The most a server-first greeting may take beyond the baseline: far below a detection timeout (1 s). */
const BANNER_SLACK_MS = 250;

interface Path {
  name: string;
  from: Netns;
  /** The meshed pod the client runs in, if any (its proxy logs the outbound side). */
  client?: MeshPod;
  /** The meshed pod the server runs in, if any. */
  server?: MeshPod;
  host: string;
}

function paths(m: Mesh, family: 4 | 6): Path[] {
  const ip = family === 4 ? IP : IP6;
  return [
    { name: 'no proxy (D → C)', from: m.d, host: ip.c },
    { name: 'mesh → mesh (A → B, mTLS)', from: m.a.ns, client: m.a, server: m.b, host: ip.b },
    { name: 'outside → mesh (D → B)', from: m.d, server: m.b, host: ip.b },
    { name: 'mesh → outside (A → C)', from: m.a.ns, client: m.a, host: ip.c },
  ];
}

const print = (line: string) => process.stdout.write(`${line}\n`);
/** An address as the server printed it: IPv4 clients of a dual-stack socket show as ::ffff:a.b.c.d. */
const plain = (text: string) => text.replace(/::ffff:(\d)/g, '$1');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** A field of the proxy process's /proc status (VmRSS, VmHWM), in KiB. */
async function memoryKiB(p: MeshPod, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const pid = p.envoy.child.pid;
  assert.equal((await readFile(`/proc/${pid}/comm`, 'utf8')).trim(), 'envoy', 'the spawned pid is Envoy itself (each wrapper execs the next)');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m?.[1], `${field} of pid ${pid}`);
  return Number(m[1]);
}

const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/**
 * Picks `proxy`'s log entries for a connection of path `p` to `port`. Not by the client's
 * own port: the redirect's NAT may give the connection another source port when the
 * first would clash with a connection tracked before (the kernel's port remapping).
 */
function ofPath(m: Mesh, p: Path, proxy: MeshPod, port: number): (e: LogEntry) => boolean {
  const dest = hostPort(p.host, port);
  const v6 = p.host.includes(':');
  const clientIp = p.from === m.d ? (v6 ? IP6.d : IP.d) : v6 ? IP6.a : IP.a;
  const clientPrefix = v6 ? `[${clientIp}]:` : `${clientIp}:`;
  const fromClient = (e: LogEntry) => String(e.downstream_remote_address).startsWith(clientPrefix);
  if (proxy === p.client) return (e) => e.direction === 'outbound' && e.original_destination === dest && fromClient(e);
  // On the server's side a mesh client arrives as its peer's proxy, known by its identity.
  if (p.client) return (e) => e.direction === 'inbound' && e.original_destination === dest && e.peer_identity === spiffeOf(p.client?.name ?? '');
  return (e) => e.direction === 'inbound' && e.original_destination === dest && fromClient(e);
}

describe(`splice's proxies are transparent: every path against a no-proxy baseline, Envoy ${ENVOY_VERSION}`, () => {
  let mesh: Mesh | undefined;
  const m = (): Mesh => {
    assert.ok(mesh, 'set-up failed');
    return mesh;
  };
  const run = (p: Path, op: TrafficOp, timeoutMs?: number): Promise<TrafficResult> => traffic(p.from, m().trafficClient, APP_UID, p.host, op, timeoutMs);

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the dataplane tests need root (network namespaces, iptables)');
    mesh = await startMesh();
  });

  after(async () => {
    await mesh?.destroy();
  });

  test(`${CONNECTIONS} connections held at once on every path, as many as without a proxy`, async () => {
    const { a, b } = m();
    const rssBefore = await Promise.all([a, b].map((p) => memoryKiB(p, 'VmRSS')));
    let baseline: TrafficResult | undefined;
    for (const p of paths(m(), 4)) {
      const r = await run(p, { op: 'hold', n: CONNECTIONS, holdMs: 2_000 }, 60_000);
      print(`connections, ${p.name}: ${r.held} of ${r.requested} held 2 s (all open after ${Math.round(Number(r.allOpenMs))} ms, failed ${r.failed}, closed early ${r.closedEarly}, errors ${JSON.stringify(r.errors)})`);
      assert.equal(r.error, undefined, `${p.name}: ${JSON.stringify(r)}`);
      baseline ??= r;
      assert.equal(baseline.held, CONNECTIONS, 'the baseline holds them all (else the machine, not the proxy, is the limit)');
      assert.equal(r.held, baseline.held, `${p.name}: ${JSON.stringify(r)}`);
    }
    // What holding them cost each proxy at its peak: the figure the README's sizing uses.
    for (const [i, p] of [a, b].entries()) {
      const peak = await memoryKiB(p, 'VmHWM');
      const before = rssBefore[i] ?? 0;
      print(`connections, pod ${p.name}'s Envoy: ${Math.round(before / 1024)} MiB before, ${Math.round(peak / 1024)} MiB at its peak, ${((peak - before) / CONNECTIONS).toFixed(1)} KiB a connection`);
    }
    for (const [pod, counter] of [
      [a, 'cluster.outbound-mtls.upstream_cx_overflow'],
      [a, 'cluster.outbound-passthrough.upstream_cx_overflow'],
      [b, 'cluster.inbound-passthrough.upstream_cx_overflow'],
    ] as const) {
      assert.equal(await stat(pod, counter), 0, `pod ${pod.name}: ${counter}`);
    }
    assert.ok((await stat(b, 'cluster.inbound-passthrough.upstream_cx_total')) >= 2 * CONNECTIONS, 'B\'s proxy carried both meshed paths\' connections');
  });

  test('IPv6 end to end: mTLS between meshed pods, passthrough in and out, original destinations kept', async () => {
    const { a, b } = m();
    for (const p of paths(m(), 6)) {
      const r = await run(p, { op: 'echo' });
      print(`IPv6, ${p.name}: ${r.header}, body ${r.bodyBytes} bytes intact ${r.bodyIntact}, ended ${r.end}`);
      assert.equal(r.bodyIntact, true, `${p.name}: ${JSON.stringify(r)}`);
      assert.equal(r.end, 'FIN', p.name);
      // Through B's proxy the app sees B's own address, else the client's.
      const from = p.server ? IP6.b : p.from === m().d ? IP6.d : IP6.a;
      assert.equal(r.header, `from ${from} got 1000`, p.name);
      const dest = hostPort(p.host, TRAFFIC_PORTS.echo);
      if (p.client) {
        const e = await logged(a, 'the IPv6 connection', ofPath(m(), p, a, TRAFFIC_PORTS.echo));
        assert.equal(e.filter_chain, p.server ? 'outbound-mtls' : 'outbound-passthrough');
        if (p.server) {
          assert.equal(e.peer_identity, spiffeOf('b'));
          assert.equal(e.upstream_host, `[${IP6.b}]:15008`);
        }
      }
      if (p.server) {
        const e = await logged(b, 'the IPv6 connection', ofPath(m(), p, b, TRAFFIC_PORTS.echo));
        assert.equal(e.filter_chain, p.client ? 'inbound-mtls-ipv6' : 'inbound-passthrough');
        assert.equal(e.upstream_host, dest);
      }
    }
  });

  test(`a request sent with its FIN at once gets the whole answer on every path, ${HALF_CLOSE_ROUNDS} times each, and every connection is logged`, async () => {
    for (const p of paths(m(), 4)) {
      const proxies = [p.client, p.server].filter((x): x is MeshPod => x !== undefined);
      const before = proxies.map((proxy) => entries(proxy).filter(ofPath(m(), p, proxy, TRAFFIC_PORTS.echo)).length);
      for (let i = 0; i < HALF_CLOSE_ROUNDS; i++) {
        const r = await run(p, { op: 'echo' });
        assert.equal(r.bodyBytes, ECHO_BODY_BYTES, `${p.name}, round ${i}: ${JSON.stringify(r)}`);
        assert.equal(r.bodyIntact, true, `${p.name}, round ${i}`);
        assert.match(String(r.header), / got 1000$/, `${p.name}, round ${i}: the server read the whole request`);
        assert.equal(r.end, 'FIN', `${p.name}, round ${i}`);
      }
      for (const [i, proxy] of proxies.entries()) {
        const want = (before[i] ?? 0) + HALF_CLOSE_ROUNDS;
        const count = await eventually(`pod ${proxy.name}'s log to show all ${HALF_CLOSE_ROUNDS} connections of ${p.name}`, async () => {
          const n = entries(proxy).filter(ofPath(m(), p, proxy, TRAFFIC_PORTS.echo)).length;
          return n >= want ? n : undefined;
        });
        assert.equal(count, want, `pod ${proxy.name} logged each connection once`);
      }
      print(`half-close, ${p.name}: ${HALF_CLOSE_ROUNDS} of ${HALF_CLOSE_ROUNDS} whole answers (${ECHO_BODY_BYTES} bytes, then FIN)${proxies.length ? ', each in the access log' : ''}`);
    }
  });

  test('a server that answers and half-closes first still gets the request sent after its FIN, on every path', async () => {
    for (const p of paths(m(), 4)) {
      const r = await run(p, { op: 'late-send' });
      const saw = r.serverSaw as { got: number; end: string } | undefined;
      print(`half-close by the server first, ${p.name}: client got ${r.bodyBytes} bytes intact ${r.bodyIntact}, then sent 1000; the server read ${saw?.got} and ${saw?.end}`);
      assert.equal(r.error, undefined, `${p.name}: ${JSON.stringify(r)}`);
      assert.equal(r.bodyIntact, true, p.name);
      assert.deepEqual({ got: saw?.got, end: saw?.end }, { got: 1000, end: 'FIN' }, p.name);
    }
  });

  test('a server that speaks first greets as fast as without a proxy', async () => {
    let baselineMs: number | undefined;
    for (const p of paths(m(), 4)) {
      const times: number[] = [];
      for (let i = 0; i < BANNER_ROUNDS; i++) {
        const r = await run(p, { op: 'banner' });
        assert.equal(r.banner, '220 splice-test ready', `${p.name}: ${JSON.stringify(r)}`);
        times.push(Number(r.firstByteMs));
      }
      const ms = median(times);
      baselineMs ??= ms;
      print(`server-first banner, ${p.name}: median ${ms.toFixed(1)} ms of ${BANNER_ROUNDS} (baseline ${baselineMs.toFixed(1)} ms)`);
      assert.ok(ms <= baselineMs + BANNER_SLACK_MS, `${p.name}: ${ms.toFixed(1)} ms against ${baselineMs.toFixed(1)} ms without a proxy (${times.map((t) => t.toFixed(1)).join(', ')})`);
    }
  });

  test('a reset stays a reset: the server aborting mid-answer, and the client aborting mid-request', async () => {
    let baseline: { serverAbort: string; clientAbort: string } | undefined;
    for (const p of paths(m(), 4)) {
      const abort = await run(p, { op: 'abort' });
      assert.equal(abort.intact, true, `${p.name}: the bytes before the reset are the server's (${JSON.stringify(abort)})`);
      assert.ok(Number(abort.bytes) <= ABORT_AFTER_BYTES, p.name);
      const client = await run(p, { op: 'client-abort' });
      const saw = client.serverSaw as { end: string; got: number; from: string } | undefined;
      assert.ok(saw, `${p.name}: ${JSON.stringify(client)}`);
      const got = { serverAbort: String(abort.end), clientAbort: saw.end };
      baseline ??= got;
      print(`resets, ${p.name}: server reset seen by the client as ${got.serverAbort} after ${abort.bytes} bytes; client reset seen by the server as ${got.clientAbort} (baseline ${baseline.serverAbort}, ${baseline.clientAbort})`);
      assert.deepEqual(baseline, { serverAbort: 'ECONNRESET', clientAbort: 'ECONNRESET' }, 'without a proxy both ends see the reset');
      assert.deepEqual(got, baseline, p.name);
    }
  });

  test('a port the server excludes from its proxy is reached by meshed clients over mTLS, and by others directly', async () => {
    const { a, b } = m();
    assert.ok(B_EXCLUDED_INBOUND.includes(TRAFFIC_PORTS.excluded));
    const mesh = paths(m(), 4)[1] as Path;
    const outside = paths(m(), 4)[2] as Path;
    const dest = `${IP.b}:${TRAFFIC_PORTS.excluded}`;

    const viaMesh = await run(mesh, { op: 'echo', port: TRAFFIC_PORTS.excluded });
    assert.equal(viaMesh.bodyIntact, true, JSON.stringify(viaMesh));
    // B's app saw its own proxy: the connection came in through 15008.
    assert.equal(plain(String(viaMesh.header)), `from ${IP.b} got 1000`);
    const out = await logged(a, 'the connection to the excluded port', ofPath(m(), mesh, a, TRAFFIC_PORTS.excluded));
    assert.equal(out.filter_chain, 'outbound-mtls');
    assert.equal(out.peer_identity, spiffeOf('b'));
    const inbound = await logged(b, 'the mTLS connection to the excluded port', (e) => e.filter_chain === 'inbound-mtls' && e.original_destination === dest);
    assert.equal(inbound.peer_identity, spiffeOf('a'));

    const direct = await run(outside, { op: 'echo', port: TRAFFIC_PORTS.excluded });
    assert.equal(direct.bodyIntact, true, JSON.stringify(direct));
    // Straight to the app: it saw D's own address, and B's proxy never saw the connection.
    assert.equal(plain(String(direct.header)), `from ${IP.d} got 1000`);
    // A connection B's proxy does see, logged after the one it must not have seen.
    const seenBefore = entries(b).filter(ofPath(m(), outside, b, TRAFFIC_PORTS.echo)).length;
    await run(outside, { op: 'echo' });
    await eventually('a later connection from D in B\'s log', async () => (entries(b).filter(ofPath(m(), outside, b, TRAFFIC_PORTS.echo)).length > seenBefore ? true : undefined));
    assert.equal(entries(b).filter(ofPath(m(), outside, b, TRAFFIC_PORTS.excluded)).length, 0, 'B\'s proxy never saw D\'s connection to the excluded port');
    print(`excluded inbound port ${TRAFFIC_PORTS.excluded}: mesh client over mTLS via 15008 (peer ${String(out.peer_identity)}), outside client straight to the app`);
  });

  // Last: it stops A's proxy.
  test('shutdown, replayed in the kubelet\'s order: the app\'s calls during the rendered preStop wait are served; after SIGTERM Envoy is gone at once', async () => {
    const { a, config } = m();
    // The hook splice renders for a regular splice-proxy, replayed in the kubelet's order
    // against A's running proxy (same bootstrap): the app is signalled at once and makes
    // its last calls; the proxy is signalled only when the hook returns.
    const decision = injectPod({
      pod: userPod('a', { [KEYS.nativeSidecar]: 'false' }),
      namespace: { name: 'demo', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} },
      cluster: { version: { major: 1, minor: 31 } },
      config,
    });
    assert.equal(decision.result, 'inject');
    if (decision.result !== 'inject') return;
    const proxy = decision.pod.spec.containers.find((c) => c.name === INJECTED_NAMES.proxy);
    const seconds = proxy?.lifecycle?.preStop?.sleep?.seconds;
    assert.equal(seconds, config.proxy.drainSeconds, `preStop: ${JSON.stringify(proxy?.lifecycle)}`);

    const toMesh = paths(m(), 4)[1] as Path;
    const toOutside = paths(m(), 4)[3] as Path;
    const started = Date.now();
    let calls = 0;
    while (Date.now() - started < (seconds ?? 0) * 1000 - 1_000) {
      for (const p of [toMesh, toOutside]) {
        const r = await run(p, { op: 'echo' });
        assert.equal(r.bodyIntact, true, `a call during the drain, ${p.name}: ${JSON.stringify(r)}`);
        calls++;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    while (Date.now() - started < (seconds ?? 0) * 1000) await new Promise((r) => setTimeout(r, 50));

    const signalled = Date.now();
    const exited = new Promise<void>((resolve) => a.envoy.child.once('exit', () => resolve()));
    a.envoy.child.kill('SIGTERM');
    await exited;
    const exitMs = Date.now() - signalled;
    // What the drain is for: once Envoy is gone, the app's redirected connections fail.
    const after = await run(toOutside, { op: 'echo' });
    print(`shutdown: ${calls} calls of the app during the ${seconds} s preStop drain all answered; Envoy exited ${exitMs} ms after SIGTERM; a call after that: ${after.end ?? after.error}`);
    assert.notEqual(after.bodyIntact, true, `a call after the proxy stopped: ${JSON.stringify(after)}`);
    assert.ok(calls >= 4);
  });
});

