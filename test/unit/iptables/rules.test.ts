import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRedirectOptions, type RedirectOptions } from '../../../src/iptables/options.js';
import { renderRules } from '../../../src/iptables/rules.js';

const opts = (o: Partial<RedirectOptions>): RedirectOptions => ({ ...defaultRedirectOptions(), ...o });

/** Both texts, for options that redirect IPv6 (the default). */
function rendered(o: RedirectOptions): { ipv4: string; ipv6: string } {
  const { ipv4, ipv6 } = renderRules(o);
  assert.ok(ipv6 !== undefined, 'IPv6 rules are rendered');
  return { ipv4, ipv6 };
}

/** The `-A` lines of one chain, without the chain name, in order. */
function chain(text: string, name: string): string[] {
  const prefix = `-A ${name} `;
  return text.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
}

const HEADER = [
  '*nat',
  ':PREROUTING ACCEPT [0:0]',
  ':INPUT ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  ':POSTROUTING ACCEPT [0:0]',
  ':SPLICE_INBOUND - [0:0]',
  ':SPLICE_IN_REDIRECT - [0:0]',
  ':SPLICE_OUTPUT - [0:0]',
  ':SPLICE_REDIRECT - [0:0]',
  '-A SPLICE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
  '-A SPLICE_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
];

