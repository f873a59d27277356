// Scenario 20: the Helm chart (charts/splice) against the kustomize manifests it mirrors,
// with helm built from its Go module (build-helm.sh). `helm lint` passes; `helm template`
// gives the same objects as manifests/ (but the Namespace, which `helm install
// --create-namespace` makes) with the same RBAC, webhook selectors and config, and with a
// revision the same objects as overlays/revision; every config key is a value with splice's
// default; the schema refuses a bad value; and a revision's release installs into the real
// control plane and uninstalls again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULT_CONFIG, parseConfig } from '../../src/inject/config.js';
import { getJson, kubectl, ok } from './lib/kubectl.js';
import { installManifests, REPO } from './lib/splice.js';

const CHART = join(REPO, 'charts/splice');

function helm(args: string[]): { code: number; stdout: string; stderr: string } {
  const bin = process.env.SPLICE_HELM;
  if (!bin) throw new Error('SPLICE_HELM is not set: run the end-to-end tests with npm run test:e2e (run.sh builds helm)');
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 120_000, env: process.env });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

type Obj = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: unknown };
const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj).filter((d) => d !== null);
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byKey = (objs: Obj[]) => new Map(objs.map((o) => [key(o), o]));
const template = (...set: string[]) => {
  const r = helm(['template', 'splice', CHART, '--namespace', 'splice-system', ...set.flatMap((s) => ['--set', s])]);
  assert.equal(r.code, 0, r.stderr);
  return docs(r.stdout);
};
const configOf = (objs: Obj[], name: string) => parse((byKey(objs).get(`ConfigMap/splice-system/${name}`) as unknown as { data: Record<string, string> }).data['config.yaml']!) as unknown;

// The default revision's shared objects and namespace, which a revision's release uses.
before(() => installManifests());

test('20. helm lint --strict passes, for the default revision and another', () => {
  for (const set of [[], ['--set', 'revision=canary']]) {
    const r = helm(['lint', CHART, '--strict', ...set]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  }
});

test('20. helm template: the objects of manifests/, with the same RBAC, webhook selectors and config', () => {
  const chart = template();
  const base = docs(ok(['kustomize', join(REPO, 'manifests')])).filter((o) => o.kind !== 'Namespace');
  assert.deepEqual([...byKey(chart).keys()].sort(), [...byKey(base).keys()].sort());
  const c = byKey(chart);
  for (const o of base) {
    const mine = c.get(key(o))!;
    if (['ClusterRole', 'Role'].includes(o.kind)) assert.deepEqual(mine.rules, o.rules, key(o));
    if (['ClusterRoleBinding', 'RoleBinding'].includes(o.kind)) assert.deepEqual([mine.roleRef, mine.subjects], [o.roleRef, o.subjects], key(o));
    // CEL is the same whatever its line breaks (a YAML comment inside a folded block leaves one).
    const spaced = (v: unknown) => JSON.parse(JSON.stringify(v).replace(/(\\n|\s)+/g, ' ')) as unknown;
    if (['Service', 'PodDisruptionBudget', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(o.kind)) assert.deepEqual(spaced(mine.spec), spaced(o.spec), key(o));
    if (o.kind === 'MutatingWebhookConfiguration') assert.deepEqual(mine.webhooks, o.webhooks, key(o));
  }
  // The same config, key for key, once splice has read it.
  assert.deepEqual(parseConfig(configOf(chart, 'splice')), parseConfig(configOf(base, 'splice')));
  const [deployment, shipped] = [c.get('Deployment/splice-system/splice'), byKey(base).get('Deployment/splice-system/splice')] as unknown as Array<{ spec: { selector: unknown; template: { spec: { containers: Array<Record<string, unknown>>; securityContext: unknown; volumes: unknown } } } }>;
  assert.deepEqual(deployment!.spec.selector, shipped!.spec.selector, 'the same selector: an upgrade from manifests/ keeps the Deployment');
  const [mine, theirs] = [deployment!.spec.template.spec, shipped!.spec.template.spec];
  assert.deepEqual([mine.securityContext, mine.volumes], [theirs.securityContext, theirs.volumes]);
  for (const field of ['image', 'ports', 'securityContext', 'startupProbe', 'livenessProbe', 'readinessProbe', 'resources', 'volumeMounts']) {
    assert.deepEqual(mine.containers[0]![field], theirs.containers[0]![field], field);
  }
});

test('20. every config key is a value, with splice\'s default; the schema refuses a bad one', () => {
  // As rendered, splice reads exactly its defaults.
  assert.deepEqual(parseConfig(configOf(template(), 'splice')), DEFAULT_CONFIG);
  // And every key is there to set (the namespace and revision come from the release).
  const values = parse(helm(['show', 'values', CHART]).stdout) as { config: Record<string, unknown> };
  const keys = (o: object, at = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) && k !== 'resources' ? keys(v, `${at}${k}.`) : [`${at}${k}`]));
  const defaults = keys(DEFAULT_CONFIG).filter((k) => k !== 'injectorNamespace' && k !== 'revision');
  assert.deepEqual(defaults.filter((k) => !keys(values.config).includes(k)), [], 'config keys without a value');
  assert.deepEqual(keys(values.config).filter((k) => !defaults.includes(k)).sort(), ['init.imagePullPolicy', 'proxy.imagePullPolicy'], 'values that are no config key (the two unset by default)');
  const bad = helm(['template', 'splice', CHART, '--set', 'config.proxy.inboundPolicy=open']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /inboundPolicy/);
  // One place for the image: the webhook's, and splice-init's with it.
  const moved = template('image.repository=registry.example.com/mesh/splice', 'image.tag=0.4.0-rc1');
  assert.equal((configOf(moved, 'splice') as { init: { image: string } }).init.image, 'registry.example.com/mesh/splice:0.4.0-rc1');
});

