// The burst through the production path: splice as the Deployment the manifests install,
// running as a pod on the real node (test/node/), which the API server calls through the
// splice Service: HTTP/1.1, whatever the server offers, and a bounded pool of idle
// connections per webhook (kubernetes PR #82090), so a burst opens new TLS connections.
// The ceiling answers the same way: on the host end of the node's link, behind a Service
// of its own (selectorless, with an EndpointSlice naming that address), with a certificate
// for that Service's name. The API server resolves both Services to their endpoints
// (--enable-aggregator-routing, as on the node's control plane).
//
// Run by `npm run bench -- --node`, inside test/node/run.sh's environment:
//   bash test/node/run.sh --exec node dist/bench/cluster/node-burst.js OUT.json
// writes the figures to OUT.json. splice is scaled to one replica for the runs, so one
// process answers as the ceiling's one does, and back to what it was after.
import { readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ok } from '../../test/e2e/lib/kubectl.js';
import { httpGet, startCeiling, type Server } from '../http/servers.js';
import type { Figure } from '../lib/figure.js';
import { ceilingCount, ceilingInput, measureBurst, pointedAt, savedWebhook, until, type SpliceSide } from './burst.js';
import { runningCluster } from './cluster.js';

const SECTION = 'burst-node';
const TRANSPORT = 'Service, real node';
const NAMESPACE = 'splice-system';
const CEILING_SERVICE = 'splice-bench-ceiling';
/** The runs on the node are slower to set up (more controllers, a scheduler); this bounds the section. */
const SECTION_BUDGET_MS = 420_000;

/** The pid of the one `splice serve` on this machine: the container's process, seen from the host. */
function splicePid(): number {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('/splice\0serve\0')) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  if (found.length !== 1) throw new Error(`expected one splice serve process, found ${found.length} (${found.join(', ')})`);
  return found[0] as number;
}

interface PodList {
  items: Array<{ metadata: { name: string; deletionTimestamp?: string }; status: { podIP?: string; conditions?: Array<{ type: string; status: string }> } }>;
}

/** Scales splice to `replicas` and waits until exactly that many pods are ready and no other is left. */
async function scaleSplice(replicas: number): Promise<PodList['items']> {
  ok(['-n', NAMESPACE, 'scale', 'deployment/splice', `--replicas=${replicas}`]);
  return until(
    `splice to settle at ${replicas} ready replicas`,
    async () => {
      const pods = JSON.parse(ok(['-n', NAMESPACE, 'get', 'pods', '-l', 'app.kubernetes.io/name=splice', '-o', 'json'])) as PodList;
      const ready = pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === replicas && pods.items.length === replicas ? ready : undefined;
    },
    120_000,
  );
}

export async function nodeBurst(): Promise<Figure[]> {
  const sectionStart = performance.now();
  const dir = process.env.SPLICE_E2E_DIR;
  const hostIp = process.env.SPLICE_NODE_HOST_IP;
  if (!dir || !hostIp) throw new Error('run inside test/node/run.sh --exec (SPLICE_E2E_DIR and SPLICE_NODE_HOST_IP unset)');
  const cluster = runningCluster(dir);
  const before = (JSON.parse(ok(['-n', NAMESPACE, 'get', 'deployment', 'splice', '-o', 'json'])) as { spec: { replicas: number } }).spec.replicas;
  const scratch = mkdtempSync(join(tmpdir(), 'splice-bench-node-burst-'));
  let ceiling: Server | undefined;
  try {
    const [pod] = await scaleSplice(1);
    const metricsUrl = `http://${pod?.status.podIP ?? ''}:9090/metrics`;
    const splice: SpliceSide = { pid: splicePid(), metrics: async () => (await httpGet(metricsUrl)).text };
    const saved = await savedWebhook(cluster.api);
    // No scheduler picks these pods: they stay Pending, and nothing runs 1,000 of them on the node.
    const podSpec = { schedulerName: 'splice-bench-none' };
    const { podFile, minor } = await ceilingInput(cluster.api, scratch, podSpec);
    const dns = `${CEILING_SERVICE}.${NAMESPACE}.svc`;
    ceiling = await startCeiling({ unpinned: true, extraArgs: ['--host', hostIp, '--san', dns, '--san', hostIp, '--pod-file', podFile, '--kube-minor', minor] });
    const started = ceiling;
    const port = Number(new URL(started.origin).port);
    await cluster.api.json('POST', `/api/v1/namespaces/${NAMESPACE}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: CEILING_SERVICE, namespace: NAMESPACE },
      spec: { ports: [{ name: 'https', port: 443, targetPort: port, protocol: 'TCP' }] },
    });
    await cluster.api.json('POST', `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: CEILING_SERVICE, namespace: NAMESPACE, labels: { 'kubernetes.io/service-name': CEILING_SERVICE } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [hostIp], conditions: { ready: true } }],
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    });
    return await measureBurst({
      section: SECTION,
      transport: TRANSPORT,
      setting:
        `splice as the Deployment's one replica in a pod on the real node, through its Service; the ceiling on the host end of the node's link (${hostIp}), ` +
        'through a Service of its own; the API server speaks HTTP/1.1 to both',
      cluster,
      splice,
      hooks: {
        splice: saved,
        ceiling: pointedAt(saved, { service: { namespace: NAMESPACE, name: CEILING_SERVICE, path: '/inject', port: 443 } }, started.ca),
        ceilingCount: () => ceilingCount(started.origin, started.ca),
        podSpec,
      },
      ceilingPid: started.pid,
      sectionStart,
      budgetMs: SECTION_BUDGET_MS,
    });
  } finally {
    await ceiling?.stop();
    await cluster.api.request('DELETE', `/api/v1/namespaces/${NAMESPACE}/services/${CEILING_SERVICE}`).catch(() => undefined);
    await cluster.api.request('DELETE', `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices/${CEILING_SERVICE}`).catch(() => undefined);
    await scaleSplice(before).catch((e: unknown) => process.stderr.write(`bench: splice not scaled back to ${before}: ${String(e)}\n`));
    cluster.api.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

// As a script: the figures into the file named by the first argument.
if (process.argv[1]?.endsWith('node-burst.js')) {
  const out = process.argv[2];
  if (!out) throw new Error('usage: node dist/bench/cluster/node-burst.js OUT.json');
  writeFileSync(out, JSON.stringify(await nodeBurst()));
}
