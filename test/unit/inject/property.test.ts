// Properties over thousands of random pods: the engine never throws, every patch
// applies to the object it was computed from and yields exactly the injected pod, and
// injection is idempotent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import { DEFAULT_CONFIG } from '../../../src/inject/config.js';
import { injectPod } from '../../../src/inject/engine.js';
import { parseBootstrapInput } from '../../../src/inject/bootstrap-input.js';
import { patchBase64, patchText } from '../../../src/inject/patch.js';
import type { Container, Pod } from '../../../src/inject/types.js';
import { arbitraryApiPod, arbitraryGarbage, arbitraryNamespace, arbitraryPod, arbitraryVersion } from '../../support/arbitrary.js';
import { validatePod } from '../../support/pod-validation.js';

const { applyPatch, compare } = fastJsonPatch;
const RUNS = 5000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

test(`random pods (${RUNS}): no exception, patch applies, idempotent`, () => {
  let injected = 0;
  fc.assert(
    fc.property(arbitraryPod, arbitraryNamespace, arbitraryVersion, (pod, namespace, version) => {
      const sent = structuredClone(pod);
      const d = injectPod({ pod, namespace, cluster: version ? { version } : {}, config: DEFAULT_CONFIG });
      assert.deepEqual(pod, sent, 'the input is not modified');
      if (d.result !== 'inject') return;
      injected++;
      // Validate each op against the document: a patch that does not apply throws here.
      const patched = applyPatch(structuredClone(sent), d.patch, true, false).newDocument;
      const { managedFields, ...meta } = patched.metadata ?? {};
      assert.deepEqual({ ...patched, metadata: meta }, d.pod);
      assert.deepEqual(managedFields, sent.metadata?.managedFields, 'managedFields are left as they were');
      // splice's diff shares values where fast-json-patch's compare clones them; the ops
      // themselves, as written on the wire, must be the same.
      const withoutManaged = { ...sent, metadata: { ...sent.metadata } };
      delete withoutManaged.metadata.managedFields;
      if (sent.metadata === undefined) delete (withoutManaged as { metadata?: unknown }).metadata;
      assert.deepEqual(JSON.parse(patchText(d.patch)), compare(withoutManaged, d.pod));
      // The encoded patch is kept per signature of the ops and shared between pods: what
      // goes on the wire must still be exactly this pod's patch.
      assert.equal(Buffer.from(patchBase64(d.patch), 'base64').toString(), patchText(d.patch));
      const again = injectPod({ pod: patched, namespace, cluster: version ? { version } : {}, config: DEFAULT_CONFIG });
      assert.equal(again.result, 'skip');
      assert.deepEqual(again.reasons.map((r) => r.id).includes('already_injected'), true);
    }),
    { numRuns: RUNS },
  );
  // A generator that never reaches the inject path would make the checks above vacuous.
  assert.ok(injected > RUNS / 10, `only ${injected} of ${RUNS} pods were injected`);
});

test(`random pods of every kind (${RUNS} each): an injected pod is valid whenever the original is, and has no new warnings`, () => {
  const seen = { windows: 0, budgeted: 0, proxyPort: 0, proxyUid: 0, nulls: 0, httpProbe: 0, tcpProbe: 0, grpcProbe: 0, probeLeft: 0, parsed: 0 };
  const enabled = fc.constant({ name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} });
  for (const generator of [arbitraryPod, arbitraryApiPod]) {
    fc.assert(
      fc.property(generator, fc.oneof(enabled, arbitraryNamespace), arbitraryVersion, (pod, namespace, version) => {
        const original = validatePod(pod as unknown as Pod, version?.minor);
        if (original.errors.length > 0) return;
        const d = injectPod({ pod, namespace, cluster: version ? { version } : {}, config: DEFAULT_CONFIG });
        const reasons = d.reasons.map((r) => r.message).join('\n');
        if (d.reasons.some((r) => r.id === 'windows_pod')) seen.windows++;
        if (/declares port 150/.test(reasons)) seen.proxyPort++;
        if (/runs as uid 1337/.test(reasons)) seen.proxyUid++;
        if (d.result !== 'inject') return;
        const spec = pod.spec as Record<string, unknown>;
        if (spec.resources !== undefined) seen.budgeted++;
        if (spec.initContainers === null || spec.volumes === null || pod.metadata?.annotations === null) seen.nulls++;
        const after = validatePod(d.pod, version?.minor);
        assert.deepEqual(after.errors, [], 'the injected pod passes where the original passed');
        const added = after.warnings.filter((w) => !original.warnings.includes(w));
        assert.deepEqual(added, [], 'the injected pod has no warning the original did not have');
        assert.notEqual((d.pod.spec as { os?: { name?: string } }).os?.name, 'windows');
        // Every probe is either as it was or a GET of the health listener, whose original is kept.
        const originals = JSON.parse(d.pod.metadata?.annotations?.['splice.dev/original-probes'] ?? '{}') as Record<string, Record<string, unknown>>;
        const before = [...(pod.spec.initContainers ?? []), ...pod.spec.containers] as Container[];
        for (const c of [...(d.pod.spec.initContainers ?? []), ...d.pod.spec.containers]) {
          const was = before.find((x) => x.name === c.name);
          if (!was) continue;
          for (const field of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
            const now = c[field];
            assert.equal(now === undefined, was[field] === undefined, `${c.name}.${field} is neither dropped nor made up`);
            if (now === undefined || JSON.stringify(now) === JSON.stringify(was[field])) {
              if (now !== undefined && now.exec === undefined) seen.probeLeft++;
              assert.equal(originals[c.name]?.[field], undefined, 'no original recorded for a probe left alone');
              continue;
            }
            assert.deepEqual(now.httpGet?.port, 15021, `${c.name}.${field} goes to the health listener`);
            assert.equal(now.httpGet?.path, `/app-health/${c.name}/${field.replace('Probe', '')}`);
            assert.deepEqual(originals[c.name]?.[field], was[field], 'the original is kept');
            const kind = was[field]?.httpGet ? 'httpProbe' : was[field]?.tcpSocket ? 'tcpProbe' : 'grpcProbe';
            seen[kind]++;
          }
        }
        // splice-init must take what it is given: the bootstrap input parses, as the kubelet
        // expands it, for any namespace and service account the API server would have.
        const sa = (pod.spec as { serviceAccountName?: string }).serviceAccountName ?? 'default';
        if (DNS_LABEL.test(namespace.name) && DNS_SUBDOMAIN.test(sa)) {
          const init = (d.pod.spec.initContainers ?? []).find((c) => c.name === 'splice-init');
          const args = init?.args ?? [];
          parseBootstrapInput((args[args.indexOf('--bootstrap-input') + 1] ?? '').replace('$(POD_IP)', '10.244.0.9'));
          seen.parsed++;
        }
      }),
      { numRuns: RUNS },
    );
  }
  // Each kind must actually come up, or the property says nothing about it.
  for (const [kind, count] of Object.entries(seen)) assert.ok(count >= 20, `only ${count} pods of kind ${kind}`);
});

