// Scenario 12: the splice ServiceAccount may do exactly what the code needs.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { kubectl } from './lib/kubectl.js';
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
  ['get', 'secrets/splice-webhook-tls', 'splice-system'],
  ['update', 'secrets/splice-webhook-tls', 'splice-system'],
  ['get', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/splice'],
  ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/splice'],
];
const denied: Array<[string, string, string?]> = [
  ['get', 'secrets', 'default'],
  ['get', 'secrets/splice-webhook-tls', 'default'],
  ['list', 'secrets', 'splice-system'],
  ['get', 'secrets/some-other-secret', 'splice-system'],
  ['delete', 'secrets/splice-webhook-tls', 'splice-system'],
  ['create', 'pods', 'default'],
  ['get', 'pods', 'default'],
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
