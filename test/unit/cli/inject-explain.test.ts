import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { cli } from '../../support/cli.js';
import { tempDirs } from '../../support/temp-dirs.js';

// Directories for config and manifest files the commands read, removed when the file is done.
const tempDir = tempDirs('splice-cli-');

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: example.com/app:1}]
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 80}]}
`;
const BAD_POD = `apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: shop, annotations: {splice.dev/proxy-cpu: lots}}
spec: {containers: [{name: app, image: x}]}
`;

describe('splice inject', () => {
  test('injects pod templates and passes other kinds through, as YAML', async () => {
    const r = await cli(['inject', '-f', '-'], `${DEPLOYMENT}---\n${SERVICE}`);
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, any>);
    assert.equal(docs.length, 2);
    const spec = docs[0]?.spec.template.spec;
    assert.deepEqual(spec.initContainers.map((c: { name: string }) => c.name), ['splice-init', 'splice-proxy']);
    assert.deepEqual(spec.containers.map((c: { name: string }) => c.name), ['app']);
    assert.deepEqual(docs[1], parseAllDocuments(SERVICE)[0]?.toJS());
  });
  test('JSON in, JSON out', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'x' }] } };
    const r = await cli(['inject', '-f', '-'], JSON.stringify(pod));
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { spec: { volumes: Array<{ name: string }> } };
    assert.deepEqual(out.spec.volumes.map((v) => v.name), ['splice-identity', 'splice-init-run', 'splice-proxy-config', 'splice-no-api-token']);
  });
  test('an invalid annotation fails the run, names key and value, and prints no manifests', async () => {
    const r = await cli(['inject', '-f', '-'], `${DEPLOYMENT}---\n${BAD_POD}`);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /Pod\/shop\/bad: .*splice\.dev\/proxy-cpu: "lots"/);
  });
  test('a skipped pod is left as it is and the reason goes to stderr', async () => {
    const r = await cli(['inject', '-f', '-', '--namespace-labels', 'splice.dev/inject=disabled'], DEPLOYMENT);
    assert.equal(r.code, 0);
    assert.deepEqual(parseAllDocuments(r.stdout)[0]?.toJS(), parseAllDocuments(DEPLOYMENT)[0]?.toJS());
    assert.match(r.stderr, /not injected: namespace shop is labeled splice\.dev\/inject=disabled/);
  });
  test('reads a file, and a missing file is a clear error', async () => {
    const dir = tempDir();
    const file = join(dir, 'web.yaml');
    writeFileSync(file, DEPLOYMENT);
    assert.equal((await cli(['inject', '-f', file])).code, 0);
    const missing = await cli(['inject', '-f', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.yaml/);
  });
  test('invalid YAML, unknown flags and a missing -f are usage errors', async () => {
    assert.match((await cli(['inject', '-f', '-'], 'a: [b')).stderr, /document 1 is not valid YAML/);
    assert.match((await cli(['inject', '--frobnicate'])).stderr, /frobnicate/);
    assert.match((await cli(['inject'])).stderr, /-f FILE is required/);
  });
  test('--kube-version 1.28 gives a regular proxy container', async () => {
    const r = await cli(['inject', '-f', '-', '--kube-version', '1.28'], DEPLOYMENT);
    const spec = (parseAllDocuments(r.stdout)[0]?.toJS() as Record<string, any>).spec.template.spec;
    assert.deepEqual(spec.containers.map((c: { name: string }) => c.name), ['splice-proxy', 'app']);
    assert.match((await cli(['inject', '-f', '-', '--kube-version', 'latest'], DEPLOYMENT)).stderr, /--kube-version: "latest"/);
  });
  test('a bad --config names the file problem', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'defaultPolicy: sometimes\n');
    const r = await cli(['inject', '-f', '-', '--config', file], DEPLOYMENT);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /defaultPolicy: must be one of enabled, disabled \(got "sometimes"\)/);
  });
});

// The same pod template under every workload kind `inject` takes.
function underKind(kind: string, template: string): string {
  const indent = (text: string, n: number) => text.split('\n').map((l) => (l === '' ? l : ' '.repeat(n) + l)).join('\n');
  const head = `kind: ${kind}\nmetadata: {name: w, namespace: shop}\n`;
  switch (kind) {
    case 'Pod':
      return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  namespace: shop\n${template.replace(/^metadata:\n(  .*\n)*/m, '')}`;
    case 'CronJob':
      return `apiVersion: batch/v1\n${head}spec:\n  schedule: "@daily"\n  jobTemplate:\n    spec:\n      template:\n${indent(template, 8)}`;
    case 'Job':
      return `apiVersion: batch/v1\n${head}spec:\n  template:\n${indent(template, 4)}`;
    case 'ReplicationController':
      return `apiVersion: v1\n${head}spec:\n  selector: {app: w}\n  template:\n${indent(template, 4)}`;
    default:
      return `apiVersion: apps/v1\n${head}spec:\n  selector: {matchLabels: {app: w}}\n  template:\n${indent(template, 4)}`;
  }
}
const KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'CronJob'];
// Where each kind holds its pod, as messages name it.
const AT: Record<string, string> = { Pod: '', CronJob: 'spec\\.jobTemplate\\.spec\\.template\\.' };
const at = (kind: string) => AT[kind] ?? 'spec\\.template\\.';

