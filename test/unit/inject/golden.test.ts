// Every golden case through the engine (as `splice inject` runs it): the decision and
// the injected manifest are compared as parsed objects, injecting the result again
// changes nothing, and every file in the golden folder belongs to a case.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, test } from 'node:test';
import { injectManifests } from '../../../src/cli/run-manifests.js';
import { expectFile, goldenFiles, loadCases, UPDATE } from '../../support/golden.js';
import type { GoldenCase } from '../../support/golden.js';

function run(c: GoldenCase, docs: unknown[]) {
  return injectManifests(docs, {
    namespaceFor: (name) => ({ ...c.namespace, name }),
    cluster: c.cluster,
    config: c.config,
    defaultNamespace: c.namespace.name,
  });
}

const cases = loadCases();

describe('golden cases', () => {
  test('there are at least 25 cases', () => assert.ok(cases.length >= 25, `${cases.length} cases`));

  for (const c of cases) {
    test(c.name, () => {
      const { docs, results } = run(c, [c.input]);
      const decisions = results.map((r) => ({
        object: r.site.label,
        result: r.decision.result,
        reasons: r.decision.reasons,
        warnings: r.decision.warnings,
        ...(r.decision.result === 'deny' ? { message: r.decision.message } : {}),
      }));
      assert.deepEqual(decisions, expectFile(c.decisionFile, decisions));
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
