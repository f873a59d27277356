// The image splice itself runs from, read from its own pod: splice-init must run the very
// same image (it takes exactly the flags this version writes), so when the config leaves
// init.image at its default, the image the operator deployed (kustomize `images:`, a
// registry of their own) is the one to use, with nothing else to change.

import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { describeKubeError } from './errors.js';

/** The container of splice's pod that runs `splice serve`, in manifests/ and the Helm chart. */
export const SPLICE_CONTAINER = 'splice';

/**
 * The image of this pod's `splice` container (or of its only container).
 *
 * @param namespace, podName this pod's (POD_NAMESPACE, POD_NAME from the downward API)
 * @returns the image, or `{ error }` saying why it could not be read (needs `get` on pods of the namespace)
 */
export async function ownImage(kc: KubeConfig, namespace: string, podName: string): Promise<{ image: string } | { error: string }> {
  try {
    const pod = await kc.makeApiClient(CoreV1Api).readNamespacedPod({ name: podName, namespace });
    const containers = pod.spec?.containers ?? [];
    const mine = containers.find((c) => c.name === SPLICE_CONTAINER) ?? (containers.length === 1 ? containers[0] : undefined);
    return mine?.image ? { image: mine.image } : { error: `pod ${namespace}/${podName} has no container ${SPLICE_CONTAINER}` };
  } catch (err) {
    return { error: `GET pod ${namespace}/${podName}: ${describeKubeError(err)}` };
  }
}
