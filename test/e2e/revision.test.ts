// Scenario 19: two revisions of splice side by side on a real API server. The default one
// (manifests/) and a canary made by overlays/revision as shipped, each its own `splice
// serve` with its own webhook configuration, serving certificate and RBAC (the canary runs
// as the shared ServiceAccount with the overlay's grants): each injects only its own
// namespaces, a namespace of a third revision is left to it, and moving a namespace to the
// canary is a relabel; pods created after it are the canary's.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { apply, getJson, kubectl, ok, waitFor } from './lib/kubectl.js';
import type { PodJson } from './lib/objects.js';
import { isInjected, namespaceManifest, podManifest } from './lib/objects.js';
import { installManifests, REPO, scratchDir, startSplice, type SpliceProcess } from './lib/splice.js';
import { writeFileSync } from 'node:fs';

const CANARY_PORT = 19445;
const CANARY_METRICS = 19095;
const NS = { stable: 'e2e-rev-default', canary: 'e2e-rev-canary', other: 'e2e-rev-other' };
let stable: SpliceProcess;
let canary: SpliceProcess;

/** The overlay as `kubectl apply -k overlays/revision` would apply it, its webhook pointed at the canary process on the host. */
function canaryObjects(): unknown[] {
  const docs = parseAllDocuments(ok(['kustomize', join(REPO, 'overlays/revision')])).map((d) => d.toJS() as { kind: string; webhooks?: Array<Record<string, unknown>> });
  // The API server cannot reach a Service here (no kube-proxy): the processes on the host stand in for the Deployments.
  return docs
    .filter((d) => !['Deployment', 'Service', 'PodDisruptionBudget'].includes(d.kind))
    .map((d) => (d.kind === 'MutatingWebhookConfiguration' ? { ...d, webhooks: d.webhooks?.map((w) => ({ ...w, clientConfig: { url: `https://127.0.0.1:${CANARY_PORT}/inject` } })) } : d));
}

const status = (p: PodJson): Record<string, unknown> => JSON.parse(p.metadata.annotations?.['splice.dev/status'] ?? '{}') as Record<string, unknown>;
const podOf = (ns: string, name: string) => getJson<PodJson>(['-n', ns, 'get', 'pod', name]);

before(async () => {
  installManifests();
  for (const o of canaryObjects()) assert.equal(apply(o).code, 0, JSON.stringify(o).slice(0, 200));
  ok(['delete', 'namespace', ...Object.values(NS), '--ignore-not-found', '--wait=true'], { timeout: 180 });
  assert.equal(apply(namespaceManifest(NS.stable, { 'splice.dev/inject': 'enabled' })).code, 0);
  assert.equal(apply(namespaceManifest(NS.canary, { 'splice.dev/rev': 'canary' })).code, 0);
  assert.equal(apply(namespaceManifest(NS.other, { 'splice.dev/rev': 'other', 'splice.dev/inject': 'enabled' })).code, 0);
  // The canary differs in one config value too, as a canary of a config would.
  const dir = scratchDir('revision');
  writeFileSync(join(dir, 'canary.yaml'), 'proxy:\n  logLevel: debug\n');
  stable = await startSplice();
  canary = await startSplice({ port: CANARY_PORT, metricsPort: CANARY_METRICS, args: ['--config', join(dir, 'canary.yaml')], env: { SPLICE_REVISION: 'canary' } });
  // Each writes its own CA into its own webhook configuration.
  for (const name of ['splice', 'splice-canary']) {
    await waitFor(`the caBundle of ${name}`, () => {
      const c = getJson<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(['get', 'mutatingwebhookconfiguration', name]);
      return c.webhooks.every((w) => w.clientConfig.caBundle) ? true : undefined;
    }, 60_000);
  }
});
after(async () => {
  await stable?.stop();
  await canary?.stop();
  kubectl(['delete', 'namespace', ...Object.values(NS), '--ignore-not-found', '--wait=false']);
  for (const o of canaryObjects() as Array<{ kind: string; metadata: { name: string; namespace?: string } }>) {
    kubectl(['delete', o.kind, o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []), '--ignore-not-found']);
  }
  kubectl(['-n', 'splice-system', 'delete', 'secret', 'splice-canary-webhook-tls', '--ignore-not-found']);
});

test('19. each revision injects only its own namespaces; a third revision\'s is left alone', () => {
  for (const [ns, name] of [[NS.stable, 'a'], [NS.canary, 'b'], [NS.other, 'c']] as const) assert.equal(apply(podManifest(name, ns)).code, 0);
  const a = podOf(NS.stable, 'a');
  assert.ok(isInjected(a), 'the default revision injects its namespace');
  assert.equal(status(a).revision, undefined);
  const b = podOf(NS.canary, 'b');
  assert.ok(isInjected(b), 'the canary injects its namespace');
  assert.equal(status(b).revision, 'canary');
  // The canary's own config: its proxies log at debug.
  const proxy = b.spec.initContainers?.find((c) => c.name === 'splice-proxy') as { args?: string[] } | undefined;
  assert.equal(proxy?.args?.[proxy.args.indexOf('--log-level') + 1], 'debug');
  assert.equal(isInjected(podOf(NS.other, 'c')), false, 'neither injects a namespace of revision "other"');
  // Each revision's process was asked only about its own pods: the webhook configurations selected them.
  const asked = (p: SpliceProcess) =>
    p.log().split('\n').filter((l) => l.includes('"admission decision"')).map((l) => (JSON.parse(l) as { namespace: string }).namespace);
  assert.ok(asked(stable).includes(NS.stable) && !asked(stable).includes(NS.canary) && !asked(stable).includes(NS.other), asked(stable).join());
  assert.deepEqual(new Set(asked(canary)), new Set([NS.canary]));
});

test('19. moving a namespace to the canary is a relabel: its next pods are the canary\'s', () => {
  ok(['label', 'namespace', NS.stable, 'splice.dev/rev=canary']);
  assert.equal(apply(podManifest('after-move', NS.stable)).code, 0);
  const moved = podOf(NS.stable, 'after-move');
  assert.ok(isInjected(moved));
  assert.equal(status(moved).revision, 'canary');
  // The pod from before keeps its proxy until it is restarted.
  assert.equal(status(podOf(NS.stable, 'a')).revision, undefined);
});
