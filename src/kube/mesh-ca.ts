// The mesh CA in the cluster: the Secret `splice-ca` of the injector namespace. The
// leader creates it with a new root on first start; an operator may instead put an
// intermediate there (same layout, see src/identity/ca.ts), which splice then uses as
// is and never replaces. Every replica reads it with GET (RBAC cannot narrow list or
// watch to one name), at start, on taking the lead, and every poll interval.
//
// API calls: secrets get on `splice-ca`; create (leader only, when it is absent).

import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { CA_KEYS, CaError, parseMeshCa, type MeshCa } from '../identity/ca.js';
import { generateMeshRoot } from '../identity/issue.js';
import { describeKubeError, isConflict, isNotFound } from './errors.js';

export const CA_SECRET_NAME = 'splice-ca';
/** On a CA splice generated; absent on one an operator provides. */
export const GENERATED_ANNOTATION = 'splice.dev/generated-for-trust-domain';

export type CaSecretsApi = Pick<CoreV1Api, 'readNamespacedSecret' | 'createNamespacedSecret'>;

export interface MeshCaStoreOptions {
  secrets: CaSecretsApi;
  namespace: string;
  trustDomain: string;
  logger: Logger;
}

const decode = (data: Record<string, string> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

export class MeshCaStore {
  readonly #o: MeshCaStoreOptions;
  #current: MeshCa | undefined;
  #problem: string | undefined;

  constructor(options: MeshCaStoreOptions) {
    this.#o = options;
  }

  /** The CA in use; undefined until one was read (or while the Secret is unusable and none was read before). */
  current(): MeshCa | undefined {
    return this.#current;
  }

  /** Why the Secret read last is unusable (it exists but cannot sign); undefined otherwise. */
  problem(): string | undefined {
    return this.#problem;
  }

  /**
   * Reads the Secret; when it does not exist and `mayCreate`, creates it with a new root
   * (a 409 means another replica did first: theirs is read). Returns true when the CA in
   * use changed. An unusable Secret keeps the previous CA in use and says why.
   */
  async refresh(mayCreate: boolean): Promise<boolean> {
    const where = `Secret ${this.#o.namespace}/${CA_SECRET_NAME}`;
    let secret: V1Secret | undefined = await this.#read();
    if (secret === undefined && mayCreate) secret = await this.#create();
    if (secret === undefined) {
      // Not a problem: the leader creates it.
      this.#problem = undefined;
      return false;
    }
    let ca: MeshCa;
    try {
      ca = parseMeshCa(decode(secret.data), where);
    } catch (err) {
      this.#problem = err instanceof CaError ? err.message : String(err);
      this.#o.logger.error({ problem: this.#problem }, this.#current
          ? 'the mesh CA Secret cannot sign; identities go on with the CA read before, until it is fixed'
          : 'the mesh CA Secret cannot sign; no identity is issued or renewed until it is fixed');
      return false;
    }
    this.#problem = undefined;
    const changed = this.#current?.fingerprint !== ca.fingerprint;
    if (changed) {
      const generated = secret.metadata?.annotations?.[GENERATED_ANNOTATION] !== undefined;
      this.#o.logger.info({ fingerprint: ca.fingerprint, notAfter: ca.notAfter.toISOString(), origin: generated ? 'generated' : 'provided' }, 'mesh CA loaded');
    }
    this.#current = ca;
    return changed;
  }

  async #read(): Promise<V1Secret | undefined> {
    try {
      return await this.#o.secrets.readNamespacedSecret({ name: CA_SECRET_NAME, namespace: this.#o.namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new Error(`GET Secret ${this.#o.namespace}/${CA_SECRET_NAME}: ${describeKubeError(err)}`);
    }
  }

  async #create(): Promise<V1Secret | undefined> {
    const root = await generateMeshRoot(this.#o.trustDomain);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: CA_SECRET_NAME,
        namespace: this.#o.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'splice', 'app.kubernetes.io/component': 'mesh-ca' },
        annotations: { [GENERATED_ANNOTATION]: this.#o.trustDomain },
      },
      data: { [CA_KEYS.cert]: b64(root.cert), [CA_KEYS.key]: b64(root.key), [CA_KEYS.roots]: b64(root.cert) },
    };
    try {
      const created = await this.#o.secrets.createNamespacedSecret({ namespace: this.#o.namespace, body });
      this.#o.logger.info({ secret: `${this.#o.namespace}/${CA_SECRET_NAME}`, trustDomain: this.#o.trustDomain }, 'mesh CA created');
      return created;
    } catch (err) {
      if (isConflict(err)) return this.#read();
      throw new Error(`create Secret ${this.#o.namespace}/${CA_SECRET_NAME}: ${describeKubeError(err)}`);
    }
  }
}
