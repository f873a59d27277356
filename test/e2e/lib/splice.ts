// splice as the tests run it: the manifests applied through the test overlay, and
// `splice serve` as a host process authenticated as the splice ServiceAccount (a token
// from `kubectl create token`), so what it may do is exactly what manifests/ grants.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ok } from './kubectl.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const OVERLAY = join(REPO, 'test/e2e/overlay');
/** The port the overlay's webhook configuration calls. */
export const WEBHOOK_PORT = 19443;
export const METRICS_PORT = 19090;
export const SYSTEM_NAMESPACE = 'splice-system';

export function installManifests(): void {
  ok(['apply', '-k', OVERLAY]);
}

// The logs and files of this test file's splice processes: kept when a test failed (they
// say why), removed when every test passed. Made on first use, so a file that imports
// this module for its constants leaves nothing behind.
let work: string | undefined;
function workDir(): string {
  if (work === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'splice-e2e-'));
    process.on('exit', (code) => {
      if (code === 0) rmSync(dir, { recursive: true, force: true });
    });
    work = dir;
  }
  return work;
}

/** A fresh directory for a scenario's own files (configs), removed with the others. */
export function scratchDir(label: string): string {
  return mkdtempSync(join(workDir(), `${label}-`));
}

/** A kubeconfig that authenticates as the given ServiceAccount, with a fresh token. */
export function serviceAccountKubeconfig(namespace = SYSTEM_NAMESPACE, name = 'splice'): string {
  const server = process.env.SPLICE_E2E_SERVER;
  const ca = process.env.SPLICE_E2E_CA_CERT;
  if (!server || !ca) throw new Error('SPLICE_E2E_SERVER / SPLICE_E2E_CA_CERT not set: run through test/e2e/run.sh');
  const token = ok(['-n', namespace, 'create', 'token', name, '--duration', '2h']).trim();
  const file = join(workDir(), `${namespace}-${name}.kubeconfig`);
  const caData = readFileSync(ca).toString('base64');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority-data': caData } }],
      users: [{ name, user: { token } }],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: name } }],
      'current-context': 'e2e',
    }),
  );
  return file;
}

export interface SpliceProcess {
  port: number;
  metricsPort: number;
  logFile: string;
  child: ChildProcess;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
  log(): string;
}

export interface StartOptions {
  port?: number;
  metricsPort?: number;
  args?: string[];
  env?: Record<string, string>;
  kubeconfig?: string;
  /** Wait for /readyz (default true). */
  waitReady?: boolean;
}

let seq = 0;

// The ports are fixed (the overlay's webhook URL names one): if another run holds them,
// /readyz would answer from that process and the test would talk to the wrong splice.
function assertFree(port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once('error', () => reject(new Error(`port ${port} on 127.0.0.1 is in use: another splice or end-to-end run is holding it`)));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolvePromise()));
  });
}

export async function startSplice(o: StartOptions = {}): Promise<SpliceProcess> {
  const port = o.port ?? WEBHOOK_PORT;
  const metricsPort = o.metricsPort ?? METRICS_PORT;
  await assertFree(port);
  await assertFree(metricsPort);
  const logFile = join(workDir(), `splice-${port}-${seq++}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      join(REPO, 'bin/splice.js'), 'serve', '--port', String(port), '--metrics-port', String(metricsPort), '--host', '127.0.0.1',
      // Several replicas may run at once: discovery takes any free port unless a test names one.
      ...((o.args ?? []).includes('--discovery-port') ? [] : ['--discovery-port', '0']),
      ...(o.args ?? []),
    ],
    {
      env: { ...process.env, KUBECONFIG: o.kubeconfig ?? serviceAccountKubeconfig(), POD_NAMESPACE: SYSTEM_NAMESPACE, ...(o.env ?? {}) },
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const proc: SpliceProcess = {
    port,
    metricsPort,
    logFile,
    child,
    log: () => readFileSync(logFile, 'utf8'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  if (o.waitReady !== false) {
    const deadline = Date.now() + 60_000;
    while ((await status(metricsPort, '/readyz')) !== 200) {
      if (child.exitCode !== null) throw new Error(`splice serve exited (${child.exitCode}):\n${proc.log()}`);
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`splice serve was not ready within 60 s:\n${proc.log()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return proc;
}

/** HTTP status of a GET on the metrics port, or 0 when nothing answers. */
export function status(port: number, path: string): Promise<number> {
  return httpGet(port, path).then((r) => r.status);
}

export function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolvePromise({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
