// Section "memory": the resident memory of `splice serve` whose namespace informer holds
// 10,000 namespaces of a real API server, next to the same process on an empty cluster.
// Both are measured the same way in the same run: start, /readyz (the cache has synced),
// one AdmissionReview answered, a forced full GC and a few seconds to settle, then VmRSS.
import { spawnSync } from 'node:child_process';
import { request } from 'node:https';
import type { Figure } from '../lib/figure.js';
import { ok } from '../../test/e2e/lib/kubectl.js';
import { REPO, httpGet, type SpliceProcess } from '../../test/e2e/lib/splice.js';
import { installBenchManifests, k8sBinaries, mb, notBuiltFigures, rssBytes, sleep, startBenchSplice, withCluster, type Cluster } from './cluster.js';

const SECTION = 'memory';
const NAMESPACES = 10_000;
const TARGET_MB = 150;
/** Parallel creates: enough to keep a 2-core API server and etcd busy, not so many that requests queue behind each other. */
const CREATE_CONCURRENCY = 16;
const CREATE_DEADLINE_MS = 150_000;
const SETTLE_MS = 5_000;
const SAMPLE_MS = 500;

const FIGURES = [
  { name: `RSS with ${NAMESPACES.toLocaleString('en-US')} namespaces cached`, unit: 'MB', target: `≤ ${TARGET_MB} MB` },
  { name: 'RSS on an empty cluster (baseline)', unit: 'MB' },
  { name: 'cost per cached namespace', unit: 'KB' },
];

/**
 * A mix like a shared cluster's: half opted in, a tenth opted out, every one with team
 * labels and two ownership annotations, every sixth with proxy overrides splice inherits.
 * The API server adds kubernetes.io/metadata.name itself.
 */
function benchNamespace(i: number): Record<string, unknown> {
  const labels: Record<string, string> = { team: `team-${i % 40}`, env: ['prod', 'staging', 'dev'][i % 3] ?? 'dev' };
  if (i % 2 === 0) labels['splice.dev/inject'] = 'enabled';
  else if (i % 10 === 5) labels['splice.dev/inject'] = 'disabled';
  const annotations: Record<string, string> = {
    'example.com/owner': `team-${i % 40}@example.com`,
    'example.com/cost-center': `cc-${1000 + (i % 100)}`,
  };
  if (i % 6 === 0) {
    annotations['splice.dev/proxy-cpu'] = '200m';
    annotations['splice.dev/proxy-memory'] = '128Mi';
  }
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsName(i), labels, annotations } };
}

const nsName = (i: number): string => `bench-ns-${String(i).padStart(5, '0')}`;

/** POSTs every namespace over kept-alive connections (kubectl throttles itself client-side); bounded in time. */
async function createNamespaces(cluster: Cluster, count: number): Promise<number> {
  const deadline = Date.now() + CREATE_DEADLINE_MS;
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      if (Date.now() > deadline) throw new Error(`creating ${count} namespaces took over ${CREATE_DEADLINE_MS / 1000} s (at ${i})`);
      await cluster.api.json('POST', '/api/v1/namespaces', benchNamespace(i));
    }
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
  return performance.now() - t0;
}

/** The cache size splice logs when its informer first synced. */
function syncedNamespaces(splice: SpliceProcess): number | undefined {
  for (const line of splice.log().split('\n')) {
    if (!line.includes('namespace cache synced')) continue;
    try {
      const n = (JSON.parse(line) as { namespaces?: unknown }).namespaces;
      if (typeof n === 'number') return n;
    } catch {
      // not a log line of ours
    }
  }
  return undefined;
}

/** The CA splice wrote into the webhook configuration, so the review below verifies splice's certificate. */
function webhookCa(): string {
  const b64 = ok(['get', 'mutatingwebhookconfiguration', 'splice', '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}']).trim();
  if (!b64) throw new Error('the MutatingWebhookConfiguration splice has no caBundle yet');
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** One AdmissionReview straight to splice; resolves with whether the pod was patched. */
function review(port: number, ca: string, namespace: string): Promise<boolean> {
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `bench-${namespace}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'bench' },
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe', namespace }, spec: { containers: [{ name: 'app', image: 'example.com/app:1' }] } },
    },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/inject', method: 'POST', ca, timeout: 10_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            const reply = JSON.parse(text) as { response?: { allowed?: boolean; patch?: string } };
            if (reply.response?.allowed !== true) reject(new Error(`splice refused the review for ${namespace}: ${text.slice(0, 300)}`));
            else resolve(typeof reply.response.patch === 'string');
          } catch {
            reject(new Error(`splice answered ${res.statusCode} with ${text.slice(0, 300)}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer from splice within 10 s')));
    req.end(body);
  });
}

interface Sample {
  rss: number;
  min: number;
  max: number;
  cached: number;
  heapUsed?: number;
}

