// Scenario 4: a Job, and a Job made by a CronJob's controller, run to completion with
// their native sidecar proxy: the app container exits, the kubelet stops the proxy, the
// pod ends Succeeded and the Job Complete.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getJson, waitFor } from '../e2e/lib/kubectl.js';
import type { List } from '../e2e/lib/objects.js';
import { allStatuses, appContainer, create, deleteNamespace, freshNamespace, logs, pods, type Pod } from './lib/node.js';

const NS = 'node-jobs';
// The app's own call goes out through its proxy (plain HTTP to the kubernetes Service's
// HTTPS port: any answer will do), then it exits.
const work = { command: ['node', '/app/app.js', 'call', 'http://198.19.0.1:443/'] };
const jobSpec = { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [appContainer({ container: work })] } } };

interface JobJson {
  metadata: { name: string; ownerReferences?: Array<{ kind: string; name: string }> };
  status: { conditions?: Array<{ type: string; status: string }>; succeeded?: number; failed?: number };
}
const complete = (j: JobJson) => j.status.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ?? false;

before(async () => {
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled' });
  create(
    { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once', namespace: NS }, spec: jobSpec },
    // Every minute: the controller makes its first Job within 60 s.
    { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: NS }, spec: { schedule: '* * * * *', concurrencyPolicy: 'Forbid', jobTemplate: { spec: jobSpec } } },
  );
});
after(() => deleteNamespace(NS));

function checkSucceeded(p: Pod): void {
  assert.equal(p.status.phase, 'Succeeded', `${p.metadata.name} is ${p.status.phase}`);
  const proxy = p.spec.initContainers?.find((c) => c.name === 'splice-proxy');
  assert.equal(proxy?.restartPolicy, 'Always', 'the proxy is a native sidecar');
  for (const s of allStatuses(p)) assert.ok(s.state.terminated, `${s.name} of ${p.metadata.name} has not terminated`);
  const app = allStatuses(p).find((s) => s.name === 'app');
  assert.equal(app?.state.terminated?.exitCode, 0);
  // The call got an HTTP answer (the API server's, to plain HTTP), not a connection error.
  assert.match(logs(NS, p.metadata.name, 'app'), /^\d{3} /m);
}

test('4. a Job completes with its native sidecar; the pod ends Succeeded', async () => {
  const job = await waitFor('Job once to complete', () => {
    const j = getJson<JobJson>(['-n', NS, 'get', 'job', 'once']);
    assert.equal(j.status.failed ?? 0, 0, 'the Job failed');
    return complete(j) ? j : undefined;
  }, 90_000);
  assert.equal(job.status.succeeded, 1);
  const [p] = pods(NS, 'job-name=once');
  assert.ok(p);
  checkSucceeded(p);
});

test('4. a Job made by a CronJob completes the same way', async () => {
  const job = await waitFor('the CronJob to make a Job that completes', () => {
    const jobs = getJson<List<JobJson>>(['-n', NS, 'get', 'jobs']).items.filter((j) => j.metadata.ownerReferences?.some((o) => o.kind === 'CronJob' && o.name === 'nightly'));
    for (const j of jobs) assert.equal(j.status.failed ?? 0, 0, `Job ${j.metadata.name} failed`);
    return jobs.find(complete);
  }, 150_000);
  const [p] = pods(NS, `job-name=${job.metadata.name}`);
  assert.ok(p);
  checkSucceeded(p);
});
