// Scenario 15: with a 60 s certificate lifetime, one `splice serve` renews every identity
// before it expires, for ten minutes, without a restart and with no failure in its
// metrics. Every second the Secrets are read back: each must hold a certificate that is
// valid right now and checks out (SPIFFE URI, issued by ca.crt, key matching).
// SPLICE_E2E_RENEWAL_SECONDS shortens the run when trying the scenario by hand.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { apply, getJson, ok, waitFor } from './lib/kubectl.js';
import { checkLeaf, decode, metric, type SecretJson } from './lib/identity.js';
import { namespaceManifest, type List } from './lib/objects.js';
import { installManifests, scratchDir, startSplice, type SpliceProcess } from './lib/splice.js';

const NS = 'e2e-renewal';
const LIFETIME_S = 60;
const RUN_S = Number(process.env.SPLICE_E2E_RENEWAL_SECONDS ?? 600);
const ACCOUNTS = ['default', 'front', 'back'];
let splice: SpliceProcess;

before(async () => {
  installManifests();
  ok(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true'], { timeout: 120 });
  assert.equal(apply(namespaceManifest(NS, { 'splice.dev/inject': 'enabled' })).code, 0);
  for (const name of ACCOUNTS.slice(1)) assert.equal(apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: NS } }).code, 0);
  const config = join(scratchDir('renewal'), 'config.yaml');
  writeFileSync(config, `identity:\n  certificateLifetimeSeconds: ${LIFETIME_S}\n`);
  splice = await startSplice({ args: ['--config', config] });
});
after(async () => {
  await splice?.stop();
  ok(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
});

test(`15. lifetime ${LIFETIME_S} s: every certificate is renewed before it expires, for ${RUN_S} s, with no restart and no failure`, async (t) => {
  const pid = splice.child.pid;
  await waitFor(
    'the identity Secrets',
    () => (getJson<List<SecretJson>>(['-n', NS, 'get', 'secrets', '-l', 'app.kubernetes.io/component=identity']).items.length === ACCOUNTS.length ? true : undefined),
    30_000,
  );
  const serials = new Map<string, Set<string>>(ACCOUNTS.map((a) => [a, new Set<string>()]));
  let checks = 0;
  let closest = Number.POSITIVE_INFINITY;
  const end = Date.now() + RUN_S * 1000;
  while (Date.now() < end) {
    const items = getJson<List<SecretJson>>(['-n', NS, 'get', 'secrets', '-l', 'app.kubernetes.io/component=identity']).items;
    const now = Date.now();
    for (const sa of ACCOUNTS) {
      const s = items.find((i) => i.metadata.name === `splice-identity-${sa}`);
      assert.ok(s, `splice-identity-${sa} is missing at ${new Date(now).toISOString()}`);
      const leaf = checkLeaf(s, `spiffe://cluster.local/ns/${NS}/sa/${sa}`);
      const left = new Date(leaf.validTo).getTime() - now;
      assert.ok(left > 0, `splice-identity-${sa} expired ${-left} ms ago`);
      assert.ok(new Date(leaf.validFrom).getTime() <= now, `splice-identity-${sa} is not valid yet`);
      closest = Math.min(closest, left);
      serials.get(sa)?.add(new X509Certificate(decode(s.data['tls.crt'])).serialNumber);
    }
    checks += 1;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.equal(splice.child.pid, pid);
  assert.equal(splice.child.exitCode, null, 'splice serve is still the process it was');
  // Renewed at two thirds of a 60 s lifetime: a new certificate every ~40 s.
  const expected = Math.floor(RUN_S / ((LIFETIME_S * 2) / 3)) - 1;
  for (const [sa, seen] of serials) assert.ok(seen.size >= expected, `splice-identity-${sa}: ${seen.size} certificates in ${RUN_S} s, expected at least ${expected}`);
  const renewed = (await metric(splice.metricsPort, 'splice_identity_certificates_renewed_total')) ?? 0;
  assert.ok(renewed >= expected * ACCOUNTS.length, `renewed ${renewed}`);
  assert.equal(await metric(splice.metricsPort, 'splice_identity_certificate_failures_total'), 0);
  t.diagnostic(
    `${checks} checks over ${RUN_S} s; certificates per Secret: ${[...serials.values()].map((s) => s.size).join(', ')}; ` +
      `renewed ${renewed}; the closest any came to expiring: ${(closest / 1000).toFixed(1)} s left`,
  );
});
