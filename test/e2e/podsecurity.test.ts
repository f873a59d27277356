// Scenario 9: a namespace that enforces Pod Security "restricted" would reject
// splice-init. The README promises: by default the pod is admitted without the proxy
// and the user is told why; with podSecurityConflict: deny it is refused with that
// reason. Never a bare PodSecurity rejection of a container splice added.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { apply, getJson, kubectl, ok, waitFor } from './lib/kubectl.js';
import type { PodJson } from './lib/objects.js';
import { isInjected, namespaceManifest } from './lib/objects.js';
import type { SpliceProcess } from './lib/splice.js';
import { installManifests, scratchDir, startSplice } from './lib/splice.js';

const NS = 'e2e-restricted';
let splice: SpliceProcess | undefined;

// A pod that passes "restricted" on its own.
const restrictedPod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS },
  spec: {
    securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [{ name: 'app', image: 'example.com/app:1', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
  },
});

before(async () => {
  installManifests();
  ok(['apply', '-f', '-'], {
    input: JSON.stringify(namespaceManifest(NS, { 'splice.dev/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' })),
  });
});
after(async () => {
  await splice?.stop();
});

test('9. default: admitted without the proxy, and kubectl shows a warning saying why', async () => {
  splice = await startSplice();
  const r = apply(restrictedPod('unmeshed'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Warning: splice: pod not meshed: namespace e2e-restricted enforces Pod Security level "restricted"/);
  assert.equal(isInjected(getJson<PodJson>(['-n', NS, 'get', 'pod', 'unmeshed'])), false);
  await splice.stop();
  splice = undefined;
});

test('9. a Deployment\'s pods skipped for Pod Security: one NotMeshed Event on their ReplicaSet, counting them; a dry run records none', async () => {
  splice = await startSplice();
  try {
    const template = restrictedPod('x');
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'shop', namespace: NS },
      spec: { replicas: 3, selector: { matchLabels: { app: 'shop' } }, template: { metadata: { labels: { app: 'shop' } }, spec: template.spec } },
    };
    assert.equal(apply(deployment).code, 0);
    type EventJson = { involvedObject: { kind: string; name: string; uid: string }; reason: string; type: string; message: string; count?: number; reportingComponent?: string };
    const notMeshed = () => getJson<{ items: EventJson[] }>(['-n', NS, 'get', 'events', '--field-selector', 'reason=NotMeshed', '-o', 'json']).items;
    const events = await waitFor('a NotMeshed Event', () => (notMeshed().length > 0 ? notMeshed() : undefined), 30_000);
    const rs = getJson<{ items: Array<{ metadata: { name: string; uid: string } }> }>(['-n', NS, 'get', 'replicasets', '-l', 'app=shop', '-o', 'json']).items[0];
    assert.ok(rs, 'the Deployment made a ReplicaSet');
    assert.equal(events.length, 1, `one Event for three pods, not one each: ${JSON.stringify(events)}`);
    const e = events[0]!;
    assert.deepEqual([e.involvedObject.kind, e.involvedObject.name, e.involvedObject.uid], ['ReplicaSet', rs.metadata.name, rs.metadata.uid]);
    assert.equal(e.type, 'Warning');
    assert.equal(e.reportingComponent, 'splice');
    assert.match(e.message, /was created without splice-proxy: namespace e2e-restricted enforces Pod Security level "restricted"/);
    assert.equal(getJson<{ items: unknown[] }>(['-n', NS, 'get', 'pods', '-l', 'app=shop', '-o', 'json']).items.length, 3, 'the three pods exist, unmeshed');
    assert.match(ok(['-n', NS, 'describe', 'replicaset', rs.metadata.name]), /NotMeshed/, 'kubectl describe shows it');

    // A dry run of a pod owned by another (made-up) owner writes nothing.
    const owned = { ...restrictedPod('dry'), metadata: { name: 'dry', namespace: NS, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'ghost', uid: '00000000-0000-0000-0000-000000000001', controller: true }] } };
    const dry = apply(owned, ['--dry-run=server']);
    assert.equal(dry.code, 0, dry.stderr);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(notMeshed().filter((x) => x.involvedObject.name === 'ghost').length, 0, 'a dry run recorded an Event');
  } finally {
    ok(['-n', NS, 'delete', 'deployment', 'shop', '--ignore-not-found']);
    await splice.stop();
    splice = undefined;
  }
});

test('9. podSecurityConflict: deny: refused by splice, naming Pod Security and what to do', async () => {
  const dir = scratchDir('config');
  const config = join(dir, 'config.yaml');
  writeFileSync(config, 'podSecurityConflict: deny\n');
  splice = await startSplice({ args: ['--config', config] });
  const r = apply(restrictedPod('refused'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /denied the request: namespace e2e-restricted enforces Pod Security level "restricted", which forbids splice-init/);
  assert.doesNotMatch(r.stderr, /violates PodSecurity/);
  assert.notEqual(kubectl(['-n', NS, 'get', 'pod', 'refused']).code, 0);
});
