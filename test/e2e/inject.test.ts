// Scenarios 1-4 and 6-8: what the API server stores when it calls splice, read back
// from the API server itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apply, getJson, kubectl, ok, waitFor } from './lib/kubectl.js';
import type { ContainerJson, List, PodJson } from './lib/objects.js';
import { isInjected, names, namespaceManifest, podManifest } from './lib/objects.js';
import type { SpliceProcess } from './lib/splice.js';
import { httpGet, installManifests, startSplice } from './lib/splice.js';

let splice: SpliceProcess;

before(async () => {
  installManifests();
  splice = await startSplice();
  for (const [ns, labels] of [
    ['e2e-enabled', { 'splice.dev/inject': 'enabled' }],
    ['e2e-plain', {}],
    ['e2e-disabled', { 'splice.dev/inject': 'disabled' }],
  ] as const) {
    ok(['apply', '-f', '-'], { input: JSON.stringify(namespaceManifest(ns, labels)) });
  }
  // A Node object (no kubelet behind it) so the DaemonSet controller has somewhere to
  // put a pod. The API server taints a new Node not-ready, which DaemonSet pods do not
  // tolerate, and no node lifecycle controller runs to lift it: lift it by hand.
  ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'e2e-node', labels: { 'kubernetes.io/hostname': 'e2e-node' } } }) });
  kubectl(['taint', 'node', 'e2e-node', 'node.kubernetes.io/not-ready:NoSchedule-']);
});
after(async () => {
  await splice?.stop();
});

