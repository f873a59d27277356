// Scenario 12: the splice ServiceAccount may do exactly what the code needs, and its
// Secret writes are held to its own Secrets by the admission policy.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { kubectl, ok } from './lib/kubectl.js';
import { installManifests } from './lib/splice.js';

const AS = 'system:serviceaccount:splice-system:splice';

before(() => installManifests());

function canI(verb: string, resource: string, namespace?: string): boolean {
  const r = kubectl(['auth', 'can-i', verb, resource, `--as=${AS}`, ...(namespace ? ['-n', namespace] : [])]);
  const answer = r.stdout.trim();
  assert.ok(answer === 'yes' || answer === 'no', `kubectl auth can-i ${verb} ${resource}: ${r.stdout} ${r.stderr}`);
  return answer === 'yes';
}

const allowed: Array<[string, string, string?]> = [
  ['list', 'namespaces'],
  ['watch', 'namespaces'],
  ['get', 'namespaces'],
  ['create', 'secrets', 'splice-system'],
  ['get', 'pods', 'splice-system'],
  ['get', 'secrets/splice-webhook-tls', 'splice-system'],
  ['update', 'secrets/splice-webhook-tls', 'splice-system'],
  ['get', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/splice'],
  ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/splice'],
  // The identity controller (what the admission policy below narrows for secrets).
  ['list', 'serviceaccounts'],
  ['watch', 'serviceaccounts'],
  ['list', 'pods'],
  ['watch', 'pods'],
  ['list', 'secrets'],
  ['watch', 'secrets'],
  ['create', 'secrets', 'default'],
  ['update', 'secrets', 'default'],
  ['delete', 'secrets', 'default'],
  ['get', 'secrets/splice-ca', 'splice-system'],
  ['create', 'leases.coordination.k8s.io', 'splice-system'],
  ['get', 'leases.coordination.k8s.io/splice-identity', 'splice-system'],
  ['update', 'leases.coordination.k8s.io/splice-identity', 'splice-system'],
];
const denied: Array<[string, string, string?]> = [
  ['patch', 'secrets', 'default'],
  ['deletecollection', 'secrets', 'default'],
  ['create', 'pods', 'default'],
  ['get', 'pods', 'default'],
  ['update', 'pods', 'default'],
  ['get', 'serviceaccounts', 'default'],
  ['update', 'serviceaccounts', 'default'],
  ['create', 'serviceaccounts/token', 'default'],
  ['get', 'leases.coordination.k8s.io/kube-scheduler', 'kube-system'],
  ['update', 'leases.coordination.k8s.io/someone-else', 'splice-system'],
  ['delete', 'leases.coordination.k8s.io/splice-identity', 'splice-system'],
  ['patch', 'namespaces'],
  ['delete', 'namespaces'],
  ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/someone-else'],
  ['list', 'mutatingwebhookconfigurations.admissionregistration.k8s.io'],
  ['create', 'mutatingwebhookconfigurations.admissionregistration.k8s.io'],
  ['get', 'deployments.apps', 'default'],
];

for (const [verb, resource, ns] of allowed) {
  test(`12. allowed: ${verb} ${resource}${ns ? ` in ${ns}` : ''}`, () => assert.equal(canI(verb, resource, ns), true));
}
for (const [verb, resource, ns] of denied) {
  test(`12. denied: ${verb} ${resource}${ns ? ` in ${ns}` : ''}`, () => assert.equal(canI(verb, resource, ns), false));
}

// RBAC lets splice write any Secret; the ValidatingAdmissionPolicy splice-secrets holds
// it to its own. Server-side dry runs go through admission and leave nothing behind.
function createSecretAs(namespace: string, name: string, labels: Record<string, string>): { code: number; stderr: string } {
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels }, type: 'Opaque', data: {} };
  return kubectl(['create', '--dry-run=server', `--as=${AS}`, '-f', '-'], { input: JSON.stringify(secret) });
}
const IDENTITY_LABELS = { 'app.kubernetes.io/managed-by': 'splice', 'app.kubernetes.io/component': 'identity' };

test('12. policy: splice may create splice-identity-* Secrets that carry its labels', () => {
  const r = createSecretAs('default', 'splice-identity-x', IDENTITY_LABELS);
  assert.equal(r.code, 0, r.stderr);
});
test('12. policy: splice may not create any other Secret, and the refusal names it', () => {
  const r = createSecretAs('default', 'app-credentials', IDENTITY_LABELS);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /splice may write only its own Secrets .* not default\/app-credentials/);
});
test('12. policy: splice may not write an identity Secret without its labels', () => {
  const r = createSecretAs('default', 'splice-identity-x', {});
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /must carry the labels app\.kubernetes\.io\/managed-by=splice/);
});
test('12. policy: splice may not delete a Secret that is not its own', () => {
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'e2e-not-splices', namespace: 'default' }, stringData: { k: 'v' } };
  const created = kubectl(['apply', '-f', '-'], { input: JSON.stringify(secret) });
  assert.equal(created.code, 0, created.stderr);
  try {
    const del = kubectl(['-n', 'default', 'delete', 'secret', 'e2e-not-splices', '--dry-run=server', `--as=${AS}`]);
    assert.notEqual(del.code, 0, 'the delete went through');
    assert.match(del.stderr, /splice may write only its own Secrets/);
  } finally {
    ok(['-n', 'default', 'delete', 'secret', 'e2e-not-splices']);
  }
});
