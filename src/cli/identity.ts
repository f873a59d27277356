// The identity part of `splice explain`: which SPIFFE identity an injected pod gets, from
// which Secret, and (with --cluster) whether that Secret exists and what it holds.

import { X509Certificate } from 'node:crypto';
import { spiffeId } from '../inject/bootstrap.js';
import type { Config } from '../inject/config.js';
import { identitySecretName } from '../inject/keys.js';
import { serviceAccountOf } from '../inject/render.js';
import type { LookupSecret } from '../kube/secret-lookup.js';
import type { PodResult } from './run-manifests.js';

export type { LookupSecret, SecretLookup } from '../kube/secret-lookup.js';

export async function identityLines(result: PodResult, config: Config, lookup: LookupSecret | undefined): Promise<string[]> {
  if (result.decision.result !== 'inject') return [];
  const serviceAccount = serviceAccountOf(result.site.pod);
  const name = identitySecretName(serviceAccount);
  const id = spiffeId({ trustDomain: config.trustDomain, namespace: result.namespace, serviceAccount });
  const lines = [
    `  identity: ${id}`,
    `    certificate from Secret ${result.namespace}/${name}`,
  ];
  if (lookup === undefined) {
    lines.push('    Secret: not looked up (add --cluster to check it in the current kubeconfig\'s cluster)');
    return lines;
  }
  const found = await lookup(result.namespace, name);
  if (found.state === 'missing') {
    lines.push(
      '    Secret: missing. The identity controller of splice serve creates it for every service account of an enabled namespace ' +
        'and of injected pods; until then the pod waits in ContainerCreating.',
    );
  } else if (found.state === 'unreadable') {
    lines.push(`    Secret: could not be read (${found.why})`);
  } else {
    lines.push(`    Secret: exists${certificateNote(found.tlsCrt, id)}`);
  }
  return lines;
}

function certificateNote(tlsCrt: string | undefined, want: string): string {
  if (tlsCrt === undefined) return ', but holds no tls.crt';
  try {
    const leaf = new X509Certificate(Buffer.from(tlsCrt, 'base64'));
    const until = new Date(leaf.validTo);
    const names = leaf.subjectAltName === `URI:${want}` ? '' : `; it names ${leaf.subjectAltName ?? 'nothing'}, not ${want}`;
    const expired = until.getTime() <= Date.now() ? ' (EXPIRED)' : '';
    return `; certificate valid until ${until.toISOString()}${expired}${names}`;
  } catch {
    return ', but its tls.crt does not parse';
  }
}
