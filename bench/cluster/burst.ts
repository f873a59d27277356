// Section "burst": a 1,000-replica Deployment on the real control plane, timed from
// `kubectl apply` until the API server has stored all 1,000 pods, with splice as the
// webhook, with the ceiling as the webhook (bench/http/ceiling.ts: the same fastify, TLS
// and key type, answering every review at once with splice's own patch for these pods),
// and with no webhook at all, alternated in one run. splice / ceiling is what splice
// costs; ceiling / none is what any webhook costs the API server on this machine. Every pod of a run with the
// webhook must come out injected: under such a burst Linkerd's injector let half of a
// 1,000-replica rollout through without its proxy (linkerd2 #3358).
//
// Each run gets a fresh enabled namespace, so no run sees another's pods or events.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCeiling, type Server } from '../http/servers.js';
import type { Figure } from '../lib/figure.js';
import { kubectlBin } from '../../test/e2e/lib/kubectl.js';
import { httpGet } from '../../test/e2e/lib/splice.js';
import { RUN_BUDGET_MS } from '../lib/options.js';
import { cpuSeconds, installBenchManifests, k8sBinaries, notBuiltFigures, run, sleep, startBenchSplice, withCluster, type Api, type Cluster } from './cluster.js';

const SECTION = 'burst';
const REPLICAS = 1000;
const RATIO_TARGET = 1.1;
/** One run may take this long before it is given up (the default client rate needs ~50 s). */
const RUN_DEADLINE_MS = 300_000;
/** A second with/without pair is started only if the section would still end within this. */
const SECTION_BUDGET_MS = 250_000;
const STEP_DEADLINE_MS = 60_000;
/**
 * With its default client limits (20 requests/s, burst 30) the replicaset controller needs
 * ~50 s for 1,000 pods whatever the webhook does, and never has more than ~30 creations
 * in flight: no burst reaches splice. These lift that limit, so the API server and splice
 * set the pace (cluster.sh passes SPLICE_E2E_KCM_FLAGS on, see withCluster).
 */
export const KCM_FLAGS = '--kube-api-qps=1000 --kube-api-burst=1000';
const WEBHOOK = 'splice';
/**
 * The ceiling's configuration has a name of its own: splice keeps the caBundle of the one
 * named `splice` set to its own CA (src/kube/webhook-tls.ts, every poll), which pointed at
 * the ceiling made the API server refuse the ceiling's certificate halfway through a run.
 */
const CEILING_WEBHOOK = 'splice-bench-ceiling';
const CONFIGURATIONS = [WEBHOOK, CEILING_WEBHOOK];
const STATUS = 'splice.dev/status';

const TRANSPORT = 'URL, loopback';

/** The figures of one transport's burst, named with it (`URL, loopback`; `Service, real node`). */
export function figureNames(transport: string): Array<{ name: string; unit: string; target?: string }> {
  const n = REPLICAS.toLocaleString('en-US');
  return [
    { name: `${n} pods created, with splice (${transport})`, unit: 's' },
    { name: `${n} pods created, ceiling webhook (${transport})`, unit: 's' },
    { name: `${n} pods created, no webhook (${transport})`, unit: 's' },
    { name: `ratio splice / ceiling webhook (${transport})`, unit: '×', target: `≤ ${RATIO_TARGET}` },
    { name: `ratio ceiling webhook / none: any webhook's cost (${transport})`, unit: '×' },
    { name: `ratio splice / none (${transport})`, unit: '×' },
    { name: `pods created uninjected with splice (${transport})`, unit: 'pods', target: '0' },
    { name: 'controller manager client rate (--kube-api-qps)', unit: 'req/s' },
  ];
}

/** splice as the burst sees it, wherever it runs: its metrics, and its process for CPU. */
export interface SpliceSide {
  metrics(): Promise<string>;
  pid: number | undefined;
}

/** Who answers the webhook: splice, the ceiling, or nobody (no webhook configuration). */
type Mode = 'with' | 'ceiling' | 'without';

