// What the node scenarios share: the workloads they deploy (the app image of
// test/node/app), and the three ways they look at a pod: the API server (kubectl get),
// the kubelet (kubectl logs, exec) and the node itself (nsenter into its namespaces, for
// a capture on the pods' bridge). test/node/run.sh starts the cluster, the node and
// splice, and exports what these read (SPLICE_E2E_*, SPLICE_NODE_*).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { apply, getJson, kubectl, ok, waitFor, type Run } from '../../e2e/lib/kubectl.js';
import { namespaceManifest, type List, type Meta } from '../../e2e/lib/objects.js';

export const APP_IMAGE = 'localhost/splice-test/app:1';
export const SYSTEM_NAMESPACE = 'splice-system';

export interface ContainerStatus {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  image: string;
  state: { running?: { startedAt: string }; terminated?: { exitCode: number; reason?: string; startedAt: string; finishedAt: string }; waiting?: { reason?: string } };
}

export interface Pod {
  metadata: Meta & { uid: string; deletionTimestamp?: string };
  spec: {
    nodeName?: string;
    containers: Array<{ name: string; image: string; [key: string]: unknown }>;
    initContainers?: Array<{ name: string; image: string; restartPolicy?: string; securityContext?: Record<string, unknown>; [key: string]: unknown }>;
    [key: string]: unknown;
  };
  status: {
    phase: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the node tests with npm run test:node (test/node/run.sh starts the node)`);
  return v;
}

/** A fresh namespace (any earlier one of that name is deleted first) with these labels. */
export async function freshNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  ok(['delete', 'namespace', name, '--ignore-not-found', '--wait=true'], { timeout: 180 });
  const r = apply(namespaceManifest(name, labels));
  if (r.code !== 0) throw new Error(`creating namespace ${name}: ${r.stderr}`);
  // Pods need the namespace's default ServiceAccount, made by its controller.
  await waitFor(`the default ServiceAccount in ${name}`, () => (kubectl(['-n', name, 'get', 'serviceaccount', 'default']).code === 0 ? true : undefined), 30_000);
}

export function deleteNamespace(name: string): void {
  kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false']);
}

export interface AppOptions {
  replicas?: number;
  serviceAccount?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  env?: Record<string, string>;
  /** Container fields merged into the app container (probes, securityContext...). */
  container?: Record<string, unknown>;
  /** Pod spec fields merged in (securityContext, terminationGracePeriodSeconds...). */
  pod?: Record<string, unknown>;
}

/** The app container: the test app serving HTTP on 8080, a TCP banner on 9000 and gRPC health on 9090. */
export function appContainer(o: AppOptions = {}): Record<string, unknown> {
  return {
    name: 'app',
    image: APP_IMAGE,
    imagePullPolicy: 'Never',
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ...Object.entries(o.env ?? {}).map(([name, value]) => ({ name, value })),
    ],
    ports: [
      { name: 'http', containerPort: 8080 },
      { name: 'tcp', containerPort: 9000 },
      { name: 'grpc', containerPort: 9090 },
    ],
    ...o.container,
  };
}

export function podTemplate(name: string, o: AppOptions = {}, containers = [appContainer(o)]): Record<string, unknown> {
  return {
    metadata: { labels: { app: name, ...o.labels }, annotations: o.annotations ?? {} },
    spec: { serviceAccountName: o.serviceAccount ?? 'default', containers, ...o.pod },
  };
}

export function deployment(namespace: string, name: string, o: AppOptions = {}): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: { replicas: o.replicas ?? 1, selector: { matchLabels: { app: name } }, template: podTemplate(name, o) },
  };
}

/** A ClusterIP Service in front of the app's HTTP (80 → 8080) and TCP (9000) ports. */
export function service(namespace: string, name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: {
      selector: { app: name },
      ports: [
        { name: 'http', port: 80, targetPort: 8080 },
        { name: 'tcp', port: 9000, targetPort: 9000 },
      ],
    },
  };
}

export function create(...objects: Array<Record<string, unknown>>): void {
  for (const o of objects) {
    const r = apply(o);
    if (r.code !== 0) throw new Error(`kubectl apply ${String(o.kind)} failed: ${r.stderr}`);
  }
}

/** Waits until the Deployment has all its replicas updated and available. */
export function rollout(namespace: string, name: string, timeoutS = 120): void {
  ok(['-n', namespace, 'rollout', 'status', `deploy/${name}`, `--timeout=${timeoutS}s`], { timeout: timeoutS + 10 });
}

export function pods(namespace: string, selector: string): Pod[] {
  return getJson<List<Pod>>(['-n', namespace, 'get', 'pods', '-l', selector]).items.filter((p) => !p.metadata.deletionTimestamp);
}

export function pod(namespace: string, name: string): Pod {
  return getJson<Pod>(['-n', namespace, 'get', 'pod', name]);
}

export function allStatuses(p: Pod): ContainerStatus[] {
  return [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])];
}

export function restarts(p: Pod): number {
  return allStatuses(p).reduce((n, s) => n + s.restartCount, 0);
}

export function isReady(p: Pod): boolean {
  return p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** kubectl exec in the pod (its default container unless one is named). */
export function exec(namespace: string, podName: string, command: string[], container?: string): Run {
  return kubectl(['-n', namespace, 'exec', podName, ...(container ? ['-c', container] : []), '--', ...command], { timeout: 60 });
}

/** The app in `podName` makes one HTTP GET per URL; one "<status> <body>" or "error <code>" line each. */
export function call(namespace: string, podName: string, ...urls: string[]): string[] {
  const r = exec(namespace, podName, ['node', '/app/app.js', 'call', ...urls], 'app');
  if (r.code !== 0) throw new Error(`exec in ${namespace}/${podName} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

export function logs(namespace: string, podName: string, container?: string): string {
  return ok(['-n', namespace, 'logs', podName, ...(container ? ['-c', container] : [])]);
}

/** Runs a command in the node's network and mount namespaces. */
export function inNode(command: string[], input?: string): Run {
  const r = spawnSync('nsenter', ['-t', env('SPLICE_NODE_HOLDER_PID'), '--net', '--mount', '--', ...command], { encoding: 'utf8', input, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A process running in the node's namespaces until it is stopped (a capture, say). */
export function spawnInNode(command: string[]): ChildProcess {
  return spawn('nsenter', ['-t', env('SPLICE_NODE_HOLDER_PID'), '--net', '--mount', '--', ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
