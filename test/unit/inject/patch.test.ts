// The patch applies to exactly the object the API server sent, whatever it holds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { DEFAULT_CONFIG } from '../../../src/inject/config.js';
import { injectPod } from '../../../src/inject/engine.js';
import { patchBase64, patchText } from '../../../src/inject/patch.js';
import type { Pod } from '../../../src/inject/types.js';
import { ENABLED, ns } from '../../support/pods.js';

function inject(pod: Pod) {
  const d = injectPod({ pod, namespace: ns('shop', ENABLED), cluster: {}, config: DEFAULT_CONFIG });
  assert.equal(d.result, 'inject');
  if (d.result !== 'inject') throw new Error('not injected');
  const applied = fastJsonPatch.applyPatch(structuredClone(pod), d.patch, true, false).newDocument;
  assert.deepEqual(applied, d.pod);
  return d;
}

describe('patch', () => {
  test('replicas share one encoded patch; any difference in the ops gives its own', () => {
    const replica = (name: string, annotations: Record<string, string>): Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'shop', annotations },
      spec: { containers: [{ name: 'app', image: 'app:1' }], volumes: [{ name: 'data', emptyDir: {} }] },
    });
    const decode = (b64: string) => Buffer.from(b64, 'base64').toString();
    const one = inject(replica('web-1', { team: 'a' }));
    const two = inject(replica('web-2', { team: 'a' }));
    assert.notEqual(one.patch, two.patch, 'two decisions, two op lists');
    assert.equal(patchBase64(one.patch), patchBase64(two.patch), 'the same text for both replicas');
    assert.equal(decode(patchBase64(two.patch)), patchText(two.patch));
    // Same shape, but an existing annotation the patch must keep a different way.
    const other = inject(replica('web-3', { 'kubectl.kubernetes.io/default-container': 'app' }));
    assert.notEqual(patchBase64(other.patch), patchBase64(one.patch));
    assert.equal(decode(patchBase64(other.patch)), patchText(other.patch));
    // A value that is not one of splice's shared parts is in the signature as itself.
    const ops = (v: string) => [{ op: 'replace' as const, path: '/metadata/labels/x', value: v }];
    assert.equal(decode(patchBase64(ops('1'))), '[{"op":"replace","path":"/metadata/labels/x","value":"1"}]');
    assert.equal(decode(patchBase64(ops('2'))), '[{"op":"replace","path":"/metadata/labels/x","value":"2"}]');
  });

  test('a pod with no labels, annotations, init containers or volumes: the patch adds them whole', () => {
    const d = inject({ metadata: { name: 'bare' }, spec: { containers: [{ name: 'app', image: 'x' }] } });
    const paths = d.patch.map((op) => `${op.op} ${op.path}`).sort();
    assert.deepEqual(paths, ['add /metadata/annotations', 'add /metadata/labels', 'add /spec/initContainers', 'add /spec/volumes']);
  });

  test('2,000 env vars: the patch never touches the app container', () => {
    const env = Array.from({ length: 2000 }, (_, i) => ({ name: `VAR_${i}`, value: `value-${i}` }));
    const d = inject({ metadata: { name: 'big' }, spec: { containers: [{ name: 'app', image: 'x', env }] } });
    assert.ok(d.patch.every((op) => !op.path.startsWith('/spec/containers')), 'no op on the app containers');
  });

  test('keys with "/" and "~" are escaped, and existing entries are kept', () => {
    const pod: Pod = {
      metadata: { name: 'keys', annotations: { 'example.com/a~b': '1', '~/': '2' }, labels: { 'x/y~z': 'v' } },
      spec: { containers: [{ name: 'app', image: 'x' }], initContainers: [{ name: 'prepare', image: 'y' }], volumes: [{ name: 'data', emptyDir: {} }] },
    };
    const d = inject(pod);
    assert.equal(d.pod.metadata?.annotations?.['example.com/a~b'], '1');
    assert.equal(d.pod.metadata?.annotations?.['~/'], '2');
    assert.ok(d.patch.some((op) => op.path === '/metadata/annotations/splice.dev~1status'));
    assert.ok(d.patch.some((op) => op.path === '/metadata/labels/splice.dev~1injected'));
    assert.equal(d.pod.metadata?.labels?.['x/y~z'], 'v');
    assert.deepEqual(d.pod.spec.initContainers?.map((c) => c.name), ['splice-init', 'splice-proxy', 'prepare']);
    assert.deepEqual(d.pod.spec.volumes?.map((v) => v.name), ['data', 'splice-identity', 'splice-init-run', 'splice-proxy-config', 'splice-no-api-token']);
  });

  test('managedFields are left alone: not diffed, and still there after the patch', () => {
    const managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': {} } }];
    const pod: Pod = { metadata: { name: 'm', managedFields }, spec: { containers: [{ name: 'app', image: 'x' }] } };
    const d = injectPod({ pod, namespace: ns('shop', ENABLED), cluster: {}, config: DEFAULT_CONFIG });
    assert.equal(d.result, 'inject');
    if (d.result !== 'inject') return;
    assert.ok(d.patch.every((op) => !op.path.startsWith('/metadata/managedFields')));
    const applied = fastJsonPatch.applyPatch(structuredClone(pod), d.patch, true, false).newDocument;
    assert.deepEqual(applied.metadata?.managedFields, managedFields);
  });
});
