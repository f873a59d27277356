// Keeps the pod's API token out of splice's own containers.
import { API_TOKEN_MOUNT_PATH, INJECTED_NAMES } from './keys.js';
import type { Volume, VolumeMount } from './types.js';

/**
 * An empty directory where the API token would go. Neither splice container talks to
 * the API server, so neither should hold the pod's token; and with this mount in
 * place the ServiceAccount admission plugin, which runs again after splice's patch,
 * leaves both containers alone. Otherwise it adds its token mount to them, the pod has
 * changed after splice, and the API server calls splice a second time for every pod.
 */
export function noApiTokenMount(): VolumeMount {
  return { name: INJECTED_NAMES.noApiTokenVolume, mountPath: API_TOKEN_MOUNT_PATH, readOnly: true };
}

export function noApiTokenVolume(): Volume {
  return { name: INJECTED_NAMES.noApiTokenVolume, emptyDir: { medium: 'Memory', sizeLimit: '1Ki' } };
}
