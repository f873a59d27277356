// The pods the benchmark sends, as the API server sends them to a mutating webhook.
//
// By the time a webhook sees a Pod CREATE, the API server has already defaulted it
// (imagePullPolicy, terminationMessagePath, probe timings, dnsPolicy, …), the built-in
// admission plugins have run (ServiceAccount adds the kube-api-access volume and its
// mounts, DefaultTolerationSeconds the two tolerations) and the field manager has
// written managedFields. A benchmark that sent the bare manifests of the golden cases
// would measure a pod three times smaller than the ones splice really parses, clones
// and diffs, so every pod here goes through `asAdmitted` first.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { JsonObject, JsonValue } from '../src/inject/types.js';

const GOLDEN_DIR = new URL('../../test/testdata/golden/', import.meta.url);

interface Owner {
  apiVersion: string;
  kind: string;
  name: string;
}

interface Placement {
  namespace: string;
  /** Set for pods created directly (kubectl, StatefulSet); ReplicaSets and Jobs use generateName. */
  name?: string;
  generateName?: string;
  owner?: Owner;
  /** Who created the pod: the field manager recorded in managedFields. */
  manager: string;
}

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const objectAt = (v: JsonValue | undefined): JsonObject => (isObject(v) ? v : {});
const listAt = (v: JsonValue | undefined): JsonValue[] => (Array.isArray(v) ? v : []);

