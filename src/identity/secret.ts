// The Secret `splice-identity-<sa>`: what it must hold, and whether the one in the
// cluster still does. Pure: the controller (src/kube/identity-controller.ts) reads and
// writes, this decides.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { spiffeId } from '../inject/bootstrap.js';
import { identitySecretName } from '../inject/keys.js';
import { splitPem } from '../tls/generate.js';
import type { MeshCa } from './ca.js';
import type { IssuedIdentity, WorkloadId } from './issue.js';

/** Labels on every identity Secret: how the controller's watch finds them, and how a person does. */
export const IDENTITY_LABELS = Object.freeze({ 'app.kubernetes.io/managed-by': 'splice', 'app.kubernetes.io/component': 'identity' });
export const IDENTITY_SELECTOR = Object.entries(IDENTITY_LABELS)
  .map(([k, v]) => `${k}=${v}`)
  .join(',');

export const IDENTITY_ANNOTATIONS = {
  spiffeId: 'splice.dev/spiffe-id',
  /** SHA-256 of the CA certificate that signed tls.crt. */
  ca: 'splice.dev/ca-fingerprint',
  /** The leader that wrote this version, and its lease term: the audit trail of who wrote what. */
  writer: 'splice.dev/written-by',
  term: 'splice.dev/lease-term',
} as const;

/** Renew once this fraction of a certificate's lifetime has passed. */
export const RENEW_AT = 2 / 3;

/** When a certificate valid from `notBefore` to `notAfter` is due for renewal. */
export function renewalTime(notBefore: Date, notAfter: Date): Date {
  return new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * RENEW_AT);
}

export interface Owner {
  name: string;
  uid: string;
}

export interface Writer {
  identity: string;
  term: number;
}

/** The Secret as the API takes it (plain JSON; data base64). */
export interface IdentitySecret {
  apiVersion: 'v1';
  kind: 'Secret';
  type: 'kubernetes.io/tls';
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences: Array<{ apiVersion: 'v1'; kind: 'ServiceAccount'; name: string; uid: string; controller: true }>;
  };
  data: Record<'tls.crt' | 'tls.key' | 'ca.crt', string>;
}

/** The Secret as the controller sees it in the cluster (only what it checks). */
export interface ObservedSecret {
  type?: string;
  metadata?: {
    name?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind?: string; uid?: string }>;
  };
  data?: Record<string, string>;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

export function identitySecret(id: WorkloadId, issued: IssuedIdentity, owner: Owner, ca: MeshCa, writer: Writer): IdentitySecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: identitySecretName(id.serviceAccount),
      namespace: id.namespace,
      labels: { ...IDENTITY_LABELS },
      annotations: {
        [IDENTITY_ANNOTATIONS.spiffeId]: spiffeId(id),
        [IDENTITY_ANNOTATIONS.ca]: ca.fingerprint,
        [IDENTITY_ANNOTATIONS.writer]: writer.identity,
        [IDENTITY_ANNOTATIONS.term]: String(writer.term),
      },
      // Owned by the ServiceAccount: the garbage collector deletes the Secret with it.
      ownerReferences: [{ apiVersion: 'v1', kind: 'ServiceAccount', name: owner.name, uid: owner.uid, controller: true }],
    },
    data: { 'tls.crt': b64(issued.cert), 'tls.key': b64(issued.key), 'ca.crt': b64(issued.trustBundle) },
  };
}

export type Assessment =
  | { action: 'keep'; renewAt: Date; notAfter: Date }
  | { action: 'issue'; kind: 'issue' | 'renew'; why: string };

export interface AssessContext {
  id: WorkloadId;
  owner: Owner;
  ca: MeshCa;
  lifetimeMs: number;
  now: Date;
}

/**
 * Whether the Secret in the cluster is what `ctx` calls for. `issue` when it is absent
 * or broken (edited, wrong identity, key not matching, not splice's); `renew` when it
 * is sound but due: two thirds of its life gone, signed by another CA, or issued for a
 * much longer lifetime than the one configured now.
 */
export function assessSecret(secret: ObservedSecret | undefined, ctx: AssessContext): Assessment {
  if (secret === undefined) return { action: 'issue', kind: 'issue', why: 'the Secret does not exist' };
  const repair = (why: string): Assessment => ({ action: 'issue', kind: 'issue', why });
  const meta = secret.metadata ?? {};
  if (secret.type !== 'kubernetes.io/tls') return repair(`its type is ${JSON.stringify(secret.type ?? '')}, not kubernetes.io/tls`);
  for (const [k, v] of Object.entries(IDENTITY_LABELS)) if (meta.labels?.[k] !== v) return repair(`label ${k} is not ${v}`);
  if (!meta.ownerReferences?.some((o) => o.kind === 'ServiceAccount' && o.uid === ctx.owner.uid)) return repair('it is not owned by the ServiceAccount');

  const certs = splitPem(unb64(secret.data?.['tls.crt']));
  const keyPem = unb64(secret.data?.['tls.key']);
  if (certs.length === 0) return repair('tls.crt holds no certificate');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certs[0] as string);
  } catch {
    return repair('tls.crt does not parse');
  }
  const want = spiffeId(ctx.id);
  if (leaf.subjectAltName !== `URI:${want}`) return repair(`tls.crt names ${leaf.subjectAltName ?? 'nothing'}, not URI:${want}`);
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) return repair('tls.key does not belong to tls.crt');
  } catch {
    return repair('tls.key is not a PEM private key');
  }
  if (unb64(secret.data?.['ca.crt']) !== ctx.ca.trustBundle) return renewOrRepair(meta, ctx, 'ca.crt is not the current trust bundle');

  const signer = new X509Certificate(ctx.ca.cert);
  if (!(leaf.checkIssued(signer) && leaf.verify(signer.publicKey))) return renewOrRepair(meta, ctx, 'tls.crt is not signed by the current CA');

  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  const life = notAfter.getTime() - notBefore.getTime();
  const renewAt = renewalTime(notBefore, notAfter);
  if (ctx.now >= renewAt) return { action: 'issue', kind: 'renew', why: ctx.now >= notAfter ? 'the certificate expired' : 'two thirds of its lifetime have passed' };
  // A lifetime shortened in the config takes effect now, not a day later.
  if (life > ctx.lifetimeMs * 1.25 + 60_000) return { action: 'issue', kind: 'renew', why: 'it was issued for a longer lifetime than the one configured' };
  return { action: 'keep', renewAt, notAfter };
}

// A Secret signed by the previous CA is a renewal (the CA changed); one whose annotation
// already names the current CA but whose content does not match was edited.
function renewOrRepair(meta: NonNullable<ObservedSecret['metadata']>, ctx: AssessContext, why: string): Assessment {
  const edited = meta.annotations?.[IDENTITY_ANNOTATIONS.ca] === ctx.ca.fingerprint;
  return { action: 'issue', kind: edited ? 'issue' : 'renew', why: edited ? why : `the CA changed (${why})` };
}
