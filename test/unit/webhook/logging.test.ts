// What the webhook writes to its log: one info line per decision, whole objects only
// at debug, secrets never.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, type LogLevel } from '../../../src/webhook/logger.js';
import { denyInvalid, injectFixed, makeApp, missingNamespaces, post, review } from './fixtures.js';

type Line = Record<string, unknown> & { level: number; msg: string };

function logged(level: LogLevel) {
  const lines: Line[] = [];
  const logger = createLogger(level, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  return { logger, lines };
}

describe('request logs', () => {
  test('exactly one info line per decision, with the request’s identity and the outcome', async () => {
    const { logger, lines } = logged('info');
    const { app } = makeApp({ logger, decide: injectFixed });
    await post(app, review({ uid: 'uid-1' }));
    const body = review({ uid: 'uid-2', object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-7c9f-', namespace: 'shop' }, spec: { containers: [{ name: 'app' }] } } });
    await post(app, body);

    assert.equal(lines.length, 2, JSON.stringify(lines));
    const [first, second] = lines;
    assert.equal(first?.level, 30);
    assert.equal(first?.msg, 'admission decision');
    assert.equal(first?.uid, 'uid-1');
    assert.equal(first?.namespace, 'shop');
    assert.equal(first?.kind, 'Pod');
    assert.equal(first?.name, 'web');
    assert.equal(first?.pod, 'web');
    assert.equal(first?.result, 'inject');
    assert.deepEqual(first?.reasons, ['namespace_enabled']);
    assert.equal(typeof first?.durationMs, 'number');
    assert.equal(second?.pod, 'web-7c9f-*', 'a pod named by generateName is shown as such');
  });

  test('a denial is an info line too; a failure is an error line naming what failed', async () => {
    const a = logged('info');
    await post(makeApp({ logger: a.logger, decide: denyInvalid }).app, review());
    assert.equal(a.lines.length, 1);
    assert.equal(a.lines[0]?.result, 'deny');
    assert.deepEqual(a.lines[0]?.reasons, ['invalid_annotation']);

    const b = logged('info');
    await post(makeApp({ logger: b.logger, namespaces: missingNamespaces }).app, review());
    assert.equal(b.lines.length, 1);
    assert.equal(b.lines[0]?.level, 50);
    assert.equal(b.lines[0]?.result, 'error');
    assert.equal(b.lines[0]?.answered, 'denied');
    assert.match(String(b.lines[0]?.error), /namespace "shop" is not known/);
  });

  test('no pod contents at info', async () => {
    const { logger, lines } = logged('info');
    await post(makeApp({ logger, decide: injectFixed }).app, review());
    assert.doesNotMatch(JSON.stringify(lines), /nginx|s3cr3t|topologySpreadConstraints/);
  });

  test('at debug the pod is logged, with env values and user credentials redacted', async () => {
    const { logger, lines } = logged('debug');
    await post(makeApp({ logger, decide: injectFixed }).app, review());
    const text = JSON.stringify(lines);
    assert.match(text, /pod as received/);
    assert.match(text, /nginx:1\.27/, 'the object is there');
    assert.doesNotMatch(text, /s3cr3t-token/);
    assert.match(text, /\[redacted\]/);
    assert.doesNotMatch(text, /JTI=abc/);
  });

  test('at debug, probe headers and kubectl\'s last-applied copy are redacted, and the patch is logged as paths, not values', async () => {
    const { logger, lines } = logged('debug');
    const object = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'shop', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"env":"s3cr3t-applied"}' } },
      spec: { containers: [{ name: 'app', image: 'nginx:1.27', env: [{ name: 'TOKEN', value: 's3cr3t-env' }], readinessProbe: { httpGet: { path: '/', port: 80, httpHeaders: [{ name: 'Authorization', value: 'Bearer s3cr3t-probe' }] } } }] },
    };
    // A real patch: with a regular proxy placed first, it rewrites the app container whole.
    const { injectPod } = await import('../../../src/inject/engine.js');
    await post(makeApp({ logger, decide: (input) => injectPod({ ...input, cluster: { version: { major: 1, minor: 28 } } }) }).app, review({ object }));
    const text = JSON.stringify(lines);
    assert.match(text, /pod as received/);
    assert.doesNotMatch(text, /s3cr3t/);
    const patch = lines.find((l) => l.msg === 'patch');
    assert.ok(patch && Array.isArray(patch.patch) && patch.patch.every((p) => typeof p === 'string' && /^(add|remove|replace) \//.test(p)), JSON.stringify(patch));
  });
});

