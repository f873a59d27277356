// The webhook's certificate in a cluster, with no cert-manager: the Secret
// `splice-webhook-tls` (type kubernetes.io/tls: ca.crt, ca.key, tls.crt, tls.key) in
// the injector namespace is the one source of truth that every replica shares, and
// the CA in it is written into the MutatingWebhookConfiguration `splice` as caBundle.
//
// API calls, and nothing else (the RBAC manifests grant exactly these):
//   secrets                         create; get, update on `splice-webhook-tls` only
//   mutatingwebhookconfigurations   get, patch on `splice` only
// Replicas never list or watch the Secret (RBAC cannot restrict those to one name);
// each one polls it with GET.
//
// Lifecycle of the Secret:
//   absent         → generate a CA and serving certificate, CREATE. A 409 means another
//                    replica created it first: read and use theirs.
//   unusable       → (missing keys, key not matching, certificate for another namespace)
//                    regenerate what is broken, UPDATE with the resourceVersion read.
//   ageing         → serving certificate with under a third of its life left, or CA with
//                    under a year left: renew and UPDATE; a 409 means another replica
//                    rotated first, and its result is read on the next poll.
// ca.crt is a bundle: a renewed CA goes first and the CAs it replaces stay (until they
// expire), so the caBundle trusts old and new serving certificates while replicas move
// over one by one and API server connections made with the old certificate still verify.
//
// Order of a rotation: the caBundle is updated right after the Secret, and the new
// serving certificate is served only from the next poll on, so the API server has
// picked up the new CA before any replica presents a certificate signed by it.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  checkPair,
  coversNamespace,
  generateCA,
  generateServing,
  issuedBy,
  notAfter,
  remainingLife,
  splitPem,
  type CertPair,
} from '../tls/generate.js';
import { describeKubeError, isConflict, isNotFound } from './errors.js';
import { installationName, webhookTlsSecretName } from '../inject/installation.js';

/** The default revision's Secret and webhook configuration (another revision's: installation.ts). */
export const TLS_SECRET_NAME = webhookTlsSecretName('');
export const WEBHOOK_CONFIGURATION_NAME = installationName('');
export const POLL_INTERVAL_MS = 30_000;

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;
/** Renew the serving certificate when less than this fraction of its life is left. */
const SERVING_RENEW_FRACTION = 1 / 3;
/** Renew the CA when it has less than this left. */
const CA_RENEW_BEFORE_MS = YEAR_MS;

/** What the webhook serves and what the API server must trust. */
export interface TlsMaterial {
  serving: CertPair;
  /** PEM bundle: the signing CA first, then older CAs still valid. */
  caBundle: string;
}

/** The two API groups used, narrowed to the calls made (fakes in tests implement only these). */
export type SecretsApi = Pick<CoreV1Api, 'readNamespacedSecret' | 'createNamespacedSecret' | 'replaceNamespacedSecret'>;
export type WebhookConfigApi = Pick<AdmissionregistrationV1Api, 'readMutatingWebhookConfiguration' | 'patchMutatingWebhookConfiguration'>;

export interface WebhookTlsOptions {
  secrets: SecretsApi;
  webhooks: WebhookConfigApi;
  /** The injector namespace: where the Secret lives and what the certificate names. */
  namespace: string;
  /** Which revision of splice (config `revision`): it names the Secret, the Service the certificate is for, and the webhook configuration. Default '' (installation.ts). */
  revision?: string;
  logger: Logger;
  /** Called when a new serving certificate should be served (not for the first one, which ensure() returns). */
  onChange?: (material: TlsMaterial) => void;
  now?: () => Date;
  pollIntervalMs?: number;
}

