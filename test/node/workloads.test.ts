// Scenarios 1 and 3: a Deployment in an enabled namespace runs on the real node with its
// proxy, and the app's own HTTP and TCP probes keep their meaning through it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '../e2e/lib/kubectl.js';
import { allStatuses, call, create, deleteNamespace, deployment, exec, freshNamespace, isReady, logs, pod, pods, restarts, rollout, sleep } from './lib/node.js';

const NS = 'node-workloads';
// Every 2 s. Readiness gives up at the first failure, liveness at the third, so one slow
// answer on a loaded machine does not restart an app.
const probe = {
  http: (path: string, failureThreshold = 1) => ({ httpGet: { path, port: 8080 }, periodSeconds: 2, failureThreshold, timeoutSeconds: 2 }),
  tcp: (failureThreshold = 1) => ({ tcpSocket: { port: 9000 }, periodSeconds: 2, failureThreshold, timeoutSeconds: 2 }),
};

before(async () => {
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled' });
  create(
    // HTTP readiness, TCP liveness ...
    deployment(NS, 'web', { replicas: 2, container: { readinessProbe: probe.http('/healthz'), livenessProbe: probe.tcp(3) } }),
    // ... and the other way round.
    deployment(NS, 'web-tcp', { replicas: 1, container: { readinessProbe: probe.tcp(), livenessProbe: probe.http('/healthz', 3) } }),
  );
  rollout(NS, 'web');
  rollout(NS, 'web-tcp');
});
after(() => deleteNamespace(NS));

test('1. every pod of the Deployment Running and Ready with its proxy, the app started after the proxy was ready, zero restarts', () => {
  const web = pods(NS, 'app=web');
  assert.equal(web.length, 2);
  for (const p of web) {
    assert.equal(p.status.phase, 'Running');
    assert.ok(isReady(p), `${p.metadata.name} is not Ready`);
    const proxy = p.spec.initContainers?.find((c) => c.name === 'splice-proxy');
    assert.ok(proxy, `${p.metadata.name} has no splice-proxy`);
    assert.equal(proxy.restartPolicy, 'Always', 'the proxy runs as a native sidecar on this API server');
    const statuses = new Map(allStatuses(p).map((s) => [s.name, s]));
    assert.equal(statuses.get('splice-init')?.state.terminated?.exitCode, 0);
    assert.equal(statuses.get('splice-proxy')?.ready, true);
    assert.equal(statuses.get('app')?.ready, true);
    assert.equal(restarts(p), 0, `${p.metadata.name} restarted: ${JSON.stringify(allStatuses(p).map((s) => [s.name, s.restartCount]))}`);
    // The app asked the proxy's readiness endpoint the moment it started.
    assert.match(logs(NS, p.metadata.name), /proxy ready: 200 LIVE/);
    const started = (n: string) => Date.parse(statuses.get(n)?.state.running?.startedAt ?? '');
    assert.ok(started('app') >= started('splice-proxy'), 'the app started before the proxy');
  }
});

test('1. kubectl logs and kubectl exec reach the app by default; logs -c splice-init shows the rules it installed', () => {
  const name = pods(NS, 'app=web')[0]!.metadata.name;
  assert.match(logs(NS, name), new RegExp(`app ${name} started at`));
  // The proxy's image has no node: only the app container can answer this.
  const r = exec(NS, name, ['node', '-e', 'console.log(process.env.POD_NAME)']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), name);
  const init = logs(NS, name, 'splice-init');
  assert.match(init, /IPv4: nat table installed with iptables-restore/);
  assert.match(init, /-A SPLICE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006/);
  assert.match(init, /-A SPLICE_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);
  assert.match(init, /-m owner --uid-owner 1337 -j RETURN/);
});

test('3. the app\'s HTTP and TCP readiness and liveness probes pass through the proxy, and each still fails when the app does', async () => {
  // Probes every 2 s: 12 s is six chances for readiness to fail.
  await sleep(12_000);
  for (const p of [...pods(NS, 'app=web'), ...pods(NS, 'app=web-tcp')]) {
    assert.ok(isReady(p), `${p.metadata.name} is not Ready`);
    assert.equal(restarts(p), 0, `${p.metadata.name} restarted`);
  }
  // An HTTP readiness probe that answers 503 must make the pod unready, and a healthy
  // answer ready again: the proxy passes the app's status through, not its own.
  const name = pods(NS, 'app=web')[0]!.metadata.name;
  assert.deepEqual(call(NS, name, 'http://127.0.0.1:8080/fail'), ['200 now failing']);
  await waitFor(`${name} to become unready`, () => (isReady(pod(NS, name)) ? undefined : true), 20_000);
  assert.deepEqual(call(NS, name, 'http://127.0.0.1:8080/heal'), ['200 healthy again']);
  await waitFor(`${name} to become ready again`, () => (isReady(pod(NS, name)) ? true : undefined), 20_000);
  // A TCP probe too, now that it goes to the proxy's health listener (permissive policy):
  // before, the proxy accepted the kubelet's connection whether the app listened or not.
  const tcpPod = pods(NS, 'app=web-tcp')[0]!.metadata.name;
  const readiness = pod(NS, tcpPod).spec.containers.find((c) => c.name === 'app')?.readinessProbe as { httpGet?: { path: string; port: number } } | undefined;
  assert.deepEqual(readiness?.httpGet, { path: '/app-health/app/readiness', port: 15021, scheme: 'HTTP' });
  assert.deepEqual(call(NS, tcpPod, 'http://127.0.0.1:8080/close-tcp'), ['200 tcp listener closed']);
  await waitFor(`${tcpPod} to become unready once its TCP port is closed`, () => (isReady(pod(NS, tcpPod)) ? undefined : true), 20_000);
  assert.equal(restarts(pod(NS, tcpPod)), 0, 'its HTTP liveness probe still passes');
});
