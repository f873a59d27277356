// What the identity controller watches, each cache reduced to what it reads and keyed
// by "<namespace>/<serviceAccount>", the unit the controller works on:
//
//   ServiceAccounts   all of them: uid (the Secret's owner), per namespace
//   Secrets           splice's identity Secrets only (label selector)
//   Pods              injected pods only (label splice.dev/injected): the service
//                     accounts of opted-in pods outside enabled namespaces
//
// API calls: serviceaccounts list, watch; secrets list, watch; pods list, watch.

import { X509Certificate } from 'node:crypto';
import { CoreV1Api, makeInformer, type KubeConfig, type V1Pod, type V1Secret, type V1ServiceAccount } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { IDENTITY_SELECTOR, type ObservedSecret, type Owner } from '../identity/secret.js';
import { KEYS } from '../inject/keys.js';
import { serviceAccountOf } from '../inject/render.js';
import type { Pod } from '../inject/types.js';
import { KeptInformer, type Backoff, type RestartableInformer } from './informer.js';

export const SECRET_PREFIX = 'splice-identity-';
export const keyOf = (namespace: string, serviceAccount: string): string => `${namespace}/${serviceAccount}`;
export function splitKey(key: string): { namespace: string; serviceAccount: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), serviceAccount: key.slice(i + 1) };
}

/** A client-node informer as the caches use it (a fake in tests). */
export interface ObjectInformer<T> extends RestartableInformer {
  on(verb: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  on(verb: 'error', cb: (err?: unknown) => void): void;
}

export interface IdentityInformers {
  serviceAccounts: ObjectInformer<V1ServiceAccount>;
  secrets: ObjectInformer<V1Secret>;
  pods: ObjectInformer<V1Pod>;
}

export class IdentityCaches {
  readonly #owners = new Map<string, Owner>();
  /** namespace → its service account keys. */
  readonly #byNamespace = new Map<string, Set<string>>();
  readonly #secrets = new Map<string, ObservedSecret>();
  readonly #expiry = new Map<string, number>();
  /** service account key → the injected pods ("namespace/name") that use it. */
  readonly #podsBySa = new Map<string, Set<string>>();
  readonly #kept: KeptInformer[];

