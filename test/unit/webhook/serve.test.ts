// `splice serve` end to end: flags, --local, the cluster mode against a fake API
// server, and SIGTERM on a real process.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { serveCommand } from '../../../src/cli/serve.js';
import { SPLICE_VERSION } from '../../../src/version.js';
import type { Pod } from '../../../src/inject/types.js';
import { cli } from '../../support/cli.js';
import { pod, review } from './fixtures.js';
import { eventually } from '../../support/eventually.js';
import { applyPatchTo } from '../../support/patch.js';

interface Running {
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code once serveCommand returns. */
  exit: Promise<number>;
  stop: () => Promise<number>;
  listening: () => Promise<{ webhook: string; healthz: string; readyz: string; metrics: string }>;
}

function startServe(argv: string[], env: NodeJS.ProcessEnv = {}): Running {
  let out = '';
  let err = '';
  const controller = new AbortController();
  const exit = serveCommand(argv, { stdin: Readable.from([]), stdout: (t) => void (out += t), stderr: (t) => void (err += t) }, { env, signal: controller.signal });
  let code: number | undefined;
  void exit.then((c) => (code = c));
  return {
    stdout: () => out,
    stderr: () => err,
    exit,
    stop: () => {
      controller.abort();
      return exit;
    },
    async listening() {
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const line = out.split('\n').find((l) => l.includes('"splice listening"'));
        if (line) return JSON.parse(line) as { webhook: string; healthz: string; readyz: string; metrics: string };
        if (code !== undefined) assert.fail(`serve exited with ${code} before listening:\n${err}\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.fail(`serve did not report listening:\n${err}\n${out}`);
    },
  };
}

function postPod(webhook: string, ca: string, body: unknown): Promise<{ status: number; json: { response: { allowed: boolean; patch?: string; warnings?: string[]; status?: { code: number; message: string } } } }> {
  const url = new URL(webhook);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca, servername: 'localhost', agent: false, timeout: 5000, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as never }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function appliedPatch(sent: Pod, patch: string | undefined): Pod {
  assert.ok(patch, 'a patch');
  return applyPatchTo(sent, patch);
}


describe('splice serve flags', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['--tls-cert without --tls-key', ['--tls-cert', 'a.pem'], /--tls-cert and --tls-key go together/],
    ['a port that is not a number', ['--port', 'https'], /--port: "https" is not a port/],
    ['a port out of range', ['--metrics-port', '70000'], /--metrics-port: "70000" is not a port/],
    ['the same port twice', ['--port', '9000', '--metrics-port', '9000'], /must differ/],
    ['an unknown flag', ['--insecure'], /Unknown option '--insecure'/],
    ['a poll interval that is not seconds', ['--tls-poll-interval', '1m'], /--tls-poll-interval: "1m" is not a number of seconds/],
    ['a log level it does not have', ['--log-level', 'verbose'], /--log-level: "verbose" is not one of debug, info, warn, error/],
  ];
  for (const [name, argv, message] of cases) {
    test(`${name} → exit 2`, async () => {
      const run = await cli(['serve', ...argv]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
    });
  }

  test('--help prints the flags', async () => {
    const run = await cli(['serve', '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /--metrics-port N/);
  });

  describe('files', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'splice-serve-'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    test('a config with problems lists every one and exits 2', async () => {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, 'onError: maybe\nproxy:\n  uid: -1\n');
      const run = await cli(['serve', '--local', '--config', file]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /onError: must be one of deny, allow/);
      assert.match(run.stderr, /proxy\.uid/);
    });

    test('a certificate file that does not exist is named, exit 2, nothing left listening', async () => {
      const missing = join(dir, 'nope.crt');
      const run = await cli(['serve', '--local', '--port', '0', '--metrics-port', '0', '--tls-cert', missing, '--tls-key', join(dir, 'nope.key')]);
      assert.equal(run.code, 2);
      assert.ok(run.stderr.includes(`--tls-cert ${missing}: cannot read it (no such file)`), run.stderr);
    });
  });
});

/**
 * Starts `splice serve --local` with `config` as its config file and returns the one
 * warning line that contains `marker`, parsed (failing if there is none or more than one).
 */
async function startWarning(config: string, marker: string): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'splice-serve-config-'));
  const file = join(dir, 'config.yaml');
  await writeFile(file, config);
  const serve = startServe(['--local', '--port', '0', '--metrics-port', '0', '--config', file]);
  try {
    await serve.listening();
    const warnings = () => serve.stdout().split('\n').filter((l) => l.includes(marker));
    await eventually(() => warnings().length > 0);
    assert.equal(warnings().length, 1, serve.stdout());
    const line = JSON.parse(warnings()[0] ?? '{}') as Record<string, unknown>;
    assert.equal(line.level, 40, 'at warn');
    return line;
  } finally {
    serve.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('which init.image follows the image splice runs from', () => {
  test('the shipped image of any version, by tag or digest; nothing else', async () => {
    const { isShippedImage } = await import('../../../src/cli/serve.js');
    for (const image of ['ghcr.io/splice-dev/splice:0.4.0', 'ghcr.io/splice-dev/splice:0.3.0', 'ghcr.io/splice-dev/splice@sha256:00ff', 'ghcr.io/splice-dev/splice']) assert.equal(isShippedImage(image), true, image);
    for (const image of ['registry.example.com/mesh/splice:0.4.0', 'ghcr.io/splice-dev/splice-extra:0.4.0', 'ghcr.io/other/splice:0.4.0']) assert.equal(isShippedImage(image), false, image);
  });
});

describe('splice serve --log-level', () => {
  test('warn: the same start, without its info lines, and warnings still logged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splice-serve-level-'));
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'init:\n  image: registry.example:5000/splice:0.1.0\n');
    const serve = startServe(['--local', '--port', '0', '--metrics-port', '0', '--config', file, '--log-level', 'warn']);
    try {
      // Not even "splice listening", an info line: the warning, then a moment for any more.
      await eventually(() => serve.stdout().includes('init.image is not splice'));
      await new Promise((r) => setTimeout(r, 1000));
      assert.doesNotMatch(serve.stdout(), /"splice listening"/);
      const levels = serve.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { level: number }).level);
      assert.ok(levels.length > 0 && levels.every((l) => l >= 40), `levels logged: ${levels.join(', ')}`);
    } finally {
      serve.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('splice serve --local warns at start about a config that cannot work as meant', () => {
  test('an init image of another version: names the image and its own version', async () => {
    const line = await startWarning('init:\n  image: registry.example:5000/splice:0.1.0\n', 'init.image is not splice');
    assert.deepEqual([line.image, line.version], ['registry.example:5000/splice:0.1.0', SPLICE_VERSION]);
  });

  test('IPv6 mesh CIDRs with proxy.ipv6 disabled: names the CIDRs that get no mTLS', async () => {
    const line = await startWarning('proxy:\n  meshCidrs: "10.244.0.0/16,fd00:10:244::/56"\n  ipv6: disabled\n', 'proxy.ipv6 is disabled');
    assert.deepEqual(line.meshCidrs, ['fd00:10:244::/56']);
  });
});

describe('splice serve --local', () => {
  let serve: Running;
  let urls: Awaited<ReturnType<Running['listening']>>;
  let ca: string;

  before(async () => {
    serve = startServe(['--local', '--port', '0', '--metrics-port', '0']);
    urls = await serve.listening();
    ca = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(serve.stderr())?.[0] ?? '';
  });
  after(() => serve.stop());

  test('listens on 127.0.0.1 only and says where', () => {
    assert.match(urls.webhook, /^https:\/\/127\.0\.0\.1:\d+\/inject$/);
    assert.match(urls.metrics, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  });

  test('with the default config it warns once that no outbound connection gets mTLS', () => {
    const warnings = serve.stdout().split('\n').filter((l) => l.includes('proxy.meshCidrs is empty'));
    assert.equal(warnings.length, 1, serve.stdout());
    assert.equal((JSON.parse(warnings[0] ?? '{}') as { level: number }).level, 40, 'at warn');
  });

  test('probes: alive and ready (no cache to wait for)', async () => {
    assert.equal((await fetch(urls.healthz)).status, 200);
    assert.equal((await fetch(urls.readyz)).status, 200);
  });

  test('injects a pod with the real engine, verifiable with the printed CA; counted in /metrics', async () => {
    assert.ok(ca, 'the CA is printed on stderr');
    const sent = pod();
    const res = await postPod(urls.webhook, ca, review({ object: sent }));
    assert.equal(res.status, 200);
    assert.equal(res.json.response.allowed, true);
    const injected = appliedPatch(sent, res.json.response.patch);
    const names = [...injected.spec.containers, ...(injected.spec.initContainers ?? [])].map((c) => c.name);
    assert.ok(names.includes('splice-proxy'), names.join(','));
    assert.ok(names.includes('splice-init'));
    const metrics = await (await fetch(urls.metrics)).text();
    assert.match(metrics, /splice_injection_requests_total\{result="inject",reason="[a-z_]+"\} 1/);
    assert.match(metrics, /splice_certificate_expiry_timestamp_seconds\{certificate="serving"\} \d+/);
    assert.match(metrics, /splice_process_cpu_seconds_total/);
  });

  test('one info line per decision, with namespace, pod, result, reasons and duration', () => {
    const decisions = serve
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"admission decision"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(decisions.length, 1);
    const d = decisions[0] ?? {};
    assert.equal(d.level, 30);
    assert.equal(d.namespace, 'shop');
    assert.equal(d.pod, 'web');
    assert.equal(d.result, 'inject');
    assert.ok(Array.isArray(d.reasons) && d.reasons.length > 0);
    assert.equal(typeof d.durationMs, 'number');
    assert.equal(d.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
    assert.ok(!serve.stdout().includes('s3cr3t-token'), 'no pod contents at info');
  });
});

describe('splice serve as a process', () => {
  test('SIGTERM: stops accepting, finishes, exits 0', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const bin = join(here, '..', '..', '..', '..', 'bin', 'splice.js');
    const child = spawn(process.execPath, [bin, 'serve', '--local', '--port', '0', '--metrics-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      await eventually(async () => out.includes('"splice listening"'), 15_000);
      const line = out.split('\n').find((l) => l.includes('"splice listening"')) ?? '{}';
      const { healthz } = JSON.parse(line) as { healthz: string };
      assert.equal((await fetch(healthz)).status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(out, /"msg":"stopped"/);
      await assert.rejects(fetch(healthz));
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
  });
});
