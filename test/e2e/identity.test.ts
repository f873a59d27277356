// Scenario 13: workload identities in a real cluster. splice serve runs its identity
// controller as the splice ServiceAccount (what manifests/ grants, and the admission
// policy that holds its Secret writes to its own); the kube-controller-manager's garbage
// collector deletes what a deleted ServiceAccount owned.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apply, getJson, kubectl, ok, waitFor } from './lib/kubectl.js';
import { appears, checkLeaf, decode, disappears, metric, secret, type SecretJson } from './lib/identity.js';
import { isInjected, namespaceManifest, podManifest, type PodJson } from './lib/objects.js';
import { mutualTls } from '../support/tls.js';
import { REPO, installManifests, startSplice, type SpliceProcess } from './lib/splice.js';

const NS = 'e2e-identity';
const OPT_IN_NS = 'e2e-identity-optin';
const WITHIN_MS = 5000;
let splice: SpliceProcess;

const spiffe = (ns: string, sa: string) => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
const serviceAccount = (name: string, namespace = NS) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });

function mustApply(manifest: unknown): void {
  const r = apply(manifest);
  assert.equal(r.code, 0, r.stderr);
}

/** Mutual TLS between two identities, each trusting only its ca.crt: what each side saw of the other. */
function handshake(server: SecretJson, client: SecretJson): ReturnType<typeof mutualTls> {
  const pems = (s: SecretJson) => ({ cert: decode(s.data['tls.crt']), key: decode(s.data['tls.key']), ca: decode(s.data['ca.crt']) });
  return mutualTls(pems(server), pems(client));
}

/** Everything a dry run could have left behind in a namespace. */
function objectsIn(namespace: string): string {
  return ok(['-n', namespace, 'get', 'pods,secrets,configmaps,serviceaccounts,events', '-o', 'name']).split('\n').sort().join('\n');
}

before(async () => {
  installManifests();
  for (const ns of [NS, OPT_IN_NS]) kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=true'], { timeout: 120 });
  mustApply(namespaceManifest(NS));
  mustApply(serviceAccount('web'));
  mustApply(serviceAccount('db'));
  splice = await startSplice();
  await waitFor('splice to lead the identity Lease', async () => ((await metric(splice.metricsPort, 'splice_identity_leader')) === 1 ? true : undefined), 30_000);
});
after(async () => {
  await splice?.stop();
});

