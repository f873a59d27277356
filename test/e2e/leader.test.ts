// Scenario 14: two `splice serve` processes elect one leader on the Lease
// splice-identity. Killing the leader (SIGKILL: no hand-back) makes the other take over
// once the lease runs out, a lease duration after the last renewal, and go on issuing
// and renewing. Through the whole run a
// watch records every version of the Lease and of the identity Secrets: each term of
// the Lease has one holder, and every Secret version written in a term was written by
// that term's holder, so the two never wrote in the same term.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { apply, ok, waitFor } from './lib/kubectl.js';
import { appears, metric, secret } from './lib/identity.js';
import { namespaceManifest } from './lib/objects.js';
import { installManifests, scratchDir, startSplice, type SpliceProcess } from './lib/splice.js';

const NS = 'e2e-leader';
const LEASE_MS = 15_000;
const RETRY_MS = 2000;
const LIFETIME_S = 60;

interface Version {
  holder?: string;
  /** The Lease's renewTime and acquireTime (ms): both processes run on this host, so one clock. */
  renewMs?: number;
  acquireMs?: number;
  term?: number;
  writer?: string;
  name: string;
  rv: string;
}
const leaseHistory: Version[] = [];
const secretHistory: Version[] = [];
const aborts: AbortController[] = [];
const running: SpliceProcess[] = [];

async function record(path: string, into: Version[], read: (o: { metadata: { name: string; resourceVersion: string; annotations?: Record<string, string> }; spec?: Record<string, unknown> }) => Version): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const controller = await new Watch(kc).watch(
    path,
    {},
    (phase, obj) => {
      if (phase === 'ADDED' || phase === 'MODIFIED') into.push(read(obj));
    },
    () => undefined,
  );
  aborts.push(controller);
}

const leads = async (p: SpliceProcess): Promise<boolean> => (await metric(p.metricsPort, 'splice_identity_leader').catch(() => undefined)) === 1;

