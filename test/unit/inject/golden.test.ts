// Every golden case through the engine (as `splice inject` runs it): the decision and
// the injected manifest are compared as parsed objects, injecting the result again
// changes nothing, and every file in the golden folder belongs to a case.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, test } from 'node:test';
import { injectManifests } from '../../../src/cli/run-manifests.js';
import type { PodResult } from '../../../src/cli/run-manifests.js';
import { injectPod } from '../../../src/inject/engine.js';
import type { Pod } from '../../../src/inject/types.js';
import { buildApp } from '../../../src/webhook/app.js';
import { createMetrics } from '../../../src/webhook/metrics.js';
import { expectFile, goldenFiles, loadCases, UPDATE } from '../../support/golden.js';
import type { GoldenCase } from '../../support/golden.js';
import { applyPatchTo } from '../../support/patch.js';

function run(c: GoldenCase, docs: unknown[]) {
  return injectManifests(docs, {
    namespaceFor: (name) => ({ ...c.namespace, name }),
    cluster: c.cluster,
    config: c.config,
    defaultNamespace: c.namespace.name,
  });
}

const cases = loadCases();

interface Reply {
  response: { uid: string; allowed: boolean; patch?: string; patchType?: string; warnings?: string[]; status?: { code: number; message: string } };
}

// The same case through the webhook, as the API server would send each pod: the patch
// it answers, applied to the pod sent, must give the injected pod of the golden file.
async function throughWebhook(c: GoldenCase, r: PodResult): Promise<void> {
  const app = buildApp({
    decide: injectPod,
    namespaces: { get: async (name) => ({ ...c.namespace, name }), ready: () => true },
    cluster: c.cluster,
    config: c.config,
    metrics: createMetrics(),
  });
  const uid = `uid-${c.name}`;
  const res = await app.inject({
    method: 'POST',
    url: '/inject',
    headers: { 'content-type': 'application/json' },
    payload: {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        operation: 'CREATE',
        namespace: r.namespace,
        object: r.site.pod,
      },
    },
  });
  await app.close();
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json<Reply>();
  assert.equal(response.uid, uid);
  const d = r.decision;
  // The CLI names fields by their path in the manifest (spec.template.spec.os.name); the
  // webhook, which sees the pod alone, by their path in the pod.
  const inPod = (text: string) => (r.site.at === '' ? text : text.replaceAll(r.site.at, ''));
  assert.deepEqual(response.warnings ?? [], d.warnings.map((w) => `splice: ${inPod(w)}`));
  if (d.result === 'deny') {
    assert.equal(response.allowed, false);
    assert.equal(response.status?.message, inPod(d.message));
    return;
  }
  assert.equal(response.allowed, true);
  if (d.result === 'skip') {
    assert.equal(response.patch, undefined);
    return;
  }
  assert.equal(response.patchType, 'JSONPatch');
  const patched = applyPatchTo<Pod>(r.site.pod, response.patch ?? '');
  assert.deepEqual(r.site.replace(patched), r.site.replace(d.pod));
}

describe('golden cases', () => {
  test('there are at least 25 cases', () => assert.ok(cases.length >= 25, `${cases.length} cases`));

  for (const c of cases) {
    test(c.name, async () => {
      const { docs, results } = run(c, [c.input]);
      const decisions = results.map((r) => ({
        object: r.site.label,
        result: r.decision.result,
        reasons: r.decision.reasons,
        warnings: r.decision.warnings,
        ...(r.decision.result === 'deny' ? { message: r.decision.message } : {}),
      }));
      assert.deepEqual(decisions, expectFile(c.decisionFile, decisions));
      for (const r of results) await throughWebhook(c, r);
      const injected = results.some((r) => r.decision.result === 'inject');
      if (injected) {
        assert.deepEqual(docs[0], expectFile(c.injectedFile, docs[0]));
        // Idempotency: the injected manifest, injected again, is already injected and unchanged.
        const again = run(c, docs);
        assert.deepEqual(again.docs, docs);
        for (const r of again.results) assert.deepEqual(r.decision.reasons.map((x) => x.id), ['already_injected']);
      } else {
        assert.equal(existsSync(c.injectedFile), false, `${basename(c.injectedFile)} exists but nothing is injected`);
        assert.deepEqual(docs, [c.input], 'a pod that is not injected passes through unchanged');
      }
    });
  }

  test('every golden file belongs to a case', () => {
    if (UPDATE) return;
    const names = new Set(cases.map((c) => c.name));
    const orphans = goldenFiles().filter((f) => !names.has(f.replace(/\.(facts|decision|injected)\.yaml$|\.yaml$/, '')));
    assert.deepEqual(orphans, []);
  });
});
