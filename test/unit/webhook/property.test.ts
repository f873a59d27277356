// 5,000+ random and mutated AdmissionReviews through the real app and the real engine:
// no crash, no 5xx, an answer for every request, and every returned patch applies to
// the object that was sent.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../../src/inject/config.js';
import { injectPod } from '../../../src/inject/engine.js';
import type { NamespaceFacts } from '../../../src/inject/types.js';
import { buildApp } from '../../../src/webhook/app.js';
import { createMetrics } from '../../../src/webhook/metrics.js';
import { arbitraryGarbage, arbitraryNamespace, arbitraryPod } from '../../support/arbitrary.js';
import { applyPatchTo } from '../../support/patch.js';

let current: NamespaceFacts = { name: 'shop', labels: {}, annotations: {} };
const app = buildApp({
  decide: injectPod,
  namespaces: { get: async (name) => ({ ...current, name }), ready: () => true },
  cluster: { version: { major: 1, minor: 33 } },
  config: DEFAULT_CONFIG,
  metrics: createMetrics(),
});
after(() => app.close());

interface Reply {
  response?: { uid: string; allowed: boolean; patch?: string };
  message?: string;
}

function review(object: unknown, namespace: string, uid: string, apiVersion = 'admission.k8s.io/v1') {
  return {
    apiVersion,
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace, object },
  };
}

async function send(body: unknown): Promise<{ status: number; reply: Reply }> {
  const res = await app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  return { status: res.statusCode, reply: res.json<Reply>() };
}

let counter = 0;

test('4,000 random pods: answered, and every patch applies to the pod sent', async () => {
  let patchedCount = 0;
  await fc.assert(
    fc.asyncProperty(arbitraryPod, arbitraryNamespace, fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'), async (pod, ns, version) => {
      current = ns;
      const uid = `u-${counter++}`;
      const body = review(pod, ns.name, uid, version);
      const { status, reply } = await send(body);
      if (/"(__proto__|constructor)"/.test(JSON.stringify(body))) {
        // Prototype-poisoning keys are refused outright, naming where they are; no valid
        // pod has one (label and annotation keys start with a letter or digit).
        if (status === 400) {
          assert.match(reply.message ?? '', /prototype key at \/request\/object\//);
          return;
        }
      }
      assert.equal(status, 200, JSON.stringify(reply));
      assert.equal(reply.response?.uid, uid);
      if (reply.response?.patch === undefined) return;
      patchedCount++;
      applyPatchTo(pod, reply.response.patch);
    }),
    { numRuns: 4000 },
  );
  assert.ok(patchedCount > 400, `only ${patchedCount} of 4000 were patched`);
});

test('1,000 mutated reviews and malformed pods: a 200 answer or a 4xx naming the problem, never a 5xx', async () => {
  const fields = fc.constantFrom('uid', 'kind', 'operation', 'namespace', 'object', 'resource');
  const mutated = fc.oneof(
    fc.tuple(arbitraryPod, fields, fc.jsonValue({ maxDepth: 3 })).map(([pod, field, value]) => {
      const body = review(pod, 'shop', `m-${counter++}`);
      (body.request as Record<string, unknown>)[field] = value;
      return body;
    }),
    arbitraryGarbage.map((object) => review(object, 'shop', `g-${counter++}`)),
  );
  await fc.assert(
    fc.asyncProperty(mutated, async (body) => {
      current = { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} };
      const { status, reply } = await send(body);
      assert.ok(status === 200 || (status >= 400 && status < 500), `${status}: ${JSON.stringify(reply)}`);
      if (status !== 200) assert.ok((reply.message ?? '').length > 0);
      else assert.equal(typeof reply.response?.allowed, 'boolean');
      if (reply.response?.patch !== undefined) {
        applyPatchTo(body.request.object, reply.response.patch);
      }
    }),
    { numRuns: 1000 },
  );
});