before(async () => {
  installManifests();
  ok(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true'], { timeout: 120 });
  assert.equal(apply(namespaceManifest(NS, { 'splice.dev/inject': 'enabled' })).code, 0);
  await record('/apis/coordination.k8s.io/v1/namespaces/splice-system/leases', leaseHistory, (o) => ({
    name: o.metadata.name,
    rv: o.metadata.resourceVersion,
    holder: String(o.spec?.holderIdentity ?? ''),
    term: Number(o.spec?.leaseTransitions ?? 0),
    renewMs: new Date(String(o.spec?.renewTime)).getTime(),
    acquireMs: new Date(String(o.spec?.acquireTime)).getTime(),
  }));
  await record(`/api/v1/namespaces/${NS}/secrets`, secretHistory, (o) => ({
    name: o.metadata.name,
    rv: o.metadata.resourceVersion,
    writer: o.metadata.annotations?.['splice.dev/written-by'],
    term: Number(o.metadata.annotations?.['splice.dev/lease-term']),
  }));
});
after(async () => {
  await Promise.all(running.map((p) => p.stop()));
  for (const a of aborts) a.abort();
});

describe('14. leader election between two splice serve processes', () => {
  let leader: SpliceProcess;
  let standby: SpliceProcess;

  test('14a. one leads: it alone writes the identity Secrets', async () => {
    const dir = scratchDir('leader');
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `identity:\n  certificateLifetimeSeconds: ${LIFETIME_S}\n`);
    const a = await startSplice({ args: ['--config', config] });
    running.push(a);
    // Taking over from a leader of an earlier scenario that was killed may take a lease duration.
    await waitFor('the first process to lead', async () => ((await leads(a)) ? true : undefined), LEASE_MS * 2 + 5000);
    const b = await startSplice({ port: 19444, metricsPort: 19091, args: ['--config', config] });
    running.push(b);
    await appears(NS, 'splice-identity-default', 10_000);
    // For a few retry periods, b must stay a standby.
    for (let i = 0; i < 10; i++) {
      assert.deepEqual([await leads(a), await leads(b)], [true, false]);
      await new Promise((r) => setTimeout(r, RETRY_MS / 2));
    }
    leader = a;
    standby = b;
    assert.ok(secretHistory.length > 0);
  });

  test(`14b. SIGKILL the leader: the standby takes the Lease once it expires, a lease duration (${LEASE_MS / 1000} s) after the last renewal, and issues`, async (t) => {
    const killed = Date.now();
    const old = leaseHistory.at(-1)?.holder;
    leader.child.kill('SIGKILL');
    await new Promise((r) => leader.child.once('exit', r));
    await waitFor('the standby to lead', async () => ((await leads(standby)) ? true : undefined), LEASE_MS * 2);
    const fromKill = Date.now() - killed;
    const lastRenewal = Math.max(...leaseHistory.filter((v) => v.holder === old).map((v) => v.renewMs ?? 0));
    const takeover = leaseHistory.find((v) => v.holder !== old && v.holder)?.acquireMs ?? Number.NaN;
    const expiredFor = takeover - lastRenewal;
    t.diagnostic(`the Lease was taken ${expiredFor} ms after the dead leader's last renewal (${fromKill} ms after the kill)`);
    // Never before the lease ran out (no two leaders), and then within the time the
    // standby needs to notice: it looks every half retry period (so it sees the last
    // renewal up to 1 s late) and tries again the moment the lease runs out by its own
    // clock; the other half period is room for a busy 2-core machine.
    assert.ok(expiredFor >= LEASE_MS, `taken ${expiredFor} ms after the last renewal, before the lease ran out`);
    assert.ok(expiredFor <= LEASE_MS + RETRY_MS, `taken ${expiredFor} ms after the last renewal`);
    assert.equal(apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'late', namespace: NS } }).code, 0);
    await appears(NS, 'splice-identity-late', 5000);
  });

  test(`14c. the new leader keeps renewing (lifetime ${LIFETIME_S} s): every Secret is renewed by it, none expires`, async () => {
    const term = Math.max(...leaseHistory.map((v) => v.term ?? 0));
    const holder = leaseHistory.find((v) => v.term === term && v.holder)?.holder;
    await waitFor(
      'both Secrets to be rewritten in the new term',
      () => {
        const mine = ['default', 'late'].map((sa) => secret(NS, `splice-identity-${sa}`)?.metadata.annotations);
        return mine.every((a) => a?.['splice.dev/lease-term'] === String(term) && a?.['splice.dev/written-by'] === holder) ? true : undefined;
      },
      LIFETIME_S * 1000,
    );
    assert.equal(await metric(standby.metricsPort, 'splice_identity_certificate_failures_total'), 0);
  });

  test('14d. the history: each Lease term had one holder, and every Secret version of a term was written by that holder', () => {
    const holders = new Map<number, Set<string>>();
    for (const v of leaseHistory) if (v.holder) holders.set(v.term ?? -1, (holders.get(v.term ?? -1) ?? new Set()).add(v.holder));
    for (const [term, set] of holders) assert.equal(set.size, 1, `Lease term ${term} had holders ${[...set].join(', ')}`);
    assert.ok(holders.size >= 2, `a takeover shows as a new term (terms seen: ${[...holders.keys()].join(', ')})`);
    const written = secretHistory.filter((v) => v.writer !== undefined);
    assert.ok(written.length > 0);
    for (const v of written) {
      const holder = [...(holders.get(v.term ?? -1) ?? [])][0];
      assert.equal(v.writer, holder, `Secret ${v.name}@${v.rv} written by ${v.writer} in term ${v.term}, whose holder was ${holder}`);
    }
    // And terms only move forward in the Secrets' history: once the new leader wrote,
    // nothing of the old term came after.
    let highest = -1;
    for (const v of written) {
      assert.ok((v.term ?? -1) >= highest, `Secret ${v.name}@${v.rv} of term ${v.term} after one of term ${highest}`);
      highest = Math.max(highest, v.term ?? -1);
    }
  });
});
