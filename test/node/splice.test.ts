// Scenario 7: splice's own pods, as manifests/ runs them. While a Deployment scales from
// 0 to 50 replicas and single pods keep being created until it is over,
// `kubectl rollout restart deploy/splice` replaces both replicas, and then one replica
// is deleted: every pod is created and injected, none is refused. The pods are pinned to
// a node that does not exist, so they stay Pending: admission is what is under test, and
// so many Envoys would only load the machine. The API server
// reaches splice only through its Service: both replicas answer reviews.
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { apply, getJson, ok, waitFor } from '../e2e/lib/kubectl.js';
import type { List } from '../e2e/lib/objects.js';
import { SYSTEM_NAMESPACE, appContainer, create, deleteNamespace, deployment, exec, freshNamespace, pods, rollout, sleep, type Pod } from './lib/node.js';

const NS = 'node-scale';
const REPLICAS = 50;

interface EventJson {
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string };
}

before(async () => {
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled' });
  create(deployment(NS, 'burst', { replicas: 0, pod: { nodeSelector: { 'splice.dev/test-node': 'none' } } }));
});
after(() => deleteNamespace(NS));

/** Every splice pod, terminating ones included. */
const splicePods = () => getJson<List<Pod>>(['-n', SYSTEM_NAMESPACE, 'get', 'pods', '-l', 'app.kubernetes.io/component=webhook']).items;

/**
 * Scales burst from 0 to 50 as the disruption starts, and creates one more pod of its own
 * every 200 ms or so until the disruption is over (`over` says so) and at least 3 s have
 * passed: creations keep arriving while old replicas wait out their preStop, stop, and
 * leave the Service. Then every pod must be injected and no creation refused.
 */
async function createThrough(t: TestContext, what: string, disrupt: () => void, over: () => boolean): Promise<void> {
  ok(['-n', NS, 'scale', 'deploy/burst', '--replicas=0']);
  // One request for all of them (kubectl delete would send one per pod).
  ok(['delete', '--raw', `/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dsingle`]);
  await waitFor('no pods left', () => (pods(NS, 'app in (burst,single)').length === 0 ? true : undefined), 60_000);
  const started = Date.now();
  ok(['-n', NS, 'scale', 'deploy/burst', `--replicas=${REPLICAS}`]);
  disrupt();
  const refused: string[] = [];
  let singles = 0;
  let sawTerminating = false;
  const deadline = started + 180_000;
  while (Date.now() - started < 3000 || !over()) {
    assert.ok(Date.now() < deadline, `${what} did not end within 180 s`);
    sawTerminating ||= splicePods().some((p) => p.metadata.deletionTimestamp);
    const name = `single-${singles++}`;
    const r = apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app: 'single' } }, spec: { nodeSelector: { 'splice.dev/test-node': 'none' }, containers: [appContainer()] } });
    if (r.code !== 0) refused.push(`${name}: ${r.stderr.trim()}`);
    await sleep(200);
  }
  t.diagnostic(`${what}: over after ${Date.now() - started} ms; ${REPLICAS} replicas and ${singles} single pods created through it`);
  assert.ok(sawTerminating, `no splice pod was seen terminating during ${what}`);
  assert.deepEqual(refused, [], `pod creations refused during ${what}`);
  const all = await waitFor(`${REPLICAS} burst pods`, () => {
    const p = pods(NS, 'app=burst');
    return p.length === REPLICAS ? p : undefined;
  }, 120_000);
  const created = [...all, ...pods(NS, 'app=single')];
  assert.equal(created.length, REPLICAS + singles);
  const uninjected = created.filter((p) => p.metadata.annotations?.['splice.dev/status'] === undefined).map((p) => p.metadata.name);
  assert.deepEqual(uninjected, [], `pods created without the proxy during ${what}`);
  // Any FailedCreate in this namespace, ever, is a creation the ReplicaSet saw refused.
  const failed = getJson<List<EventJson>>(['-n', NS, 'get', 'events']).items.filter((e) => e.reason === 'FailedCreate');
  assert.deepEqual(failed.map((e) => e.message), [], `the ReplicaSet's creations refused during ${what}`);
}

