// The operations port (/healthz, /readyz, /metrics) and what the webhook counts.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOpsApp } from '../../../src/webhook/health.js';
import { createMetrics } from '../../../src/webhook/metrics.js';
import { denyInvalid, injectFixed, makeApp, post, review, skipAll, throwing } from './fixtures.js';

describe('/healthz and /readyz', () => {
  test('alive at once; ready only when every check passes, naming what is missing', async () => {
    let synced = false;
    let certs = false;
    const app = buildOpsApp({
      metrics: createMetrics(),
      checks: [
        { name: 'certificates', ready: () => certs },
        { name: 'namespace cache', ready: () => synced },
      ],
    });
    assert.equal((await app.inject('/healthz')).statusCode, 200);

    let res = await app.inject('/readyz');
    assert.equal(res.statusCode, 503);
    assert.equal(res.body, 'not ready: certificates, namespace cache\n');

    certs = true;
    res = await app.inject('/readyz');
    assert.equal(res.statusCode, 503);
    assert.equal(res.body, 'not ready: namespace cache\n');

    synced = true;
    res = await app.inject('/readyz');
    assert.equal(res.statusCode, 200);
    assert.equal((await app.inject('/healthz')).statusCode, 200);
  });

  test('a check that throws counts as not ready', async () => {
    const app = buildOpsApp({
      metrics: createMetrics(),
      checks: [
        {
          name: 'namespace cache',
          ready: () => {
            throw new Error('x');
          },
        },
      ],
    });
    assert.equal((await app.inject('/readyz')).statusCode, 503);
  });
});

describe('/metrics', () => {
  test('counts each request by result and reason ID, times it, and exposes process metrics with the prefix', async () => {
    const metrics = createMetrics();
    let decide = injectFixed;
    const { app } = makeApp({ metrics, decide: (input) => decide(input) });
    await post(app, review());
    await post(app, review());
    decide = skipAll;
    await post(app, review());
    decide = denyInvalid;
    await post(app, review());
    decide = throwing;
    await post(app, review());
    decide = injectFixed;
    await post(app, review({ operation: 'UPDATE' }));
    await post(app, 'not json'); // refused before any decision: not counted

    const ops = buildOpsApp({ metrics, checks: [] });
    const res = await ops.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = res.body;
    assert.match(text, /^splice_injection_requests_total\{result="inject",reason="namespace_enabled"\} 2$/m);
    assert.match(text, /^splice_injection_requests_total\{result="skip",reason="not_enabled"\} 1$/m);
    assert.match(text, /^splice_injection_requests_total\{result="deny",reason="invalid_annotation"\} 1$/m);
    assert.match(text, /^splice_injection_requests_total\{result="error",reason="none"\} 1$/m);
    assert.match(text, /^splice_injection_requests_total\{result="ignored",reason="none"\} 1$/m);
    assert.match(text, /^splice_injection_duration_seconds_count\{result="inject"\} 2$/m);
    assert.match(text, /^splice_injection_duration_seconds_bucket\{le="0\.0005",result="inject"\} \d+$/m);
    assert.match(text, /^splice_process_resident_memory_bytes \d+/m);
    assert.doesNotMatch(text, /^process_/m, 'no unprefixed series');
  });

  test('one increment per distinct reason ID', async () => {
    const metrics = createMetrics();
    const { app } = makeApp({
      metrics,
      decide: () => ({
        result: 'deny',
        reasons: [
          { id: 'invalid_annotation', message: 'a' },
          { id: 'invalid_annotation', message: 'b' },
          { id: 'invalid_pod', message: 'c' },
        ],
        warnings: [],
        message: 'a; b; c',
      }),
    });
    await post(app, review());
    const text = await metrics.registry.metrics();
    assert.match(text, /^splice_injection_requests_total\{result="deny",reason="invalid_annotation"\} 1$/m);
    assert.match(text, /^splice_injection_requests_total\{result="deny",reason="invalid_pod"\} 1$/m);
  });

  test('certificate expiry is published in Unix seconds', async () => {
    const metrics = createMetrics();
    metrics.recordCertificateExpiry('serving', new Date('2031-05-01T00:00:00Z'));
    assert.match(await metrics.registry.metrics(), /^splice_certificate_expiry_timestamp_seconds\{certificate="serving"\} 1935360000$/m);
  });

  test('two apps in one process keep separate counts', async () => {
    const a = makeApp();
    const b = makeApp();
    await post(a.app, review());
    assert.match(await a.metrics.registry.metrics(), /result="skip",reason="not_enabled"\} 1/);
    assert.doesNotMatch(await b.metrics.registry.metrics(), /result="skip"/);
  });
});
