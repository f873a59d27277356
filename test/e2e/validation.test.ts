// Scenario 17: an injected pod passes the API server's own validation whenever the
// original does. A differential check against the real kube-apiserver, not a model of
// it: each pod of a corpus (every golden input, 250 pods from the property generator,
// and the cases other injectors' users reported) is created with dryRun=All in an
// unlabeled namespace, where splice is never called, and in an enabled one. Whenever
// the first is accepted, the second must be accepted too, or refused by splice itself
// with its own message; never refused by the API server's validation of what splice
// added. And the API server's warnings for the injected pod must not include any the
// original did not have.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { podSite, listItems, withoutNullFields } from '../../src/cli/workloads.js';
import { isRecord } from '../../src/inject/shape.js';
import { API_POD_SERVICE_ACCOUNTS, arbitraryApiPod } from '../support/arbitrary.js';
import { loadCases } from '../support/golden.js';
import { e2eApi, type Api } from './lib/api.js';
import { ok } from './lib/kubectl.js';
import { namespaceManifest } from './lib/objects.js';
import type { SpliceProcess } from './lib/splice.js';
import { installManifests, startSplice } from './lib/splice.js';

const PLAIN = 'e2e-validation-plain';
const ENABLED = 'e2e-validation-enabled';
const PROPERTY_PODS = 250;
// Fixed, so a failure can be reproduced with the same corpus.
const SEED = 1337;
// What the API server puts before a refusal by splice's webhooks; a refusal without it
// is the API server's own (its validation of the pod splice returned).
const SPLICE_DENIAL = /^admission webhook "(namespace|object)\.inject\.splice\.dev" denied the request: \S/;

type Rec = Record<string, unknown>;

interface Case {
  source: string;
  pod: Rec;
}

const app = (extra: Rec = {}) => ({ name: 'app', image: 'example.com/app:1', ...extra });
const spec = (extra: Rec = {}) => ({ containers: [app()], ...extra });

// The kinds of pod other injectors' users reported, written out as the issue quotes them.
const REPORTED: Array<[string, Rec]> = [
  ['Windows pod (spec.os.name)', { spec: spec({ os: { name: 'windows' } }) }],
  ['Windows pod (node selector)', { spec: spec({ nodeSelector: { 'kubernetes.io/os': 'windows' } }) }],
  [
    'Windows pod (required node affinity)',
    {
      spec: spec({
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['windows'] }] }] } } },
      }),
    },
  ],
  [
    'pod-level requests equal to the app\'s',
    { spec: { resources: { requests: { cpu: '500m', memory: '512Mi' } }, containers: [app({ resources: { requests: { cpu: '500m', memory: '512Mi' } } })] } },
  ],
  ['pod-level limits only', { spec: { resources: { limits: { cpu: '1', memory: '256Mi' } }, containers: [app()] } }],
  ['pod-level budget and a proxy share that does not fit', { metadata: { annotations: { 'splice.dev/proxy-memory': '128Mi' } }, spec: { resources: { requests: { memory: '512Mi' } }, containers: [app({ resources: { requests: { memory: '512Mi' } } })] } }],
  ['app on the proxy\'s ports', { spec: { containers: [app({ ports: [{ containerPort: 15001 }, { containerPort: 15090 }] })] } }],
  ['user sidecar on the readiness port', { spec: spec({ initContainers: [{ name: 'shipper', image: 'example.com/shipper:1', restartPolicy: 'Always', ports: [{ containerPort: 15021 }] }] }) }],
  ['port named splice-metrics', { spec: { containers: [app({ ports: [{ name: 'splice-metrics', containerPort: 9090 }] })] } }],
  ['pod as the proxy uid', { spec: spec({ securityContext: { runAsUser: 1337 } }) }],
  ['null annotations and lists', { metadata: { annotations: null, labels: null }, spec: { containers: [app()], initContainers: null, volumes: null } }],
  ['memory limit "200m"', { metadata: { annotations: { 'splice.dev/proxy-memory-limit': '200m' } }, spec: spec() }],
  ['CPU "100Mi"', { metadata: { annotations: { 'splice.dev/proxy-cpu': '100Mi' } }, spec: spec() }],
  ['restartPolicy Never with an init container', { spec: spec({ restartPolicy: 'Never', initContainers: [{ name: 'migrate', image: 'example.com/migrate:1' }] }) }],
  ['annotations near the size limit', { metadata: { annotations: { 'example.com/blob': 'x'.repeat(256 * 1024 - 600) } }, spec: spec() }],
  ['app with a duplicate port of its own', { spec: { containers: [app({ ports: [{ containerPort: 8080 }] }), { name: 'side', image: 'x', ports: [{ containerPort: 8080 }] }] } }],
];

function goldenCases(): Case[] {
  const out: Case[] = [];
  for (const c of loadCases()) {
    const docs = listItems(c.input) ?? [c.input];
    for (const [i, doc] of docs.entries()) {
      const site = podSite(withoutNullFields(doc));
      if (!site) continue;
      // A workload's template as a Pod; the owner reference the CLI adds for Jobs names
      // no real object, so it goes.
      const metadata = { ...(site.pod.metadata ?? {}) } as Rec;
      delete metadata.ownerReferences;
      out.push({ source: `golden ${c.name}${docs.length > 1 ? ` item ${i}` : ''}`, pod: { metadata, spec: site.pod.spec } });
    }
  }
  return out;
}

