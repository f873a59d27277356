// The webhook's own PKI: one CA the API server trusts (it goes into the
// MutatingWebhookConfiguration's caBundle) and a serving certificate signed by it.
// Keys are EC P-256: small, fast to generate on start, accepted by every Kubernetes
// release's Go TLS stack.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';

/** A certificate and its private key, both PEM. */
export interface CertPair {
  cert: string;
  key: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
export const CA_LIFETIME_MS = 3650 * DAY_MS;
export const SERVING_LIFETIME_MS = 365 * DAY_MS;

// Certificates start an hour in the past, as client-go's self-signed certificates do
// (cert.GenerateSelfSignedCertKey), so an API server whose clock runs slightly behind
// ours does not reject a certificate that is "not yet valid".
const BACKDATE_MS = 60 * 60 * 1000;

/** The Service is `splice` (CONVENTIONS: installation names); the API server dials `splice.<ns>.svc`. */
export function servingNames(namespace: string, service = 'splice'): { dns: string[]; ips: string[] } {
  return {
    dns: [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service, 'localhost'],
    ips: ['127.0.0.1', '::1'],
  };
}

// selfsigned (and the X.509 libraries under it) is loaded on first use: a replica that
// finds the certificates already in their Secret never generates one, and is ~14 MB
// smaller for it.
export async function generate(...args: Parameters<typeof import('selfsigned').generate>): ReturnType<typeof import('selfsigned').generate> {
  return (await import('selfsigned')).generate(...args);
}

/** A CA valid for ten years from `now`. */
export async function generateCA(now: Date = new Date()): Promise<CertPair> {
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  // The timestamp makes each CA's subject unique, as kube-apiserver's self-signed
  // "host@timestamp" names do: during a CA rotation the caBundle holds the old and the
  // new CA, and a verifier that looks issuers up by subject name then finds the right one.
  const pems = await generate([{ name: 'commonName', value: `splice-webhook-ca@${Math.floor(now.getTime() / 1000)}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: new Date(now.getTime() + CA_LIFETIME_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: withNewline(pems.cert), key: withNewline(pems.private) };
}

/** A serving certificate for the webhook in `namespace`, signed by `ca`, valid for `lifetimeMs` (one year). */
export async function generateServing(ca: CertPair, namespace: string, now: Date = new Date(), lifetimeMs = SERVING_LIFETIME_MS, service = 'splice'): Promise<CertPair> {
  const names = servingNames(namespace, service);
  const pems = await generate([{ name: 'commonName', value: names.dns[0] ?? 'splice' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - BACKDATE_MS),
    notAfterDate: new Date(now.getTime() + lifetimeMs),
    ca: { cert: ca.cert, key: ca.key },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...names.dns.map((value) => ({ type: 2 as const, value })), ...names.ips.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  return { cert: withNewline(pems.cert), key: withNewline(pems.private) };
}

// PEM files end with a newline; bundles are concatenations, so every part must.
export function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** Splits a PEM bundle into its certificates (in order). */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((pem) => `${pem}\n`) ?? [];
}

/** When the (first) certificate in `pem` expires. Throws if it is not a certificate. */
export function notAfter(pem: string): Date {
  return new Date(new X509Certificate(pem).validTo);
}

/** When the (first) certificate in `pem` became valid. */
export function notBefore(pem: string): Date {
  return new Date(new X509Certificate(pem).validFrom);
}

/** The fraction of its lifetime a certificate has left at `now` (0 when expired). */
export function remainingLife(pem: string, now: Date = new Date()): number {
  const from = notBefore(pem).getTime();
  const to = notAfter(pem).getTime();
  if (to <= from) return 0;
  return Math.max(0, (to - now.getTime()) / (to - from));
}

/**
 * Checks that `pair` is a usable serving pair: the certificate parses, the key parses
 * and belongs to it, and node's TLS accepts both. Returns a problem, or undefined.
 */
export function checkPair(pair: CertPair): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch (err) {
    return `the certificate is not a PEM X.509 certificate (${errorText(err)})`;
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(pair.key))) return 'the private key does not belong to the certificate';
  } catch (err) {
    return `the private key is not a PEM private key (${errorText(err)})`;
  }
  try {
    createSecureContext({ cert: pair.cert, key: pair.key });
  } catch (err) {
    return `TLS refuses the pair (${errorText(err)})`;
  }
  return undefined;
}

/** True when `leaf` was signed by `ca` (signature only; dates are checked by the caller). */
export function issuedBy(leaf: string, ca: string): boolean {
  try {
    const l = new X509Certificate(leaf);
    const c = new X509Certificate(ca);
    return l.checkIssued(c) && l.verify(c.publicKey);
  } catch {
    return false;
  }
}

/** True when `cert` is valid for every name the API server may dial in `namespace`. */
export function coversNamespace(cert: string, namespace: string, service = 'splice'): boolean {
  try {
    const x = new X509Certificate(cert);
    const names = servingNames(namespace, service);
    return names.dns.every((n) => x.checkHost(n) !== undefined) && names.ips.every((ip) => isIP(ip) !== 0 && x.checkIP(ip) !== undefined);
  } catch {
    return false;
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