// A stable pseudo-random suffix, as the API server would generate: the same benchmark
// input on every run, so runs compare.
function suffix(seed: string, length: number): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let h = 2166136261;
  let out = '';
  for (let i = 0; i < length; i++) {
    for (const ch of `${seed}${i}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
    out += alphabet[(h >>> 0) % alphabet.length];
  }
  return out;
}

function probeDefaults(probe: JsonValue | undefined): JsonValue | undefined {
  if (!isObject(probe)) return undefined;
  const out: JsonObject = { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3, ...probe };
  if (isObject(probe.httpGet)) out.httpGet = { scheme: 'HTTP', ...probe.httpGet };
  return out;
}

function containerDefaults(container: JsonValue, apiAccess: string): JsonObject {
  const c = objectAt(container);
  const image = typeof c.image === 'string' ? c.image : '';
  const tagged = /:[^/]+$/.test(image) && !image.endsWith(':latest');
  const out: JsonObject = {
    ...c,
    resources: objectAt(c.resources),
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: typeof c.imagePullPolicy === 'string' ? c.imagePullPolicy : tagged ? 'IfNotPresent' : 'Always',
    volumeMounts: [
      ...listAt(c.volumeMounts),
      { name: apiAccess, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
    ],
  };
  if (Array.isArray(c.ports)) out.ports = c.ports.map((p) => ({ ...objectAt(p), protocol: 'TCP' }));
  for (const key of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const probe = probeDefaults(c[key]);
    if (probe !== undefined) out[key] = probe;
  }
  return out;
}

// managedFields mirrors the fields the creator set, keyed the way the API server keys
// them (`f:name`, and list items by their merge key: `k:{"name":"app"}`,
// `k:{"containerPort":8080,"protocol":"TCP"}`); splice drops it before diffing, but it
// is parsed with everything else.
function fieldsOf(value: JsonValue | undefined): JsonObject {
  if (Array.isArray(value)) {
    const out: JsonObject = {};
    for (const item of value) {
      const o = objectAt(item);
      const key =
        typeof o.containerPort === 'number'
          ? `k:${JSON.stringify({ containerPort: o.containerPort, protocol: 'TCP' })}`
          : typeof o.mountPath === 'string'
            ? `k:${JSON.stringify({ mountPath: o.mountPath })}`
            : typeof o.name === 'string'
              ? `k:${JSON.stringify({ name: o.name })}`
              : undefined;
      if (key !== undefined) out[key] = { '.': {}, ...fieldsOf(item) };
    }
    return out;
  }
  if (!isObject(value)) return {};
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) out[`f:${k}`] = isObject(v) || Array.isArray(v) ? { '.': {}, ...fieldsOf(v) } : {};
  return out;
}

/** A pod template (metadata and spec) as the API server hands it to a mutating webhook. */
export function asAdmitted(template: JsonObject, at: Placement): JsonObject {
  const meta = objectAt(template.metadata);
  const spec = objectAt(template.spec);
  const serviceAccount = typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : 'default';
  const apiAccess = `kube-api-access-${suffix(at.name ?? at.generateName ?? 'pod', 5)}`;
  const metadata: JsonObject = { ...meta, namespace: at.namespace };
  delete metadata.name;
  if (at.name !== undefined) metadata.name = at.name;
  if (at.generateName !== undefined) metadata.generateName = at.generateName;
  if (at.owner) {
    metadata.ownerReferences = [
      { ...at.owner, uid: `${suffix(at.owner.name, 8)}-1c2d-4e5f-8a9b-${suffix(at.owner.kind, 12)}`, controller: true, blockOwnerDeletion: true },
    ];
  }
  metadata.managedFields = [
    {
      manager: at.manager,
      operation: 'Update',
      apiVersion: 'v1',
      time: '2026-01-15T09:30:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:metadata': fieldsOf({ ...meta, ...(at.owner ? { ownerReferences: [] } : {}) }), 'f:spec': fieldsOf(spec) },
    },
  ];
  const defaulted: JsonObject = {
    ...spec,
    containers: listAt(spec.containers).map((c) => containerDefaults(c, apiAccess)),
    restartPolicy: typeof spec.restartPolicy === 'string' ? spec.restartPolicy : 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: serviceAccount,
    serviceAccount,
    securityContext: objectAt(spec.securityContext),
    schedulerName: 'default-scheduler',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
    volumes: [
      ...listAt(spec.volumes),
      {
        name: apiAccess,
        projected: {
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
          ],
          defaultMode: 420,
        },
      },
    ],
  };
  if (Array.isArray(spec.initContainers)) defaulted.initContainers = spec.initContainers.map((c) => containerDefaults(c, apiAccess));
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: defaulted };
}

/** An AdmissionReview for a Pod CREATE, as kube-apiserver sends it. */
export function review(pod: JsonObject, uid: string): JsonObject {
  const meta = objectAt(pod.metadata);
  const owner = listAt(meta.ownerReferences)[0];
  const controller = isObject(owner) && typeof owner.kind === 'string' ? owner.kind.toLowerCase() : undefined;
  const gvk = { group: '', version: 'v1', kind: 'Pod' };
  const gvr = { group: '', version: 'v1', resource: 'pods' };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      name: typeof meta.name === 'string' ? meta.name : '',
      namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default',
      operation: 'CREATE',
      userInfo:
        controller === undefined
          ? { username: 'jane@example.com', groups: ['system:authenticated', 'oidc:shop-developers'] }
          : {
              username: `system:serviceaccount:kube-system:${controller === 'replicaset' ? 'replicaset' : controller}-controller`,
              uid: `${suffix(controller, 8)}-0a1b-4c2d-9e8f-${suffix(`${controller}-sa`, 12)}`,
              groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
            },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

function golden(name: string): JsonObject {
  return objectAt(parse(readFileSync(new URL(`${name}.yaml`, GOLDEN_DIR), 'utf8')) as JsonValue);
}

/** The pod template inside a golden workload (Deployment, StatefulSet, Job, CronJob, …). */
function templateOf(workload: JsonObject): JsonObject {
  const spec = objectAt(workload.spec);
  if (workload.kind === 'CronJob') return objectAt(objectAt(objectAt(spec.jobTemplate).spec).template);
  return objectAt(spec.template);
}

const env = (name: string, value: string): JsonObject => ({ name, value });
const fieldEnv = (name: string, fieldPath: string): JsonObject => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });

/** An application container as production Deployments write them: a dozen env vars, probes, limits, mounts. */
export function appContainer(name: string, port: number, extraEnv = 0): JsonObject {
  const vars: JsonObject[] = [
    env('LOG_LEVEL', 'info'),
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('POD_IP', 'status.podIP'),
    env('DB_HOST', 'postgres.shop.svc.cluster.local'),
    env('DB_PORT', '5432'),
    env('DB_USER', 'checkout'),
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'checkout-db', key: 'password' } } },
    env('REDIS_URL', 'redis://redis.shop.svc.cluster.local:6379/0'),
    env('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://otel-collector.observability.svc:4317'),
    env('OTEL_SERVICE_NAME', name),
    { name: 'GOMAXPROCS', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1' } } },
  ];
  for (let i = 0; i < extraEnv; i++) vars.push(env(`FEATURE_FLAG_${String(i).padStart(5, '0')}`, `value-${suffix(`${name}${i}`, 12)}`));
  return {
    name,
    image: `registry.example.com/shop/${name}:2.14.1`,
    args: ['--config=/etc/checkout/config.yaml', `--listen=:${port}`],
    ports: [
      { name: 'http', containerPort: port },
      { name: 'metrics', containerPort: port + 1000 },
    ],
    env: vars,
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 10 },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/checkout', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  };
}

/** The pod template of a typical production Deployment, with `containers` app containers. */
function checkoutTemplate(containers: JsonObject[]): JsonObject {
  return {
    metadata: {
      labels: { app: 'checkout', 'app.kubernetes.io/name': 'checkout', 'app.kubernetes.io/version': '2.14.1', 'pod-template-hash': '7d9f8c6b5' },
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9080', 'kubectl.kubernetes.io/restartedAt': '2026-01-15T09:29:41Z' },
    },
    spec: {
      serviceAccountName: 'checkout',
      containers,
      volumes: [
        { name: 'config', configMap: { name: 'checkout-config', defaultMode: 420 } },
        { name: 'tmp', emptyDir: {} },
      ],
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { app: 'checkout' } }, topologyKey: 'kubernetes.io/hostname' } },
          ],
        },
      },
    },
  };
}

const REPLICASET: Placement = {
  namespace: 'shop',
  generateName: 'checkout-7d9f8c6b5-',
  owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-7d9f8c6b5' },
  manager: 'kube-controller-manager',
};

/** The typical pod: one replica of a production Deployment (about 6 KB of JSON). */
export function typicalPod(): JsonObject {
  return asAdmitted(checkoutTemplate([appContainer('checkout', 8080)]), REPLICASET);
}

/**
 * A pod for the size scaling: `envVars` env vars in total in its first container (at
 * least the dozen of a typical container), and `containers` typical app containers.
 */
export function sizedPod(o: { envVars?: number; containers?: number }): JsonObject {
  const count = o.containers ?? 1;
  const list: JsonObject[] = [];
  for (let i = 0; i < count; i++) {
    const extra = i === 0 && o.envVars !== undefined ? Math.max(0, o.envVars - 12) : 0;
    list.push(appContainer(i === 0 ? 'checkout' : `worker-${i}`, 8080 + i, extra));
  }
  const pod = asAdmitted(checkoutTemplate(list), REPLICASET);
  if (o.envVars !== undefined && o.envVars < 12) {
    const first = objectAt(listAt(objectAt(pod.spec).containers)[0]);
    first.env = listAt(first.env).slice(0, o.envVars);
  }
  return pod;
}

/**
 * The mix the HTTP sections send: the typical pod, plus the golden inputs that get
 * injected (bare pods, and the pods of each workload kind), each as admitted.
 */
export function podMix(): Array<{ name: string; pod: JsonObject }> {
  const direct = (name: string): { name: string; pod: JsonObject } => {
    const doc = golden(name);
    const meta = objectAt(doc.metadata);
    const at: Placement = { namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default', manager: 'kubectl-client-side-apply' };
    if (typeof meta.name === 'string') at.name = meta.name;
    if (typeof meta.generateName === 'string') at.generateName = meta.generateName;
    return { name, pod: asAdmitted(doc, at) };
  };
  const owned = (name: string, kind: string, apiVersion: string, podName: (w: string) => Partial<Placement>): { name: string; pod: JsonObject } => {
    const doc = golden(name);
    const meta = objectAt(doc.metadata);
    const workload = typeof meta.name === 'string' ? meta.name : name;
    const ownerName = kind === 'ReplicaSet' && doc.kind === 'Deployment' ? `${workload}-5c8d7f9b6` : workload;
    return {
      name,
      pod: asAdmitted(templateOf(doc), {
        namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default',
        owner: { apiVersion, kind, name: ownerName },
        manager: 'kube-controller-manager',
        ...podName(ownerName),
      }),
    };
  };
  return [
    { name: 'typical', pod: typicalPod() },
    direct('pod-basic'),
    direct('pod-two-containers-probes'),
    direct('pod-with-init-containers'),
    direct('pod-ports-and-cidrs'),
    direct('pod-resource-overrides'),
    direct('pod-special-keys'),
    direct('pod-service-account'),
    owned('deployment', 'ReplicaSet', 'apps/v1', (o) => ({ generateName: `${o}-` })),
    owned('statefulset', 'StatefulSet', 'apps/v1', (o) => ({ name: `${o}-0` })),
    owned('daemonset', 'DaemonSet', 'apps/v1', (o) => ({ generateName: `${o}-` })),
    owned('job', 'Job', 'batch/v1', (o) => ({ generateName: `${o}-` })),
    owned('cronjob', 'Job', 'batch/v1', (o) => ({ generateName: `${o}-29000000-` })),
  ];
}

/** The request bodies of the mix, one AdmissionReview each (JSON text). */
export function reviewBodies(): string[] {
  return podMix().map(({ name, pod }, i) => JSON.stringify(review(pod, `${suffix(name, 8)}-7e1f-4a2b-9c3d-${String(i).padStart(12, '0')}`)));
}

/** The body of one review of `pod`. */
export function reviewBody(pod: JsonObject, uid = '0b6f3a52-7e1f-4a2b-9c3d-000000000001'): string {
  return JSON.stringify(review(pod, uid));
}
