// `splice check`'s comparison: a pod as the API server keeps it (defaults filled in,
// quantities respelled) against what splice would inject today, and the report that
// groups the pods by workload with the command that fixes them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fixFor, formatText, groupReports, type PodReport } from '../../../src/cli/check.js';
import { DEFAULT_CONFIG, parseConfig, type Config } from '../../../src/inject/config.js';
import { checkedBy, checkPod } from '../../../src/inject/drift.js';
import { injectPod } from '../../../src/inject/engine.js';
import type { Container, NamespaceFacts, Pod } from '../../../src/inject/types.js';
import { DISABLED, ENABLED, ns, pod, withApp } from '../../support/pods.js';

const SHOP = ns('shop', ENABLED);
const CLUSTER = { version: { major: 1, minor: 33 } };

/** The pod as the webhook injected it with `config`, then as the API server stores it. */
function running(p: Pod, config: Config = DEFAULT_CONFIG, namespace: NamespaceFacts = SHOP): Pod {
  const d = injectPod({ pod: p, namespace, cluster: CLUSTER, config });
  if (d.result !== 'inject') throw new Error(d.result);
  const defaulted = (c: Container): Container => ({
    ...c,
    terminationMessagePath: '/dev/termination-log',
    imagePullPolicy: c.imagePullPolicy ?? 'IfNotPresent',
    // "100m" is kept, but "0.5" would come back as "500m": respelled, the same amount.
    ...(c.resources?.requests?.cpu === '100m' ? { resources: { ...c.resources, requests: { ...c.resources.requests, cpu: '0.1' } } } : {}),
  });
  return {
    ...d.pod,
    metadata: { ...d.pod.metadata, uid: 'u-1', resourceVersion: '42', ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7d9', controller: true }] },
    spec: { ...d.pod.spec, nodeName: 'node-1', containers: d.pod.spec.containers.map(defaulted), initContainers: (d.pod.spec.initContainers ?? []).map(defaulted) },
    status: { phase: 'Running' },
  };
}

const probed = withApp(pod(), { readinessProbe: { httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 } });

describe('checkPod', () => {
  test('a pod with today\'s parts is current, whatever the API server filled in', () => {
    assert.deepEqual(checkPod({ pod: running(probed), namespace: SHOP, cluster: CLUSTER, config: DEFAULT_CONFIG }), { state: 'current' });
  });
  test('another proxy resource value: drifted, and the reason says which and to what', () => {
    const config = parseConfig({ proxy: { resources: { requests: { cpu: '200m', memory: '64Mi' }, limits: { memory: '256Mi' } } } });
    const r = checkPod({ pod: running(probed), namespace: SHOP, cluster: CLUSTER, config });
    assert.equal(r.state, 'drifted');
    assert.deepEqual(r.state === 'drifted' && r.reasons, ['splice-proxy resources: {"requests":{"cpu":"0.1","memory":"64Mi"},"limits":{"memory":"256Mi"}}, today {"requests":{"cpu":"200m","memory":"64Mi"},"limits":{"memory":"256Mi"}}']);
  });
  test('another proxy image, another policy: each named', () => {
    const image = checkPod({ pod: running(probed), namespace: SHOP, cluster: CLUSTER, config: parseConfig({ proxy: { image: 'envoy:next' } }) });
    assert.deepEqual(image.state === 'drifted' && image.reasons, ['splice-proxy image: docker.io/envoyproxy/envoy:v1.40.0, today envoy:next']);
    const strict = checkPod({ pod: running(probed), namespace: SHOP, cluster: CLUSTER, config: parseConfig({ proxy: { inboundPolicy: 'strict' } }) });
    assert.equal(strict.state, 'drifted');
    assert.deepEqual(strict.state === 'drifted' && strict.reasons, ['splice-init proxy config inboundPolicy: "permissive", today "strict"']);
  });
  test('injected by an older splice (no parts hash): drifted, naming the version', () => {
    const p = running(probed);
    const status = JSON.parse(p.metadata!.annotations!['splice.dev/status']!) as Record<string, unknown>;
    const old = { ...p, metadata: { ...p.metadata, annotations: { ...p.metadata!.annotations, 'splice.dev/status': JSON.stringify({ version: '0.3.0', containers: status.containers, initContainers: status.initContainers, volumes: status.volumes }) } } };
    const r = checkPod({ pod: old, namespace: SHOP, cluster: CLUSTER, config: DEFAULT_CONFIG });
    assert.equal(r.state, 'drifted');
    assert.match(r.state === 'drifted' ? r.reasons[0]! : '', /^injected by splice 0\.3\.0; today 0\.4\.0$/);
  });
  test('the namespace disabled since: would not be injected today', () => {
    const r = checkPod({ pod: running(probed), namespace: ns('shop', DISABLED), cluster: CLUSTER, config: DEFAULT_CONFIG });
    assert.deepEqual(r, { state: 'would-not-inject', reasons: ['namespace_disabled: namespace shop is labeled splice.dev/inject=disabled'] });
  });
  test('a pod without the proxy: not injected when today it would be, left out when not', () => {
    assert.equal(checkPod({ pod: pod(), namespace: SHOP, cluster: CLUSTER, config: DEFAULT_CONFIG }).state, 'not-injected');
    const optedOut = checkPod({ pod: pod({ annotations: { 'splice.dev/inject': 'false' } }), namespace: SHOP, cluster: CLUSTER, config: DEFAULT_CONFIG });
    assert.deepEqual(optedOut, { state: 'left-out', reasons: ['pod_opted_out: the pod\'s annotation splice.dev/inject is "false"'] });
    const refused = checkPod({ pod: pod({ annotations: { 'splice.dev/proxy-cpu': 'lots' } }), namespace: SHOP, cluster: CLUSTER, config: DEFAULT_CONFIG });
    assert.equal(refused.state, 'left-out');
    assert.match(refused.state === 'left-out' ? refused.reasons[0]! : '', /proxy-cpu/);
  });
  test('a proxy changed in place since (kubectl set image): drifted, whatever the parts hash says', () => {
    const p = running(probed);
    const changed = { ...p, spec: { ...p.spec, initContainers: p.spec.initContainers!.map((c) => (c.name === 'splice-proxy' ? { ...c, image: 'envoy:patched' } : c)) } };
    const r = checkPod({ pod: changed, namespace: SHOP, cluster: CLUSTER, config: DEFAULT_CONFIG });
    assert.deepEqual(r.state === 'drifted' && r.reasons, ['splice-proxy image: envoy:patched, today docker.io/envoyproxy/envoy:v1.40.0']);
  });
  test('a pod that opts in by annotation in an unlabeled namespace: left out, as the webhook is never asked', () => {
    const r = checkPod({ pod: pod({ annotations: { 'splice.dev/inject': 'true' } }), namespace: ns('shop'), cluster: CLUSTER, config: DEFAULT_CONFIG });
    assert.equal(r.state, 'left-out');
    assert.match(r.state === 'left-out' ? r.reasons[0]! : '', /opts in by annotation only.*objectSelector sees labels/);
    assert.equal(checkPod({ pod: pod({ labels: { 'splice.dev/inject': 'true' } }), namespace: ns('shop'), cluster: CLUSTER, config: DEFAULT_CONFIG }).state, 'not-injected');
  });
  test('each revision\'s check speaks for its own pods', () => {
    const canary = parseConfig({ revision: 'canary' });
    const canaryNs = ns('shop', { 'splice.dev/rev': 'canary' });
    const byCanary = running(probed, canary, canaryNs);
    assert.equal(checkedBy(byCanary, canaryNs, ''), false);
    assert.equal(checkedBy(byCanary, canaryNs, 'canary'), true);
    assert.deepEqual(checkPod({ pod: byCanary, namespace: canaryNs, cluster: CLUSTER, config: canary }), { state: 'current' });
    // A pod of the default revision whose namespace moved to the canary: the default's check says it would not inject it today.
    const byDefault = running(probed);
    assert.equal(checkedBy(byDefault, canaryNs, ''), true);
    assert.equal(checkPod({ pod: byDefault, namespace: canaryNs, cluster: CLUSTER, config: DEFAULT_CONFIG }).state, 'would-not-inject');
    // A pod without the proxy belongs to its namespace's revision.
    assert.equal(checkedBy(pod(), canaryNs, 'canary'), true);
    assert.equal(checkedBy(pod(), canaryNs, ''), false);
  });
  test('a status that is not splice\'s: unreadable', () => {
    assert.equal(checkPod({ pod: pod({ annotations: { 'splice.dev/status': 'x' } }), namespace: SHOP, cluster: CLUSTER, config: DEFAULT_CONFIG }).state, 'unreadable');
  });
});

describe('the report', () => {
  const drifted = { state: 'drifted' as const, reasons: ['splice-proxy image: a, today b'] };
  const reports: PodReport[] = [
    { namespace: 'shop', name: 'web-7d9-b', owner: { kind: 'Deployment', name: 'web' }, check: drifted },
    { namespace: 'shop', name: 'web-7d9-a', owner: { kind: 'Deployment', name: 'web' }, check: drifted },
    { namespace: 'shop', name: 'db-0', owner: { kind: 'StatefulSet', name: 'db' }, check: { state: 'current' } },
    { namespace: 'shop', name: 'debug', owner: { kind: 'Pod', name: 'debug' }, check: { state: 'left-out', reasons: ['pod_opted_out: …'] } },
    { namespace: 'ops', name: 'rs-x1', owner: { kind: 'ReplicaSet', name: 'rs' }, check: { state: 'not-injected', reasons: ['namespace_enabled: …'] } },
    { namespace: 'ops', name: 'rs-x2', owner: { kind: 'ReplicaSet', name: 'rs' }, check: { state: 'not-injected', reasons: ['namespace_enabled: …'] } },
  ];
  test('pods of one workload with the same reasons are one line, with the command that fixes them', () => {
    const groups = groupReports(reports);
    assert.deepEqual(groups.map((g) => [g.state, g.owner.name, g.pods, g.fix]), [
      ['drifted', 'web', ['web-7d9-a', 'web-7d9-b'], 'kubectl -n shop rollout restart deployment/web'],
      ['left-out', 'debug', ['debug'], undefined],
      ['not-injected', 'rs', ['rs-x1', 'rs-x2'], 'kubectl -n ops delete pod rs-x1 rs-x2'],
    ]);
    const text = formatText(groups, 6, 'ConfigMap splice-system/splice');
    assert.match(text, /^checked 6 pods against ConfigMap splice-system\/splice\n/);
    assert.match(text, /Deployment shop\/web: 2 pods \(web-7d9-a, web-7d9-b\)\n    - splice-proxy image: a, today b\n    fix: kubectl -n shop rollout restart deployment\/web\n/);
    assert.match(text, /\n4 pods need a restart\n$/);
  });
  test('a Job\'s pod has no fix: the next one is injected as today', () => {
    assert.equal(fixFor('batch', { kind: 'Job', name: 'nightly-1' }, 'nightly-1-x'), undefined);
    assert.equal(fixFor('shop', { kind: 'DaemonSet', name: 'agent' }, 'agent-1'), 'kubectl -n shop rollout restart daemonset/agent');
  });
  test('nothing to do says so', () => {
    assert.match(formatText(groupReports([reports[2]!]), 1, 'x'), /every injected pod has what splice would inject today\n$/);
  });
});
