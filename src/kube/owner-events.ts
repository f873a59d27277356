// Writes the Events of src/webhook/skip-events.ts: one core/v1 Event per owner and reason
// (from each splice replica that saw such a pod),
// type Warning, reason NotMeshed, on the owner itself (a ReplicaSet, a Job, …), so
// `kubectl describe` of it and `kubectl get events` show why its pods run without the proxy.
//
// As client-go's event recorder does, a repeat of the same owner, reason and message within
// ten minutes does not make a new Event: the existing one's count and lastTimestamp are
// patched, at most once every PATCH_INTERVAL_MS per Event (repeats in between are added up).
// Creations share one token bucket, so a burst of skips across many owners cannot turn into
// a burst of writes; past it notices are dropped and counted in the log. All of it runs off
// the admission path: record() only queues.
//
// API calls: events create, patch (JSON patch of count and lastTimestamp).

import { createHash } from 'node:crypto';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { SkipEvents, SkipNotice } from '../webhook/skip-events.js';
import { describeKubeError } from './errors.js';

export type EventsApi = Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;

export const EVENT_REASON = 'NotMeshed';
/** How long a repeat counts on the same Event, as client-go's aggregation window. */
export const SERIES_WINDOW_MS = 10 * 60_000;
export const PATCH_INTERVAL_MS = 30_000;
const BUCKET = { burst: 25, perSecond: 5 };
const MAX_SERIES = 4096;

interface Series {
  /** Its key in the map: owner uid, reason and message. */
  key: string;
  name: string | undefined;
  notice: SkipNotice;
  firstMs: number;
  lastMs: number;
  count: number;
  /** The count the API server has. */
  written: number;
  lastWriteMs: number;
  timer: NodeJS.Timeout | undefined;
  busy: boolean;
}

export interface OwnerEventOptions {
  api: EventsApi;
  logger: Logger;
  /** This replica's name (POD_NAME), as reportingInstance. */
  instance: string;
  now?: () => number;
  patchIntervalMs?: number;
}

export class OwnerEvents implements SkipEvents {
  readonly #o: OwnerEventOptions;
  readonly #series = new Map<string, Series>();
  #tokens = BUCKET.burst;
  #refilledMs: number;
  #dropped = 0;
  #stopped = false;

  constructor(o: OwnerEventOptions) {
    this.#o = o;
    this.#refilledMs = this.#now();
  }

  record(notice: SkipNotice): void {
    if (this.#stopped) return;
    const now = this.#now();
    const key = `${notice.owner.uid}\u0000${notice.reason}\u0000${notice.message}`;
    const known = this.#series.get(key);
    if (known && now - known.firstMs < SERIES_WINDOW_MS) {
      known.count += 1;
      known.lastMs = now;
      this.#schedule(known);
      return;
    }
    if (known?.timer) clearTimeout(known.timer);
    if (!this.#take(now)) {
      this.#dropped += 1;
      if (this.#dropped === 1 || this.#dropped % 100 === 0) this.#o.logger.warn({ dropped: this.#dropped }, 'too many pods skipped at once: NotMeshed Events dropped (each skip is still in the decision log)');
      return;
    }
    if (this.#series.size >= MAX_SERIES) this.#evict(now);
    const series: Series = { key, name: undefined, notice, firstMs: now, lastMs: now, count: 1, written: 0, lastWriteMs: now, timer: undefined, busy: false };
    this.#series.set(key, series);
    setImmediate(() => void this.#create(series));
  }

  /** Stops writing; pending repeats are not written. */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#series.values()) if (s.timer) clearTimeout(s.timer);
  }

  /** Drops `s`, so the next skip of its owner starts a new Event (unless a newer series took its place). */
  #forget(s: Series): void {
    if (this.#series.get(s.key) === s) this.#series.delete(s.key);
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  #take(now: number): boolean {
    this.#tokens = Math.min(BUCKET.burst, this.#tokens + ((now - this.#refilledMs) / 1000) * BUCKET.perSecond);
    this.#refilledMs = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #evict(now: number): void {
    for (const [key, s] of this.#series) if (now - s.firstMs >= SERIES_WINDOW_MS && !s.busy) this.#series.delete(key);
    if (this.#series.size < MAX_SERIES) return;
    const oldest = this.#series.keys().next().value;
    if (oldest !== undefined) this.#series.delete(oldest);
  }

  #schedule(s: Series): void {
    if (s.timer || s.busy || s.name === undefined || this.#stopped) return;
    const wait = Math.max(0, s.lastWriteMs + (this.#o.patchIntervalMs ?? PATCH_INTERVAL_MS) - this.#now());
    s.timer = setTimeout(() => {
      s.timer = undefined;
      void this.#patch(s);
    }, wait);
    s.timer.unref();
  }

  async #create(s: Series): Promise<void> {
    if (this.#stopped) return;
    const { notice } = s;
    // A name of the owner's, unique per series: Events are never read back, so nothing has
    // to find this one again but this replica.
    const digest = createHash('sha256').update(`${notice.owner.uid} ${notice.reason} ${notice.message} ${s.firstMs} ${this.#o.instance}`).digest('hex').slice(0, 12);
    const body: CoreV1Event = {
      // A DNS subdomain: the owner's name is one, cut so it does not end in '-' or '.'.
      metadata: { name: `${notice.owner.name.slice(0, 200).replace(/[-.]+$/, '')}.${digest}`, namespace: notice.namespace },
      involvedObject: { apiVersion: notice.owner.apiVersion, kind: notice.owner.kind, name: notice.owner.name, namespace: notice.namespace, uid: notice.owner.uid },
      reason: EVENT_REASON,
      message: `pod ${notice.pod} was created without splice-proxy: ${notice.message}`,
      type: 'Warning',
      source: { component: 'splice' },
      reportingComponent: 'splice',
      reportingInstance: this.#o.instance,
      firstTimestamp: new Date(s.firstMs),
      lastTimestamp: new Date(s.firstMs),
      count: 1,
    };
    s.busy = true;
    try {
      await this.#o.api.createNamespacedEvent({ namespace: notice.namespace, body });
      s.name = body.metadata?.name;
      s.written = 1;
      s.lastWriteMs = this.#now();
    } catch (err) {
      this.#o.logger.warn({ err: describeKubeError(err), owner: `${notice.owner.kind}/${notice.owner.name}`, namespace: notice.namespace }, 'could not record the NotMeshed Event');
      // Forgotten, so the next skip of this owner tries again (within the rate limit).
      this.#forget(s);
      return;
    } finally {
      s.busy = false;
    }
    if (s.count > s.written) this.#schedule(s);
  }

  async #patch(s: Series): Promise<void> {
    if (this.#stopped || s.name === undefined || s.count === s.written) return;
    const count = s.count;
    s.busy = true;
    try {
      await this.#o.api.patchNamespacedEvent({
        name: s.name,
        namespace: s.notice.namespace,
        body: [
          { op: 'replace', path: '/count', value: count },
          { op: 'replace', path: '/lastTimestamp', value: new Date(s.lastMs).toISOString() },
        ],
      });
      s.written = count;
      s.lastWriteMs = this.#now();
    } catch (err) {
      // The Event may have expired (its TTL) or been deleted: the next repeat starts anew.
      this.#o.logger.warn({ err: describeKubeError(err), event: `${s.notice.namespace}/${s.name}` }, 'could not update the NotMeshed Event');
      this.#forget(s);
      return;
    } finally {
      s.busy = false;
    }
    if (s.count > s.written) this.#schedule(s);
  }
}
