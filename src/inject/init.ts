// The splice-init container: runs `splice iptables --apply` from the splice image
// before anything else in the pod, with every port/CIDR override as a flag, so the
// container's args alone say what the pod's traffic redirect is. It also writes the
// proxy's Envoy bootstrap, rendered from the input in its args, into the volume
// splice-proxy reads it from: the pod carries the input (a few hundred bytes), not the
// bootstrap (~14 KB), and the one pure renderer stays splice's.

import type { Config, ContainerResources } from './config.js';
import { cleanResources } from './proxy.js';
import { noApiTokenMount } from './api-token.js';
import { BOOTSTRAP_FILE, INJECTED_NAMES, PROXY_CONFIG_MOUNT_PATH } from './keys.js';
import type { Overrides } from './overrides.js';
import type { Container, Volume } from './types.js';
import { toArgs } from '../iptables/options.js';

/** splice-init's flags for the bootstrap (beside the redirect's): where to write it, and what from. */
export const BOOTSTRAP_FLAGS = Object.freeze({ file: '--bootstrap-file', input: '--bootstrap-input' });

/** The bootstrap input in splice-init's args (the text after --bootstrap-input), or undefined when there is none. */
export function bootstrapInputArg(args: readonly string[]): string | undefined {
  const i = args.indexOf(BOOTSTRAP_FLAGS.input);
  return i < 0 ? undefined : args[i + 1];
}

/**
 * `resources`: config init.resources, less what the pod budgets at pod level (pod-resources.ts).
 * `bootstrapInput`: formatBootstrapInput's text (bootstrap-input.ts), with `$(POD_IP)`
 * for the kubelet to expand from the container's env.
 */
export function initContainer(overrides: Overrides, config: Config, resources: ContainerResources, bootstrapInput: string): Container {
  return {
    name: INJECTED_NAMES.init,
    image: config.init.image,
    ...(config.init.imagePullPolicy ? { imagePullPolicy: config.init.imagePullPolicy } : {}),
    command: ['splice'],
    args: ['iptables', '--apply', ...toArgs(overrides.redirect), BOOTSTRAP_FLAGS.file, BOOTSTRAP_FILE, BOOTSTRAP_FLAGS.input, bootstrapInput],
    // Expanded by the kubelet in the bootstrap input: the readiness and metrics listeners bind the pod's address.
    env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
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
    volumeMounts: [
      { name: INJECTED_NAMES.initRunVolume, mountPath: '/run' },
      { name: INJECTED_NAMES.proxyConfigVolume, mountPath: PROXY_CONFIG_MOUNT_PATH },
      noApiTokenMount(),
    ],
  };
}

export function initRunVolume(): Volume {
  return { name: INJECTED_NAMES.initRunVolume, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } };
}

/** The proxy's bootstrap, written by splice-init and read by splice-proxy; it lives as long as the pod. */
export function proxyConfigVolume(): Volume {
  return { name: INJECTED_NAMES.proxyConfigVolume, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } };
}
