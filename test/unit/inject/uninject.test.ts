// Uninjection takes out exactly what injection put in: on every golden case (as
// `splice inject | splice uninject` would), on thousands of random pods, and on pods
// injected by an older splice whose status says less.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { injectManifests, mapPodSites } from '../../../src/cli/run-manifests.js';
import { withoutNullFields } from '../../../src/cli/workloads.js';
import { DEFAULT_CONFIG } from '../../../src/inject/config.js';
import { injectPod } from '../../../src/inject/engine.js';
import { uninjectPod } from '../../../src/inject/uninject.js';
import type { Pod } from '../../../src/inject/types.js';
import { arbitraryNamespace, arbitraryPod, arbitraryVersion } from '../../support/arbitrary.js';
import { loadCases } from '../../support/golden.js';
import { ENABLED, ns, pod, withApp } from '../../support/pods.js';

const uninjectAll = (docs: unknown[]) =>
  mapPodSites(docs, (site, normalized) => {
    const r = uninjectPod(site.pod);
    assert.notEqual(r.result, 'invalid', r.result === 'invalid' ? `${site.label}: ${r.message}` : '');
    return r.result === 'uninjected' ? site.replace(r.pod) : normalized;
  });

describe('inject, then uninject: the input comes back', () => {
  for (const c of loadCases()) {
    test(c.name, () => {
      const docs = Array.isArray(c.input) ? c.input : [c.input];
      const { docs: injected, results } = injectManifests(docs, { namespaceFor: (name) => ({ ...c.namespace, name }), cluster: c.cluster, config: c.config, defaultNamespace: c.namespace.name });
      // As inject reads them: null fields are absent ones to the API server (workloads.ts).
      const expected = mapPodSites(docs, (_site, normalized) => normalized);
      assert.deepEqual(uninjectAll(injected), expected);
      if (results.some((r) => r.decision.result === 'inject')) assert.notDeepEqual(injected, expected, 'the case injects something');
    });
  }

  test('random pods (3000)', () => {
    let injected = 0;
    fc.assert(
      fc.property(arbitraryPod, arbitraryNamespace, arbitraryVersion, (raw, namespace, version) => {
        const { managedFields: _m, ...metadata } = (raw.metadata ?? {}) as Record<string, unknown>;
        const original = withoutNullFields({ ...raw, metadata }) as Pod;
        const d = injectPod({ pod: original, namespace, cluster: version ? { version } : {}, config: DEFAULT_CONFIG });
        if (d.result !== 'inject') return;
        injected++;
        const back = uninjectPod(d.pod);
        assert.equal(back.result, 'uninjected');
        if (back.result === 'uninjected') assert.deepEqual(back.pod, original);
      }),
      { numRuns: 3000 },
    );
    assert.ok(injected > 300, `only ${injected} pods were injected`);
  });
});

