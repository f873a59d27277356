// The traffic part of `splice explain`: what the injected pod's redirect rules and proxy
// will do with its connections, read back from what was injected (splice-init's args are
// the redirect options, see iptables/flags.ts), so it can never disagree with the pod.

import { DISCOVERY_PORT, MESH_ALPN, type BootstrapInput } from '../inject/bootstrap.js';
import { APP_CHECK_INTERVAL_SECONDS } from '../inject/health-listener.js';
import { describeIdentity } from '../inject/policy.js';
import type { AppProbe } from '../inject/probes.js';
import { discoveryHost } from '../inject/proxy-texts.js';
import { meshCidrList, type Config } from '../inject/config.js';
import { BOOTSTRAP_FLAGS, bootstrapInputArg } from '../inject/init.js';
import { INJECTED_NAMES } from '../inject/keys.js';
import type { Container } from '../inject/types.js';
import { parseRedirectFlags } from '../iptables/flags.js';
import { isIPv6Cidr, PROXY_PORTS } from '../iptables/options.js';
import { proxyOwnPorts } from '../iptables/rules.js';
import type { PodResult } from './run-manifests.js';

const list = (items: ReadonlyArray<string | number>): string => items.join(', ');

export function trafficLines(result: PodResult, config: Config): string[] {
  const { decision } = result;
  if (decision.result !== 'inject') return [];
  const init = (decision.pod.spec?.initContainers as Container[] | undefined)?.find((c) => c.name === INJECTED_NAMES.init);
  // `iptables --apply` first, then the flags.
  const args = init?.args ?? [];
  const o = parseRedirectFlags(args.slice(1), ['--apply'], Object.values(BOOTSTRAP_FLAGS)).options;
  // The policy and probes the proxy will serve, from the input splice-init renders it from.
  const proxy = JSON.parse(bootstrapInputArg(args) ?? '{}') as Partial<BootstrapInput>;
  const strict = proxy.inboundPolicy === 'strict';
  const allowed = (proxy.allowFrom ?? []).map((id) => describeIdentity(id, config.trustDomain));
  // IPv6 mesh CIDRs are of no use when IPv6 is not redirected: its connections bypass the proxy.
  const allMesh = meshCidrList(config.proxy.meshCidrs);
  const mesh = o.ipv6 ? allMesh : allMesh.filter((c) => !isIPv6Cidr(c));
  const unusedMesh = allMesh.filter((c) => !mesh.includes(c));
  // Only the families that are redirected go through the proxy at all.
  const tcp = o.ipv6 ? 'TCP' : 'IPv4 TCP';

  const outboundSkips = [`uid ${o.proxyUid} (the proxy)`, 'loopback'];
  if (o.excludeOutboundPorts.length > 0) outboundSkips.push(`ports ${list(o.excludeOutboundPorts)}`);
  if (o.excludeOutboundCidrs.length > 0) outboundSkips.push(list(o.excludeOutboundCidrs));
  const outboundTo = o.includeOutboundCidrs === '*' ? `${tcp} to anywhere` : o.includeOutboundCidrs.length === 0 ? 'no TCP' : `${tcp} to ${list(o.includeOutboundCidrs)}`;

  const inboundSkips = [...proxyOwnPorts(o), ...o.excludeInboundPorts];
  const inboundTo = o.includeInboundPorts === '*' ? `${tcp} to any port` : o.includeInboundPorts.length === 0 ? 'no TCP' : `${tcp} to ports ${list(o.includeInboundPorts)}`;

  return [
    '  traffic:',
    `    outbound: ${outboundTo} goes through the proxy, except: ${list(outboundSkips)}`,
    mesh.length > 0
      ? `      to ${list(mesh)} (proxy.meshCidrs): mTLS as the identity below, to the peer's proxy on port ${PROXY_PORTS.mtls}; anywhere else: as the app sent it`
      : `      to a pod address: as the app sent it, ${allMesh.length === 0 ? 'proxy.meshCidrs is empty' : 'proxy.meshCidrs names IPv6 networks only'}, so no pod address is given mTLS`,
    config.proxy.serviceDiscovery
      ? `      to a Service's ClusterIP that splice's discovery (${discoveryHost(config.injectorNamespace, config.revision)}:${DISCOVERY_PORT}) told of: to one of its ready endpoints, mTLS to a meshed one (which must prove its own service account), as sent to the others; any other ClusterIP: as the app sent it`
      : '      to a Service\'s ClusterIP: as the app sent it, kube-proxy picks the endpoint (proxy.serviceDiscovery: false)',
    ...(unusedMesh.length > 0 ? [`      ${list(unusedMesh)} (proxy.meshCidrs): no mTLS, IPv6 is not redirected (proxy.ipv6: ${config.proxy.ipv6})`] : []),
    `    inbound: ${inboundTo} goes through the proxy, except: ports ${list(inboundSkips)}`,
    strict
      ? '      closed by the proxy at once and logged, the app never sees it: only mesh peers may connect (strict)'
      : '      reaches the app as it came, nothing read first (permissive)',
    `    from mesh peers: mTLS on port ${PROXY_PORTS.mtls} (ALPN ${MESH_ALPN}, client certificate of ${allowed.length > 0 ? `${list(allowed)} (splice.dev/allow-from)` : `spiffe://${config.trustDomain}/`} required), then to the app port the peer named, excluded ports included`,
    o.ipv6
      ? `    IPv6: redirected like IPv4, the proxy listens on :: too (proxy.ipv6: ${config.proxy.ipv6})`
      : `    IPv6: not redirected, it arrives and leaves as without splice (proxy.ipv6: ${config.proxy.ipv6})`,
    ...probeLines(proxy.appProbes ?? []),
  ];
}

/** One line per probe the kubelet now asks the proxy's health listener about. */
function probeLines(probes: readonly AppProbe[]): string[] {
  if (probes.length === 0) return [];
  const how = (p: AppProbe): string => {
    switch (p.check) {
      case 'http':
      case 'https':
        return `forwarded to ${p.check.toUpperCase()} port ${p.port} ${p.target ?? '/'}, the app's status is the answer`;
      case 'tcp':
        return `the proxy connects to port ${p.port} every ${APP_CHECK_INTERVAL_SECONDS}s; 503 once it cannot`;
      case 'grpc':
        return `the proxy asks grpc.health.v1 on port ${p.port}${p.service ? ` about ${p.service}` : ''} every ${APP_CHECK_INTERVAL_SECONDS}s; 503 unless SERVING`;
    }
  };
  return [
    `    probes: the kubelet asks the proxy on port ${PROXY_PORTS.readiness} (originals in splice.dev/original-probes):`,
    ...probes.map((p) => `      ${p.path}: ${how(p)}`),
  ];
}
