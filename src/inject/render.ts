// Builds the injected pod from the original: plain objects, never templated text.
// The app's containers are carried over as they are (nothing is merged into them);
// splice only adds its own containers and volumes and three annotations.

import type { Config } from './config.js';
import { initContainer, initRunVolume } from './init.js';
import { DEFAULT_CONTAINER_ANNOTATION, INJECTED_NAMES, KEYS, identitySecretName } from './keys.js';
import type { Overrides } from './overrides.js';
import { proxyContainer } from './proxy.js';
import { SDS_FILES } from './bootstrap.js';
import { proxyTexts } from './proxy-texts.js';
import type { Container, Pod, Volume } from './types.js';
import { SPLICE_VERSION } from '../version.js';

export interface RenderPlan {
  namespace: string;
  native: boolean;
  hold: boolean;
}

/** What splice added, written to `splice.dev/status` (and read back by `isInjected`). */
export interface InjectionStatus {
  version: string;
  containers: string[];
  initContainers: string[];
  volumes: string[];
}

export function serviceAccountOf(pod: Pod): string {
  return pod.spec.serviceAccountName || pod.spec.serviceAccount || 'default';
}

/** Returns a new pod; `pod` is not modified. */
export function render(pod: Pod, plan: RenderPlan, overrides: Overrides, config: Config): Pod {
  const out = structuredClone(pod);
  const spec = out.spec;
  const serviceAccount = serviceAccountOf(pod);
  const texts = proxyTexts(plan.namespace, serviceAccount, config);
  const proxy = proxyContainer({ bootstrap: texts.bootstrap, native: plan.native, hold: plan.hold }, overrides, config);
  const init = initContainer(overrides, config);
  const firstApp = pod.spec.containers[0]?.name;

  // splice-init goes first so the redirect exists before anything else runs. A native
  // proxy goes right after it, so the user's init containers already have a proxy to
  // talk through; a regular proxy goes first among containers only when it must hold
  // the app (the kubelet starts containers in order).
  const userInit: Container[] = spec.initContainers ?? [];
  const status: InjectionStatus = { version: SPLICE_VERSION, containers: [], initContainers: [INJECTED_NAMES.init], volumes: [] };
  if (plan.native) {
    spec.initContainers = [init, proxy, ...userInit];
    status.initContainers.push(INJECTED_NAMES.proxy);
  } else {
    spec.initContainers = [init, ...userInit];
    spec.containers = plan.hold ? [proxy, ...spec.containers] : [...spec.containers, proxy];
    status.containers.push(INJECTED_NAMES.proxy);
  }

  spec.volumes = [...(spec.volumes ?? []), identityVolume(serviceAccount), initRunVolume()];
  status.volumes.push(INJECTED_NAMES.identityVolume, INJECTED_NAMES.initRunVolume);

  const metadata = (out.metadata ??= {});
  const annotations = (metadata.annotations ??= {});
  if (firstApp !== undefined && annotations[DEFAULT_CONTAINER_ANNOTATION] === undefined) {
    // Keeps `kubectl logs` and `kubectl exec` pointed at the app, not at Envoy.
    annotations[DEFAULT_CONTAINER_ANNOTATION] = firstApp;
  }
  annotations[KEYS.sdsCertificate] = texts.sdsCertificate;
  annotations[KEYS.sdsTrustBundle] = texts.sdsTrustBundle;
  annotations[KEYS.status] = JSON.stringify(status);
  return out;
}

// Envoy reloads certificates only when they come through SDS, and file-based SDS needs
// two small JSON files beside the PEM files. The identity Secret carries only the PEM
// files (whoever issues it), so the volume projects the Secret together with the two
// SDS files, taken from pod annotations through the downward API: one directory, one
// atomic symlink swap when the kubelet refreshes either, and no agent in the pod.
function identityVolume(serviceAccount: string): Volume {
  const annotation = (key: string) => ({ fieldPath: `metadata.annotations['${key}']` });
  return {
    name: INJECTED_NAMES.identityVolume,
    projected: {
      sources: [
        { secret: { name: identitySecretName(serviceAccount) } },
        {
          downwardAPI: {
            items: [
              { path: SDS_FILES.certificate, fieldRef: annotation(KEYS.sdsCertificate) },
              { path: SDS_FILES.trustBundle, fieldRef: annotation(KEYS.sdsTrustBundle) },
            ],
          },
        },
      ],
    },
  };
}
