// What users and operators rely on in the kustomize base (manifests/): splice runs
// locked down, fails closed, never sees system namespaces, sees each pod at most once,
// and holds no more API access than its code uses. Field names and schemas are left to
// validation against a real API server; these are the properties behind them.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULT_CONFIG, parseConfig } from '../../../src/inject/config.js';

// The compiled test runs from dist/test/unit/manifests/.
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const MANIFESTS = join(ROOT, 'manifests');

const NAMESPACE = 'splice-system';
const EXCLUDED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', 'splice-system'];
const TLS_SECRET = 'splice-webhook-tls';
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface Requirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Requirement[];
}

interface HttpProbe {
  httpGet?: { path: string; port: number | string };
}

interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  securityContext?: SecurityContext;
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
  startupProbe?: HttpProbe;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

interface Deployment extends Manifest {
  spec: {
    replicas: number;
    selector: LabelSelector;
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        serviceAccountName?: string;
        securityContext?: SecurityContext;
        containers: Container[];
        volumes?: Array<{ name: string; configMap?: { name: string } }>;
      };
    };
  };
}

interface Service extends Manifest {
  spec: { selector: Record<string, string>; ports: Array<{ name?: string; port: number; targetPort: number | string }> };
}

interface Webhook {
  name: string;
  clientConfig: { caBundle?: string; service?: { name: string; namespace: string; path?: string; port?: number } };
  rules: Array<{ operations: string[]; apiGroups: string[]; apiVersions: string[]; resources: string[] }>;
  failurePolicy?: string;
  sideEffects: string;
  admissionReviewVersions: string[];
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

interface Role extends Manifest {
  rules: PolicyRule[];
}

interface Binding extends Manifest {
  roleRef: { kind: string; name: string };
  subjects: Array<{ kind: string; name: string; namespace?: string }>;
}

function loadKustomization(): { resources: string[] } {
  return parse(readFileSync(join(MANIFESTS, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
}

function loadManifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of loadKustomization().resources) {
    for (const doc of parseAllDocuments(readFileSync(join(MANIFESTS, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      const value = doc.toJS() as Manifest | null;
      if (value !== null) out.push(value);
    }
  }
  return out;
}

const manifests = loadManifests();

function all<T extends Manifest>(kind: string): T[] {
  return manifests.filter((m) => m.kind === kind) as T[];
}

function one<T extends Manifest>(kind: string, name: string): T {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name}`);
  return found[0] as T;
}

/** Kubernetes label-selector semantics (an empty or absent selector matches everything). */
function matches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const r of selector?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    const inValues = has && value !== undefined && (r.values ?? []).includes(value);
    const ok =
      r.operator === 'In' ? inValues : r.operator === 'NotIn' ? !inValues : r.operator === 'Exists' ? has : !has;
    if (!ok) return false;
  }
  return true;
}

describe('manifests/', () => {
  test('every YAML file is listed in kustomization.yaml, so none is silently left out of `kubectl apply -k`', () => {
    const listed = new Set(loadKustomization().resources);
    const files = readdirSync(MANIFESTS).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    assert.deepEqual(files.filter((f) => !listed.has(f)), []);
  });

  test('namespaced objects are in splice-system (the kustomization sets no namespace)', () => {
    for (const m of manifests) {
      if (CLUSTER_SCOPED.has(m.kind)) assert.equal(m.metadata.namespace, undefined, `${m.kind} ${m.metadata.name}`);
      else assert.equal(m.metadata.namespace, NAMESPACE, `${m.kind} ${m.metadata.name}`);
    }
  });

  test('the namespace is never injected', () => {
    const ns = one<Manifest>('Namespace', NAMESPACE);
    assert.equal(ns.metadata.labels?.['splice.dev/inject'], 'disabled');
  });
});

describe('Deployment splice', () => {
  const deployment = one<Deployment>('Deployment', 'splice');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'splice');

  test('runs 2 replicas', () => {
    assert.equal(deployment.spec.replicas, 2);
  });

  test('runs non-root, read-only, without privilege escalation, dropping ALL capabilities', () => {
    assert.ok(container, 'a container named splice');
    // The container's securityContext wins over the pod's, field by field.
    const sc: SecurityContext = { ...pod.securityContext, ...container.securityContext };
    assert.equal(sc.runAsNonRoot, true);
    assert.ok(sc.runAsUser !== undefined && sc.runAsUser !== 0, 'a non-zero runAsUser');
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.notEqual(container.securityContext?.privileged, true);
    assert.ok(container.securityContext?.capabilities?.drop?.includes('ALL'), 'drops ALL');
    assert.deepEqual(container.securityContext?.capabilities?.add ?? [], []);
    assert.equal(sc.seccompProfile?.type, 'RuntimeDefault');
  });

  test('probes /healthz (liveness) and /readyz (readiness) on the metrics port 9090', () => {
    assert.ok(container);
    const port = (p: number | string | undefined): number | undefined =>
      typeof p === 'number' ? p : container.ports?.find((cp) => cp.name === p)?.containerPort;
    assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(port(container.livenessProbe?.httpGet?.port), 9090);
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(port(container.readinessProbe?.httpGet?.port), 9090);
  });

  test('reads its config from the mounted ConfigMap splice', () => {
    assert.ok(container);
    const args = container.args ?? [];
    const file = args[args.indexOf('--config') + 1];
    assert.ok(args.includes('--config') && file, '--config FILE');
    const mount = container.volumeMounts?.find((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
    assert.ok(mount, `a volume mounted over ${file}`);
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    assert.equal(volume?.configMap?.name, 'splice');
    assert.equal(file.slice(mount.mountPath.replace(/\/$/, '').length + 1), 'config.yaml');
  });

  test('Service splice sends 443 to the webhook port 9443 of these pods', () => {
    assert.ok(container);
    const service = one<Service>('Service', 'splice');
    assert.ok(matches({ matchLabels: service.spec.selector }, deployment.spec.template.metadata.labels));
    assert.ok(matches(deployment.spec.selector, deployment.spec.template.metadata.labels));
    const https = service.spec.ports.find((p) => p.port === 443);
    assert.equal(https?.name, 'https');
    const target = https.targetPort;
    const containerPort = typeof target === 'number' ? target : container.ports?.find((p) => p.name === target)?.containerPort;
    assert.equal(containerPort, 9443);
  });
});

describe('MutatingWebhookConfiguration splice', () => {
  const webhooks = one<Manifest & { webhooks: Webhook[] }>('MutatingWebhookConfiguration', 'splice').webhooks;
  const byName = (name: string): Webhook => {
    const w = webhooks.find((x) => x.name === name);
    assert.ok(w, `webhook ${name}`);
    return w;
  };

  test('has the namespace and object webhooks', () => {
    assert.deepEqual(webhooks.map((w) => w.name).sort(), ['namespace.inject.splice.dev', 'object.inject.splice.dev']);
  });

  for (const name of ['namespace.inject.splice.dev', 'object.inject.splice.dev']) {
    test(`${name} fails closed, has no side effects and calls /inject on Service splice`, () => {
      const w = byName(name);
      assert.equal(w.failurePolicy, 'Fail');
      assert.equal(w.sideEffects, 'None');
      assert.deepEqual(w.clientConfig.service, { name: 'splice', namespace: NAMESPACE, path: '/inject', port: 443 });
      // splice writes its own CA at start; a CA in the manifest would be stale.
      assert.equal(w.clientConfig.caBundle, undefined);
      assert.ok(w.admissionReviewVersions.includes('v1'));
      assert.deepEqual(w.rules, [
        { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' },
      ]);
    });

    test(`${name} excludes the system namespaces and splice-system by name`, () => {
      const exclusion = byName(name).namespaceSelector?.matchExpressions?.find(
        (r) => r.key === 'kubernetes.io/metadata.name' && r.operator === 'NotIn',
      );
      assert.ok(exclusion, 'a kubernetes.io/metadata.name NotIn requirement');
      for (const ns of EXCLUDED_NAMESPACES) assert.ok(exclusion.values?.includes(ns), `excludes ${ns}`);
    });
  }

  // Which webhooks select a pod, over every combination of namespace and pod label that
  // matters. The API server sends the pod once per matching webhook, so more than one
  // would inject twice.
  const namespaceNames = ['default', 'shop', ...EXCLUDED_NAMESPACES];
  const namespaceLabels = [undefined, 'enabled', 'disabled', 'bogus'];
  const podLabels = [undefined, 'true', 'enabled', 'false', 'disabled', 'bogus'];
  const selected = (ns: string, nsLabel: string | undefined, podLabel: string | undefined): string[] => {
    const nsLabels: Record<string, string> = { 'kubernetes.io/metadata.name': ns };
    if (nsLabel !== undefined) nsLabels['splice.dev/inject'] = nsLabel;
    const labels: Record<string, string> = { app: 'shop' };
    if (podLabel !== undefined) labels['splice.dev/inject'] = podLabel;
    return webhooks.filter((w) => matches(w.namespaceSelector, nsLabels) && matches(w.objectSelector, labels)).map((w) => w.name);
  };

  test('a pod is sent at most once', () => {
    for (const ns of namespaceNames)
      for (const nsLabel of namespaceLabels)
        for (const podLabel of podLabels) {
          const hit = selected(ns, nsLabel, podLabel);
          assert.ok(hit.length <= 1, `ns ${ns} (${nsLabel}), pod (${podLabel}): ${hit.join(', ')}`);
        }
  });

  test('selects exactly the pods the namespace and pod labels opt in', () => {
    for (const ns of namespaceNames)
      for (const nsLabel of namespaceLabels)
        for (const podLabel of podLabels) {
          const excluded = EXCLUDED_NAMESPACES.includes(ns);
          const podOut = podLabel === 'false' || podLabel === 'disabled';
          const podIn = podLabel === 'true' || podLabel === 'enabled';
          const expected =
            !excluded && nsLabel === 'enabled' && !podOut
              ? ['namespace.inject.splice.dev']
              : !excluded && nsLabel === undefined && podIn
                ? ['object.inject.splice.dev']
                : [];
          assert.deepEqual(selected(ns, nsLabel, podLabel), expected, `ns ${ns} (${nsLabel}), pod (${podLabel})`);
        }
  });
});

describe('RBAC', () => {
  const clusterRoles = all<Role>('ClusterRole');
  const roles = all<Role>('Role');
  const grants = (rule: PolicyRule, resource: string): boolean =>
    (rule.apiGroups ?? []).includes('') && (rule.resources ?? []).some((r) => r === resource || r.startsWith(`${resource}/`));

  test('no wildcard verbs, resources, API groups or non-resource URLs', () => {
    for (const role of [...clusterRoles, ...roles])
      for (const rule of role.rules) {
        const fields = [rule.verbs, rule.resources ?? [], rule.apiGroups ?? [], rule.resourceNames ?? []];
        for (const field of fields) assert.ok(!field.some((v) => v.includes('*')), `${role.kind} ${role.metadata.name}: ${JSON.stringify(rule)}`);
        assert.equal(rule.nonResourceURLs, undefined, `${role.kind} ${role.metadata.name}`);
      }
  });

  test('only the identity controller\'s ClusterRole reaches pods, service accounts and secrets cluster-wide, with exactly the verbs it uses (discovery reads pods too)', () => {
    const wide = (resource: string) => clusterRoles.flatMap((role) => role.rules.filter((r) => grants(r, resource)).map((rule) => ({ role, rule })));
    const verbs = (resource: string) => wide(resource).flatMap(({ rule }) => rule.verbs).sort();
    for (const resource of ['pods', 'serviceaccounts', 'secrets']) {
      for (const { role, rule } of wide(resource)) {
        const allowed = resource === 'pods' ? ['splice-identity', 'splice-discovery'] : ['splice-identity'];
        assert.ok(allowed.includes(role.metadata.name), `ClusterRole ${role.metadata.name}: ${JSON.stringify(rule)}`);
        assert.deepEqual(rule.resources, [resource], 'no subresources');
      }
    }
    for (const { rule } of wide('pods')) assert.deepEqual([...rule.verbs].sort(), ['list', 'watch']);
    assert.deepEqual(verbs('serviceaccounts'), ['list', 'watch']);
    assert.deepEqual(verbs('secrets'), ['create', 'delete', 'get', 'list', 'update', 'watch']);
    // Discovery reads what kube-proxy reads, and writes nothing.
    const discovery = clusterRoles.find((role) => role.metadata.name === 'splice-discovery');
    assert.ok(discovery, 'ClusterRole splice-discovery');
    assert.deepEqual(
      discovery.rules.map((r) => [r.apiGroups, r.resources, r.verbs]),
      [[[''], ['services'], ['list', 'watch']], [['discovery.k8s.io'], ['endpointslices'], ['list', 'watch']], [[''], ['pods'], ['list', 'watch']]],
    );
    // A RoleBinding to a ClusterRole would carry the ClusterRole's rules into a namespace
    // without this test seeing them.
    for (const binding of all<Binding>('RoleBinding')) assert.equal(binding.roleRef.kind, 'Role', `RoleBinding ${binding.metadata.name}`);
  });

  test('secret writes of the splice ServiceAccount are held to its own Secrets by a ValidatingAdmissionPolicy, bound to deny', () => {
    interface Policy extends Manifest {
      spec: { failurePolicy: string; matchConstraints: { resourceRules: Array<{ resources: string[]; operations: string[] }> }; matchConditions: Array<{ expression: string }> };
    }
    const policy = one<Policy>('ValidatingAdmissionPolicy', 'splice-secrets');
    assert.equal(policy.spec.failurePolicy, 'Fail');
    assert.deepEqual(policy.spec.matchConstraints.resourceRules.map((r) => [r.resources, r.operations]), [[['secrets'], ['CREATE', 'UPDATE', 'DELETE']]]);
    assert.match(policy.spec.matchConditions[0]?.expression ?? '', /system:serviceaccount:splice-system:splice/);
    const binding = one<Manifest & { spec: { policyName: string; validationActions: string[] } }>('ValidatingAdmissionPolicyBinding', 'splice-secrets');
    assert.deepEqual([binding.spec.policyName, binding.spec.validationActions], ['splice-secrets', ['Deny']]);
  });

  test('in splice-system, a Role names each Secret and the Lease splice reads or updates', () => {
    const secretRules = roles.flatMap((role) => role.rules.filter((r) => grants(r, 'secrets')).map((rule) => ({ role, rule })));
    assert.ok(secretRules.length > 0, 'a Role grants the TLS secret');
    for (const { role, rule } of secretRules) {
      assert.equal(role.metadata.namespace, NAMESPACE);
      assert.deepEqual(rule.resources, ['secrets'], 'no secret subresources');
      // create cannot be restricted by name; every other verb is.
      if (!(rule.verbs.length === 1 && rule.verbs[0] === 'create')) assert.ok(rule.resourceNames?.length, JSON.stringify(rule));
      for (const verb of ['list', 'watch', 'delete', 'deletecollection', 'patch']) {
        assert.ok(!rule.verbs.includes(verb), `no ${verb} on secrets: ${JSON.stringify(rule)}`);
      }
    }
    // Verbs on each secret by name, and on secrets of any name (resourceNames absent).
    const verbs = (rules: Array<{ rule: PolicyRule }>, name?: string): string[] =>
      rules.filter(({ rule }) => (name === undefined ? rule.resourceNames === undefined : (rule.resourceNames ?? []).includes(name))).flatMap(({ rule }) => rule.verbs);
    assert.deepEqual(verbs(secretRules, TLS_SECRET).sort(), ['get', 'update']);
    assert.deepEqual(verbs(secretRules, 'splice-ca'), ['get']);
    assert.deepEqual(verbs(secretRules, undefined), ['create']);
    const leaseRules = roles.flatMap((role) => role.rules.filter((r) => (r.resources ?? []).includes('leases')).map((rule) => ({ role, rule })));
    assert.deepEqual(verbs(leaseRules, 'splice-identity').sort(), ['get', 'update']);
    assert.deepEqual(verbs(leaseRules, undefined), ['create']);
  });

  test('the webhook configuration is writable only by name', () => {
    const rules = clusterRoles.flatMap((r) => r.rules).filter((r) => r.resources?.includes('mutatingwebhookconfigurations'));
    assert.ok(rules.length > 0);
    for (const rule of rules) assert.deepEqual(rule.resourceNames, ['splice']);
  });

  test('the roles are bound to the ServiceAccount the Deployment runs as, and to nothing else', () => {
    const deployment = one<Deployment>('Deployment', 'splice');
    const sa = deployment.spec.template.spec.serviceAccountName;
    assert.equal(sa, 'splice');
    one<Manifest>('ServiceAccount', sa);
    const bindings = [...all<Binding>('ClusterRoleBinding'), ...all<Binding>('RoleBinding')];
    assert.ok(bindings.length >= 2);
    for (const b of bindings) {
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: NAMESPACE }], `${b.kind} ${b.metadata.name}`);
      const target = b.roleRef.kind === 'ClusterRole' ? clusterRoles : roles.filter((r) => r.metadata.namespace === b.metadata.namespace);
      assert.ok(target.some((r) => r.metadata.name === b.roleRef.name), `${b.kind} ${b.metadata.name} refers to an existing ${b.roleRef.kind}`);
    }
  });
});

describe('ConfigMap splice', () => {
  const configMap = one<Manifest & { data?: Record<string, string> }>('ConfigMap', 'splice');
  const text = configMap.data?.['config.yaml'];

  test('config.yaml parses and is accepted by splice', () => {
    assert.ok(text, 'a config.yaml key');
    const doc = parseAllDocuments(text);
    assert.equal(doc.length, 1);
    assert.deepEqual(doc[0]?.errors, []);
    assert.doesNotThrow(() => parseConfig(doc[0]?.toJS()));
  });

  test('config.yaml spells out every key of the config with its default value', () => {
    assert.ok(text);
    assert.deepEqual(parse(text), DEFAULT_CONFIG);
  });

  test('splice-init runs the image the Deployment runs', () => {
    assert.ok(text);
    const deployment = one<Deployment>('Deployment', 'splice');
    const image = deployment.spec.template.spec.containers.find((c) => c.name === 'splice')?.image;
    assert.equal((parse(text) as { init: { image: string } }).init.image, image);
  });
});
