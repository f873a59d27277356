// fast-check generators for pods and namespaces as the API server might send them:
// realistic shapes with hostile details (keys with "/" and "~", absent arrays, long env
// lists, every splice annotation with valid and invalid values), and the kinds of pod
// other injectors broke on: Windows pods however they say it, pod-level resources,
// the proxy's ports and uid already in use, null maps and lists.
//
// Two generators share those pieces: `arbitraryPod` mixes in anything JSON can hold
// (for the engine and the webhook, which must survive it), `arbitraryApiPod` keeps to
// names, images and keys the API server accepts, so a pod it makes is usually a valid
// pod, and the end-to-end test can send it to a real API server.
import fc from 'fast-check';
import { aggregateRequests } from '../../src/inject/pod-resources.js';
import { formatQuantity } from '../../src/inject/quantity.js';
import type { NamespaceFacts, Pod } from '../../src/inject/types.js';

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
// A DNS-1123 label, as container, volume and pod names must be.
const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,14}[a-z0-9])?$/);
const awkwardKey = fc.oneof(
  name,
  fc.constantFrom('example.com/a~b', 'a/b/c', '~', '~1', '/', 'splice.dev/proxy-cpus', 'app.kubernetes.io/name'),
  fc.string({ maxLength: 12 }),
);
const stringMap = fc.dictionary(awkwardKey, fc.string({ maxLength: 20 }), { maxKeys: 5 });
const validKey = fc.oneof(dnsLabel, fc.constantFrom('app.kubernetes.io/name', 'example.com/team', 'tier'));
const validMap = fc.dictionary(validKey, fc.stringMatching(/^[a-z0-9]{0,10}$/), { maxKeys: 4 });

// [valid values, invalid values] per key; valid ones are drawn far more often so most
// pods reach the inject path, while every refusal path is still exercised.
const SPLICE_VALUES: Record<string, [string[], string[]]> = {
  'splice.dev/inject': [['true', 'enabled', 'false', 'disabled'], ['yes', '']],
  'splice.dev/proxy-cpu': [['100m', '1', '0.5'], ['lots', '-1', '', '100Mi', '0.0001']],
  'splice.dev/proxy-memory': [['64Mi', '128M', '0.125Gi'], ['much', '200m', '1e3']],
  'splice.dev/proxy-cpu-limit': [['2', '500m'], ['x', '1Ki']],
  'splice.dev/proxy-memory-limit': [['2Gi', '512Mi'], ['??', '200m', '512']],
  'splice.dev/proxy-log-level': [['debug', 'info', 'off'], ['loud']],
  'splice.dev/exclude-inbound-ports': [['8080', '1,2,3', ''], ['70000', '*', 'a']],
  'splice.dev/include-inbound-ports': [['*', '80,443', ''], ['0', '80,,81']],
  'splice.dev/exclude-outbound-ports': [['5432', '65535'], ['65536']],
  'splice.dev/include-outbound-cidrs': [['*', '10.0.0.0/8', 'fd00::/8,10.1.0.0/16'], ['10.0.0.0/40', 'nope']],
  'splice.dev/exclude-outbound-cidrs': [['169.254.169.254', '::1', '*'], ['1.2.3']],
  'splice.dev/native-sidecar': [['true', 'false'], ['maybe']],
  'splice.dev/hold-application': [['true', 'false'], ['1']],
  'splice.dev/status': [['{}'], []],
};
const valueFor = (key: string) => {
  const [valid = [], invalid = []] = SPLICE_VALUES[key] ?? [];
  const choices = [{ weight: 12, arbitrary: fc.constantFrom(...valid) }];
  if (invalid.length > 0) choices.push({ weight: 1, arbitrary: fc.constantFrom(...invalid) });
  return fc.oneof(...choices);
};
const spliceAnnotations = fc
  .subarray(Object.keys(SPLICE_VALUES), { maxLength: 4 })
  .chain((keys) => fc.tuple(...keys.map((k) => valueFor(k).map((v) => [k, v] as const))))
  .map((pairs) => Object.fromEntries(pairs));

const env = fc.array(
  fc.record({ name: fc.stringMatching(/^[A-Z_]{1,12}$/), value: fc.string({ maxLength: 10 }) }),
  { maxLength: 30 },
);

