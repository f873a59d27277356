// `splice explain --cluster`: one GET per identity Secret, as the user of the current
// kubeconfig (a 403 is reported, not fatal: explaining needs no Secret access).

import { CoreV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from './client.js';
import { describeKubeError, isNotFound } from './errors.js';

/** What the cluster says about one Secret. */
export type SecretLookup =
  | { state: 'found'; tlsCrt: string | undefined }
  | { state: 'missing' }
  | { state: 'unreadable'; why: string };

export type LookupSecret = (namespace: string, name: string) => Promise<SecretLookup>;

/** A LookupSecret for the current kubeconfig's cluster. Throws KubeAccessError when there is no kubeconfig. */
export function clusterSecretLookup(): LookupSecret {
  const core = loadKubeConfig().makeApiClient(CoreV1Api);
  return async (namespace, name) => {
    try {
      const secret = await core.readNamespacedSecret({ name, namespace });
      return { state: 'found', tlsCrt: secret.data?.['tls.crt'] };
    } catch (err) {
      if (isNotFound(err)) return { state: 'missing' };
      return { state: 'unreadable', why: describeKubeError(err) };
    }
  };
}
