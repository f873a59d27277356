import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ConfigError, DEFAULT_CONFIG, ipv6Redirected, meshCidrList, parseConfig } from '../../../src/inject/config.js';
import { SPLICE_VERSION } from '../../../src/version.js';
import { REPO } from '../../support/golden.js';

function problems(doc: unknown): string[] {
  try {
    parseConfig(doc);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('config', () => {
  test('an empty document is the defaults', () => {
    assert.deepEqual(parseConfig(null), DEFAULT_CONFIG);
    assert.deepEqual(parseConfig({}), DEFAULT_CONFIG);
  });
  test('defaults: injection off unless configured, native sidecars automatic, refuse on error', () => {
    assert.equal(DEFAULT_CONFIG.defaultPolicy, 'disabled');
    assert.equal(DEFAULT_CONFIG.proxy.nativeSidecar, 'auto');
    assert.equal(DEFAULT_CONFIG.onError, 'deny');
    assert.equal(DEFAULT_CONFIG.proxy.uid, 1337);
  });
  test('values given replace defaults, others keep theirs', () => {
    const c = parseConfig({ trustDomain: 'prod.example.com', proxy: { logLevel: 'debug', resources: { limits: { memory: '1Gi' } } } });
    assert.equal(c.trustDomain, 'prod.example.com');
    assert.equal(c.proxy.logLevel, 'debug');
    assert.deepEqual(c.proxy.resources, { requests: {}, limits: { memory: '1Gi' } });
    assert.equal(c.proxy.image, DEFAULT_CONFIG.proxy.image);
    assert.equal(parseConfig({ identity: { certificateLifetimeSeconds: 60 } }).identity.certificateLifetimeSeconds, 60);
    assert.equal(DEFAULT_CONFIG.identity.certificateLifetimeSeconds, 86400);
  });
  test('every problem is reported at once, naming the key and the value', () => {
    const p = problems({
      defaultPolicy: 'on',
      proxy: { uid: 0, logLevel: 'loud', resources: { requests: { cpu: 'lots' } } },
      redirect: { excludeInboundPorts: '80,99999', includeOutboundCidrs: '10.0.0.0/99' },
      identity: { certificateLifetimeSeconds: 30, renewAt: 0.5 },
      tracing: true,
    });
    const expect = [
      /^tracing: unknown key/,
      /^defaultPolicy: must be one of enabled, disabled \(got "on"\)/,
      /^proxy\.uid: .* \(got 0\)/,
      /^proxy\.logLevel: .* \(got "loud"\)/,
      /^proxy\.resources\.requests\.cpu: "lots" is not a Kubernetes quantity/,
      /^redirect\.excludeInboundPorts: has port 99999 outside 1-65535 \(got "80,99999"\)/,
      /^redirect\.includeOutboundCidrs: .*10\.0\.0\.0\/99/,
      /^identity\.renewAt: unknown key/,
      /^identity\.certificateLifetimeSeconds: must be whole seconds from 60 to 7776000 \(90 days\) \(got 30\)/,
    ];
    assert.equal(p.length, expect.length, p.join('\n'));
    for (const re of expect) assert.ok(p.some((m) => re.test(m)), `no problem matches ${re}:\n${p.join('\n')}`);
  });
  test('proxy.meshCidrs: comma-separated CIDRs, empty by default; "*" and bad CIDRs are refused by name', () => {
    assert.equal(DEFAULT_CONFIG.proxy.meshCidrs, '');
    assert.deepEqual(meshCidrList(''), []);
    const c = parseConfig({ proxy: { meshCidrs: '10.244.0.0/16, FD00:10:244:0::/56,10.244.0.0/16' } });
    assert.deepEqual(meshCidrList(c.proxy.meshCidrs), ['10.244.0.0/16', 'fd00:10:244::/56'], 'canonical, without repeats');
    assert.match(problems({ proxy: { meshCidrs: '*' } })[0] ?? '', /^proxy\.meshCidrs: must name the pod CIDRs; "\*" would send mTLS to destinations outside the mesh too \(got "\*"\)$/);
    assert.match(problems({ proxy: { meshCidrs: '10.244.1.0/16' } })[0] ?? '', /^proxy\.meshCidrs: has "10\.244\.1\.0\/16", whose host bits are set; the network is 10\.244\.0\.0\/16/);
    assert.match(problems({ proxy: { meshCidrs: ['10.244.0.0/16'] } })[0] ?? '', /^proxy\.meshCidrs: must be a string of comma-separated CIDRs/);
  });
  test('proxy.ipv6: auto by default, on exactly when the mesh CIDRs name an IPv6 network; other values refused by name', () => {
    assert.equal(DEFAULT_CONFIG.proxy.ipv6, 'auto');
    assert.equal(ipv6Redirected(DEFAULT_CONFIG), false, 'no mesh CIDRs: IPv4 only');
    assert.equal(ipv6Redirected(parseConfig({ proxy: { meshCidrs: '10.244.0.0/16' } })), false);
    assert.equal(ipv6Redirected(parseConfig({ proxy: { meshCidrs: '10.244.0.0/16,fd00:10:244::/56' } })), true);
    assert.equal(ipv6Redirected(parseConfig({ proxy: { ipv6: 'enabled' } })), true);
    assert.equal(ipv6Redirected(parseConfig({ proxy: { ipv6: 'disabled', meshCidrs: 'fd00:10:244::/56' } })), false);
    assert.deepEqual(problems({ proxy: { ipv6: true } }), ['proxy.ipv6: must be one of auto, enabled, disabled (got true)']);
  });

  test('proxy.serviceDiscovery: on by default, a boolean', () => {
    assert.equal(DEFAULT_CONFIG.proxy.serviceDiscovery, true);
    assert.equal(parseConfig({ proxy: { serviceDiscovery: false } }).proxy.serviceDiscovery, false);
    assert.deepEqual(problems({ proxy: { serviceDiscovery: 'no' } }), ['proxy.serviceDiscovery: must be true or false (got "no")']);
  });

  test('proxy.maxConnections: 100000 by default, a whole number from 16 to 2^32-1', () => {
    assert.equal(DEFAULT_CONFIG.proxy.maxConnections, 100_000);
    assert.equal(parseConfig({ proxy: { maxConnections: 5_000 } }).proxy.maxConnections, 5_000);
    for (const bad of [15, 4_294_967_296, 1.5, '5000', -1]) {
      assert.deepEqual(problems({ proxy: { maxConnections: bad } }), [`proxy.maxConnections: must be a whole number from 16 to 4294967295 (got ${JSON.stringify(bad)})`], String(bad));
    }
  });

  test('proxy.resources and init.resources: each value by its resource\'s rules, requests at most limits', () => {
    assert.match(problems({ proxy: { resources: { limits: { memory: '200m' } } } })[0] ?? '', /^proxy\.resources\.limits\.memory: "200m" is 0\.2 bytes, .*did you mean "200Mi"/);
    assert.match(problems({ init: { resources: { requests: { cpu: '10Mi' } } } })[0] ?? '', /^init\.resources\.requests\.cpu: "10Mi" uses the binary suffix "Mi".*did you mean "10m"/);
    assert.match(problems({ init: { resources: { requests: { memory: '16' } } } })[0] ?? '', /^init\.resources\.requests\.memory: "16" is only 16 bytes/);
    assert.match(
      problems({ proxy: { resources: { requests: { memory: '512Mi' }, limits: { memory: '256Mi' } } } })[0] ?? '',
      /^proxy\.resources\.requests\.memory: "512Mi" is more than proxy\.resources\.limits\.memory "256Mi"$/,
    );
    // YAML reads an unquoted 1 as a number; Kubernetes takes it as a quantity too.
    assert.deepEqual(parseConfig({ proxy: { resources: { limits: { cpu: 1, memory: '1Gi' } } } }).proxy.resources.limits, { cpu: '1', memory: '1Gi' });
  });
  test('a non-mapping document is refused', () => {
    assert.match(problems(['a'])[0] ?? '', /config must be a mapping/);
  });
  test('the config is frozen so no request can change it for the next', () => {
    const c = parseConfig({});
    assert.throws(() => {
      (c.proxy as { image: string }).image = 'x';
    }, TypeError);
  });
  test('the version in code is the package version', () => {
    const pkg = JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as { version: string };
    assert.equal(SPLICE_VERSION, pkg.version);
  });
});
