// Scenario 11: day two on the real cluster. After a config change (another proxy CPU
// request) and a restart of splice, `splice check` lists exactly the workloads whose pods
// still run the old parts, with the command that fixes them; restarting one takes it off
// the list. And `splice uninject` of a manually injected Deployment, replaced in the
// cluster, gives pods with no part of splice's left.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { apply, getJson, kubectl, ok } from '../e2e/lib/kubectl.js';
import { REPO } from '../e2e/lib/splice.js';
import { allStatuses, create, deleteNamespace, deployment, freshNamespace, pods, rollout, SYSTEM_NAMESPACE } from './lib/node.js';

const NS = 'node-check';
const MANUAL = 'node-uninject';
const CANARY_NS = 'node-canary';
const CPU = '150m';

function splice(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'bin/splice.js'), ...args], { encoding: 'utf8', input, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Sets (or with undefined, removes) proxy.resources in splice's running config, keeping whatever else is there, and restarts splice to read it. */
function setProxyResources(resources: unknown): void {
  const cm = getJson<{ data?: Record<string, string> }>(['-n', SYSTEM_NAMESPACE, 'get', 'configmap', 'splice']);
  const config = (parse(cm.data?.['config.yaml'] ?? '') ?? {}) as { proxy?: Record<string, unknown> };
  config.proxy = { ...config.proxy };
  if (resources === undefined) delete config.proxy.resources;
  else config.proxy.resources = resources;
  const r = apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'splice', namespace: SYSTEM_NAMESPACE, labels: { 'app.kubernetes.io/name': 'splice' } }, data: { 'config.yaml': stringify(config) } });
  assert.equal(r.code, 0, r.stderr);
  ok(['-n', SYSTEM_NAMESPACE, 'rollout', 'restart', 'deploy/splice']);
  rollout(SYSTEM_NAMESPACE, 'splice', 180);
}

interface Workload {
  owner: { kind: string; name: string };
  state: string;
  pods: string[];
  reasons: string[];
  fix?: string;
}
function check(): { code: number; workloads: Workload[]; stderr: string } {
  const r = splice(['check', '-n', NS, '-o', 'json']);
  assert.ok(r.code === 0 || r.code === 1, `splice check exited ${r.code}: ${r.stderr}`);
  return { code: r.code, workloads: (JSON.parse(r.stdout) as { workloads: Workload[] }).workloads, stderr: r.stderr };
}

before(async () => {
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled' });
  await freshNamespace(MANUAL);
  create(deployment(NS, 'one'), deployment(NS, 'two'));
  rollout(NS, 'one');
  rollout(NS, 'two');
});
after(() => {
  setProxyResources(undefined);
  deleteNamespace(NS);
  deleteNamespace(MANUAL);
  deleteNamespace(CANARY_NS);
  kubectl(['delete', '-f', '-', '--ignore-not-found', '--wait=false'], { input: canaryManifests() });
});

/** overlays/revision as shipped, with the one change this registry-less node needs (images never pulled). */
function canaryManifests(): string {
  const docs = parseAllDocuments(ok(['kustomize', join(REPO, 'overlays/revision')])).map((d) => d.toJS() as { kind: string; spec?: { template?: { spec?: { containers?: Array<Record<string, unknown>> } } } });
  for (const d of docs) for (const c of d.kind === 'Deployment' ? (d.spec?.template?.spec?.containers ?? []) : []) c.imagePullPolicy = 'Never';
  return docs.map((d) => JSON.stringify(d)).join('\n');
}

