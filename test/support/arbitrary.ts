// fast-check generators for pods and namespaces as the API server might send them:
// realistic shapes with hostile details (keys with "/" and "~", absent arrays, long env
// lists, every splice annotation with valid and invalid values).
import fc from 'fast-check';
import type { NamespaceFacts } from '../../src/inject/types.js';

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
const awkwardKey = fc.oneof(
  name,
  fc.constantFrom('example.com/a~b', 'a/b/c', '~', '~1', '/', 'splice.dev/proxy-cpus', 'app.kubernetes.io/name'),
  fc.string({ maxLength: 12 }),
);
const stringMap = fc.dictionary(awkwardKey, fc.string({ maxLength: 20 }), { maxKeys: 5 });

// [valid values, invalid values] per key; valid ones are drawn far more often so most
// pods reach the inject path, while every refusal path is still exercised.
const SPLICE_VALUES: Record<string, [string[], string[]]> = {
  'splice.dev/inject': [['true', 'enabled', 'false', 'disabled'], ['yes', '']],
  'splice.dev/proxy-cpu': [['100m', '1', '0.5'], ['lots', '-1', '']],
  'splice.dev/proxy-memory': [['64Mi', '1e3', '100M'], ['much']],
  'splice.dev/proxy-cpu-limit': [['2', '500m'], ['x']],
  'splice.dev/proxy-memory-limit': [['2Gi', '512Mi'], ['??']],
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
const container = fc.record(
  {
    name: fc.oneof({ weight: 30, arbitrary: name }, { weight: 1, arbitrary: fc.constantFrom('splice-proxy', 'splice-init') }),
    image: fc.string({ maxLength: 15 }),
    env,
    ports: fc.array(fc.record({ containerPort: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 3 }),
    args: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
  },
  { requiredKeys: ['name'] },
);

// Through JSON, as the webhook receives them (fast-check builds null-prototype objects).
const asJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export const arbitraryPod = fc.record(
  {
    apiVersion: fc.constant('v1'),
    kind: fc.constant('Pod'),
    metadata: fc.record(
      {
        name,
        generateName: name,
        labels: fc.oneof(stringMap, fc.constant({ 'splice.dev/inject': 'true' })),
        annotations: fc.tuple(stringMap, spliceAnnotations).map(([a, b]) => ({ ...a, ...b })),
        managedFields: fc.constant([{ manager: 'kubectl', operation: 'Update' }]),
        ownerReferences: fc.constant([{ kind: 'Job', name: 'j', apiVersion: 'batch/v1', uid: 'u' }]),
      },
      { requiredKeys: [] },
    ),
    spec: fc.record(
      {
        containers: fc.array(container, { minLength: 1, maxLength: 4 }),
        initContainers: fc.array(container, { maxLength: 2 }),
        volumes: fc.array(fc.record({ name, emptyDir: fc.constant({}) }), { maxLength: 3 }),
        hostNetwork: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 9, arbitrary: fc.constant(false) }),
        serviceAccountName: name,
        nodeSelector: stringMap,
      },
      { requiredKeys: ['containers'] },
    ),
  },
  { requiredKeys: ['spec'] },
).map(asJson);

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
