// Reading identity Secrets back from the API server, and checking their certificates
// the way a peer does.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { kubectl, waitFor } from './kubectl.js';
import { firstSample } from '../../support/metrics.js';
import { httpGet } from './splice.js';

export interface SecretJson {
  type: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
  };
  data: Record<string, string>;
}

export const decode = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('utf8');

export function secret(namespace: string, name: string): SecretJson | undefined {
  const r = kubectl(['-n', namespace, 'get', 'secret', name, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as SecretJson) : undefined;
}

/** Waits for the Secret; returns it and how long it took to appear (ms). */
export async function appears(namespace: string, name: string, timeoutMs: number): Promise<{ secret: SecretJson; ms: number }> {
  const started = Date.now();
  const s = await waitFor(`Secret ${namespace}/${name}`, () => secret(namespace, name), timeoutMs);
  return { secret: s, ms: Date.now() - started };
}

export async function disappears(namespace: string, name: string, timeoutMs: number): Promise<void> {
  await waitFor(`Secret ${namespace}/${name} to be gone`, () => (secret(namespace, name) === undefined ? true : undefined), timeoutMs);
}

/** The leaf of an identity Secret: SPIFFE URI, issued by the root in ca.crt, key matching; throws what is wrong. */
export function checkLeaf(s: SecretJson, spiffe: string): X509Certificate {
  const leaf = new X509Certificate(decode(s.data['tls.crt']));
  const root = new X509Certificate(decode(s.data['ca.crt']));
  if (leaf.subjectAltName !== `URI:${spiffe}`) throw new Error(`tls.crt names ${leaf.subjectAltName}, not URI:${spiffe}`);
  if (!(leaf.checkIssued(root) && leaf.verify(root.publicKey))) throw new Error('tls.crt is not issued by ca.crt');
  if (!leaf.checkPrivateKey(createPrivateKey(decode(s.data['tls.key'])))) throw new Error('tls.key does not match tls.crt');
  return leaf;
}

/** One value of splice's metrics (the first sample of `name`), or undefined. */
export async function metric(metricsPort: number, name: string): Promise<number | undefined> {
  return firstSample((await httpGet(metricsPort, '/metrics')).body, name);
}