test('11. splice check: nothing to do, then exactly the workloads not restarted since a config change, then one fewer', () => {
  const clean = check();
  assert.equal(clean.code, 0, JSON.stringify(clean.workloads));
  assert.deepEqual(clean.workloads, []);

  setProxyResources({ requests: { cpu: CPU, memory: '64Mi' }, limits: { memory: '256Mi' } });
  const drifted = check();
  assert.equal(drifted.code, 1);
  assert.deepEqual(drifted.workloads.map((w) => [w.state, w.owner.kind, w.owner.name, w.fix]), [
    ['drifted', 'Deployment', 'one', `kubectl -n ${NS} rollout restart deployment/one`],
    ['drifted', 'Deployment', 'two', `kubectl -n ${NS} rollout restart deployment/two`],
  ]);
  for (const w of drifted.workloads) {
    assert.deepEqual(w.pods, pods(NS, `app=${w.owner.name}`).map((p) => p.metadata.name).sort());
    assert.ok(w.reasons.some((r) => r.startsWith('splice-proxy resources:') && r.includes(`"cpu":"${CPU}"`)), JSON.stringify(w.reasons));
  }

  ok(['-n', NS, 'rollout', 'restart', 'deploy/one']);
  rollout(NS, 'one');
  const after = check();
  assert.equal(after.code, 1);
  assert.deepEqual(after.workloads.map((w) => w.owner.name), ['two']);
  const text = splice(['check', '-n', NS]);
  assert.match(text.stdout, /Deployment node-check\/two: 1 pod/);
  assert.match(text.stdout, /fix: kubectl -n node-check rollout restart deployment\/two/);
});

test('11. splice uninject of a manually injected Deployment, replaced in the cluster: pods with nothing of splice\'s', () => {
  const manifest = stringify(deployment(MANUAL, 'manual'));
  const injected = splice(['inject', '-f', '-'], manifest);
  assert.equal(injected.code, 0, injected.stderr);
  assert.equal(apply(injected.stdout).code, 0);
  rollout(MANUAL, 'manual');
  const before = pods(MANUAL, 'app=manual')[0]!;
  assert.ok(allStatuses(before).some((s) => s.name === 'splice-proxy'), 'the manually injected pod runs the proxy');

  const live = ok(['-n', MANUAL, 'get', 'deployment', 'manual', '-o', 'yaml']);
  const back = splice(['uninject', '-f', '-'], live);
  assert.equal(back.code, 0, back.stderr);
  // Without resourceVersion: the controller may have written the Deployment's status since.
  const doc = parse(back.stdout) as { metadata: Record<string, unknown> };
  delete doc.metadata.resourceVersion;
  const r = kubectl(['replace', '-f', '-'], { input: JSON.stringify(doc) });
  assert.equal(r.code, 0, r.stderr);
  rollout(MANUAL, 'manual');
  const now = pods(MANUAL, 'app=manual');
  assert.equal(now.length, 1);
  const p = now[0]!;
  assert.deepEqual(allStatuses(p).map((s) => s.name), ['app']);
  assert.deepEqual([...(p.spec.initContainers ?? [])], []);
  const keys = [...Object.keys(p.metadata.annotations ?? {}), ...Object.keys(p.metadata.labels ?? {})];
  assert.deepEqual(keys.filter((k) => k.startsWith('splice.dev/')), [], 'no splice annotation or label left');
  const volumes = (p.spec as { volumes?: Array<{ name: string }> }).volumes ?? [];
  assert.deepEqual(volumes.filter((v) => v.name.startsWith('splice-')), []);
});

test('11. a canary revision from overlays/revision runs beside the default one and injects only the namespaces labeled for it', async () => {
  for (const doc of canaryManifests().split('\n')) assert.equal(apply(doc).code, 0, doc.slice(0, 120));
  rollout(SYSTEM_NAMESPACE, 'splice-canary', 180);
  await freshNamespace(CANARY_NS, { 'splice.dev/rev': 'canary' });
  create(deployment(CANARY_NS, 'app'));
  rollout(CANARY_NS, 'app');
  const p = pods(CANARY_NS, 'app=app')[0]!;
  const status = JSON.parse(p.metadata.annotations?.['splice.dev/status'] ?? '{}') as { revision?: string };
  assert.equal(status.revision, 'canary', 'injected by the canary');
  assert.ok(allStatuses(p).every((s) => s.ready || s.state.terminated?.exitCode === 0), 'Running and Ready with the canary\'s proxy');
  // The default revision's pods of scenario 11 are the default's.
  const own = pods(NS, 'app=two')[0]!;
  assert.equal((JSON.parse(own.metadata.annotations?.['splice.dev/status'] ?? '{}') as { revision?: string }).revision, undefined);
});
