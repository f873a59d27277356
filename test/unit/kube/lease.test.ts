// Leader election against a Lease store that behaves as the API server does for one
// object: every write must carry the resourceVersion last read, or it is a 409. Time is
// moved by hand; the real API server and two real processes are the end-to-end test's.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { LeaderElector, timings, type LeaseApi, type LeaseRecord } from '../../../src/kube/lease.js';

const LEASE_MS = 15_000;
const { renewDeadlineMs, retryPeriodMs } = timings(LEASE_MS);

class Store {
  record: LeaseRecord | undefined;
  rv = 0;
  writes: Array<{ holder: string; transitions: number }> = [];
  failing = false;

  api(): LeaseApi {
    const conflict = () => Object.assign(new Error('conflict'), { code: 409 });
    const check = () => {
      if (this.failing) throw Object.assign(new Error('unavailable'), { code: 503 });
    };
    return {
      read: async () => {
        check();
        return this.record && { ...this.record };
      },
      create: async (r) => {
        check();
        if (this.record) throw conflict();
        return this.#save(r);
      },
      update: async (r) => {
        check();
        if (!this.record || r.resourceVersion !== this.record.resourceVersion) throw conflict();
        return this.#save(r);
      },
    };
  }

  #save(r: LeaseRecord): LeaseRecord {
    this.record = { ...r, resourceVersion: String(++this.rv) };
    this.writes.push({ holder: r.holder, transitions: r.transitions });
    return { ...this.record };
  }
}

function candidate(store: Store, identity: string, clock: { ms: number }) {
  const events: string[] = [];
  const elector = new LeaderElector({
    api: store.api(),
    identity,
    leaseDurationMs: LEASE_MS,
    logger: pino({ level: 'silent' }),
    monotonic: () => clock.ms,
    now: () => new Date(1_800_000_000_000 + clock.ms),
    // The callback may write at once, so the elector must already count as leader then.
    onStartedLeading: (term) => events.push(`lead ${term}${elector.isLeader() ? '' : ' but isLeader() is false'}`),
    onStoppedLeading: () => events.push('stop'),
  });
  return { elector, events };
}

/** Two candidates on one store, each having tried once: a leads in term 0, b stands by. */
async function pair() {
  const store = new Store();
  const clock = { ms: 0 };
  const a = candidate(store, 'a', clock);
  const b = candidate(store, 'b', clock);
  await a.elector.tick();
  await b.elector.tick();
  return { store, clock, a, b };
}

describe('leader election', () => {
  test('the first candidate creates the Lease and leads in term 0; the second waits while it renews', async () => {
    const { store, clock, a, b } = await pair();
    assert.deepEqual(a.events, ['lead 0']);
    assert.equal(a.elector.isLeader(), true);
    for (let t = 0; t < 10 * LEASE_MS; t += retryPeriodMs) {
      clock.ms += retryPeriodMs;
      await a.elector.tick();
      await b.elector.tick();
    }
    assert.equal(b.elector.isLeader(), false);
    assert.deepEqual(b.events, []);
    assert.equal(store.record?.holder, 'a');
  });

  test('a dead leader: the standby takes over one lease duration after the last renewal it saw, in a new term', async () => {
    const { clock, b } = await pair();
    const lastRenewal = clock.ms;
    // a dies: only b keeps trying.
    while (!b.elector.isLeader()) {
      clock.ms += retryPeriodMs;
      await b.elector.tick();
      if (clock.ms - lastRenewal < LEASE_MS) assert.equal(b.elector.isLeader(), false, `b led ${clock.ms - lastRenewal} ms after a's last renewal`);
    }
    assert.ok(clock.ms - lastRenewal <= LEASE_MS + retryPeriodMs);
    assert.deepEqual(b.events, ['lead 1']);
    assert.equal(b.elector.term(), 1);
  });

  test('fencing: a leader that could not renew stops counting as leader after the renew deadline, before anyone may take over', async () => {
    const store = new Store();
    const clock = { ms: 0 };
    const a = candidate(store, 'a', clock);
    await a.elector.tick();
    store.failing = true;
    clock.ms += renewDeadlineMs - 1;
    assert.equal(a.elector.isLeader(), true);
    clock.ms += 1;
    // Even before its next attempt: writes check isLeader().
    assert.equal(a.elector.isLeader(), false);
    assert.ok(renewDeadlineMs < LEASE_MS);
    await a.elector.tick();
    assert.deepEqual(a.events, ['lead 0', 'stop']);
  });

  test('two candidates racing for a free Lease: the API server lets one through', async () => {
    const store = new Store();
    const clock = { ms: 0 };
    const a = candidate(store, 'a', clock);
    const b = candidate(store, 'b', clock);
    await Promise.all([a.elector.tick(), b.elector.tick()]);
    assert.equal([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean).length, 1);
    // And again when the Lease is handed back.
    const leader = a.elector.isLeader() ? a : b;
    await leader.elector.stop();
    const c = candidate(store, 'c', clock);
    const d = candidate(store, 'd', clock);
    await Promise.all([c.elector.tick(), d.elector.tick()]);
    assert.equal([c.elector.isLeader(), d.elector.isLeader()].filter(Boolean).length, 1);
    // Every term in the Lease's history had one holder.
    const holders = new Map<number, Set<string>>();
    for (const w of store.writes.filter((x) => x.holder !== '')) holders.set(w.transitions, (holders.get(w.transitions) ?? new Set()).add(w.holder));
    for (const [term, set] of holders) assert.equal(set.size, 1, `term ${term}: ${[...set].join(', ')}`);
  });

  test('a leader that stops hands the Lease back: the standby leads on its next try', async () => {
    const { store, clock, a, b } = await pair();
    await a.elector.stop();
    assert.equal(store.record?.holder, '');
    assert.equal(a.elector.isLeader(), false);
    clock.ms += retryPeriodMs;
    await b.elector.tick();
    assert.equal(b.elector.isLeader(), true);
    assert.equal(b.elector.term(), 1);
  });
});
