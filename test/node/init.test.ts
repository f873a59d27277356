// Scenario 8: splice-init as the injection renders it, in a real pod sandbox on the
// node, with only NET_ADMIN and NET_RAW. The injected container is copied out of a
// pod splice made and run here twice in a row (what a restart of it does), once as
// rendered (IPv4 only) and once with --ipv6 true (the node's pods have IPv6); a third
// container with the same capabilities reads back the nat tables.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '../e2e/lib/kubectl.js';
import { appContainer, create, deleteNamespace, deployment, freshNamespace, logs, pod, pods, rollout } from './lib/node.js';

const MESHED = 'node-init';
const PLAIN = 'node-init-copy';
let init: { image: string; args: string[]; env: unknown[]; securityContext: Record<string, unknown>; volumeMounts: Array<{ name: string; mountPath: string }>; [key: string]: unknown };

before(async () => {
  await freshNamespace(MESHED, { 'splice.dev/inject': 'enabled' });
  await freshNamespace(PLAIN);
  create(deployment(MESHED, 'web'));
  rollout(MESHED, 'web');
  const [p] = pods(MESHED, 'app=web');
  const c = p?.spec.initContainers?.find((i) => i.name === 'splice-init');
  assert.ok(c, 'the injected pod has no splice-init');
  init = c as unknown as typeof init;
});
after(() => {
  deleteNamespace(MESHED);
  deleteNamespace(PLAIN);
});

test('8. splice-init runs with only NET_ADMIN and NET_RAW, from the splice image', () => {
  assert.deepEqual(init.securityContext.capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
  assert.equal(init.securityContext.privileged, false);
  assert.equal(init.securityContext.allowPrivilegeEscalation, false);
  assert.match(init.image, /^ghcr\.io\/splice-dev\/splice:/);
});

async function runTwice(name: string, args: string[]): Promise<{ first: string; second: string; tables: string }> {
  // The container as injected (its env, for the bootstrap input's $(POD_IP), and its
  // mounts: the iptables lock, the proxy's bootstrap, no API token), over empty volumes.
  const copy = (n: string) => ({ name: n, image: init.image, imagePullPolicy: 'Never', command: ['splice'], args, env: init.env, securityContext: init.securityContext, volumeMounts: init.volumeMounts });
  const dump = {
    ...copy('dump'),
    command: ['bash', '-c', 'grep CapEff /proc/self/status; iptables-save -t nat; echo ---ipv6---; ip6tables-save -t nat'],
    args: [],
  };
  create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: PLAIN },
    spec: {
      initContainers: [copy('first'), copy('second'), dump],
      containers: [appContainer()],
      volumes: init.volumeMounts.map((m) => ({ name: m.name, emptyDir: { medium: 'Memory' } })),
    },
  });
  await waitFor(`pod ${name} to run its app`, () => {
    const p = pod(PLAIN, name);
    const bad = (p.status.initContainerStatuses ?? []).find((s) => (s.state.terminated?.exitCode ?? 0) !== 0 || s.restartCount > 0);
    assert.equal(bad, undefined, `init container ${bad?.name} failed: ${JSON.stringify(bad?.state)}`);
    return p.status.phase === 'Running' ? true : undefined;
  }, 60_000);
  return { first: logs(PLAIN, name, 'first'), second: logs(PLAIN, name, 'second'), tables: logs(PLAIN, name, 'dump') };
}

const lines = (log: string) => log.split('\n').sort();

/** The rule lines of one table dump (comments and counters left out). */
const rules = (dump: string) => dump.split('\n').filter((l) => l.startsWith('-A '));

test('8. as rendered: IPv4 rules installed, IPv6 left alone; a second run leaves the same rules, not twice as many', async () => {
  const { first, second, tables } = await runTwice('ipv4', init.args);
  assert.match(first, /IPv4: nat table installed with iptables-restore/);
  // Line by line: the log interleaves stdout and stderr in whichever order they arrived.
  assert.deepEqual(lines(second), lines(first), 'the second run did something else than the first');
  // NET_ADMIN (bit 12) and NET_RAW (bit 13), nothing else.
  assert.match(tables, /CapEff:\s+0000000000003000/);
  const [v4, v6] = tables.split('---ipv6---') as [string, string];
  const installed = rules(first);
  assert.ok(installed.length >= 8, `too few rules: ${installed.join('\n')}`);
  // iptables-save spells some rules its own way (-m tcp...): the count is what must match.
  assert.equal(rules(v4).filter((l) => l.includes('SPLICE_')).length, installed.length, v4);
  assert.deepEqual(rules(v6), []);
});

test('8. with --ipv6 true: IPv6 rules too, in the pod\'s own IPv6 stack; a second run again the same', async () => {
  const args = [...init.args];
  const i = args.indexOf('--ipv6');
  assert.ok(i >= 0, 'splice-init has no --ipv6 argument');
  args[i + 1] = 'true';
  const { first, second, tables } = await runTwice('ipv6', args);
  assert.match(first, /IPv6: nat table installed with ip6tables-restore/);
  assert.deepEqual(lines(second), lines(first));
  const [, v6] = tables.split('---ipv6---') as [string, string];
  assert.ok(rules(v6).some((l) => /REDIRECT --to-ports 15006/.test(l)), v6);
  assert.equal(rules(v6).length, new Set(rules(v6)).size, 'a rule is there twice');
});
