// Scenario 10: with failurePolicy Fail, a stopped webhook stops pod creation in enabled
// namespaces (with an error that says so) and nowhere else; a restart restores it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apply, getJson, ok } from './lib/kubectl.js';
import type { PodJson } from './lib/objects.js';
import { isInjected, namespaceManifest, podManifest } from './lib/objects.js';
import type { SpliceProcess } from './lib/splice.js';
import { installManifests, startSplice } from './lib/splice.js';

let splice: SpliceProcess | undefined;

before(async () => {
  installManifests();
  ok(['apply', '-f', '-'], { input: JSON.stringify(namespaceManifest('e2e-outage', { 'splice.dev/inject': 'enabled' })) });
  ok(['apply', '-f', '-'], { input: JSON.stringify(namespaceManifest('e2e-outage-plain')) });
  // Start once so the caBundle is in place before the outage.
  splice = await startSplice();
  await splice.stop();
  splice = undefined;
});
after(async () => {
  await splice?.stop();
});

test('10. webhook down: refused in the enabled namespace with a clear error, other namespaces unaffected', () => {
  const r = apply(podManifest('during-outage', 'e2e-outage'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /failed calling webhook "namespace\.inject\.splice\.dev"/);
  assert.match(r.stderr, /connection refused|connect: /);
  const other = apply(podManifest('during-outage', 'e2e-outage-plain'));
  assert.equal(other.code, 0, other.stderr);
});

test('10. webhook back: creation in the enabled namespace works and is injected', async () => {
  splice = await startSplice();
  const r = apply(podManifest('after-outage', 'e2e-outage'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(isInjected(getJson<PodJson>(['-n', 'e2e-outage', 'get', 'pod', 'after-outage'])), true);
});
