// Quantities parsed exactly, and the per-resource rules: every value splice accepts for
// its containers is one Kubernetes accepts and that makes sense.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkResourceValue, compareQuantities, formatQuantity, parseQuantity } from '../../../src/inject/quantity.js';

const q = (v: string) => {
  const parsed = parseQuantity(v);
  assert.ok(parsed, `${v} parses`);
  return parsed;
};

describe('parseQuantity', () => {
  const equal: Array<[string, string]> = [
    ['1Gi', '1024Mi'],
    ['0.5Gi', '512Mi'],
    ['1k', '1000'],
    ['1e3', '1k'],
    ['1500m', '1.5'],
    ['100m', '0.1'],
    ['1E-3', '1m'],
    ['+2', '2'],
    ['.5', '500m'],
  ];
  for (const [a, b] of equal) test(`${a} = ${b}`, () => assert.equal(compareQuantities(q(a), q(b)), 0));
  test('comparisons are exact where floating point is not', () => {
    // 0.1 + 0.2 > 0.3 in binary floating point.
    assert.equal(compareQuantities(q('0.3'), q('300m')), 0);
    assert.equal(compareQuantities(q('1Ei'), q('1152921504606846975')), 1);
  });
  for (const bad of ['', '-1', 'lots', '1.2.3', '10 Mi', '1mi', '1KiB', 'Mi', '1e']) {
    test(`${JSON.stringify(bad)} is not a quantity`, () => assert.equal(parseQuantity(bad), undefined));
  }
});

describe('formatQuantity', () => {
  test('memory in the largest binary unit that divides it', () => {
    assert.equal(formatQuantity('memory', q('576Mi')), '576Mi');
    assert.equal(formatQuantity('memory', q('1Gi')), '1Gi');
    assert.equal(formatQuantity('memory', q('1000')), '1000');
  });
  test('CPU in cores when whole, else millicores', () => {
    assert.equal(formatQuantity('cpu', q('600m')), '600m');
    assert.equal(formatQuantity('cpu', q('2000m')), '2');
  });
});

describe('checkResourceValue', () => {
  const accepted: Array<['cpu' | 'memory', string]> = [
    ['memory', '64Mi'],
    ['memory', '0.5Gi'],
    ['memory', '1G'],
    ['memory', '1M'],
    ['memory', '1Mi'],
    ['memory', '134217728'],
    ['memory', '0'],
    ['cpu', '100m'],
    ['cpu', '0.5'],
    ['cpu', '2'],
    ['cpu', '1.5'],
    ['cpu', '0'],
  ];
  for (const [resource, value] of accepted) test(`${resource} ${value} is accepted`, () => assert.equal(checkResourceValue(resource, value), undefined));

  const refused: Array<['cpu' | 'memory', string, RegExp]> = [
    // The example: 0.2 bytes, a 1-byte limit, a pod that never leaves Init.
    ['memory', '200m', /0\.2 bytes, not a whole number of bytes.*did you mean "200Mi"/],
    ['memory', '1.5', /not a whole number of bytes/],
    ['memory', '200', /only 200 bytes.*did you mean "200Mi"/],
    ['memory', '512Ki', /only 524288 bytes.*did you mean "512Mi"/],
    ['memory', '999999', /only 999999 bytes/],
    ['memory', '1.', /only 1 byte,.*did you mean "1Mi"/],
    ['memory', '1e3', /only 1000 bytes.*memory is counted in bytes/],
    ['memory', 'lots', /not a Kubernetes quantity \(such as 64Mi or 1Gi\)/],
    ['cpu', '100Mi', /binary suffix "Mi".*did you mean "100m"/],
    ['cpu', '1Ki', /binary suffix "Ki".*cores \(0\.5\) or millicores/],
    ['cpu', '100u', /less than 1m.*use at least "1m"/],
    ['cpu', '500000n', /less than 1m.*use at least "1m"/],
    ['cpu', '0.0001', /less than 1m.*"1m"/],
    ['cpu', '1.5m', /not a whole number of millicores.*"2m"/],
    ['cpu', '-1', /not a Kubernetes quantity/],
  ];
  for (const [resource, value, message] of refused) {
    test(`${resource} ${value} is refused: ${message.source}`, () => assert.match(checkResourceValue(resource, value) ?? '(accepted)', message));
  }
});
