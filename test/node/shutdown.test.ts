// Scenario 9: a meshed pod deleted while requests are in flight, with a native and with a
// regular proxy. The kubelet sends SIGTERM to the app; the requests it is answering must
// complete, its own calls made while it shuts down must get out through the proxy, and
// the proxy must exit after the app.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { kubectlBin, ok } from '../e2e/lib/kubectl.js';
import { create, deleteNamespace, deployment, freshNamespace, pods, rollout, sleep } from './lib/node.js';

const NS = 'node-shutdown';

/** Runs kubectl to its end, in the background; resolves with its output and when it ended. */
function background(args: string[]): Promise<{ code: number | null; out: string; endedAt: number }> {
  return new Promise((resolve) => {
    const child = spawn(kubectlBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out, endedAt: Date.now() }));
  });
}

before(async () => {
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled' });
  // The server its shutting-down peers call.
  create(deployment(NS, 'peer'));
  rollout(NS, 'peer');
});
after(() => deleteNamespace(NS));

for (const native of [true, false]) {
  const name = native ? 'native' : 'regular';
  test(`9. ${name} proxy: in-flight requests complete, the app's calls during shutdown get out, the proxy exits after the app`, async () => {
    const peerIp = pods(NS, 'app=peer')[0]?.status.podIP;
    assert.ok(peerIp);
    create(
      deployment(NS, name, {
        annotations: { 'splice.dev/native-sidecar': String(native) },
        env: { SHUTDOWN_CALL: `http://${peerIp}:8080/`, SHUTDOWN_MS: '2000' },
        pod: { terminationGracePeriodSeconds: 30 },
      }),
    );
    rollout(NS, name);
    const [p] = pods(NS, `app=${name}`);
    assert.ok(p?.status.podIP);
    const podName = p.metadata.name;
    const client = pods(NS, 'app=peer')[0]!.metadata.name;

    // Follow both containers' logs to their end: when each stream ends is when that
    // container exited.
    const appLog = background(['-n', NS, 'logs', '-f', podName, '-c', 'app']);
    const proxyLog = background(['-n', NS, 'logs', '-f', podName, '-c', 'splice-proxy']);
    // Three slow requests from a meshed peer, in flight when the pod is deleted.
    const inFlight = background(['-n', NS, 'exec', client, '-c', 'app', '--', 'node', '/app/app.js', 'call',
      ...[2000, 2500, 3000].map((ms) => `http://${p.status.podIP}:8080/slow?ms=${ms}`)]);
    await sleep(800);
    const deleted = Date.now();
    ok(['-n', NS, 'delete', 'pod', podName, '--wait=false']);

    const requests = await inFlight;
    assert.equal(requests.code, 0, requests.out);
    assert.deepEqual(requests.out.trim().split('\n'), [1, 2, 3].map(() => `200 slow answer from ${podName}`));
    const [app, proxy] = await Promise.all([appLog, proxyLog]);
    assert.match(app.out, /got SIGTERM/);
    const calls = app.out.split('\n').filter((l) => l.startsWith('shutdown call: '));
    assert.ok(calls.length >= 5, `too few calls during shutdown:\n${app.out}`);
    for (const c of calls) assert.match(c, /^shutdown call: 200 hello from peer-/);
    assert.match(app.out, /exiting/);
    assert.ok(proxy.endedAt >= app.endedAt, `the proxy's log ended ${app.endedAt - proxy.endedAt} ms before the app's`);
    assert.ok(app.endedAt - deleted >= 2000, 'the app did not get its time to shut down');
  });
}
