// When the controller must write an identity Secret, and what it writes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMeshCa, type MeshCa } from '../../../src/identity/ca.js';
import { generateMeshRoot, issueIdentity } from '../../../src/identity/issue.js';
import { IDENTITY_ANNOTATIONS, assessSecret, identitySecret, type AssessContext, type ObservedSecret } from '../../../src/identity/secret.js';

const ID = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
const OWNER = { name: 'web', uid: '5b0f1d7e-0000-4000-8000-000000000001' };
const WRITER = { identity: 'splice-a', term: 3 };
const HOUR = 3_600_000;

async function ca(): Promise<MeshCa> {
  const root = await generateMeshRoot('cluster.local');
  return parseMeshCa({ 'tls.crt': root.cert, 'tls.key': root.key, 'ca.crt': root.cert }, 'test');
}

async function fresh(mesh: MeshCa, now = new Date(), lifetimeMs = 24 * HOUR): Promise<ObservedSecret> {
  const issued = await issueIdentity(mesh, ID, lifetimeMs, now);
  return JSON.parse(JSON.stringify(identitySecret(ID, issued, OWNER, mesh, WRITER))) as ObservedSecret;
}

const ctx = (mesh: MeshCa, over: Partial<AssessContext> = {}): AssessContext => ({ id: ID, owner: OWNER, ca: mesh, lifetimeMs: 24 * HOUR, now: new Date(), ...over });

describe('identitySecret', () => {
  test('is a kubernetes.io/tls Secret named after the service account, owned by it, labelled and annotated', async () => {
    const mesh = await ca();
    const s = identitySecret(ID, await issueIdentity(mesh, ID, HOUR), OWNER, mesh, WRITER);
    assert.equal(s.metadata.name, 'splice-identity-web');
    assert.equal(s.metadata.namespace, 'shop');
    assert.equal(s.type, 'kubernetes.io/tls');
    assert.deepEqual(s.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'ServiceAccount', name: 'web', uid: OWNER.uid, controller: true }]);
    assert.equal(s.metadata.labels['app.kubernetes.io/managed-by'], 'splice');
    assert.equal(s.metadata.annotations[IDENTITY_ANNOTATIONS.spiffeId], 'spiffe://cluster.local/ns/shop/sa/web');
    assert.equal(s.metadata.annotations[IDENTITY_ANNOTATIONS.writer], 'splice-a');
    assert.equal(s.metadata.annotations[IDENTITY_ANNOTATIONS.term], '3');
    assert.deepEqual(Object.keys(s.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  });
});

describe('assessSecret', () => {
  test('absent: issue', async () => {
    assert.deepEqual(assessSecret(undefined, ctx(await ca())), { action: 'issue', kind: 'issue', why: 'the Secret does not exist' });
  });

  test('fresh: kept, with its renewal due at two thirds of its lifetime', async () => {
    const mesh = await ca();
    const now = new Date();
    const a = assessSecret(await fresh(mesh, now), ctx(mesh, { now }));
    assert.equal(a.action, 'keep');
    if (a.action !== 'keep') return;
    // The leaf starts up to a minute early; two thirds of its whole validity from then.
    const expected = now.getTime() - 60_000 + ((24 * HOUR + 60_000) * 2) / 3;
    assert.ok(Math.abs(a.renewAt.getTime() - expected) < 2000, `renewAt ${a.renewAt.toISOString()}`);
  });

  test('past two thirds of its lifetime: renew; past its end: renew, saying it expired', async () => {
    const mesh = await ca();
    const issuedAt = new Date();
    const s = await fresh(mesh, issuedAt, 60_000);
    const at = (ms: number) => assessSecret(s, ctx(mesh, { lifetimeMs: 60_000, now: new Date(issuedAt.getTime() + ms) }));
    assert.equal(at(30_000).action, 'keep');
    assert.deepEqual(at(45_000), { action: 'issue', kind: 'renew', why: 'two thirds of its lifetime have passed' });
    assert.deepEqual(at(61_000), { action: 'issue', kind: 'renew', why: 'the certificate expired' });
  });

  test('signed by the previous CA: renew, because the CA changed', async () => {
    const old = await ca();
    const a = assessSecret(await fresh(old), ctx(await ca()));
    assert.equal(a.action, 'issue');
    if (a.action === 'issue') {
      assert.equal(a.kind, 'renew');
      assert.match(a.why, /^the CA changed/);
    }
  });

  test('a lifetime shortened in the config: renew now', async () => {
    const mesh = await ca();
    const a = assessSecret(await fresh(mesh), ctx(mesh, { lifetimeMs: HOUR }));
    assert.deepEqual(a, { action: 'issue', kind: 'renew', why: 'it was issued for a longer lifetime than the one configured' });
  });

  const edits: Array<[string, (s: ObservedSecret, other: ObservedSecret) => void, RegExp]> = [
    ['another key', (s, o) => ((s.data as Record<string, string>)['tls.key'] = o.data?.['tls.key'] ?? ''), /tls\.key does not belong to tls\.crt/],
    ['garbage in tls.crt', (s) => ((s.data as Record<string, string>)['tls.crt'] = Buffer.from('nope').toString('base64')), /tls\.crt holds no certificate/],
    ['a label removed', (s) => delete s.metadata?.labels?.['app.kubernetes.io/managed-by'], /label app\.kubernetes\.io\/managed-by is not splice/],
    ['another owner', (s) => (s.metadata!.ownerReferences = [{ kind: 'ServiceAccount', uid: 'x' }]), /not owned by the ServiceAccount/],
    ['type Opaque', (s) => (s.type = 'Opaque'), /type is "Opaque"/],
    ['ca.crt emptied', (s) => ((s.data as Record<string, string>)['ca.crt'] = ''), /ca\.crt is not the current trust bundle/],
  ];
  for (const [what, edit, why] of edits) {
    test(`edited (${what}): issued again, and the reason says what is wrong`, async () => {
      const mesh = await ca();
      const s = await fresh(mesh);
      edit(s, await fresh(mesh));
      const a = assessSecret(s, ctx(mesh));
      assert.equal(a.action, 'issue');
      if (a.action === 'issue') {
        assert.equal(a.kind, 'issue');
        assert.match(a.why, why);
      }
    });
  }

  test('the Secret of another service account copied over: issued again', async () => {
    const mesh = await ca();
    const other = identitySecret({ ...ID, serviceAccount: 'db' }, await issueIdentity(mesh, { ...ID, serviceAccount: 'db' }, HOUR), OWNER, mesh, WRITER);
    const a = assessSecret(JSON.parse(JSON.stringify(other)) as ObservedSecret, ctx(mesh));
    assert.equal(a.action, 'issue');
    if (a.action === 'issue') assert.match(a.why, /names URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/db, not URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web/);
  });
});