// A pod that asks nothing of splice and uses nothing the proxy needs: no splice.dev/
// annotation but the opt-in or -out, no proxy port, port name or uid, no name splice
// adds. Valid on its own, such a pod must never be refused: refusing too much is a
// failure too, and the property above only looks at pods that were injected.
function asksNothing(pod: Record<string, any>): boolean {
  const annotations = Object.keys(pod.metadata?.annotations ?? {});
  if (annotations.some((k) => k.startsWith('splice.dev/') && k !== 'splice.dev/inject')) return false;
  if (['true', 'enabled', 'false', 'disabled', undefined].indexOf(pod.metadata?.annotations?.['splice.dev/inject']) < 0) return false;
  const podUid = pod.spec.securityContext?.runAsUser;
  const all = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])];
  return all.every((c: Record<string, any>, i: number) => {
    const beside = i < pod.spec.containers.length || c.restartPolicy === 'Always';
    const ports = (c.ports ?? []) as Array<Record<string, unknown>>;
    return (
      c.name !== 'splice-init' &&
      !(beside && (c.securityContext?.runAsUser ?? podUid) === 1337) &&
      ports.every((p) => p.name !== 'splice-metrics' && !(PROXY_PORTS.includes(p.containerPort as number) && (p.protocol ?? 'TCP') === 'TCP'))
    );
  });
}
const PROXY_PORTS = [15000, 15001, 15006, 15008, 15021, 15090];

test(`valid pods that ask nothing of splice (of ${RUNS}) are never refused`, () => {
  let checked = 0;
  fc.assert(
    fc.property(arbitraryApiPod, arbitraryVersion, (pod, version) => {
      if (!asksNothing(pod) || validatePod(pod as unknown as Pod, version?.minor).errors.length > 0) return;
      checked++;
      const d = injectPod({ pod, namespace: { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} }, cluster: version ? { version } : {}, config: DEFAULT_CONFIG });
      assert.notEqual(d.result, 'deny', d.result === 'deny' ? d.message : '');
    }),
    { numRuns: RUNS },
  );
  assert.ok(checked > RUNS / 4, `only ${checked} pods checked`);
});

test('malformed objects are refused with a message naming the field, never an exception', () => {
  fc.assert(
    fc.property(arbitraryGarbage, arbitraryNamespace, (obj, namespace) => {
      const d = injectPod({ pod: obj, namespace, cluster: {}, config: DEFAULT_CONFIG });
      assert.ok(['inject', 'skip', 'deny'].includes(d.result));
      if (d.result === 'deny') assert.ok(d.message.length > 0);
    }),
    { numRuns: 2000 },
  );
});

test('an object nested far deeper than any pod is injected without being walked', () => {
  let deep: Record<string, unknown> = {};
  const root = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'deep' }, spec: { containers: [{ name: 'app', extra: deep }] } };
  for (let i = 0; i < 100_000; i++) {
    const next: Record<string, unknown> = {};
    deep.x = next;
    deep = next;
  }
  const d = injectPod({ pod: root, namespace: { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} }, cluster: {}, config: DEFAULT_CONFIG });
  assert.equal(d.result, 'inject');
  // The app container is not part of the patch, so the patch can be written out.
  assert.ok(d.patch.every((op) => !op.path.startsWith('/spec/containers/0')));
  assert.ok(JSON.parse(patchText(d.patch)).length > 0);
});