/** Pod CREATEs splice has answered, from its own metrics. */
async function spliceCalls(): Promise<number> {
  const { body } = await httpGet(splice.metricsPort, '/metrics');
  let total = 0;
  for (const line of body.split('\n')) {
    // The histogram's count is one per request (the counter is one per reason).
    if (line.startsWith('splice_injection_duration_seconds_count{') && !line.includes('result="ignored"')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

function pod(ns: string, name: string): PodJson {
  return getJson<PodJson>(['-n', ns, 'get', 'pod', name]);
}

function podsOf(ns: string, selector: string, count: number): Promise<PodJson[]> {
  return waitFor(`${count} pods ${selector} in ${ns}`, () => {
    const list = getJson<List<PodJson>>(['-n', ns, 'get', 'pods', '-l', selector]);
    return list.items.length >= count ? list.items : undefined;
  }, 60_000);
}

function withoutTokenMount(c: ContainerJson): ContainerJson {
  const mounts = (c.volumeMounts as Array<{ name: string }> | undefined)?.filter((m) => !m.name.startsWith('kube-api-access-'));
  const { volumeMounts: _all, ...rest } = c;
  return mounts && mounts.length > 0 ? { ...rest, volumeMounts: mounts } : rest;
}

function assertInjected(p: PodJson): void {
  assert.ok(isInjected(p), `pod ${p.metadata.name} has splice.dev/status`);
  assert.deepEqual(names(p.spec.initContainers).slice(0, 2), ['splice-init', 'splice-proxy'], 'native sidecar after splice-init');
  assert.equal(p.spec.initContainers?.[1]?.restartPolicy, 'Always');
  assert.ok(names(p.spec.volumes).includes('splice-identity'));
  const status = JSON.parse(p.metadata.annotations?.['splice.dev/status'] ?? '{}') as { initContainers?: string[] };
  assert.deepEqual(status.initContainers, ['splice-init', 'splice-proxy']);
}

describe('injection through a real API server', () => {
  test('1. a Deployment in an enabled namespace: every pod injected, app containers exactly as asked', async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'shop', namespace: 'e2e-enabled' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'shop' } },
        template: {
          metadata: { labels: { app: 'shop' } },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'example.com/web:1',
                ports: [{ containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
                livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 7 },
                env: [{ name: 'MODE', value: 'e2e' }],
              },
              { name: 'worker', image: 'example.com/worker:1', args: ['--queue', 'orders'] },
            ],
          },
        },
      },
    };
    const callsBefore = await spliceCalls();
    const r = apply(deployment);
    assert.equal(r.code, 0, r.stderr);
    const pods = await podsOf('e2e-enabled', 'app=shop', 2);
    const stored = getJson<{ spec: { template: { spec: PodJson['spec'] } } }>(['-n', 'e2e-enabled', 'get', 'deployment', 'shop']);
    for (const p of pods) {
      assertInjected(p);
      // Both went through the same API defaulting; splice must have changed nothing in them
      // but the probes it points at its health listener, whose originals (as defaulted) it
      // keeps in splice.dev/original-probes. The other difference is the API server's own:
      // its ServiceAccount admission plugin mounts the projected token (kube-api-access-*)
      // into every container of a pod.
      const originals = JSON.parse(p.metadata.annotations?.['splice.dev/original-probes'] ?? '{}') as Record<string, Record<string, unknown>>;
      const asAsked = p.spec.containers.map(withoutTokenMount).map((c) => ({ ...c, ...originals[String(c.name)] }));
      assert.deepEqual(asAsked, stored.spec.template.spec.containers);
      const web = p.spec.containers.find((c) => c.name === 'web') as { readinessProbe?: { httpGet?: unknown }; livenessProbe?: { httpGet?: unknown } } | undefined;
      assert.deepEqual(web?.readinessProbe?.httpGet, { path: '/app-health/web/readiness', port: 15021, scheme: 'HTTP' });
      assert.deepEqual(web?.livenessProbe?.httpGet, { path: '/app-health/web/liveness', port: 15021, scheme: 'HTTP' });
      assert.equal(p.metadata.annotations?.['kubectl.kubernetes.io/default-container'], 'web');
      // splice's own containers never get the pod's API token.
      for (const c of (p.spec.initContainers ?? []).filter((c) => c.name.startsWith('splice-'))) {
        const mounts = (c.volumeMounts as Array<{ name: string }> | undefined) ?? [];
        assert.ok(!mounts.some((m) => m.name.startsWith('kube-api-access-')), `${c.name} mounts the API token`);
      }
    }
    // One call per pod: the ServiceAccount plugin, run again after splice's patch, finds
    // nothing to add to splice's containers, so the API server does not call splice again.
    assert.equal((await spliceCalls()) - callsBefore, 2);
  });

  test('2. a pod annotated splice.dev/inject: "false" in that namespace is not touched', () => {
    const r = apply(podManifest('opted-out', 'e2e-enabled', { annotations: { 'splice.dev/inject': 'false' } }));
    assert.equal(r.code, 0, r.stderr);
    const p = pod('e2e-enabled', 'opted-out');
    assert.equal(isInjected(p), false);
    assert.deepEqual(names(p.spec.initContainers), []);
  });

  test('3. an unlabeled namespace: untouched, except a pod labeled splice.dev/inject: "true"', () => {
    assert.equal(apply(podManifest('plain', 'e2e-plain')).code, 0);
    assert.equal(isInjected(pod('e2e-plain', 'plain')), false);
    assert.equal(apply(podManifest('opted-in', 'e2e-plain', { labels: { 'splice.dev/inject': 'true' } })).code, 0);
    assertInjected(pod('e2e-plain', 'opted-in'));
  });

  test('4. a disabled namespace: untouched, even an opted-in pod', () => {
    assert.equal(apply(podManifest('opted-in', 'e2e-disabled', { labels: { 'splice.dev/inject': 'true' }, annotations: { 'splice.dev/inject': 'true' } })).code, 0);
    assert.equal(isInjected(pod('e2e-disabled', 'opted-in')), false);
  });

  test('6. StatefulSet, DaemonSet, Job and a Job from a CronJob get injected pods (native sidecar for Jobs)', async () => {
    const template = (app: string, restartPolicy?: string) => ({
      metadata: { labels: { app } },
      spec: { ...(restartPolicy ? { restartPolicy } : {}), containers: [{ name: 'main', image: `example.com/${app}:1` }] },
    });
    const objects = [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'e2e-enabled' }, spec: { serviceName: 'db', replicas: 1, selector: { matchLabels: { app: 'db' } }, template: template('db') } },
      { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'e2e-enabled' }, spec: { selector: { matchLabels: { app: 'agent' } }, template: template('agent') } },
      { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'report', namespace: 'e2e-enabled' }, spec: { template: template('report', 'Never') } },
      { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: 'e2e-enabled' }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: template('nightly', 'Never') } } } },
    ];
    for (const o of objects) {
      const r = apply(o);
      assert.equal(r.code, 0, r.stderr);
    }
    ok(['-n', 'e2e-enabled', 'create', 'job', 'nightly-now', '--from=cronjob/nightly']);
    const [db] = await podsOf('e2e-enabled', 'app=db', 1);
    assert.ok(db);
    assertInjected(db);
    const [report] = await podsOf('e2e-enabled', 'app=report', 1);
    assert.ok(report);
    assertInjected(report);
    const [nightly] = await podsOf('e2e-enabled', 'app=nightly', 1);
    assert.ok(nightly);
    assertInjected(nightly);
    assert.equal(nightly.metadata.ownerReferences?.[0]?.name, 'nightly-now');
    // There is no kubelet, but a Node object is all the DaemonSet controller needs to
    // create a pod for it (see before()).
    const [agent] = await podsOf('e2e-enabled', 'app=agent', 1);
    assert.ok(agent);
    assertInjected(agent);
  });

  test('7. kubectl apply --dry-run=server shows the injected pod and persists nothing', () => {
    const out = ok(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(podManifest('dry', 'e2e-enabled')) });
    assertInjected(JSON.parse(out) as PodJson);
    const r = kubectl(['-n', 'e2e-enabled', 'get', 'pod', 'dry']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NotFound|not found/);
  });

  test('8. an invalid override annotation: kubectl prints an error naming the key and the value', () => {
    const r = apply(podManifest('bad', 'e2e-enabled', { annotations: { 'splice.dev/proxy-cpu': 'lots' } }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /denied the request: .*splice\.dev\/proxy-cpu: "lots"/);
    assert.notEqual(kubectl(['-n', 'e2e-enabled', 'get', 'pod', 'bad']).code, 0, 'nothing stored');
  });
});