  constructor(informers: IdentityInformers, onKey: (key: string) => void, logger: Logger, backoff?: Backoff) {
    const sas = informers.serviceAccounts;
    sas.on('add', (sa) => this.#putServiceAccount(sa, onKey));
    sas.on('update', (sa) => this.#putServiceAccount(sa, onKey));
    sas.on('delete', (sa) => {
      const key = metaKey(sa);
      if (!key) return;
      this.#owners.delete(key);
      this.#byNamespace.get(sa.metadata?.namespace ?? '')?.delete(key);
      onKey(key);
    });

    const secrets = informers.secrets;
    const putSecret = (s: V1Secret) => {
      const key = secretKey(s);
      if (!key) return;
      if (s.metadata) delete s.metadata.managedFields;
      this.setSecret(key, s as ObservedSecret);
      onKey(key);
    };
    secrets.on('add', putSecret);
    secrets.on('update', putSecret);
    secrets.on('delete', (s) => {
      const key = secretKey(s);
      if (!key) return;
      this.#secrets.delete(key);
      this.#expiry.delete(key);
      onKey(key);
    });

    const pods = informers.pods;
    const putPod = (p: V1Pod) => {
      const ns = p.metadata?.namespace;
      const name = p.metadata?.name;
      if (!ns || !name || !p.spec) return;
      const key = keyOf(ns, serviceAccountOf(p as Pod));
      // Only the service account is read: the rest of each pod is dropped from the
      // informer's cache, which would otherwise hold every meshed pod whole.
      p.spec = { serviceAccountName: key.slice(ns.length + 1), containers: [] };
      delete p.status;
      if (p.metadata) delete p.metadata.managedFields;
      const set = this.#podsBySa.get(key) ?? new Set<string>();
      const first = set.size === 0;
      set.add(`${ns}/${name}`);
      this.#podsBySa.set(key, set);
      if (first) onKey(key);
    };
    pods.on('add', putPod);
    pods.on('update', putPod);
    pods.on('delete', (p) => {
      const ns = p.metadata?.namespace;
      const name = p.metadata?.name;
      if (!ns || !name || !p.spec) return;
      const key = keyOf(ns, serviceAccountOf(p as Pod));
      const set = this.#podsBySa.get(key);
      if (!set?.delete(`${ns}/${name}`)) return;
      if (set.size === 0) {
        this.#podsBySa.delete(key);
        onKey(key);
      }
    });

    this.#kept = [
      new KeptInformer(sas, 'service account', logger, backoff),
      new KeptInformer(secrets, 'identity Secret', logger, backoff),
      new KeptInformer(pods, 'injected pod', logger, backoff),
    ];
  }

  async start(): Promise<void> {
    await Promise.all(this.#kept.map((k) => k.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#kept.map((k) => k.stop()));
  }

  synced(): boolean {
    return this.#kept.every((k) => k.synced());
  }

  owner(key: string): Owner | undefined {
    return this.#owners.get(key);
  }

  serviceAccountsIn(namespace: string): Iterable<string> {
    return this.#byNamespace.get(namespace) ?? [];
  }

  /** Every key the controller may have to act on: each service account and each identity Secret. */
  allKeys(): Set<string> {
    return new Set([...this.#owners.keys(), ...this.#secrets.keys()]);
  }

  secret(key: string): ObservedSecret | undefined {
    return this.#secrets.get(key);
  }

  /** Records a Secret: from the watch, or the answer to the controller's own write (ahead of the watch). */
  setSecret(key: string, secret: ObservedSecret): void {
    this.#secrets.set(key, secret);
    const notAfter = leafNotAfter(secret);
    if (notAfter === undefined) this.#expiry.delete(key);
    else this.#expiry.set(key, notAfter);
  }

  usedByInjectedPod(key: string): boolean {
    return this.#podsBySa.has(key);
  }

  /** The earliest expiry (ms since the epoch) among the identity Secrets, if any. */
  earliestExpiry(): number | undefined {
    let min: number | undefined;
    for (const t of this.#expiry.values()) if (min === undefined || t < min) min = t;
    return min;
  }

  #putServiceAccount(sa: V1ServiceAccount, onKey: (key: string) => void): void {
    const key = metaKey(sa);
    const uid = sa.metadata?.uid;
    const name = sa.metadata?.name;
    const ns = sa.metadata?.namespace;
    if (!key || !uid || !name || !ns) return;
    // Token and image-pull secret lists are not read; the cached object keeps its metadata only.
    delete sa.secrets;
    delete sa.imagePullSecrets;
    if (sa.metadata) delete sa.metadata.managedFields;
    const known = this.#owners.get(key);
    this.#owners.set(key, { name, uid });
    const set = this.#byNamespace.get(ns) ?? new Set<string>();
    set.add(key);
    this.#byNamespace.set(ns, set);
    if (known?.uid !== uid) onKey(key);
  }
}

function metaKey(o: { metadata?: { namespace?: string; name?: string } }): string | undefined {
  const ns = o.metadata?.namespace;
  const name = o.metadata?.name;
  return ns && name ? keyOf(ns, name) : undefined;
}

function secretKey(s: V1Secret): string | undefined {
  const ns = s.metadata?.namespace;
  const name = s.metadata?.name;
  if (!ns || !name?.startsWith(SECRET_PREFIX) || name.length === SECRET_PREFIX.length) return undefined;
  return keyOf(ns, name.slice(SECRET_PREFIX.length));
}

function leafNotAfter(secret: ObservedSecret): number | undefined {
  const pem = secret.data?.['tls.crt'];
  if (!pem) return undefined;
  try {
    return new Date(new X509Certificate(Buffer.from(pem, 'base64')).validTo).getTime();
  } catch {
    return undefined;
  }
}

/** The three informers on a real cluster. */
export function clusterInformers(kc: KubeConfig): IdentityInformers {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    serviceAccounts: makeInformer<V1ServiceAccount>(kc, '/api/v1/serviceaccounts', () => core.listServiceAccountForAllNamespaces()),
    secrets: makeInformer<V1Secret>(kc, '/api/v1/secrets', () => core.listSecretForAllNamespaces({ labelSelector: IDENTITY_SELECTOR }), IDENTITY_SELECTOR),
    pods: makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: `${KEYS.injected}=true` }), `${KEYS.injected}=true`),
  };
}
