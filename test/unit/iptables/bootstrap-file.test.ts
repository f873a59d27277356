// splice-init writes the proxy's bootstrap from the input in its own args: what a pod
// carries must render, through the command the init container runs, to exactly the
// bootstrap splice's renderer makes for that pod, and a bad input must stop the init
// container with the field named and nothing written.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { iptablesCommand } from '../../../src/cli/iptables.js';
import { renderBootstrap } from '../../../src/inject/bootstrap.js';
import { BootstrapInputError, formatBootstrapInput, parseBootstrapInput } from '../../../src/inject/bootstrap-input.js';
import { DEFAULT_CONFIG, parseConfig } from '../../../src/inject/config.js';
import { injectPod } from '../../../src/inject/engine.js';
import { BOOTSTRAP_FLAGS } from '../../../src/inject/init.js';
import { BOOTSTRAP_FILE, INJECTED_NAMES } from '../../../src/inject/keys.js';
import { bootstrapInput } from '../../../src/inject/proxy-texts.js';
import type { Container, JsonObject } from '../../../src/inject/types.js';
import { tempDirs } from '../../support/temp-dirs.js';

const tempDir = tempDirs('splice-bootstrap-');

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await iptablesCommand(argv, { stdin: Readable.from([]), stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

function injected(config = DEFAULT_CONFIG): { init: Container; proxy: Container } {
  const d = injectPod({
    pod: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop' }, spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'example.com/app:1' }] } },
    namespace: { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} },
    cluster: {},
    config,
  });
  assert.equal(d.result, 'inject');
  const all = [...((d.pod.spec.initContainers ?? []) as Container[]), ...(d.pod.spec.containers as Container[])];
  const find = (name: string) => all.find((c) => c.name === name) ?? assert.fail(`no ${name}`);
  return { init: find(INJECTED_NAMES.init), proxy: find(INJECTED_NAMES.proxy) };
}

/** The kubelet's `$(VAR)` expansion of the one variable splice-init's args use. */
const expand = (args: readonly string[], podIp: string) => args.map((a) => a.replaceAll('$(POD_IP)', podIp));

describe('the proxy bootstrap, written by splice-init', () => {
  for (const [what, config] of [
    ['default config', DEFAULT_CONFIG],
    ['dual-stack mesh CIDRs, no discovery', parseConfig({ proxy: { meshCidrs: '10.0.0.0/8,fd00::/8', serviceDiscovery: false } })],
  ] as const) {
    test(`${what}: the init container's own args render the bootstrap the proxy is started on`, async () => {
      const { init, proxy } = injected(config);
      assert.deepEqual(init.env, [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }]);
      assert.deepEqual(proxy.args?.slice(0, 2), ['--config-path', BOOTSTRAP_FILE]);
      const file = join(tempDir(), 'envoy.json');
      const args = expand(init.args ?? [], '10.1.2.3').map((a) => (a === BOOTSTRAP_FILE ? file : a));
      // `iptables --apply` needs NET_ADMIN; without --apply the command still writes the file.
      const r = await run(args.slice(1).filter((a) => a !== '--apply'));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^proxy bootstrap written to ${file} \\(\\d+ bytes\\)$`, 'm'));
      const expected = renderBootstrap({ ...bootstrapInput('shop', 'web', config), podIp: '10.1.2.3' });
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')) as JsonObject, expected);
      assert.match(readFileSync(file, 'utf8'), /"address":"10\.1\.2\.3","port_value":15021/);
    });
  }

  test('the pod carries the input, a few hundred bytes, not the bootstrap', () => {
    const { init, proxy } = injected();
    const input = init.args?.[init.args.indexOf(BOOTSTRAP_FLAGS.input) + 1] ?? '';
    assert.ok(input.length < 500, `input is ${input.length} bytes`);
    assert.ok(JSON.stringify(renderBootstrap(parseBootstrapInput(input.replace('$(POD_IP)', '10.1.2.3')))).length > 10 * input.length);
    assert.ok(JSON.stringify(proxy).length < 2000, `the proxy container is ${JSON.stringify(proxy).length} bytes`);
  });

  test('formatting and reading back are inverse, keys in one order', () => {
    const input = bootstrapInput('shop', 'web', DEFAULT_CONFIG);
    const text = formatBootstrapInput({ ...input, podIp: '10.1.2.3' });
    assert.deepEqual(parseBootstrapInput(text), { ...input, podIp: '10.1.2.3' });
    const shuffled = Object.fromEntries(Object.entries({ ...input, podIp: '10.1.2.3' }).reverse()) as unknown as typeof input;
    assert.equal(formatBootstrapInput(shuffled), text);
  });

  test('a bad input exits 2 naming the field and the value, and writes nothing', async () => {
    const good = JSON.parse(formatBootstrapInput({ ...bootstrapInput('shop', 'web', DEFAULT_CONFIG), podIp: '10.1.2.3' })) as Record<string, unknown>;
    for (const [input, message] of [
      [{ ...good, podIp: '$(POD_IP)' }, 'podIp: "$(POD_IP)" was not expanded: the container needs the env var POD_IP (fieldRef status.podIP)'],
      [{ ...good, podIp: 'pod' }, 'podIp: "pod" is not an IP address'],
      [{ ...good, namespace: 'Shop' }, 'namespace: "Shop" is not a namespace name (an RFC 1123 label)'],
      [{ ...good, serviceAccount: 'Web' }, 'serviceAccount: "Web" is not a DNS subdomain name (RFC 1123)'],
      [{ ...good, meshCidrs: ['10.0.0.0/40'] }, 'meshCidrs[0]: "10.0.0.0/40"'],
      [{ ...good, meshCidrs: ['10.0.0.0/8,10.1.0.0/16'] }, 'meshCidrs[0]: "10.0.0.0/8,10.1.0.0/16" is not one CIDR'],
      [{ ...good, meshCidrs: ['10.0.0.0/8', ' 10.1.0.0/16'] }, 'meshCidrs[1]: " 10.1.0.0/16" is not one CIDR'],
      [{ ...good, meshCidrs: [''] }, 'meshCidrs[0]: "" is not one CIDR'],
      [{ ...good, meshCidrs: ['10.0.0.1'] }, 'meshCidrs[0]: "10.0.0.1" is not one CIDR in canonical form'],
      [{ ...good, podIp: 'fe80::1%eth0' }, 'podIp: "fe80::1%eth0" is not an IP address'],
      [{ ...good, namespace: 'a.b' }, 'namespace: "a.b" is not a namespace name (an RFC 1123 label)'],
      [JSON.parse('{"constructor": 1}'), 'constructor: 1 is not a field of the bootstrap input'],
      [5, 'the bootstrap input: 5 is not a JSON object'],
      [{ ...good, maxConnections: 0 }, 'maxConnections: 0 is not an integer 1-4294967295'],
      [{ ...good, discovery: { host: 'splice.splice-system.svc', port: 0, namespace: 'splice-system' } }, 'discovery.port: 0 is not an integer 1-65535'],
      [{ ...good, extra: 1 }, 'extra: 1 is not a field of the bootstrap input'],
      [Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'trustDomain')), 'trustDomain is missing'],
      ['{"podIp":', 'is not JSON'],
    ] as const) {
      const dir = tempDir();
      const text = typeof input === 'string' && input.startsWith('{"podIp":') ? input : JSON.stringify(input);
      const r = await run([BOOTSTRAP_FLAGS.file, join(dir, 'envoy.json'), BOOTSTRAP_FLAGS.input, text]);
      assert.equal(r.code, 2, text);
      assert.ok(r.stderr.startsWith(`splice iptables: ${BOOTSTRAP_FLAGS.input}: ${message}`), r.stderr);
      assert.equal(r.stdout, '', 'no rules printed after a bad input');
      assert.deepEqual(readdirSync(dir), [], 'nothing written');
      assert.throws(() => parseBootstrapInput(text), BootstrapInputError);
    }
  });

  test('one flag without the other is a usage error; an unwritable path exits 1 naming it', async () => {
    const half = await run([BOOTSTRAP_FLAGS.file, '/tmp/x.json']);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--bootstrap-file and --bootstrap-input go together/);
    const input = formatBootstrapInput({ ...bootstrapInput('shop', 'web', DEFAULT_CONFIG), podIp: '10.1.2.3' });
    const r = await run([BOOTSTRAP_FLAGS.file, '/nonexistent/dir/envoy.json', BOOTSTRAP_FLAGS.input, input]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^splice iptables: cannot write the bootstrap to \/nonexistent\/dir\/envoy\.json: ENOENT/);
  });
});
