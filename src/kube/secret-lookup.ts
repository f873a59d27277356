// `splice explain --cluster`: one GET per identity Secret, as the user of the current
// kubeconfig (a 403 is reported, not fatal: explaining needs no Secret access).

import { CoreV1Api } from '@kubernetes/client-node';
import type { LookupSecret } from '../cli/identity.js';
import { loadKubeConfig } from './client.js';
import { describeKubeError, isNotFound } from './errors.js';

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
