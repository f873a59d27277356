// Builds the injected pod from the original: plain objects, never templated text.
// The app's containers are carried over as they are (nothing is merged into them);
// splice only adds its own containers and volumes and a few annotations.
//
// The new pod is a copy of the original only along the paths splice changes
// (metadata.annotations and the three lists in spec); every other value is the
// original's own, and the added parts are shared, frozen values (parts.ts). Copying
// the whole pod cost more than everything else the engine does, and the diff skips
// shared values at once, so it walks only what changed.

import type { Config } from './config.js';
import { DEFAULT_CONTAINER_ANNOTATION } from './keys.js';
import type { Overrides } from './overrides.js';
import { injectedParts } from './parts.js';
import type { Container, Pod } from './types.js';

export interface RenderPlan {
  namespace: string;
  native: boolean;
  hold: boolean;
}

export function serviceAccountOf(pod: Pod): string {
  return pod.spec.serviceAccountName || pod.spec.serviceAccount || 'default';
}

/** Returns a new pod that shares unchanged values with `pod`; neither may be modified afterwards. */
export function render(pod: Pod, plan: RenderPlan, overrides: Overrides, config: Config): Pod {
  const parts = injectedParts({ ...plan, serviceAccount: serviceAccountOf(pod) }, overrides, config);
  const spec = pod.spec;

  // splice-init goes first so the redirect exists before anything else runs. A native
  // proxy goes right after it, so the user's init containers already have a proxy to
  // talk through; a regular proxy goes first among containers only when it must hold
  // the app (the kubelet starts containers in order).
  const userInit: Container[] = spec.initContainers ?? [];
  let initContainers: Container[];
  let containers = spec.containers;
  if (plan.native) {
    initContainers = [parts.init, parts.proxy, ...userInit];
  } else {
    initContainers = [parts.init, ...userInit];
    containers = plan.hold ? [parts.proxy, ...containers] : [...containers, parts.proxy];
  }

  const annotations: Record<string, string> = { ...pod.metadata?.annotations };
  const firstApp = spec.containers[0]?.name;
  if (firstApp !== undefined && annotations[DEFAULT_CONTAINER_ANNOTATION] === undefined) {
    // Keeps `kubectl logs` and `kubectl exec` pointed at the app, not at Envoy.
    annotations[DEFAULT_CONTAINER_ANNOTATION] = firstApp;
  }
  Object.assign(annotations, parts.annotations);

  // Keys keep their order (the user reads this pod in `splice inject`); a key splice
  // adds goes last.
  return {
    ...pod,
    metadata: { ...pod.metadata, annotations },
    spec: { ...spec, initContainers, containers, volumes: [...(spec.volumes ?? []), ...parts.volumes] },
  };
}