// The proxy's ports (15000 admin, 15001 outbound, 15006 inbound, 15008 mTLS, 15021 readiness,
// 15090 metrics) come up often enough to be tested, over TCP and not.
const PROXY_PORTS = [15000, 15001, 15006, 15008, 15021, 15090];
const port = fc.record(
  {
    containerPort: fc.oneof({ weight: 40, arbitrary: fc.integer({ min: 1, max: 65535 }) }, { weight: 1, arbitrary: fc.constantFrom(...PROXY_PORTS) }),
    protocol: fc.constantFrom('TCP', 'UDP'),
    name: fc.oneof({ weight: 60, arbitrary: fc.stringMatching(/^[a-z]{1,8}$/) }, { weight: 1, arbitrary: fc.constant('splice-metrics') }),
  },
  { requiredKeys: ['containerPort'] },
);

// Amounts of the two resources, as a user might write them in a container or a pod.
const cpu = fc.constantFrom('100m', '250m', '500m', '1', '2');
const memory = fc.constantFrom('64Mi', '128Mi', '256Mi', '512Mi', '1Gi');
const resourceList = fc.record({ cpu, memory }, { requiredKeys: [] });
// Requests no larger than limits, so a generated container is valid on its own.
const resources = fc.oneof(
  fc.record({ requests: resourceList }, { requiredKeys: [] }),
  fc.constant({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' } }),
  fc.constant({ limits: { cpu: '500m', memory: '256Mi' } }),
);
// Pod-level budgets: sometimes ample, sometimes exactly the app's requests.
const podResources = fc.oneof(
  fc.record({ requests: resourceList, limits: fc.constant({ cpu: '4', memory: '4Gi' }) }, { requiredKeys: ['limits'] }),
  fc.record({ requests: resourceList }),
  fc.record({ limits: fc.record({ cpu: fc.constantFrom('2', '4'), memory: fc.constantFrom('2Gi', '4Gi') }, { requiredKeys: [] }) }),
);

// The proxy's uid (1337) in use, or another.
const runAsUser = fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 1000, max: 1400 }).filter((u) => u !== 1337) }, { weight: 1, arbitrary: fc.constant(1337) });
const securityContext = fc.record({ runAsUser }, { requiredKeys: [] });

// The three ways a pod says where it runs; Linux, Windows, or both allowed.
const osName = fc.constantFrom('linux', 'windows');
const osSelector = fc.record({ 'kubernetes.io/os': osName });
const osAffinity = fc
  .array(fc.record({ operator: fc.constantFrom('In', 'NotIn'), values: fc.subarray(['linux', 'windows'], { minLength: 1 }) }), { minLength: 1, maxLength: 2 })
  .map((terms) => ({
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.map((t) => ({ matchExpressions: [{ key: 'kubernetes.io/os', ...t }] })),
      },
    },
  }));

// Probes of every kind, on ports the redirect takes or leaves, named or numbered, with the
// details the rewrite must carry (path and query, Host header, scheme, gRPC service) and
// the ones that leave a probe as it was (another host, an exec handler).
const probePort = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(8080, 15021, 15090), fc.stringMatching(/^[a-z]{1,8}$/));
const probeTiming = {
  initialDelaySeconds: fc.integer({ min: 0, max: 30 }),
  periodSeconds: fc.integer({ min: 1, max: 30 }),
  timeoutSeconds: fc.integer({ min: 1, max: 10 }),
  failureThreshold: fc.integer({ min: 1, max: 10 }),
};
const probe = fc.oneof(
  fc.record(
    {
      httpGet: fc.record(
        {
          path: fc.constantFrom('/healthz', '/ready?full=1', 'healthz', '', '/a b', '/x#frag'),
          port: probePort,
          scheme: fc.constantFrom('HTTP', 'HTTPS'),
          host: fc.constant('10.0.0.1'),
          httpHeaders: fc.constantFrom([{ name: 'Host', value: 'web.shop' }], [{ name: 'X-Probe', value: '1' }]),
        },
        { requiredKeys: ['port'] },
      ),
      ...probeTiming,
    },
    { requiredKeys: ['httpGet'] },
  ),
  fc.record({ tcpSocket: fc.record({ port: probePort }), ...probeTiming }, { requiredKeys: ['tcpSocket'] }),
  fc.record({ grpc: fc.record({ port: fc.integer({ min: 1, max: 65535 }), service: fc.constantFrom('', 'shop.Cart', 'line\nbreak') }, { requiredKeys: ['port'] }), ...probeTiming }, { requiredKeys: ['grpc'] }),
  fc.record({ exec: fc.constant({ command: ['true'] }), ...probeTiming }, { requiredKeys: ['exec'] }),
);

