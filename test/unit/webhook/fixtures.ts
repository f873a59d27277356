// Shared pieces for the webhook transport tests: AdmissionReviews as the API server
// sends them, and small real decide functions standing in for the engine.

import fastJsonPatch from 'fast-json-patch';
import { DEFAULT_CONFIG, type Config } from '../../../src/inject/config.js';
import type { Decision } from '../../../src/inject/outcome.js';
import type { Pod } from '../../../src/inject/types.js';
import { buildApp, type AppOptions, type Decide } from '../../../src/webhook/app.js';
import { createMetrics } from '../../../src/webhook/metrics.js';
import { trustingNamespaceSource, type NamespaceSource } from '../../../src/webhook/namespace-source.js';

export function pod(name = 'web'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app: 'web' }, annotations: { 'example.com/keep': 'me' } },
    spec: {
      containers: [{ name: 'app', image: 'nginx:1.27', env: [{ name: 'TOKEN', value: 's3cr3t-token' }] }],
      // A field splice does not model: it must survive untouched.
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway' }],
    },
  };
}

export interface ReviewOverrides {
  dryRun?: boolean;
  apiVersion?: string;
  uid?: string;
  kind?: { group: string; version: string; kind: string };
  operation?: string;
  namespace?: string;
  object?: unknown;
}

export function review(o: ReviewOverrides = {}): Record<string, unknown> {
  const object = 'object' in o ? o.object : pod();
  return {
    apiVersion: o.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: o.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: o.kind ?? { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: o.operation ?? 'CREATE',
      namespace: o.namespace ?? 'shop',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', extra: { 'authentication.kubernetes.io/credential-id': ['JTI=abc'] } },
      object,
      oldObject: null,
      dryRun: o.dryRun ?? false,
    },
  };
}

// --- stand-ins for the engine ---------------------------------------------------

export const skipAll: Decide = () => ({
  result: 'skip',
  reasons: [{ id: 'not_enabled', message: 'namespace "shop" has no splice.dev/inject label and the default policy is disabled' }],
  warnings: [],
});

/** Adds a fixed proxy container; the patch is a diff of the pod as sent and the result, as the engine builds it. */
export const injectFixed: Decide = (input) => {
  const original = input.pod as Pod;
  const desired = structuredClone(original);
  desired.spec.containers.push({ name: 'splice-proxy', image: 'docker.io/envoyproxy/envoy:v1.40.0' });
  desired.metadata = { ...desired.metadata, annotations: { ...desired.metadata?.annotations, 'splice.dev/status': '{"containers":["splice-proxy"]}' } };
  return {
    result: 'inject',
    reasons: [{ id: 'namespace_enabled', message: `namespace "${input.namespace.name}" has splice.dev/inject=enabled` }],
    warnings: ['splice.dev/proxy-cpu is below 10m; the proxy may be throttled'],
    pod: desired,
    patch: fastJsonPatch.compare(original, desired),
  };
};

export const injectNothing: Decide = (input) => ({
  result: 'inject',
  reasons: [{ id: 'pod_opted_in', message: 'opted in' }],
  warnings: [],
  pod: input.pod as Pod,
  patch: [],
});

export const denyInvalid: Decide = () => ({
  result: 'deny',
  reasons: [{ id: 'invalid_annotation', message: 'splice.dev/proxy-cpu: "lots" is not a Kubernetes quantity' }],
  warnings: [],
  message: 'splice.dev/proxy-cpu: "lots" is not a Kubernetes quantity (e.g. 100m, 0.5)',
});

export const denyPolicy: Decide = () => ({
  result: 'deny',
  reasons: [{ id: 'pod_security_conflict', message: 'namespace "shop" enforces Pod Security "restricted"' }],
  warnings: [],
  message: 'namespace "shop" enforces Pod Security "restricted", which refuses splice-init (NET_ADMIN)',
});

export const throwing: Decide = () => {
  throw new Error('boom in the engine');
};

export const missingNamespaces: NamespaceSource = { get: () => Promise.resolve(undefined), ready: () => true };
export const failingNamespaces: NamespaceSource = { get: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.1:443')), ready: () => true };

export function makeApp(o: Partial<AppOptions> & { onError?: Config['onError'] } = {}) {
  const metrics = o.metrics ?? createMetrics();
  const config = o.config ?? (o.onError ? { ...DEFAULT_CONFIG, onError: o.onError } : DEFAULT_CONFIG);
  const app = buildApp({
    decide: o.decide ?? skipAll,
    namespaces: o.namespaces ?? trustingNamespaceSource(),
    cluster: o.cluster ?? { version: { major: 1, minor: 30 } },
    config,
    metrics,
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.events ? { events: o.events } : {}),
  });
  return { app, metrics };
}

/** POSTs `body` to /inject; `contentType: null` sends no Content-Type header. */
export function post(app: ReturnType<typeof makeApp>['app'], body: unknown, contentType: string | null = 'application/json') {
  return app.inject({
    method: 'POST',
    url: '/inject',
    headers: contentType === null ? {} : { 'content-type': contentType },
    payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
}

/** The decoded AdmissionResponse of a 200 answer. */
export interface Answer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; patch?: string; patchType?: string; warnings?: string[]; status?: { code: number; message: string } };
}

export type { Decision };
