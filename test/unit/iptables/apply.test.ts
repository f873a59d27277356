import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplyError, ipv6Unavailable, restore } from '../../../src/iptables/apply.js';

// A directory laid out like /proc/sys, for the states a test machine's kernel is not in.
async function withProcSys(layout: { disableIpv6?: string; ipv6Dir: boolean }, fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'splice-procsys-'));
  try {
    if (layout.ipv6Dir) await mkdir(join(dir, 'net/ipv6/conf/all'), { recursive: true });
    if (layout.disableIpv6 !== undefined) await writeFile(join(dir, 'net/ipv6/conf/all/disable_ipv6'), layout.disableIpv6);
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('ipv6Unavailable', () => {
  test('a kernel without IPv6: says the directory is missing', async () => {
    await withProcSys({ ipv6Dir: false }, async (dir) => {
      assert.equal(await ipv6Unavailable(dir), `${dir}/net/ipv6 does not exist: the kernel has no IPv6`);
    });
  });

  test('IPv6 disabled in the namespace: names the sysctl and its value', async () => {
    await withProcSys({ ipv6Dir: true, disableIpv6: '1\n' }, async (dir) => {
      assert.equal(await ipv6Unavailable(dir), `${dir}/net/ipv6/conf/all/disable_ipv6 is 1: IPv6 is disabled in this network namespace`);
    });
  });

  test('IPv6 enabled, or its state unknown: the rules are installed', async () => {
    await withProcSys({ ipv6Dir: true, disableIpv6: '0\n' }, async (dir) => assert.equal(await ipv6Unavailable(dir), undefined));
    await withProcSys({ ipv6Dir: true }, async (dir) => assert.equal(await ipv6Unavailable(dir), undefined));
  });
});

describe('restore', () => {
  test('a missing binary: the error names the command and says it is not on PATH', async () => {
    await assert.rejects(restore('splice-no-such-iptables-restore', '*nat\nCOMMIT\n'), (err: unknown) => {
      assert.ok(err instanceof ApplyError);
      assert.match(err.message, /^splice-no-such-iptables-restore --wait=10: not found on PATH \(.*\); install iptables$/);
      return true;
    });
  });
});
