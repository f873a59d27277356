// Scenario 9: a meshed pod deleted while requests are in flight, with a native and with a
// regular proxy. The kubelet sends SIGTERM to the app; the requests it is answering must
// complete, its own calls made while it shuts down must get out through the proxy, and
// the proxy must exit after the app.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { kubectl, kubectlBin, ok, waitFor } from '../e2e/lib/kubectl.js';
import { allStatuses, create, deleteNamespace, deployment, freshNamespace, logs, pods, rollout, sleep, type Pod } from './lib/node.js';

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

    // The app's log, followed to its end (the pod's deletion).
    const appLog = background(['-n', NS, 'logs', '-f', podName, '-c', 'app']);
    // Three slow requests from a meshed peer, in flight when the pod is deleted.
    const inFlight = background(['-n', NS, 'exec', client, '-c', 'app', '--', 'node', '/app/app.js', 'call',
      ...[2000, 2500, 3000].map((ms) => `http://${p.status.podIP}:8080/slow?ms=${ms}`)]);
    // Deleted once the app has all three requests in hand.
    await waitFor('the three requests to reach the app', () => ((logs(NS, podName, 'app').match(/slow request received/g) ?? []).length >= 3 ? true : undefined), 30_000);
    const deleted = Date.now();
    ok(['-n', NS, 'delete', 'pod', podName, '--wait=false']);
    // The kubelet's own account of the order: poll the pod until it is gone, and look for
    // the app terminated while the proxy still runs, or both terminated in that order.
    const order = { appFirst: false, finished: {} as Record<string, number> };
    for (;;) {
      const r = kubectl(['-n', NS, 'get', 'pod', podName, '-o', 'json']);
      if (r.code !== 0) break;
      const statuses = allStatuses(JSON.parse(r.stdout) as Pod);
      const state = (n: string) => statuses.find((x) => x.name === n)?.state;
      const appDone = state('app')?.terminated;
      const proxyDone = state('splice-proxy')?.terminated;
      if (appDone && !proxyDone) order.appFirst = true;
      for (const [n, t] of [['app', appDone], ['splice-proxy', proxyDone]] as const) if (t) order.finished[n] = Date.parse(t.finishedAt);
      await sleep(100);
    }

    const requests = await inFlight;
    assert.equal(requests.code, 0, requests.out);
    assert.deepEqual(requests.out.trim().split('\n'), [1, 2, 3].map(() => `200 slow answer from ${podName}`));
    const app = await appLog;
    assert.match(app.out, /got SIGTERM/);
    const calls = app.out.split('\n').filter((l) => l.startsWith('shutdown call: '));
    assert.ok(calls.length >= 5, `too few calls during shutdown:\n${app.out}`);
    for (const c of calls) assert.match(c, /^shutdown call: 200 hello from peer-/);
    assert.match(app.out, /exiting/);
    assert.ok(
      order.appFirst || (order.finished.app !== undefined && order.finished['splice-proxy'] !== undefined && order.finished.app <= order.finished['splice-proxy']),
      `the kubelet never showed the app terminated before the proxy: ${JSON.stringify(order)}`,
    );
    assert.ok(app.endedAt - deleted >= 2000, 'the app did not get its time to shut down');
  });
}
