// The namespace cache's own logic, driven by a stand-in for client-node's informer
// (the real informer against a real API server is the end-to-end suite's).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Namespace } from '@kubernetes/client-node';
import { InformerNamespaceSource, toFacts, type NamespaceInformer } from '../../../src/kube/namespaces.js';
import { createLogger } from '../../../src/webhook/logger.js';

function fakeInformer() {
  const handlers: Record<string, Array<(x: never) => void>> = {};
  const informer: NamespaceInformer = {
    on(verb: string, cb: (x: never) => void) {
      (handlers[verb] ??= []).push(cb);
    },
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
  } as NamespaceInformer;
  const emit = (verb: 'add' | 'update' | 'delete', ns: V1Namespace) => handlers[verb]?.forEach((cb) => cb(ns as never));
  return { informer, emit };
}

test('cached namespaces keep what splice reads and drop the rest of the object the informer holds', async () => {
  const { informer, emit } = fakeInformer();
  const source = new InformerNamespaceSource({ informer, read: () => Promise.resolve(undefined), logger: createLogger('silent') });
  await source.start();
  const ns: V1Namespace = {
    metadata: {
      name: 'shop',
      resourceVersion: '42',
      labels: { 'splice.dev/inject': 'enabled' },
      annotations: { 'splice.dev/proxy-cpu': '200m' },
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': {} } }],
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
  emit('add', ns);
  assert.deepEqual(await source.get('shop'), { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: { 'splice.dev/proxy-cpu': '200m' } });
  // The informer's own cache holds this very object: what splice dropped is gone from memory.
  assert.equal(ns.metadata?.managedFields, undefined);
  assert.equal(ns.spec, undefined);
  assert.equal(ns.status, undefined);
  assert.equal(ns.metadata?.resourceVersion, '42', 'the informer still needs resourceVersion');

  emit('update', { metadata: { name: 'shop', resourceVersion: '43', labels: {} } });
  assert.deepEqual((await source.get('shop'))?.labels, {});
  emit('delete', { metadata: { name: 'shop' } });
  assert.equal(await source.get('shop'), undefined);
  await source.stop();
});

test('a namespace being deleted is marked terminating (the identity controller leaves it alone)', () => {
  assert.equal(toFacts({ metadata: { name: 'gone', deletionTimestamp: new Date() } })?.terminating, true);
  assert.equal(toFacts({ metadata: { name: 'here' } })?.terminating, undefined);
});
