// The splice-init container: runs `splice iptables --apply` from the splice image
// before anything else in the pod, with every port/CIDR override as a flag, so the
// container's args alone say what the pod's traffic redirect is.

import type { Config, ContainerResources } from './config.js';
import { cleanResources } from './proxy.js';
import { noApiTokenMount } from './api-token.js';
import { INJECTED_NAMES } from './keys.js';
import type { Overrides } from './overrides.js';
import type { Container, Volume } from './types.js';
import { toArgs } from '../iptables/options.js';

/** `resources`: config init.resources, less what the pod budgets at pod level (pod-resources.ts). */
export function initContainer(overrides: Overrides, config: Config, resources: ContainerResources): Container {
  return {
    name: INJECTED_NAMES.init,
    image: config.init.image,
    ...(config.init.imagePullPolicy ? { imagePullPolicy: config.init.imagePullPolicy } : {}),
    command: ['splice'],
    args: ['iptables', '--apply', ...toArgs(overrides.redirect)],
    resources: cleanResources(resources),
    securityContext: {
      // iptables needs root and these two capabilities inside the pod's network
      // namespace; nothing else, and never privileged.
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // iptables-legacy takes a lock file under /run; the root filesystem is read-only.
    volumeMounts: [{ name: INJECTED_NAMES.initRunVolume, mountPath: '/run' }, noApiTokenMount()],
  };
}

export function initRunVolume(): Volume {
  return { name: INJECTED_NAMES.initRunVolume, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } };
}
