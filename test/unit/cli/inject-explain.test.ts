import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { cli } from '../../support/cli.js';

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
    assert.deepEqual(out.spec.volumes.map((v) => v.name), ['splice-identity', 'splice-init-run', 'splice-no-api-token']);
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
    const dir = mkdtempSync(join(tmpdir(), 'splice-cli-'));
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
    const dir = mkdtempSync(join(tmpdir(), 'splice-cli-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'defaultPolicy: sometimes\n');
    const r = await cli(['inject', '-f', '-', '--config', file], DEPLOYMENT);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /defaultPolicy: must be one of enabled, disabled \(got "sometimes"\)/);
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
    assert.match(plain.stdout, /traffic:\n\s+outbound: TCP to anywhere goes through the proxy, except: uid 1337 \(the proxy\), loopback, ports 5432, 169\.254\.169\.254\/32\n/);
    assert.match(plain.stdout, /every connection leaves as the app sent it: proxy\.meshCidrs is empty/);
    assert.match(plain.stdout, /inbound: TCP to any port goes through the proxy, except: ports 15000, 15001, 15006, 15021, 15090, 9000\n/);
    assert.match(plain.stdout, /TLS offering ALPN splice-mtls is mTLS from a mesh peer/);
    const dir = mkdtempSync(join(tmpdir(), 'splice-cli-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'proxy:\n  meshCidrs: "10.244.0.0/16"\n');
    const meshed = await cli(['explain', '-f', '-', '--config', file], pod);
    assert.match(meshed.stdout, /to 10\.244\.0\.0\/16 \(proxy\.meshCidrs\): mTLS as the identity below; anywhere else: as the app sent it/);
    const skipped = await cli(['explain', '-f', '-', '--namespace-labels', 'splice.dev/inject=disabled'], DEPLOYMENT);
    assert.doesNotMatch(skipped.stdout, /traffic:/);
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