interface Parsed {
  resourceVersion: string | undefined;
  /** Trusted CAs from ca.crt that parse and have not expired; the first is the signer when signerOk. */
  cas: string[];
  signer: CertPair | undefined;
  serving: CertPair | undefined;
  problems: string[];
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/** Reads the Secret's data and says what is unusable, without judging age. */
function parseSecret(secret: V1Secret, namespace: string, now: Date, service: string): Parsed {
  const data = secret.data ?? {};
  const problems: string[] = [];
  const caPem = unb64(data['ca.crt']);
  const caKey = unb64(data['ca.key']);
  const cert = unb64(data['tls.crt']);
  const key = unb64(data['tls.key']);
  const cas = splitPem(caPem ?? '').filter((pem) => {
    try {
      return notAfter(pem).getTime() > now.getTime();
    } catch {
      return false;
    }
  });
  let signer: CertPair | undefined;
  const first = cas[0];
  if (first === undefined || caKey === undefined) problems.push('no usable ca.crt/ca.key');
  else {
    try {
      if (new X509Certificate(first).checkPrivateKey(createPrivateKey(caKey))) signer = { cert: first, key: caKey };
      else problems.push('ca.key does not belong to the first certificate of ca.crt');
    } catch {
      problems.push('ca.key is not a PEM private key');
    }
  }
  let serving: CertPair | undefined;
  if (cert === undefined || key === undefined) problems.push('no tls.crt/tls.key');
  else {
    const problem = checkPair({ cert, key });
    if (problem) problems.push(`tls.crt/tls.key: ${problem}`);
    else if (!signer || !issuedBy(cert, signer.cert)) problems.push('tls.crt is not signed by the CA in ca.crt');
    else if (!coversNamespace(cert, namespace, service)) problems.push(`tls.crt does not name ${service}.${namespace}.svc`);
    else serving = { cert, key };
  }
  return { resourceVersion: secret.metadata?.resourceVersion, cas, signer, serving, problems };
}

/** Why the Secret needs new certificates at `now`, or undefined when it does not. */
function renewalNeeded(p: Parsed, now: Date): { ca: boolean; why: string } | undefined {
  if (!p.signer) return { ca: true, why: p.problems.join('; ') };
  if (notAfter(p.signer.cert).getTime() - now.getTime() < CA_RENEW_BEFORE_MS) return { ca: true, why: 'the CA expires within a year' };
  if (!p.serving) return { ca: false, why: p.problems.join('; ') };
  if (remainingLife(p.serving.cert, now) < SERVING_RENEW_FRACTION) return { ca: false, why: 'the serving certificate has less than a third of its life left' };
  return undefined;
}

async function renew(p: Parsed, namespace: string, now: Date, renewCA: boolean, service: string): Promise<{ signer: CertPair; cas: string[]; serving: CertPair }> {
  let signer = p.signer;
  let cas = p.cas;
  if (renewCA || !signer) {
    signer = await generateCA(now);
    // Keep the CAs being replaced (still valid ones) for the transition.
    cas = [signer.cert, ...p.cas];
  }
  const serving = await generateServing(signer, namespace, now, undefined, service);
  return { signer, cas, serving };
}

function secretBody(name: string, namespace: string, content: { signer: CertPair; cas: string[]; serving: CertPair }, previous?: V1Secret): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { ...(previous?.metadata?.labels ?? {}), 'app.kubernetes.io/name': 'splice', 'app.kubernetes.io/component': 'webhook-tls', 'app.kubernetes.io/managed-by': 'splice' },
      ...(previous?.metadata?.annotations ? { annotations: previous.metadata.annotations } : {}),
      ...(previous?.metadata?.resourceVersion ? { resourceVersion: previous.metadata.resourceVersion } : {}),
    },
    // A Secret's type cannot change; one made by hand as Opaque keeps that type.
    type: previous?.type ?? 'kubernetes.io/tls',
    data: {
      'ca.crt': b64(content.cas.join('')),
      'ca.key': b64(content.signer.key),
      'tls.crt': b64(content.serving.cert),
      'tls.key': b64(content.serving.key),
    },
  };
}

type SyncResult = 'in-sync' | 'updated' | 'absent' | 'failed';

export class WebhookTls {
  readonly #o: WebhookTlsOptions;
  #active: TlsMaterial | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #lastSync: SyncResult | undefined;

  /** The Secret, the Service the certificate is for, and the webhook configuration: this revision's (installation.ts). */
  readonly #names: { secret: string; service: string; webhookConfiguration: string };