describe('renderRules', () => {
  test('defaults: the whole nat table, every TCP port in and every destination out', () => {
    const expected = [
      ...HEADER,
      '-A PREROUTING -p tcp -j SPLICE_INBOUND',
      '-A SPLICE_INBOUND -p tcp --dport 15000 -j RETURN',
      '-A SPLICE_INBOUND -p tcp --dport 15001 -j RETURN',
      '-A SPLICE_INBOUND -p tcp --dport 15006 -j RETURN',
      '-A SPLICE_INBOUND -p tcp --dport 15008 -j RETURN',
      '-A SPLICE_INBOUND -p tcp --dport 15021 -j RETURN',
      '-A SPLICE_INBOUND -p tcp --dport 15090 -j RETURN',
      '-A SPLICE_INBOUND -p tcp -j SPLICE_IN_REDIRECT',
      '-A OUTPUT -p tcp -j SPLICE_OUTPUT',
      '-A SPLICE_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A SPLICE_OUTPUT -o lo -j RETURN',
      '-A SPLICE_OUTPUT -j SPLICE_REDIRECT',
      'COMMIT',
      '',
    ].join('\n');
    const rules = renderRules(defaultRedirectOptions());
    assert.equal(rules.ipv4, expected);
    assert.equal(rules.ipv6, expected);
  });

  test('ipv6 false: no IPv6 text at all, the IPv4 text unchanged', () => {
    const off = renderRules(opts({ ipv6: false }));
    assert.equal(off.ipv6, undefined);
    assert.equal(off.ipv4, renderRules(defaultRedirectOptions()).ipv4);
  });

  test('same options render the same text (deterministic)', () => {
    const o = opts({ excludeOutboundCidrs: ['fd00::/8', '10.0.0.0/8'], excludeInboundPorts: [22, 8080] });
    assert.deepEqual(renderRules(o), renderRules(structuredClone(o)));
  });

  test('only TCP is redirected, and only into splice chains', () => {
    const { ipv4, ipv6 } = rendered(defaultRedirectOptions());
    for (const text of [ipv4, ipv6]) {
      assert.doesNotMatch(text, /udp/);
      assert.deepEqual(chain(text, 'PREROUTING'), ['-p tcp -j SPLICE_INBOUND']);
      assert.deepEqual(chain(text, 'OUTPUT'), ['-p tcp -j SPLICE_OUTPUT']);
      assert.deepEqual(chain(text, 'INPUT'), []);
      assert.deepEqual(chain(text, 'POSTROUTING'), []);
    }
  });

  test('proxy uid and capture ports follow the options; custom capture ports are never captured themselves', () => {
    const { ipv4 } = renderRules(opts({ proxyUid: 2102, inboundPort: 16006, outboundPort: 16001 }));
    assert.deepEqual(chain(ipv4, 'SPLICE_IN_REDIRECT'), ['-p tcp -j REDIRECT --to-ports 16006']);
    assert.deepEqual(chain(ipv4, 'SPLICE_REDIRECT'), ['-p tcp -j REDIRECT --to-ports 16001']);
    assert.equal(chain(ipv4, 'SPLICE_OUTPUT')[0], '-m owner --uid-owner 2102 -j RETURN');
    const returned = chain(ipv4, 'SPLICE_INBOUND').filter((r) => r.endsWith('-j RETURN')).map((r) => Number(/--dport (\d+)/.exec(r)?.[1]));
    assert.deepEqual(returned, [15000, 15001, 15006, 15008, 15021, 15090, 16001, 16006]);
  });

  test('excluded inbound ports return before the catch-all redirect', () => {
    const { ipv4 } = renderRules(opts({ excludeInboundPorts: [22, 8443] }));
    assert.deepEqual(chain(ipv4, 'SPLICE_INBOUND').slice(-3), [
      '-p tcp --dport 22 -j RETURN',
      '-p tcp --dport 8443 -j RETURN',
      '-p tcp -j SPLICE_IN_REDIRECT',
    ]);
  });

  test('an include list captures only its ports, and an excluded port stays excluded', () => {
    const { ipv4 } = renderRules(opts({ includeInboundPorts: [8080, 9090], excludeInboundPorts: [9090] }));
    assert.deepEqual(chain(ipv4, 'SPLICE_INBOUND').slice(-3), [
      '-p tcp --dport 9090 -j RETURN',
      '-p tcp --dport 8080 -j SPLICE_IN_REDIRECT',
      '-p tcp --dport 9090 -j SPLICE_IN_REDIRECT',
    ]);
    assert.ok(!chain(ipv4, 'SPLICE_INBOUND').includes('-p tcp -j SPLICE_IN_REDIRECT'));
  });

  test('a proxy port in the include list still reaches the proxy directly', () => {
    const rules = chain(renderRules(opts({ includeInboundPorts: [15021] })).ipv4, 'SPLICE_INBOUND');
    assert.ok(rules.indexOf('-p tcp --dport 15021 -j RETURN') < rules.indexOf('-p tcp --dport 15021 -j SPLICE_IN_REDIRECT'));
  });

  test('an empty inbound include list captures nothing inbound, outbound unchanged', () => {
    const { ipv4, ipv6 } = rendered(opts({ includeInboundPorts: [] }));
    for (const text of [ipv4, ipv6]) {
      assert.deepEqual(chain(text, 'PREROUTING'), []);
      assert.deepEqual(chain(text, 'SPLICE_INBOUND'), []);
      assert.match(text, /^:SPLICE_INBOUND - \[0:0\]$/m, 'chain still declared so a re-run replaces it');
      assert.deepEqual(chain(text, 'OUTPUT'), ['-p tcp -j SPLICE_OUTPUT']);
    }
  });

  test('excluded outbound ports and CIDRs return, each CIDR only in its own family', () => {
    const { ipv4, ipv6 } = rendered(opts({
      excludeOutboundPorts: [53, 5432],
      excludeOutboundCidrs: ['10.0.0.0/8', 'fd00::/8', '169.254.169.254/32', '2001:db8::1/128'],
    }));
    const tail = ['-p tcp --dport 53 -j RETURN', '-p tcp --dport 5432 -j RETURN'];
    assert.deepEqual(chain(ipv4, 'SPLICE_OUTPUT').slice(2), [
      ...tail, '-d 10.0.0.0/8 -j RETURN', '-d 169.254.169.254/32 -j RETURN', '-j SPLICE_REDIRECT',
    ]);
    assert.deepEqual(chain(ipv6, 'SPLICE_OUTPUT').slice(2), [
      ...tail, '-d fd00::/8 -j RETURN', '-d 2001:db8::1/128 -j RETURN', '-j SPLICE_REDIRECT',
    ]);
  });

  test('the proxy uid and loopback return before any exclusion or redirect', () => {
    for (const text of Object.values(renderRules(opts({ excludeOutboundPorts: [1], includeOutboundCidrs: ['10.0.0.0/8', 'fd00::/8'] })))) {
      assert.deepEqual(chain(text, 'SPLICE_OUTPUT').slice(0, 2), ['-m owner --uid-owner 1337 -j RETURN', '-o lo -j RETURN']);
    }
  });

  test('an outbound include list is split by family', () => {
    const { ipv4, ipv6 } = rendered(opts({ includeOutboundCidrs: ['10.96.0.0/12', 'fd00:10:96::/112', '192.168.0.0/16'] }));
    assert.deepEqual(chain(ipv4, 'SPLICE_OUTPUT').slice(2), ['-d 10.96.0.0/12 -j SPLICE_REDIRECT', '-d 192.168.0.0/16 -j SPLICE_REDIRECT']);
    assert.deepEqual(chain(ipv6, 'SPLICE_OUTPUT').slice(2), ['-d fd00:10:96::/112 -j SPLICE_REDIRECT']);
  });

  test('an include list with no CIDR of a family captures nothing outbound in that family', () => {
    const { ipv4, ipv6 } = rendered(opts({ includeOutboundCidrs: ['10.96.0.0/12'], excludeOutboundCidrs: ['fd00::/8'] }));
    assert.deepEqual(chain(ipv4, 'OUTPUT'), ['-p tcp -j SPLICE_OUTPUT']);
    assert.deepEqual(chain(ipv6, 'OUTPUT'), []);
    assert.deepEqual(chain(ipv6, 'SPLICE_OUTPUT'), []);
    assert.deepEqual(chain(ipv6, 'PREROUTING'), ['-p tcp -j SPLICE_INBOUND'], 'inbound is not affected');
  });

  test('an empty outbound include list captures nothing outbound in either family', () => {
    for (const text of Object.values(renderRules(opts({ includeOutboundCidrs: [] })))) {
      assert.deepEqual(chain(text, 'OUTPUT'), []);
      assert.deepEqual(chain(text, 'SPLICE_OUTPUT'), []);
      assert.match(text, /^:SPLICE_OUTPUT - \[0:0\]$/m);
    }
  });

  test('both include lists empty: chains declared, nothing jumps to them', () => {
    for (const text of Object.values(renderRules(opts({ includeInboundPorts: [], includeOutboundCidrs: [] })))) {
      assert.equal(text, [...HEADER, 'COMMIT', ''].join('\n'));
    }
  });
});
