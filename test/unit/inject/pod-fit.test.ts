// What an injected pod must fit into: the pod's own ports, uid and names, its pod-level
// resource budget, the annotation size limit, the nodes it runs on, and (without
// native sidecars) how it ends and starts. Each is asserted on the engine's output.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG } from '../../../src/inject/config.js';
import { ANNOTATIONS_LIMIT_BYTES } from '../../../src/inject/conflicts.js';
import { injectPod } from '../../../src/inject/engine.js';
import type { Decision } from '../../../src/inject/outcome.js';
import { aggregateRequests, podBudget } from '../../../src/inject/pod-resources.js';
import { formatQuantity } from '../../../src/inject/quantity.js';
import type { Container, Pod } from '../../../src/inject/types.js';
import { ENABLED, ns, pod, withApp, withSpec } from '../../support/pods.js';

const inject = (p: Pod, annotations: Record<string, string> = {}, minor = 36): Decision =>
  injectPod({ pod: p, namespace: ns('shop', ENABLED, annotations), cluster: { version: { major: 1, minor } }, config: DEFAULT_CONFIG });

function injected(d: Decision): Pod {
  assert.equal(d.result, 'inject', JSON.stringify(d.reasons));
  return (d as Extract<Decision, { result: 'inject' }>).pod;
}

function refusal(d: Decision): string {
  assert.equal(d.result, 'deny', JSON.stringify(d.reasons));
  return (d as Extract<Decision, { result: 'deny' }>).message;
}

const container = (p: Pod, name: string): Container | undefined =>
  [...(p.spec.initContainers ?? []), ...p.spec.containers].find((c) => c.name === name);

describe('the proxy ports, uid and names', () => {
  for (const [port, use] of [
    [15000, /admin port/],
    [15001, /outbound capture port/],
    [15006, /inbound capture port/],
    [15008, /mTLS port \(every connection from a mesh peer arrives there\)/],
    [15021, /readiness port/],
    [15090, /Prometheus metrics port/],
  ] as const) {
    test(`port ${port}: refused, naming the container, the port and what the proxy uses it for`, () => {
      const message = refusal(inject(withApp(pod(), { ports: [{ containerPort: port }] })));
      assert.match(message, new RegExp(`container app \\(spec\\.containers\\[0\\]\\) declares port ${port}`));
      assert.match(message, use);
      assert.match(message, /splice\.dev\/inject: "false"/);
    });
  }
  test('every collision of a pod is in one refusal', () => {
    const p = withSpec(withApp(pod(), { ports: [{ containerPort: 15001 }, { containerPort: 15090 }] }), { securityContext: { runAsUser: 1337 } });
    const d = inject(p);
    assert.equal(d.result, 'deny');
    assert.equal(d.reasons.length, 3);
  });
  test('the uid refusal says where the uid is set', () => {
    assert.match(refusal(inject(withApp(pod(), { securityContext: { runAsUser: 1337 } }))), /spec\.containers\[0\]\.securityContext\.runAsUser/);
    assert.match(refusal(inject(withSpec(pod(), { securityContext: { runAsUser: 1337 } }))), /\(spec\.securityContext\.runAsUser\)/);
  });
  test("a user's native sidecar as the proxy uid is refused; a run-to-completion init container is not", () => {
    const sidecar = withSpec(pod(), { initContainers: [{ name: 'shipper', image: 'x', restartPolicy: 'Always', securityContext: { runAsUser: 1337 } }] });
    assert.match(refusal(inject(sidecar)), /container shipper runs as uid 1337/);
    const init = withSpec(pod(), { initContainers: [{ name: 'fetch', image: 'x', securityContext: { runAsUser: 1337 } }] });
    injected(inject(init));
  });
  test('a service account whose identity Secret name would pass 253 characters', () => {
    assert.match(refusal(inject(withSpec(pod(), { serviceAccountName: 'a'.repeat(238) }))), /at most 237 characters/);
    injected(inject(withSpec(pod(), { serviceAccountName: 'a'.repeat(237) })));
  });
});