interface RunResult {
  mode: Mode;
  namespace: string;
  seconds: number;
  firstPodS: number;
  /** Pods per second between the 10th and the 90th percentile of arrivals. */
  steadyRate: number;
  pods: number;
  uninjected: number;
  /** Until the Deployment's pods were gone, before the next run; the last run's are left to the cluster's end. */
  deleteS?: number;
  watchRestarts: number;
  /** Mean time the API server waited on one call to splice (its own metric), ms. */
  webhookMs?: number;
  /** Mean time splice spent on one review, from parsed body to answer (its own metric), ms. */
  spliceMs?: number;
  /** Webhook calls the API server made per pod (a reinvocation counts again). */
  callsPerPod?: number;
  /** TLS handshakes splice completed during the run, full and resumed (its own metric). */
  handshakes?: { full: number; resumed: number };
  /**
   * CPU seconds each process used during the run ("splice": whichever webhook answered;
   * "spliceProcess": splice's own process, which also watches the new pods in every run).
   */
  cpu: Record<'apiserver' | 'etcd' | 'kcm' | 'splice' | 'spliceProcess', number>;
}

interface PodObject {
  metadata?: { name?: string; annotations?: Record<string, string> };
}

/** Fields added to the burst pods' spec: on the real node, `schedulerName` of no scheduler, so they stay Pending and nothing runs them. */
export type PodSpecExtras = Record<string, unknown>;

