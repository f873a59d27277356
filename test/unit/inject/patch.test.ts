// The patch applies to exactly the object the API server sent, whatever it holds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { DEFAULT_CONFIG } from '../../../src/inject/config.js';
import { injectPod } from '../../../src/inject/engine.js';
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
    assert.deepEqual(d.pod.spec.volumes?.map((v) => v.name), ['data', 'splice-identity', 'splice-init-run', 'splice-no-api-token']);
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