function containerOf(containerName: fc.Arbitrary<string>, image: fc.Arbitrary<string>, sidecar: boolean, probed: boolean) {
  return fc.record(
    {
      name: fc.oneof({ weight: 60, arbitrary: containerName }, { weight: 1, arbitrary: fc.constantFrom('splice-proxy', 'splice-init') }),
      image,
      env,
      ports: fc.array(port, { maxLength: 3 }),
      args: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
      resources,
      securityContext,
      ...(sidecar ? { restartPolicy: fc.constant('Always') } : {}),
      // Regular init containers may have no probes; app containers and sidecars may.
      ...(probed ? { readinessProbe: probe, livenessProbe: probe, startupProbe: probe } : {}),
    },
    { requiredKeys: ['name', 'image', ...(sidecar ? ['restartPolicy' as const] : [])] },
  );
}

// Through JSON, as the webhook receives them (fast-check builds null-prototype objects).
const asJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

// A field most pods do not set (asJson drops the undefined).
const sometimes = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });
const rarely = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });

// A null where a map or list may be: what `helm template` writes for an empty value.
const orNull = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) });

function podOf(o: {
  name: fc.Arbitrary<string>;
  image: fc.Arbitrary<string>;
  labels: fc.Arbitrary<Record<string, string>>;
  annotations: fc.Arbitrary<Record<string, string>>;
  nodeSelector: fc.Arbitrary<Record<string, string>>;
  serviceAccountName: fc.Arbitrary<string>;
}) {
  const containers = fc.uniqueArray(containerOf(o.name, o.image, false, true), { minLength: 1, maxLength: 4, selector: (c) => c.name });
  const initContainers = fc.uniqueArray(fc.oneof(containerOf(o.name, o.image, false, false), containerOf(o.name, o.image, true, true)), { maxLength: 2, selector: (c) => c.name });
  return fc.record(
    {
      apiVersion: fc.constant('v1'),
      kind: fc.constant('Pod'),
      metadata: fc.record(
        {
          name: dnsLabel,
          generateName: dnsLabel,
          labels: orNull(fc.oneof(o.labels, fc.constant({ 'splice.dev/inject': 'true' }))),
          annotations: orNull(fc.tuple(o.annotations, spliceAnnotations).map(([a, b]) => ({ ...a, ...b }))),
          managedFields: fc.constant([{ manager: 'kubectl', operation: 'Update' }]),
          ownerReferences: fc.constant([{ kind: 'Job', name: 'j', apiVersion: 'batch/v1', uid: 'u' }]),
        },
        { requiredKeys: [] },
      ),
      spec: fc.record(
        {
          containers,
          initContainers: orNull(initContainers),
          volumes: orNull(fc.uniqueArray(fc.record({ name: dnsLabel, emptyDir: fc.constant({}) }), { maxLength: 3, selector: (v) => v.name })),
          hostNetwork: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 9, arbitrary: fc.constant(false) }),
          serviceAccountName: o.serviceAccountName,
          nodeSelector: orNull(fc.oneof({ weight: 8, arbitrary: o.nodeSelector }, { weight: 1, arbitrary: osSelector })),
          os: rarely(fc.record({ name: osName })),
          affinity: rarely(osAffinity),
          resources: sometimes(podResources),
          securityContext,
          restartPolicy: fc.constantFrom('Always', 'OnFailure', 'Never'),
          // Around proxy.drainSeconds (5) and the API server's default (30): a regular
          // proxy's preStop wait may not exceed it.
          terminationGracePeriodSeconds: sometimes(fc.integer({ min: 0, max: 40 })),
        },
        { requiredKeys: ['containers'] },
      ),
    },
    { requiredKeys: ['spec'] },
  ).map(asJson);
}

/** Any pod JSON may hold: for the engine and the webhook, which must handle it. */
export const arbitraryPod = podOf({
  name,
  image: fc.string({ maxLength: 15 }),
  labels: stringMap,
  annotations: stringMap,
  nodeSelector: stringMap,
  serviceAccountName: name,
});

/** The service accounts `arbitraryApiPod` uses; the end-to-end test creates them. */
export const API_POD_SERVICE_ACCOUNTS = ['default', 'web', 'batch'];

/**
 * Pods with names, images and keys the API server accepts: mostly valid pods, with the
 * same kinds of trouble as `arbitraryPod` (a Windows pod, a pod-level budget that the
 * app's own requests fill, an app on the proxy's port or uid). Pods the API server
 * refuses on their own still occur (a request above its limit, a pod-level budget below
 * the app's requests); the tests skip those.
 */