/** The rollout is over: two replicas, all of the newest template, ready, none terminating. */
function rolledOut(): boolean {
  const d = getJson<{ metadata: { generation: number }; status: { observedGeneration?: number; updatedReplicas?: number; readyReplicas?: number; replicas?: number } }>(['-n', SYSTEM_NAMESPACE, 'get', 'deploy', 'splice']);
  const s = d.status;
  return s.observedGeneration === d.metadata.generation && s.updatedReplicas === 2 && s.readyReplicas === 2 && s.replicas === 2 && splicePods().length === 2;
}

test('7. kubectl rollout restart deploy/splice while pods are created: 0 uninjected, 0 refused', async (t) => {
  await createThrough(t, 'the rollout restart', () => ok(['-n', SYSTEM_NAMESPACE, 'rollout', 'restart', 'deploy/splice']), rolledOut);
});

test('7. deleting one splice pod while pods are created: 0 uninjected, 0 refused', async (t) => {
  let victim = '';
  await createThrough(
    t,
    'the deletion',
    () => {
      victim = pods(SYSTEM_NAMESPACE, 'app.kubernetes.io/component=webhook')[0]!.metadata.name;
      ok(['-n', SYSTEM_NAMESPACE, 'delete', 'pod', victim, '--wait=false']);
    },
    () => !splicePods().some((p) => p.metadata.name === victim) && rolledOut(),
  );
});

test('7. splice runs as uid 65532 on a read-only root filesystem, and splice-init runs from the same image', () => {
  rollout(SYSTEM_NAMESPACE, 'splice', 180);
  const replicas = pods(SYSTEM_NAMESPACE, 'app.kubernetes.io/component=webhook');
  assert.equal(replicas.length, 2);
  for (const p of replicas) {
    const id = exec(SYSTEM_NAMESPACE, p.metadata.name, ['id', '-u']);
    assert.equal(id.code, 0, id.stderr);
    assert.equal(id.stdout.trim(), '65532');
    const write = exec(SYSTEM_NAMESPACE, p.metadata.name, ['touch', '/opt/splice/x']);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Read-only file system/);
  }
  const image = replicas[0]!.spec.containers[0]!.image;
  const injected = pods(NS, 'app=burst')[0];
  assert.equal(injected?.spec.initContainers?.find((c) => c.name === 'splice-init')?.image, image);
});

/** The admission reviews a splice replica has answered, from its own /metrics. */
function reviewsAnswered(podName: string): number {
  const r = exec(SYSTEM_NAMESPACE, podName, ['node', '-e', 'fetch("http://127.0.0.1:9090/metrics").then((r) => r.text()).then((t) => console.log(t))']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('splice_injection_requests_total{'))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

test('7. the API server calls both replicas through the splice Service', async () => {
  interface Webhooks {
    webhooks: Array<{ name: string; clientConfig: { url?: string; service?: { name: string; namespace: string; port?: number } } }>;
  }
  const config = getJson<Webhooks>(['get', 'mutatingwebhookconfiguration', 'splice']);
  for (const w of config.webhooks) {
    assert.equal(w.clientConfig.url, undefined, `${w.name} calls a URL`);
    assert.deepEqual(w.clientConfig.service, { name: 'splice', namespace: SYSTEM_NAMESPACE, path: '/inject', port: 443 });
  }
  rollout(SYSTEM_NAMESPACE, 'splice', 180);
  const replicas = pods(SYSTEM_NAMESPACE, 'app.kubernetes.io/component=webhook').map((p) => p.metadata.name);
  const before = new Map(replicas.map((r) => [r, reviewsAnswered(r)]));
  ok(['-n', NS, 'scale', 'deploy/burst', '--replicas=0']);
  await waitFor('burst to have no pods', () => (pods(NS, 'app=burst').length === 0 ? true : undefined), 60_000);
  ok(['-n', NS, 'scale', 'deploy/burst', '--replicas=20']);
  await waitFor('20 burst pods', () => (pods(NS, 'app=burst').length === 20 ? true : undefined), 60_000);
  const answered = replicas.map((r) => reviewsAnswered(r) - before.get(r)!);
  assert.ok(answered.every((n) => n > 0), `a replica answered none of the reviews: ${JSON.stringify(answered)}`);
  assert.ok(answered.reduce((a, b) => a + b, 0) >= 20, `the replicas answered ${answered.join(' + ')} reviews for 20 pods`);
});
