import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CONFIG, parseConfig } from '../../../src/inject/config.js';
import { boundedMemo } from '../../../src/inject/memo.js';
import { proxyTexts } from '../../../src/inject/proxy-texts.js';

test('the memo computes once per key and forgets the least recently used key past its limit', () => {
  const calls: string[] = [];
  const memo = boundedMemo(2, (k) => {
    calls.push(k);
    return k.toUpperCase();
  });
  assert.equal(memo('a'), 'A');
  assert.equal(memo('a'), 'A');
  memo('b');
  memo('c'); // evicts a
  memo('a');
  assert.deepEqual(calls, ['a', 'b', 'c', 'a']);
  memo('c'); // c is now more recent than a
  memo('d'); // evicts a
  memo('c');
  memo('a');
  assert.deepEqual(calls, ['a', 'b', 'c', 'a', 'd', 'a']);
});

test('proxy texts differ exactly when their inputs do', () => {
  const a = proxyTexts('shop', 'web', DEFAULT_CONFIG);
  assert.equal(proxyTexts('shop', 'web', DEFAULT_CONFIG), a, 'the same rendering is reused');
  assert.notEqual(proxyTexts('shop', 'api', DEFAULT_CONFIG).bootstrapInput, a.bootstrapInput);
  const other = proxyTexts('shop', 'web', parseConfig({ trustDomain: 'prod.example.com' }));
  assert.match(other.bootstrapInput, /"trustDomain":"prod\.example\.com"/);
  assert.doesNotMatch(a.bootstrapInput, /prod\.example\.com/);
});