export const arbitraryApiPod = fc
  .tuple(
    podOf({
      name: dnsLabel,
      image: fc.constantFrom('example.com/app:1', 'registry.example.com/shop/api:2.3', 'busybox'),
      labels: validMap,
      annotations: validMap,
      nodeSelector: validMap,
      serviceAccountName: fc.constantFrom(...API_POD_SERVICE_ACCOUNTS),
    }),
    fc.boolean(),
  )
  .map(([pod, exactBudget]) => asApiPod(pod as unknown as ApiPod, exactBudget));

interface ApiContainer {
  name: string;
  ports?: Array<{ name?: string }>;
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  [key: string]: unknown;
}
interface ApiPod {
  metadata?: Record<string, unknown>;
  spec: { containers: ApiContainer[]; initContainers?: ApiContainer[] | null; os?: { name: string }; securityContext?: unknown; resources?: { requests?: Record<string, string> }; [key: string]: unknown };
  [key: string]: unknown;
}

// What the API server would refuse for reasons that have nothing to do with splice is
// mended, so that most generated pods are valid on their own.
function asApiPod(pod: ApiPod, exactBudget: boolean): ApiPod {
  // A Job's owner reference must name a real Job; managedFields are the server's.
  const { ownerReferences: _owner, managedFields: _managed, generateName: _generated, ...metadata } = pod.metadata ?? {};
  const names = new Set(pod.spec.containers.map((c) => c.name));
  const windows = pod.spec.os?.name === 'windows';
  const mend = (c: ApiContainer): ApiContainer => {
    const seen = new Set<string>();
    // Port names are unique within a container.
    const ports = (c.ports ?? []).map((p) => (p.name !== undefined && seen.has(p.name) ? { ...p, name: undefined } : (seen.add(p.name ?? ''), p)));
    // runAsUser is a Linux-only field: a Windows pod with it is invalid on its own.
    return { ...c, ports: JSON.parse(JSON.stringify(ports)) as ApiContainer['ports'], ...(windows ? { securityContext: {} } : {}) };
  };
  const spec = { ...pod.spec, containers: pod.spec.containers.map(mend) };
  if (Array.isArray(spec.initContainers)) spec.initContainers = spec.initContainers.filter((c) => !names.has(c.name)).map(mend);
  if (windows) delete spec.securityContext;
  // A pod-level budget exactly the app's own requests: the case that broke after injection.
  if (exactBudget && spec.resources?.requests) {
    const requests: Record<string, string> = {};
    for (const r of ['cpu', 'memory'] as const) {
      if (spec.resources.requests[r] === undefined) continue;
      const total = aggregateRequests({ spec } as unknown as Pod, r);
      if (total.num > 0n) requests[r] = formatQuantity(r, total);
    }
    spec.resources = { ...spec.resources, requests };
  }
  return { ...pod, metadata, spec };
}

export const arbitraryNamespace: fc.Arbitrary<NamespaceFacts> = fc.record({
  name: fc.oneof({ weight: 8, arbitrary: name }, { weight: 1, arbitrary: fc.constantFrom('kube-system', 'splice-system') }),
  labels: fc.oneof(
    fc.constant({ 'splice.dev/inject': 'enabled' }),
    fc.constant({ 'splice.dev/inject': 'disabled' }),
    fc.constant({}),
    fc.constant({ 'splice.dev/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' }),
    stringMap,
  ),
  annotations: fc.oneof(fc.constant({}), spliceAnnotations),
}).map(asJson);

export const arbitraryVersion = fc.option(
  fc.record({ major: fc.constant(1), minor: fc.integer({ min: 24, max: 36 }) }),
  { nil: undefined },
);

/** Any JSON at all, and pods with one part broken: what a buggy client could send. */
export const arbitraryGarbage = fc.oneof(
  fc.jsonValue(),
  arbitraryPod.map((p) => ({ ...p, spec: { ...p.spec, containers: 'not-a-list' } })),
  arbitraryPod.map((p) => ({ ...p, metadata: { annotations: { a: 1 } } })),
  arbitraryPod.map((p) => ({ ...p, spec: { ...p.spec, containers: [{ image: 'no-name' }] } })),
  arbitraryPod.map((p) => ({ ...p, spec: { ...p.spec, volumes: [null] } })),
);
