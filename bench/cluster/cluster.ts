// The real control plane of the end-to-end tests (test/e2e/cluster.sh) for the benchmark's
// cluster sections. Each section starts one of its own and stops it: 10,000 namespaces keep
// the controller manager creating a ServiceAccount and a ConfigMap in each for minutes, and
// a burst measured next to that would measure that leftover work too.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from '../lib/figure.js';
import { compiled } from '../lib/paths.js';
import { Api } from '../../test/e2e/lib/api.js';
import { ok } from '../../test/e2e/lib/kubectl.js';
import { REPO, startSplice, type SpliceProcess } from '../../test/e2e/lib/splice.js';

/**
 * A run directory of its own, never SPLICE_E2E_DIR: starting clean stops whatever cluster
 * lives in it, and an end-to-end run may be using that one.
 */
export const RUN_DIR = process.env.SPLICE_BENCH_CLUSTER_DIR ?? '/tmp/splice-bench-cluster';
const CLUSTER_SH = join(REPO, 'test/e2e/cluster.sh');
const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'];

/** The directory build.sh fills (or SPLICE_K8S_BIN), and whether every binary is there. */
export function k8sBinaries(): { dir: string; missing: string[] } {
  const dir = process.env.SPLICE_K8S_BIN ?? join(homedir(), '.cache/splice/k8s-v1.37.2/bin');
  const missing = BINARIES.filter((b) => {
    try {
      accessSync(join(dir, b), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  return { dir, missing };
}

/**
 * What a section returns when it cannot run: the build takes about 12 minutes, far more
 * than the whole benchmark's budget, so it is named rather than started behind the
 * reader's back.
 */
export function notBuiltFigures(section: string, names: Array<{ name: string; unit: string; target?: string }>, missing: string[], dir: string): Figure[] {
  const detail =
    `not measured: the Kubernetes v1.37.2 control plane is not built (${missing.join(', ')} missing in ${dir}). ` +
    'Build it once with `bash test/e2e/build.sh` (about 12 minutes, Go 1.26+), then run npm run bench again.';
  return names.map((n) => ({ section, name: n.name, value: Number.NaN, unit: n.unit, ...(n.target ? { target: n.target, met: false } : {}), detail }));
}

export interface Cluster {
  /** The API as the admin user (system:masters). */
  api: Api;
  kubeconfig: string;
  server: string;
  /** The controller manager's command line as started, for reporting its client limits. */
  kcmArgs: string[];
  pids: { etcd?: number; apiserver?: number; kcm?: number };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command that does not block the event loop (a watch keeps receiving while it runs). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(opts.input ?? '');
    const timeoutMs = opts.timeoutMs;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      stderr += `\n(timed out after ${timeoutMs} ms)`;
      child.kill('SIGTERM');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const ENV_KEYS = ['KUBECONFIG', 'SPLICE_E2E_KUBECTL', 'SPLICE_E2E_SERVER', 'SPLICE_E2E_CA_CERT', 'SPLICE_E2E_CA_KEY'] as const;

function clusterEnv(bin: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, SPLICE_E2E_DIR: RUN_DIR, SPLICE_K8S_BIN: bin, ...extra };
}

async function stopCluster(bin: string): Promise<void> {
  const r = await run('bash', [CLUSTER_SH, 'stop'], { timeoutMs: 60_000, env: clusterEnv(bin) });
  if (r.code !== 0) process.stderr.write(`bench: cluster.sh stop failed (${r.code}): ${r.stderr.trim()}\n`);
}

/** The control plane's pids, from the state file cluster.sh keeps in `dir`. */
function clusterPids(dir = RUN_DIR): Cluster['pids'] {
  let state = '';
  try {
    state = readFileSync(join(dir, 'state.env'), 'utf8');
  } catch {
    return {};
  }
  const pid = (key: string): number | undefined => {
    const m = new RegExp(`^${key}=(\\d+)$`, 'm').exec(state)?.[1];
    return m ? Number(m) : undefined;
  };
  const pids: Cluster['pids'] = {};
  const etcd = pid('ETCD_PID');
  const apiserver = pid('APISERVER_PID');
  const kcm = pid('KCM_PID');
  if (etcd) pids.etcd = etcd;
  if (apiserver) pids.apiserver = apiserver;
  if (kcm) pids.kcm = kcm;
  return pids;
}

function commandLine(pid: number | undefined): string[] {
  if (pid === undefined) return [];
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  } catch {
    return [];
  }
}

export interface ClusterOptions {
  /**
   * Extra kube-controller-manager flags, handed to cluster.sh as SPLICE_E2E_KCM_FLAGS.
   * Cluster.kcmArgs tells what the controller manager really got.
   */
  kcmFlags?: string;
}

/**
 * Starts a fresh cluster in RUN_DIR, points process.env at it (what test/e2e/lib reads),
 * runs `fn`, and always stops the cluster and restores the environment.
 */
export async function withCluster<T>(fn: (c: Cluster) => Promise<T>, opts: ClusterOptions = {}): Promise<T> {
  const { dir: bin, missing } = k8sBinaries();
  if (missing.length > 0) throw new Error(`Kubernetes binaries missing in ${bin}: ${missing.join(', ')} (bash test/e2e/build.sh)`);
  // A cluster left in RUN_DIR by an interrupted run would be reused as is; start clean.
  await stopCluster(bin);
  const saved = new Map(ENV_KEYS.map((k) => [k, process.env[k]] as const));
  let api: Api | undefined;
  try {
    const extra = opts.kcmFlags ? { SPLICE_E2E_KCM_FLAGS: opts.kcmFlags } : {};
    const started = await run('bash', [CLUSTER_SH, 'start'], { timeoutMs: 180_000, env: clusterEnv(bin, extra) });
    if (started.code !== 0) throw new Error(`cluster.sh start failed (${started.code}):\n${started.stderr.trim().split('\n').slice(-30).join('\n')}`);
    for (const line of started.stdout.split('\n')) {
      const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m?.[1] && m[2] !== undefined && (ENV_KEYS as readonly string[]).includes(m[1])) process.env[m[1]] = m[2];
    }
    const kubeconfig = process.env.KUBECONFIG;
    const server = process.env.SPLICE_E2E_SERVER;
    if (!kubeconfig || !server || !process.env.SPLICE_E2E_KUBECTL) throw new Error(`cluster.sh start printed no environment:\n${started.stdout}`);
    api = new Api(server, join(RUN_DIR, 'pki'));
    const pids = clusterPids();
    return await fn({ api, kubeconfig, server, kcmArgs: commandLine(pids.kcm), pids });
  } finally {
    api?.close();
    await stopCluster(bin);
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * A cluster someone else started with cluster.sh in `dir` (the real node's, test/node/run.sh),
 * from the environment `cluster.sh env` exported. Closing its Api is the caller's.
 */
export function runningCluster(dir: string): Cluster {
  const kubeconfig = process.env.KUBECONFIG;
  const server = process.env.SPLICE_E2E_SERVER;
  if (!kubeconfig || !server) throw new Error('KUBECONFIG and SPLICE_E2E_SERVER must be set (eval "$(bash test/e2e/cluster.sh env)")');
  const pids = clusterPids(dir);
  return { api: new Api(server, join(dir, 'pki')), kubeconfig, server, kcmArgs: commandLine(pids.kcm), pids };
}

/** VmRSS of a process, in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** User plus system CPU time a process has used, in seconds (NaN when it is gone). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th,
    // in clock ticks of 1/100 s (USER_HZ on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Megabytes of 2^20 bytes, one decimal, as the other sections of the table count them. */
export const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

export type { Api };

/**
 * The benchmark's splice listens on ports of its own, not the end-to-end tests' fixed
 * 19443/19090: with an `npm run test:e2e` running beside the benchmark, its splice would
 * otherwise answer /readyz (and the API server's calls) for ours.
 */
export const BENCH_WEBHOOK_PORT = 19643;
export const BENCH_METRICS_PORT = 19690;

function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** `splice serve` on the benchmark's ports, checked to be the process that answers there. */
/** `settle: true` preloads bench/http/settle.ts: SIGUSR2 then makes splice collect its garbage. */
/** `args` go to `splice serve` (e.g. --no-identity-controller). */
export async function startBenchSplice(o: { settle?: boolean; args?: string[] } = {}): Promise<SpliceProcess> {
  for (const port of [BENCH_WEBHOOK_PORT, BENCH_METRICS_PORT]) {
    if (await portTaken(port)) throw new Error(`127.0.0.1:${port} is already in use; the benchmark's splice needs it`);
  }
  const env = o.settle ? { NODE_OPTIONS: `--expose-gc --import ${compiled('http/settle.js')}` } : undefined;
  const splice = await startSplice({ port: BENCH_WEBHOOK_PORT, metricsPort: BENCH_METRICS_PORT, ...(env ? { env } : {}), ...(o.args ? { args: o.args } : {}) });
  if (splice.child.exitCode !== null || !splice.log().includes('"msg":"splice listening"')) {
    await splice.stop();
    throw new Error(`splice serve did not come up on ${BENCH_WEBHOOK_PORT}:\n${splice.log().slice(-2000)}`);
  }
  return splice;
}

/** Applies the shipped manifests through the test overlay, with both webhooks calling the benchmark's port. */
export function installBenchManifests(): void {
  ok(['apply', '-k', join(REPO, 'test/e2e/overlay')]);
  const url = `https://127.0.0.1:${BENCH_WEBHOOK_PORT}/inject`;
  const patch = [0, 1].map((i) => ({ op: 'replace', path: `/webhooks/${i}/clientConfig/url`, value: url }));
  ok(['patch', 'mutatingwebhookconfiguration', 'splice', '--type=json', '-p', JSON.stringify(patch)]);
}
