// The identity controller: keeps `splice-identity-<sa>` right for every service account
// that needs one, so the admission webhook never writes anything (sideEffects: None).
//
// Which service accounts: every one in a namespace where injection is on
// of any revision (`namespaceMeshed`), and every one used by a pod splice injected (an opted-in pod
// elsewhere). For each, the Secret is created, repaired when edited or deleted, renewed
// at two thirds of its lifetime and when the CA changes, and deleted once nothing needs
// it. A Secret is owned by its ServiceAccount, so deleting the account deletes it.
//
// Only the leader writes (lease.ts); every replica watches, so a standby takes over
// with warm caches. Work is a queue of "<namespace>/<serviceAccount>" keys: events
// enqueue the keys they touch, a timer per key enqueues it when its renewal is due, and
// a worker reconciles one key at a time from the caches, so any number of events for
// one key cost one reconcile. Every update carries the resourceVersion it was based
// on: a 409 means the cache was behind, and the key is simply done again.

import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { MeshCa } from '../identity/ca.js';
import { issueIdentity } from '../identity/issue.js';
import { assessSecret, identitySecret, renewalTime, type ObservedSecret } from '../identity/secret.js';
import type { Config } from '../inject/config.js';
import { namespaceMeshed } from '../inject/decide.js';
import { identitySecretName } from '../inject/keys.js';
import type { NamespaceFacts } from '../inject/types.js';
import type { IdentityMetrics } from '../webhook/metrics.js';
import { describeKubeError, isConflict, isNotFound } from './errors.js';
import { splitKey, type IdentityCaches } from './identity-caches.js';
import type { LeaderElector } from './lease.js';
import type { MeshCaStore } from './mesh-ca.js';

export type IdentitySecretsApi = Pick<CoreV1Api, 'readNamespacedSecret' | 'createNamespacedSecret' | 'replaceNamespacedSecret' | 'deleteNamespacedSecret'>;

export interface NamespaceView {
  ready(): boolean;
  all(): Iterable<NamespaceFacts>;
  cached(name: string): NamespaceFacts | undefined;
  onChange(listener: (name: string) => void): void;
}

export interface IdentityControllerOptions {
  config: Config;
  lifetimeMs: number;
  namespaces: NamespaceView;
  caches: IdentityCaches;
  ca: MeshCaStore;
  elector: LeaderElector;
  secrets: IdentitySecretsApi;
  metrics: IdentityMetrics;
  logger: Logger;
  /** How often the CA Secret is read again (default 30 s). */
  caPollMs?: number;
  /** How often every key is checked again, whatever happened (default 10 min). */
  resyncMs?: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
const WORKERS = 2;

export class IdentityController {
  readonly #o: IdentityControllerOptions;
  readonly #queue = new Set<string>();
  readonly #busy = new Set<string>();
  readonly #renewals = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  readonly #intervals: NodeJS.Timeout[] = [];
  #workers = 0;
  #stopped = true;
  #wasReady = false;

  constructor(options: IdentityControllerOptions) {
    this.#o = options;
  }

