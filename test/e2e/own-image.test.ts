// Scenario 21: one place for the image. splice reads the image of its own pod (POD_NAME,
// as the Deployment sets it) and, with init.image left at its default, injects splice-init
// from that very image: moving splice to another registry (kustomize `images:`) moves
// splice-init with it. A config that names init.image keeps it. Against the real API
// server, as the splice ServiceAccount (what manifests/ grants: get on pods of its
// namespace).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { apply, getJson, kubectl, ok } from './lib/kubectl.js';
import type { PodJson } from './lib/objects.js';
import { namespaceManifest, podManifest } from './lib/objects.js';
import { installManifests, scratchDir, startSplice, type SpliceProcess } from './lib/splice.js';

const NS = 'e2e-own-image';
const MOVED = 'registry.example.com/mesh/splice:0.4.0';
let splice: SpliceProcess | undefined;

/** A pod standing for splice's own, as the Deployment makes it (Pod Security restricted holds in splice-system). */
function selfPod(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'splice-system' },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'splice', image: MOVED, securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
}

const initImageOf = (name: string) =>
  getJson<PodJson>(['-n', NS, 'get', 'pod', name]).spec.initContainers?.find((c) => c.name === 'splice-init')?.image;

before(() => {
  installManifests();
  ok(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true'], { timeout: 120 });
  assert.equal(apply(namespaceManifest(NS, { 'splice.dev/inject': 'enabled' })).code, 0);
  assert.equal(apply(selfPod('splice-self')).code, 0);
});
after(async () => {
  await splice?.stop();
  kubectl(['-n', 'splice-system', 'delete', 'pod', 'splice-self', '--ignore-not-found', '--wait=false']);
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
});

/**
 * Starts splice as the pod splice-self, with `initImage` as the config's init.image (none:
 * the default), creates pod `name` in the enabled namespace, and returns splice-init's image
 * and splice's log.
 */
async function injectedWith(name: string, initImage?: string): Promise<{ image: string | undefined; log: string }> {
  const args: string[] = [];
  if (initImage !== undefined) {
    const file = join(scratchDir('own-image'), `${name}.yaml`);
    writeFileSync(file, `init:\n  image: ${initImage}\n`);
    args.push('--config', file);
  }
  splice = await startSplice({ env: { POD_NAME: 'splice-self' }, args });
  try {
    assert.equal(apply(podManifest(name, NS)).code, 0);
    return { image: initImageOf(name) as string | undefined, log: splice.log() };
  } finally {
    await splice.stop();
    splice = undefined;
  }
}

test('21. init.image left at its default follows the image splice runs from', async () => {
  const r = await injectedWith('follows');
  assert.equal(r.image, MOVED);
  assert.match(r.log, /init\.image follows the image splice runs from/);
});

test('21. a config that names the shipped image of another version follows too (a canary of a new version, with the ConfigMap of the one before)', async () => {
  assert.equal((await injectedWith('older', 'ghcr.io/splice-dev/splice:0.3.0')).image, MOVED);
});

test('21. a config that names an image of its own keeps it', async () => {
  assert.equal((await injectedWith('pinned', 'registry.example.com/pinned/splice:0.4.0')).image, 'registry.example.com/pinned/splice:0.4.0');
});