  constructor(opts: WebhookTlsOptions) {
    this.#o = opts;
    const revision = opts.revision ?? '';
    this.#names = { secret: webhookTlsSecretName(revision), service: installationName(revision), webhookConfiguration: installationName(revision) };
  }

  /** The material being served (after ensure()). */
  get active(): TlsMaterial | undefined {
    return this.#active;
  }

  /**
   * At start: read (or create, or repair) the Secret and write its CA into the
   * webhook configuration. Returns what to serve. Throws only when the Secret can be
   * neither read nor created (the message says which call failed and why).
   */
  async ensure(): Promise<TlsMaterial> {
    const { material } = await this.#reconcile();
    await this.#syncCaBundle(material.caBundle);
    this.#active = material;
    return material;
  }

  /** One poll: pick up a Secret changed elsewhere, rotate when due, keep caBundle in sync. */
  async poll(): Promise<void> {
    const { material, wroteNew } = await this.#reconcile();
    const sync = await this.#syncCaBundle(material.caBundle);
    const active = this.#active;
    if (active && active.serving.cert === material.serving.cert && active.caBundle === material.caBundle) return;
    if (wroteNew && active) {
      this.#o.logger.info('new webhook certificate stored; it is served from the next poll, once the API server trusts its CA');
      return;
    }
    if (sync === 'failed') {
      this.#o.logger.warn('the webhook certificate changed but caBundle could not be updated; keeping the current certificate until it is');
      return;
    }
    this.#active = material;
    this.#o.logger.info({ notAfter: notAfter(material.serving.cert).toISOString() }, 'serving the new webhook certificate');
    this.#o.onChange?.(material);
  }

  /** Polls every pollIntervalMs (30 s) until stop(); errors are logged and retried on the next poll. */
  start(): void {
    this.#stopped = false;
    const schedule = () => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => {
        this.poll()
          .catch((err: unknown) => this.#o.logger.warn({ err: describeKubeError(err) }, 'webhook certificate poll failed; retrying on the next poll'))
          .finally(schedule);
      }, this.#o.pollIntervalMs ?? POLL_INTERVAL_MS);
      this.#timer.unref();
    };
    schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  async #read(): Promise<V1Secret | undefined> {
    try {
      return await this.#o.secrets.readNamespacedSecret({ name: this.#names.secret, namespace: this.#o.namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new Error(`GET secret ${this.#o.namespace}/${this.#names.secret} failed: ${describeKubeError(err)}`);
    }
  }

  async #reconcile(): Promise<{ material: TlsMaterial; wroteNew: boolean }> {
    const { namespace, logger } = this.#o;
    const now = this.#now();
    let secret = await this.#read();
    let wroteNew = false;

