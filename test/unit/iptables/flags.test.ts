import { SocketAddress } from 'node:net';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlagError, parseRedirectFlags } from '../../../src/iptables/flags.js';
import { ValueError, defaultRedirectOptions, toArgs, type RedirectOptions } from '../../../src/iptables/options.js';

const parse = (argv: string[]): RedirectOptions => parseRedirectFlags(argv).options;

describe('parseRedirectFlags', () => {
  test('no flags: the defaults', () => {
    assert.deepEqual(parse([]), defaultRedirectOptions());
  });

  test('every flag, in both spellings', () => {
    const expected: RedirectOptions = {
      proxyUid: 2102,
      inboundPort: 16006,
      outboundPort: 16001,
      includeInboundPorts: [8080, 9090],
      excludeInboundPorts: [22],
      excludeOutboundPorts: [5432, 6379],
      includeOutboundCidrs: ['10.96.0.0/12', 'fd00::/8'],
      excludeOutboundCidrs: ['169.254.169.254/32'],
      ipv6: false,
    };
    assert.deepEqual(parse([
      '--proxy-uid', '2102', '--inbound-port', '16006', '--outbound-port', '16001',
      '--include-inbound-ports', '8080,9090', '--exclude-inbound-ports', '22',
      '--exclude-outbound-ports', '5432, 6379', '--include-outbound-cidrs', '10.96.0.0/12,fd00::/8',
      '--exclude-outbound-cidrs', '169.254.169.254', '--ipv6', 'false',
    ]), expected);
    assert.deepEqual(parse([
      '--proxy-uid=2102', '--inbound-port=16006', '--outbound-port=16001',
      '--include-inbound-ports=8080,9090', '--exclude-inbound-ports=22',
      '--exclude-outbound-ports=5432,6379', '--include-outbound-cidrs=10.96.0.0/12,fd00::/8',
      '--exclude-outbound-cidrs=169.254.169.254/32', '--ipv6=false',
    ]), expected);
  });

  test('"*" and empty values', () => {
    const o = parse(['--include-inbound-ports', '', '--include-outbound-cidrs=', '--exclude-outbound-ports', '']);
    assert.deepEqual(o.includeInboundPorts, []);
    assert.deepEqual(o.includeOutboundCidrs, []);
    assert.deepEqual(o.excludeOutboundPorts, []);
    assert.equal(parse(['--include-inbound-ports=*']).includeInboundPorts, '*');
    assert.equal(parse(['--include-outbound-cidrs', '*']).includeOutboundCidrs, '*');
  });

  test('excluding every destination is both default routes, as for the annotation', () => {
    assert.deepEqual(parse(['--exclude-outbound-cidrs', '*']).excludeOutboundCidrs, ['0.0.0.0/0', '::/0']);
  });

  test('switches the caller asks for are reported, not parsed as options', () => {
    const { options, switches } = parseRedirectFlags(['--apply', '--proxy-uid', '7'], ['--apply', '--help']);
    assert.deepEqual([...switches], ['--apply']);
    assert.equal(options.proxyUid, 7);
  });

  test('round trip: parse(toArgs(o)) is o', () => {
    const samples: RedirectOptions[] = [
      defaultRedirectOptions(),
      { ...defaultRedirectOptions(), includeInboundPorts: [], includeOutboundCidrs: [] },
      {
        proxyUid: 0, inboundPort: 1, outboundPort: 65535, includeInboundPorts: [80, 443],
        excludeInboundPorts: [22, 15020], excludeOutboundPorts: [3306],
        includeOutboundCidrs: ['10.0.0.0/8', '2001:db8::/32'], excludeOutboundCidrs: ['0.0.0.0/0', '::/0'], ipv6: false,
      },
    ];
    for (const o of samples) assert.deepEqual(parse(toArgs(o)), o);
  });

  test('round trip over random options', () => {
    const port = fc.integer({ min: 1, max: 65535 });
    const ports = fc.uniqueArray(port, { maxLength: 5 });
    // Canonical CIDRs (host bits clear, IPv6 compressed lowercase), which parsing keeps as they are.
    const v4 = fc.tuple(fc.nat({ max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 })).map(([a, n]) => {
      const net = n === 0 ? 0 : (a >>> (32 - n)) << (32 - n) >>> 0;
      return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${n}`;
    });
    const v6 = fc.tuple(fc.array(fc.nat({ max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 })).map(([groups, n]) => {
      const masked = groups.map((g, i) => {
        const keep = Math.max(0, Math.min(16, n - i * 16));
        return keep === 0 ? 0 : (g >> (16 - keep)) << (16 - keep);
      });
      return `${new SocketAddress({ address: masked.map((g) => g.toString(16)).join(':'), family: 'ipv6' }).address}/${n}`;
    });
    const cidrs = fc.uniqueArray(fc.oneof(v4, v6), { maxLength: 5 });
    const options = fc.record<RedirectOptions>({
      proxyUid: fc.integer({ min: 0, max: 4294967294 }),
      inboundPort: port,
      outboundPort: port,
      includeInboundPorts: fc.oneof(fc.constant('*' as const), ports),
      excludeInboundPorts: ports,
      excludeOutboundPorts: ports,
      includeOutboundCidrs: fc.oneof(fc.constant('*' as const), cidrs),
      excludeOutboundCidrs: cidrs,
      ipv6: fc.boolean(),
    });
    // fast-check builds null-prototype records; compare as plain objects.
    fc.assert(fc.property(options, (o) => assert.deepEqual(parse(toArgs(o)), { ...o })), { numRuns: 300 });
  });
});

describe('parseRedirectFlags refuses, naming the flag and the value', () => {
  const refuses = (argv: string[], type: typeof FlagError | typeof ValueError, message: RegExp) =>
    assert.throws(() => parse(argv), (err: unknown) => {
      assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
      assert.match(err.message, message);
      return true;
    });

  test('unknown flags and stray arguments', () => {
    refuses(['--proxy-user', '1'], FlagError, /unknown flag "--proxy-user"/);
    refuses(['--proxy-user=1'], FlagError, /unknown flag "--proxy-user"/);
    refuses(['--apply'], FlagError, /unknown flag "--apply"/);
    refuses(['80'], FlagError, /unexpected argument "80"/);
  });

  test('missing values', () => {
    refuses(['--proxy-uid'], FlagError, /--proxy-uid needs a value/);
    refuses(['--exclude-inbound-ports', '--proxy-uid', '1'], FlagError, /--exclude-inbound-ports needs a value/);
  });

  test('a flag given twice', () => {
    refuses(['--inbound-port', '1', '--inbound-port=2'], FlagError, /--inbound-port is given more than once/);
  });

  test('a value on a switch', () => {
    assert.throws(() => parseRedirectFlags(['--apply=yes'], ['--apply']), /--apply takes no value \(got "--apply=yes"\)/);
  });

  test('bad numbers', () => {
    refuses(['--proxy-uid', 'root'], ValueError, /^--proxy-uid: "root" is not a uid \(an integer 0-4294967294\)$/);
    refuses(['--proxy-uid=-1'], ValueError, /^--proxy-uid: "-1" is not a uid/);
    refuses(['--proxy-uid', '4294967295'], ValueError, /^--proxy-uid: "4294967295" is not a uid/);
    refuses(['--inbound-port', '0'], ValueError, /^--inbound-port: "0" is not a port \(an integer 1-65535\)$/);
    refuses(['--outbound-port', '65536'], ValueError, /^--outbound-port: "65536" is not a port/);
    refuses(['--outbound-port', '15001.5'], ValueError, /^--outbound-port: "15001.5" is not a port/);
    refuses(['--inbound-port='], ValueError, /^--inbound-port: "" is not a port/);
  });

  test('bad lists, with the same words as the annotations', () => {
    refuses(['--exclude-inbound-ports', '22,ssh'], ValueError, /^--exclude-inbound-ports: "22,ssh" is not a comma-separated list of ports 1-65535$/);
    refuses(['--exclude-outbound-ports', '*'], ValueError, /^--exclude-outbound-ports: "\*" is not a comma-separated list.*"\*" is not accepted here/);
    refuses(['--include-inbound-ports=70000'], ValueError, /^--include-inbound-ports: "70000" has port 70000 outside 1-65535$/);
    refuses(['--include-outbound-cidrs', '10.0.0.0/33'], ValueError, /^--include-outbound-cidrs: "10.0.0.0\/33" has "10.0.0.0\/33", whose prefix length must be 0-32$/);
    refuses(['--exclude-outbound-cidrs', 'example.com'], ValueError, /^--exclude-outbound-cidrs: "example.com" has "example.com", which is not an IPv4 or IPv6 CIDR$/);
  });
});
