// The Event writer's own rules (one Event per owner and reason, repeats added up into its
// count, a bounded rate of creations), with the API calls recorded. That the API server
// takes these Events and kubectl shows them is the end-to-end test's (podsecurity.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnerEvents, SERIES_WINDOW_MS, type EventsApi } from '../../../src/kube/owner-events.js';
import { createLogger } from '../../../src/webhook/logger.js';
import { controllerOf, type SkipNotice } from '../../../src/webhook/skip-events.js';

interface Call {
  verb: 'create' | 'patch';
  namespace: string;
  name?: string;
  body: unknown;
}

function recorder(): { api: EventsApi; calls: Call[] } {
  const calls: Call[] = [];
  const api = {
    createNamespacedEvent: async (p: { namespace: string; body: { metadata?: { name?: string } } }) => {
      calls.push({ verb: 'create', namespace: p.namespace, name: p.body.metadata?.name, body: p.body });
      return p.body;
    },
    patchNamespacedEvent: async (p: { name: string; namespace: string; body: unknown }) => {
      calls.push({ verb: 'patch', namespace: p.namespace, name: p.name, body: p.body });
      return {};
    },
  } as unknown as EventsApi;
  return { api, calls };
}

const notice = (uid: string, message = 'namespace shop enforces Pod Security level "restricted"'): SkipNotice => ({
  namespace: 'shop',
  owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `web-${uid}`, uid },
  pod: 'web-',
  reason: 'pod_security_conflict',
  message,
});
const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

test('repeats of one owner and reason make one Event, whose count is patched to the total', async () => {
  const { api, calls } = recorder();
  const events = new OwnerEvents({ api, logger: createLogger('silent'), instance: 'splice-0', patchIntervalMs: 20 });
  for (let i = 0; i < 5; i++) events.record(notice('rs-1'));
  await settle(100);
  events.stop();
  assert.deepEqual(calls.map((c) => c.verb), ['create', 'patch'], JSON.stringify(calls));
  const created = calls[0]?.body as { involvedObject: { uid: string; kind: string }; reason: string; type: string; count: number; message: string };
  assert.deepEqual([created.involvedObject.kind, created.involvedObject.uid, created.reason, created.type, created.count], ['ReplicaSet', 'rs-1', 'NotMeshed', 'Warning', 1]);
  assert.match(created.message, /^pod web- was created without splice-proxy: namespace shop enforces/);
  assert.equal(calls[1]?.name, calls[0]?.name, 'the same Event is updated');
  assert.deepEqual((calls[1]?.body as Array<{ path: string; value: unknown }>).find((op) => op.path === '/count')?.value, 5);
});

test('another owner, or another reason, is an Event of its own; after the window a repeat starts a new one', async () => {
  const { api, calls } = recorder();
  let now = 1_000_000;
  const events = new OwnerEvents({ api, logger: createLogger('silent'), instance: 'splice-0', now: () => now, patchIntervalMs: 10 });
  events.record(notice('rs-1'));
  events.record(notice('rs-2'));
  events.record(notice('rs-1', 'pod runs on Windows'));
  await settle();
  assert.equal(calls.filter((c) => c.verb === 'create').length, 3);
  now += SERIES_WINDOW_MS;
  events.record(notice('rs-1'));
  await settle();
  events.stop();
  assert.equal(calls.filter((c) => c.verb === 'create').length, 4);
});

test('a burst across many owners is capped: creations beyond the bucket are dropped, not queued', async () => {
  const { api, calls } = recorder();
  const now = 5_000_000;
  const events = new OwnerEvents({ api, logger: createLogger('silent'), instance: 'splice-0', now: () => now });
  for (let i = 0; i < 200; i++) events.record(notice(`rs-${i}`));
  await settle();
  events.stop();
  assert.equal(calls.length, 25, 'the burst of the bucket, nothing more at the same instant');
});

test('controllerOf reads the controlling owner only, and only when it is complete', () => {
  const ref = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'u1' };
  assert.deepEqual(controllerOf({ metadata: { ownerReferences: [{ ...ref, controller: false }, { ...ref, name: 'web-2', controller: true }] } }), { ...ref, name: 'web-2' });
  assert.equal(controllerOf({ metadata: { ownerReferences: [{ ...ref }] } }), undefined, 'not a controller');
  assert.equal(controllerOf({ metadata: { ownerReferences: [{ ...ref, uid: '', controller: true }] } }), undefined, 'no uid');
  assert.equal(controllerOf({ metadata: {} }), undefined);
  assert.equal(controllerOf('not a pod'), undefined);
});

test('a create the API server refused is not the end: the next skip of that owner tries again', async () => {
  const { api, calls } = recorder();
  let fail = true;
  const failing = {
    ...api,
    createNamespacedEvent: async (p: Parameters<EventsApi['createNamespacedEvent']>[0]) => {
      if (fail) throw new Error('429 Too Many Requests');
      return api.createNamespacedEvent(p);
    },
  } as EventsApi;
  const events = new OwnerEvents({ api: failing, logger: createLogger('silent'), instance: 'splice-0', patchIntervalMs: 10 });
  events.record(notice('rs-1'));
  await settle();
  fail = false;
  events.record(notice('rs-1'));
  await settle();
  events.stop();
  assert.deepEqual(calls.map((c) => c.verb), ['create']);
});

test('the Event name is a DNS subdomain even when the owner\'s name is cut', async () => {
  const { api, calls } = recorder();
  const events = new OwnerEvents({ api, logger: createLogger('silent'), instance: 'splice-0' });
  const long = { ...notice('rs-1'), owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${'a'.repeat(199)}-b`, uid: 'rs-1' } };
  events.record(long);
  await settle();
  events.stop();
  assert.match(calls[0]?.name ?? '', /^a{199}\.[0-9a-f]{12}$/);
});
