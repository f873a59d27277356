import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCidrs, parseExcludeCidrs, parsePorts, ValueError } from '../../../src/iptables/options.js';

const refusal = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ValueError && message.test(e.message));

describe('CIDR lists', () => {
  test('canonical form: bare addresses become hosts, IPv6 is lowercased and compressed, duplicates go', () => {
    assert.deepEqual(parseCidrs('x', '10.0.0.1, FD00:0:0::/8 ,fd00::/8, 10.96.0.0/12'), ['10.0.0.1/32', 'fd00::/8', '10.96.0.0/12']);
    assert.deepEqual(parseCidrs('x', '::1'), ['::1/128']);
    assert.equal(parseCidrs('x', ' * '), '*');
    assert.deepEqual(parseCidrs('x', ''), []);
  });
  test('host bits below the prefix are refused with the network they probably meant', () => {
    refusal(() => parseCidrs('k', '10.1.2.3/8'), /^k: "10\.1\.2\.3\/8" has "10\.1\.2\.3\/8", whose host bits are set; the network is 10\.0\.0\.0\/8$/);
    refusal(() => parseCidrs('k', 'fd00::1/8'), /the network is fd00::\/8/);
  });
  test('IPv4-mapped IPv6 addresses are refused: they would never match IPv4 packets', () => {
    refusal(() => parseCidrs('k', '::ffff:10.0.0.1'), /IPv4-mapped/);
  });
  test('not addresses, bad prefixes and empty entries are refused naming the value', () => {
    refusal(() => parseCidrs('k', '1.2.3'), /"1\.2\.3" which is not|not an IPv4 or IPv6 CIDR/);
    refusal(() => parseCidrs('k', '10.0.0.0/33'), /prefix length must be 0-32/);
    refusal(() => parseCidrs('k', 'fd00::/129'), /prefix length must be 0-128/);
    refusal(() => parseCidrs('k', '10.0.0.0/8,,10.1.0.0/16'), /empty entry/);
    refusal(() => parseCidrs('k', '10.0.0.0/8/8'), /not a CIDR/);
  });
  test('exclude "*" means both whole families', () => {
    assert.deepEqual(parseExcludeCidrs('k', '*'), ['0.0.0.0/0', '::/0']);
  });
});

describe('port lists', () => {
  test('ports are deduplicated and "*" is accepted only where all makes sense', () => {
    assert.deepEqual(parsePorts('k', '80, 443,80', false), [80, 443]);
    assert.equal(parsePorts('k', '*', true), '*');
    refusal(() => parsePorts('k', '*', false), /"\*" is not accepted here/);
    refusal(() => parsePorts('k', '0', false), /port 0 outside 1-65535/);
    refusal(() => parsePorts('k', 'http', false), /^k: "http" is not a comma-separated list of ports/);
  });
});
