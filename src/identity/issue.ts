// Certificates of the mesh: splice's root for a trust domain, and the workload
// certificates (X.509 SVIDs) it signs. EC P-256 and SHA-256 throughout.

import { randomBytes } from 'node:crypto';
import { spiffeId } from '../inject/bootstrap.js';
import { generate, withNewline, type CertPair } from '../tls/generate.js';
import type { MeshCa } from './ca.js';

const DAY_MS = 24 * 60 * 60 * 1000;
export const ROOT_LIFETIME_MS = 3650 * DAY_MS;

export interface WorkloadId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** A root CA for `trustDomain`, valid ten years, that signs workload certificates directly. */
export async function generateMeshRoot(trustDomain: string, now: Date = new Date()): Promise<CertPair> {
  // The random suffix makes each root's subject unique, so a verifier that looks issuers
  // up by name never confuses an old root with its replacement.
  const pems = await generate([{ name: 'commonName', value: `splice mesh CA ${randomBytes(4).toString('hex')}` }, { name: 'organizationName', value: trustDomain }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60 * 60 * 1000),
    notAfterDate: new Date(now.getTime() + ROOT_LIFETIME_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      // The SPIFFE ID of the trust domain itself, as SPIFFE signing certificates may carry.
      { name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${trustDomain}` }] },
    ],
  });
  return { cert: withNewline(pems.cert), key: withNewline(pems.private) };
}

export interface IssuedIdentity {
  /** The leaf, then the CA's chain (PEM). */
  cert: string;
  key: string;
  /** The roots to trust (PEM). */
  trustBundle: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * A workload certificate: a fresh key and a leaf whose only name is the SPIFFE URI of the
 * namespace and service account, usable for both ends of mTLS. It never outlives its CA.
 * The leaf starts a little in the past (a tenth of its lifetime, at most a minute) so a
 * peer whose clock runs slightly behind does not reject it as not yet valid.
 */
export async function issueIdentity(ca: MeshCa, id: WorkloadId, lifetimeMs: number, now: Date = new Date()): Promise<IssuedIdentity> {
  const notBefore = new Date(now.getTime() - Math.min(60_000, Math.floor(lifetimeMs / 10)));
  const notAfter = new Date(Math.min(now.getTime() + lifetimeMs, ca.notAfter.getTime()));
  // No subject: the SPIFFE ID is the identity, and the name an X.509 subject could hold
  // is too short for a namespace and service account name. With an empty subject the
  // subjectAltName must be critical (RFC 5280, 4.2.1.6).
  const pems = await generate([], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    ca: { cert: ca.cert, key: ca.key },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', critical: true, altNames: [{ type: 6, value: spiffeId(id) }] },
    ],
  });
  return { cert: withNewline(pems.cert) + ca.chain, key: withNewline(pems.private), trustBundle: ca.trustBundle, notBefore, notAfter };
}