describe('splice inject: every workload kind', () => {
  const windows = 'metadata:\n  labels: {app: w}\nspec:\n  restartPolicy: OnFailure\n  nodeSelector: {kubernetes.io/os: windows}\n  containers: [{name: app, image: x}]\n';
  for (const kind of KINDS) {
    test(`${kind} bound for Windows nodes: left as it is, with the reason and a warning`, async () => {
      const input = underKind(kind, kind === 'Job' || kind === 'CronJob' ? windows : windows.replace('  restartPolicy: OnFailure\n', ''));
      const r = await cli(['inject', '-f', '-'], input);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(parseAllDocuments(r.stdout)[0]?.toJS(), parseAllDocuments(input)[0]?.toJS());
      assert.match(r.stderr, new RegExp(`warning: .*pod not meshed: ${at(kind)}spec\\.nodeSelector\\["kubernetes\\.io/os"\\] is "windows"`));
      const e = await cli(['explain', '-f', '-'], input);
      assert.match(e.stdout, /decision: skip\n\s+reasons:\n\s+- windows_pod: /);
    });
  }
  const proxyPort = 'metadata:\n  labels: {app: w}\nspec:\n  restartPolicy: OnFailure\n  containers: [{name: app, image: x, ports: [{containerPort: 15006}]}]\n';
  for (const kind of KINDS) {
    test(`${kind} with an app on the proxy's inbound port: refused, and explain says why`, async () => {
      const input = underKind(kind, kind === 'Job' || kind === 'CronJob' ? proxyPort : proxyPort.replace('  restartPolicy: OnFailure\n', ''));
      const r = await cli(['inject', '-f', '-'], input);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`container app \\(${at(kind)}spec\\.containers\\[0\\]\\) declares port 15006, the proxy's inbound capture port`));
      const e = await cli(['explain', '-f', '-'], input);
      assert.match(e.stdout, /decision: deny\n\s+reasons:\n\s+- invalid_pod: container app/);
    });
  }
});