describe('13. workload identities', () => {
  test('13a. a namespace that is not enabled gets no identity Secrets', async () => {
    await new Promise((r) => setTimeout(r, 2000));
    for (const sa of ['default', 'web', 'db']) assert.equal(secret(NS, `splice-identity-${sa}`), undefined, sa);
  });

  test(`13b. labeling the namespace makes splice-identity-default and one per ServiceAccount appear within ${WITHIN_MS / 1000} s`, async (t) => {
    ok(['label', 'namespace', NS, 'splice.dev/inject=enabled']);
    const started = Date.now();
    await Promise.all(['default', 'web', 'db'].map((sa) => appears(NS, `splice-identity-${sa}`, WITHIN_MS + 2000)));
    const ms = Date.now() - started;
    t.diagnostic(`all three appeared ${ms} ms after the label`);
    assert.ok(ms <= WITHIN_MS, `all three took ${ms} ms`);
  });

  test('13c. each Secret: kubernetes.io/tls, labelled, owned by its ServiceAccount; its leaf carries exactly its SPIFFE URI, verifies against ca.crt, and its key matches', () => {
    for (const sa of ['default', 'web', 'db']) {
      const s = secret(NS, `splice-identity-${sa}`);
      assert.ok(s, sa);
      assert.equal(s.type, 'kubernetes.io/tls');
      assert.equal(s.metadata.labels?.['app.kubernetes.io/managed-by'], 'splice');
      const owner = getJson<{ metadata: { uid: string } }>(['-n', NS, 'get', 'serviceaccount', sa]);
      assert.deepEqual(
        s.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
        [['ServiceAccount', sa, owner.metadata.uid]],
      );
      const leaf = checkLeaf(s, spiffe(NS, sa));
      assert.equal(leaf.ca, false);
    }
  });

  test('13d. two identities complete mutual TLS with node\'s tls, each trusting only ca.crt and seeing the other\'s SPIFFE URI', async () => {
    const web = secret(NS, 'splice-identity-web');
    const db = secret(NS, 'splice-identity-db');
    assert.ok(web && db);
    const seen = await handshake(db, web);
    assert.equal(seen.serverSaw, `URI:${spiffe(NS, 'web')}`);
    assert.equal(seen.clientSaw, `URI:${spiffe(NS, 'db')}`);
  });

  test(`13e. a new ServiceAccount gets its Secret within ${WITHIN_MS / 1000} s`, async (t) => {
    mustApply(serviceAccount('api'));
    const { secret: s, ms } = await appears(NS, 'splice-identity-api', WITHIN_MS + 2000);
    t.diagnostic(`appeared ${ms} ms after the ServiceAccount`);
    assert.ok(ms <= WITHIN_MS, `took ${ms} ms`);
    checkLeaf(s, spiffe(NS, 'api'));
  });

  test('13f. deleting the ServiceAccount deletes its Secret (garbage collector, through the owner reference)', async () => {
    ok(['-n', NS, 'delete', 'serviceaccount', 'api']);
    await disappears(NS, 'splice-identity-api', 30_000);
  });

  test('13g. a deleted Secret comes back; an edited one is repaired', async () => {
    ok(['-n', NS, 'delete', 'secret', 'splice-identity-web']);
    const { secret: back, ms } = await appears(NS, 'splice-identity-web', WITHIN_MS + 2000);
    assert.ok(ms <= WITHIN_MS, `took ${ms} ms`);
    checkLeaf(back, spiffe(NS, 'web'));

    // Someone puts db's key into web's Secret.
    const dbKey = secret(NS, 'splice-identity-db')?.data['tls.key'];
    ok(['-n', NS, 'patch', 'secret', 'splice-identity-web', '--type=merge', '-p', JSON.stringify({ data: { 'tls.key': dbKey } })]);
    const repaired = await waitFor(
      'the edited Secret to be repaired',
      () => {
        const s = secret(NS, 'splice-identity-web');
        if (!s || s.data['tls.key'] === dbKey) return undefined;
        return s;
      },
      WITHIN_MS + 2000,
    );
    checkLeaf(repaired, spiffe(NS, 'web'));
  });

  test('13h. kubectl apply --dry-run=server of an opted-in pod creates no Secret and no other object', async () => {
    mustApply(namespaceManifest(OPT_IN_NS));
    mustApply(serviceAccount('dry', OPT_IN_NS));
    const before = objectsIn(OPT_IN_NS);
    const pod = podManifest('dry-run', OPT_IN_NS, { labels: { 'splice.dev/inject': 'true' } });
    (pod.spec as Record<string, unknown>).serviceAccountName = 'dry';
    const r = kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(pod) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(isInjected(JSON.parse(r.stdout) as PodJson), true, 'the webhook injected the dry-run pod');
    await new Promise((r2) => setTimeout(r2, 3000));
    assert.equal(secret(OPT_IN_NS, 'splice-identity-dry'), undefined);
    assert.equal(objectsIn(OPT_IN_NS), before);
  });

  test('13i. an opted-in pod outside enabled namespaces: its ServiceAccount gets a Secret, removed once no injected pod uses it', async () => {
    const pod = podManifest('opted-in', OPT_IN_NS, { labels: { 'splice.dev/inject': 'true' } });
    (pod.spec as Record<string, unknown>).serviceAccountName = 'dry';
    mustApply(pod);
    assert.equal(isInjected(getJson<PodJson>(['-n', OPT_IN_NS, 'get', 'pod', 'opted-in'])), true);
    const { secret: s, ms } = await appears(OPT_IN_NS, 'splice-identity-dry', WITHIN_MS + 2000);
    assert.ok(ms <= WITHIN_MS, `took ${ms} ms`);
    checkLeaf(s, spiffe(OPT_IN_NS, 'dry'));
    assert.equal(secret(OPT_IN_NS, 'splice-identity-default'), undefined, 'only the account the pod uses');
    ok(['-n', OPT_IN_NS, 'delete', 'pod', 'opted-in', '--wait=true']);
    await disappears(OPT_IN_NS, 'splice-identity-dry', 10_000);
  });

  test('13j. splice explain --cluster names each pod\'s identity and says whether its Secret exists', () => {
    const pods = ['web', 'nobody'].map((sa) => {
      const p = podManifest(`explain-${sa}`, NS);
      (p.spec as Record<string, unknown>).serviceAccountName = sa;
      return JSON.stringify(p);
    });
    const r = spawnSync(process.execPath, [join(REPO, 'bin/splice.js'), 'explain', '--cluster', '-f', '-'], { input: pods.join('\n---\n'), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`identity: ${spiffe(NS, 'web')}\\n\\s+certificate from Secret ${NS}/splice-identity-web\\n\\s+Secret: exists; certificate valid until \\S+\\n`));
    assert.match(r.stdout, new RegExp(`identity: ${spiffe(NS, 'nobody')}\\n\\s+certificate from Secret ${NS}/splice-identity-nobody\\n\\s+Secret: missing`));
  });

  test('13k. a namespace no longer enabled loses its identity Secrets', async () => {
    ok(['label', 'namespace', NS, 'splice.dev/inject-']);
    for (const sa of ['default', 'web', 'db']) await disappears(NS, `splice-identity-${sa}`, 10_000);
  });

  test('13l. the metrics: certificates issued, none failed, this replica leads, the earliest expiry is ahead', async () => {
    assert.ok(((await metric(splice.metricsPort, 'splice_identity_certificates_issued_total')) ?? 0) >= 6);
    assert.equal(await metric(splice.metricsPort, 'splice_identity_certificate_failures_total'), 0);
    assert.equal(await metric(splice.metricsPort, 'splice_identity_leader'), 1);
    // splice-identity-dry is gone too, so no identity is left to expire.
    ok(['label', 'namespace', NS, 'splice.dev/inject=enabled']);
    await appears(NS, 'splice-identity-default', WITHIN_MS + 2000);
    await waitFor('an expiry in the metrics', async () => ((await metric(splice.metricsPort, 'splice_identity_earliest_expiry_seconds')) ?? 0) > 23 * 3600 || undefined, 5000);
  });
});
