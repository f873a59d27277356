// Leader election on a coordination.k8s.io Lease, so that exactly one `splice serve`
// writes identity Secrets. The rules are client-go's (tools/leaderelection), which every
// Kubernetes controller relies on:
//
// - A candidate takes the Lease when it is free (no holder) or when its record has not
//   changed for a whole lease duration *as timed by the candidate's own clock* since it
//   first saw that record. Clocks of different machines never get compared.
// - Every write to the Lease carries the resourceVersion read, so of two candidates
//   racing for it the API server lets exactly one through (the other gets a 409).
// - The leader renews every retry period; if it has not renewed for the renew deadline
//   (shorter than the lease duration), it stops leading, before anyone else may start.
// - Each change of holder increments leaseTransitions: that number is the leader's term,
//   and everything it writes is stamped with it.
//
// Fencing for the writes themselves: `isLeader()` is true only while the last successful
// renewal is younger than the renew deadline. A standby waits a full lease duration
// after the last renewal it saw, so the gap between the two (a third of the lease
// duration) absorbs slow requests and scheduling pauses.

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeKubeError, isConflict, isNotFound } from './errors.js';

export interface LeaseRecord {
  holder: string;
  durationSeconds: number;
  acquireTime: Date;
  renewTime: Date;
  transitions: number;
  resourceVersion?: string;
}