describe('splice inject: null means absent', () => {
  // What `helm template` prints for empty values.
  const NULLS = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
  labels:
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      annotations:
      labels: {app: web}
      creationTimestamp: null
    spec:
      initContainers:
      volumes:
      nodeSelector:
      containers:
      - name: app
        image: example.com/app:1
        env:
        ports:
        resources:
        securityContext:
`;
  const WITHOUT = NULLS.split('\n').filter((l) => !/^\s+\w+:( null)?$/.test(l) || /^\s+(metadata|spec|selector|template|containers):$/.test(l)).join('\n');
  test('the output equals the output for the file without those lines, for inject and explain', async () => {
    assert.doesNotMatch(WITHOUT, /annotations|initContainers|env:/);
    for (const command of ['inject', 'explain']) {
      const withNulls = await cli([command, '-f', '-'], NULLS);
      const without = await cli([command, '-f', '-'], WITHOUT);
      assert.equal(withNulls.code, 0, withNulls.stderr);
      assert.equal(withNulls.stdout, without.stdout);
      assert.equal(withNulls.stderr, without.stderr);
    }
  });
  test('skipped, such a document comes out as without those lines too', async () => {
    const args = ['inject', '-f', '-', '--namespace-labels', 'splice.dev/inject=disabled'];
    assert.equal((await cli(args, NULLS)).stdout, (await cli(args, WITHOUT)).stdout);
  });
  test('a v1 List: its own null fields and its items\' go, and errors name the item', async () => {
    const list = (metadata: string, labels: string) =>
      `apiVersion: v1\nkind: List\n${metadata}items:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p, namespace: shop${labels}}\n  spec: {containers: [{name: app, image: x}]}\n`;
    const withNulls = await cli(['inject', '-f', '-'], list('metadata:\n', ', annotations: null'));
    assert.equal(withNulls.code, 0, withNulls.stderr);
    assert.equal(withNulls.stdout, (await cli(['inject', '-f', '-'], list('', ''))).stdout);
    const bad = await cli(['inject', '-f', '-'], list('', ', labels: {a: null}'));
    assert.match(bad.stderr, /items\[0\]\.metadata\.labels\[a\] must be a string, not null/);
  });
  test('a null entry of a node selector is a value, and kept', async () => {
    const r = await cli(['inject', '-f', '-'], NULLS.replace('      nodeSelector:\n', '      nodeSelector: {example.com/pool: null}\n'));
    assert.match(r.stdout, /nodeSelector:\n\s+example\.com\/pool: null/);
  });
  test('YAML merge keys are merged as kubectl merges them, so a merged port is seen', async () => {
    const merged = 'apiVersion: v1\nkind: Pod\nmetadata: {name: m, namespace: shop}\nspec:\n  containers:\n  - &base {name: app, image: x}\n  - <<: *base\n    name: side\n    ports: [{containerPort: 15001}]\n  - <<: *base\n    name: more\n';
    const r = await cli(['inject', '-f', '-'], merged.replace('    ports: [{containerPort: 15001}]\n', ''));
    assert.equal(r.code, 0, r.stderr);
    const spec = (parseAllDocuments(r.stdout)[0]?.toJS() as Record<string, any>).spec;
    assert.deepEqual(spec.containers, [{ name: 'app', image: 'x' }, { name: 'side', image: 'x' }, { name: 'more', image: 'x' }]);
    const withPort = 'apiVersion: v1\nkind: Pod\nmetadata: {name: m, namespace: shop}\nspec:\n  containers:\n  - &base {name: app, image: x, ports: [{containerPort: 15001}]}\n  - <<: *base\n    name: side\n';
    assert.match((await cli(['inject', '-f', '-'], withPort)).stderr, /container side \(spec\.containers\[1\]\) declares port 15001/);
  });
  test('other kinds pass through as they came, nulls and all', async () => {
    const service = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations: null\nspec:\n  ports: [{port: 80}]\n';
    const r = await cli(['inject', '-f', '-'], service);
    assert.match(r.stdout, /annotations: null/);
  });
  test('an error that remains names the path in the manifest', async () => {
    const bad = NULLS.replace('      labels: {app: web}', '      labels: {app: web, tier: null}');
    const r = await cli(['inject', '-f', '-'], bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Deployment\/shop\/web: splice cannot handle this pod: spec\.template\.metadata\.labels\[tier\] must be a string, not null/);
    const cron = underKind('CronJob', 'metadata: {labels: {app: w}}\nspec:\n  restartPolicy: Never\n  containers: [{name: 5, image: x}]\n');
    assert.match((await cli(['inject', '-f', '-'], cron)).stderr, /spec\.jobTemplate\.spec\.template\.spec\.containers\[0\]\.name must be a string, not number 5/);
  });
});

describe('splice uninject', () => {
  test('inject, then uninject: the manifests come back, probes and all; other kinds pass through', async () => {
    const probed = DEPLOYMENT.replace('containers: [{name: app, image: example.com/app:1}]', 'containers: [{name: app, image: example.com/app:1, readinessProbe: {tcpSocket: {port: 8080}}}]');
    const injected = await cli(['inject', '-f', '-'], `${probed}---\n${SERVICE}`);
    assert.equal(injected.code, 0, injected.stderr);
    assert.match(injected.stdout, /app-health/);
    const back = await cli(['uninject', '-f', '-'], injected.stdout);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(parseAllDocuments(back.stdout).map((d) => d.toJS()), parseAllDocuments(`${probed}---\n${SERVICE}`).map((d) => d.toJS()));
  });
  test('a splice annotation that is not splice\'s stops the run, naming the object, with nothing on stdout', async () => {
    const r = await cli(['uninject', '-f', '-'], BAD_POD.replace('splice.dev/proxy-cpu: lots', 'splice.dev/status: "not json"'));
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: Pod\/shop\/bad: annotation splice\.dev\/status is not JSON/);
  });
});

describe('splice explain', () => {
  test('shows the decision, every reason and a diff of what changes', async () => {
    const r = await cli(['explain', '-f', '-'], DEPLOYMENT);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Deployment\/shop\/web \(namespace shop\)/);
    assert.match(r.stdout, /decision: inject/);
    assert.match(r.stdout, /namespace_enabled: namespace shop is labeled splice\.dev\/inject=enabled/);
    assert.match(r.stdout, /^\s+\+\s+- name: splice-init$/m);
    assert.match(r.stdout, /JSON Patch operations/);
  });
  test('explains skips with all their reasons', async () => {
    const pod = BAD_POD.replace('splice.dev/proxy-cpu: lots', 'splice.dev/inject: "false"');
    const r = await cli(['explain', '-f', '-', '--namespace-labels', 'splice.dev/inject=disabled'], pod);
    assert.match(r.stdout, /decision: skip/);
    assert.match(r.stdout, /pod_opted_out/);
    assert.match(r.stdout, /namespace_disabled/);
    assert.doesNotMatch(r.stdout, /changes:/);
  });
  test('names the identity an injected pod gets and the Secret it comes from; --cluster looks the Secret up', async () => {
    const r = await cli(['explain', '-f', '-'], DEPLOYMENT);
    assert.match(r.stdout, /identity: spiffe:\/\/cluster\.local\/ns\/shop\/sa\/\S+\n\s+certificate from Secret shop\/splice-identity-\S+\n\s+Secret: not looked up \(add --cluster/);
    const skipped = await cli(['explain', '-f', '-', '--namespace-labels', 'splice.dev/inject=disabled'], DEPLOYMENT);
    assert.doesNotMatch(skipped.stdout, /identity:/);
  });
  test('says what happens to the pod\'s traffic, from its own rules and the config', async () => {
    const pod = BAD_POD.replace('splice.dev/proxy-cpu: lots', 'splice.dev/exclude-outbound-ports: "5432", splice.dev/exclude-inbound-ports: "9000", splice.dev/exclude-outbound-cidrs: 169.254.169.254/32');
    const plain = await cli(['explain', '-f', '-'], pod);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /traffic:\n\s+outbound: IPv4 TCP to anywhere goes through the proxy, except: uid 1337 \(the proxy\), loopback, ports 5432, 169\.254\.169\.254\/32\n/);
    assert.match(plain.stdout, /to a pod address: as the app sent it, proxy\.meshCidrs is empty, so no pod address is given mTLS/);
    assert.match(plain.stdout, /to a Service's ClusterIP that splice's discovery \(splice\.splice-system\.svc:15012\) told of: to one of its ready endpoints, mTLS to a meshed one \(which must prove its own service account\), as sent to the others; any other ClusterIP: as the app sent it\n/);
    assert.match(plain.stdout, /inbound: IPv4 TCP to any port goes through the proxy, except: ports 15000, 15001, 15006, 15008, 15021, 15090, 9000\n/);
    assert.match(plain.stdout, /from mesh peers: mTLS on port 15008 \(ALPN splice-mtls, client certificate of spiffe:\/\/cluster\.local\/ required\), then to the app port the peer named, excluded ports included\n/);
    assert.match(plain.stdout, /IPv6: not redirected, it arrives and leaves as without splice \(proxy\.ipv6: auto\)\n/);
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'proxy:\n  meshCidrs: "10.244.0.0/16"\n');
    const meshed = await cli(['explain', '-f', '-', '--config', file], pod);
    assert.match(meshed.stdout, /to 10\.244\.0\.0\/16 \(proxy\.meshCidrs\): mTLS as the identity below, to the peer's proxy on port 15008; anywhere else: as the app sent it/);
    assert.match(meshed.stdout, /IPv6: not redirected/, 'an IPv4 mesh CIDR alone: IPv6 stays off');
    writeFileSync(file, 'proxy:\n  meshCidrs: "10.244.0.0/16,fd00:10:244::/56"\n');
    const dual = await cli(['explain', '-f', '-', '--config', file], pod);
    assert.match(dual.stdout, /IPv6: redirected like IPv4, the proxy listens on :: too \(proxy\.ipv6: auto\)\n/);
    assert.match(dual.stdout, /outbound: TCP to anywhere/, 'both families go through the proxy');
    writeFileSync(file, 'proxy:\n  meshCidrs: "10.244.0.0/16,fd00:10:244::/56"\n  ipv6: disabled\n');
    const off = await cli(['explain', '-f', '-', '--config', file], pod);
    assert.match(off.stdout, /to 10\.244\.0\.0\/16 \(proxy\.meshCidrs\): mTLS/, 'the IPv4 mesh CIDR only');
    assert.match(off.stdout, /fd00:10:244::\/56 \(proxy\.meshCidrs\): no mTLS, IPv6 is not redirected \(proxy\.ipv6: disabled\)\n/);
    writeFileSync(file, 'proxy:\n  serviceDiscovery: false\n');
    const noDiscovery = await cli(['explain', '-f', '-', '--config', file], pod);
    assert.match(noDiscovery.stdout, /to a Service's ClusterIP: as the app sent it, kube-proxy picks the endpoint \(proxy\.serviceDiscovery: false\)\n/);
    const skipped = await cli(['explain', '-f', '-', '--namespace-labels', 'splice.dev/inject=disabled'], DEPLOYMENT);
    assert.doesNotMatch(skipped.stdout, /traffic:/);
    assert.match(plain.stdout, /reaches the app as it came, nothing read first \(permissive\)\n/);
    const strict = await cli(['explain', '-f', '-'], pod.replace('splice.dev/exclude-outbound-ports', 'splice.dev/allow-from: "shop/frontend, billing/*", splice.dev/exclude-outbound-ports'));
    assert.equal(strict.code, 0, strict.stderr);
    assert.match(strict.stdout, /closed by the proxy at once and logged, the app never sees it: only mesh peers may connect \(strict\)\n/);
    assert.match(strict.stdout, /client certificate of shop\/frontend, billing\/\* \(splice\.dev\/allow-from\) required/);
  });
  test('says where each probe now goes and how the proxy answers it', async () => {
    const probed = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, annotations: {splice.dev/inbound-policy: strict}}
spec:
  containers:
  - name: app
    image: x
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /healthz, port: http}}
    livenessProbe: {tcpSocket: {port: 8080}}
    startupProbe: {grpc: {port: 9000, service: shop.Cart}}
`;
    const r = await cli(['explain', '-f', '-'], probed);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /probes: the kubelet asks the proxy on port 15021 \(originals in splice\.dev\/original-probes\):\n/);
    assert.match(r.stdout, /\/app-health\/app\/readiness: forwarded to HTTP port 8080 \/healthz, the app's status is the answer\n/);
    assert.match(r.stdout, /\/app-health\/app\/liveness: the proxy connects to port 8080 every 1s; 503 once it cannot\n/);
    assert.match(r.stdout, /\/app-health\/app\/startup: the proxy asks grpc\.health\.v1 on port 9000 about shop\.Cart every 1s; 503 unless SERVING\n/);
  });
  test('--cluster with a kubeconfig that is not there says so in a sentence', async () => {
    const saved = { ...process.env };
    process.env.KUBECONFIG = '/nonexistent/kubeconfig';
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      const r = await cli(['explain', '-f', '-', '--cluster'], DEPLOYMENT);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^splice explain --cluster: cannot load the kubeconfig \/nonexistent\/kubeconfig: .*ENOENT/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      process.env = saved;
    }
  });
  test('input without pods is an error', async () => {
    const r = await cli(['explain', '-f', '-'], SERVICE);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no pods/);
  });
});

describe('splice', () => {
  test('version and usage', async () => {
    assert.match((await cli(['version'])).stdout, /^splice \d+\.\d+\.\d+\n$/);
    const none = await cli([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /usage: splice <command>/);
    const unknown = await cli(['frob']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frob"/);
  });
});