test('20. helm template with revision=canary: the objects of overlays/revision, selecting the same namespaces', () => {
  const chart = template('revision=canary');
  const overlay = docs(ok(['kustomize', join(REPO, 'overlays/revision')]));
  assert.deepEqual([...byKey(chart).keys()].sort(), [...byKey(overlay).keys()].sort());
  const [mine, theirs] = [byKey(chart), byKey(overlay)].map((m) => m.get('MutatingWebhookConfiguration//splice-canary') as unknown as { webhooks: Array<{ namespaceSelector: unknown; objectSelector: unknown; clientConfig: unknown }> });
  assert.deepEqual(mine!.webhooks.map((w) => [w.namespaceSelector, w.objectSelector, w.clientConfig]), theirs!.webhooks.map((w) => [w.namespaceSelector, w.objectSelector, w.clientConfig]));
  // The revision's own grants: its Secret and webhook configuration by name.
  for (const k of ['Role/splice-system/splice-canary', 'ClusterRole//splice-canary']) {
    assert.deepEqual((byKey(chart).get(k) as unknown as { rules: unknown }).rules, (byKey(overlay).get(k) as unknown as { rules: unknown }).rules, k);
  }
  assert.equal((configOf(chart, 'splice-canary') as { revision: string }).revision, 'canary');
});

test('20. in another namespace, everything that names splice\'s namespace follows the release\'s', () => {
  const r = helm(['template', 'splice', CHART, '--namespace', 'mesh']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /splice-system/);
  const objs = docs(r.stdout);
  const policy = byKey(objs).get('ValidatingAdmissionPolicy//splice-secrets') as unknown as { spec: { matchConditions: Array<{ expression: string }> } };
  assert.equal(policy.spec.matchConditions[0]?.expression, "request.userInfo.username == 'system:serviceaccount:mesh:splice'");
  const config = parse((byKey(objs).get('ConfigMap/mesh/splice') as unknown as { data: Record<string, string> }).data['config.yaml']!) as unknown;
  assert.equal(parseConfig(config).injectorNamespace, 'mesh');
  const webhooks = (byKey(objs).get('MutatingWebhookConfiguration//splice') as unknown as { webhooks: Array<{ clientConfig: { service: { namespace: string } }; namespaceSelector: { matchExpressions: Array<{ key: string; values?: string[] }> } }> }).webhooks;
  for (const w of webhooks) {
    assert.equal(w.clientConfig.service.namespace, 'mesh');
    assert.ok(w.namespaceSelector.matchExpressions.find((e) => e.key === 'kubernetes.io/metadata.name')?.values?.includes('mesh'));
  }
});

test('20. a revision\'s release installs into the real control plane beside manifests/, and uninstalls', (t) => {
  t.after(() => {
    helm(['uninstall', 'splice-helm', '--namespace', 'splice-system']);
    kubectl(['-n', 'splice-system', 'delete', 'secret', 'splice-helm-webhook-tls', '--ignore-not-found']);
  });
  const r = helm(['install', 'splice-helm', CHART, '--namespace', 'splice-system', '--set', 'revision=helm']);
  assert.equal(r.code, 0, r.stderr);
  for (const [kind, ns] of [['deployment', 'splice-system'], ['service', 'splice-system'], ['configmap', 'splice-system'], ['role', 'splice-system'], ['mutatingwebhookconfiguration', ''], ['clusterrole', '']] as const) {
    const o = getJson<{ metadata: { labels?: Record<string, string> } }>([...(ns ? ['-n', ns] : []), 'get', kind, 'splice-helm']);
    assert.equal(o.metadata.labels?.['splice.dev/revision'], 'helm', kind);
  }
  const u = helm(['uninstall', 'splice-helm', '--namespace', 'splice-system']);
  assert.equal(u.code, 0, u.stderr);
  assert.notEqual(kubectl(['-n', 'splice-system', 'get', 'deployment', 'splice-helm']).code, 0, 'gone with the release');
});
