// Scenario 6: in a namespace enforcing Pod Security "restricted", splice-init (root,
// NET_ADMIN, NET_RAW) would be refused. With the default podSecurityConflict: skip the
// pod runs without the proxy, and whoever looks is told why: the person who applied a
// pod in kubectl's warning; the owner of a workload in a NotMeshed Event on its
// ReplicaSet (kubectl describe, kubectl get events), and splice's decision log.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apply, ok, waitFor } from '../e2e/lib/kubectl.js';
import { SYSTEM_NAMESPACE, appContainer, create, deleteNamespace, deployment, freshNamespace, isReady, pod, pods, rollout, type AppOptions } from './lib/node.js';

const NS = 'node-restricted';
const restricted: AppOptions = {
  pod: { securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } } },
  container: { securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } },
};

before(async () => {
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' });
});
after(() => deleteNamespace(NS));

test('6. a pod applied by hand runs unmeshed, and kubectl printed why', async () => {
  const r = apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', namespace: NS }, spec: { ...restricted.pod, containers: [appContainer(restricted)] } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Warning: splice: pod not meshed: namespace node-restricted enforces Pod Security level "restricted"/);
  const p = await waitFor('pod solo to be Ready', () => {
    const p = pod(NS, 'solo');
    return isReady(p) ? p : undefined;
  }, 60_000);
  assert.deepEqual(p.spec.initContainers ?? [], []);
  assert.deepEqual(p.spec.containers.map((c) => c.name), ['app']);
  assert.equal(p.metadata.annotations?.['splice.dev/status'], undefined);
});

test('6. a Deployment\'s pods run unmeshed: a NotMeshed Event on its ReplicaSet says why, and so does splice\'s log', async () => {
  create(deployment(NS, 'shop', restricted));
  rollout(NS, 'shop');
  const [p] = pods(NS, 'app=shop');
  assert.ok(p);
  assert.deepEqual(p.spec.containers.map((c) => c.name), ['app']);
  assert.equal(p.spec.initContainers, undefined);
  // The ReplicaSet controller created the pod and got the warning; the decision log of
  // the replica that answered names the pod's namespace and the reason.
  const log = ok(['-n', SYSTEM_NAMESPACE, 'logs', '-l', 'app.kubernetes.io/component=webhook', '--tail=-1', '--prefix']);
  const lines = log.split('\n').filter((l) => l.includes('"namespace":"node-restricted"') && l.includes('"pod":"shop-') && l.includes('pod_security'));
  assert.ok(lines.length >= 1, `no decision log line for the Deployment's pods:\n${log.slice(-2000)}`);
  // What the Deployment's author sees, without access to splice's namespace.
  const rs = p.metadata.ownerReferences?.find((o) => o.controller)?.name;
  assert.ok(rs, 'the pod has a controlling ReplicaSet');
  const described = await waitFor('a NotMeshed Event on the ReplicaSet', () => {
    const text = ok(['-n', NS, 'describe', 'replicaset', rs]);
    return text.includes('NotMeshed') ? text : undefined;
  }, 30_000);
  assert.match(described, /NotMeshed\s+.*was created without splice-proxy: namespace node-restricted enforces Pod Security level "restricted"/);
});
