// The proxy's configuration as the text that goes into the pod: the input of the Envoy
// bootstrap (an argument of splice-init, which renders the bootstrap into a file for
// splice-proxy: bootstrap-input.ts) and the two SDS files (annotations projected into the
// identity volume). Rendered once per namespace, service account and config, since
// every pod of a workload shares them (see memo.ts).
import { DISCOVERY_PORT, type BootstrapInput } from './bootstrap.js';
import { renderSdsFiles, SDS_FILES } from './bootstrap.js';
import { formatBootstrapInput } from './bootstrap-input.js';
import { ipv6Redirected, meshCidrList, type Config } from './config.js';
import { installationName } from './installation.js';
import { IDENTITY_MOUNT_PATH } from './keys.js';
import { boundedMemo } from './memo.js';

export interface ProxyTexts {
  /** `formatBootstrapInput` of the input: what splice-init renders the bootstrap from. */
  bootstrapInput: string;
  sdsCertificate: string;
  sdsTrustBundle: string;
}

/**
 * The name of splice's Service (this revision's, installation.ts) as a pod resolves it:
 * relative to the cluster domain, which the pod's resolv.conf search path completes
 * (Kubernetes DNS spec: `<svc>.<ns>.svc`).
 */
export function discoveryHost(injectorNamespace: string, revision = ''): string {
  return `${installationName(revision)}.${injectorNamespace}.svc`;
}

/** The env var POD_IP (status.podIP), as the kubelet expands it in splice-init's args. */
export const POD_IP_REF = '$(POD_IP)';

/** What the pod's own spec and annotations add to the input: its inbound policy and probes. */
export type InboundInput = Pick<BootstrapInput, 'inboundPolicy' | 'allowFrom' | 'appProbes'>;

const PERMISSIVE: InboundInput = Object.freeze({ inboundPolicy: 'permissive' });

export function bootstrapInput(namespace: string, serviceAccount: string, config: Config, inbound: InboundInput = PERMISSIVE): BootstrapInput {
  return {
    podIp: POD_IP_REF,
    namespace,
    serviceAccount,
    trustDomain: config.trustDomain,
    identityDir: IDENTITY_MOUNT_PATH,
    drainSeconds: config.proxy.drainSeconds,
    meshCidrs: meshCidrList(config.proxy.meshCidrs),
    maxConnections: config.proxy.maxConnections,
    ipv6: ipv6Redirected(config),
    ...(config.proxy.serviceDiscovery
      ? { discovery: { host: discoveryHost(config.injectorNamespace, config.revision), port: DISCOVERY_PORT, namespace: config.injectorNamespace } }
      : {}),
    inboundPolicy: inbound.inboundPolicy,
    ...(inbound.allowFrom?.length ? { allowFrom: inbound.allowFrom } : {}),
    ...(inbound.appProbes?.length ? { appProbes: inbound.appProbes } : {}),
  };
}

// Keyed by the input's canonical text, which is also what goes into the pod.
const render = boundedMemo<ProxyTexts>(4096, (key) => {
  const sds = renderSdsFiles(JSON.parse(key) as BootstrapInput);
  return {
    bootstrapInput: key,
    sdsCertificate: JSON.stringify(sds[SDS_FILES.certificate]),
    sdsTrustBundle: JSON.stringify(sds[SDS_FILES.trustBundle]),
  };
});

export function proxyTexts(namespace: string, serviceAccount: string, config: Config, inbound: InboundInput = PERMISSIVE): ProxyTexts {
  // The key is the whole input, so two configs that render differently never share an entry.
  return render(formatBootstrapInput(bootstrapInput(namespace, serviceAccount, config, inbound)));
}
