// The `splice.dev/` keys, in one place (CONVENTIONS.md lists them for users).
export const PREFIX = 'splice.dev/';

export const KEYS = {
  inject: 'splice.dev/inject',
  // Namespace label: which revision of splice injects the namespace (revision.ts).
  revision: 'splice.dev/rev',
  status: 'splice.dev/status',
  proxyCpu: 'splice.dev/proxy-cpu',
  proxyMemory: 'splice.dev/proxy-memory',
  proxyCpuLimit: 'splice.dev/proxy-cpu-limit',
  proxyMemoryLimit: 'splice.dev/proxy-memory-limit',
  proxyLogLevel: 'splice.dev/proxy-log-level',
  excludeInboundPorts: 'splice.dev/exclude-inbound-ports',
  includeInboundPorts: 'splice.dev/include-inbound-ports',
  excludeOutboundPorts: 'splice.dev/exclude-outbound-ports',
  includeOutboundCidrs: 'splice.dev/include-outbound-cidrs',
  excludeOutboundCidrs: 'splice.dev/exclude-outbound-cidrs',
  nativeSidecar: 'splice.dev/native-sidecar',
  holdApplication: 'splice.dev/hold-application',
  inboundPolicy: 'splice.dev/inbound-policy',
  allowFrom: 'splice.dev/allow-from',
  rewriteProbes: 'splice.dev/rewrite-probes',
  // Written by splice: the app's probes as they were before splice pointed them at the
  // proxy's health listener (probes.ts), so the pod still says what its authors wrote.
  originalProbes: 'splice.dev/original-probes',
  // Written by splice on every pod it injects: lets the identity controller watch just
  // those pods (a label can be selected on, an annotation cannot).
  injected: 'splice.dev/injected',
  // Written by splice: the proxy's SDS files, projected into the identity volume.
  sdsCertificate: 'splice.dev/sds-certificate',
  sdsTrustBundle: 'splice.dev/sds-trust-bundle',
} as const;

export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** Names splice adds to a pod; a pod that already uses one (without being injected) is refused. */
export const INJECTED_NAMES = {
  proxy: 'splice-proxy',
  init: 'splice-init',
  identityVolume: 'splice-identity',
  initRunVolume: 'splice-init-run',
  proxyConfigVolume: 'splice-proxy-config',
  noApiTokenVolume: 'splice-no-api-token',
} as const;

/** The name of the proxy's one declared port (Prometheus metrics); a pod that names a port so is refused. */
export const METRICS_PORT_NAME = 'splice-metrics';

/** Where the ServiceAccount admission plugin mounts the API token into every container that has nothing there. */
export const API_TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

export const IDENTITY_MOUNT_PATH = '/var/run/splice/identity';
/** Where splice-init writes the proxy's bootstrap and splice-proxy reads it (volume splice-proxy-config). */
export const PROXY_CONFIG_MOUNT_PATH = '/var/run/splice/proxy';
export const BOOTSTRAP_FILE = `${PROXY_CONFIG_MOUNT_PATH}/envoy.json`;
export const identitySecretName = (serviceAccount: string): string => `splice-identity-${serviceAccount}`;

/** Namespaces splice never injects into, whatever their labels say. */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'] as const;