/** The Lease calls the elector makes (a fake in tests). create/update throw a 409 error on a lost race. */
export interface LeaseApi {
  read(): Promise<LeaseRecord | undefined>;
  create(record: LeaseRecord): Promise<LeaseRecord>;
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface ElectorOptions {
  api: LeaseApi;
  identity: string;
  leaseDurationMs: number;
  logger: Logger;
  onStartedLeading?: (term: number) => void;
  onStoppedLeading?: () => void;
  /** Monotonic milliseconds (tests move it by hand). */
  monotonic?: () => number;
  /** Wall-clock time written into the Lease. */
  now?: () => Date;
}

/** client-go's defaults keep these ratios: 15 s lease, 10 s renew deadline, 2 s retry. */
export const timings = (leaseDurationMs: number) => ({
  renewDeadlineMs: Math.round((leaseDurationMs * 2) / 3),
  retryPeriodMs: Math.max(250, Math.round(leaseDurationMs / 7.5)),
});

/** A name that tells replicas apart: the pod name in a cluster, plus a random suffix (two processes may share a host). */
export function candidateIdentity(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.POD_NAME?.trim() || hostname()}_${randomBytes(4).toString('hex')}`;
}

export class LeaderElector {
  readonly #o: Required<Omit<ElectorOptions, 'onStartedLeading' | 'onStoppedLeading'>> & Pick<ElectorOptions, 'onStartedLeading' | 'onStoppedLeading'>;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  #leading = false;
  #term = -1;
  #lastRenewed = Number.NEGATIVE_INFINITY;
  /** The last Lease record seen, when (monotonic) it was first seen, and when it runs out. */
  #observed: { key: string; at: number; expires: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #running: Promise<void> | undefined;

  constructor(options: ElectorOptions) {
    this.#o = { monotonic: () => performance.now(), now: () => new Date(), ...options };
    ({ renewDeadlineMs: this.#renewDeadlineMs, retryPeriodMs: this.#retryPeriodMs } = timings(options.leaseDurationMs));
  }

  get identity(): string {
    return this.#o.identity;
  }

  /** True only while this candidate holds the Lease and renewed it within the renew deadline. */
  isLeader(): boolean {
    return this.#leading && this.#o.monotonic() - this.#lastRenewed < this.#renewDeadlineMs;
  }

  /** leaseTransitions when this candidate took the Lease; -1 when it never led. */
  term(): number {
    return this.#term;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const loop = async () => {
      if (this.#stopped) return;
      this.#running = this.tick();
      await this.#running;
      if (!this.#stopped) this.#timer = setTimeout(() => void loop(), this.#nextTryMs());
    };
    void loop();
  }

  /** Stops campaigning; a leader hands the Lease back so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
    if (this.#leading) {
      this.#stepDown('stopping');
      await this.#release();
    }
  }

  /**
   * A leader renews every retry period. A standby looks twice as often, so it sees the
   * last renewal of a leader that died at most half a retry period late, and it tries
   * again exactly when the Lease runs out rather than up to a retry period after.
   */
  #nextTryMs(): number {
    const half = Math.round(this.#retryPeriodMs / 2);
    if (this.#leading || this.#observed === undefined) return this.#leading ? this.#retryPeriodMs : half;
    const untilExpiry = this.#observed.expires - this.#o.monotonic();
    return Math.max(10, Math.min(half, Math.ceil(untilExpiry)));
  }

  /** One attempt to take or renew the Lease (the loop calls it every retry period). */
  async tick(): Promise<void> {
    let ok = false;
    try {
      ok = await this.#tryAcquireOrRenew();
    } catch (err) {
      this.#o.logger.warn({ err: describeKubeError(err), leading: this.#leading }, 'leader election: the Lease could not be read or written');
    }
    if (ok) {
      this.#lastRenewed = this.#o.monotonic();
    } else if (this.#leading && this.#o.monotonic() - this.#lastRenewed >= this.#renewDeadlineMs) {
      this.#stepDown('the Lease was not renewed within the renew deadline');
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#o.now();
    const me = this.#o.identity;
    const durationSeconds = Math.max(1, Math.round(this.#o.leaseDurationMs / 1000));
    const current = await this.#o.api.read();
    if (current === undefined) {
      const created = await this.#write(() =>
        this.#o.api.create({ holder: me, durationSeconds, acquireTime: now, renewTime: now, transitions: 0 }),
      );
      if (created) {
        this.#lastRenewed = this.#o.monotonic();
        this.#startLeading(created.transitions);
      }
      return created !== undefined;
    }

    const key = `${current.holder} ${current.renewTime.getTime()} ${current.transitions}`;
    if (this.#observed?.key !== key) {
      const at = this.#o.monotonic();
      this.#observed = { key, at, expires: at + current.durationSeconds * 1000 };
    }
    const mine = current.holder === me;
    const free = current.holder === '' || this.#o.monotonic() >= this.#observed.expires;
    if (!mine && !free) {
      if (this.#leading) this.#stepDown(`the Lease is held by ${current.holder}`);
      return false;
    }
    const next: LeaseRecord = {
      holder: me,
      durationSeconds,
      acquireTime: mine ? current.acquireTime : now,
      renewTime: now,
      transitions: mine ? current.transitions : current.transitions + 1,
      ...(current.resourceVersion !== undefined ? { resourceVersion: current.resourceVersion } : {}),
    };
    const written = await this.#write(() => this.#o.api.update(next));
    if (!written) return false;
    const at = this.#o.monotonic();
    this.#observed = { key: `${written.holder} ${written.renewTime.getTime()} ${written.transitions}`, at, expires: at + written.durationSeconds * 1000 };
    // Renewed before the callback runs: it may write at once, and writes check isLeader().
    this.#lastRenewed = this.#o.monotonic();
    if (!mine || !this.#leading) this.#startLeading(written.transitions);
    return true;
  }

  /** The write, or undefined when another candidate won the race (409). */
  async #write(call: () => Promise<LeaseRecord>): Promise<LeaseRecord | undefined> {
    try {
      return await call();
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  #startLeading(term: number): void {
    this.#leading = true;
    this.#term = term;
    this.#o.logger.info({ identity: this.#o.identity, term }, 'leader election: leading');
    this.#o.onStartedLeading?.(term);
  }

  #stepDown(why: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.logger.warn({ identity: this.#o.identity, term: this.#term, why }, 'leader election: no longer leading');
    this.#o.onStoppedLeading?.();
  }

  // As client-go's ReleaseOnCancel: no holder, so a standby takes the Lease on its next try.
  async #release(): Promise<void> {
    try {
      const current = await this.#o.api.read();
      if (current === undefined || current.holder !== this.#o.identity) return;
      const now = this.#o.now();
      await this.#o.api.update({ ...current, holder: '', durationSeconds: 1, renewTime: now });
      this.#o.logger.info({ identity: this.#o.identity }, 'leader election: Lease released');
    } catch (err) {
      this.#o.logger.warn({ err: describeKubeError(err) }, 'leader election: the Lease could not be released; a standby takes over once it expires');
    }
  }
}

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v ?? 0)));

function toRecord(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holder: spec.holderIdentity ?? '',
    durationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: toDate(spec.acquireTime),
    renewTime: toDate(spec.renewTime),
    transitions: spec.leaseTransitions ?? 0,
    ...(lease.metadata?.resourceVersion !== undefined ? { resourceVersion: lease.metadata.resourceVersion } : {}),
  };
}

function toLease(name: string, namespace: string, r: LeaseRecord): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(r.resourceVersion !== undefined ? { resourceVersion: r.resourceVersion } : {}) },
    spec: {
      holderIdentity: r.holder,
      leaseDurationSeconds: r.durationSeconds,
      // MicroTime: the API server wants six digits of fraction, which V1MicroTime writes.
      acquireTime: new V1MicroTime(r.acquireTime.getTime()),
      renewTime: new V1MicroTime(r.renewTime.getTime()),
      leaseTransitions: r.transitions,
    },
  };
}

/** The Lease `name` in `namespace`. API calls: leases get, create, update. */
export function clusterLeaseApi(kc: KubeConfig, namespace: string, name: string): LeaseApi {
  const api = kc.makeApiClient(CoordinationV1Api);
  return {
    read: async () => {
      try {
        return toRecord(await api.readNamespacedLease({ name, namespace }));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    create: async (r) => toRecord(await api.createNamespacedLease({ namespace, body: toLease(name, namespace, r) })),
    update: async (r) => toRecord(await api.replaceNamespacedLease({ name, namespace, body: toLease(name, namespace, r) })),
  };
}
