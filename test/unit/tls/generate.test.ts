import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import {
  CA_LIFETIME_MS,
  SERVING_LIFETIME_MS,
  checkPair,
  coversNamespace,
  generateCA,
  generateServing,
  issuedBy,
  notAfter,
  remainingLife,
  splitPem,
} from '../../../src/tls/generate.js';

const DAY = 24 * 60 * 60 * 1000;
const now = new Date('2030-03-01T12:00:00Z');

describe('generated PKI', async () => {
  const ca = await generateCA(now);
  const serving = await generateServing(ca, 'mesh-system', now);

  test('the CA is an EC P-256 CA valid for ten years', () => {
    const x = new X509Certificate(ca.cert);
    assert.equal(x.ca, true);
    assert.equal(x.publicKey.asymmetricKeyType, 'ec');
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(notAfter(ca.cert).getTime(), Math.floor((now.getTime() + CA_LIFETIME_MS) / 1000) * 1000);
  });

  test('the serving certificate is signed by the CA, valid for a year, not a CA itself', () => {
    const x = new X509Certificate(serving.cert);
    assert.equal(x.ca, false);
    assert.ok(issuedBy(serving.cert, ca.cert));
    assert.equal(notAfter(serving.cert).getTime(), Math.floor((now.getTime() + SERVING_LIFETIME_MS) / 1000) * 1000);
    assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth');
  });

  test('it names every address the API server or a local client may dial', () => {
    const x = new X509Certificate(serving.cert);
    for (const host of ['splice.mesh-system.svc', 'splice.mesh-system.svc.cluster.local', 'splice.mesh-system', 'splice', 'localhost']) {
      assert.equal(x.checkHost(host), host, host);
    }
    for (const ip of ['127.0.0.1', '::1']) assert.ok(x.checkIP(ip), ip);
    assert.equal(x.checkHost('splice.other.svc'), undefined);
    assert.ok(coversNamespace(serving.cert, 'mesh-system'));
    assert.equal(coversNamespace(serving.cert, 'splice-system'), false);
  });

  test('it starts an hour early, for API servers whose clock is behind', () => {
    const from = new Date(new X509Certificate(serving.cert).validFrom).getTime();
    assert.equal(now.getTime() - from, 60 * 60 * 1000);
  });

  test('two CAs have different subjects, so a bundle of both stays unambiguous', async () => {
    const later = await generateCA(new Date(now.getTime() + 9 * 365 * DAY));
    assert.notEqual(new X509Certificate(later.cert).subject, new X509Certificate(ca.cert).subject);
    assert.equal(issuedBy(serving.cert, later.cert), false);
  });

  test('checkPair accepts a matching pair and names the problem otherwise', () => {
    assert.equal(checkPair(serving), undefined);
    assert.match(checkPair({ cert: serving.cert, key: ca.key }) ?? '', /does not belong/);
    assert.match(checkPair({ cert: 'not a cert', key: serving.key }) ?? '', /not a PEM X\.509 certificate/);
    assert.match(checkPair({ cert: serving.cert, key: 'not a key' }) ?? '', /not a PEM private key/);
  });

  test('remainingLife goes from 1 to 0 over the lifetime', () => {
    assert.ok(remainingLife(serving.cert, now) > 0.99);
    const twoThirds = new Date(now.getTime() + (SERVING_LIFETIME_MS * 2) / 3);
    assert.ok(Math.abs(remainingLife(serving.cert, twoThirds) - 1 / 3) < 0.01);
    assert.equal(remainingLife(serving.cert, new Date(now.getTime() + 2 * SERVING_LIFETIME_MS)), 0);
  });

  test('splitPem returns each certificate of a bundle', () => {
    const parts = splitPem(`${serving.cert}${ca.cert}`);
    assert.equal(parts.length, 2);
    assert.equal(new X509Certificate(parts[1] ?? '').subject, new X509Certificate(ca.cert).subject);
  });
});