function deployment(namespace: string, extras: PodSpecExtras): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'burst', namespace },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: 'burst' } },
      template: {
        metadata: { labels: { app: 'burst' } },
        spec: { ...extras, containers: [{ name: 'app', image: 'example.com/app:1', ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

/** Whether a pod created now in `namespace` would come out injected (a server-side dry run goes through every webhook). */
async function injectsNow(api: Api, namespace: string, extras: PodSpecExtras): Promise<boolean> {
  // Shaped as the burst's pods (their labels and spec): the ceiling's constant patch fits only those.
  const template = (deployment(namespace, extras).spec as { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } }).template;
  const pod = await api.json<PodObject>('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...template.metadata, name: 'probe' },
    spec: template.spec,
  });
  return pod.metadata?.annotations?.[STATUS] !== undefined;
}

/** The webhook configuration as splice left it (caBundle included), ready to be created again. */
export async function savedWebhook(api: Api): Promise<Record<string, unknown>> {
  const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK}`;
  const cfg = await until('splice to write the caBundle', async () => {
    const c = await api.json<{ metadata: { name: string; labels?: Record<string, string> }; webhooks: Array<{ clientConfig?: { caBundle?: string } }> }>('GET', path);
    return c.webhooks.every((w) => w.clientConfig?.caBundle) ? c : undefined;
  });
  return { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: cfg.metadata.name, labels: cfg.metadata.labels ?? {} }, webhooks: cfg.webhooks };
}

/**
 * The webhook configuration splice left, pointed at another server (same names, rules and
 * selectors): `target` is a clientConfig without its caBundle (`url`, or `service`).
 */
export function pointedAt(saved: Record<string, unknown>, target: Record<string, unknown>, caPem: string): Record<string, unknown> {
  const copy = structuredClone(saved) as { metadata: Record<string, unknown>; webhooks: Array<{ clientConfig: Record<string, unknown> }> };
  copy.metadata = { ...copy.metadata, name: CEILING_WEBHOOK };
  for (const w of copy.webhooks) w.clientConfig = { ...target, caBundle: Buffer.from(caPem).toString('base64') };
  return copy;
}

export interface Webhooks {
  splice: Record<string, unknown>;
  ceiling: Record<string, unknown>;
  /** How many reviews the ceiling has answered. */
  ceilingCount: () => Promise<number>;
  /** Added to the burst pods' spec (see PodSpecExtras). */
  podSpec: PodSpecExtras;
}

/** Who answers now: a dry-run pod is injected, and the ceiling's count says whether it was the one. */
async function answeredBy(api: Api, namespace: string, hooks: Webhooks): Promise<Mode> {
  const before = await hooks.ceilingCount();
  const injected = await injectsNow(api, namespace, hooks.podSpec);
  if (!injected) return 'without';
  return (await hooks.ceilingCount()) > before ? 'ceiling' : 'with';
}

async function setWebhook(api: Api, mode: Mode, hooks: Webhooks, namespace: string): Promise<void> {
  const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  await removeWebhooks(api);
  if (mode !== 'without') await api.json('POST', path, mode === 'with' ? hooks.splice : hooks.ceiling);
  // The API server picks webhook configurations up through an informer: wait until it acts on this one.
  await until(`the API server to call ${mode === 'without' ? 'no webhook' : mode === 'with' ? 'splice' : 'the ceiling'}`, async () => ((await answeredBy(api, namespace, hooks)) === mode ? true : undefined));
}

/**
 * A pod of the burst's template as a webhook receives it: what a dry-run create returns
 * with no webhook configured (the ServiceAccount admission plugin has added its token
 * volume, the API server its defaults). The ceiling answers with splice's patch for it.
 */
export async function admittedPod(api: Api, namespace: string, extras: PodSpecExtras): Promise<Record<string, unknown>> {
  const template = (deployment(namespace, extras).spec as { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } }).template;
  return api.json<Record<string, unknown>>('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...template.metadata, generateName: 'burst-' },
    spec: template.spec,
  });
}

/** Sum and count of a Prometheus histogram, over the series whose labels contain `match`. */
function histogram(text: string, metric: string, match = ''): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric) || !line.includes(match)) continue;
    const m = /^(\S+?)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (!m?.[1] || !m[2]) continue;
    if (m[1] === `${metric}_sum`) sum += Number(m[2]);
    else if (m[1] === `${metric}_count`) count += Number(m[2]);
  }
  return { sum, count };
}

/** splice's TLS handshakes so far, by the protocol ALPN chose (its own metric). */
export async function handshakeProtocols(splice: SpliceSide): Promise<Map<string, number>> {
  const text = await splice.metrics();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^splice_webhook_tls_handshakes_total\{[^}]*protocol="([^"]*)"[^}]*\} (\S+)$/gm)) {
    out.set(m[1] ?? '', (out.get(m[1] ?? '') ?? 0) + Number(m[2]));
  }
  return out;
}

export const protocols = (m: Map<string, number>): string =>
  m.size === 0 ? 'nothing splice counted' : [...m].map(([p, n]) => `${p === 'none' ? 'no ALPN' : p} (${n} handshakes)`).join(', ');

/** Sum of a counter's series whose labels contain `match`. */
function counterSum(text: string, metric: string, match: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) || !line.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface Counters {
  apiserver: { sum: number; count: number };
  splice: { sum: number; count: number };
  handshakes: { full: number; resumed: number };
  cpu: RunResult['cpu'];
}

async function counters(cluster: Cluster, splice: SpliceSide, webhookPid: number | undefined): Promise<Counters> {
  const apiserverMetrics = await cluster.api.request('GET', '/metrics');
  const spliceMetrics = await splice.metrics();
  return {
    apiserver: histogram(apiserverMetrics.body, 'apiserver_admission_webhook_admission_duration_seconds', `name="namespace.inject.splice.dev"`),
    splice: histogram(spliceMetrics, 'splice_injection_duration_seconds'),
    handshakes: {
      full: counterSum(spliceMetrics, 'splice_webhook_tls_handshakes_total', 'session="new"'),
      resumed: counterSum(spliceMetrics, 'splice_webhook_tls_handshakes_total', 'session="resumed"'),
    },
    cpu: {
      apiserver: cpuSeconds(cluster.pids.apiserver),
      etcd: cpuSeconds(cluster.pids.etcd),
      kcm: cpuSeconds(cluster.pids.kcm),
      splice: cpuSeconds(webhookPid ?? splice.pid),
      spliceProcess: cpuSeconds(splice.pid),
    },
  };
}

const meanMs = (a: { sum: number; count: number }, b: { sum: number; count: number }): number | undefined =>
  b.count > a.count ? ((b.sum - a.sum) / (b.count - a.count)) * 1000 : undefined;

/**
 * When each pod of a namespace was first stored, as a watch sees it. The API server drops
 * a watcher that falls behind (a busy 2-core machine, a burst of large injected pods), so
 * the watch resumes from the last resourceVersion it saw, and lists again if that is gone.
 */
class PodArrivals {
  readonly arrivals: number[] = [];
  uninjected = 0;
  restarts = 0;
  failure: string | undefined;
  readonly #api: Api;
  readonly #ns: string;
  readonly #seen = new Set<string>();
  #rv = '';
  #stopWatch: (() => void) | undefined;
  #stopped = false;
  #notify: () => void = () => undefined;

  constructor(api: Api, ns: string) {
    this.#api = api;
    this.#ns = ns;
  }

  async start(): Promise<void> {
    await this.#list();
    await this.#open();
  }

  /** Resolves once `count` pods were seen, the watch failed for good, or `timeoutMs` passed. */
  async until(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.arrivals.length < count && this.failure === undefined && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 1000);
        this.#notify = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#stopWatch?.();
  }

  #add(pod: PodObject): void {
    const name = pod.metadata?.name;
    if (!name || this.#seen.has(name)) return;
    this.#seen.add(name);
    this.arrivals.push(performance.now());
    if (pod.metadata?.annotations?.[STATUS] === undefined) this.uninjected++;
    this.#notify();
  }

  async #list(): Promise<void> {
    const list = await this.#api.json<{ metadata: { resourceVersion: string }; items: PodObject[] }>('GET', `/api/v1/namespaces/${this.#ns}/pods`);
    for (const p of list.items) this.#add(p);
    this.#rv = list.metadata.resourceVersion;
  }

  async #open(): Promise<void> {
    this.#stopWatch = await this.#api.watch(
      `/api/v1/namespaces/${this.#ns}/pods?watch=1&allowWatchBookmarks=true&resourceVersion=${this.#rv}`,
      (type, object) => {
        if (type === 'ERROR') {
          // 410 Gone: the resourceVersion left the watch cache; the next start lists.
          this.#rv = '';
          return;
        }
        const rv = (object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
        if (rv) this.#rv = rv;
        if (type === 'ADDED') this.#add(object as PodObject);
      },
      () => void this.#resume(),
    );
  }

  async #resume(): Promise<void> {
    if (this.#stopped) return;
    let last = '';
    for (let attempt = 0; attempt < 20 && !this.#stopped; attempt++) {
      this.restarts++;
      try {
        if (this.#rv === '') await this.#list();
        await this.#open();
        return;
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
        await sleep(250);
      }
    }
    if (this.#stopped) return;
    this.failure = `the watch could not be resumed: ${last}`;
    this.#notify();
  }
}

async function oneRun(cluster: Cluster, splice: SpliceSide, hooks: Webhooks, ceilingPid: number, mode: Mode, ns: string): Promise<RunResult> {
  const { api } = cluster;
  await api.json('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'splice.dev/inject': 'enabled' } } });
  // The ServiceAccount admission plugin refuses pods until the namespace's default account exists.
  await until(`the default ServiceAccount of ${ns}`, async () => ((await api.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200 ? true : undefined));
  await setWebhook(api, mode, hooks, ns);
  const webhookPid = mode === 'ceiling' ? ceilingPid : splice.pid;

  const before = await counters(cluster, splice, webhookPid);
  const watch = new PodArrivals(api, ns);
  await watch.start();
  const t0 = performance.now();
  try {
    const applied = await run(kubectlBin(), ['apply', '-f', '-'], { input: JSON.stringify(deployment(ns, hooks.podSpec)), timeoutMs: 60_000 });
    if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
    await watch.until(REPLICAS, RUN_DEADLINE_MS);
  } finally {
    watch.stop();
  }
  const { arrivals } = watch;
  if (arrivals.length < REPLICAS) {
    // What the replicaset controller was told when it could not create the rest.
    const events = await api.json<{ items: Array<{ reason?: string; message?: string }> }>('GET', `/api/v1/namespaces/${ns}/events`).catch(() => ({ items: [] }));
    const failed = events.items.find((e) => e.reason === 'FailedCreate')?.message;
    throw new Error(`${mode}: ${arrivals.length} of ${REPLICAS} pods after ${((performance.now() - t0) / 1000).toFixed(0)} s${watch.failure ? ` (${watch.failure})` : ''}${failed ? `; the replicaset controller: ${failed}` : ''}`);
  }
  const last = arrivals[arrivals.length - 1] ?? t0;
  const after = await counters(cluster, splice, webhookPid);

  // What is stored is the authority: every pod read back once.
  const list = await api.json<{ items: PodObject[] }>('GET', `/api/v1/namespaces/${ns}/pods`);
  const uninjected = list.items.filter((p) => p.metadata?.annotations?.[STATUS] === undefined).length;
  if (mode !== 'without' && uninjected !== watch.uninjected) process.stderr.write(`bench: burst ${ns}: the watch saw ${watch.uninjected} uninjected pods, the list ${uninjected}\n`);

  const at = (q: number) => arrivals[Math.min(arrivals.length - 1, Math.floor(q * arrivals.length))] ?? t0;
  const steadyRate = (0.8 * arrivals.length) / ((at(0.9) - at(0.1)) / 1000);

  const webhookMs = meanMs(before.apiserver, after.apiserver);
  const spliceMs = meanMs(before.splice, after.splice);
  return {
    mode,
    namespace: ns,
    seconds: (last - t0) / 1000,
    firstPodS: ((arrivals[0] ?? t0) - t0) / 1000,
    steadyRate,
    pods: list.items.length,
    uninjected: mode !== 'without' ? uninjected : 0,
    watchRestarts: watch.restarts,
    cpu: {
      apiserver: after.cpu.apiserver - before.cpu.apiserver,
      etcd: after.cpu.etcd - before.cpu.etcd,
      kcm: after.cpu.kcm - before.cpu.kcm,
      splice: after.cpu.splice - before.cpu.splice,
      spliceProcess: after.cpu.spliceProcess - before.cpu.spliceProcess,
    },
    ...(after.apiserver.count > before.apiserver.count ? { callsPerPod: (after.apiserver.count - before.apiserver.count) / list.items.length } : {}),
    ...(webhookMs !== undefined ? { webhookMs } : {}),
    ...(spliceMs !== undefined && mode === 'with' ? { spliceMs } : {}),
    ...(mode === 'with' ? { handshakes: { full: after.handshakes.full - before.handshakes.full, resumed: after.handshakes.resumed - before.handshakes.resumed } } : {}),
  };
}

/**
 * Deletes the Deployment and waits until its pods are gone. The garbage collector would
 * delete the pods one by one through its rate-limited client, and deleting the namespace
 * takes 15 s of the namespace controller's sweeps; once the ReplicaSet is gone nothing
 * recreates pods, so one DeleteCollection removes them all (about 4 s for 1,000).
 */
async function deleteBurst(api: Api, ns: string): Promise<void> {
  await api.json('DELETE', `/apis/apps/v1/namespaces/${ns}/deployments/burst`, { propagationPolicy: 'Background' });
  await until(`the ReplicaSet of ${ns} to be deleted`, async () => ((await api.json<{ items: unknown[] }>('GET', `/apis/apps/v1/namespaces/${ns}/replicasets`)).items.length === 0 ? true : undefined));
  await api.json('DELETE', `/api/v1/namespaces/${ns}/pods`);
  await until(`the pods of ${ns} to be deleted`, async () => {
    const page = await api.json<{ items: unknown[]; metadata: { remainingItemCount?: number } }>('GET', `/api/v1/namespaces/${ns}/pods?limit=1`);
    return page.items.length + (page.metadata.remainingItemCount ?? 0) === 0 ? true : undefined;
  });
}

/** The controller manager's client limits: its flags if cluster.sh set them, else the binary's defaults. */
function kcmClientLimits(kcmArgs: string[]): { qps: number; burst: number; source: string } {
  const flag = (name: string): number | undefined => {
    for (let i = 0; i < kcmArgs.length; i++) {
      const a = kcmArgs[i] ?? '';
      if (a.startsWith(`${name}=`)) return Number(a.slice(name.length + 1));
      if (a === name) return Number(kcmArgs[i + 1]);
    }
    return undefined;
  };
  const help = spawnSync(join(k8sBinaries().dir, 'kube-controller-manager'), ['--help'], { encoding: 'utf8', timeout: 15_000 });
  const text = `${help.stdout ?? ''}${help.stderr ?? ''}`;
  const dflt = (name: string): number => Number(new RegExp(`${name} \\S+\\s+.*\\(default (\\d+(?:\\.\\d+)?)\\)`).exec(text)?.[1] ?? Number.NaN);
  const qps = flag('--kube-api-qps');
  const burst = flag('--kube-api-burst');
  return {
    qps: qps ?? dflt('--kube-api-qps'),
    burst: burst ?? dflt('--kube-api-burst'),
    source:
      qps === undefined && burst === undefined
        ? `the binary's defaults: SPLICE_E2E_KCM_FLAGS (${KCM_FLAGS}) did not reach it`
        : 'as on its command line',
  };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const r2 = (x: number): number => Math.round(x * 100) / 100;

function describeRun(r: RunResult): string {
  const parts = [`${r.seconds.toFixed(1)} s`, `first pod after ${r.firstPodS.toFixed(2)} s`, `${r.steadyRate.toFixed(1)} pods/s steady`];
  if (r.callsPerPod !== undefined) parts.push(`${r.callsPerPod.toFixed(2)} webhook calls/pod`);
  if (r.webhookMs !== undefined) parts.push(`API server's wait per call ${r.webhookMs.toFixed(1)} ms`);
  if (r.spliceMs !== undefined) parts.push(`splice's handling per call ${r.spliceMs.toFixed(2)} ms`);
  if (r.handshakes) parts.push(`TLS handshakes at splice: ${r.handshakes.full} full, ${r.handshakes.resumed} resumed`);
  const c = r.cpu;
  // splice runs in every run: its informers see each new pod whoever answered (or none).
  const answering = r.mode === 'ceiling' ? `, ceiling ${c.splice.toFixed(2)}` : '';
  parts.push(`CPU s: API server ${c.apiserver.toFixed(1)}, etcd ${c.etcd.toFixed(1)}, controller manager ${c.kcm.toFixed(1)}${answering}, splice's process ${c.spliceProcess.toFixed(2)}`);
  if (r.deleteS !== undefined) parts.push(`pods deleted in ${r.deleteS.toFixed(1)} s`);
  if (r.watchRestarts > 0) parts.push(`watch resumed ${r.watchRestarts}×`);
  return `${r.mode}: ${parts.join(', ')}`;
}

/** Where a burst runs: what differs between the URL webhook on loopback and the Service-backed one on the real node. */
export interface BurstSetup {
  /** The results' section id. */
  section: string;
  /** How the API server reaches the webhooks, as figure names say it. */
  transport: string;
  /** Where both webhooks run and how they are reached, for the detail. */
  setting: string;
  cluster: Cluster;
  splice: SpliceSide;
  hooks: Webhooks;
  ceilingPid: number;
  /** When the section started (performance.now()), and how long it may take, ms. */
  sectionStart: number;
  budgetMs: number;
}

/**
 * The burst's runs, alternated (with, ceiling, without; twice if the time budget allows),
 * and the figures. Removes the webhook configurations it made as it goes; the caller
 * stops what it started.
 */
export async function measureBurst(o: BurstSetup): Promise<Figure[]> {
  const { cluster, splice, hooks } = o;
  const limits = kcmClientLimits(cluster.kcmArgs);
  const runs: RunResult[] = [];
  const plan: Mode[] = ['with', 'ceiling', 'without', 'with', 'ceiling', 'without'];
  // Another triple only if it fits, in this section's budget and in the whole run's: a
  // triple takes about what everything before it took per triple.
  const fits = (done: number) => {
    if (done === 0) return true;
    const perTriple = ((performance.now() - o.sectionStart) * 3) / done;
    return performance.now() - o.sectionStart + perTriple <= o.budgetMs && performance.now() + perTriple <= RUN_BUDGET_MS;
  };
  for (let i = 0; i < plan.length && fits(i); i += 3) {
    for (const mode of plan.slice(i, i + 3)) {
      // The previous run's pods go before the next run starts; the last run's go with
      // the cluster, so nobody waits for them.
      const previous = runs[runs.length - 1];
      if (previous) {
        const d0 = performance.now();
        await deleteBurst(cluster.api, previous.namespace);
        previous.deleteS = (performance.now() - d0) / 1000;
      }
      runs.push(await oneRun(cluster, splice, hooks, o.ceilingPid, mode, `burst-${runs.length + 1}`));
    }
  }
  const handshakesByProtocol = await handshakeProtocols(splice);
  await removeWebhooks(cluster.api);

  const names = figureNames(o.transport);
  const section = o.section;
  const withRuns = runs.filter((r) => r.mode === 'with');
  const ceilingRuns = runs.filter((r) => r.mode === 'ceiling');
  const withoutRuns = runs.filter((r) => r.mode === 'without');
  const tWith = mean(withRuns.map((r) => r.seconds));
  const tCeiling = mean(ceilingRuns.map((r) => r.seconds));
  const tWithout = mean(withoutRuns.map((r) => r.seconds));
  const ratio = tWith / tCeiling;
  const uninjected = withRuns.reduce((a, r) => a + r.uninjected, 0);
  const podsWith = withRuns.reduce((a, r) => a + r.pods, 0);
  const floorS = (REPLICAS - limits.burst) / limits.qps;
  const order = runs.map((r) => r.mode).join(', ');
  const how =
    `From \`kubectl apply\` of a ${REPLICAS}-replica Deployment in a fresh enabled namespace until a watch has seen all ${REPLICAS} pods ` +
    `stored (nothing schedules or runs them: pods stay Pending). Runs alternated in one cluster (${order}); the webhook configuration is removed ` +
    `for runs without and pointed at the ceiling for its runs (${o.setting}; splice's handshakes by the protocol the API server chose: ` +
    `${protocols(handshakesByProtocol)}), and each run starts only once a dry-run pod shows the API server calling the intended server (or none).` +
    (runs.length < 6 ? ' One triple only: a second would have run past the section\'s or the whole run\'s time budget.' : '');
  return [
    { section, name: names[0]?.name ?? '', value: r2(tWith), unit: 's', detail: `${how} Mean of ${withRuns.length}; ${withRuns.map(describeRun).join('; ')}.` },
    { section, name: names[1]?.name ?? '', value: r2(tCeiling), unit: 's', detail: `Mean of ${ceilingRuns.length}; ${ceilingRuns.map(describeRun).join('; ')}.` },
    { section, name: names[2]?.name ?? '', value: r2(tWithout), unit: 's', detail: `Mean of ${withoutRuns.length}; ${withoutRuns.map(describeRun).join('; ')}.` },
    {
      section,
      name: names[3]?.name ?? '',
      value: r2(ratio),
      unit: '×',
      target: `≤ ${RATIO_TARGET}`,
      met: ratio <= RATIO_TARGET,
      detail: 'Mean with splice / mean with the ceiling: what splice costs a burst beyond what any webhook answering at once with the same patch costs.',
    },
    {
      section,
      name: names[4]?.name ?? '',
      value: r2(tCeiling / tWithout),
      unit: '×',
      detail: 'Mean with the ceiling / mean without a webhook: the API server\'s own cost of calling a webhook (TLS, the call, applying the patch, storing the larger pod).',
    },
    {
      section,
      name: names[5]?.name ?? '',
      value: r2(tWith / tWithout),
      unit: '×',
      detail:
        floorS >= 5
          ? `Mean with / mean without. The replicaset controller creates pods through a client limited to ${limits.qps} requests/s (burst ${limits.burst}), ` +
            `so ${REPLICAS} pods take at least ~${floorS.toFixed(0)} s whatever the webhook does, and at most ~${limits.burst} creations reach splice at once: ` +
            'the ratio shows splice\'s cost only where it exceeds that client rate.'
          : `Mean with / mean without. The replicaset controller's client (${limits.qps} requests/s, burst ${limits.burst}) does not hold the burst back; ` +
            `the API server, etcd, the controller manager and splice share this machine's ${cpus().length} cores, so the ratio includes the CPU each webhook call costs the API server.`,
    },
    {
      section,
      name: names[6]?.name ?? '',
      value: uninjected,
      unit: 'pods',
      target: '0',
      met: uninjected === 0,
      detail: `Pods without ${STATUS} among the ${podsWith} pods of the runs with splice, read back from the API server after each run.`,
    },
    {
      section,
      name: names[7]?.name ?? '',
      value: limits.qps,
      unit: 'req/s',
      detail: `kube-controller-manager --kube-api-qps ${limits.qps} --kube-api-burst ${limits.burst} (${limits.source}); each controller has its own client with these limits.`,
    },
  ];
}

export async function burst(): Promise<Figure[]> {
  const bins = k8sBinaries();
  if (bins.missing.length > 0) return notBuiltFigures(SECTION, figureNames(TRANSPORT), bins.missing, bins.dir);
  const sectionStart = performance.now();
  return withCluster(async (cluster) => {
    installBenchManifests();
    const splice = await startBenchSplice();
    let ceiling: Server | undefined;
    const scratch = mkdtempSync(join(tmpdir(), 'splice-bench-burst-'));
    try {
      const saved = await savedWebhook(cluster.api);
      const { podFile, minor } = await ceilingInput(cluster.api, scratch, {});
      ceiling = await startCeiling({ unpinned: true, extraArgs: ['--pod-file', podFile, '--kube-minor', minor] });
      const started = ceiling;
      return await measureBurst({
        section: SECTION,
        transport: TRANSPORT,
        setting: 'a URL on loopback; both servers offer h2 and HTTP/1.1 over TLS',
        cluster,
        splice: { pid: splice.child.pid, metrics: async () => (await httpGet(splice.metricsPort, '/metrics')).body },
        hooks: {
          splice: saved,
          ceiling: pointedAt(saved, { url: `${started.origin}/inject` }, started.ca),
          ceilingCount: () => ceilingCount(started.origin, started.ca),
          podSpec: {},
        },
        ceilingPid: started.pid,
        sectionStart,
        budgetMs: SECTION_BUDGET_MS,
      });
    } finally {
      await splice.stop();
      await ceiling?.stop();
      rmSync(scratch, { recursive: true, force: true });
    }
  }, { kcmFlags: KCM_FLAGS });
}

/**
 * What the ceiling answers with: splice's own patch for a pod of this burst, as the API
 * server hands it over (written to a file in `dir`), and the cluster's minor version.
 * Leaves no webhook configuration behind.
 */
export async function ceilingInput(api: Api, dir: string, podSpec: PodSpecExtras): Promise<{ podFile: string; minor: string }> {
  await api.json('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'burst-template' } });
  await until('the default ServiceAccount of burst-template', async () => ((await api.request('GET', '/api/v1/namespaces/burst-template/serviceaccounts/default')).status === 200 ? true : undefined));
  // Not waited on: the template namespace has no splice.dev/inject, so splice never mutates its pods.
  await removeWebhooks(api);
  const podFile = join(dir, 'pod.json');
  writeFileSync(podFile, JSON.stringify(await admittedPod(api, 'burst-template', podSpec)));
  const minor = (await api.json<{ minor: string }>('GET', '/version')).minor.replace(/\D.*$/, '');
  return { podFile, minor };
}

/** How many reviews the ceiling has answered (its GET /count). */
export async function ceilingCount(origin: string, caPem: string): Promise<number> {
  return ((await fetchJson(`${origin}/count`, caPem)) as { answered: number }).answered;
}

/** Removes splice's and the ceiling's webhook configurations, those that exist. */
async function removeWebhooks(api: Api): Promise<void> {
  const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  for (const name of CONFIGURATIONS) {
    if ((await api.request('GET', `${path}/${name}`)).status === 200) await api.json('DELETE', `${path}/${name}`);
  }
}

function fetchJson(url: string, caPem: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
