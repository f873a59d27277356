// Whatever arrives on POST /inject, the answer is a 200 AdmissionReview or a 4xx naming
// the problem: never a 500, never an exception out of the handler.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { injectFixed, makeApp, post, review } from './fixtures.js';

const { app } = makeApp({ decide: injectFixed });

async function check(body: string): Promise<void> {
  const res = await post(app, body);
  assert.ok(res.statusCode === 200 || res.statusCode === 400, `${res.statusCode} for ${body.slice(0, 200)}: ${res.body}`);
  const parsed = JSON.parse(res.body) as { message?: string; response?: { uid: string; allowed: boolean } };
  if (res.statusCode === 400) assert.ok(typeof parsed.message === 'string' && parsed.message.length > 0);
  else assert.equal(typeof parsed.response?.allowed, 'boolean');
}

describe('arbitrary input', () => {
  test('any string as the body', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ maxLength: 200 }), check), { numRuns: 300 });
  });

  test('any JSON value as the body', async () => {
    await fc.assert(fc.asyncProperty(fc.json({ maxDepth: 4 }), check), { numRuns: 300 });
  });

  test('a real review with any field of the request replaced by any value', async () => {
    const fields = fc.constantFrom('uid', 'kind', 'operation', 'namespace', 'name', 'subResource', 'object', 'dryRun', 'userInfo');
    await fc.assert(
      fc.asyncProperty(fields, fc.jsonValue({ maxDepth: 3 }), async (field, value) => {
        const body = review();
        (body.request as Record<string, unknown>)[field] = value;
        await check(JSON.stringify(body));
      }),
      { numRuns: 300 },
    );
  });

  test('a real review whose pod is any JSON object', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 })), async (object) => {
        const body = review({ object });
        const text = JSON.stringify(body);
        const res = await post(app, text);
        if (res.statusCode === 400 && /"(__proto__|constructor)"/.test(text)) {
          // Prototype-poisoning keys are refused outright; no valid pod has them (label,
          // annotation and resource names must start with a letter or digit).
          assert.match(JSON.parse(res.body).message, /prototype key at \/request\/object\//);
          return;
        }
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(JSON.parse(res.body).response.uid, (body.request as { uid: string }).uid);
      }),
      { numRuns: 200 },
    );
  });
});
