// The mesh CA: what signs every workload's certificate. Either a root splice creates for
// the trust domain on first start, or an intermediate the operator provides, used as is.
// Both live in the Secret `splice-ca` of the injector namespace (see src/kube/mesh-ca.ts),
// in one layout:
//
//   tls.crt   the signing certificate, then any intermediates above it (leaf side first)
//   tls.key   the signing key: EC P-256 (the key type every workload key shares)
//   ca.crt    the root(s) workloads trust
//
// For splice's own root, tls.crt and ca.crt hold the same certificate.

import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { errorText, issuedBy, splitPem } from '../tls/generate.js';

export interface MeshCa {
  /** The certificate that signs workload certificates. */
  cert: string;
  key: string;
  /** What follows a leaf in its tls.crt: tls.crt without its self-signed certificates (empty for splice's own root). */
  chain: string;
  /** The roots a workload trusts: the ca.crt of every identity. */
  trustBundle: string;
  /** SHA-256 of the signing certificate (DER): a different value means a different CA. */
  fingerprint: string;
  notAfter: Date;
}

export const CA_KEYS = { cert: 'tls.crt', key: 'tls.key', roots: 'ca.crt' } as const;

/** CA material that cannot sign: every problem, each naming the key at fault. */
export class CaError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.join('; ')}`);
    this.name = 'CaError';
  }
}

const selfSigned = (x: X509Certificate): boolean => x.subject === x.issuer && x.checkIssued(x) && x.verify(x.publicKey);

/**
 * Reads CA material (the Secret's data, decoded) and checks that it can sign: a CA
 * certificate that is valid now, its EC P-256 key, and a chain that reaches a root in
 * ca.crt. `source` names where it came from in every message.
 */
export function parseMeshCa(data: Record<string, string | undefined>, source: string, now: Date = new Date()): MeshCa {
  const problems: string[] = [];
  const certs = splitPem(data[CA_KEYS.cert] ?? '');
  const roots = splitPem(data[CA_KEYS.roots] ?? '');
  const keyPem = data[CA_KEYS.key] ?? '';
  if (certs.length === 0) problems.push(`${CA_KEYS.cert} holds no PEM certificate`);
  if (roots.length === 0) problems.push(`${CA_KEYS.roots} holds no PEM certificate (the root workloads trust)`);
  if (keyPem.trim() === '') problems.push(`${CA_KEYS.key} is empty`);
  if (problems.length > 0) throw new CaError(source, problems);

  let parsed: X509Certificate[];
  let rootCerts: X509Certificate[];
  try {
    parsed = certs.map((pem) => new X509Certificate(pem));
    rootCerts = roots.map((pem) => new X509Certificate(pem));
  } catch (err) {
    throw new CaError(source, [`a certificate does not parse (${errorText(err)})`]);
  }
  const signer = parsed[0] as X509Certificate;
  if (!signer.ca) problems.push(`the first certificate in ${CA_KEYS.cert} (${signer.subject || 'no subject'}) is not a CA (basicConstraints CA:TRUE)`);
  const notAfter = new Date(signer.validTo);
  if (notAfter <= now) problems.push(`the signing certificate expired at ${notAfter.toISOString()}`);
  if (new Date(signer.validFrom) > now) problems.push(`the signing certificate is not valid before ${new Date(signer.validFrom).toISOString()}`);

  try {
    const key = createPrivateKey(keyPem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      problems.push(`${CA_KEYS.key} must be an EC P-256 key, it is ${key.asymmetricKeyType ?? 'unknown'}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}`);
    } else if (!signer.checkPrivateKey(key)) {
      problems.push(`${CA_KEYS.key} does not belong to the first certificate in ${CA_KEYS.cert}`);
    }
  } catch (err) {
    problems.push(`${CA_KEYS.key} is not a PEM private key (${errorText(err)})`);
  }

  // Each certificate must be issued by the next one in tls.crt, and the last by a root
  // in ca.crt (or be that root): otherwise workloads could not verify one another.
  for (let i = 0; i + 1 < parsed.length; i++) {
    if (!issuedBy(certs[i] as string, certs[i + 1] as string)) problems.push(`certificate ${i + 1} in ${CA_KEYS.cert} is not issued by certificate ${i + 2}`);
  }
  const top = parsed[parsed.length - 1] as X509Certificate;
  const anchored = rootCerts.some((root) => top.fingerprint256 === root.fingerprint256 || issuedBy(top.toString(), root.toString()));
  if (!anchored) problems.push(`no root in ${CA_KEYS.roots} issued the last certificate in ${CA_KEYS.cert}`);
  if (problems.length > 0) throw new CaError(source, problems);

  return {
    cert: certs[0] as string,
    key: keyPem,
    chain: parsed.map((x, i) => (selfSigned(x) ? '' : (certs[i] as string))).join(''),
    trustBundle: roots.join(''),
    fingerprint: createHash('sha256').update(signer.raw).digest('hex'),
    notAfter,
  };
}
