import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { iptablesCommand } from '../../../src/cli/iptables.js';
import { defaultRedirectOptions } from '../../../src/iptables/options.js';
import { renderRules } from '../../../src/iptables/rules.js';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await iptablesCommand(argv, {
    stdin: Readable.from([]),
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr };
}

describe('splice iptables (without --apply)', () => {
  test('prints both rule sets under their headings', async () => {
    const { code, stdout, stderr } = await run([]);
    const rules = renderRules(defaultRedirectOptions());
    assert.equal(code, 0);
    assert.equal(stderr, '');
    assert.equal(stdout, `# IPv4: iptables-restore\n${rules.ipv4}\n# IPv6: ip6tables-restore\n${rules.ipv6}`);
  });

  test('flags change the printed rules', async () => {
    const { stdout } = await run(['--exclude-outbound-cidrs', '10.0.0.0/8,fd00::/8', '--proxy-uid=2102']);
    const [v4 = '', v6 = ''] = stdout.split('# IPv6: ip6tables-restore\n');
    assert.match(v4, /^-A SPLICE_OUTPUT -d 10\.0\.0\.0\/8 -j RETURN$/m);
    assert.doesNotMatch(v4, /fd00/);
    assert.match(v6, /^-A SPLICE_OUTPUT -d fd00::\/8 -j RETURN$/m);
    assert.match(v6, /--uid-owner 2102 /);
  });

  test('--ipv6 false: the IPv4 rules, and a line saying IPv6 is not redirected', async () => {
    const { code, stdout } = await run(['--ipv6', 'false']);
    assert.equal(code, 0);
    assert.equal(stdout, `# IPv4: iptables-restore\n${renderRules(defaultRedirectOptions()).ipv4}\n# IPv6: not redirected (--ipv6 false)\n`);
    assert.equal((await run(['--ipv6', 'maybe'])).code, 2);
  });

  test('--help prints usage naming every flag', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, 0);
    for (const flag of ['--apply', '--proxy-uid', '--inbound-port', '--outbound-port', '--include-inbound-ports',
      '--exclude-inbound-ports', '--exclude-outbound-ports', '--include-outbound-cidrs', '--exclude-outbound-cidrs', '--ipv6']) {
      assert.ok(stdout.includes(`  ${flag} `), `usage lists ${flag}`);
    }
    assert.equal((await run(['-h'])).stdout, stdout);
  });

  test('a usage error exits 2 with the flag and value on stderr, nothing on stdout', async () => {
    for (const [argv, message] of [
      [['--inbound-port', 'http'], '--inbound-port: "http" is not a port'],
      [['--bogus'], 'unknown flag "--bogus"'],
      [['--outbound-port'], '--outbound-port needs a value'],
      [['--include-outbound-cidrs=10.0.0.0/40', '--apply'], '--include-outbound-cidrs: "10.0.0.0/40" has'],
    ] as const) {
      const { code, stdout, stderr } = await run([...argv]);
      assert.equal(code, 2, argv.join(' '));
      assert.equal(stdout, '');
      assert.ok(stderr.startsWith(`splice iptables: ${message}`), stderr);
    }
  });
});