describe('uninject on its own', () => {
  const injected = (p: Pod): Pod => {
    const d = injectPod({ pod: p, namespace: ns('shop', ENABLED), cluster: {}, config: DEFAULT_CONFIG });
    if (d.result !== 'inject') throw new Error(d.result);
    return d.pod;
  };
  test('a pod splice did not inject comes back as it was', () => {
    const p = pod();
    assert.deepEqual(uninjectPod(p), { result: 'not-injected', pod: p });
  });
  test('a pod injected before the status said what it created: splice\'s parts still go, the pod\'s own stay', () => {
    const p = withApp(pod({ annotations: { team: 'a' } }), { readinessProbe: { tcpSocket: { port: 8080 } } });
    const i = injected(p);
    const status = JSON.parse(i.metadata!.annotations!['splice.dev/status']!) as Record<string, unknown>;
    const old = { ...i, metadata: { ...i.metadata, annotations: { ...i.metadata!.annotations, 'splice.dev/status': JSON.stringify({ version: '0.3.0', containers: status.containers, initContainers: status.initContainers, volumes: status.volumes }) } } };
    const r = uninjectPod(old);
    assert.equal(r.result, 'uninjected');
    if (r.result !== 'uninjected') return;
    assert.deepEqual(r.pod.spec.containers, p.spec.containers, 'probes restored');
    assert.equal(r.pod.spec.initContainers, undefined);
    assert.equal(r.pod.spec.volumes, undefined);
    // Without the status's word for it, splice cannot tell its default container from the user's: it stays.
    assert.deepEqual(r.pod.metadata?.annotations, { team: 'a', 'kubectl.kubernetes.io/default-container': 'app' });
    assert.equal(r.pod.metadata?.labels?.['splice.dev/injected'], undefined);
  });
  test('a status that is not splice\'s is an error naming the annotation', () => {
    const r = uninjectPod(pod({ annotations: { 'splice.dev/status': '{"version":1}' } }));
    assert.equal(r.result, 'invalid');
    if (r.result === 'invalid') assert.match(r.message, /^annotation splice\.dev\/status does not say what splice added/);
    const broken = uninjectPod(pod({ annotations: { 'splice.dev/status': '{}', 'splice.dev/original-probes': '[' } }));
    assert.equal(broken.result, 'invalid');
  });
  test('what others added since stays: a container, a volume, an annotation', () => {
    const i = injected(pod());
    const later = { ...i, metadata: { ...i.metadata, annotations: { ...i.metadata!.annotations, 'example.com/later': 'x' } }, spec: { ...i.spec, containers: [...i.spec.containers, { name: 'debugger', image: 'busybox' }], volumes: [...(i.spec.volumes ?? []), { name: 'scratch', emptyDir: {} }] } };
    const r = uninjectPod(later);
    if (r.result !== 'uninjected') throw new Error(r.result);
    assert.deepEqual(r.pod.spec.containers.map((c) => c.name), ['app', 'debugger']);
    assert.deepEqual(r.pod.spec.volumes, [{ name: 'scratch', emptyDir: {} }]);
    assert.deepEqual(r.pod.metadata?.annotations, { 'example.com/later': 'x' });
  });
  test('a probe changed since injection keeps its change: an edited timing, a deleted or replaced probe', () => {
    const p = withApp(pod(), { readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 10 }, livenessProbe: { tcpSocket: { port: 8080 } }, startupProbe: { tcpSocket: { port: 8080 } } });
    const i = injected(p);
    const [app] = i.spec.containers;
    const { livenessProbe: _deleted, ...rest } = app!;
    const edited = { ...i, spec: { ...i.spec, containers: [{ ...rest, readinessProbe: { ...app!.readinessProbe, periodSeconds: 30 }, startupProbe: { exec: { command: ['true'] } } }] } };
    const r = uninjectPod(edited);
    if (r.result !== 'uninjected') throw new Error(r.result);
    const c = r.pod.spec.containers[0]!;
    assert.deepEqual(c.readinessProbe, { tcpSocket: { port: 8080 }, periodSeconds: 30 });
    assert.equal(c.livenessProbe, undefined, 'a deleted probe stays deleted');
    assert.deepEqual(c.startupProbe, { exec: { command: ['true'] } }, 'a replaced probe stays replaced');
  });
  test('splice.dev/original-probes on a pod whose probes splice did not rewrite changes no probe', () => {
    const p = pod({ annotations: { 'splice.dev/original-probes': '{"app":{"livenessProbe":{"tcpSocket":{"port":1}}}}' } });
    const d = injectPod({ pod: p, namespace: ns('shop', ENABLED), cluster: {}, config: DEFAULT_CONFIG });
    if (d.result !== 'inject') throw new Error(d.result);
    assert.ok(d.warnings.some((w) => w.startsWith('the pod carries splice.dev/original-probes, which splice writes itself')), d.warnings.join('\n'));
    const r = uninjectPod(d.pod);
    if (r.result !== 'uninjected') throw new Error(r.result);
    assert.equal(r.pod.spec.containers[0]!.livenessProbe, undefined);
  });
});