/** Starts splice, checks it serves `probeNamespace` from a cache of at least `expect`, settles, samples VmRSS. */
async function measureSplice(probeNamespace: string, expect: number): Promise<Sample> {
  // The webhook's namespace cache alone: with the identity controller on, the leader
  // would also issue a certificate for each of the 5,000 enabled namespaces' default
  // ServiceAccount, which is another figure (and minutes of work), not this one.
  const splice = await startBenchSplice({ settle: true, args: ['--no-identity-controller'] });
  try {
    const cached = syncedNamespaces(splice);
    if (cached === undefined || cached < expect) throw new Error(`splice's cache synced with ${cached ?? 'no'} namespaces, expected at least ${expect}`);
    if (!(await review(splice.port, webhookCa(), probeNamespace))) throw new Error(`splice did not inject a pod of the enabled namespace ${probeNamespace}`);
    const pid = splice.child.pid;
    if (pid === undefined) throw new Error('splice serve has no pid');
    // As in the soak (bench/http/memory.ts): without a full collection, RSS holds
    // whatever garbage the list of 10,000 namespaces left behind, for as long as the
    // process stays idle.
    process.kill(pid, 'SIGUSR2');
    const samples: number[] = [];
    for (let t = 0; t < SETTLE_MS; t += SAMPLE_MS) {
      await sleep(SAMPLE_MS);
      samples.push(rssBytes(pid));
    }
    const rss = samples[samples.length - 1] ?? 0;
    if (rss === 0) throw new Error(`splice serve (pid ${pid}) exited while being measured:\n${splice.log().slice(-2000)}`);
    const heap = /^splice_nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec((await httpGet(splice.metricsPort, '/metrics')).body);
    return { rss, min: Math.min(...samples), max: Math.max(...samples), cached, ...(heap?.[1] ? { heapUsed: Number(heap[1]) } : {}) };
  } finally {
    await splice.stop();
  }
}

/**
 * RSS of a node process that has imported `module` (or nothing) and idled a moment: what a
 * dependency costs before splice does anything, to read the baseline against.
 */
function importRss(module?: string): number | undefined {
  const script = `${module ? `await import(${JSON.stringify(module)});` : ''} await new Promise((r) => setTimeout(r, 300)); process.stdout.write(String(process.memoryUsage().rss));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
  const n = Number(r.stdout);
  return r.status === 0 && n > 0 ? n : undefined;
}

export async function namespaceMemory(): Promise<Figure[]> {
  const bins = k8sBinaries();
  if (bins.missing.length > 0) return notBuiltFigures(SECTION, FIGURES, bins.missing, bins.dir);
  return withCluster(async (cluster) => {
    installBenchManifests();
    // The empty cluster: default, kube-system, kube-public, kube-node-lease, splice-system.
    ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-probe', labels: { 'splice.dev/inject': 'enabled' } } }) });
    const base = await measureSplice('bench-probe', 6);
    const bareNode = importRss();
    const withClient = importRss('@kubernetes/client-node');
    const forScale =
      bareNode !== undefined && withClient !== undefined
        ? ` For scale: node alone ${mb(bareNode)} MB, node with only @kubernetes/client-node imported ${mb(withClient)} MB.`
        : '';

    const createMs = await createNamespaces(cluster, NAMESPACES);
    const full = await measureSplice(nsName(NAMESPACES - 2), NAMESPACES + 6);

    const perNs = (full.rss - base.rss) / NAMESPACES;
    const range = (s: Sample) => `${mb(s.min)}–${mb(s.max)} MB over the last ${SETTLE_MS / 1000} s${s.heapUsed ? `, V8 heap used ${mb(s.heapUsed)} MB` : ''}`;
    const how =
      `VmRSS of \`splice serve --no-identity-controller\` (the webhook and its namespace cache; host process, ServiceAccount token) after /readyz, one AdmissionReview, a forced full GC (bench/http/settle.ts, as in the soak) and ${SETTLE_MS / 1000} s ` +
      '(MB of 2^20 bytes); same run, same cluster, splice restarted between the two.';
    return [
      {
        section: SECTION,
        name: FIGURES[0]?.name ?? '',
        value: mb(full.rss),
        unit: 'MB',
        target: `≤ ${TARGET_MB} MB`,
        met: full.rss <= TARGET_MB * 1024 * 1024,
        detail:
          `${how} Informer synced with ${full.cached} namespaces (${NAMESPACES} created in ${(createMs / 1000).toFixed(1)} s, ` +
          'half labelled splice.dev/inject=enabled, a tenth disabled, each with team and env labels and 2–4 annotations); ' +
          `a pod of ${nsName(NAMESPACES - 2)} was injected from the cache. ${range(full)}.`,
      },
      { section: SECTION, name: FIGURES[1]?.name ?? '', value: mb(base.rss), unit: 'MB', detail: `Informer synced with ${base.cached} namespaces. ${range(base)}.${forScale}` },
      {
        section: SECTION,
        name: FIGURES[2]?.name ?? '',
        value: Math.round((perNs / 1024) * 10) / 10,
        unit: 'KB',
        detail: `(RSS with ${NAMESPACES} − baseline) / ${NAMESPACES}, KB of 1,024 bytes: the informer's copy of each Namespace object (without managedFields, which splice drops) and splice's facts, which share its label and annotation maps.`,
      },
    ];
  });
}
