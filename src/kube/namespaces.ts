// The webhook's view of namespaces: an informer (list, then watch) on
// /api/v1/namespaces keeps a map name → NamespaceFacts, so a decision needs no API
// call. A pod can arrive for a namespace created a moment ago, before its watch event:
// that miss is answered by one GET (and cached). API calls: namespaces list, watch, get.

import { CoreV1Api, makeInformer, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { NamespaceFacts } from '../inject/types.js';
import type { NamespaceSource } from '../webhook/namespace-source.js';
import { describeKubeError, isNotFound } from './errors.js';
import { KeptInformer, type Backoff } from './informer.js';

/** The part of client-node's Informer this source uses (a fake in tests). */
export interface NamespaceInformer {
  on(verb: 'add' | 'update' | 'delete', cb: (ns: V1Namespace) => void): void;
  on(verb: 'error', cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface InformerSourceOptions {
  informer: NamespaceInformer;
  /** GET one namespace; undefined when it does not exist (404). */
  read: (name: string) => Promise<V1Namespace | undefined>;
  logger: Logger;
  /** Restart delays after informer errors: doubling from initialMs up to maxMs. */
  backoff?: Backoff;
}

// Shared, never-written empty maps: most namespaces have no annotations.
const NONE: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** The facts the engine reads; the maps are the Namespace's own (the engine only reads them). */
export function toFacts(ns: V1Namespace): NamespaceFacts | undefined {
  const name = ns.metadata?.name;
  if (!name) return undefined;
  const facts: NamespaceFacts = { name, labels: ns.metadata?.labels ?? NONE, annotations: ns.metadata?.annotations ?? NONE };
  if (ns.metadata?.deletionTimestamp !== undefined) facts.terminating = true;
  return facts;
}

export class InformerNamespaceSource implements NamespaceSource {
  readonly #opts: InformerSourceOptions;
  readonly #facts = new Map<string, NamespaceFacts>();
  readonly #pending = new Map<string, Promise<NamespaceFacts | undefined>>();
  readonly #listeners: Array<(name: string) => void> = [];
  readonly #kept: KeptInformer;

  constructor(opts: InformerSourceOptions) {
    this.#opts = opts;
    const put = (ns: V1Namespace) => {
      // The informer keeps this very object in its own cache, and needs only its name
      // and resourceVersion; splice reads name, labels and annotations. managedFields
      // (the API server's field bookkeeping, most of a Namespace's size), spec and
      // status are dropped, so they do not stay in memory 10,000 times over.
      if (ns.metadata) delete ns.metadata.managedFields;
      delete ns.spec;
      delete ns.status;
      const facts = toFacts(ns);
      if (facts) {
        this.#facts.set(facts.name, facts);
        this.#changed(facts.name);
      }
    };
    opts.informer.on('add', put);
    opts.informer.on('update', put);
    opts.informer.on('delete', (ns) => {
      const name = ns.metadata?.name;
      if (!name) return;
      this.#facts.delete(name);
      this.#changed(name);
    });
    this.#kept = new KeptInformer(opts.informer, 'namespace', opts.logger, opts.backoff, () =>
      opts.logger.info({ namespaces: this.#facts.size }, 'namespace cache synced'),
    );
  }

  /** Starts listing and watching; resolves after the first attempt (successful or not). */
  start(): Promise<void> {
    return this.#kept.start();
  }

  stop(): Promise<void> {
    return this.#kept.stop();
  }

  ready(): boolean {
    return this.#kept.synced();
  }

  /** How many namespaces the cache holds (for logs). */
  size(): number {
    return this.#facts.size;
  }

  /** Every cached namespace. */
  all(): IterableIterator<NamespaceFacts> {
    return this.#facts.values();
  }

  /** The cached facts of one namespace, with no API call. */
  cached(name: string): NamespaceFacts | undefined {
    return this.#facts.get(name);
  }

  /** Calls `listener` with the name of every namespace added, changed or deleted. */
  onChange(listener: (name: string) => void): void {
    this.#listeners.push(listener);
  }

  async get(name: string): Promise<NamespaceFacts | undefined> {
    const cached = this.#facts.get(name);
    if (cached) return cached;
    // Concurrent pods of one new namespace share a single GET.
    let pending = this.#pending.get(name);
    if (!pending) {
      pending = this.#opts
        .read(name)
        .then((ns) => {
          const facts = ns ? toFacts(ns) : undefined;
          // An informer event may have landed meanwhile; it is at least as new.
          if (facts && !this.#facts.has(name)) this.#facts.set(name, facts);
          return this.#facts.get(name) ?? facts;
        })
        .finally(() => this.#pending.delete(name));
      this.#pending.set(name, pending);
    }
    return pending;
  }

  #changed(name: string): void {
    for (const listener of this.#listeners) listener(name);
  }
}

/** The namespace source of a real cluster. */
export function clusterNamespaceSource(kc: KubeConfig, logger: Logger, backoff?: InformerSourceOptions['backoff']): InformerNamespaceSource {
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Namespace>(kc, '/api/v1/namespaces', () => core.listNamespace());
  return new InformerNamespaceSource({
    informer,
    read: async (name) => {
      try {
        return await core.readNamespace({ name });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw new Error(`GET namespace ${name}: ${describeKubeError(err)}`);
      }
    },
    logger,
    ...(backoff ? { backoff } : {}),
  });
}
