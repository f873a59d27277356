// The answer's wire text: written partly by hand (the patch goes in unscanned), so it
// must read back as exactly the envelope `answer` builds, for every kind of response.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allowed, answer, answerText, denied, errored, patched, type AdmissionReview } from '../../../src/webhook/review.js';

function reviewOf(apiVersion: AdmissionReview['apiVersion'], uid: string): AdmissionReview {
  return { apiVersion, request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } };
}

const ops = [
  { op: 'add' as const, path: '/metadata/annotations/splice.dev~1status', value: '{"injected":true}' },
  { op: 'add' as const, path: '/spec/containers/-', value: { name: 'émoji-☃', image: 'x' } },
];

describe('answerText', () => {
  const responses = {
    'a patch': patched(ops),
    'a patch with warnings': patched(ops, ['the pod sets "hostNetwork"', 'second']),
    'no patch (no ops)': patched([]),
    allowed: allowed(),
    'allowed with a warning': allowed(['careful']),
    denied: denied(403, 'the namespace "shop" forbids it'),
    errored: errored(500, 'splice failed'),
  };
  for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const) {
    for (const [what, response] of Object.entries(responses)) {
      test(`${apiVersion}, ${what}: reads back as the envelope`, () => {
        // A uid with characters JSON must escape proves the hand-written part escapes them.
        const review = reviewOf(apiVersion, 'u"\\\n\u2028-1');
        assert.deepEqual(JSON.parse(answerText(review, response)), answer(review, response));
      });
    }
  }

  test('the patch is the base64 of the ops as JSON', () => {
    const text = answerText(reviewOf('admission.k8s.io/v1', 'u1'), patched(ops));
    const patch = (JSON.parse(text) as { response: { patch: string } }).response.patch;
    assert.deepEqual(JSON.parse(Buffer.from(patch, 'base64').toString('utf8')), ops);
  });
});