  /** Enqueues one key (the caches' and the namespace cache's events call this). */
  enqueue = (key: string): void => {
    if (this.#stopped) return;
    this.#queue.add(key);
    this.#pump();
  };

  enqueueNamespace = (namespace: string): void => {
    for (const key of this.#o.caches.serviceAccountsIn(namespace)) this.enqueue(key);
  };

  start(): void {
    this.#stopped = false;
    this.#o.namespaces.onChange(this.enqueueNamespace);
    this.#intervals.push(
      // Keys that arrive before every cache has listed are dropped (a decision then could
      // delete a Secret a pod still needs); once all have, every key is checked.
      setInterval(() => {
        if (this.#wasReady || !this.ready()) return;
        this.#wasReady = true;
        this.#enqueueAll();
      }, 500),
      setInterval(() => void this.#pollCa(), this.#o.caPollMs ?? 30_000),
      setInterval(() => this.#enqueueAll(), this.#o.resyncMs ?? 600_000),
    );
    for (const t of this.#intervals) t.unref();
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#intervals) clearInterval(t);
    for (const t of this.#renewals.values()) clearTimeout(t);
    this.#renewals.clear();
    this.#queue.clear();
  }

  /** Called when this replica takes the lead: make sure the CA exists, then check every key. */
  async onStartedLeading(): Promise<void> {
    await this.#pollCa();
    this.#enqueueAll();
  }

  /** Called when this replica stops leading: its renewal timers are the new leader's job now. */
  onStoppedLeading(): void {
    for (const t of this.#renewals.values()) clearTimeout(t);
    this.#renewals.clear();
  }

  /** All caches have listed once and the CA is known: decisions can be trusted (nothing is deleted before). */
  ready(): boolean {
    return this.#o.namespaces.ready() && this.#o.caches.synced() && this.#o.ca.current() !== undefined;
  }

  async #pollCa(): Promise<void> {
    try {
      const changed = await this.#o.ca.refresh(this.#o.elector.isLeader());
      // A CA Secret that cannot sign blocks every new identity once the one in use runs
      // out: counted on every read, so an alert on the counter fires until it is fixed.
      if (this.#o.ca.problem() !== undefined) this.#o.metrics.failed();
      if (changed) this.#enqueueAll();
    } catch (err) {
      this.#o.metrics.failed();
      this.#o.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'the mesh CA could not be read');
    }
  }

  #enqueueAll(): void {
    for (const key of this.#o.caches.allKeys()) this.enqueue(key);
  }

  #pump(): void {
    while (this.#workers < WORKERS && !this.#stopped) {
      // The first queued key no worker holds: one key is never reconciled twice at once.
      let key: string | undefined;
      for (const k of this.#queue) {
        if (this.#busy.has(k)) continue;
        key = k;
        break;
      }
      if (key === undefined) return;
      this.#queue.delete(key);
      this.#busy.add(key);
      this.#workers += 1;
      void this.#work(key).finally(() => {
        this.#busy.delete(key);
        this.#workers -= 1;
        this.#pump();
      });
    }
  }

  async #work(key: string): Promise<void> {
    try {
      await this.#reconcile(key);
      this.#failures.delete(key);
    } catch (err) {
      if (isConflict(err)) {
        // The cache was behind the API server; the watch brings the newer version.
        this.#retry(key, 500);
        return;
      }
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      this.#o.metrics.failed();
      const delay = Math.min(60_000, 1000 * 2 ** (n - 1));
      this.#o.logger.error({ key, err: describeKubeError(err), retryInMs: delay }, 'identity Secret could not be written');
      this.#retry(key, delay);
    }
  }

  #retry(key: string, ms: number): void {
    this.#schedule(key, Date.now() + ms);
  }

  #schedule(key: string, at: number): void {
    const existing = this.#renewals.get(key);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(
      () => {
        this.#renewals.delete(key);
        this.enqueue(key);
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
    );
    timer.unref();
    this.#renewals.set(key, timer);
  }

  #wanted(key: string, namespace: string, ns: NamespaceFacts | undefined): boolean {
    if (ns !== undefined && namespaceMeshed(ns, this.#o.config)) return true;
    if (namespace === this.#o.config.injectorNamespace) return false;
    return this.#o.caches.usedByInjectedPod(key);
  }

  async #reconcile(key: string): Promise<void> {
    if (!this.ready() || !this.#o.elector.isLeader()) return;
    const ca = this.#o.ca.current() as MeshCa;
    const { namespace, serviceAccount } = splitKey(key);
    const owner = this.#o.caches.owner(key);
    const secret = this.#o.caches.secret(key);
    if (owner === undefined) return; // the ServiceAccount is gone: the garbage collector deletes its Secret
    const ns = this.#o.namespaces.cached(namespace);
    // A namespace being deleted takes its Secrets with it, and refuses new ones.
    if (ns?.terminating === true) return;
    if (!this.#wanted(key, namespace, ns)) {
      if (secret !== undefined) await this.#delete(key, secret);
      return;
    }

    const id = { trustDomain: this.#o.config.trustDomain, namespace, serviceAccount };
    const a = assessSecret(secret, { id, owner, ca, lifetimeMs: this.#o.lifetimeMs, now: new Date() });
    if (a.action === 'keep') {
      this.#schedule(key, a.renewAt.getTime());
      return;
    }
    const issued = await issueIdentity(ca, id, this.#o.lifetimeMs);
    // The fence: issuing took time, and only a leader within its renew deadline may write.
    if (!this.#o.elector.isLeader()) return;
    const body = identitySecret(id, issued, owner, ca, { identity: this.#o.elector.identity, term: this.#o.elector.term() });
    const written = await this.#write(body, secret);
    this.#o.caches.setSecret(key, written as ObservedSecret);
    if (a.kind === 'renew') this.#o.metrics.renewed();
    else this.#o.metrics.issued();
    this.#o.logger.info({ secret: `${namespace}/${body.metadata.name}`, action: a.kind, why: a.why, notAfter: issued.notAfter.toISOString() }, 'identity Secret written');
    this.#schedule(key, renewalTime(issued.notBefore, issued.notAfter).getTime());
  }

  /** Replace what the cache holds (resourceVersion-checked), or create; a Secret the watch does not see (label removed) is read and replaced. */
  async #write(body: ReturnType<typeof identitySecret>, cached: ObservedSecret | undefined): Promise<V1Secret> {
    const { name, namespace } = body.metadata;
    const api = this.#o.secrets;
    const replace = (resourceVersion: string) =>
      api.replaceNamespacedSecret({ name, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion } } });
    if (cached?.metadata?.resourceVersion !== undefined) return replace(cached.metadata.resourceVersion);
    try {
      return await api.createNamespacedSecret({ namespace, body });
    } catch (err) {
      if (!isConflict(err)) throw err;
      const existing = await api.readNamespacedSecret({ name, namespace });
      return replace(existing.metadata?.resourceVersion ?? '');
    }
  }

  async #delete(key: string, secret: ObservedSecret): Promise<void> {
    const { namespace, serviceAccount } = splitKey(key);
    const name = identitySecretName(serviceAccount);
    try {
      await this.#o.secrets.deleteNamespacedSecret({
        name,
        namespace,
        body: { preconditions: { resourceVersion: secret.metadata?.resourceVersion } },
      });
      this.#o.logger.info({ secret: `${namespace}/${name}` }, 'identity Secret deleted: no pod splice injects uses its service account any more');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const timer = this.#renewals.get(key);
    if (timer) clearTimeout(timer);
    this.#renewals.delete(key);
  }
}
