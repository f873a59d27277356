// `kubectl apply -k manifests/` exactly as shipped must succeed against the API server,
// with strict server-side field validation of every object, the webhook configuration
// included. The other tests install it through an overlay that only changes the
// webhook's address; this applies the unmodified base for real, then puts the overlay back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kubectl } from './lib/kubectl.js';
import { installManifests, REPO } from './lib/splice.js';

test('kubectl apply -k manifests/ as shipped: every object accepted with strict validation', (t) => {
  t.after(() => installManifests());
  const r = kubectl(['apply', '-k', `${REPO}/manifests`, '--validate=strict']);
  assert.equal(r.code, 0, r.stderr);
  for (const kind of ['namespace/splice-system', 'serviceaccount/splice', 'clusterrole.rbac.authorization.k8s.io/splice', 'role.rbac.authorization.k8s.io/splice',
    'configmap/splice', 'service/splice', 'deployment.apps/splice', 'poddisruptionbudget.policy/splice', 'mutatingwebhookconfiguration.admissionregistration.k8s.io/splice']) {
    assert.match(r.stdout, new RegExp(`^${kind.replace(/\./g, '\\.')} (created|configured|unchanged)$`, 'm'), `${kind} in:\n${r.stdout}`);
  }
  assert.equal(r.stderr.trim(), '', 'no warnings');
});

test('kubectl apply -k overlays/revision as shipped, after the base: the canary\'s own objects, accepted with strict validation', (t) => {
  t.after(() => {
    kubectl(['delete', '-k', `${REPO}/overlays/revision`, '--ignore-not-found', '--wait=false']);
    installManifests();
  });
  assert.equal(kubectl(['apply', '-k', `${REPO}/manifests`, '--validate=strict']).code, 0);
  const r = kubectl(['apply', '-k', `${REPO}/overlays/revision`, '--validate=strict']);
  assert.equal(r.code, 0, r.stderr);
  const applied = r.stdout.trim().split('\n').map((l) => l.replace(/ (created|configured|unchanged)$/, '')).sort();
  assert.deepEqual(applied, [
    'clusterrole.rbac.authorization.k8s.io/splice-canary',
    'clusterrolebinding.rbac.authorization.k8s.io/splice-canary',
    'configmap/splice-canary',
    'deployment.apps/splice-canary',
    'mutatingwebhookconfiguration.admissionregistration.k8s.io/splice-canary',
    'poddisruptionbudget.policy/splice-canary',
    'role.rbac.authorization.k8s.io/splice-canary',
    'rolebinding.rbac.authorization.k8s.io/splice-canary',
    'service/splice-canary',
  ]);
  assert.equal(r.stderr.trim(), '', 'no warnings');
});