    if (!secret) {
      const content = await renew({ resourceVersion: undefined, cas: [], signer: undefined, serving: undefined, problems: [] }, namespace, now, true, this.#names.service);
      try {
        secret = await this.#o.secrets.createNamespacedSecret({ namespace, body: secretBody(this.#names.secret, namespace, content) });
        logger.info({ secret: `${namespace}/${this.#names.secret}` }, 'created the webhook certificate secret');
        wroteNew = true;
      } catch (err) {
        if (!isConflict(err)) throw new Error(`CREATE secret ${namespace}/${this.#names.secret} failed: ${describeKubeError(err)}`);
        // Another replica created it between our GET and CREATE: theirs is as good.
        logger.info('another replica created the webhook certificate secret first; using theirs');
        secret = await this.#read();
        if (!secret) throw new Error(`secret ${namespace}/${this.#names.secret} was reported as existing, then not found`);
      }
    }

    let parsed = parseSecret(secret, namespace, now, this.#names.service);
    const due = renewalNeeded(parsed, now);
    if (due) {
      const content = await renew(parsed, namespace, now, due.ca, this.#names.service);
      try {
        secret = await this.#o.secrets.replaceNamespacedSecret({ name: this.#names.secret, namespace, body: secretBody(this.#names.secret, namespace, content, secret) });
        logger.info({ reason: due.why, renewedCA: due.ca }, 'renewed the webhook certificate');
        wroteNew = true;
      } catch (err) {
        if (!isConflict(err)) throw new Error(`UPDATE secret ${namespace}/${this.#names.secret} failed: ${describeKubeError(err)}`);
        logger.info('another replica renewed the webhook certificate first; using theirs');
        secret = await this.#read();
        if (!secret) throw new Error(`secret ${namespace}/${this.#names.secret} disappeared during renewal`);
      }
      parsed = parseSecret(secret, namespace, now, this.#names.service);
    }
    if (!parsed.serving) {
      // Only when a concurrent writer left something unusable: the next poll repairs it.
      throw new Error(`secret ${namespace}/${this.#names.secret} holds no usable certificate: ${parsed.problems.join('; ')}`);
    }
    return { material: { serving: parsed.serving, caBundle: parsed.cas.join('') }, wroteNew };
  }

  /** Writes `bundle` into every webhook of the configuration, guarded by its resourceVersion. */
  async #syncCaBundle(bundle: string): Promise<SyncResult> {
    const result = await this.#patchCaBundle(bundle);
    this.#lastSync = result;
    return result;
  }

  async #patchCaBundle(bundle: string): Promise<SyncResult> {
    const { logger } = this.#o;
    const wanted = b64(bundle);
    for (let attempt = 1; attempt <= 3; attempt++) {
      let config;
      try {
        config = await this.#o.webhooks.readMutatingWebhookConfiguration({ name: this.#names.webhookConfiguration });
      } catch (err) {
        if (isNotFound(err)) {
          // Installed before the configuration (or it was deleted): the API server is
          // not calling splice yet, so there is nothing to break; try again next poll.
          // Said once at warn, then at debug on every poll until it appears.
          const level = this.#lastSync === 'absent' ? 'debug' : 'warn';
          logger[level](`MutatingWebhookConfiguration ${this.#names.webhookConfiguration} not found; its caBundle will be set once it exists (checked every poll)`);
          return 'absent';
        }
        logger.warn({ err: describeKubeError(err) }, `GET MutatingWebhookConfiguration ${this.#names.webhookConfiguration} failed`);
        return 'failed';
      }
      const webhooks = config.webhooks ?? [];
      const stale = webhooks.map((w, i) => ({ i, current: w.clientConfig?.caBundle })).filter((w) => w.current !== wanted);
      if (stale.length === 0) return 'in-sync';
      // A JSON Patch that touches only caBundle: a PUT of the object read through
      // client-node's typed model would drop any field that model does not know
      // (kubebuilder#510 is the same loss in Go). The resourceVersion in the patch makes
      // the API server refuse it (409) if the list of webhooks changed since the GET.
      const ops = [
        { op: 'replace', path: '/metadata/resourceVersion', value: config.metadata?.resourceVersion ?? '' },
        ...stale.map((w) => ({ op: 'add', path: `/webhooks/${w.i}/clientConfig/caBundle`, value: wanted })),
      ];
      try {
        await this.#o.webhooks.patchMutatingWebhookConfiguration({ name: this.#names.webhookConfiguration, body: ops });
        logger.info({ webhooks: stale.length }, `updated caBundle of MutatingWebhookConfiguration ${this.#names.webhookConfiguration}`);
        return 'updated';
      } catch (err) {
        if (isConflict(err) && attempt < 3) continue;
        logger.warn({ err: describeKubeError(err) }, `PATCH MutatingWebhookConfiguration ${this.#names.webhookConfiguration} failed`);
        return 'failed';
      }
    }
    return 'failed';
  }
}

/** The manager wired to a real cluster. */
export function clusterWebhookTls(kc: KubeConfig, opts: Omit<WebhookTlsOptions, 'secrets' | 'webhooks'>): WebhookTls {
  return new WebhookTls({ ...opts, secrets: kc.makeApiClient(CoreV1Api), webhooks: kc.makeApiClient(AdmissionregistrationV1Api) });
}