describe('annotations past the API server limit', () => {
  const withBlob = (bytes: number) => pod({ annotations: { 'example.com/blob': 'x'.repeat(bytes - 'example.com/blob'.length) } });
  test('refused when what splice adds takes them past 256 KiB, with the sizes', () => {
    const message = refusal(inject(withBlob(ANNOTATIONS_LIMIT_BYTES - 100)));
    assert.match(message, /annotations take 262044 bytes and splice adds \d+ .* limit of 262144 bytes/);
  });
  test('exactly at the limit is still injected; one byte more is not', () => {
    const base = injected(inject(withBlob(1000)));
    const added = Object.entries(base.metadata?.annotations ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0) - 1000;
    injected(inject(withBlob(ANNOTATIONS_LIMIT_BYTES - added)));
    refusal(inject(withBlob(ANNOTATIONS_LIMIT_BYTES - added + 1)));
  });
  test('injected when they still fit', () => {
    const p = injected(inject(withBlob(ANNOTATIONS_LIMIT_BYTES - 4096)));
    const size = Object.entries(p.metadata?.annotations ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
    assert.ok(size <= ANNOTATIONS_LIMIT_BYTES);
  });
});

describe('pod-level resources (KEP-2837)', () => {
  const app = { name: 'app', image: 'x', resources: { requests: { cpu: '500m', memory: '512Mi' } } };
  const budgetedPod = (resources: unknown, annotations?: Record<string, string>): Pod => withSpec(pod(annotations ? { annotations } : {}), { resources, containers: [app] });

  test("splice's containers share the budgeted resources and keep the others", () => {
    const p = injected(inject(budgetedPod({ requests: { memory: '512Mi' } })));
    const proxy = container(p, 'splice-proxy');
    const init = container(p, 'splice-init');
    assert.deepEqual(proxy?.resources, { requests: { cpu: '100m' } });
    assert.deepEqual(init?.resources, { requests: { cpu: '10m' }, limits: { cpu: '100m' } });
  });
  test('the aggregate requests of the injected pod equal the original\'s for every budgeted resource', () => {
    // The proxy as a native sidecar, and as a regular container.
    for (const native of ['true', 'false']) {
      const original = budgetedPod({ requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } }, { 'splice.dev/native-sidecar': native });
      const p = injected(inject(original));
      for (const r of podBudget(original, {})) assert.equal(formatQuantity(r, aggregateRequests(p, r)), formatQuantity(r, aggregateRequests(original, r)));
    }
  });
  test('before 1.34 the API server drops spec.resources, so splice\'s containers keep their own', () => {
    const p = injected(inject(budgetedPod({ requests: { memory: '512Mi' } }), {}, 33));
    assert.deepEqual(container(p, 'splice-proxy')?.resources, { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } });
  });
  test("the pod's own share must fit: refused with the field and the amounts", () => {
    const message = refusal(inject(budgetedPod({ requests: { memory: '512Mi' } }, { 'splice.dev/proxy-memory': '64Mi' })));
    assert.match(message, /spec\.resources\.requests\.memory is 512Mi, and with splice-proxy the pod's containers would request 576Mi; raise spec\.resources\.requests\.memory to at least 576Mi/);
  });
  test("a proxy limit above the pod's limit is refused", () => {
    const message = refusal(inject(budgetedPod({ limits: { memory: '1Gi' } }, { 'splice.dev/proxy-memory-limit': '2Gi', 'splice.dev/proxy-memory': '64Mi' })));
    assert.match(message, /splice\.dev\/proxy-memory-limit: "2Gi" is more than spec\.resources\.limits\.memory, 1Gi/);
  });
  test("the config's limit a budget removes is not held against the pod's own request", () => {
    // The default memory limit (256Mi) is dropped for a budgeted memory; a 512Mi request fits 2Gi.
    const p = injected(inject(budgetedPod({ requests: { cpu: '2', memory: '2Gi' } }, { 'splice.dev/proxy-memory': '512Mi' })));
    assert.deepEqual(container(p, 'splice-proxy')?.resources, { requests: { memory: '512Mi' } });
  });
  test('a limit below the request names the limit annotation, not the request the pod never set', () => {
    const message = refusal(inject(pod({ annotations: { 'splice.dev/proxy-memory-limit': '32Mi' } })));
    assert.match(message, /annotation splice\.dev\/proxy-memory-limit: "32Mi" is less than the memory request "64Mi" \(splice\.dev\/proxy-memory or the config's default\)/);
  });
  test('a budget of limits only: the share must fit under the pod limit', () => {
    // The API server fills pod requests in after the webhooks: the aggregate, bounded by the limit.
    const message = refusal(inject(budgetedPod({ limits: { memory: '512Mi' } }, { 'splice.dev/proxy-memory': '64Mi' })));
    assert.match(message, /spec\.resources\.limits\.memory is 512Mi, and with splice-proxy the pod's containers would request 576Mi/);
    injected(inject(budgetedPod({ limits: { memory: '1Gi' } }, { 'splice.dev/proxy-memory': '64Mi' })));
  });
  test('a share that fits is kept', () => {
    const p = injected(inject(budgetedPod({ requests: { cpu: '600m' } }, { 'splice.dev/proxy-cpu': '100m' })));
    assert.equal(container(p, 'splice-proxy')?.resources?.requests?.cpu, '100m');
  });
});

describe('aggregateRequests follows KEP-753', () => {
  const c = (name: string, cpu: string, restartPolicy?: string): Container => ({ name, image: 'x', resources: { requests: { cpu } }, ...(restartPolicy ? { restartPolicy } : {}) });
  const total = (p: Pod) => formatQuantity('cpu', aggregateRequests(p, 'cpu'));
  test('containers add up; a larger init container sets the floor', () => {
    assert.equal(total(withSpec(pod(), { containers: [c('a', '100m'), c('b', '200m')] })), '300m');
    assert.equal(total(withSpec(pod(), { containers: [c('a', '100m')], initContainers: [c('i', '2')] })), '2');
  });
  test('sidecars add to the containers and to every init container after them', () => {
    const p = withSpec(pod(), { containers: [c('a', '100m')], initContainers: [c('s', '300m', 'Always'), c('i', '500m')] });
    // After s starts, i needs 500m + 300m; running, the pod needs 100m + 300m.
    assert.equal(total(p), '800m');
  });
  test('a request defaults to the limit', () => {
    const p = withSpec(pod(), { containers: [{ name: 'a', image: 'x', resources: { limits: { cpu: '250m' } } }] });
    assert.equal(total(p), '250m');
  });
});

describe('without native sidecars', () => {
  const legacy = (p: Pod) => inject(p, {}, 28);
  test('a bare pod with restartPolicy OnFailure will not complete', () => {
    const d = legacy(withSpec(pod(), { restartPolicy: 'OnFailure' }));
    assert.ok(d.warnings.some((w) => w.includes('this pod (restartPolicy: OnFailure) will not complete')), d.warnings.join('\n'));
    assert.ok(!d.warnings.some((w) => w.includes('never started again')), 'OnFailure restarts a proxy killed by its hook');
  });
  test('restartPolicy Never with hold: a failed wait leaves the pod without its proxy for good', () => {
    assert.ok(legacy(withSpec(pod(), { restartPolicy: 'Never' })).warnings.some((w) => w.includes('never started again')));
    const noHold = legacy(withSpec(pod({ annotations: { 'splice.dev/hold-application': 'false' } }), { restartPolicy: 'Never' }));
    assert.ok(!noHold.warnings.some((w) => w.includes('never started again')));
  });
  test('init containers that may need the network are named, unless they run as the proxy uid', () => {
    const p = withSpec(pod(), {
      initContainers: [
        { name: 'migrate', image: 'x' },
        { name: 'fetch', image: 'x', securityContext: { runAsUser: 1337 } },
      ],
    });
    const w = legacy(p).warnings.find((x) => x.startsWith('init container'));
    assert.match(w ?? '', /^init container migrate starts before splice-proxy/);
    assert.doesNotMatch(w ?? '', /fetch/);
  });
  test('no outbound capture, no init-container warning', () => {
    const p = withSpec(pod({ annotations: { 'splice.dev/include-outbound-cidrs': '' } }), { initContainers: [{ name: 'migrate', image: 'x' }] });
    assert.ok(!legacy(p).warnings.some((w) => w.startsWith('init container')));
  });
  test("the user's own native sidecar also starts before a regular proxy", () => {
    const p = withSpec(pod({ annotations: { 'splice.dev/native-sidecar': 'false' } }), { initContainers: [{ name: 'vault-agent', image: 'x', restartPolicy: 'Always' }] });
    assert.ok(inject(p).warnings.some((w) => w.startsWith('init container vault-agent starts before splice-proxy')));
  });
  test('native sidecars forced on an API server older than 1.29: the pod would never start', () => {
    const d = inject(pod({ annotations: { 'splice.dev/native-sidecar': 'true' } }), {}, 27);
    assert.ok(d.warnings.some((w) => /Kubernetes 1\.27, older than native sidecars.*never starts/.test(w)), d.warnings.join('\n'));
    assert.deepEqual(inject(pod({ annotations: { 'splice.dev/native-sidecar': 'true' } }), {}, 29).warnings, []);
  });
  test('with native sidecars none of these warnings', () => {
    const p = withSpec(pod(), { restartPolicy: 'Never', initContainers: [{ name: 'migrate', image: 'x' }] });
    assert.deepEqual(inject(p).warnings, []);
  });
});
