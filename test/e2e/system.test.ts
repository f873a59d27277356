// Scenario 5: kube-system and splice-system are never injected: by the webhook's
// selectors, and by splice's own code when the selectors are opened up.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apply, getJson, kubectl, ok, waitFor } from './lib/kubectl.js';
import type { List, PodJson } from './lib/objects.js';
import { isInjected, podManifest } from './lib/objects.js';
import type { SpliceProcess } from './lib/splice.js';
import { installManifests, OVERLAY, startSplice, SYSTEM_NAMESPACE } from './lib/splice.js';

let splice: SpliceProcess;

before(async () => {
  installManifests();
  splice = await startSplice();
});
after(async () => {
  ok(['apply', '-k', OVERLAY]);
  ok(['label', 'namespace', 'kube-system', 'splice.dev/inject-']);
  await splice?.stop();
});

test('5a. labeled enabled, kube-system still gets no proxy (the selectors exclude it)', () => {
  ok(['label', '--overwrite', 'namespace', 'kube-system', 'splice.dev/inject=enabled']);
  assert.equal(apply(podManifest('selector-check', 'kube-system')).code, 0);
  assert.equal(isInjected(getJson<PodJson>(['-n', 'kube-system', 'get', 'pod', 'selector-check'])), false);
  ok(['-n', 'kube-system', 'delete', 'pod', 'selector-check', '--wait=false']);
});

test("5b. splice's own Deployment pods in splice-system are not injected", async () => {
  const pods = await waitFor('the splice Deployment pods', () => {
    const list = getJson<List<PodJson>>(['-n', SYSTEM_NAMESPACE, 'get', 'pods', '-l', 'app.kubernetes.io/name=splice']);
    return list.items.length > 0 ? list.items : undefined;
  }, 60_000);
  for (const p of pods) assert.equal(isInjected(p), false, p.metadata.name);
});

test('5c. with selectors that send every pod, splice itself refuses to inject the system namespaces', () => {
  // Open the first webhook to every namespace and every pod.
  ok(['patch', 'mutatingwebhookconfiguration', 'splice', '--type=json', '-p', JSON.stringify([
    { op: 'remove', path: '/webhooks/0/namespaceSelector' },
    { op: 'remove', path: '/webhooks/0/objectSelector' },
  ])]);
  const before = splice.log().length;
  for (const ns of ['kube-system', SYSTEM_NAMESPACE]) {
    const name = `code-check-${ns}`;
    const manifest = podManifest(name, ns, { labels: { 'splice.dev/inject': 'true' } });
    // splice-system enforces Pod Security restricted: the pod must pass it on its own.
    const spec = {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'app', image: 'example.com/app:1', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    };
    const r = apply({ ...manifest, spec });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(isInjected(getJson<PodJson>(['-n', ns, 'get', 'pod', name])), false);
    kubectl(['-n', ns, 'delete', 'pod', name, '--wait=false']);
  }
  // The webhook was called, and said why it left them alone.
  const lines = splice.log().slice(before);
  assert.match(lines, /"reasons":\["system_namespace"\]/);
  assert.match(lines, /"reasons":\["injector_namespace"\]/);
});
