// Scenario 9: a namespace that enforces Pod Security "restricted" would reject
// splice-init. The README promises: by default the pod is admitted without the proxy
// and the user is told why; with podSecurityConflict: deny it is refused with that
// reason. Never a bare PodSecurity rejection of a container splice added.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { apply, getJson, kubectl, ok } from './lib/kubectl.js';
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