function propertyCases(): Case[] {
  return fc.sample(arbitraryApiPod, { numRuns: PROPERTY_PODS, seed: SEED }).map((pod, i) => ({ source: `property pod ${i} (seed ${SEED})`, pod: pod as unknown as Rec }));
}

function asPod(c: Case, name: string, namespace: string, baseline: boolean): Rec {
  const metadata = { ...(isRecord(c.pod.metadata) ? c.pod.metadata : {}) };
  delete metadata.generateName;
  delete metadata.namespace;
  // The baseline must not reach splice: an opt-in label would send the pod to splice
  // through the object selector even in the unlabeled namespace.
  if (baseline && isRecord(metadata.labels) && ['true', 'enabled'].includes(String(metadata.labels['splice.dev/inject']))) {
    const { 'splice.dev/inject': _optIn, ...labels } = metadata.labels;
    metadata.labels = labels;
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...metadata, name, namespace }, spec: c.pod.spec };
}

// The API server names containers by index ("spec.containers[1].ports[0]"); splice adds
// containers, so the same warning would come with other indexes. Name them instead.
function byName(warning: string, pod: Rec): string {
  const s = isRecord(pod.spec) ? pod.spec : {};
  return warning.replace(/spec\.(containers|initContainers)\[(\d+)\]/g, (whole, field: string, index: string) => {
    const list = s[field];
    const c = Array.isArray(list) ? list[Number(index)] : undefined;
    return isRecord(c) && typeof c.name === 'string' ? `spec.${field}[${c.name}]` : whole;
  });
}

let api: Api;
let corpus: Case[];

/** A dry-run create: the status, the object or Status the API server answered, its warnings. */
async function create(namespace: string, pod: Rec): Promise<{ status: number; body: Rec; warnings: string[] }> {
  const reply = await api.request('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, pod);
  let body: Rec;
  try {
    body = JSON.parse(reply.body) as Rec;
  } catch {
    body = { message: reply.body };
  }
  return { ...reply, body };
}
const message = (body: Rec) => String(body.message ?? JSON.stringify(body));

let splice: SpliceProcess | undefined;

before(async () => {
  api = e2eApi();
  corpus = [...goldenCases(), ...propertyCases(), ...REPORTED.map(([source, pod]) => ({ source: `reported: ${source}`, pod }))];
  installManifests();
  splice = await startSplice();
  ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [namespaceManifest(PLAIN), namespaceManifest(ENABLED, { 'splice.dev/inject': 'enabled' })] }) });
  // The ServiceAccount admission plugin refuses a pod whose account does not exist.
  const accounts = new Set([...API_POD_SERVICE_ACCOUNTS, ...corpus.map((c) => String((c.pod.spec as Rec).serviceAccountName ?? 'default'))]);
  const items = [PLAIN, ENABLED].flatMap((namespace) =>
    [...accounts].filter((a) => a !== 'default').map((name) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } })),
  );
  ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
  // The default account appears once the controller has made it.
  for (const namespace of [PLAIN, ENABLED]) {
    for (let i = 0; i < 100 && (await api.request('GET', `/api/v1/namespaces/${namespace}/serviceaccounts/default`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  }
});
after(async () => {
  api?.close();
  await splice?.stop();
});

test('17. injected pods pass the API server\'s validation whenever the originals do, with no new warnings', async () => {
  const tally = { compared: 0, injected: 0, unmeshed: 0, refusedBySplice: 0, invalidOnTheirOwn: 0 };
  const failures: string[] = [];
  for (const [i, c] of corpus.entries()) {
    const name = `v-${i}`;
    const base = await create(PLAIN, asPod(c, name, PLAIN, true));
    if (base.status >= 300) {
      tally.invalidOnTheirOwn++;
      continue;
    }
    tally.compared++;
    const meshed = await create(ENABLED, asPod(c, name, ENABLED, false));
    if (meshed.status >= 300) {
      if (SPLICE_DENIAL.test(message(meshed.body))) tally.refusedBySplice++;
      else failures.push(`${c.source}: the original is accepted, the injected pod refused by the API server: ${message(meshed.body)}`);
      continue;
    }
    const annotations = isRecord(meshed.body.metadata) && isRecord(meshed.body.metadata.annotations) ? meshed.body.metadata.annotations : {};
    if (annotations['splice.dev/status'] !== undefined) tally.injected++;
    else tally.unmeshed++;
    const before = new Set(base.warnings.map((w) => byName(w, base.body)));
    const added = meshed.warnings.filter((w) => !w.startsWith('splice: ')).map((w) => byName(w, meshed.body)).filter((w) => !before.has(w));
    if (added.length > 0) failures.push(`${c.source}: warnings the original did not have: ${added.join(' | ')}`);
  }
  console.log(
    `compared ${tally.compared} of ${corpus.length} pods (${tally.invalidOnTheirOwn} refused by the API server on their own): ` +
      `${tally.injected} injected, ${tally.unmeshed} admitted unmeshed, ${tally.refusedBySplice} refused by splice with its own message`,
  );
  assert.deepEqual(failures, []);
  // The comparison says something only if the corpus reached every path.
  assert.ok(tally.compared >= 200, `only ${tally.compared} pods compared`);
  assert.ok(tally.injected >= 100, `only ${tally.injected} pods injected`);
  assert.ok(tally.unmeshed >= 10 && tally.refusedBySplice >= 10, JSON.stringify(tally));
});
